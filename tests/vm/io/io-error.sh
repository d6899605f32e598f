#!/bin/bash
# A failing backing store fails the request with an error and raises an
# IO_ERROR event; nothing hangs.  The backing store is a device-mapper
# device whose table is switched to the "error" target under load.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
modprobe dm_mod
modprobe loop
truncate -s 80M /dev/shm/keel-dm.img
loop=$(losetup -f --show /dev/shm/keel-dm.img)
sectors=$(blockdev --getsz "$loop")
dmsetup create keel-flaky --table "0 $sectors linear $loop 0"
dmsetup mknodes keel-flaky
cleanup() {
	"$KEELSETUP" delete --force "${id:-}" > /dev/null 2>&1 || true
	dmsetup remove keel-flaky 2>/dev/null || true
	losetup -d "$loop" 2>/dev/null || true
	rm -f /dev/shm/keel-dm.img
}
trap cleanup EXIT

id=$("$KEELSETUP" create --backing /dev/mapper/keel-flaky --size 64M --json | json_get id)
dev=$("$KEELSETUP" attach "$id")
dd if=/dev/urandom of="$dev" bs=1M count=4 oflag=direct status=none

start_listener /tmp/events.json "$KEELSETUP" events --count 1 --timeout 60 --json
listener=$LISTENER_PID
dmsetup suspend keel-flaky
dmsetup load keel-flaky --table "0 $sectors error"
dmsetup resume keel-flaky

if timeout 60 dd if="$dev" of=/dev/null bs=4k count=1 skip=10 iflag=direct status=none; then
	fail "read from a failed backing store succeeded"
fi
if timeout 60 dd if=/dev/zero of="$dev" bs=4k count=1 seek=10 oflag=direct status=none; then
	fail "write to a failed backing store succeeded"
fi
wait "$listener" || fail "no IO_ERROR event within 60 s"
cat /tmp/events.json
grep -q '"io_error"\|"IO_ERROR"\|io-error' /tmp/events.json || fail "event is not an IO error: $(cat /tmp/events.json)"
"$KEELSETUP" status "$id" --json | json_get state | grep -q io-error || fail "volume state lacks io-error"
[ "$("$KEELSETUP" stats "$id" --json | json_get errors)" -ge 2 ] || fail "errors not counted"

# The backing store comes back: IO works again.
dmsetup suspend keel-flaky
dmsetup load keel-flaky --table "0 $sectors linear $loop 0"
dmsetup resume keel-flaky
dd if=/dev/zero of="$dev" bs=4k count=1 seek=10 oflag=direct status=none
"$KEELSETUP" delete --force "$id"
id=
expect_eq "objects" "$(keel_objects)" 0
