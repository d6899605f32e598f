#!/bin/bash
# Multi-guest self-test (host side: cluster/crash-host.sh).  Every guest
# reaches every other; then the host kills the last guest outright and the
# survivors see it gone while they still reach each other.
. "$KEEL_ROOT/tests/vm/lib/cluster.sh"
me=$KEEL_NODE_INDEX
for i in $(seq "$KEEL_NODES"); do
	[ "$i" = "$me" ] && continue
	for _ in $(seq 60); do ping -c1 -W1 "$(cluster_ip "$i")" > /dev/null && break; done
	ping -c1 -W2 "$(cluster_ip "$i")" > /dev/null || fail "cannot reach node $i"
done
echo "node $me reaches all $KEEL_NODES nodes"
cluster_signal ready
cluster_wait crashed
[ "$me" = "$KEEL_NODES" ] && fail "the crashed guest should not be running"
if ping -c2 -W1 "$(cluster_ip "$KEEL_NODES")" > /dev/null; then
	fail "node $KEEL_NODES still answers after its crash"
fi
for i in $(seq $((KEEL_NODES - 1))); do
	ping -c1 -W2 "$(cluster_ip "$i")" > /dev/null || fail "lost node $i"
done
echo "node $me: node $KEEL_NODES is gone, the others remain"
