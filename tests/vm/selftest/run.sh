#!/bin/bash
# selftest/run.sh [-k KVER] [-r RESULTS]: prove the VM harness catches
# failure.  Boots a guest whose scripts exit non-zero, hang, and raise a
# kernel WARN (plus one clean control), then one that outlives the whole-VM
# timeout, and checks that vm-run reports each one as it must.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vm=$here/..
kver= results=
while getopts "k:r:" o; do
	case $o in k) kver=$OPTARG ;; r) results=$OPTARG ;; *) exit 2 ;; esac
done
[ -n "$kver" ] || kver=$(root=$vm/../.. here=$vm bash -c '. "$here/lib/vm-common.sh"; vm_default_kernel')
pass=0 fail=0

report() { # report STATUS NAME DETAIL
	printf '%-4s selftest/%s %s\n' "$1" "$2" "${3:+($3)}"
	[ -n "$results" ] && echo "$1 selftest/$2 ${3:-}" >> "$results"
	if [ "$1" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}

# expect NAME REGEX: the vm-run output must contain a line matching REGEX.
expect() {
	if grep -qE "$2" <<< "$out"; then report PASS "$1"; else report FAIL "$1" "no line matching: $2"; fi
}

out=$("$vm/vm-run" -k "$kver" -M "$here"/guest/{passes,exits-nonzero,hangs,kernel-warn}.sh 2>&1)
rc=$?
echo "$out" | sed 's/^/    | /'
[ "$rc" != 0 ] && report PASS vm-run-exits-nonzero || report FAIL vm-run-exits-nonzero "vm-run exited 0"
expect clean-script-passes '^PASS .*/selftest/guest/passes'
expect failing-script-caught '^FAIL .*/selftest/guest/exits-nonzero \(exit status 3\)'
expect hang-caught '^FAIL .*/selftest/guest/hangs \(timed out after [0-9]+s\)'
expect kernel-warn-caught '^FAIL .*/selftest/guest/kernel-warn \(kernel log: .*WARNING'

out=$("$vm/vm-run" -k "$kver" -M -t 25 "$here/guest/vm-hangs.sh" 2>&1)
rc=$?
echo "$out" | sed 's/^/    | /'
[ "$rc" != 0 ] && report PASS vm-timeout-exits-nonzero || report FAIL vm-timeout-exits-nonzero "vm-run exited 0"
expect vm-timeout-caught '^FAIL .*/console \(guest timed out'
expect vm-timeout-test-reported '^FAIL .*/selftest/guest/vm-hangs \(no result'

echo "selftest: $pass passed, $fail failed"
[ "$fail" = 0 ]
