#!/bin/bash
# vm-timeout: 600
# Cluster mode across three guests, with a real crash (host side:
# cluster/failover-host.sh).  Guest 1 runs etcd; every guest runs keeld as
# node gI on its own address and its own pool.  Guest 3 creates a 3-replica
# volume, attaches it, writes it (fio, crc32c verify) and publishes the
# disk's checksum in etcd; then the host kills guest 3's qemu outright.
# Guest 2 waits until g3 is recorded down, attaches the volume (failover:
# epoch bumped, g3 out of the in-sync set), reads the same checksum and
# writes on, verified (g1, which served g3 to the end, stays in sync); guest
# 1 checks the record.  The same for a volume a container used through the
# Docker plugin: created and mounted on guest 3, files written; after the
# crash guest 2's plugin mounts it and finds the files.
. "$KEEL_ROOT/tests/vm/lib/cluster.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"

me=$KEEL_NODE_INDEX
ETCD_URL=http://$(cluster_ip 1):2379
SOCK=/run/keel-g$me/keeld.sock
KEELD=$KEEL_BIN/manager/keeld
KEEL_API=$KEEL_BIN/tests/tools/keel-api
KEELCTL=$KEEL_BIN/cli/keelctl

api() { "$KEEL_API" -s "$SOCK" "$@"; }
etcd_get() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" get --print-value-only "$1"; }
etcd_put() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" put "$1" "$2" > /dev/null; }
record() { etcd_get /keel/volumes/db; }
node_state() { etcd_get "/keel/nodes/$1" | json_get state 2>/dev/null || echo none; }
sorted_in_sync() { record | python3 -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin)["in_sync"])))'; }
fio_write() {
	fio --name=g --filename="$1" --direct=1 --ioengine=libaio --rw=randwrite \
		--bssplit=4k/50:64k/50 --iodepth=8 --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--randrepeat=0 --size=64M --io_size="$2" --output-format=terse > /tmp/fio.out 2>&1 ||
		{ cat /tmp/fio.out; fail "fio failed"; }
}

pool_setup xfs 1G
if [ "$me" = 1 ]; then
	/usr/bin/etcd --name g1 --data-dir /dev/shm/etcd \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster g1=http://127.0.0.1:2380 > "$KEEL_OUT/etcd.log" 2>&1 &
	etcd_pid=$!
fi
wait_until "curl -sf -m 2 $ETCD_URL/health | grep -q true" 120 "etcd on guest 1"

mkdir -p "/run/keel-g$me" /tmp/keel-data
cat > /tmp/keeld.conf <<EOC
{
  "node_name": "g$me",
  "labels": {"zone": "z$me"},
  "pool_dir": "$POOL",
  "pool_capacity": "512M",
  "data_dir": "/tmp/keel-data",
  "api_socket": "$SOCK",
  "etcd_endpoints": ["$ETCD_URL"],
  "bus_endpoint": "tcp://$(cluster_ip "$me"):7480",
  "heartbeat_interval_ms": 500,
  "suspect_after_ms": 2000,
  "down_after_ms": 4000,
  "lease_ttl_s": 5,
  "log_level": "info"
}
EOC
"$KEELD" --config /tmp/keeld.conf > "$KEEL_OUT/keeld.log" 2>&1 &
keeld_pid=$!
trap 'kill -9 $keeld_pid ${etcd_pid:-} 2>/dev/null || true; pool_teardown' EXIT
wait_until "api node.info > /dev/null 2>&1" 60 "keeld answers"
wait_until '[ "$(api cluster.status | json_get result.nodes.up)" = 3 ]' 120 "three nodes up"
echo "g$me: keeld up, 3 nodes up, coordinator $(etcd_get /keel/coordinator)"
cluster_signal ready

in_sync_peers() { # in_sync_peers NAME: the attached node's peers that are in sync
	api volume.status name="$1" | python3 -c 'import json, sys
print(sum(1 for p in json.load(sys.stdin)["result"]["sync"] if p["state"] == "in-sync"))'
}
# The Docker plugin (docs/docker-plugin.md), as dockerd speaks it.
dv() {
	curl -sS --unix-socket /run/docker/plugins/keel.sock -X POST --data "$2" "http://plugin/$1" |
		tee /tmp/dv.out | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r.get("Mountpoint", ""))
if r["Err"]: sys.exit("plugin: " + r["Err"])'
}

case $me in
3)
	# A container's volume through the Docker plugin: created with three
	# replicas, mounted (ext4 made), files written and their checksums
	# published.  The guest dies with it mounted.
	dv VolumeDriver.Create '{"Name":"app","Opts":{"size":"64M","replicas":"3"}}' > /dev/null ||
		fail "plugin create: $(cat /tmp/dv.out)"
	mnt=$(dv VolumeDriver.Mount '{"Name":"app","ID":"ctr-g3"}') || fail "plugin mount: $(cat /tmp/dv.out)"
	wait_until '[ "$(in_sync_peers app)" = 2 ]' 60 "app's peers in sync"
	mkdir "$mnt/data"
	for i in $(seq 16); do head -c $((i * 8192 + 5)) /dev/urandom > "$mnt/data/f$i"; done
	sync -f "$mnt/data/f1"
	etcd_put /keel-test/app-sums "$(cd "$mnt/data" && sha256sum f*)"
	echo "g3: 16 files on app (Docker plugin mount $mnt)"
	api volume.create name=db size=64M replicas=3 > /dev/null || fail "create"
	dev=$(api volume.attach name=db | json_get result.device)
	[ -b "$dev" ] || fail "attach: no device"
	wait_until '[ "$(in_sync_peers db)" = 2 ]' 60 "both peers in sync"
	fio_write "$dev" 24M
	sum=$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
	etcd_put /keel-test/sum "$sum"
	echo "g3: wrote db on $dev, sha256 $sum"
	cluster_signal written
	cluster_wait never 600  # the host kills this guest
	;;
2)
	cluster_wait crashed 600
	t0=$SECONDS
	wait_until '[ "$(node_state g3)" = down ]' 60 "g3 recorded down"
	echo "g2: g3 recorded down $((SECONDS - t0)) s after the crash"
	epoch=$(record | json_get epoch)
	out=$(api volume.attach name=db)
	echo "$out"
	dev=$(json_get result.device <<< "$out")
	[ -b "$dev" ] || fail "failover attach: no device"
	echo "g2: attached $((SECONDS - t0)) s after the crash"
	expect_eq "epoch bumped" "$(record | json_get epoch)" $((epoch + 1))
	# g1 served g3 to the end: still current.  g3 may hold writes never
	# acknowledged: out of the in-sync set under the new epoch.
	expect_eq "in sync after the failover" "$(sorted_in_sync)" g1,g2
	expect_eq "data on g2" "$(dd if="$dev" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)" \
		"$(etcd_get /keel-test/sum)"
	fio_write "$dev" 8M
	expect_eq "in sync after writing on g2" "$(sorted_in_sync)" g1,g2
	# The container moves here: the plugin mounts app (a failover attach)
	# and finds g3's files.
	mnt=$(dv VolumeDriver.Mount '{"Name":"app","ID":"ctr-g2"}') || fail "plugin mount on g2: $(cat /tmp/dv.out)"
	etcd_get /keel-test/app-sums > /tmp/app-sums
	(cd "$mnt/data" && sha256sum --check --quiet /tmp/app-sums) || fail "app's files differ on g2"
	echo "g2: app mounted through the plugin $((SECONDS - t0)) s after the crash, 16 files intact"
	expect_eq "app attached on" "$(etcd_get /keel/volumes/app | json_get attached_node)" g2
	dv VolumeDriver.Unmount '{"Name":"app","ID":"ctr-g2"}' > /dev/null || fail "plugin unmount: $(cat /tmp/dv.out)"
	etcd_put /keel-test/done 1
	;;
1)
	cluster_wait crashed 600
	wait_until '[ "$(etcd_get /keel-test/done)" = 1 ]' 300 "guest 2's failover"
	expect_eq "attached on" "$(record | json_get attached_node)" g2
	expect_eq "g3 out of sync" "$(record | python3 -c 'import json,sys; print("g3" in json.load(sys.stdin)["in_sync"])')" False
	;;
esac
kill -TERM $keeld_pid
wait $keeld_pid || fail "keeld exited with status $? on SIGTERM"
echo "g$me: ok"
