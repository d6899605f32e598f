#!/bin/bash
# Cluster mode, phase 1: three keelds in three node namespaces join one
# etcd; each sees the three nodes up and the same single coordinator; a
# crashed and cut-off node is recorded down (heartbeats stop) and back up
# when it returns; a crashed coordinator is replaced after its lease TTL
# and recorded down; a node in maintenance (the operator's flag) is not
# counted down while silent, and is once out of maintenance; SIGTERM leaves
# at once (lease revoked).
# vm-kernels: one
# vm-cost: 85
# vm-timeout: 600
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/cluster-plane.sh"

# "n1=up n2=up n3=up" as node I's node.list shows them.
states_on() {
	cp_api "$1" node.list | python3 -c '
import json, sys
r = json.load(sys.stdin)["result"]["nodes"]
print(" ".join("%s=%s" % (n["name"], n["state"]) for n in r))'
}
# The coordinator as node I sees it in node.list ("" if none).
coordinator_on() {
	cp_api "$1" node.list | python3 -c '
import json, sys
print("".join(n["name"] for n in json.load(sys.stdin)["result"]["nodes"] if n["coordinator"]))'
}

cp_setup 3
start=$SECONDS
for i in 1 2 3; do
	cp_wait '[ "$(states_on '"$i"')" = "n1=up n2=up n3=up" ]' 20 "node $i sees 3 nodes up"
done
coord=$(cp_coordinator)
case $coord in n1 | n2 | n3) ;; *) fail "no coordinator in etcd: '$coord'" ;; esac
for i in 1 2 3; do expect_eq "coordinator seen by n$i" "$(coordinator_on "$i")" "$coord"; done
echo "registered, all up, coordinator $coord after $((SECONDS - start)) s"

out=$(cp_api 2 cluster.status)
echo "$out"
expect_eq "status nodes up" "$(json_get result.nodes.up <<< "$out")" 3
expect_eq "status etcd healthy" "$(json_get result.etcd.endpoints.0.healthy <<< "$out")" True
expect_eq "status coordinator" "$(json_get result.coordinator <<< "$out")" "$coord"
out=$(cp_api 1 node.list)
expect_eq "n2 data address" "$(json_get result.nodes.1.data_address <<< "$out")" 10.214.0.2
expect_eq "n2 zone" "$(json_get result.nodes.1.zone <<< "$out")" z2
expect_eq "n2 alive" "$(json_get result.nodes.1.alive <<< "$out")" True
expect_eq "node.info kvdb" "$(cp_api 1 node.info | json_get result.kvdb)" etcd

# A node that is not the coordinator crashes and is cut off: down within
# down_after_ms (3 s) plus a tick; its alive key expires with its lease.
victim=3
[ "$coord" = n3 ] && victim=2
cp_keeld_kill $victim
cp_link_down $victim
t0=$SECONDS
cp_wait '[ "$(cp_node_state n'$victim')" = down ]' 10 "n$victim recorded down"
echo "n$victim recorded down after $((SECONDS - t0)) s"
cp_wait '[ -z "$(cp_etcd_get /keel/alive/n'$victim')" ]' 15 "n$victim alive key expired"
expect_eq "coordinator kept" "$(cp_coordinator)" "$coord"
# It comes back: up again.
cp_link_up $victim
cp_keeld_start $victim
cp_wait '[ "$(cp_node_state n'$victim')" = up ]' 10 "n$victim recorded up"
cp_wait '[ "$(states_on '$victim')" = "n1=up n2=up n3=up" ]' 10 "n$victim sees 3 nodes up"

# The coordinator crashes and is cut off: another node takes over within
# the lease TTL (5 s) plus an election round, and records it down.
ci=${coord#n}
cp_keeld_kill "$ci"
cp_link_down "$ci"
t0=$SECONDS
cp_wait '[ -n "$(cp_coordinator)" ] && [ "$(cp_coordinator)" != '"$coord"' ]' 15 "a new coordinator"
new=$(cp_coordinator)
echo "coordinator $coord -> $new after $((SECONDS - t0)) s"
cp_wait '[ "$(cp_node_state '"$coord"')" = down ]' 10 "$coord recorded down"
other=$(for i in 1 2 3; do [ "n$i" != "$coord" ] && echo "$i"; done | head -1)
expect_eq "coordinator seen by n$other" "$(coordinator_on "$other")" "$new"

# SIGTERM: the node leaves at once (lease revoked, no TTL to wait).
cp_link_up "$ci"
cp_keeld_start "$ci"
cp_wait '[ "$(cp_node_state '"$coord"')" = up ]' 10 "$coord recorded up"
expect_eq "coordinator kept after the old one returned" "$(cp_coordinator)" "$new"

# Maintenance (the operator's flag): a node in maintenance that goes
# silent is not counted down; out of maintenance, it is.
expect_eq "maintenance on" "$(cp_api "$other" node.maintenance name="$coord" | json_get result.maintenance)" True
cp_wait '[ "$(cp_node_state '"$coord"')" = maintenance ]' 10 "$coord recorded in maintenance"
cp_keeld_kill "$ci"
sleep 5  # past down_after_ms (3 s)
expect_eq "silent in maintenance" "$(cp_node_state "$coord")" maintenance
cp_api "$other" node.maintenance name="$coord" on=false > /dev/null || fail "maintenance off"
cp_wait '[ "$(cp_node_state '"$coord"')" = down ]' 10 "$coord down once out of maintenance"
cp_keeld_start "$ci"
cp_wait '[ "$(cp_node_state '"$coord"')" = up ]' 10 "$coord up again"
for i in 1 2 3; do
	cp_keeld_stop "$i"
	[ -z "$(cp_etcd_get /keel/alive/n$i)" ] || fail "n$i alive key left after SIGTERM"
done
[ -z "$(cp_coordinator)" ] || fail "coordinator key left after every keeld stopped"
echo "ok"
