#!/bin/bash
# vm-kernels: one
# vm-cost: 112
# vm-timeout: 900
# ext4 and XFS on /dev/keelN: a tree of files written with fsync survives
# unmount, detach, re-attach (fsck clean, same checksums), and deleting and
# re-creating the kernel object over the same backing file.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
pool_setup

write_tree() { # DIR
	local d=$1 i
	mkdir -p "$d/a/b/c" "$d/x"
	for i in $(seq 1 40); do
		head -c $((i * 7919)) /dev/urandom > "$d/a/file$i"
		head -c $((i * 3001)) /dev/urandom > "$d/a/b/c/deep$i"
	done
	head -c 20M /dev/urandom > "$d/x/big"
	ln -s ../a/file1 "$d/x/link"
	sync -f "$d"
	# fsync every file, from one process (a python per file cost minutes).
	find "$d" -type f -print0 | python3 -c '
import os, sys
for p in sys.stdin.buffer.read().split(b"\0"):
    if p:
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)'
}
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum; find . | sort) ; }

# check_fs FS DEV WHEN: fsck is clean and the files are the ones written.
check_fs() {
	case $1 in
	ext4) fsck.ext4 -f -n "$2" ;;
	xfs) xfs_repair -n "$2" ;;
	esac
	mount "$2" /mnt/vol
	sums /mnt/vol > /tmp/sums.now
	umount /mnt/vol
	cmp /tmp/sums.before /tmp/sums.now || fail "$1: files differ $3"
}

uuid=$(cat /proc/sys/kernel/random/uuid)
for fs in ext4 xfs; do
	echo "== $fs"
	id=$(vol_create "fs-$fs" 512M --uuid "$uuid" --block-size 4096)
	dev=$("$KEELSETUP" attach "$id")
	case $fs in
	ext4) mkfs.ext4 -q -F "$dev" ;;
	xfs) mkfs.xfs -q -f "$dev" ;;
	esac
	mkdir -p /mnt/vol
	mount "$dev" /mnt/vol
	write_tree /mnt/vol
	sums /mnt/vol > /tmp/sums.before
	umount /mnt/vol

	"$KEELSETUP" detach "$id"
	dev=$("$KEELSETUP" attach "$id")
	check_fs "$fs" "$dev" "after re-attach"

	# Delete the kernel object, create it again over the same backing file.
	"$KEELSETUP" delete --force "$id"
	out=$("$KEELSETUP" create --backing "$POOL/fs-$fs.img" --size 512M --uuid "$uuid" --block-size 4096 --json)
	id=$(json_get id <<< "$out")
	dev=$("$KEELSETUP" attach "$id")
	check_fs "$fs" "$dev" "after re-create"
	"$KEELSETUP" delete --force "$id"
	uuid=$(cat /proc/sys/kernel/random/uuid)
done
expect_eq "objects" "$(keel_objects)" 0
