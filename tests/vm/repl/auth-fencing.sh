#!/bin/bash
# vm-kernels: one
# vm-cost: 90
# Rules 3, 6 and 7 on the wire: a peer with the wrong secret is refused
# (reason in the log, in both sides' status and in an event), a stale epoch
# is refused, and a hostile client (keel-wirepeer: malformed, truncated,
# oversized, out-of-order, reflected and unauthenticated messages) only
# ever gets the connection closed: the kernel log stays clean and the
# target's replica is untouched.
# vm-timeout: 300
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"
WIREPEER=$KEEL_BIN/tests/tools/keel-wirepeer

repl_setup 2 64M
# Node 3: a replica target that node 1 does not know yet.
pool=$POOL
nodes_add() { # the lib made 2 nodes; add node 3 on the same bridge
	ip netns add keel-n3
	ip link add keel-v3 type veth peer name eth0 netns keel-n3
	ip link set keel-v3 master keelbr0 up
	node_exec 3 ip link set lo up
	node_exec 3 ip addr add "$(node_ip 3)/24" dev eth0
	node_exec 3 ip link set eth0 up
	KEEL_NODES_MADE=3
	REPL_N=3
}
nodes_add
repl_node_create 3 64M 512
node_ks 3 set 2 --secret-hex "0011223344556677889900112233445566778899" > /dev/null
repl_listen 3

# Wrong secret: refused on both sides, with the reason.
# Events go to the namespace that created the volume: node 1's.
start_listener /tmp/events.json node_ks 1 events --json --timeout 10
evpid=$LISTENER_PID
repl_peer_add 3
sleep 4
expect_eq "n3 state" "$(peer_state 3)" connecting
msg=$(peer_field 3 message)
echo "initiator: $msg"
grep -qiE "authenticat|secret" <<< "$msg" || fail "peer message does not say why: $msg"
tmsg=$(repl_status 3 | json_get target.message)
echo "target: $tmsg"
grep -qi "wrong secret" <<< "$tmsg" || fail "target message does not say why: $tmsg"
[ "$(repl_status 3 | json_get target.refused)" -ge 1 ] || fail "target counted no refusal"
[ "$(repl_status 3 | json_get target.accepted)" = 0 ] || fail "target accepted a wrong secret"
# Not "dmesg | grep -q": grep quits at the first match, dmesg dies of SIGPIPE
# and pipefail makes that a failure.
dmesg > /tmp/auth-dmesg.txt
grep -q "refused a connection: .*wrong secret" /tmp/auth-dmesg.txt || fail "no refusal in the kernel log"
wait $evpid || true
grep -q '"peer-refused"' /tmp/events.json || { cat /tmp/events.json; fail "no peer-refused event"; }
ks peer-remove 0 --slot 2

# Stale epoch: node 3 knows the secret but has seen epoch 7; node 1 is at 0.
node_ks 3 set 2 --secret-hex "$REPL_SECRET" --epoch 7 > /dev/null
repl_peer_add 3
sleep 4
expect_eq "n3 state (stale)" "$(peer_state 3)" connecting
peer_field 3 message | grep -qi "stale" || fail "stale epoch not reported: $(peer_field 3 message)"
ks peer-remove 0 --slot 2
expect_eq "n3 epoch unchanged" "$(repl_status 3 | json_get epoch)" 7

# Hostile client against node 3's target (epoch 7; wirepeer speaks epoch 8).
before=$(replica_sum 3)
node_exec 1 "$WIREPEER" --addr "$(node_ip 3)" --port "$REPL_PORT" --uuid "$REPL_UUID" --size 64M \
	--secret-hex "$REPL_SECRET" --epoch 8 --timeout 8000 \
	bad-magic truncated-header oversized write-before-auth bad-mac reflect \
	out-of-order beyond-end length-mismatch garbage unknown-type handshake ||
	fail "a hostile scenario was not handled as the protocol requires"
expect_eq "n3 replica after hostile clients" "$(replica_sum 3)" "$before"
# A well-behaved client still works, and fencing: epoch 7 < 8 now.
node_exec 1 "$WIREPEER" --addr "$(node_ip 3)" --port "$REPL_PORT" --uuid "$REPL_UUID" --size 64M \
	--secret-hex "$REPL_SECRET" --epoch 8 --offset $((32 << 20)) write-read bad-digest ||
	fail "write-read against the target failed"
expect_fail node_exec 1 "$WIREPEER" --addr "$(node_ip 3)" --port "$REPL_PORT" --uuid "$REPL_UUID" \
	--size 64M --secret-hex "$REPL_SECRET" --epoch 7 handshake
grep -qi "stale" <<< "$LAST_OUT" || fail "epoch 7 after 8 not refused as stale: $LAST_OUT"
expect_eq "n3 epoch" "$(repl_status 3 | json_get epoch)" 8

# Node 1's own replication was never disturbed.
fio_write_verify "$REPL_DEV" --size=64M --io_size=8M
ks detach 0
expect_replicas_identical 1 2
