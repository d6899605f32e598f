# lib/nodes.sh - several Keel nodes inside one guest, each a network
# namespace with its own address on a shared bridge and its own pool and
# data directories.  Source after lib/guest.sh.
#
#   nodes_create N      make nodes 1..N (namespaces keel-n1.., bridge keelbr0)
#   node_ip I           node I's address (10.214.0.I)
#   node_pool I         node I's storage pool directory
#   node_data I         node I's data directory (SQLite, keys; for keeld)
#   node_exec I CMD...  run CMD inside node I's network namespace
#   nodes_destroy       remove every node (also run at exit)

KEEL_NODES_DIR=${KEEL_NODES_DIR:-/var/lib/keel-test-nodes}
KEEL_NODES_MADE=0

node_ip() { echo "10.214.0.$1"; }
node_pool() { echo "$KEEL_NODES_DIR/node$1/pool"; }
node_data() { echo "$KEEL_NODES_DIR/node$1/data"; }
node_exec() { local i=$1; shift; ip netns exec "keel-n$i" "$@"; }

nodes_create() {
	local n=$1 i
	[ "$n" -ge 1 ] && [ "$n" -le 200 ] || fail "nodes_create: N must be 1..200"
	modprobe bridge 2>/dev/null || true
	modprobe veth 2>/dev/null || true
	ip link add keelbr0 type bridge
	ip link set keelbr0 up
	for i in $(seq "$n"); do
		ip netns add "keel-n$i"
		ip link add "keel-v$i" type veth peer name eth0 netns "keel-n$i"
		ip link set "keel-v$i" master keelbr0 up
		node_exec "$i" ip link set lo up
		node_exec "$i" ip addr add "$(node_ip "$i")/24" dev eth0
		node_exec "$i" ip link set eth0 up
		mkdir -p "$(node_pool "$i")" "$(node_data "$i")"
	done
	KEEL_NODES_MADE=$n
	trap nodes_destroy EXIT
}

nodes_destroy() {
	local i
	for i in $(seq "$KEEL_NODES_MADE"); do
		{ ip netns pids "keel-n$i" | xargs -r kill -9; } 2>/dev/null || true
		ip netns del "keel-n$i" 2>/dev/null || true
		ip link del "keel-v$i" 2>/dev/null || true
	done
	ip link del keelbr0 2>/dev/null || true
	rm -rf "$KEEL_NODES_DIR"
	KEEL_NODES_MADE=0
	return 0
}
