#!/bin/bash
# vm-kernels: one
# vm-cost: 70
# vm-timeout: 300
# Rule 8: a keeld restart does not fail IO.  fio (verify=crc32c) runs on two
# attached volumes while keeld is killed with -9 and started again, three
# times: fio sees no error, the data verifies, and every restarted keeld
# re-adopts both volumes with the same devices, all views consistent.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/keeld.sh"
pool_setup
keeld_config
keeld_start
api volume.create name=a size=128M > /dev/null
api volume.create name=b size=128M block_size=512 > /dev/null
deva=$(api volume.attach name=a | json_get result.device)
devb=$(api volume.attach name=b | json_get result.device)

pids=
for dev in "$deva" "$devb"; do
	fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bsrange=4k-256k --iodepth=16 --size=128M --time_based --runtime=18 \
		--verify=crc32c --verify_fatal=1 --verify_backlog=32 --do_verify=1 \
		--randrepeat=0 --output-format=terse > "/tmp/fio-$(basename "$dev").out" 2>&1 &
	pids="$pids $!"
done
sleep 2
for round in 1 2 3; do
	keeld_kill9
	sleep 1
	keeld_start
	expect_eq "round $round: a" "$(api volume.inspect name=a | json_get result.device)" "$deva"
	expect_eq "round $round: b" "$(api volume.inspect name=b | json_get result.device)" "$devb"
	keeld_consistent
	sleep 2
done
# A restart in the middle of an attach of a third volume, still under IO.
api volume.create name=c size=32M > /dev/null
keeld_kill9
keeld_start KEELD_CRASH_AT=attach:kernel-attached
api volume.attach name=c > /dev/null 2>&1 && fail "crash point did not fire"
keeld_wait_exit
expect_eq "crash exit" "$KEELD_EXIT" 86
keeld_start
keeld_consistent
for p in $pids; do
	wait "$p" || { cat /tmp/fio-*.out; fail "fio failed across keeld restarts"; }
done
for v in a b; do
	errors=$(api volume.inspect name=$v | json_get result.kernel.stats.errors)
	expect_eq "IO errors on $v" "$errors" 0
done
# Everything written verifies once more, with keeld gone.
keeld_kill9
fio --name=verify --filename="$deva" --direct=1 --ioengine=libaio --rw=randwrite \
	--bsrange=4k-256k --iodepth=16 --size=128M --io_size=32M --verify=crc32c \
	--verify_fatal=1 --do_verify=1 --output-format=terse > /dev/null || fail "fio without keeld"
keeld_start
for v in a b c; do api volume.delete name=$v force=true > /dev/null; done
keeld_consistent
expect_eq "kernel objects" "$(keel_objects)" 0
keeld_stop
