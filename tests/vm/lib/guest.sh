# lib/guest.sh - helpers for test scripts running inside a harness guest.
# Source it first: . "$KEEL_ROOT/tests/vm/lib/guest.sh"
set -euo pipefail

KEEL_BIN=$KEEL_ROOT/build/user
KEELSETUP=$KEEL_BIN/cli/keelsetup

# fail MESSAGE: stop the test with a message.
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# expect_fail CMD...: CMD must exit non-zero; its output goes to $LAST_OUT.
expect_fail() {
	if LAST_OUT=$("$@" 2>&1); then fail "expected failure: $*"; fi
	return 0
}

# wait_until COND SECONDS WHAT: retry the shell condition COND every 0.5 s;
# fail naming WHAT after SECONDS.
wait_until() {
	local cond=$1 secs=$2 what=$3 t=0
	until eval "$cond"; do
		sleep 0.5; t=$((t + 1))
		[ $t -lt $((secs * 2)) ] || fail "timed out after ${secs}s waiting for: $what"
	done
}

# wait_io_started ID [SECONDS]: wait until volume ID has completed IO, so a
# writer started in the background really has the disk open and busy (fio can
# take seconds to start in a loaded guest; a fixed sleep is a race).
wait_io_started() {
	local id=$1 limit=${2:-60} t=0 n
	while :; do
		n=$("$KEELSETUP" stats "$id" --json | json_get writes)
		n=$((n + $("$KEELSETUP" stats "$id" --json | json_get reads)))
		[ "$n" -gt 0 ] && return 0
		[ "$t" -ge $((limit * 10)) ] && fail "no IO on volume $id after ${limit}s"
		sleep 0.1; t=$((t + 1))
	done
}

# start_listener FILE CMD...: run an event listener (keelsetup events ...)
# in the background with its output in FILE, and return once it has said on
# stderr that it is subscribed, so no event after this can be missed.  Its
# pid is in $LISTENER_PID.
start_listener() {
	local file=$1 t=0
	shift
	"$@" > "$file" 2> "$file.err" &
	LISTENER_PID=$!
	until grep -q "listening" "$file.err"; do
		kill -0 "$LISTENER_PID" 2> /dev/null || fail "event listener exited: $(cat "$file.err")"
		[ "$t" -ge 300 ] && fail "event listener did not start"
		sleep 0.1; t=$((t + 1))
	done
}

# json_get FILTER < JSON: one value from JSON (python3 is on every host).
json_get() {
	python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1"
}
