#!/bin/bash
# Cluster mode, failover (rules 2 and 3): a repl=3 volume attached on
# node 1 is written (crc32c verify); node 2 is lost (killed, cut off) and
# recorded out of sync; then node 1, the attached node, is lost too.  Once
# the coordinator records node 1 down, the volume is attached on node 3
# (epoch bumped in etcd first, node 1's replica out of the in-sync set)
# and node 3's disk holds exactly what node 1 wrote; writes go on there.
# Before node 1 is recorded down, the attach on node 3 is refused; once it
# is, the attach on node 2 (back, but outdated) is refused as stale.
# Then nodes 1 and 2 return: node 1, the old attached node, is fenced (its
# disk goes), both are wired back as peers by node 3's reconcile and
# resynced in full; the record lists all three in sync and, after the
# detach, the three replicas hold the same bytes.
# vm-kernels: one
# vm-cost: 160
# vm-timeout: 600
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/cluster-plane.sh"

record() { cp_record db; }

pool_setup xfs 3G
cp_setup 3
cp_wait_up 3
cp_api 1 volume.create name=db size=64M replicas=3 > /dev/null || fail "create"
dev=$(cp_api 1 volume.attach name=db | json_get result.device)
[ -b "$dev" ] || fail "attach: no device"
id=$(cp_api 1 volume.inspect name=db | json_get result.kernel_id)
in_sync_peers() {
	"$KEELSETUP" status "$id" --json | python3 -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin)["peers"] if p["state"] == "in-sync"))'
}
cp_wait '[ "$(in_sync_peers)" = 2 ]' 30 "peers in sync"

fio_write() {
	fio --name=cp --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bssplit=4k/50:64k/30:256k/20 --iodepth=16 --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randrepeat=0 --size=64M --io_size="$1" --output-format=terse \
		> /tmp/fio.out 2>&1 || { cat /tmp/fio.out; fail "fio failed"; }
}
fio_write 16M
# Node 2 is lost: outdated (rule 2) before IO goes on.
cp_keeld_kill 2
cp_link_down 2
fio_write 16M
expect_eq "in_sync after n2 lost" "$(record | json_get in_sync | tr -d ' \n')" '["n1","n3"]'
sum1=$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
epoch=$(record | json_get epoch)

# Node 1, the attached node, is lost.
cp_keeld_kill 1
cp_link_down 1
t0=$SECONDS
# Not yet down (silent < down_after, and n1 held the coordinator lease):
# no attach elsewhere (rule 3: the old node might still write).
expect_eq "attach on n3 before n1 is down" "$(cp_api 3 volume.attach name=db | json_get error.code)" busy
expect_eq "epoch unchanged by the refusal" "$(record | json_get epoch)" "$epoch"
cp_wait '[ "$(cp_node_state n1)" = down ]' 30 "n1 recorded down"
echo "n1 down after $((SECONDS - t0)) s; coordinator $(cp_coordinator)"
# Never promote a stale replica: n2 returns, but its replica was outdated
# while n1 wrote on: the attach there is refused (ESTALE), on n3 allowed.
cp_link_up 2
cp_keeld_start 2
cp_wait '[ "$(cp_node_state n2)" = up ]' 30 "n2 recorded up"
out=$(cp_api 2 volume.attach name=db || true)
echo "$out"
expect_eq "attach on the stale n2" "$(json_get error.errno <<< "$out")" ESTALE
expect_eq "epoch unchanged by the refusal" "$(record | json_get epoch)" "$epoch"
out=$(cp_api 3 volume.attach name=db)
echo "$out"
dev3=$(json_get result.device <<< "$out")
[ -b "$dev3" ] || fail "failover attach on n3: no device"
echo "attached on n3 $((SECONDS - t0)) s after n1 was lost"
expect_eq "record attached" "$(record | json_get attached_node)" n3
expect_eq "epoch bumped" "$(record | json_get epoch)" $((epoch + 1))
in_sync_has() { record | python3 -c 'import json,sys; print(sys.argv[1] in json.load(sys.stdin)["in_sync"])' "$1"; }
expect_eq "n1 out of the in-sync set after the failover" "$(in_sync_has n1)" False
expect_eq "n3 in sync after the failover" "$(in_sync_has n3)" True
sum3=$(dd if="$dev3" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
expect_eq "data on n3" "$sum3" "$sum1"
# Writes on the new attached node work.
dev=$dev3
fio_write 8M

# n1 returns.  It still has its disk: the reconcile fences it.
old_id=$id
cp_link_up 1
cp_keeld_start 1
cp_wait 'grep -q "fenced" "$(cp_log 1)"' 30 "n1 fenced"
cp_wait '[ ! -b "/dev/keel$old_id" ]' 10 "n1's old disk /dev/keel$old_id gone"
expect_eq "n1's view after the fence" "$(cp_local_field 1 db state)" detached
in_sync_sorted() { record | python3 -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin)["in_sync"])))'; }
t0=$SECONDS
cp_wait '[ "$(in_sync_sorted)" = n1,n2,n3 ]' 120 "n1 and n2 resynced from n3"
echo "n1 and n2 back in sync $((SECONDS - t0)) s after n1's keeld started"
grep -q "peer added: resync starts.*resync=full" "$(cp_log 3)" || fail "no full resync in n3's log"
sum3=$(dd if="$dev3" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
cp_api 3 volume.detach name=db > /dev/null || fail "detach on n3"
uuid=$(record | json_get uuid)
for i in 1 2 3; do
	kid=$(cp_local_field "$i" db kernel_id)
	off=$("$KEELSETUP" status "$kid" --json | json_get data_offset)
	s=$(dd if="$(cp_pool "$i")/$uuid.img" bs=1M skip=$((off >> 20)) count=64 iflag=direct \
		status=none | sha256sum | cut -d' ' -f1)
	expect_eq "replica n$i after the resync" "$s" "$sum3"
done
for i in 1 2 3; do cp_keeld_stop "$i"; done
echo "ok"
