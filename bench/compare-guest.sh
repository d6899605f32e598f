#!/bin/bash
# vm-timeout: 7200
# Runs in a guest (bench/compare.sh boots it; tests/vm/bench/smoke.sh runs it
# with tiny settings): Keel against its raw backing and against in-tree DRBD
# 8.4, side by side in the same guest.  Targets, all on the same XFS pool
# (lib/pool.sh: a loop device over /dev/shm):
#   raw     a file on the pool, O_DIRECT (the physical limit)
#   loop    a loop device (--direct-io=on) over that file: DRBD's backing
#   keel-1  /dev/keel0 with no peers; keel-2, keel-3: with 1 and 2 peers
#           (nodes are network namespaces on a veth bridge, lib/nodes.sh)
#   drbd-2  /dev/drbd0, primary, protocol C, connected to a second minor in
#           the same kernel over 127.0.0.1 (DRBD 8.4 sockets live in
#           init_net), each minor on a loop device over a pool file
# Workloads (fio, libaio, O_DIRECT): 1 MiB sequential writes at QD8, 4 KiB
# random writes at QD32, 4 KiB random writes at QD1 (completion latency
# p50/p99), 4 KiB random reads at QD32; each run BENCH_RUNS times (default
# 3), median/min/max kept.  Then a full sync: DRBD's initial full sync (at
# setup) and keel's full sync of a new replica (at the end), both unthrottled.
# Writes compare.json, compare.md and compare-raw.jsonl to $BENCH_OUT
# (default $KEEL_OUT).  Timing is never judged here: this only measures.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/repl.sh"
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-10}
RAMP=${BENCH_RAMP:-2}
SIZE_MB=${BENCH_SIZE_MB:-512}
OUTDIR=${BENCH_OUT:-$KEEL_OUT}
TARGETS=${BENCH_TARGETS:-raw loop keel-1 keel-2 keel-3 drbd-2}
WORKLOADS="seqwrite randwrite qd1write randread"
DS=/lib/drbd/drbdsetup-84
DRBD_PORT0=7789
DRBD_PORT1=7790
mkdir -p "$OUTDIR"
log() { echo "bench: $(date +%T) $*"; }

log "start: $RUNS runs x $SECS s, $SIZE_MB MiB volumes, targets: $TARGETS"
# Raw file + loop, 3 keel replicas and 2 DRBD backings (+ metadata) fit;
# the pool lives in /dev/shm (half the guest's memory by default): grow it.
pool_mb=$((SIZE_MB * 7 + 512))
shm_mb=$(($(stat -f -c '%b * %S' /dev/shm) >> 20))
[ "$shm_mb" -ge $((pool_mb + 256)) ] || mount -o remount,size=$((pool_mb + 256))M /dev/shm
pool_setup xfs "${pool_mb}M"
nodes_create 3
REPL_N=3
RAW_LOOP=
DRBD_LOOPS=()
cleanup() {
	if [ -d /sys/module/drbd ]; then
		"$DS" down kb0 2>/dev/null || true
		"$DS" down kb1 2>/dev/null || true
		rmmod drbd 2>/dev/null || true
	fi
	local l
	for l in $RAW_LOOP "${DRBD_LOOPS[@]}"; do
		losetup -d "$l" 2>/dev/null || true
	done
	repl_teardown
}
trap cleanup EXIT

fill() { # DEVICE-OR-FILE: write it once, so reads hit allocated blocks
	fio --name=fill --filename="$1" --direct=1 --ioengine=libaio --rw=write \
		--bs=1M --iodepth=8 --size="${SIZE_MB}M" --output-format=terse > /dev/null ||
		fail "fill $1"
}

# --- environment, recorded in the JSON
python3 - "$OUTDIR/env.json" <<'PY'
import json, os, platform, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = sh("sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1")
mem = int(sh("sed -n 's/^MemTotal: *\\([0-9]*\\).*/\\1/p' /proc/meminfo") or 0) // 1024
json.dump({"kernel": platform.release(), "fio": sh("fio --version"),
           "guest_cpu": cpu, "guest_cpus": os.cpu_count(), "guest_mem_mib": mem,
           "drbd_utils": sh("dpkg-query -W -f='${Version}' drbd-utils"),
           "keel": json.loads(sh(os.environ["KEELSETUP"] + " info --json") or "{}")
           if os.environ.get("KEELSETUP") else {}},
          open(sys.argv[1], "w"), indent=2)
PY

# --- raw file and a loop device over it
log "setup raw, loop"
truncate -s "${SIZE_MB}M" "$POOL/raw.img"
fill "$POOL/raw.img"
RAW_LOOP=$(losetup -f --show --direct-io=on "$POOL/raw.img")

# --- keel: node 1 attached, nodes 2 and 3 listening (peers added per run)
log "setup keel"
for i in 1 2 3; do
	repl_node_create "$i" "${SIZE_MB}M" 4096
done
repl_listen 2
repl_listen 3
REPL_DEV=$(node_ks 1 attach 0)
ks set 0 --resync-rate 0 > /dev/null
fill "$REPL_DEV"
keel_status=$(repl_status 1)

# --- DRBD: two minors in this kernel, connected over loopback
log "setup drbd"
modprobe drbd usermode_helper=/bin/true || fail "modprobe drbd"
# No drbd.conf here: handlers (before-resync-source, ...) must not run drbdadm.
echo /bin/true > /sys/module/drbd/parameters/usermode_helper
DRBD_DISK_OPTS=(--c-plan-ahead=0 --resync-rate=4194304)
DRBD_NET_OPTS=(--protocol=C)
for m in 0 1; do
	truncate -s $((SIZE_MB + 8))M "$POOL/d$m.img"
	DRBD_LOOPS[$m]=$(losetup -f --show --direct-io=on "$POOL/d$m.img")
	drbdmeta --force "$m" v08 "${DRBD_LOOPS[$m]}" internal create-md > /dev/null 2>&1 ||
		fail "drbdmeta create-md $m"
	"$DS" new-resource "kb$m"
	"$DS" new-minor "kb$m" "$m" 0
	"$DS" attach "$m" "${DRBD_LOOPS[$m]}" "${DRBD_LOOPS[$m]}" internal "${DRBD_DISK_OPTS[@]}"
done
"$DS" connect kb0 "ipv4:127.0.0.1:$DRBD_PORT0" "ipv4:127.0.0.1:$DRBD_PORT1" "${DRBD_NET_OPTS[@]}"
"$DS" connect kb1 "ipv4:127.0.0.1:$DRBD_PORT1" "ipv4:127.0.0.1:$DRBD_PORT0" "${DRBD_NET_OPTS[@]}"
drbd_wait() { # MINOR WHAT WANT SECS
	local t=0
	while [ "$("$DS" "$2" "$1")" != "$3" ]; do
		[ $t -ge $(($4 * 10)) ] && { cat /proc/drbd; fail "drbd$1: $2 not $3 after $4 s"; }
		sleep 0.1
		t=$((t + 1))
	done
}
drbd_wait 0 cstate Connected 60
# The initial full sync (both sides Inconsistent, minor 0 forced primary),
# timed: DRBD's "new replica" resync.
drbd_bytes=$(($(cat /sys/block/drbd0/size) * 512))
t0=$(date +%s.%N)
"$DS" primary 0 --force
drbd_wait 0 dstate UpToDate/UpToDate 1800
t1=$(date +%s.%N)
echo "{\"target\": \"drbd-2\", \"bytes\": $drbd_bytes, \"seconds\": $(echo "$t1 - $t0" | bc)}" \
	> "$OUTDIR/resync-drbd.json"
log "drbd initial sync: $(cat "$OUTDIR/resync-drbd.json")"
fill /dev/drbd0
drbd_show=$("$DS" show kb0 2>&1 || true)

# --- the runs
wl_args() { # WORKLOAD: its fio options
	case $1 in
	seqwrite) echo --rw=write --bs=1M --iodepth=8 ;;
	randwrite) echo --rw=randwrite --bs=4k --iodepth=32 ;;
	qd1write) echo --rw=randwrite --bs=4k --iodepth=1 ;;
	randread) echo --rw=randread --bs=4k --iodepth=32 ;;
	esac
}
results=$OUTDIR/compare-raw.jsonl
: > "$results"
# measure RUN TARGET DEVICE: one fio process per target, the workloads one
# after the other (stonewall), each named after its workload.
measure() {
	local run=$1 name=$2 t=$3 w a=()
	for w in $WORKLOADS; do
		# shellcheck disable=SC2207
		a+=(--name="$w" --stonewall $(wl_args "$w"))
	done
	fio --filename="$t" --direct=1 --ioengine=libaio --size="${SIZE_MB}M" \
		--time_based --runtime="$SECS" --ramp_time="$RAMP" --norandommap \
		--randrepeat=0 --output-format=json "${a[@]}" > /tmp/bench-fio.json ||
		{ cat /tmp/bench-fio.json; fail "fio on $name"; }
	python3 -c '
import json, sys
for j in json.load(open("/tmp/bench-fio.json"))["jobs"]:
    side = j["read" if j["jobname"] == "randread" else "write"]
    pct = side["clat_ns"].get("percentile", {})
    print(json.dumps({"run": int(sys.argv[1]), "target": sys.argv[2], "workload": j["jobname"],
      "iops": side["iops"], "mib_s": side["bw_bytes"] / 2**20,
      "p50_us": pct.get("50.000000", 0) / 1000, "p99_us": pct.get("99.000000", 0) / 1000}))' \
		"$run" "$name" >> "$results"
}
want() { [[ " $TARGETS " == *" $1 "* ]]; }
for run in $(seq "$RUNS"); do
	log "run $run/$RUNS"
	want raw && measure "$run" raw "$POOL/raw.img"
	want loop && measure "$run" loop "$RAW_LOOP"
	want keel-1 && measure "$run" keel-1 "$REPL_DEV"
	repl_peer_add 2
	wait_peer_state 2 in-sync 600
	want keel-2 && measure "$run" keel-2 "$REPL_DEV"
	repl_peer_add 3
	wait_peer_state 3 in-sync 600
	want keel-3 && measure "$run" keel-3 "$REPL_DEV"
	ks peer-remove 0 --slot 1 > /dev/null
	ks peer-remove 0 --slot 2 > /dev/null
	want drbd-2 && measure "$run" drbd-2 /dev/drbd0
done

# --- keel's full sync of a new replica (node 2's replica is stale now)
log "keel full sync"
t0=$(date +%s.%N)
repl_peer_add 2 --full-sync
wait_peer_state 2 in-sync 1800
t1=$(date +%s.%N)
echo "{\"target\": \"keel-2\", \"bytes\": $((SIZE_MB << 20)), \"seconds\": $(echo "$t1 - $t0" | bc)}" \
	> "$OUTDIR/resync-keel.json"
log "keel full sync: $(cat "$OUTDIR/resync-keel.json")"
ks peer-remove 0 --slot 1 > /dev/null

# --- summary: compare.json and compare.md
export BENCH_PARAMS
BENCH_PARAMS=$(python3 -c '
import json, sys
a = sys.argv
print(json.dumps({"runs": int(a[1]), "seconds": int(a[2]), "ramp_seconds": int(a[3]),
  "size_mib": int(a[4]), "targets": a[5].split(), "workloads": a[6].split()}))' \
	"$RUNS" "$SECS" "$RAMP" "$SIZE_MB" "$TARGETS" "$WORKLOADS")
export KEEL_STATUS=$keel_status DRBD_SHOW=$drbd_show
python3 - "$OUTDIR" <<'PY'
import json, os, statistics, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(f"{d}/compare-raw.jsonl")]
params = json.loads(os.environ["BENCH_PARAMS"])
targets, workloads = params["targets"], params["workloads"]
params["fio_common"] = ("one fio per target and run, a job per workload with --stonewall; --direct=1 --ioengine=libaio --time_based --norandommap --randrepeat=0 "
                        f"--runtime={params['seconds']} --ramp_time={params['ramp_seconds']} "
                        f"--size={params['size_mib']}M")
params["fio_workloads"] = {"seqwrite": "--rw=write --bs=1M --iodepth=8",
                           "randwrite": "--rw=randwrite --bs=4k --iodepth=32",
                           "qd1write": "--rw=randwrite --bs=4k --iodepth=1",
                           "randread": "--rw=randread --bs=4k --iodepth=32"}
params["keel"] = {"block_size": 4096, "resync_rate": "0 (unlimited)",
                  "status": json.loads(os.environ.get("KEEL_STATUS") or "{}")}
params["drbd"] = {"version": open("/proc/drbd").readline().strip()
                  if os.path.exists("/proc/drbd") else "",
                  "setup": "drbdmeta v08 internal create-md; drbdsetup-84 new-resource/new-minor/"
                           "attach --c-plan-ahead=0 --resync-rate=4194304; connect 127.0.0.1 "
                           "--protocol=C; primary --force (initial full sync)",
                  "show": os.environ.get("DRBD_SHOW", "")}
out = {"env": json.load(open(f"{d}/env.json")), "params": params, "results": {}, "resync": {}}
for w in workloads:
    for t in targets:
        rs = [r for r in rows if r["workload"] == w and r["target"] == t]
        if not rs:
            continue
        out["results"].setdefault(w, {})[t] = {
            k: {"median": statistics.median(r[k] for r in rs), "min": min(r[k] for r in rs),
                "max": max(r[k] for r in rs), "runs": [r[k] for r in rs]}
            for k in ("iops", "mib_s", "p50_us", "p99_us")}
for name in ("drbd", "keel"):
    r = json.load(open(f"{d}/resync-{name}.json"))
    r["mib_s"] = r["bytes"] / 2**20 / r["seconds"]
    out["resync"][r["target"]] = r
json.dump(out, open(f"{d}/compare.json", "w"), indent=2)

names = {"raw": "raw file", "loop": "loop dev", "keel-1": "keel 1 replica",
         "keel-2": "keel 2 replicas", "keel-3": "keel 3 replicas", "drbd-2": "DRBD 2 nodes"}
lines = ["| workload | " + " | ".join(names[t] for t in targets) + " | keel-2 / DRBD |",
         "| --- |" + " ---: |" * (len(targets) + 1)]
def cell(w, t, m):
    try: return out["results"][w][t][m]["median"]
    except KeyError: return None
for w, m, label, fmt in (("randwrite", "iops", "4 KiB rand write QD32, IOPS", "{:.0f}"),
                         ("qd1write", "p50_us", "4 KiB write QD1, p50 us", "{:.0f}"),
                         ("qd1write", "p99_us", "4 KiB write QD1, p99 us", "{:.0f}"),
                         ("randread", "iops", "4 KiB rand read QD32, IOPS", "{:.0f}"),
                         ("seqwrite", "mib_s", "1 MiB seq write QD8, MiB/s", "{:.0f}")):
    cs = [cell(w, t, m) for t in targets]
    k, b = cell(w, "keel-2", m), cell(w, "drbd-2", m)
    ratio = f"{k / b:.2f}" if k and b else "-"
    lines.append(f"| {label} | " + " | ".join("-" if c is None else fmt.format(c) for c in cs)
                 + f" | {ratio} |")
rk, rd = out["resync"].get("keel-2"), out["resync"].get("drbd-2")
full = [("-" if t not in ("keel-2", "drbd-2") else f'{out["resync"][t]["mib_s"]:.0f}')
        for t in targets]
lines.append("| full sync of a new replica, MiB/s | " + " | ".join(full)
             + f' | {rk["mib_s"] / rd["mib_s"]:.2f} |')
e = out["env"]
lines.append("")
lines.append(f'median of {params["runs"]} runs x {params["seconds"]} s '
             f'({params["size_mib"]} MiB volumes); kernel {e["kernel"]}, {e["fio"]}, '
             f'{e["guest_cpus"]} vCPU {e["guest_cpu"]}, {e["guest_mem_mib"]} MiB')
open(f"{d}/compare.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
