#!/bin/bash
# The FAIL freeze policy: when a lost in-sync peer gets no PEER_OUTDATE
# within freeze_timeout, frozen writes fail with EIO (instead of waiting
# forever, the HOLD default tested in peer-loss.sh), a freeze-timeout event
# says so, and writes work again once the peer is outdated.
# vm-timeout: 200
# vm-kernels: one
# vm-cost: 57
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"

repl_setup 2 64M
ks set 0 --freeze-policy fail --freeze-timeout 2000 > /dev/null
expect_eq policy "$(repl_status 1 | json_get freeze_policy)" fail
start_listener /tmp/events.json node_ks 1 events --json --timeout 20
evpid=$LISTENER_PID
ip link set keel-v2 down
start=$(date +%s)
if dd if=/dev/urandom of="$REPL_DEV" bs=4k count=16 oflag=direct,sync status=none 2> /tmp/dd.err; then
	fail "writes succeeded with an in-sync peer lost and no outdate"
fi
cat /tmp/dd.err
grep -qi "input/output error" /tmp/dd.err || fail "expected EIO: $(cat /tmp/dd.err)"
echo "failed after $(($(date +%s) - start)) s"
expect_eq "n2 state" "$(peer_state 2)" lost
wait $evpid || true
grep -q '"freeze-timeout"' /tmp/events.json || { cat /tmp/events.json; fail "no freeze-timeout event"; }
grep -q '"peer-lost"' /tmp/events.json || fail "no peer-lost event"

ks outdate 0 --slot 1 --epoch 3
dd if=/dev/urandom of="$REPL_DEV" bs=4k count=16 oflag=direct,sync status=none ||
	fail "writes still fail after the outdate"
ip link set keel-v2 up
wait_peer_state 2 in-sync 60

# HOLD again, and the peer lost with a write frozen: a detach is refused
# (it would wait for the frozen write forever); a forced one fails it.
ks set 0 --freeze-policy hold > /dev/null
ip link set keel-v2 down
dd if=/dev/urandom of="$REPL_DEV" bs=4k count=1 oflag=direct status=none 2> /tmp/dd2.err &
dd=$!
wait_peer_state 2 lost 20
expect_fail ks detach 0
grep -qi "open\|frozen" <<< "$LAST_OUT" || fail "detach while frozen: $LAST_OUT"
kill -0 $dd || fail "the frozen write completed"
ks detach --force 0
wait $dd && fail "the frozen write succeeded after a forced detach"
cat /tmp/dd2.err
ks outdate 0 --slot 1 --epoch 4
ip link set keel-v2 up
wait_peer_state 2 in-sync 60
expect_replicas_identical
