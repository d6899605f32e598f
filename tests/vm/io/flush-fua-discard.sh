#!/bin/bash
# FLUSH and FUA reach the backing store (counted by keel's stats: flushes,
# fsyncs of the backing file, FUA writes); DISCARD punches holes so the
# backing file's allocated blocks shrink; WRITE_ZEROES reads back zeroes.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
pool_setup
id=$(vol_create flush 128M --block-size 4096)
dev=$("$KEELSETUP" attach "$id")
stat_of() { "$KEELSETUP" stats "$id" --json | json_get "$1"; }

# FLUSH: writes followed by fsync of the device.
f0=$(stat_of flushes); s0=$(stat_of backing_syncs)
fio --name=flush --filename="$dev" --direct=1 --rw=randwrite --bs=4k --size=8M \
	--fsync=1 --output-format=terse > /dev/null
f1=$(stat_of flushes); s1=$(stat_of backing_syncs)
echo "flushes $f0 -> $f1, backing fsyncs $s0 -> $s1"
[ $((f1 - f0)) -ge 1000 ] || fail "fsync after each of 2048 writes gave only $((f1 - f0)) flushes"
[ $((s1 - s0)) -ge 1000 ] || fail "flushes did not reach the backing file ($((s1 - s0)) fsyncs)"

# FUA: O_DSYNC direct writes become FUA writes.
u0=$(stat_of fua)
fio --name=fua --filename="$dev" --direct=1 --sync=dsync --rw=randwrite --bs=4k \
	--size=4M --output-format=terse > /dev/null
u1=$(stat_of fua)
echo "fua writes $u0 -> $u1"
[ $((u1 - u0)) -ge 1000 ] || fail "O_DSYNC writes gave only $((u1 - u0)) FUA writes"

# DISCARD: fill 64 MiB, discard it, the backing file's blocks are freed.
dd if=/dev/urandom of="$dev" bs=1M count=64 oflag=direct status=none
sync "$POOL/flush.img"
before=$(stat -c %b "$POOL/flush.img")
blkdiscard -o 0 -l $((64 << 20)) "$dev"
after=$(stat -c %b "$POOL/flush.img")
echo "backing blocks: $before -> $after (512-byte units)"
[ "$after" -lt $((before - 100000)) ] || fail "discard did not free backing blocks ($before -> $after)"
[ "$(stat_of discards)" -ge 1 ] || fail "no discard counted"
expect_eq "discarded reads zero" "$(dev_sum "$dev" 0 64)" "$(head -c 64M /dev/zero | sha256sum | cut -d' ' -f1)"

# WRITE_ZEROES.
dd if=/dev/urandom of="$dev" bs=1M count=16 seek=64 oflag=direct status=none
blkdiscard -z -o $((64 << 20)) -l $((16 << 20)) "$dev"
[ "$(stat_of write_zeroes)" -ge 1 ] || fail "no write-zeroes counted"
expect_eq "zeroed reads zero" "$(dev_sum "$dev" 64 16)" "$(head -c 16M /dev/zero | sha256sum | cut -d' ' -f1)"

"$KEELSETUP" stats "$id"
"$KEELSETUP" delete --force "$id"
expect_eq "objects" "$(keel_objects)" 0
