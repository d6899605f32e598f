#!/bin/bash
# make demo: boots Debian's newest installed kernel under qemu with the
# freshly built keel.ko and runs the three-node demo in it
# (guest-cluster-demo.sh): etcd and three nodes, each with its keeld, driven
# with keelctl.  Prints the guest's narrated log; exits non-zero if any step
# failed.  Everything runs in the guest, so nothing is left behind here.
# make check runs the same guest script (tests/vm/cluster-plane/demo.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/vm
. "$here/lib/vm-common.sh"
kver=$(vm_default_kernel)
start=$SECONDS
echo "Keel demo: booting Debian kernel $kver in qemu (TCG), host root shared read-only over 9p"
set +e
"$root/tests/vm/vm-run" -q -k "$kver" -t 420 -T 360 "$root/tests/demo/guest-cluster-demo.sh" \
	> "$root/build/demo.log" 2>&1
rc=$?
set -e
run=$(ls -td "$root"/build/vm/runs/single-"$kver"-* | head -1)
cat "$run/out/demo_guest-cluster-demo.log" 2>/dev/null || true
if [ "$rc" != 0 ]; then
	cat "$root/build/demo.log"
	echo "demo FAILED (guest output and keeld logs: $run/out)"
	exit 1
fi
echo
echo "demo passed in $((SECONDS - start)) s (boot included); logs: $run/out"
