#!/bin/bash
# Rule 5 under load: a third replica joins a volume that holds data while
# the application writes (full sync, rate-limited), its link is cut in the
# middle of the resync (the application is not frozen: the peer was not in
# sync), and when the link returns the resync resumes and completes.  All
# replicas end byte-identical.  Also prints the unthrottled full-resync
# throughput.
# vm-timeout: 400
# vm-kernels: one
# vm-cost: 150
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"

repl_setup 3 64M
ks peer-remove 0 --slot 2
fio_write_verify "$REPL_DEV" --size=64M --rw=write --bs=1M --iodepth=4

ks set 0 --resync-rate 2M > /dev/null
fio --name=bg --filename="$REPL_DEV" --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=4k --iodepth=4 --size=64M --time_based --runtime=600 > /tmp/bg.out 2>&1 &
bg=$!
repl_peer_add 3 --full-sync
wait_peer_state 3 syncing 20
t0=$(date +%s%N)
b0=$(peer_field 3 resync_bytes)
sleep 3
b1=$(peer_field 3 resync_bytes)
ms=$((($(date +%s%N) - t0) / 1000000))
echo "throttled resync: $((b1 - b0)) bytes in $ms ms (limit 2 MiB/s); rate $(peer_field 3 resync_rate) bytes/s"
[ $((b1 - b0)) -gt 0 ] || fail "resync made no progress"
# At most twice the limit over the window (plus one 64 KiB region).
[ $((b1 - b0)) -le $((2 * (2 << 20) * ms / 1000 + 65536)) ] || fail "resync ran over twice its limit"
expect_eq "n3 still syncing" "$(peer_state 3)" syncing

# Cut node 3 while it resyncs: writes go on (no freeze), it is outdated.
ip link set keel-v3 down
wait_peer_state 3 outdated 20
w1=$(ks stats 0 --json | json_get writes)
sleep 2
w2=$(ks stats 0 --json | json_get writes)
[ "$w2" -gt "$w1" ] || fail "writes stopped while a syncing peer was away"
before=$(peer_field 3 resync_bytes)
ks set 0 --resync-rate 0 > /dev/null
ip link set keel-v3 up
wait_peer_state 3 in-sync 180
after=$(peer_field 3 resync_bytes)
echo "resync: $before bytes before the cut, $after in all"
[ "$after" -gt "$before" ] || fail "resync did not resume"
kill $bg
wait $bg 2>/dev/null || true
fio_write_verify "$REPL_DEV" --size=64M --io_size=8M
expect_eq "IO errors" "$(ks stats 0 --json | json_get errors)" 0
expect_replicas_identical

# Unthrottled full resync of an idle volume: the throughput, for the record.
ks peer-remove 0 --slot 2
t0=$(date +%s.%N)
repl_peer_add 3 --full-sync
wait_peer_state 3 in-sync 180
t1=$(date +%s.%N)
python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print('full resync of 64 MiB: %.1f s, %.1f MiB/s' % (t, 64/t))" "$t0" "$t1"
ks detach 0
expect_replicas_identical
