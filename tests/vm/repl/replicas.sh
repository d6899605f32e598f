#!/bin/bash
# 2 and 3 replicas: random writes verified with crc32c through /dev/keelN,
# every write acked by every peer; afterwards all replicas byte-identical.
# vm-timeout: 300
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"

repl_setup 3 64M
# Two replicas first: drop node 3 from the set, write, compare n1 and n2.
ks peer-remove 0 --slot 2
fio_write_verify "$REPL_DEV" --size=64M --io_size=16M
expect_eq "n2 state" "$(peer_state 2)" in-sync
acked=$(peer_field 2 bytes_acked)
[ "$acked" -ge $((16 << 20)) ] || fail "peer n2 acked only $acked bytes"
expect_replicas_identical 1 2

# Three replicas: node 3 comes back with a full copy, then more writes.
repl_peer_add 3 --full-sync
wait_peer_state 3 in-sync 60
fio_write_verify "$REPL_DEV" --size=64M --io_size=16M --rw=randrw
expect_eq "writes failed" "$(ks stats 0 --json | json_get errors)" 0
ks detach 0
expect_replicas_identical 1 2 3
repl_status 1
