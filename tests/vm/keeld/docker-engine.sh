#!/bin/bash
# vm-kernels: one
# vm-cost: 50
# vm-timeout: 400
# Keel under a real Docker Engine (Debian's docker.io) on one node: dockerd
# finds the plugin at /run/docker/plugins/keel.sock by itself.
# `docker volume create -d keel` with options, `docker volume ls` and
# `inspect` show it; a container writes files on it and a second one
# (started after the first is gone, so the volume was unmounted and
# detached between them) reads them back; two containers at once share the
# mount; a bad option is refused with keel's reason; `docker volume rm` is
# refused while a container uses the volume, then deletes it.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"
. "$KEEL_ROOT/tests/vm/lib/pool.sh"
. "$KEEL_ROOT/tests/vm/lib/keeld.sh"
DOCKER=/usr/bin/docker
command -v dockerd > /dev/null && [ -x "$DOCKER" ] || fail "no dockerd or docker: make deps installs docker.io"
DOUT=/tmp
[ -d /run/keel-vm/out ] && [ -w /run/keel-vm/out ] && DOUT=/run/keel-vm/out
dk() { "$DOCKER" "$@"; }
DOCKERD_PID=

pool_setup
keeld_config
keeld_start
cleanup() {
	if [ -n "$DOCKERD_PID" ]; then
		dk rm -f $(dk ps -aq) > /dev/null 2>&1 || true
		kill "$DOCKERD_PID" 2> /dev/null || true
		wait "$DOCKERD_PID" || true
	fi
	umount "$KEELD_DATA"/mounts/* 2> /dev/null || true
	keeld_cleanup
}
trap cleanup EXIT

# dockerd with nothing it does not need here: no networks or iptables,
# the vfs storage driver (the guest's root is an overlay), data in tmpfs.
mkdir -p /dev/shm/docker
dockerd --data-root /dev/shm/docker/data --exec-root /dev/shm/docker/exec --pidfile /dev/shm/docker/pid \
	--iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false \
	--storage-driver=vfs --log-level=warn > "$DOUT/dockerd-docker-engine.log" 2>&1 &
DOCKERD_PID=$!
wait_until 'dk info > /dev/null 2>&1' 120 "dockerd answers"

# An image: static busybox, imported.
rm -rf /tmp/rootfs && mkdir -p /tmp/rootfs/bin /tmp/rootfs/data
cp /bin/busybox /tmp/rootfs/bin/busybox
for a in sh cat ls sha256sum sync sleep echo head; do ln -s busybox "/tmp/rootfs/bin/$a"; done
tar -C /tmp/rootfs -c . | dk import - keel-test/busybox > /dev/null || fail "docker import"
run() { dk run --rm --network none "$@"; }

dk volume create -d keel --name db -o size=64M -o fs=ext4 > /dev/null || fail "docker volume create"
expect_eq "volume ls" "$(dk volume ls --format '{{.Driver}} {{.Name}}')" "keel db"
expect_eq "keel's record" "$(api volume.inspect name=db | json_get result.size)" $((64 << 20))
out=$(dk volume create -d keel --name bad -o size=64M -o colour=red 2>&1) && fail "bad option accepted"
grep -q "unknown option 'colour'" <<< "$out" || fail "bad option: $out"

run -v db:/data keel-test/busybox sh -c \
	'for i in 1 2 3 4 5 6 7 8; do head -c $((i * 5000)) /dev/urandom > /data/f$i; done; sha256sum /data/f* > /data/SUMS; sync' ||
	fail "writer container"
expect_eq "detached after the container" "$(api volume.inspect name=db | json_get result.state)" detached
run -v db:/data keel-test/busybox sh -c 'cd / && sha256sum -c -s /data/SUMS' || fail "reader: files differ"

# Two containers at once: one mount, both see each other's writes.
dk run -d --name c1 --network none -v db:/data keel-test/busybox sleep 300 > /dev/null || fail "c1"
run -v db:/data keel-test/busybox sh -c 'echo from-c2 > /data/shared; sync' || fail "c2"
expect_eq "c1 sees c2's file" "$(dk exec c1 cat /data/shared)" from-c2
expect_eq "attached while c1 runs" "$(api volume.inspect name=db | json_get result.state)" attached
out=$(dk volume inspect db --format '{{.Driver}} {{.Mountpoint}} {{index .Status "fs"}}')
expect_eq "volume inspect" "$out" "keel $KEELD_DATA/mounts/db ext4"
out=$(dk volume rm db 2>&1) && fail "volume removed while in use"
echo "rm while in use: $out"
dk rm -f c1 > /dev/null
expect_eq "detached after c1" "$(api volume.inspect name=db | json_get result.state)" detached
dk volume rm db > /dev/null || fail "docker volume rm"
expect_eq "gone from keel" "$(api_code volume.inspect name=db)" not_found
expect_eq "gone from docker" "$(dk volume ls -q)" ""
kill "$DOCKERD_PID"
wait "$DOCKERD_PID" || fail "dockerd exited with status $? on SIGTERM"
DOCKERD_PID=
keeld_consistent
echo "ok"
