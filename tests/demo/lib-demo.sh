# tests/demo/lib-demo.sh - narration for the cluster demo (guest side).
# Source after lib/guest.sh, lib/nodes.sh and lib/cluster-plane.sh.
#
#   say TEXT...          a narration paragraph
#   show CMD...          print "$ CMD", run it; a failure ends the demo
#   kc I ARGS...         print and run "keelctl ARGS" in node I's namespace
#                        on node I's keeld socket; a failure ends the demo
#   kc_out I ARGS...     the same, but only print keelctl's stdout (for $(...))
#   demo_elapsed         seconds since the demo started

KEELCTL=$KEEL_BIN/cli/keelctl
DEMO_START=$SECONDS

say() { printf '\n# %s\n' "$*"; }

show() {
	local rc=0
	echo "\$ $*"
	"$@" || rc=$?
	[ "$rc" = 0 ] || fail "step failed (exit status $rc): $*"
}

kc() {
	local i=$1 rc=0
	shift
	echo "[n$i] \$ keelctl --socket $(cp_sock "$i") $*"
	node_exec "$i" "$KEELCTL" --socket "$(cp_sock "$i")" "$@" || rc=$?
	[ "$rc" = 0 ] || fail "step failed (exit status $rc): keelctl $* on n$i"
}

kc_out() {
	local i=$1 rc=0
	shift
	echo "[n$i] \$ keelctl --socket $(cp_sock "$i") $*" >&2
	node_exec "$i" "$KEELCTL" --socket "$(cp_sock "$i")" "$@" || rc=$?
	[ "$rc" = 0 ] || fail "step failed (exit status $rc): keelctl $* on n$i"
}

demo_elapsed() { echo $((SECONDS - DEMO_START)); }
