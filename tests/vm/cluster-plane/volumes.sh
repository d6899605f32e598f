#!/bin/bash
# Cluster mode, phase 2: a volume with 3 replicas across the three nodes:
# created by placement with one record in etcd and a replica (same uuid)
# on each node; attached on node 1 with the epoch bumped in etcd first and
# the other two serving as kernel peers; random writes verified with
# crc32c; every replica byte-identical after detach; deleted everywhere.
# vm-kernels: one
# vm-cost: 80
# vm-timeout: 600
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/cluster-plane.sh"

record() { cp_record db; }
local_field() { cp_local_field "$1" db "$2"; }

pool_setup xfs 3G
cp_setup 3
cp_wait_up 3

out=$(cp_api 1 volume.create name=db size=64M replicas=3)
echo "$out"
expect_eq "state" "$(json_get result.state <<< "$out")" ready
uuid=$(json_get result.uuid <<< "$out")
expect_eq "record state" "$(record | json_get state)" ready
expect_eq "record epoch" "$(record | json_get epoch)" 1
expect_eq "record in_sync" "$(record | json_get in_sync | tr -d ' ')" '["n1","n2","n3"]'
expect_eq "secret kept out of the API" "$(json_get result <<< "$out" | grep -c secret)" 0
for i in 1 2 3; do
	expect_eq "n$i replica uuid" "$(local_field "$i" uuid)" "$uuid"
	[ -f "$(cp_pool "$i")/$uuid.img" ] || fail "n$i: no backing file"
done
expect_eq "create twice" "$(cp_api 2 volume.create name=db size=64M replicas=3 | json_get error.code)" already_exists

out=$(cp_api 1 volume.attach name=db)
echo "$out"
dev=$(json_get result.device <<< "$out")
[ -b "$dev" ] || fail "no device $dev"
expect_eq "epoch bumped by the attach" "$(record | json_get epoch)" 2
expect_eq "record attached" "$(record | json_get attached_node)" n1
expect_eq "record device" "$(record | json_get device)" "$dev"
# A retried attach changes nothing.
expect_eq "attach again" "$(cp_api 1 volume.attach name=db | json_get result.device)" "$dev"
expect_eq "epoch after a retry" "$(record | json_get epoch)" 2
expect_eq "attach elsewhere" "$(cp_api 2 volume.attach name=db | json_get error.code)" busy

id=$(local_field 1 kernel_id)
peers_in_sync() {
	"$KEELSETUP" status "$id" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(sum(1 for p in v["peers"] if p["state"] == "in-sync"))'
}
cp_wait '[ "$(peers_in_sync)" = 2 ]' 30 "both peers in sync"
fio --name=cp --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
	--bssplit=4k/50:64k/30:256k/20 --iodepth=16 --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --randrepeat=0 --size=64M --io_size=16M --output-format=terse \
	> /tmp/fio.out 2>&1 || { cat /tmp/fio.out; fail "fio failed"; }
expect_eq "peers in sync after the writes" "$(peers_in_sync)" 2
expect_eq "write errors" "$("$KEELSETUP" stats "$id" --json | json_get errors)" 0

out=$(cp_api 1 volume.detach name=db)
expect_eq "detach" "$(json_get result.state <<< "$out")" detached
expect_eq "record detached" "$(record | json_get attached_node)" ""
sync
sums=
for i in 1 2 3; do
	kid=$(local_field "$i" kernel_id)
	off=$("$KEELSETUP" status "$kid" --json | json_get data_offset)
	s=$(dd if="$(cp_pool "$i")/$uuid.img" bs=1M skip=$((off >> 20)) count=64 iflag=direct \
		status=none | sha256sum | cut -d' ' -f1)
	echo "replica n$i: $s"
	sums="$sums $s"
done
[ "$(tr ' ' '\n' <<< "$sums" | sort -u | grep -c .)" = 1 ] || fail "replicas differ"

out=$(cp_api 3 volume.delete name=db)
expect_eq "delete" "$(json_get result.deleted <<< "$out")" True
[ -z "$(record)" ] || fail "record left in etcd"
for i in 1 2 3; do
	[ ! -e "$(cp_pool "$i")/$uuid.img" ] || fail "n$i: backing file left"
	expect_eq "n$i local view" "$(cp_api "$i" volume.inspect name=db | json_get error.code)" not_found
done
for i in 1 2 3; do cp_keeld_stop "$i"; done
echo "ok"
