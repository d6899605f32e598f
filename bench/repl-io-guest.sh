#!/bin/bash
# vm-timeout: 1800
# Runs in a guest (bench/repl-io.sh boots it): what synchronous replication
# costs.  One volume (4 KiB blocks) attached on node 1 with 0, 1 and 2 peers
# (nodes as network namespaces in the same guest: the "network" is a veth
# pair, so this measures keel's own overhead, not a wire), against the
# backing file with O_DIRECT.  4 KiB random write IOPS at QD32 and 4 KiB
# write latency at QD1, median of BENCH_RUNS runs (default 3); then the
# time of a full resync.  Writes $KEEL_OUT/repl-io.json.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"
RUNS=${BENCH_RUNS:-3}
[ -f /run/keel-vm/out/bench-env ] && . /run/keel-vm/out/bench-env
SECS=${BENCH_SECONDS:-15}
SIZE_MB=${BENCH_SIZE_MB:-512}

pool_setup xfs 4G
nodes_create 3
REPL_N=3
trap repl_teardown EXIT
for i in 1 2 3; do
	repl_node_create "$i" "${SIZE_MB}M" 4096
done
repl_listen 2
repl_listen 3
REPL_DEV=$(node_ks 1 attach 0)
off=$(repl_status 1 | json_get data_offset)

job() { # TARGET EXTRA-ARGS...: one fio run, prints its JSON
	local target=$1; shift
	fio --name=b --filename="$target" --direct=1 --ioengine=libaio --bs=4k \
		--rw=randwrite --time_based --runtime="$SECS" --ramp_time=2 \
		--output-format=json "$@"
}
measure() { # RUN TARGET-NAME DEVICE EXTRA...
	local run=$1 name=$2 t=$3 w a
	shift 3
	for w in qd32 qd1; do
		case $w in
		qd32) a=(--iodepth=32) ;;
		qd1) a=(--iodepth=1) ;;
		esac
		job "$t" "$@" "${a[@]}" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]["write"]
pct = j["clat_ns"].get("percentile", {})
print(json.dumps({"run": int(sys.argv[1]), "target": sys.argv[2], "workload": sys.argv[3],
  "iops": j["iops"], "p50_us": pct.get("50.000000", 0) / 1000,
  "p99_us": pct.get("99.000000", 0) / 1000}))' "$run" "$name" "$w" >> "$results"
	done
}
results=$KEEL_OUT/repl-io-raw.jsonl
: > "$results"
for run in $(seq "$RUNS"); do
	measure "$run" keel-1 "$REPL_DEV"
	repl_peer_add 2
	wait_peer_state 2 in-sync 60
	measure "$run" keel-2 "$REPL_DEV"
	repl_peer_add 3
	wait_peer_state 3 in-sync 60
	measure "$run" keel-3 "$REPL_DEV"
	ks peer-remove 0 --slot 1
	ks peer-remove 0 --slot 2
	ks detach 0 > /dev/null
	measure "$run" file "$POOL/n1.img" --offset="$off" --size="${SIZE_MB}M"
	REPL_DEV=$(node_ks 1 attach 0)
done
# The replicas differ now (writes went to n1 alone): a full resync of n2.
t0=$(date +%s.%N)
repl_peer_add 2 --full-sync
wait_peer_state 2 in-sync 600
t1=$(date +%s.%N)
ks detach 0 > /dev/null
expect_replicas_identical 1 2

python3 - "$results" "$KEEL_OUT/repl-io.json" "$t0" "$t1" "$SIZE_MB" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out = {"resync": {"bytes": int(sys.argv[5]) << 20,
                  "seconds": float(sys.argv[4]) - float(sys.argv[3])}}
out["resync"]["mib_per_s"] = int(sys.argv[5]) / out["resync"]["seconds"]
targets = ("file", "keel-1", "keel-2", "keel-3")
for w in ("qd32", "qd1"):
    for t in targets:
        rs = [r for r in rows if r["workload"] == w and r["target"] == t]
        out.setdefault(w, {})[t] = {k: {"median": statistics.median(r[k] for r in rs),
                                       "min": min(r[k] for r in rs), "max": max(r[k] for r in rs)}
                                   for k in ("iops", "p50_us", "p99_us")}
json.dump(out, open(sys.argv[2], "w"), indent=2)
print("| 4 KiB random writes | backing file | 1 replica | 2 replicas | 3 replicas |")
print("| --- | --- | --- | --- | --- |")
for w, metric, name in (("qd32", "iops", "QD32 IOPS"), ("qd1", "p50_us", "QD1 p50 latency (us)"),
                        ("qd1", "p99_us", "QD1 p99 latency (us)")):
    cells = [f'{out[w][t][metric]["median"]:.0f}' for t in targets]
    print(f"| {name} | " + " | ".join(cells) + " |")
r = out["resync"]
print(f"\nfull resync: {r['bytes'] >> 20} MiB in {r['seconds']:.1f} s = {r['mib_per_s']:.1f} MiB/s")
PY
