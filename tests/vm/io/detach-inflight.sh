#!/bin/bash
# Detaching while fio runs drains the IO in flight: force-detach under
# load ends fio with errors (not a hang), and nothing leaks.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
pool_setup
for round in 1 2 3; do
	id=$(vol_create "busy$round" 128M)
	dev=$("$KEELSETUP" attach "$id")
	fio --name=busy --filename="$dev" --direct=1 --ioengine=libaio --rw=randrw \
		--bs=4k-256k --iodepth=32 --numjobs=2 --time_based --runtime=60 \
		--output=/tmp/fio-busy.log > /dev/null 2>&1 &
	fio_pid=$!
	wait_io_started "$id"
	expect_fail "$KEELSETUP" detach "$id"
	grep -qi "open" <<< "$LAST_OUT" || fail "detach of a busy disk: $LAST_OUT"
	timeout 60 "$KEELSETUP" detach --force "$id" || fail "forced detach failed or hung"
	timeout 60 tail --pid="$fio_pid" -f /dev/null || fail "fio hangs after detach"
	wait "$fio_pid" && echo "fio exited 0" || echo "fio exited with errors, as expected"
	"$KEELSETUP" status "$id" --json | json_get stats.in_flight | grep -qx 0 || fail "IO still in flight"
	"$KEELSETUP" delete "$id"
done
expect_eq "objects" "$(keel_objects)" 0
