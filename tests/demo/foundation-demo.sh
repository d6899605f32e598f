#!/bin/bash
# make demo (foundation stage): boots Debian's newest installed kernel under
# qemu, loads the freshly built keel.ko and queries it with keelsetup over
# generic netlink, printing each command it types.  The full three-node
# demo (volumes, failover, resync) arrives with the keelctl issue.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/vm
. "$here/lib/vm-common.sh"
kver=$(vm_default_kernel)
echo "Keel demo: booting Debian kernel $kver in qemu (TCG), host root shared read-only over 9p"
set +e
"$root/tests/vm/vm-run" -q -k "$kver" "$root/tests/demo/guest-demo.sh" > "$root/build/demo.log" 2>&1
rc=$?
set -e
run=$(ls -td "$root"/build/vm/runs/single-"$kver"-* | head -1)
cat "$run/out/demo_guest-demo.log" 2>/dev/null || true
if [ "$rc" != 0 ]; then
	cat "$root/build/demo.log"
	echo "demo FAILED"
	exit 1
fi
echo
echo "demo finished: keel.ko $(cat "$root/VERSION") loaded, answered over netlink and unloaded cleanly on $kver."
