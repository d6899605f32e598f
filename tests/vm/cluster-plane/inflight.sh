#!/bin/bash
# Cluster mode, what a dead keeld leaves half-done is finished by the
# others (docs/design-cluster.md, "What the coordinator finishes"), three
# nodes:
#  - a create whose keeld is killed half-way (the other nodes' keelds are
#    stopped, so it waits on them) is rolled back once create_timeout_s
#    (10 s here) has passed: the replica it had made is deleted, the record
#    removed;
#  - a delete while a replica's node is down answers an error and leaves
#    the record deleting, the up nodes' replicas deleted; the node comes
#    back, deletes its replica, and the record goes;
#  - a detached volume is drained: the replacement is filled from the
#    in-sync replica (the record's sync source) with no attachment; the
#    drain finishes, and the volume attached on the new node reads the
#    bytes written before.
# vm-kernels: one
# vm-cost: 120
# vm-timeout: 400
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/cluster-plane.sh"

field() { python3 -c 'import json,sys; r=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
replicas_of() { cp_record "$1" | field '",".join(sorted(x["node"] for x in r["replica_set"]))'; }
in_sync_of() { cp_record "$1" | field '",".join(sorted(r["in_sync"]))'; }
in_logs() { grep -qh "$1" "$(cp_log 1)" "$(cp_log 2)" "$(cp_log 3)"; }
no_image() { ! ls "$(cp_pool 1)/$1.img" "$(cp_pool 2)/$1.img" "$(cp_pool 3)/$1.img" 2>/dev/null | grep -q .; }

pool_setup xfs 3G
CP_CREATE_TIMEOUT_S=10 cp_setup 3
cp_wait_up 3

# 1. A create cut short: n2's and n3's keelds are stopped, so n1's create
# waits on them after making its own replica; n1's keeld is killed then.
kill -STOP "${CP_PID[2]}" "${CP_PID[3]}"
cp_api 1 volume.create name=half size=32M replicas=3 > /tmp/half.out 2>&1 &
api_pid=$!
cp_wait '[ "$(cp_record half | json_get state 2> /dev/null)" = creating ]' 10 "the create recorded"
uuid=$(cp_record half | json_get uuid)
cp_wait '[ -e "$(cp_pool 1)/$uuid.img" ]' 10 "n1's replica made"
cp_keeld_kill 1
wait $api_pid || true
kill -CONT "${CP_PID[2]}" "${CP_PID[3]}"
t0=$SECONDS
cp_keeld_start 1
expect_eq "left creating" "$(cp_record half | json_get state)" creating
cp_wait '[ -z "$(cp_record half)" ]' 60 "the unfinished create rolled back"
echo "rolled back $((SECONDS - t0)) s after the crash"
in_logs "unfinished create rolled back.*volume=half" || fail "no rollback in the logs"
cp_wait "no_image $uuid" 10 "no replica of the rolled-back create left"
expect_eq "volume list after the rollback" "$(cp_api 2 volume.list | field 'len(r["result"]["volumes"])')" 0

# 2. A delete while n3 is down.
cp_api 2 volume.create name=old size=32M replicas=3 > /dev/null || fail "create old"
uuid=$(cp_record old | json_get uuid)
cp_keeld_kill 3
cp_link_down 3
cp_wait '[ "$(cp_node_state n3)" = down ]' 20 "n3 down"
out=$(cp_api 1 volume.delete name=old || true)
echo "$out"
json_get error.message <<< "$out" | grep -q "n3 is down; the delete finishes when the node is back" ||
	fail "delete with n3 down: $out"
expect_eq "record deleting" "$(cp_record old | json_get state)" deleting
cp_wait '[ "$(replicas_of old)" = n3 ]' 20 "n1 and n2 deleted theirs and left the record"
[ -e "$(cp_pool 3)/$uuid.img" ] || fail "n3's replica should still be there"
cp_link_up 3
cp_keeld_start 3
cp_wait '[ -z "$(cp_record old)" ]' 30 "the delete finished once n3 was back"
cp_wait "no_image $uuid" 10 "no replica of the deleted volume left"

# 3. Drain a detached volume: filled from its sync source, no attachment.
cp_wait_up 3
cp_api 1 volume.create name=db size=64M replicas=2 > /dev/null || fail "create db"
uuid=$(cp_record db | json_get uuid)
expect_eq "placement" "$(replicas_of db)" n1,n2
out=$(cp_api 1 volume.attach name=db)
dev=$(json_get result.device <<< "$out")
cp_wait '[ -b "$dev" ]' 10 "device $dev"
cp_wait '[ "$(in_sync_of db)" = n1,n2 ]' 30 "n2 in sync"
fio --name=cp --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite --bs=64k \
	--iodepth=8 --verify=crc32c --verify_fatal=1 --do_verify=1 --size=64M \
	--output-format=terse > /tmp/fio.out 2>&1 || { cat /tmp/fio.out; fail "fio"; }
sum=$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
cp_api 1 volume.detach name=db > /dev/null || fail "detach"
t0=$SECONDS
cp_api 3 node.drain name=n2 > /dev/null || fail "drain n2"
cp_wait '[ "$(replicas_of db)" = n1,n3 ]' 60 "n2 drained while the volume is detached"
echo "drained in $((SECONDS - t0)) s"
expect_eq "in sync after the drain" "$(in_sync_of db)" n1,n3
expect_eq "attached after the drain" "$(cp_record db | json_get attached_node)" ""
in_logs "sync source set.*volume=db node=n1" || fail "no sync source in the logs"
grep -q "replica filled while detached: in sync recorded.*node=n3" "$(cp_log 1)" ||
	fail "n1 did not record n3 filled"
cp_wait '[ "$(cp_record db | field "r.get(\"sync_source\", \"\")")" = "" ]' 10 "sync source cleared"
cp_wait '[ ! -e "$(cp_pool 2)/$uuid.img" ]' 20 "n2's replica deleted"
n1_peers() { "$KEELSETUP" status "$(cp_local_field 1 db kernel_id)" --json | field 'len(r["peers"])'; }
cp_wait '[ "$(n1_peers)" = 0 ]' 10 "n1's fill peers removed"
# The filled replica serves the data: attach on n3.
out=$(cp_api 3 volume.attach name=db)
echo "$out"
dev=$(json_get result.device <<< "$out")
cp_wait '[ -b "$dev" ]' 10 "device $dev on n3"
expect_eq "n3 reads what n1 wrote" \
	"$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)" "$sum"
cp_api 3 volume.detach name=db > /dev/null || fail "detach on n3"
for i in 1 2 3; do cp_keeld_stop "$i"; done
echo "ok"
