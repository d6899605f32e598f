#!/bin/bash
# vm-timeout: 1200
# 100,000 malformed and random generic-netlink messages, racing threads
# included: the kernel log stays clean (the harness checks), the module
# still works, and no volume is left half-created.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
pool_setup
mkdir -p "$POOL/fuzz"
"$KEEL_BIN/tests/tools/keel-nlfuzz" --messages 100000 --threads 4 --seed "${FUZZ_SEED:-$RANDOM}" \
	--backing-dir "$POOL/fuzz" --time-limit 900
expect_eq "volumes after fuzzing" "$("$KEELSETUP" info --json | json_get volume_count)" 0
expect_eq "objects after fuzzing" "$(keel_objects)" 0
# Still works.
id=$(vol_create after 64M)
dev=$("$KEELSETUP" attach "$id")
fio --name=after --filename="$dev" --direct=1 --rw=randwrite --bs=4k --size=16M \
	--verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse > /dev/null
"$KEELSETUP" delete --force "$id"
expect_eq "objects" "$(keel_objects)" 0
