#!/bin/bash
# Cluster mode, the coordinator's repairs (manager/cluster/repair.h), four
# nodes, a repl=2 volume created on n1 and attached on n1 from n4 (attach
# --node, forwarded over the bus), written with crc32c verify:
#  - re-replication: n2 (a replica) is lost; once it has been down for the
#    grace period (5 s here) the coordinator replaces it on a free node,
#    which the attached node fills with a full resync while fio writes;
#  - drain: that new node is drained: another replacement is added,
#    filled, then the drained replica is removed and deleted there; the
#    coordinator's keeld is killed mid-drain and another one finishes it;
#  - n2 returns: its forgotten replica is deleted;
#  - a diskless attach on n2 (no replica there now) reads and writes both;
#  - after the detach the two replicas hold the same bytes.
# vm-kernels: one
# vm-cost: 130
# vm-timeout: 600
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/cluster-plane.sh"

record() { cp_record db; }
replica_nodes() { record | python3 -c 'import json,sys; print(",".join(sorted(r["node"] for r in json.load(sys.stdin)["replica_set"])))'; }
in_sync() { record | python3 -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin)["in_sync"])))'; }

pool_setup xfs 4G
CP_GRACE_S=5 cp_setup 4
cp_wait_up 4
cp_api 1 volume.create name=db size=64M replicas=2 > /dev/null || fail "create"
uuid=$(record | json_get uuid)
expect_eq "placement" "$(replica_nodes)" n1,n2

out=$(cp_api 4 volume.attach name=db node=n1)
echo "$out"
expect_eq "attached on" "$(json_get result.node <<< "$out")" n1
dev=$(json_get result.device <<< "$out")
[ -b "$dev" ] || fail "attach --node: no device"
expect_eq "record attached" "$(record | json_get attached_node)" n1
cp_wait '[ "$(cp_api 4 volume.status name=db | json_get result.sync.0.state)" = in-sync ]' 30 \
	"volume.status on n4 shows n2 in sync"

fio_write() {
	fio --name=cp --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bssplit=4k/50:64k/30:256k/20 --iodepth=16 --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randrepeat=0 --size=64M --io_size="$1" ${2:+--rate=$2} \
		--output-format=terse > /tmp/fio.out 2>&1 || { cat /tmp/fio.out; fail "fio failed"; }
}
fio_write 16M

# Re-replication: n2 is lost for longer than the grace period.
cp_keeld_kill 2
cp_link_down 2
t0=$SECONDS
fio_write 8M 2m &
fio_pid=$!
two_not_n2() { local r; r=$(replica_nodes); [ "$r" != n1,n2 ] && [ "$(tr ',' '\n' <<< "$r" | wc -l)" = 2 ]; }
cp_wait two_not_n2 60 "n2's replica replaced"
new=$(replica_nodes | tr ',' '\n' | grep -v '^n1$')
echo "n2 replaced by $new after $((SECONDS - t0)) s"
cp_wait '[ "$(in_sync)" = "n1,$new" ]' 60 "the new replica on $new filled"
echo "$new in sync after $((SECONDS - t0)) s"
wait $fio_pid || { cat /tmp/fio.out; fail "fio during the re-replication"; }
grep -h "replica removed from the replica set" "$(cp_log 1)" "$(cp_log 3)" "$(cp_log 4)" | grep -q "n2 down" ||
	fail "no re-replication in the coordinator's log"

# Drain the new node: a replacement is added, filled, then it leaves.
out=$(cp_api 1 node.drain name="$new")
echo "$out"
expect_eq "drain: cordoned" "$(json_get result.cordoned <<< "$out")" True
expect_eq "drain: replicas on $new" "$(json_get result.replicas <<< "$out")" 1
# The coordinator's keeld crashes mid-drain: another node takes over and
# finishes it from the records; the crashed keeld restarts and re-adopts
# its attached volume (the kernel kept serving it: rule 8).
coord=$(cp_coordinator)
ci=${coord#n}
cp_keeld_kill "$ci"
cp_wait '[ -n "$(cp_coordinator)" ] && [ "$(cp_coordinator)" != "$coord" ]' 30 "a new coordinator"
newcoord=$(cp_coordinator)
echo "coordinator $coord crashed; $newcoord took over"
cp_keeld_start "$ci"
cp_wait '[ "$(cp_api 1 node.drain name="$new" | json_get result.replicas)" = 0 ]' 60 "$new drained"
cp_wait '[ "$(tr "," "\n" <<< "$(in_sync)" | wc -l)" = 2 ]' 60 "two replicas in sync after the drain"
grep -q "replica removed from the replica set.*node=$new reason=\"$new is draining\"" \
	"$(cp_log "${newcoord#n}")" || fail "the new coordinator $newcoord did not finish the drain"
last=$(replica_nodes | tr ',' '\n' | grep -v '^n1$')
[ "$last" != "$new" ] && [ "$last" != n2 ] || fail "drained to $last"
expect_eq "in sync after the drain" "$(in_sync)" "n1,$last"
newi=${new#n}
cp_wait '[ ! -e "$(cp_pool "$newi")/$uuid.img" ]' 30 "the drained replica deleted on $new"
expect_eq "$new's view" "$(cp_api "$newi" volume.inspect name=db | json_get error.code)" not_found
expect_eq "uncordon" "$(cp_api 1 node.uncordon name="$new" | json_get result.cordoned)" False
expect_eq "drain of a node that does not exist" \
	"$(cp_api 1 node.drain name=n9 | json_get error.code)" not_found

# n2 returns: the replica it kept is no longer listed, so it goes.
cp_link_up 2
cp_keeld_start 2
cp_wait '[ ! -e "$(cp_pool 2)/$uuid.img" ]' 30 "n2's forgotten replica deleted"

fio_write 8M
sum=$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
cp_api 1 volume.detach name=db > /dev/null || fail "detach"

# A diskless attach on n2, which holds no replica now: the same bytes,
# read over the network; writes reach both replicas.
replica_nodes | tr ',' '\n' | grep -qx n2 && fail "n2 holds a replica again"
out=$(cp_api 2 volume.attach name=db)
echo "$out"
dev=$(json_get result.device <<< "$out")
cp_wait '[ -b "$dev" ]' 10 "the diskless disk $dev"
replica_sum() {
	local kid off
	kid=$(cp_local_field "$1" db kernel_id)
	off=$("$KEELSETUP" status "$kid" --json | json_get data_offset)
	dd if="$(cp_pool "$1")/$uuid.img" bs=1M skip=$((off >> 20)) count=64 iflag=direct \
		status=none | sha256sum | cut -d' ' -f1
}
got=$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then
	for i in 1 ${last#n}; do echo "replica n$i: $(replica_sum "$i")"; done
	"$KEELSETUP" status --json | head -c 4000
	fail "diskless read: got $got, want $sum"
fi
expect_eq "volume.status: diskless peers in sync" \
	"$(cp_api 1 volume.status name=db | python3 -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin)["result"]["sync"] if p["state"] == "in-sync"))')" 2
fio_write 8M
sum=$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
cp_api 2 volume.detach name=db > /dev/null || fail "diskless detach"
cp_wait '[ ! -b "$dev" ]' 10 "the diskless disk $dev gone after the detach"
expect_eq "diskless kernel objects left" "$("$KEELSETUP" status --json | python3 -c '
import json, sys
print(sum(1 for v in json.load(sys.stdin) if "diskless" in v["state"]))')" 0
for i in 1 "${last#n}"; do expect_eq "replica n$i" "$(replica_sum "$i")" "$sum"; done
for i in 1 2 3 4; do cp_keeld_stop "$i"; done
echo "ok"
