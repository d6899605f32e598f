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

# json_get FILTER < JSON: one value from JSON (python3 is on every host).
json_get() {
	python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1"
}
