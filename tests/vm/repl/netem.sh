#!/bin/bash
# A lossy, slow network: 5% packet loss and 20 ms delay (tc netem) on the
# links to both peers during a verified write load.  TCP recovers; no IO
# error, no peer declared lost, all replicas identical.  Then the same with
# crc32c data digests on.
# vm-timeout: 400
# vm-kernels: one
# vm-cost: 66
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"

repl_setup 3 64M
ks set 0 --peer-timeout 10000 > /dev/null
modprobe sch_netem
for i in 2 3; do
	tc qdisc add dev "keel-v$i" root netem delay 20ms loss 5%
	node_exec "$i" tc qdisc add dev eth0 root netem delay 20ms loss 5%
done
fio_write_verify "$REPL_DEV" --size=64M --io_size=8M --iodepth=32
ks set 0 --digest on > /dev/null
fio_write_verify "$REPL_DEV" --size=64M --io_size=4M --iodepth=32 --rw=randrw
expect_eq "IO errors" "$(ks stats 0 --json | json_get errors)" 0
for i in 2 3; do
	expect_eq "n$i state" "$(peer_state "$i")" in-sync
	expect_eq "n$i connects" "$(peer_field "$i" connects)" 1
done
ks detach 0
expect_replicas_identical
