#!/bin/bash
# tests/run-check.sh - everything `make check` runs, after `make all`:
#   1. the module built without a warning on every kernel (W=1); lint
#   2. unit tests (CTest: every doctest case is one test)
#   3. dkms add/build of the tree for every kernel
#   4. the VM suite (tests/vm/basic, ...) booted on every kernel
#   5. the harness self-test (run in the background beside fuzz and DKMS) and
#      the multi-guest crash test (newest kernel)
# Ends with one line "N passed, N failed" (", N skipped" if any) and exits
# non-zero if anything failed.  Set KERNELS to restrict the kernels.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
results=$root/build/check/results.txt
mkdir -p "$root/build/check"
: > "$results"
start=$(date +%s)
here=$root/tests/vm
. "$here/lib/vm-common.sh"
kernels=${KERNELS:-$(vm_kernels)}
[ -n "$kernels" ] || { echo "run-check: no kernel with headers installed: run make deps" >&2; exit 1; }
newest=$(echo $kernels | tr ' ' '\n' | sort -V | tail -1)

result() { # result STATUS NAME [DETAIL]
	echo "$1 $2 ${3:-}" >> "$results"
	printf '%-4s %s %s\n' "$1" "$2" "${3:+($3)}"
}
section() { echo; echo "=== $* ($(( $(date +%s) - start ))s)"; }

section "kernel module warnings"
for k in $kernels; do
	log=$root/build/kmod/$k/build.log
	if [ ! -f "$log" ]; then
		result FAIL "build/kmod[$k]" "not built"
	elif grep -qiE 'warning|error' "$log"; then
		result FAIL "build/kmod[$k]" "$(grep -iE 'warning|error' "$log" | head -1)"
	else
		result PASS "build/kmod[$k]" "W=1, no warnings"
	fi
done

section "lint"
tests/lint.sh -r "$results" | grep -E '^(PASS|FAIL)'

section "unit tests"
ctest_log=$root/build/check/ctest.log
(cd build/user && ctest --output-on-failure -j2) > "$ctest_log" 2>&1
sed -n 's/^ *[0-9]*\/[0-9]* Test *#[0-9]*: \(.*\) \.\.\.*\** *\(Passed\|Failed\|\*\*\*Failed\|Not Run\|\*\*\*Exception\|\*\*\*Timeout\).*/\2|\1/p' "$ctest_log" |
while IFS='|' read -r st name; do
	name=$(echo "$name" | sed 's/ *$//')
	if [ "$st" = Passed ]; then result PASS "unit/$name"; else result FAIL "unit/$name" "$st"; fi
done
grep -q "tests passed" "$ctest_log" || { result FAIL unit/ctest "ctest did not finish"; tail -30 "$ctest_log"; }
grep -q "Failed\|Exception\|Timeout" "$ctest_log" && sed -n '/The following tests FAILED/,$p' "$ctest_log"

# The harness self-test mostly waits for timeouts it provokes: it runs in
# the background while the fuzzers (one core) and DKMS build.
tests/vm/selftest/run.sh -k "$newest" -r "$results" > "$root/build/check/selftest.log" 2>&1 &
selftest_pid=$!

if [ -x tests/fuzz/run.sh ]; then
	section "fuzz (bounded)"
	tests/fuzz/run.sh -r "$results"
fi

section "dkms"
for k in $kernels; do
	log=$root/build/check/dkms-$k.log
	if tests/dkms/dkms-build.sh "$k" "$root/build/dkms/$k/keel.ko" > "$log" 2>&1; then
		result PASS "dkms/build[$k]"
	else
		result FAIL "dkms/build[$k]" "see $log"; tail -20 "$log"
	fi
done

section "VM suite"
# Every suite directory that exists: basic, io, keeld (the daemon),
# repl (in-kernel replication), cluster-plane (keeld in cluster mode),
# bench (the benchmarks' smoke run).
suites=$(ls tests/vm/basic/*.sh tests/vm/io/*.sh tests/vm/keeld/*.sh tests/vm/repl/*.sh \
	tests/vm/cluster-plane/*.sh tests/vm/bench/*.sh 2>/dev/null)
# One guest per kernel, side by side: much of a replication test is waiting
# (timeouts, resync, sleeps), so two guests overlap well on two cores.
# A test whose header says "# vm-kernels: one" adds scenarios, not kernel
# API surface (the compat differences are exercised by the tests that run
# on every kernel): it runs on one kernel only, the one whose guest has the
# least work so far by the tests' "# vm-cost: SECONDS" headers (default 60),
# so that both guests finish at about the same time.  "# vm-kernels: newest"
# pins a test to the newest kernel.  Keeps make check short.
declare -A load picked
for k in $kernels; do
	load[$k]=0
	picked[$k]=$(grep -L '^# vm-kernels: \(one\|newest\)' $suites)
done
picked[$newest]="${picked[$newest]} $(grep -l '^# vm-kernels: newest' $suites)"
for t in $(for f in $(grep -l '^# vm-kernels: one' $suites); do
	c=$(sed -n 's/^# vm-cost: *\([0-9]*\).*/\1/p' "$f" | head -1)
	echo "${c:-60} $f"
done | sort -rn | awk '{print $1 ":" $2}'); do
	best=
	for k in $kernels; do
		[ -z "$best" ] || [ "${load[$k]}" -lt "${load[$best]}" ] && best=$k
	done
	picked[$best]="${picked[$best]} ${t#*:}"
	load[$best]=$((${load[$best]} + ${t%%:*}))
done
vm_pids=
for k in $kernels; do
	tests/vm/vm-run -q -t 3000 -k "$k" -r "$results" ${picked[$k]} > "$root/build/check/vm-$k.log" 2>&1 &
	vm_pids="$vm_pids $!"
done
wait $vm_pids  # not the self-test: its status is read below
for k in $kernels; do
	cat "$root/build/check/vm-$k.log"
done

section "VM harness self-test ($newest, run beside the fuzzers)"
wait "$selftest_pid"
st=$?
grep -v '^    |' "$root/build/check/selftest.log"
if [ "$st" != 0 ] && ! grep -q '^FAIL selftest/' "$results"; then
	result FAIL selftest/run "exit status $st, see build/check/selftest.log"
fi

section "multi-guest crash, cluster mode ($newest)"
tests/vm/vm-cluster -n 3 -k "$newest" -r "$results" -H tests/vm/cluster/failover-host.sh \
	tests/vm/cluster/failover.sh

section "summary"
pass=$(grep -c '^PASS ' "$results")
fail=$(grep -c '^FAIL ' "$results")
skip=$(grep -c '^SKIP ' "$results")
if [ "$fail" != 0 ]; then
	echo "failed:"
	grep '^FAIL ' "$results" | sed 's/^FAIL /  /'
fi
echo "kernels: $kernels"
echo "time: $(( $(date +%s) - start ))s; results: $results"
if [ "$skip" != 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
