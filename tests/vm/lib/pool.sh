# lib/pool.sh - a storage pool for volumes inside a guest: an XFS (or
# ext4) file system on a loop device over a sparse file in /dev/shm, so
# backing files get real O_DIRECT IO and everything lives in guest memory.
# Source after lib/guest.sh.
#
#   pool_setup [FS] [SIZE]   mount a pool at $POOL (default xfs, 3G)
#   pool_teardown            unmount and free it (also run at exit)
#   vol_create NAME SIZE [keelsetup create args...]
#                            create a volume on $POOL/NAME.img; prints its id
#   keel_objects             live objects in keel.ko (leak counter)

POOL=/pool
POOL_LOOP=

pool_setup() {
	local fs=${1:-xfs} size=${2:-3G}
	modprobe loop 2>/dev/null || true
	mkdir -p "$POOL"
	truncate -s "$size" /dev/shm/keel-pool.img
	POOL_LOOP=$(losetup -f --show /dev/shm/keel-pool.img)
	case $fs in
	xfs) mkfs.xfs -q -f "$POOL_LOOP" ;;
	ext4) mkfs.ext4 -q -F "$POOL_LOOP" ;;
	*) fail "pool_setup: unknown file system $fs" ;;
	esac
	mount "$POOL_LOOP" "$POOL"
	trap pool_teardown EXIT
}

pool_teardown() {
	local id
	# Volumes left by a failed test: force them away so the module unloads.
	for id in $("$KEELSETUP" status --json 2>/dev/null | python3 -c '
import json, sys
try:
    for v in json.load(sys.stdin): print(v["id"])
except Exception: pass'); do
		"$KEELSETUP" delete --force "$id" > /dev/null 2>&1 || true
	done
	umount "$POOL" 2>/dev/null || true
	[ -n "$POOL_LOOP" ] && losetup -d "$POOL_LOOP" 2>/dev/null
	rm -f /dev/shm/keel-pool.img
	POOL_LOOP=
	return 0
}

vol_create() {
	local name=$1 size=$2
	shift 2
	"$KEELSETUP" create --backing "$POOL/$name.img" --create-backing --size "$size" --json "$@" |
		json_get id
}

keel_objects() { "$KEELSETUP" info --json | json_get objects; }

# sha of a byte range of a device or file: dev_sum PATH OFFSET_MiB LEN_MiB
dev_sum() {
	dd if="$1" bs=1M skip="$2" count="$3" iflag=direct status=none | sha256sum | cut -d' ' -f1
}
