#!/bin/bash
# vm-kernels: one
# vm-cost: 55
# keeld on one node, through its socket: create, list, inspect, attach (the
# same device again), IO, detach, delete (a missing volume says so); the
# socket is root-only; SIGHUP reloads; SIGTERM stops cleanly and a restart
# finds everything as it was; nothing left in keel.ko at the end.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/keeld.sh"
pool_setup
keeld_config
keeld_start

out=$(api node.info)
echo "$out"
expect_eq node "$(json_get result.node_name <<< "$out")" vm1
expect_eq zone "$(json_get result.labels.zone <<< "$out")" z1
expect_eq capacity "$(json_get result.pool.capacity <<< "$out")" $((2 << 30))
expect_eq socket-mode "$(stat -c %a "$KEELD_SOCK")" 600

out=$(api volume.create name=db size=256M labels.app=postgres)
echo "$out"
expect_eq state "$(json_get result.state <<< "$out")" detached
expect_eq size "$(json_get result.size <<< "$out")" $((256 << 20))
uuid=$(json_get result.uuid <<< "$out")
[ -f "$POOL/$uuid.img" ] || fail "no backing file $POOL/$uuid.img"
api '{"api":1,"command":"volume.create","args":{"name":"web","size":"64M","block_size":512}}' > /dev/null
expect_eq "create twice" "$(api_code volume.create name=db size=64M)" already_exists

out=$(api volume.list)
expect_eq "volumes" "$(json_get result.volumes <<< "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 2

dev=$(api volume.attach name=db | json_get result.device)
[ -b "$dev" ] || fail "$dev is not a block device"
expect_eq "attach again" "$(api volume.attach name=db | json_get result.device)" "$dev"
expect_eq "sectors" "$(blockdev --getsz "$dev")" $((256 << 11))
expect_eq "logical block" "$(blockdev --getss "$dev")" 4096
out=$(api volume.inspect name=db)
expect_eq inspect-state "$(json_get result.state <<< "$out")" attached
expect_eq inspect-label "$(json_get result.labels.app <<< "$out")" postgres

dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 status=none
dd if=/tmp/pattern of="$dev" bs=1M seek=2 oflag=direct status=none
want=$(sha256sum < /tmp/pattern | cut -d' ' -f1)
expect_eq "read back" "$(dev_sum "$dev" 2 8)" "$want"

# Refusals that protect data.
expect_eq "delete attached" "$(api_code volume.delete name=db)" busy
exec 3< "$dev"
expect_eq "detach open" "$(api_code volume.detach name=db)" busy
exec 3<&-
keeld_consistent

# SIGHUP: a new log level and capacity apply without a restart.
sed -i 's/"log_level": "info"/"log_level": "debug"/; s/"pool_capacity": "2G"/"pool_capacity": "1G"/' "$KEELD_CONF"
kill -HUP "$KEELD_PID"
for i in $(seq 50); do
	[ "$(api node.info | json_get result.pool.capacity)" = $((1 << 30)) ] && break
	sleep 0.1
done
expect_eq "capacity after reload" "$(api node.info | json_get result.pool.capacity)" $((1 << 30))
grep -q 'msg="configuration reloaded"' "$KEELD_LOG" || fail "no reload in the log"
expect_eq "too big after reload" "$(api_code volume.create name=big size=900M)" insufficient_capacity

# A clean stop and a restart: the volume stays attached with its data.
keeld_stop
grep -q 'msg="keeld stopped"' "$KEELD_LOG" || fail "no clean stop in the log"
[ -b "$dev" ] || fail "$dev vanished while keeld was stopped"
keeld_start
# A second keeld on the same data directory refuses to start.
if "$KEELD" --config "$KEELD_CONF" > /tmp/second.log 2>&1; then fail "a second keeld started"; fi
grep -q "another keeld is running" /tmp/second.log || fail "second keeld: $(cat /tmp/second.log)"
expect_eq "after restart" "$(api volume.inspect name=db | json_get result.device)" "$dev"
expect_eq "data after restart" "$(dev_sum "$dev" 2 8)" "$want"
keeld_consistent

# A non-root client is refused.
if command -v setpriv > /dev/null; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$KEEL_API" -s "$KEELD_SOCK" node.info 2>&1 || true)
	echo "$out" | grep -qE "Permission denied|permission_denied" || fail "non-root client got: $out"
fi

api volume.detach name=db > /dev/null
[ ! -e "$dev" ] || fail "$dev still exists after detach"
expect_eq "detach again" "$(api_code volume.detach name=db)" ok
api volume.delete name=db > /dev/null
[ ! -e "$POOL/$uuid.img" ] || fail "backing file left after delete"
out=$(api volume.delete name=db || true)
expect_eq "delete missing" "$(json_get error.code <<< "$out")" not_found
json_get error.message <<< "$out" | grep -q "does not exist" || fail "delete missing: $out"
api volume.delete name=web > /dev/null
keeld_consistent
expect_eq "kernel objects" "$(keel_objects)" 0
keeld_stop
grep -E 'level=(error|warning)' "$KEELD_LOG" | grep -v 'crash point' && fail "unexpected warnings in the log"
echo "keeld lifecycle ok"
