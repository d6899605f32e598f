#!/bin/bash
# Volume lifecycle through netlink: create, attach, detach, delete, and the
# refusals that protect data (foreign or corrupt metadata, another volume's
# backing file, deleting an attached volume, unloading with volumes).
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
pool_setup
objects0=$(keel_objects)
expect_eq "objects before" "$objects0" 0

uuid=11111111-2222-3333-4444-555555555555
out=$("$KEELSETUP" create --backing "$POOL/a.img" --create-backing --size 64M --uuid "$uuid" --json)
echo "$out"
id=$(json_get id <<< "$out")
expect_eq uuid "$(json_get uuid <<< "$out")" "$uuid"
expect_eq size "$(json_get size <<< "$out")" $((64 << 20))
expect_eq data_offset "$(json_get data_offset <<< "$out")" $((1 << 20))
json_get state <<< "$out" | grep -q direct-io || fail "backing not opened O_DIRECT"
json_get state <<< "$out" | grep -q formatted || fail "fresh backing not reported formatted"
# The backing file was extended (sparsely) to metadata + data.
expect_eq "backing size" "$(stat -c %s "$POOL/a.img")" $(((64 << 20) + (1 << 20)))
head -c 4 "$POOL/a.img" | grep -q KEEL || fail "no superblock magic on disk"

dev=$("$KEELSETUP" attach "$id")
expect_eq device "$dev" "/dev/keel$id"
[ -b "$dev" ] || fail "$dev is not a block device"
expect_eq "sectors" "$(blockdev --getsz "$dev")" $((64 << 11))
expect_eq "logical block size" "$(blockdev --getss "$dev")" 512
expect_fail "$KEELSETUP" attach "$id"
grep -qi "already attached" <<< "$LAST_OUT" || fail "attach twice: $LAST_OUT"

# Write a pattern, read it back through the device.
dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 status=none
dd if=/tmp/pattern of="$dev" bs=1M seek=3 oflag=direct status=none
expect_eq "read back" "$(dev_sum "$dev" 3 8)" "$(sha256sum < /tmp/pattern | cut -d' ' -f1)"
# ... and it sits in the data area of the backing file, after the metadata.
expect_eq "on backing" "$(dd if="$POOL/a.img" bs=1M skip=4 count=8 status=none | sha256sum | cut -d' ' -f1)" \
	"$(sha256sum < /tmp/pattern | cut -d' ' -f1)"

# Deleting an attached volume is refused; unloading the module too.
expect_fail "$KEELSETUP" delete "$id"
grep -qi "attached" <<< "$LAST_OUT" || fail "delete attached: $LAST_OUT"
expect_fail rmmod keel
# A held-open disk cannot be detached without force.
exec 3< "$dev"
expect_fail "$KEELSETUP" detach "$id"
grep -qi "open" <<< "$LAST_OUT" || fail "detach open: $LAST_OUT"
exec 3<&-
"$KEELSETUP" detach "$id"
[ ! -e "$dev" ] || fail "$dev still exists after detach"
expect_fail "$KEELSETUP" detach "$id"

# Same backing file twice: refused.
expect_fail "$KEELSETUP" create --backing "$POOL/a.img" --size 64M --uuid "$uuid"
grep -qi "already used" <<< "$LAST_OUT" || fail "double open: $LAST_OUT"
"$KEELSETUP" delete "$id"

# Re-create over the same backing: data persists, not reformatted.
out=$("$KEELSETUP" create --backing "$POOL/a.img" --size 64M --uuid "$uuid" --json)
id=$(json_get id <<< "$out")
json_get state <<< "$out" | grep -q formatted && fail "existing replica was reformatted"
dev=$("$KEELSETUP" attach "$id")
expect_eq "after re-create" "$(dev_sum "$dev" 3 8)" "$(sha256sum < /tmp/pattern | cut -d' ' -f1)"
"$KEELSETUP" delete --force "$id"

# Another volume's backing file (different UUID): refused, data untouched.
expect_fail "$KEELSETUP" create --backing "$POOL/a.img" --size 64M
grep -qi "another volume" <<< "$LAST_OUT" || fail "other uuid: $LAST_OUT"
# Wrong size for the existing replica: refused.
expect_fail "$KEELSETUP" create --backing "$POOL/a.img" --size 32M --uuid "$uuid"

# Corrupt metadata: refused with a clear error.
cp --sparse=always "$POOL/a.img" "$POOL/corrupt.img"
printf '\xff' | dd of="$POOL/corrupt.img" bs=1 seek=40 conv=notrunc status=none
expect_fail "$KEELSETUP" create --backing "$POOL/corrupt.img" --size 64M --uuid "$uuid"
grep -qi "corrupt" <<< "$LAST_OUT" || fail "corrupt: $LAST_OUT"

# Foreign data (an ext4 image): refused unless force-format.
truncate -s 64M "$POOL/foreign.img"
dd if=/dev/urandom of="$POOL/foreign.img" bs=4k count=1 conv=notrunc status=none
expect_fail "$KEELSETUP" create --backing "$POOL/foreign.img" --size 32M
grep -qi "not a keel replica" <<< "$LAST_OUT" || fail "foreign: $LAST_OUT"
id=$(vol_create foreign 32M --force-format)
"$KEELSETUP" delete "$id"

# Bad input: clear errors, nothing created.
expect_fail "$KEELSETUP" create --backing "$POOL/x.img" --create-backing --size 1000
expect_fail "$KEELSETUP" create --backing "$POOL/x.img" --size 64M --block-size 1024
expect_fail "$KEELSETUP" create --backing relative.img --size 64M
expect_fail "$KEELSETUP" create --backing /nonexistent/x.img --size 64M
expect_fail "$KEELSETUP" create --backing "$POOL" --size 64M
expect_fail "$KEELSETUP" create --backing /dev/null --size 64M
expect_fail "$KEELSETUP" attach 4095
expect_fail "$KEELSETUP" attach 99999
expect_eq "volumes left" "$("$KEELSETUP" info --json | json_get volume_count)" 0

# 4096-byte blocks.
id=$(vol_create b4k 16M --block-size 4096)
dev=$("$KEELSETUP" attach "$id")
expect_eq "4k logical block size" "$(blockdev --getss "$dev")" 4096
"$KEELSETUP" delete --force "$id"

expect_eq "objects after teardown" "$(keel_objects)" 0
echo "lifecycle ok"
