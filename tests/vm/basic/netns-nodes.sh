#!/bin/bash
# Three nodes as network namespaces in one guest reach each other over the
# bridge, have their own pools, and are torn down without a trace.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
nodes_create 3
for i in 1 2 3; do
	for j in 1 2 3; do
		node_exec "$i" ping -c1 -W2 "$(node_ip "$j")" > /dev/null || fail "node $i cannot reach node $j"
	done
	node_exec "$i" ip -4 -o addr show dev eth0 | grep -q "$(node_ip "$i")/24"
	touch "$(node_pool "$i")/mine-$i"
done
[ "$(ls "$(node_pool 1)")" = mine-1 ] || fail "pools are shared"
# keel.ko is reachable from inside a node's namespace (netnsok family).
node_exec 2 "$KEELSETUP" info > /dev/null
nodes_destroy
ip netns list | grep -q keel-n && fail "namespaces left behind"
ip link show keelbr0 2>/dev/null && fail "bridge left behind"
echo ok
