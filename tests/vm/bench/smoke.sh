#!/bin/bash
# vm-timeout: 300
# vm-kernels: one
# vm-cost: 127
# The side-by-side benchmark (bench/compare-guest.sh, what `make bench`
# runs) with tiny settings: every target (raw file, loop device, keel with
# 1-3 replicas, DRBD 8.4 with 2 nodes) and every workload must produce a
# result, every number must be positive and the JSON complete.  Checks the
# output only, never timing: speed goals live in bench/.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
out=$KEEL_OUT/bench-smoke
rm -rf "$out"
BENCH_RUNS=1 BENCH_SECONDS=1 BENCH_RAMP=0 BENCH_SIZE_MB=64 BENCH_OUT=$out \
	bash ${KEEL_TRACE:+-x} "$KEEL_ROOT/bench/compare-guest.sh" || fail "compare-guest.sh failed"
python3 - "$out" <<'PY' || fail "incomplete benchmark output"
import json, sys
d = sys.argv[1]
j = json.load(open(f"{d}/compare.json"))
bad = []
targets = ["raw", "loop", "keel-1", "keel-2", "keel-3", "drbd-2"]
workloads = {"seqwrite": ["mib_s"], "randwrite": ["iops"], "qd1write": ["iops", "p50_us", "p99_us"],
             "randread": ["iops"]}
for w, metrics in workloads.items():
    for t in targets:
        for m in metrics:
            try:
                v = j["results"][w][t][m]
                if not (v["min"] > 0 and v["min"] <= v["median"] <= v["max"]):
                    bad.append(f"{w}/{t}/{m}: {v}")
            except KeyError:
                bad.append(f"{w}/{t}/{m}: missing")
for t in ("keel-2", "drbd-2"):
    r = j["resync"].get(t, {})
    if not (r.get("bytes", 0) >= 64 << 20 and r.get("seconds", 0) > 0 and r.get("mib_s", 0) > 0):
        bad.append(f"resync/{t}: {r}")
for k in ("kernel", "fio", "guest_cpu", "guest_cpus", "guest_mem_mib"):
    if not j["env"].get(k):
        bad.append(f"env/{k} missing")
p = j["params"]
if p.get("runs") != 1 or p.get("seconds") != 1 or p.get("size_mib") != 64:
    bad.append(f"params: {p}")
md = open(f"{d}/compare.md").read().splitlines()
rows = [l for l in md if l.startswith("| ") and not l.startswith("| workload")]
rows = [r for r in rows if not r.startswith("| ---")]
if len(rows) != 6 or any("| - |" in r for r in rows[:5]):
    bad.append(f"table: {rows}")
for b in bad:
    print("bad:", b)
sys.exit(1 if bad else 0)
PY
cat "$out/compare.md"
