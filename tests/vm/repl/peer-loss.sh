#!/bin/bash
# Rule 2 and rule 5: cut an in-sync peer's link in the middle of writes.
# Writes freeze (state "frozen", peer "lost") until user space answers with
# an outdate and a higher epoch; then they complete without the peer, its
# dirty bitmap records what it missed, and when the link returns only the
# dirty regions are resynced.  All replicas end byte-identical.
# vm-timeout: 300
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"

repl_setup 3 64M
# Some data everywhere first.
fio_write_verify "$REPL_DEV" --size=64M --io_size=8M

# Writes in the background, then node 2's link goes down.
fio --name=bg --filename="$REPL_DEV" --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=4k --iodepth=8 --size=32M --offset=0 --time_based --runtime=600 \
	--verify=crc32c --verify_fatal=1 --do_verify=0 > /tmp/bg.out 2>&1 &
bg=$!
# Let fio get going first (it can take seconds to start in a loaded guest).
w0=$(ks stats 0 --json | json_get writes)
for _ in $(seq 600); do
	[ "$(ks stats 0 --json | json_get writes)" -gt $((w0 + 100)) ] && break
	sleep 0.1
done
ip link set keel-v2 down
wait_peer_state 2 lost 20
ks status 0 --json | json_get state | grep -q frozen || fail "volume not reported frozen"

# No answer yet: writes stay frozen (nothing completes for 3 seconds).
w1=$(ks stats 0 --json | json_get writes)
sleep 3
w2=$(ks stats 0 --json | json_get writes)
expect_eq "writes completed while frozen" "$((w2 - w1))" 0
kill -0 $bg || fail "fio died while frozen"

# The answer: node 2 is out of sync under epoch 2.  Writes go on.
expect_fail ks outdate 0 --slot 1 --epoch 0
ks outdate 0 --slot 1 --epoch 2
wait_peer_state 2 outdated 10
sleep 3
w3=$(ks stats 0 --json | json_get writes)
[ "$w3" -gt "$w2" ] || fail "writes did not resume after outdate ($w2 -> $w3)"
expect_eq epoch "$(repl_status 1 | json_get epoch)" 2
kill $bg
wait $bg 2>/dev/null || true
dirty=$(peer_field 2 dirty_bytes)
echo "dirty bytes for n2: $dirty"
[ "$dirty" -gt 0 ] || fail "no dirty regions recorded for the lost peer"
[ "$dirty" -le $((32 << 20)) ] || fail "dirty regions beyond the written range: $dirty"

# Link back: reconnect, resync only the dirty regions, in sync again.
ip link set keel-v2 up
wait_peer_state 2 in-sync 120
resynced=$(peer_field 2 resync_bytes)
echo "resynced $resynced bytes for $dirty dirty bytes"
[ "$resynced" -gt 0 ] || fail "nothing resynced"
[ "$resynced" -le $((2 * dirty)) ] || fail "resynced $resynced > 2 x dirty $dirty"
# Node 2 adopted the new epoch on reconnect.
expect_eq "n2 epoch" "$(repl_status 2 | json_get epoch)" 2

fio_write_verify "$REPL_DEV" --size=64M --io_size=8M
expect_eq "IO errors" "$(ks stats 0 --json | json_get errors)" 0
ks detach 0
expect_replicas_identical
