# lib/cluster-plane.sh - a Keel cluster inside one guest: N nodes as network
# namespaces (lib/nodes.sh), each with its own keeld (config, data dir,
# pool directory, API socket, bus on the node's address), and one etcd in
# the guest's own namespace, on the nodes' bridge (10.214.0.254), data in
# tmpfs.  Source after lib/guest.sh and lib/nodes.sh.
#
#   cp_setup N              nodes 1..N, etcd, and a running keeld on each
#                           (CP_GRACE_S: their rereplication_grace_s,
#                           CP_CREATE_TIMEOUT_S: their create_timeout_s);
#                           after pool_setup, node I's pool is $POOL/nI (real
#                           O_DIRECT IO), else a directory (no volumes)
#   cp_keeld_start I        start node I's keeld, wait until its API answers
#   cp_keeld_kill I         kill -9 node I's keeld (a crash)
#   cp_keeld_stop I         SIGTERM node I's keeld, expect exit status 0
#   cp_api I ARGS...        keel-api on node I's socket
#   cp_plugin_sock I        node I's Docker plugin socket
#   cp_link_down I          cut node I off the bridge (and so from etcd)
#   cp_link_up I            put it back
#   cp_etcd_get KEY         a key's value in etcd ("" if absent)
#   cp_node_state NAME      node NAME's state as recorded in etcd
#   cp_wait COND SECS WHAT  retry the shell condition COND every 0.5 s
#   cp_coordinator          the coordinator's node name, from etcd
#   cp_wait_up N            wait until node 1 sees N nodes up
#   cp_record NAME          volume NAME's record in etcd (JSON)
#   cp_local_field I NAME F field F of node I's local view of volume NAME

CP_ETCD_IP=10.214.0.254
CP_ETCD_URL=http://$CP_ETCD_IP:2379
CP_ETCD_DIR=/dev/shm/keel-cp-etcd
CP_OUT=/tmp
[ -d /run/keel-vm/out ] && [ -w /run/keel-vm/out ] && CP_OUT=/run/keel-vm/out
CP_KEEL_API=$KEEL_BIN/tests/tools/keel-api
CP_KEELD=$KEEL_BIN/manager/keeld
CP_ETCD_PID=
declare -A CP_PID

cp_sock() { echo "/run/keel-n$1/keeld.sock"; }
# Each node's Docker plugin socket (one guest, so not the default path).
cp_plugin_sock() { echo "/run/keel-n$1/docker-plugin.sock"; }
cp_conf() { echo "$KEEL_NODES_DIR/node$1/keeld.conf"; }
# One log per test and node: tests in one guest share $CP_OUT, and a grep
# must never find an earlier test's line.
CP_TEST=$(basename "$0" .sh)
cp_log() { echo "$CP_OUT/keeld-$CP_TEST-n$1.log"; }

cp_pool() { if [ -n "${POOL_LOOP:-}" ]; then echo "$POOL/n$1"; else node_pool "$1"; fi; }

cp_setup() {
	local n=$1 i
	nodes_create "$n"
	for i in $(seq "$n"); do mkdir -p "$(cp_pool "$i")"; done
	trap cp_cleanup EXIT
	ip addr add "$CP_ETCD_IP/24" dev keelbr0
	rm -rf "$CP_ETCD_DIR"
	/usr/bin/etcd --name cp --data-dir "$CP_ETCD_DIR" \
		--listen-client-urls "$CP_ETCD_URL" --advertise-client-urls "$CP_ETCD_URL" \
		--listen-peer-urls "http://127.0.0.1:2380" \
		--initial-advertise-peer-urls "http://127.0.0.1:2380" \
		--initial-cluster "cp=http://127.0.0.1:2380" \
		> "$CP_OUT/etcd.log" 2>&1 &
	CP_ETCD_PID=$!
	cp_wait "curl -sf -m 2 $CP_ETCD_URL/health | grep -q true" 30 "etcd up"
	for i in $(seq "$n"); do
		cat > "$(cp_conf "$i")" <<-EOC
		{
		  "node_name": "n$i",
		  "labels": {"zone": "z$i", "rack": "r1"},
		  "pool_dir": "$(cp_pool "$i")",
		  "pool_capacity": "1G",
		  "data_dir": "$(node_data "$i")",
		  "api_socket": "$(cp_sock "$i")",
		  "docker_plugin_socket": "$(cp_plugin_sock "$i")",
		  "etcd_endpoints": ["$CP_ETCD_URL"],
		  "bus_endpoint": "tcp://$(node_ip "$i"):7480",
		  "heartbeat_interval_ms": 500,
		  "suspect_after_ms": 1500,
		  "down_after_ms": 3000,
		  "lease_ttl_s": 5,
		  "request_timeout_ms": 5000,
		  "rereplication_grace_s": ${CP_GRACE_S:-600},
		  "create_timeout_s": ${CP_CREATE_TIMEOUT_S:-120},
		  "log_level": "info"
		}
		EOC
		cp_keeld_start "$i"
	done
}

cp_keeld_start() {
	local i=$1 t
	# ip netns exec execs keeld: $! is keeld itself, so kill reaches it.
	ip netns exec "keel-n$i" "$CP_KEELD" --config "$(cp_conf "$i")" >> "$(cp_log "$i")" 2>&1 &
	CP_PID[$i]=$!
	for t in $(seq 300); do
		if "$CP_KEEL_API" -s "$(cp_sock "$i")" node.info > /dev/null 2>&1; then return 0; fi
		kill -0 "${CP_PID[$i]}" 2>/dev/null || { tail -20 "$(cp_log "$i")"; fail "keeld n$i exited at start-up"; }
		sleep 0.1
	done
	tail -20 "$(cp_log "$i")"
	fail "keeld n$i did not answer within 30 s"
}

cp_keeld_kill() {
	kill -9 "${CP_PID[$1]}" 2>/dev/null || true
	wait "${CP_PID[$1]}" 2>/dev/null || true
	CP_PID[$1]=
}

cp_keeld_stop() {
	local st=0
	kill -TERM "${CP_PID[$1]}"
	wait "${CP_PID[$1]}" || st=$?
	CP_PID[$1]=
	expect_eq "keeld n$1 exit status after SIGTERM" "$st" 0
}

cp_api() { local i=$1; shift; "$CP_KEEL_API" -s "$(cp_sock "$i")" "$@"; }

cp_link_down() { ip link set "keel-v$1" down; }
cp_link_up() { ip link set "keel-v$1" up; }

cp_etcd_get() {
	ETCDCTL_API=3 etcdctl --endpoints "$CP_ETCD_URL" get --print-value-only "$1"
}

cp_node_state() { cp_etcd_get "/keel/nodes/$1" | json_get state 2>/dev/null || echo none; }

cp_coordinator() { cp_etcd_get /keel/coordinator; }

cp_wait_up() {
	cp_wait "[ \"\$(cp_api 1 cluster.status | json_get result.nodes.up)\" = $1 ]" 20 "$1 nodes up"
}

cp_record() { cp_etcd_get "/keel/volumes/$1"; }

cp_local_field() { cp_api "$1" volume.inspect "name=$2" | json_get "result.$3"; }

cp_wait() { wait_until "$@"; }

cp_cleanup() {
	local i
	for i in "${!CP_PID[@]}"; do
		[ -n "${CP_PID[$i]}" ] || continue
		kill -9 "${CP_PID[$i]}" 2>/dev/null || true
		echo "keeld n$i log (last lines):"
		tail -15 "$(cp_log "$i")"
	done
	[ -n "$CP_ETCD_PID" ] && kill -9 "$CP_ETCD_PID" 2>/dev/null
	rm -rf "$CP_ETCD_DIR"
	nodes_destroy
	if [ -n "${POOL_LOOP:-}" ]; then pool_teardown; fi
	return 0
}
