#!/bin/bash
# The three-node demo (make demo), inside one guest: etcd and three nodes
# as network namespaces, each with its own keeld and storage pool
# (lib/cluster-plane.sh).  It narrates and runs the real binaries, printing
# every command; any step that fails ends it with a non-zero status, and the
# traps leave nothing running.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/nodes.sh"
. "$KEEL_ROOT/tests/vm/lib/cluster-plane.sh"
. "$KEEL_ROOT/tests/demo/lib-demo.sh"
set -o pipefail

MNT=/run/keel-demo/mnt

# On success the nodes' logs stay in the run's out directory; on a
# failure cp_cleanup prints their last lines too.
demo_cleanup() {
	local rc=$?
	umount "$MNT" 2>/dev/null || true
	if [ "$rc" = 0 ]; then cp_cleanup > /dev/null 2>&1; else cp_cleanup; fi
}

say "Keel: three nodes (network namespaces n1 n2 n3 in this guest), one etcd, a keeld on each"
# Every node's pool is a directory of one XFS file system (real O_DIRECT IO).
pool_setup xfs 3G
cp_setup 3
trap demo_cleanup EXIT
cp_wait_up 3
kc 1 cluster status

say "A volume with three replicas, one on each node"
kc 1 volume create db --size 64M --repl 3
say "Attach it on n1: /dev/keelN there, the other two nodes serve their replicas to it"
out=$(kc_out 1 volume attach db -o json)
echo "$out"
dev=$(json_get device <<< "$out")
[ -b "$dev" ] || fail "no block device $dev"
id=$(cp_api 1 volume.inspect name=db | json_get result.kernel_id)
show "$KEELSETUP" status "$id"

say "A file system on it, and some files"
mkdir -p "$MNT"
show mkfs.ext4 -q "$dev"
show mount "$dev" "$MNT"
show cp -r /usr/share/common-licenses "$MNT/licenses"
show dd if=/dev/urandom of="$MNT/random.bin" bs=1M count=4 status=none
(cd "$MNT" && find . -type f | sort | xargs sha256sum) > /run/keel-demo/sums
show sha256sum "$MNT/random.bin" "$MNT/licenses/GPL-3"
echo "($(wc -l < /run/keel-demo/sums) files, checksums kept to compare later)"
show umount "$MNT"

say "n1 crashes: its keeld is killed and its network cut"
echo "\$ kill -9 <keeld of n1> && ip link set keel-v1 down"
cp_keeld_kill 1
cp_link_down 1
t0=$SECONDS
cp_wait '[ "$(cp_node_state n1)" = down ]' 15 "n1 recorded down"
echo "(n1 recorded down after $((SECONDS - t0)) s)"
kc 2 node list

say "The volume moves to n2: attach there (only a node whose replica is in sync may take over; the epoch goes up first)"
# Failover takes a node recorded up (a busy host can make one briefly suspect).
cp_wait '[ "$(cp_node_state n2)" = up ] && [ "$(cp_node_state n3)" = up ]' 20 "n2 and n3 up"
out=$(kc_out 2 volume attach db -o json)
echo "$out"
dev2=$(json_get device <<< "$out")
[ -b "$dev2" ] || fail "no block device $dev2 on n2"
show mount "$dev2" "$MNT"
show sha256sum "$MNT/random.bin" "$MNT/licenses/GPL-3"
echo "\$ (cd $MNT && sha256sum --check --quiet /run/keel-demo/sums)"
(cd "$MNT" && sha256sum --check --quiet /run/keel-demo/sums) || fail "checksums differ on n2"
echo "all $(wc -l < /run/keel-demo/sums) files have the checksums they had on n1"

say "n1 comes back: network up, keeld restarted"
echo "\$ ip link set keel-v1 up && keeld --config $(cp_conf 1) &"
cp_link_up 1
cp_keeld_start 1
say "n1 is fenced: the volume is attached on n2 at a higher epoch, so n1's old disk goes (rule 3)"
cp_wait 'grep -q "fenced" "$(cp_log 1)"' 20 "n1 fenced"
echo "\$ grep fenced $(cp_log 1)"
grep "fenced" "$(cp_log 1)"
# The device node goes a moment after the disk (devtmpfs works asynchronously).
cp_wait '[ ! -b "$dev" ]' 10 "n1's old disk $dev gone"
echo "($dev is gone)"
say "n2 resyncs n1 as a replica: a full copy, since n1 may hold writes nobody acknowledged"
kc 2 volume inspect db --watch
echo "\$ etcdctl get --print-value-only /keel/volumes/db | jq -c '{epoch, attached_node, in_sync}'"
cp_etcd_get /keel/volumes/db | jq -c '{epoch, attached_node, in_sync}'
cp_etcd_get /keel/volumes/db | jq -e '(.in_sync | sort) == ["n1","n2","n3"] and .attached_node == "n2"' \
	> /dev/null || fail "n1 is not back in sync"
kc 2 cluster status

say "demo finished in $(demo_elapsed) s"
