#!/bin/bash
# vm-kernels: one
# vm-cost: 41
# Bad input on keeld's socket: malformed JSON, unknown fields and commands,
# wrong types, bad names and sizes, an oversized message, a client that
# sends nothing, 1,000 concurrent clients (well-behaved and not): each gets
# its precise error or service; keeld never crashes, leaks no descriptor and
# leaves no partial state.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/keeld.sh"
pool_setup
keeld_config 1G
# 5 s to send a request: under TCG, Python takes a while to open 1,000
# connections before it writes on them.
sed -i 's/"request_timeout_ms": 1000/"request_timeout_ms": 5000/' "$KEELD_CONF"
keeld_start
api volume.create name=ok size=64M > /dev/null
fds0=$(keeld_fds)

check() { # check WANT_CODE KEEL-API-ARGS...
	local want=$1
	shift
	expect_eq "$*" "$(api_code "$@")" "$want"
}
check invalid_json '{"api":1,'
out=$(echo 'not json at all' | "$KEEL_API" -s "$KEELD_SOCK" - || true)
grep -q '"code":"invalid_json"' <<< "$out" || fail "not json: $out"
check invalid_json "$(printf '[%.0s' $(seq 100))"
check invalid_request '[1,2]'
check missing_field '{"command":"volume.list"}'
check unsupported_api '{"api":2,"command":"volume.list"}'
check wrong_type '{"api":"1","command":"volume.list"}'
check unknown_command '{"api":1,"command":"volume.explode"}'
check unknown_field '{"api":1,"command":"volume.list","verbose":true}'
check unknown_field '{"api":1,"command":"volume.create","args":{"name":"x","size":"1G","color":"red"}}'
check wrong_type '{"api":1,"command":"volume.attach","args":{"name":7}}'
check wrong_type '{"api":1,"command":"volume.create","args":{"name":"x","size":[1]}}'
check wrong_type '{"api":1,"command":"volume.detach","args":{"name":"ok","force":"yes"}}'
check missing_field '{"api":1,"command":"volume.create","args":{"name":"x"}}'
check invalid_argument volume.create name=a/b size=64M
check invalid_argument volume.create name="$(printf 'x%.0s' $(seq 300))" size=64M
check invalid_argument volume.create name=../etc size=64M
check invalid_argument volume.create name=zero size=0
check invalid_argument '{"api":1,"command":"volume.create","args":{"name":"neg","size":-1}}'
check invalid_argument volume.create name=neg size=-1G
check invalid_argument volume.create name=nan size=lots
check invalid_argument volume.create name=odd size=1000
check invalid_argument volume.create name=bs size=64M block_size=1024
check insufficient_capacity volume.create name=huge size=2G
check invalid_argument volume.create name=huge size=16E
check not_found volume.attach name=nope
check already_exists volume.create name=ok size=64M
# Oversized: 1 MiB on one line; refused after the first 64 KiB.
head -c 1048576 /dev/zero | tr '\0' 'x' > /tmp/big
out=$("$KEEL_API" -s "$KEELD_SOCK" - < /tmp/big || true)
grep -q '"code":"request_too_large"' <<< "$out" || fail "oversized: $out"
# Sends nothing: a timeout error after request_timeout_ms (5 s).
out=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(20)
print(s.recv(4096).decode())' "$KEELD_SOCK")
grep -q '"code":"timeout"' <<< "$out" || fail "silent client: $out"

# 1,000 clients at once: a third send valid requests, a third garbage, a
# sixth connect and hang up, a sixth send nothing (timeout).
ulimit -n 8192
python3 - "$KEELD_SOCK" <<'EOP'
import asyncio, json, sys
path = sys.argv[1]
async def client(i):
    kind = i % 6
    r, w = await asyncio.open_unix_connection(path)
    if kind == 4:
        w.close(); return "closed"
    if kind in (0, 1):
        w.write(b'{"api":1,"command":"volume.list"}\n')
    elif kind in (2, 3):
        w.write(b'{"api":1,"command":"volume.create","args":{"name":"x/' + str(i).encode() + b'","size":"1G"}}\n')
    # No drain(): the small write goes out at once, and keeld may have
    # answered and closed before drain() would run (asyncio then raises
    # "Connection lost" although the reply is in the reader's buffer).
    data = await asyncio.wait_for(r.read(), 30)
    w.close()
    j = json.loads(data)
    return "ok" if j["ok"] else j["error"]["code"]
async def main():
    res = await asyncio.gather(*[client(i) for i in range(1000)], return_exceptions=True)
    counts = {}
    for x in res:
        k = x if isinstance(x, str) else "exception: %r" % (x,)
        counts[k] = counts.get(k, 0) + 1
    print(counts)
    want = {"ok": 334, "invalid_argument": 334, "closed": 166, "timeout": 166}
    if counts != want:
        print("want", want); sys.exit(1)
asyncio.run(main())
EOP
kill -0 "$KEELD_PID" || fail "keeld died"
for i in $(seq 30); do [ "$(keeld_fds)" = "$fds0" ] && break; sleep 0.2; done
expect_eq "keeld descriptors" "$(keeld_fds)" "$fds0"
# Nothing half-made: one volume, everything consistent.
expect_eq "volumes" "$(api volume.list | grep -o '"name":' | wc -l)" 1
keeld_consistent
api volume.delete name=ok > /dev/null
expect_eq "kernel objects" "$(keel_objects)" 0
keeld_stop
