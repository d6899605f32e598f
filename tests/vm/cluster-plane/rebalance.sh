#!/bin/bash
# Cluster mode, rebalance (manager/cluster/rebalance.h), three nodes with
# 1 GiB pools: three repl=1 volumes of 64 MiB are created on n1 (the node
# that asks gets the replica), one of them attached there.  keelctl cluster
# rebalance --dry-run shows the plan and moves nothing; then the real one
# moves the two detached volumes, one to n2 and one to n3, each filled from
# n1 while detached and then removed from n1; the attached volume stays.
# The moved volumes, attached on their new nodes, read what was written.
# vm-kernels: one
# vm-cost: 95
# vm-timeout: 300
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/cluster-plane.sh"

KEELCTL=$KEEL_BIN/cli/keelctl
field() { python3 -c 'import json,sys; r=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
replicas_of() { cp_record "$1" | field '",".join(sorted(x["node"] for x in r["replica_set"]))'; }
keelctl() { local i=$1; shift; "$KEELCTL" --socket "$(cp_sock "$i")" "$@"; }
sha() { dd if="$1" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1; }
write() {
	fio --name=rb --filename="$1" --direct=1 --ioengine=libaio --rw=write --bs=1M --iodepth=4 \
		--size=64M --verify=crc32c --verify_fatal=1 --do_verify=1 --output-format=terse \
		> /tmp/fio.out 2>&1 || { cat /tmp/fio.out; fail "fio on $1"; }
}
declare -A SUM

pool_setup xfs 3G
cp_setup 3
cp_wait_up 3
for v in a b c; do
	keelctl 1 volume create "$v" --size 64M -q || fail "create $v"
	expect_eq "$v placed on" "$(replicas_of "$v")" n1
	dev=$(keelctl 1 volume attach "$v" -q) || fail "attach $v"
	cp_wait '[ -b "$dev" ]' 10 "device $dev"
	write "$dev"
	SUM[$v]=$(sha "$dev")
	[ "$v" = a ] || keelctl 1 volume detach "$v" -q || fail "detach $v"
done
# The node records' free space follows the pools.
cp_wait '[ "$(cp_etcd_get /keel/nodes/n1 | json_get free_bytes)" -le $((1024 - 192 << 20)) ]' 20 \
	"n1's free space recorded"

out=$(keelctl 2 cluster rebalance --dry-run)
echo "$out"
grep -q "would move 2 replicas" <<< "$out" || fail "dry run: $out"
expect_eq "dry run moved nothing" "$(replicas_of b),$(replicas_of c)" n1,n1
t0=$SECONDS
keelctl 2 cluster rebalance -o json --wait --wait-timeout 120 > /tmp/rb.json 2> /tmp/rb.err ||
	{ cat /tmp/rb.json /tmp/rb.err; fail "rebalance --wait"; }
cat /tmp/rb.json /tmp/rb.err
expect_eq "moves" "$(field '" ".join(m["volume"] + ":" + m["from"] + ">" + m["to"] for m in r["moves"])' < /tmp/rb.json)" \
	"b:n1>n2 c:n1>n3"
expect_eq "b moved" "$(replicas_of b)" n2
expect_eq "c moved" "$(replicas_of c)" n3
expect_eq "a stays with its disk" "$(replicas_of a)" n1
echo "2 x 64 MiB moved in $((SECONDS - t0)) s"
out=$(keelctl 1 cluster rebalance)
echo "$out"
grep -q "nothing to move" <<< "$out" || fail "balanced: $out"
for v in b c; do
	i=2
	[ "$v" = c ] && i=3
	uuid=$(cp_record "$v" | json_get uuid)
	cp_wait '[ ! -e "$(cp_pool 1)/$uuid.img" ]' 20 "$v's old replica deleted on n1"
	dev=$(keelctl "$i" volume attach "$v" -q) || fail "attach $v on n$i"
	cp_wait '[ -b "$dev" ]' 10 "device $dev"
	expect_eq "$v on n$i" "$(sha "$dev")" "${SUM[$v]}"
	keelctl "$i" volume detach "$v" -q || fail "detach $v"
done
keelctl 1 volume detach a -q || fail "detach a"
for i in 1 2 3; do cp_keeld_stop "$i"; done
echo "ok"
