#!/bin/bash
# vm-timeout: 900
# Data integrity under load: fio writes random blocks (4 KiB to 1 MiB) at
# queue depths 1 to 64 on /dev/keelN with crc32c verification, then reads
# everything back and verifies it; for 512- and 4096-byte block volumes.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
pool_setup

for bs in 512 4096; do
	id=$(vol_create "fio$bs" 256M --block-size "$bs")
	dev=$("$KEELSETUP" attach "$id")
	for qd in 1 8 64; do
		echo "== block size $bs, iodepth $qd"
		fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio \
			--rw=randwrite --bsrange=4k-1m --iodepth="$qd" --size=256M \
			--io_size=96M --verify=crc32c --verify_fatal=1 --do_verify=1 \
			--randrepeat=0 --norandommap --verify_backlog=64 \
			--output-format=terse --terse-version=3 > /tmp/fio.out ||
			{ cat /tmp/fio.out; fail "fio verify failed (bs $bs, qd $qd)"; }
	done
	# A second pass: write everything, then a separate verify-only read pass.
	fio --name=fill --filename="$dev" --direct=1 --ioengine=libaio --rw=write \
		--bs=1m --iodepth=16 --size=256M --verify=crc32c --do_verify=0 \
		--output-format=terse > /dev/null
	fio --name=fill --filename="$dev" --direct=1 --ioengine=libaio --rw=write \
		--bs=1m --iodepth=16 --size=256M --verify=crc32c --verify_only=1 \
		--verify_fatal=1 --output-format=terse > /dev/null || fail "verify-only pass failed"
	errors=$("$KEELSETUP" stats "$id" --json | json_get errors)
	expect_eq "IO errors" "$errors" 0
	"$KEELSETUP" detach "$id"
	"$KEELSETUP" delete "$id"
done
expect_eq "objects" "$(keel_objects)" 0
