# lib/repl.sh - replicated volumes across nodes (network namespaces) in one
# guest.  Source after lib/guest.sh, lib/pool.sh and lib/nodes.sh.
#
#   repl_setup N SIZE [BS]  nodes 1..N, one replica each of one volume (uuid
#                           $REPL_UUID) on $POOL/nI.img; node I's volume id
#                           is I-1 (the module's id space is per kernel);
#                           nodes 2..N listen, node 1 attaches ($REPL_DEV)
#                           and adds the others as peers (slot I-1)
#   repl_peer_add I [ARGS]  node 1 adds node I as a peer (ARGS: --full-sync)
#   repl_status I           node I's volume status (JSON)
#   peer_state I            the state node 1 reports for its peer node I
#   wait_peer_state I STATE [SECS]
#   replica_sum I           sha256 of node I's replica's data area
#   expect_replicas_identical [I...]  every replica's data area is the same
#   repl_teardown           delete the volumes, nodes, pool (at exit)

REPL_UUID=5e1f0c0a-0000-4000-8000-00000000c0de
REPL_PORT=7800
REPL_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
REPL_N=0
REPL_DEV=

ks() { "$KEELSETUP" "$@"; }
node_ks() { local i=$1; shift; node_exec "$i" "$KEELSETUP" "$@"; }

repl_teardown() {
	local i
	for i in $(seq "$REPL_N"); do
		ks delete --force $((i - 1)) > /dev/null 2>&1 || true
	done
	nodes_destroy
	pool_teardown
}

# repl_node_create I SIZE BS: node I's replica (volume id I-1).
repl_node_create() {
	local i=$1 size=$2 bs=$3
	node_ks "$i" create --id $((i - 1)) --uuid "$REPL_UUID" --size "$size" \
		--block-size "$bs" --backing "$POOL/n$i.img" --create-backing > /dev/null ||
		fail "node $i: create"
	node_ks "$i" set $((i - 1)) --secret-hex "$REPL_SECRET" --peer-timeout 2000 > /dev/null ||
		fail "node $i: set"
}

repl_listen() {
	node_ks "$1" listen $(($1 - 1)) --addr "$(node_ip "$1")" --port "$REPL_PORT" ||
		fail "node $1: listen"
}

repl_peer_add() {
	local i=$1
	shift
	node_ks 1 peer-add 0 --slot $((i - 1)) --addr "$(node_ip "$i")" \
		--port "$REPL_PORT" --name "n$i" "$@" || fail "peer-add node $i"
}

repl_setup() {
	local n=$1 size=$2 bs=${3:-512} i
	pool_setup xfs 4G
	nodes_create "$n"
	REPL_N=$n
	trap repl_teardown EXIT
	for i in $(seq "$n"); do
		repl_node_create "$i" "$size" "$bs"
	done
	for i in $(seq 2 "$n"); do
		repl_listen "$i"
	done
	REPL_DEV=$(node_ks 1 attach 0) || fail "attach"
	for i in $(seq 2 "$n"); do
		repl_peer_add "$i"
	done
	for i in $(seq 2 "$n"); do
		wait_peer_state "$i" in-sync 30
	done
}

repl_status() { ks status $(($1 - 1)) --json; }

peer_state() {
	repl_status 1 | python3 -c '
import json, sys
v = json.load(sys.stdin)
for p in v["peers"]:
    if p["slot"] == int(sys.argv[1]): print(p["state"]); break
else: print("none")' $(($1 - 1))
}

# peer_field I FIELD: a field of node 1's peer node I.
peer_field() {
	repl_status 1 | python3 -c '
import json, sys
v = json.load(sys.stdin)
for p in v["peers"]:
    if p["slot"] == int(sys.argv[1]): print(p[sys.argv[2]]); break' $(($1 - 1)) "$2"
}

wait_peer_state() {
	local i=$1 want=$2 secs=${3:-30} t=0 st
	while :; do
		st=$(peer_state "$i")
		[ "$st" = "$want" ] && return 0
		[ $t -ge $((secs * 10)) ] && {
			repl_status 1
			fail "peer node $i: state $st, wanted $want after ${secs}s"
		}
		sleep 0.1
		t=$((t + 1))
	done
}

replica_sum() {
	local i=$1 off size
	off=$(repl_status "$i" | json_get data_offset)
	size=$(repl_status "$i" | json_get size)
	dd if="$POOL/n$i.img" bs=1M skip=$((off >> 20)) count=$((size >> 20)) \
		iflag=direct status=none | sha256sum | cut -d' ' -f1
}

expect_replicas_identical() {
	local nodes=${*:-$(seq "$REPL_N")} i first= s
	sync
	for i in $nodes; do
		s=$(replica_sum "$i")
		echo "replica n$i: $s"
		if [ -z "$first" ]; then
			first=$s
		elif [ "$s" != "$first" ]; then
			fail "replica n$i differs from n$(echo $nodes | cut -d' ' -f1)"
		fi
	done
}

# fio_verify DEV ARGS...: random writes with crc32c verification.
fio_write_verify() {
	local dev=$1
	shift
	fio --name=repl --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bssplit=4k/50:64k/30:256k/20 --iodepth=16 \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--randrepeat=0 --output-format=terse "$@" > /tmp/fio.out 2>&1 ||
		{ cat /tmp/fio.out; fail "fio on $dev failed"; }
}
