#!/bin/bash
# vm-kernels: one
# vm-cost: 72
# Attach a volume on a node whose replica is stale (here: empty) while
# another node's replica is in sync: peer-add --pull copies everything from
# the in-sync peer in the background (rate-limited here, so the test sees
# it in progress) while the application reads and writes; reads of regions
# not copied yet are served by the peer.  Then the local replica is in
# sync, and all replicas are identical.
# vm-timeout: 300
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"

pool_setup xfs 4G
nodes_create 2
REPL_N=2
trap repl_teardown EXIT
repl_node_create 1 64M 512
repl_node_create 2 64M 512
# Node 2 was where the volume lived: it holds the data.
dev2=$(node_ks 2 attach 1)
dd if=/dev/urandom of=/tmp/data bs=1M count=64 status=none
dd if=/tmp/data of="$dev2" bs=1M oflag=direct status=none
node_ks 2 detach 1
repl_listen 2

# Node 1 attaches with a stale (empty) replica and pulls from node 2.
node_ks 1 set 0 --resync-rate 1M > /dev/null
REPL_DEV=$(node_ks 1 attach 0)
repl_peer_add 2 --pull
wait_peer_state 2 in-sync 30
expect_eq pulling "$(peer_field 2 pulling)" True
expect_fail ks peer-remove 0 --slot 1
grep -qi "pulled" <<< "$LAST_OUT" || fail "removing the pull source: $LAST_OUT"
# Everything reads back right, although most of it is not here yet.
expect_eq "read through node 1" "$(dev_sum "$REPL_DEV" 0 64)" "$(sha256sum < /tmp/data | cut -d' ' -f1)"
pulled=$(peer_field 2 resync_bytes)
echo "pulled so far: $pulled bytes"
[ "$pulled" -lt $((64 << 20)) ] || fail "the pull was already done: the test proves nothing"
# Writes during the pull reach both replicas.
fio_write_verify "$REPL_DEV" --size=64M --io_size=8M --rw=randrw
ks set 0 --resync-rate 0 > /dev/null
for _ in $(seq 600); do
	[ "$(peer_field 2 pulling)" = False ] && break
	sleep 0.1
done
expect_eq "pulling after the pull" "$(peer_field 2 pulling)" False
expect_eq "IO errors" "$(ks stats 0 --json | json_get errors)" 0
ks detach 0
expect_replicas_identical
