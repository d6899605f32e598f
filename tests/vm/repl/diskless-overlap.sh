#!/bin/bash
# A diskless attach (no local replica: every read and write goes to the
# peers) reads and writes correctly; then rule 4: many threads writing the
# same blocks at once through a replicated volume leave every replica
# identical.
# vm-timeout: 300
# vm-kernels: one
# vm-cost: 113
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"

# Node 1 diskless, nodes 2 and 3 hold the replicas.
pool_setup xfs 4G
nodes_create 3
REPL_N=3
trap repl_teardown EXIT
node_ks 1 create --id 0 --uuid "$REPL_UUID" --size 64M --diskless > /dev/null
node_ks 1 set 0 --secret-hex "$REPL_SECRET" --peer-timeout 2000 > /dev/null
repl_status 1 | json_get state | grep -q diskless || fail "not reported diskless"
for i in 2 3; do
	repl_node_create "$i" 64M 512
	repl_listen "$i"
done
REPL_DEV=$(node_ks 1 attach 0)
repl_peer_add 2
repl_peer_add 3
wait_peer_state 2 in-sync 30
wait_peer_state 3 in-sync 30
fio_write_verify "$REPL_DEV" --size=64M --io_size=8M --rw=randrw
dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
dd if=/tmp/pattern of="$REPL_DEV" bs=1M seek=7 oflag=direct status=none
expect_eq "diskless read back" "$(dev_sum "$REPL_DEV" 7 4)" "$(sha256sum < /tmp/pattern | cut -d' ' -f1)"
expect_eq "IO errors" "$(ks stats 0 --json | json_get errors)" 0
ks detach 0
expect_replicas_identical 2 3
ks delete 0

# Overlapping-write storm on a 3-replica volume: 8 jobs, the same 1 MiB.
# Fresh replicas everywhere (peers join "in sync": all three start equal).
for i in 2 3; do
	node_ks "$i" delete $((i - 1))
	rm -f "$POOL/n$i.img"
	repl_node_create "$i" 64M 512
	repl_listen "$i"
done
node_ks 1 create --id 0 --uuid "$REPL_UUID" --size 64M --backing "$POOL/n1.img" \
	--create-backing > /dev/null
node_ks 1 set 0 --secret-hex "$REPL_SECRET" > /dev/null
REPL_DEV=$(node_ks 1 attach 0)
repl_peer_add 2
repl_peer_add 3
wait_peer_state 2 in-sync 30
wait_peer_state 3 in-sync 30
fio --name=storm --filename="$REPL_DEV" --direct=1 --ioengine=libaio --rw=randwrite \
	--bssplit=512/30:4k/40:16k/20:64k/10 --offset=4M --size=1M --iodepth=8 \
	--numjobs=8 --io_size=2M --randrepeat=0 --group_reporting > /tmp/storm.out 2>&1 ||
	{ cat /tmp/storm.out; fail "storm fio failed"; }
expect_eq "IO errors" "$(ks stats 0 --json | json_get errors)" 0
ks detach 0
expect_replicas_identical
