#!/bin/bash
# Cluster mode, rule 2: a repl=3 volume attached on node 1 takes writes
# (fio, crc32c verify); node 2's keeld is killed and its link cut.  The
# kernel on node 1 reports PEER_LOST and freezes writes; keeld n1 records
# n2 out of sync in etcd (CAS, epoch bumped) and only then answers
# PEER_OUTDATE, so fio completes, verified, without n2.  n1 and n3 stay
# identical.  Then the same loss (n3) while etcd is stopped: n1's writes
# stay frozen, neither failed nor completed, until etcd answers again.
# vm-kernels: one
# vm-cost: 140
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
cp_api 1 volume.create name=db size=64M replicas=3 > /dev/null || fail "create"
uuid=$(record | json_get uuid)
dev=$(cp_api 1 volume.attach name=db | json_get result.device)
[ -b "$dev" ] || fail "attach: no device"
id=$(local_field 1 kernel_id)
peer_state() {
	"$KEELSETUP" status "$id" --json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    if p["slot"] == int(sys.argv[1]): print(p["state"])' "$1"
}
cp_wait '[ "$(peer_state 1)" = in-sync ] && [ "$(peer_state 2)" = in-sync ]' 30 "peers in sync"
expect_eq "epoch after attach" "$(record | json_get epoch)" 2

fio --name=cp --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
	--bssplit=4k/50:64k/30:256k/20 --iodepth=16 --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --randrepeat=0 --size=64M --io_size=48M --rate=8m \
	--output-format=terse > /tmp/fio.out 2>&1 &
fio_pid=$!
sleep 2
cp_keeld_kill 2
cp_link_down 2
t0=$SECONDS
cp_wait '[ "$(record | json_get epoch)" = 3 ]' 30 "the outdate recorded in etcd"
echo "outdate recorded after $((SECONDS - t0)) s"
expect_eq "in_sync" "$(record | json_get in_sync | tr -d ' \n')" '["n1","n3"]'
expect_eq "n2 synced_epoch" "$(record | json_get replica_set.1.synced_epoch)" 2
wait $fio_pid || { cat /tmp/fio.out; fail "fio failed after the peer was lost"; }
echo "fio done $((SECONDS - t0)) s after the cut"
expect_eq "peer n2 in the kernel" "$(peer_state 1)" outdated
expect_eq "peer n3 in the kernel" "$(peer_state 2)" in-sync
expect_eq "write errors" "$("$KEELSETUP" stats "$id" --json | json_get errors)" 0
grep -q "replica outdated" "$(cp_log 1)" || fail "no outdate in n1's log"

cp_api 1 volume.detach name=db > /dev/null || fail "detach"
sync
sums=
for i in 1 3; do
	kid=$(local_field "$i" kernel_id)
	off=$("$KEELSETUP" status "$kid" --json | json_get data_offset)
	s=$(dd if="$(cp_pool "$i")/$uuid.img" bs=1M skip=$((off >> 20)) count=64 iflag=direct \
		status=none | sha256sum | cut -d' ' -f1)
	echo "replica n$i: $s"
	sums="$sums $s"
done
[ "$(tr ' ' '\n' <<< "$sums" | sort -u | grep -c .)" = 1 ] || fail "replicas n1 and n3 differ"

# Rule 2 without etcd: attached on n1 again (n3 in sync), etcd stopped,
# then n3 lost under writes.  n1 cannot record the outdate, so its writes
# stay frozen: not failed, not completed without n3.  Once etcd answers,
# the outdate is recorded first and the writes complete, verified.
dev=$(cp_api 1 volume.attach name=db | json_get result.device)
[ -b "$dev" ] || fail "attach again: no device"
epoch=$(record | json_get epoch)
cp_wait '[ "$(peer_state 2)" = in-sync ]' 30 "n3 in sync again"
errors0=$("$KEELSETUP" stats "$id" --json | json_get errors)
fio --name=cp2 --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0 --size=64M \
	--io_size=16M --rate=4m --output-format=terse > /tmp/fio2.out 2>&1 &
fio_pid=$!
wait_io_started "$id"
kill -STOP "$CP_ETCD_PID"
cp_keeld_kill 3
cp_link_down 3
frozen() { "$KEELSETUP" status "$id" --json | json_get state | grep -q frozen; }
cp_wait frozen 30 "writes frozen after n3 was lost"
w0=$("$KEELSETUP" stats "$id" --json | json_get writes)
sleep 4
frozen || fail "writes no longer frozen while etcd is away"
kill -0 "$fio_pid" 2>/dev/null || { cat /tmp/fio2.out; fail "fio ended while writes were frozen"; }
expect_eq "writes completed while frozen" "$("$KEELSETUP" stats "$id" --json | json_get writes)" "$w0"
expect_eq "write errors while frozen" "$("$KEELSETUP" stats "$id" --json | json_get errors)" "$errors0"
expect_eq "n3 in the kernel while etcd is away" "$(peer_state 2)" lost
kill -CONT "$CP_ETCD_PID"
t0=$SECONDS
wait $fio_pid || { cat /tmp/fio2.out; fail "fio failed after etcd came back"; }
echo "writes went on $((SECONDS - t0)) s after etcd came back"
expect_eq "epoch: the outdate recorded" "$(record | json_get epoch)" $((epoch + 1))
expect_eq "in_sync without n3" "$(record | json_get in_sync | tr -d ' \n')" '["n1"]'
expect_eq "n3 in the kernel" "$(peer_state 2)" outdated
cp_keeld_stop 1
echo "ok"
