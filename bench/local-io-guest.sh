#!/bin/bash
# vm-timeout: 1200
# Runs in a guest (bench/local-io.sh boots it): 4 KiB random read and write
# IOPS at QD32 and 4 KiB write latency at QD1, on /dev/keelN and directly on
# the same backing file with O_DIRECT (the physical limit).  Median of
# BENCH_RUNS runs (default 3) each.  Writes $KEEL_OUT/local-io.json.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
RUNS=${BENCH_RUNS:-3}
[ -f /run/keel-vm/out/bench-env ] && . /run/keel-vm/out/bench-env
SECS=${BENCH_SECONDS:-15}
pool_setup xfs 3G
id=$(vol_create bench 1G --block-size 4096)
dev=$("$KEELSETUP" attach "$id")
off=$("$KEELSETUP" status "$id" --json | json_get data_offset)
# Fill once so reads hit allocated blocks on both paths.
dd if=/dev/urandom of="$dev" bs=1M count=1024 oflag=direct status=none

job() { # TARGET EXTRA-ARGS...: one fio run, prints its JSON
	local target=$1; shift
	fio --name=b --filename="$target" --direct=1 --ioengine=libaio --bs=4k \
		--time_based --runtime="$SECS" --ramp_time=2 --output-format=json "$@"
}
results=$KEEL_OUT/local-io-raw.jsonl
: > "$results"
for run in $(seq "$RUNS"); do
	for target in keel file; do
		if [ "$target" = keel ]; then
			t=$dev; o=()
		else
			"$KEELSETUP" detach "$id" > /dev/null
			t=$POOL/bench.img; o=(--offset="$off" --size=1G)
		fi
		for w in randread randwrite qd1write; do
			case $w in
			randread) a=(--rw=randread --iodepth=32) ;;
			randwrite) a=(--rw=randwrite --iodepth=32) ;;
			qd1write) a=(--rw=randwrite --iodepth=1) ;;
			esac
			job "$t" "${o[@]}" "${a[@]}" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
side = "read" if sys.argv[3] == "randread" else "write"
pct = j[side]["clat_ns"].get("percentile", {})
print(json.dumps({"run": int(sys.argv[1]), "target": sys.argv[2], "workload": sys.argv[3],
  "iops": j[side]["iops"], "p50_us": pct.get("50.000000", 0) / 1000,
  "p99_us": pct.get("99.000000", 0) / 1000}))' "$run" "$target" "$w" >> "$results"
		done
		[ "$target" = file ] && "$KEELSETUP" attach "$id" > /dev/null
	done
done
"$KEELSETUP" delete --force "$id" > /dev/null
python3 - "$results" "$KEEL_OUT/local-io.json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out = {}
for w in ("randread", "randwrite", "qd1write"):
    for t in ("keel", "file"):
        rs = [r for r in rows if r["workload"] == w and r["target"] == t]
        out.setdefault(w, {})[t] = {k: {"median": statistics.median(r[k] for r in rs),
                                       "min": min(r[k] for r in rs), "max": max(r[k] for r in rs)}
                                   for k in ("iops", "p50_us", "p99_us")}
json.dump(out, open(sys.argv[2], "w"), indent=2)
print("| workload | metric | /dev/keelN | backing file O_DIRECT | keel / file |")
print("| --- | --- | --- | --- | --- |")
for w, metric in (("randread", "iops"), ("randwrite", "iops"), ("qd1write", "p50_us"), ("qd1write", "p99_us")):
    k, f = out[w]["keel"][metric]["median"], out[w]["file"][metric]["median"]
    name = {"randread": "4k randread QD32", "randwrite": "4k randwrite QD32", "qd1write": "4k write QD1"}[w]
    print(f"| {name} | {metric} | {k:.0f} | {f:.0f} | {k / f * 100:.0f}% |")
PY
