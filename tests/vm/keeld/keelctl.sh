#!/bin/bash
# vm-kernels: one
# vm-cost: 63
# keelctl against a real keeld: version and exit 4 while keeld is down;
# node inspect; volume create (labels, block size, a taken name, a bad
# size), list, attach (the same device again; -q prints only the path),
# inspect, the refusals that protect data (detach of an open disk, delete
# of an attached volume, delete without --yes from a script), detach,
# delete (then not found), delete --force of an attached volume; a non-root
# user gets exit 5; every step checked through -o json and exit statuses.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/keeld.sh"
KEELCTL=$KEEL_BIN/cli/keelctl
[ -x "$KEELCTL" ] || fail "no $KEELCTL: build user space first (make user)"

kc() { "$KEELCTL" --socket "$KEELD_SOCK" "$@"; }
# run CMD...: CMD's exit status in $RC, its stdout in $OUT, stderr in $ERR.
run() {
	RC=0
	OUT=$("$@" 2> /tmp/keelctl.err) || RC=$?
	ERR=$(cat /tmp/keelctl.err)
}
# expect_rc WHAT WANT CMD...: run CMD, its exit status must be WANT.
expect_rc() {
	local what=$1 want=$2
	shift 2
	run "$@"
	[ "$RC" = "$want" ] || fail "$what: exit status $RC, want $want; stdout: $OUT; stderr: $ERR"
}
count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

pool_setup
keeld_config

# keeld not running yet: keelctl's own version, then exit 4 and what to do.
expect_rc "version, keeld down" 4 kc version
expect_eq "version line" "$(head -1 <<< "$OUT" | awk '{print $1}')" keelctl
grep -q "keeld is not running (cannot connect to $KEELD_SOCK" <<< "$ERR" || fail "keeld down: $ERR"
grep -q "systemctl start keeld" <<< "$ERR" || fail "keeld down, no advice: $ERR"
expect_rc "list, keeld down" 4 kc volume list -o json
expect_eq "error code, keeld down" "$(json_get error.code <<< "$OUT")" keeld_unreachable

keeld_start

expect_rc "version" 0 kc version -o json
echo "$OUT"
expect_eq "keeld version" "$(json_get keeld <<< "$OUT")" "$(json_get keelctl <<< "$OUT")"
json_get module.version <<< "$OUT" > /dev/null || fail "no module version: $OUT"
expect_rc "node inspect" 0 kc node inspect -o json
expect_eq node "$(json_get node_name <<< "$OUT")" vm1
expect_eq "node labels" "$(json_get labels.zone <<< "$OUT")" z1
expect_rc "node inspect -q" 0 kc node inspect -q
expect_eq "node -q" "$OUT" vm1
expect_rc "node text" 0 kc node inspect
grep -q "^Node: *vm1$" <<< "$OUT" || fail "node text: $OUT"

# Create.
expect_rc "create db" 0 kc volume create db --size 256M --label app=postgres -q
expect_eq "create -q output" "$OUT" ""
expect_rc "create web" 0 kc volume create web --size 64M --block-size 512 -o json
expect_eq "web state" "$(json_get state <<< "$OUT")" detached
expect_eq "web block size" "$(json_get block_size <<< "$OUT")" 512
expect_eq "web size" "$(json_get size <<< "$OUT")" $((64 << 20))
expect_rc "create taken name" 7 kc volume create db --size 64M -o json
expect_eq "taken code" "$(json_get error.code <<< "$OUT")" already_exists
expect_rc "create size 0" 2 kc volume create x --size 0
grep -q -- "--size" <<< "$ERR" || fail "size 0: $ERR"
expect_rc "create too big" 1 kc volume create huge --size 100G
grep -q "node inspect" <<< "$ERR" || fail "too big, no hint: $ERR"
expect_rc "create --repl 3" 1 kc volume create r3 --size 64M --repl 3
grep -q "cluster" <<< "$ERR" || fail "--repl 3: $ERR"

# List.
expect_rc "list" 0 kc volume list -o json
expect_eq "volumes" "$(json_get volumes <<< "$OUT" | count)" 2
expect_eq "first" "$(json_get volumes.0.name <<< "$OUT")" db
expect_eq "first label" "$(json_get volumes.0.labels.app <<< "$OUT")" postgres
expect_rc "list -q" 0 kc volume list -q
expect_eq "names" "${OUT//$'\n'/ }" "db web"
expect_rc "list text" 0 kc volume list
echo "$OUT"
grep -q "^NAME  *SIZE  *STATE" <<< "$OUT" || fail "no table header: $OUT"
grep -q "^db  *256 MiB  *detached" <<< "$OUT" || fail "no db row: $OUT"

# Attach, IO, inspect.
expect_rc "attach" 0 kc volume attach -q db
dev=$OUT
[ -b "$dev" ] || fail "'$dev' is not a block device"
expect_rc "attach again" 0 kc volume attach db -o json
expect_eq "same device" "$(json_get device <<< "$OUT")" "$dev"
dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
dd if=/tmp/pattern of="$dev" bs=1M oflag=direct status=none
expect_rc "inspect" 0 kc volume inspect db -o json
expect_eq "inspect state" "$(json_get state <<< "$OUT")" attached
expect_eq "inspect device" "$(json_get device <<< "$OUT")" "$dev"
expect_eq "inspect label" "$(json_get labels.app <<< "$OUT")" postgres
[ "$(json_get kernel.stats.writes <<< "$OUT")" -gt 0 ] || fail "no writes counted: $OUT"
expect_rc "inspect text" 0 kc volume inspect db
grep -q "^Device: *$dev$" <<< "$OUT" || fail "inspect text: $OUT"
expect_rc "inspect -q" 0 kc volume inspect -q db
expect_eq "inspect -q output" "$OUT" ""

# Refusals that protect data.
exec 3< "$dev"
expect_rc "detach open" 6 kc volume detach db
grep -q "volume 'db' is open on this node" <<< "$ERR" || fail "detach open: $ERR"
grep -q -- "--force" <<< "$ERR" || fail "detach open, no --force hint: $ERR"
exec 3<&-
expect_rc "delete attached" 6 kc volume delete db --yes
grep -q "detach it first" <<< "$ERR" || fail "delete attached: $ERR"
expect_rc "delete without --yes" 2 kc volume delete web < /dev/null
grep -q -- "--yes" <<< "$ERR" || fail "delete without --yes: $ERR"
expect_rc "web still there" 0 kc volume inspect -q web
expect_eq "data kept" "$(dev_sum "$dev" 0 4)" "$(sha256sum < /tmp/pattern | cut -d' ' -f1)"

# Detach and delete.
expect_rc "detach" 0 kc volume detach db -o json
expect_eq "detached" "$(json_get state <<< "$OUT")" detached
[ ! -e "$dev" ] || fail "$dev still exists after detach"
expect_rc "delete" 0 kc volume delete db --yes -o json
expect_eq "deleted" "$(json_get deleted <<< "$OUT")" True
expect_rc "inspect deleted" 3 kc volume inspect db
grep -q "volume 'db' does not exist" <<< "$ERR" || fail "inspect deleted: $ERR"
expect_rc "delete again" 3 kc volume delete db --yes -o json
expect_eq "not found code" "$(json_get error.code <<< "$OUT")" not_found

# delete --force of an attached volume detaches it first.
expect_rc "attach web" 0 kc volume attach -q web
wdev=$OUT
expect_rc "delete --force" 0 kc volume delete web --force --yes -q
expect_eq "delete -q output" "$OUT" ""
[ ! -e "$wdev" ] || fail "$wdev still exists after delete --force"
expect_rc "empty list" 0 kc volume list -o json
expect_eq "no volumes" "$(json_get volumes <<< "$OUT" | count)" 0

# Not root: exit 5 and the advice.
if command -v setpriv > /dev/null; then
	expect_rc "non-root" 5 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$KEELCTL" --socket "$KEELD_SOCK" volume list
	grep -q "run keelctl as root" <<< "$ERR" || fail "non-root: $ERR"
fi

keeld_consistent
expect_eq "kernel objects" "$(keel_objects)" 0
keeld_stop
expect_rc "list after stop" 4 kc volume list
echo "keelctl ok"
