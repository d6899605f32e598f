# lib/keeld.sh - run keeld inside a guest and talk to it through its socket.
# Source after lib/guest.sh and lib/pool.sh (pool_setup first).
#
#   keeld_start [ENV=VAL...]  start keeld (config $KEELD_CONF) in the
#                             background, wait until it answers; $KEELD_PID
#   keeld_stop                SIGTERM, wait, expect exit status 0
#   keeld_kill9               kill -9 and reap it
#   keeld_wait_exit           wait for keeld to exit; status in $KEELD_EXIT
#   api ARGS...               keel-api on the socket (exit 0 ok, 1 error)
#   api_code ARGS...          the reply's error code ("ok" if none)
#   keeld_consistent          keel.ko, keel.db, kvdb.db and the pool agree
#   keeld_fds                 open descriptors of keeld

KEEL_API=$KEEL_BIN/tests/tools/keel-api
KEELD=$KEEL_BIN/manager/keeld
KEELD_DATA=/var/lib/keel-test
KEELD_SOCK=/run/keel/keeld.sock
KEELD_CONF=/etc/keel/keeld.conf
# keeld's log goes with the run's output (build/vm/runs/.../out/) when it can.
KEELD_LOG=/tmp/keeld.log
[ -d /run/keel-vm/out ] && [ -w /run/keel-vm/out ] &&
	KEELD_LOG=/run/keel-vm/out/keeld-$(basename "$0" .sh).log
KEELD_PID=

keeld_config() { # keeld_config [CAPACITY]: a fresh config and data directory
	rm -rf "$KEELD_DATA"
	mkdir -p /etc/keel
	cat > "$KEELD_CONF" <<-EOC
	{
	  "node_name": "vm1",
	  "labels": {"zone": "z1", "rack": "r1"},
	  "pool_dir": "$POOL",
	  "pool_capacity": "${1:-2G}",
	  "data_dir": "$KEELD_DATA",
	  "api_socket": "$KEELD_SOCK",
	  "request_timeout_ms": 1000,
	  "reconcile_interval_s": 2,
	  "log_level": "info"
	}
	EOC
}

keeld_start() {
	[ -f "$KEELD_CONF" ] || keeld_config
	trap keeld_cleanup EXIT # after pool_setup's trap: stop keeld, then the pool
	env "$@" "$KEELD" --config "$KEELD_CONF" >> "$KEELD_LOG" 2>&1 &
	KEELD_PID=$!
	local i
	for i in $(seq 200); do
		if "$KEEL_API" -s "$KEELD_SOCK" -t 5 node.info > /dev/null 2>&1; then return 0; fi
		kill -0 "$KEELD_PID" 2>/dev/null || { tail -20 "$KEELD_LOG"; fail "keeld exited at start-up"; }
		sleep 0.1
	done
	tail -20 "$KEELD_LOG"
	fail "keeld did not answer within 20 s"
}

keeld_stop() {
	kill -TERM "$KEELD_PID"
	local st=0
	wait "$KEELD_PID" || st=$?
	KEELD_PID=
	expect_eq "keeld exit status after SIGTERM" "$st" 0
	[ ! -e "$KEELD_SOCK" ] || fail "socket left behind after a clean stop"
}

keeld_kill9() {
	kill -9 "$KEELD_PID" 2>/dev/null || true
	wait "$KEELD_PID" 2>/dev/null || true
	KEELD_PID=
}

# keeld_wait_exit: wait for keeld to exit by itself (a crash point); its
# exit status in $KEELD_EXIT.  (Not in $(...): a subshell cannot wait.)
keeld_wait_exit() {
	KEELD_EXIT=0
	wait "$KEELD_PID" || KEELD_EXIT=$?
	KEELD_PID=
}

api() { "$KEEL_API" -s "$KEELD_SOCK" "$@"; }

api_code() { # (sed, not python: it runs often and python starts slowly under TCG)
	local out
	out=$(api "$@" 2>/dev/null) || true
	case $out in
	*'"ok":true'*) echo ok ;;
	*'"code":"'*) sed 's/.*"code":"\([a-z_]*\)".*/\1/' <<< "$out" ;;
	*) echo "no-reply" ;;
	esac
}

keeld_fds() { ls "/proc/$KEELD_PID/fd" | wc -l; }

# Every view agrees: no intent pending; every replica has its kernel object
# (same uuid, over its backing file), its kvdb record and its backing file;
# nothing in the kernel, the kvdb or the pool without a replica; attached in
# the kvdb exactly when the kernel has a disk.
keeld_consistent() {
	"$KEELSETUP" status --json > /tmp/kstatus.json
	python3 - "$KEELD_DATA" "$POOL" /tmp/kstatus.json <<-'EOP'
	import json, os, sqlite3, sys
	data, pool, kfile = sys.argv[1:4]
	kernel = {v["uuid"]: v for v in json.load(open(kfile))}
	st = sqlite3.connect(data + "/keel.db")
	kv = sqlite3.connect(data + "/kvdb.db")
	errs = []
	intents = st.execute("SELECT op, volume, step FROM intents").fetchall()
	if intents: errs.append("pending intents: %s" % intents)
	reps = {r[0]: r for r in st.execute(
	    "SELECT volume, uuid, backing_path, kernel_id FROM replicas")}
	specs = {}
	for key, val in kv.execute("SELECT key, value FROM kv WHERE key LIKE '/keel/volumes/%'"):
	    specs[key[len("/keel/volumes/"):]] = json.loads(val)
	files = set(os.listdir(pool)) - {"lost+found"}
	for name, (vol, uuid, backing, kid) in reps.items():
	    k = kernel.get(uuid)
	    if not k: errs.append("%s: no kernel object" % name); continue
	    if k["backing_path"] != backing: errs.append("%s: kernel backing %s" % (name, k["backing_path"]))
	    if kid != k["id"]: errs.append("%s: kernel id %s recorded %s" % (name, k["id"], kid))
	    if os.path.basename(backing) not in files: errs.append("%s: backing file missing" % name)
	    s = specs.get(name)
	    if not s: errs.append("%s: no kvdb record" % name); continue
	    if s["uuid"] != uuid: errs.append("%s: kvdb uuid differs" % name)
	    attached = k["device"] is not None
	    if attached != (s["attached_node"] != ""): errs.append("%s: kernel attached=%s kvdb=%r" % (name, attached, s["attached_node"]))
	    if attached and s["device"] != k["device"]: errs.append("%s: device %s vs %s" % (name, k["device"], s["device"]))
	uuids = {r[1] for r in reps.values()}
	for u, k in kernel.items():
	    if k["backing_path"].startswith(pool + "/") and u not in uuids:
	        errs.append("orphan kernel object %d (%s)" % (k["id"], k["backing_path"]))
	for f in files:
	    if f[:-4] not in uuids: errs.append("orphan backing file %s" % f)
	for n in specs:
	    if n not in reps: errs.append("orphan kvdb record %s" % n)
	if errs:
	    print("INCONSISTENT:\n  " + "\n  ".join(errs)); sys.exit(1)
	print("consistent: %d volumes" % len(reps))
	EOP
}

keeld_cleanup() {
	if [ -n "$KEELD_PID" ]; then
		keeld_kill9
		echo "keeld log (last lines):"
		tail -15 "$KEELD_LOG"
	fi
	pool_teardown
	rm -rf "$KEELD_DATA" "$KEELD_CONF"
}
