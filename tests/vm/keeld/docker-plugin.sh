#!/bin/bash
# vm-kernels: one
# vm-cost: 35
# The Docker volume plugin (docs/docker-plugin.md) on one node, spoken to
# the way dockerd and dvdcli speak it: HTTP POSTs on
# /run/docker/plugins/keel.sock.  Activate and Capabilities; Create with
# options (and again: no error), bad options refused with the reason;
# Mount makes an XFS file system and mounts it, a second container shares
# the mount, files written with checksums; kill -9 keeld and a restart keep
# the mount ids (rule 8), so only the last Unmount unmounts and detaches;
# a new Mount finds the same files (no mkfs over them); Remove refused while
# mounted, then done; Get/List/Path; bad HTTP and JSON get clear errors;
# the socket is root-only.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/keeld.sh"
PSOCK=/run/docker/plugins/keel.sock
MNT=$KEELD_DATA/mounts

# dv ENDPOINT [JSON]: one plugin request; the response body on stdout.
dv() {
	local data=${2:-'{}'}
	curl -sS --unix-socket "$PSOCK" -X POST -H 'Content-Type: application/vnd.docker.plugins.v1.2+json' \
		--data "$data" "http://plugin/$1"
}
err_of() { json_get Err; }
dv_ok() { # dv_ok WHAT ENDPOINT JSON: the request must answer Err ""
	local out
	out=$(dv "$2" "$3") || fail "$1: no answer"
	[ "$(err_of <<< "$out")" = "" ] || fail "$1: $out"
	echo "$out"
}
state_of() { api volume.inspect name="$1" | json_get result.state; }

pool_setup
keeld_config
keeld_start
cleanup() { umount "$MNT"/* 2> /dev/null || true; keeld_cleanup; }
trap cleanup EXIT
[ -S "$PSOCK" ] || fail "no plugin socket $PSOCK"
expect_eq "plugin socket mode" "$(stat -c %a "$PSOCK")" 600

expect_eq "activate" "$(dv Plugin.Activate | json_get Implements)" '["VolumeDriver"]'
expect_eq "scope" "$(dv VolumeDriver.Capabilities | json_get Capabilities.Scope)" local

dv_ok "create" VolumeDriver.Create '{"Name":"db","Opts":{"size":"320M","fs":"xfs"}}' > /dev/null
expect_eq "size" "$(api volume.inspect name=db | json_get result.size)" $((320 << 20))
expect_eq "fs label" "$(api volume.inspect name=db | json_get result.labels.fs)" xfs
dv_ok "create again" VolumeDriver.Create '{"Name":"db","Opts":{"size":"1G"}}' > /dev/null
expect_eq "unknown option" "$(dv VolumeDriver.Create '{"Name":"x","Opts":{"colour":"red"}}' | err_of)" \
	"unknown option 'colour' (known: size, replicas, fs, block_size, zone_spread)"
expect_eq "replicas alone" "$(dv VolumeDriver.Create '{"Name":"x","Opts":{"replicas":"2"}}' | err_of)" \
	"replicas > 1 needs cluster mode (etcd_endpoints is not set)"
out=$(dv VolumeDriver.Create '{"Name":"x","Opts":{"size":"1T"}}' | err_of)
[ -n "$out" ] || fail "a 1 TiB volume in a 2 GiB pool was accepted"
echo "too big: $out"
expect_eq "nothing made by bad creates" "$(api volume.list | json_get result.volumes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 1

# Two containers mount it: one file system, one mount.
out=$(dv_ok "mount c1" VolumeDriver.Mount '{"Name":"db","ID":"c1"}')
expect_eq "mountpoint" "$(json_get Mountpoint <<< "$out")" "$MNT/db"
mountpoint -q "$MNT/db" || fail "$MNT/db is not mounted"
expect_eq "fs type" "$(findmnt -n -o FSTYPE "$MNT/db")" xfs
dev=$(findmnt -n -o SOURCE "$MNT/db")
expect_eq "the keel disk" "$dev" "$(api volume.inspect name=db | json_get result.device)"
expect_eq "attached" "$(state_of db)" attached
dv_ok "mount c2" VolumeDriver.Mount '{"Name":"db","ID":"c2"}' > /dev/null
expect_eq "one mount" "$(findmnt -n -o TARGET "$MNT/db" | wc -l)" 1
mkdir "$MNT/db/data"
for i in $(seq 20); do head -c $((i * 4096 + 17)) /dev/urandom > "$MNT/db/data/f$i"; done
sync -f "$MNT/db/data/f1"
(cd "$MNT/db/data" && sha256sum f*) > /tmp/sums
expect_eq "path" "$(dv VolumeDriver.Path '{"Name":"db"}' | json_get Mountpoint)" "$MNT/db"

# keeld dies and comes back: the mount and its two ids are kept.
keeld_kill9
keeld_start
trap cleanup EXIT
expect_eq "path after restart" "$(dv VolumeDriver.Path '{"Name":"db"}' | json_get Mountpoint)" "$MNT/db"
dv_ok "unmount c1" VolumeDriver.Unmount '{"Name":"db","ID":"c1"}' > /dev/null
mountpoint -q "$MNT/db" || fail "c2 still uses it: must stay mounted"
expect_eq "unknown id" "$(dv VolumeDriver.Unmount '{"Name":"db","ID":"zz"}' | err_of)" \
	"volume 'db' is not mounted for 'zz' on this node"
expect_eq "remove while mounted" "$(dv VolumeDriver.Remove '{"Name":"db"}' | err_of)" \
	"volume 'db' is in use: mounted for 1 container(s) on this node"
dv_ok "unmount c2" VolumeDriver.Unmount '{"Name":"db","ID":"c2"}' > /dev/null
mountpoint -q "$MNT/db" && fail "still mounted after the last unmount"
expect_eq "detached" "$(state_of db)" detached

# Mounted again: the same files, no new file system.
dv_ok "mount c3" VolumeDriver.Mount '{"Name":"db","ID":"c3"}' > /dev/null
(cd "$MNT/db/data" && sha256sum --check --quiet /tmp/sums) || fail "files changed across unmount"
out=$(dv_ok "get" VolumeDriver.Get '{"Name":"db"}')
echo "$out"
expect_eq "get mountpoint" "$(json_get Volume.Mountpoint <<< "$out")" "$MNT/db"
expect_eq "get fs" "$(json_get Volume.Status.fs <<< "$out")" xfs
dv_ok "create logs" VolumeDriver.Create '{"Name":"logs","Opts":{"size":"32M"}}' > /dev/null
expect_eq "list" "$(dv VolumeDriver.List | python3 -c 'import json,sys; print(" ".join(v["Name"] + "=" + v["Mountpoint"] for v in json.load(sys.stdin)["Volumes"]))')" \
	"db=$MNT/db logs="
expect_eq "get missing" "$(dv VolumeDriver.Get '{"Name":"nope"}' | err_of)" "volume 'nope' does not exist"
# A busy mount is not unmounted, and keeps its id.
sleep 30 < "$MNT/db/data/f1" &
holder=$!
cd "$MNT/db"
expect_eq "busy unmount" "$(dv VolumeDriver.Unmount '{"Name":"db","ID":"c3"}' | err_of)" \
	"unmount $MNT/db: Device or resource busy (a process still uses it)"
cd /
kill $holder; wait $holder 2> /dev/null || true
dv_ok "unmount c3" VolumeDriver.Unmount '{"Name":"db","ID":"c3"}' > /dev/null
dv_ok "remove db" VolumeDriver.Remove '{"Name":"db"}' > /dev/null
dv_ok "remove logs" VolumeDriver.Remove '{"Name":"logs"}' > /dev/null
expect_eq "all gone" "$(dv VolumeDriver.List | json_get Volumes)" "[]"

# Bad input: clear errors, keeld unharmed.
code() { curl -s -o /dev/null -w '%{http_code}' --unix-socket "$PSOCK" "$@"; }
expect_eq "GET" "$(code http://plugin/VolumeDriver.List)" 405
expect_eq "bad json" "$(code -X POST --data '{"Name":' http://plugin/VolumeDriver.Create)" 400
expect_eq "unknown endpoint" "$(code -X POST --data '{}' http://plugin/VolumeDriver.Format)" 404
expect_eq "huge body" "$(head -c 2000000 /dev/zero | tr '\0' a | code -X POST --data-binary @- http://plugin/VolumeDriver.Create)" 413
expect_eq "missing name" "$(dv VolumeDriver.Mount '{"ID":"c1"}' | err_of)" "missing field 'Name'"
if setpriv --reuid=65534 --regid=65534 --clear-groups curl -s --unix-socket "$PSOCK" -X POST \
	http://plugin/Plugin.Activate > /dev/null 2>&1; then
	fail "a non-root user reached the plugin socket"
fi
api node.info > /dev/null || fail "keeld does not answer after bad input"
keeld_consistent
keeld_stop
[ ! -e "$PSOCK" ] || fail "plugin socket left behind after a clean stop"
echo "ok"
