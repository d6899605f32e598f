#!/bin/bash
# bench/compare.sh [-k KVER] [-n NAME]: `make bench`.  Boots one guest (qemu
# TCG) and runs bench/compare-guest.sh in it: the raw backing, a loop device,
# keel with 1, 2 and 3 replicas and DRBD 8.4 with 2 nodes, side by side
# (see docs/benchmarks.md).  Prints a markdown table and leaves
# bench/results/NAME-<date>-<kernel>.json (NAME defaults to "compare").
# Settings from the environment: BENCH_RUNS (3), BENCH_SECONDS (10 per
# workload), BENCH_RAMP (2), BENCH_SIZE_MB (512), BENCH_MEM_MB (guest
# memory, 8192), BENCH_CPUS (guest vCPUs, 2).  This measures; it never
# passes or fails on a number.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kver= name=compare
while getopts k:n: o; do
	case $o in
	k) kver=$OPTARG ;;
	n) name=$OPTARG ;;
	*) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
done
here=$root/tests/vm
. "$here/lib/vm-common.sh"
[ -n "$kver" ] || kver=$(vm_default_kernel)
[ -f "$root/build/kmod/$kver/kmod/keel.ko" ] && [ -x "$root/build/user/cli/keelsetup" ] || {
	echo "bench: build first (make)" >&2; exit 1; }
runs=${BENCH_RUNS:-3} secs=${BENCH_SECONDS:-10} ramp=${BENCH_RAMP:-2} size=${BENCH_SIZE_MB:-512}
mem=${BENCH_MEM_MB:-8192} cpus=${BENCH_CPUS:-2}
# The guest script's parameters travel in a generated wrapper (the guest
# sees the host's file system); its per-test timeout is generous.
mkdir -p "$root/build/bench"
wrap=$root/build/bench/compare-$$.sh
limit=$((1800 + runs * 6 * 4 * (secs + ramp + 15) * 2))
cat > "$wrap" <<W
#!/bin/bash
# vm-timeout: $limit
export BENCH_RUNS=$runs BENCH_SECONDS=$secs BENCH_RAMP=$ramp BENCH_SIZE_MB=$size
exec bash \${KEEL_TRACE:+-x} "\$KEEL_ROOT/bench/compare-guest.sh"
W
load=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
echo "bench: $runs runs x $secs s, $size MiB volumes, kernel $kver, guest ${cpus} vCPU ${mem} MiB (host load $load)"
rc=0
"$here/vm-run" -q -k "$kver" -m "$mem" -c "$cpus" -t $((limit + 300)) "$wrap" > "$root/build/bench/vm-run.log" 2>&1 || rc=$?
rm -f "$wrap"
run=$(ls -td "$root"/build/vm/runs/single-"$kver"-* | head -1)
[ "$rc" = 0 ] && [ -f "$run/out/compare.json" ] || {
	cat "$root/build/bench/vm-run.log"
	echo "bench: guest run failed (run dir $run)" >&2
	exit 1
}
mkdir -p "$root/bench/results"
dest=$root/bench/results/$name-$(date -u +%Y-%m-%d)-$kver.json
python3 - "$run/out/compare.json" "$dest" "$load" "$(( $(date +%s) - start ))" "$mem" "$cpus" <<'PY'
import json, os, platform, subprocess, sys
j = json.load(open(sys.argv[1]))
def sh(*c):
    try: return subprocess.run(c, capture_output=True, text=True, cwd=os.path.dirname(sys.argv[2])).stdout.strip()
    except Exception: return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
j["host"] = {"date": sh("date", "-u", "+%Y-%m-%dT%H:%M:%SZ"), "kernel": platform.release(),
             "cpu": cpu, "cpus": os.cpu_count(), "load_before": sys.argv[3],
             "load_after": open("/proc/loadavg").read().split()[:3],
             "qemu": sh("qemu-system-x86_64", "--version").splitlines()[0],
             "accel": "tcg", "guest_mem_mib": int(sys.argv[5]), "guest_cpus": int(sys.argv[6]),
             "git_commit": sh("git", "rev-parse", "HEAD"),
             "git_dirty": bool(sh("git", "status", "--porcelain", "--", "../../bench", "../../kmod")),
             "wall_seconds": int(sys.argv[4])}
json.dump(j, open(sys.argv[2], "w"), indent=2)
PY
cat "$run/out/compare.md"
echo "took $(( $(date +%s) - start )) s; results: ${dest#"$root"/}"
