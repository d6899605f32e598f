#!/bin/bash
# vm-timeout: 900
# vm-kernels: one
# vm-cost: 100
# 64 volumes created and attached at once, every one usable (its own data
# written and read back), then all torn down cleanly with nothing leaked.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
pool_setup
N=64
for i in $(seq 0 $((N - 1))); do
	"$KEELSETUP" create --backing "$POOL/v$i.img" --create-backing --size 8M --id "$i" > /dev/null
	"$KEELSETUP" attach "$i" > /dev/null
done
expect_eq "volumes" "$("$KEELSETUP" info --json | json_get volume_count)" "$N"
expect_eq "listed" "$("$KEELSETUP" status --json | json_get length 2>/dev/null || "$KEELSETUP" status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "$N"
for i in $(seq 0 $((N - 1))); do
	printf 'volume %08d\n' "$i" | dd of="/dev/keel$i" bs=4096 conv=sync oflag=direct status=none
done
for i in $(seq 0 $((N - 1))); do
	got=$(dd if="/dev/keel$i" bs=4096 count=1 iflag=direct status=none | head -1)
	expect_eq "keel$i" "$got" "$(printf 'volume %08d' "$i")"
done
for i in $(seq 0 $((N - 1))); do
	"$KEELSETUP" detach "$i"
	"$KEELSETUP" delete "$i"
done
expect_eq "volumes" "$("$KEELSETUP" info --json | json_get volume_count)" 0
expect_eq "objects" "$(keel_objects)" 0
