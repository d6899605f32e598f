#!/bin/bash
# bench/repl-io.sh [-k KVER]: what replication costs: a volume with 0, 1 and 2
# peers against its backing file, in a guest (see repl-io-guest.sh).  Prints
# a markdown table and
# leaves bench/results/repl-io-<date>-<kernel>.json.  Timing is noisy on
# shared machines: this is a measurement, never a pass/fail test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kver=
[ "${1:-}" = -k ] && kver=$2
here=$root/tests/vm
. "$here/lib/vm-common.sh"
[ -n "$kver" ] || kver=$(vm_default_kernel)
"$here/vm-run" -q -k "$kver" -m 6144 "$root/bench/repl-io-guest.sh" > /dev/null || {
	echo "bench: guest run failed"; exit 1; }
run=$(ls -td "$root"/build/vm/runs/single-"$kver"-* | head -1)
mkdir -p "$root/bench/results"
dest=$root/bench/results/repl-io-$(date +%Y-%m-%d)-$kver.json
cp "$run/out/repl-io.json" "$dest"
sed -n '/^| 4 KiB random writes/,$p' "$run/out/bench_repl-io-guest.log"
echo "results: $dest"
