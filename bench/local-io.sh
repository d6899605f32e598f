#!/bin/bash
# bench/local-io.sh [-k KVER]: /dev/keelN against its own backing file with
# O_DIRECT, in a guest (see local-io-guest.sh).  Prints a markdown table and
# leaves bench/results/local-io-<date>-<kernel>.json.  Timing is noisy on
# shared machines: this is a measurement, never a pass/fail test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kver=
[ "${1:-}" = -k ] && kver=$2
here=$root/tests/vm
. "$here/lib/vm-common.sh"
[ -n "$kver" ] || kver=$(vm_default_kernel)
"$here/vm-run" -q -k "$kver" -m 6144 "$root/bench/local-io-guest.sh" > /dev/null || {
	echo "bench: guest run failed"; exit 1; }
run=$(ls -td "$root"/build/vm/runs/single-"$kver"-* | head -1)
mkdir -p "$root/bench/results"
dest=$root/bench/results/local-io-$(date +%Y-%m-%d)-$kver.json
cp "$run/out/local-io.json" "$dest"
sed -n '/^| workload/,$p' "$run/out/bench_local-io-guest.log"
echo "results: $dest"
