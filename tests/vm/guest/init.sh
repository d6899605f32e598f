#!/bin/bash
# guest/init.sh - PID 1 of a harness guest, after the initramfs has switched
# to the host's root filesystem (read-only 9p + tmpfs overlay).
#
# Reads the job the host wrote to /run/keel-vm/out/job, loads keel.ko when
# asked, runs each test script with its own timeout, records its output and
# the kernel log it produced, judges both, writes /run/keel-vm/out/results
# and powers the guest off.  Never exits: PID 1 exiting would panic.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
OUT=/run/keel-vm/out

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp and /var/tmp stay on the overlay: the source tree may live under
# the host's /tmp (CI clones there) and must stay visible.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t configfs configfs /sys/kernel/config 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mkdir -p /run/lock /var/lib/keel /var/log
hostname keel-vm
ip link set lo up

log() { echo "keel-vm: $*" > /dev/console; echo "keel-vm: $*" > /dev/kmsg; }

# A fifo nobody writes, held open now: after the power-off request PID 1
# waits on it with bash's own `read`, never exec'ing a program from the
# host's 9p root, which the power-off may already be tearing down (an exec
# failing with EIO then made PID 1 exit: a kernel panic).
mkfifo /dev/shm/keel-vm-never
exec 9<> /dev/shm/keel-vm-never

poweroff_now() {
	sync
	echo o > /proc/sysrq-trigger
	while :; do read -r -t 600 -u 9 || true; done
}

# shellcheck source=/dev/null
. "$OUT/job" || { log "cannot read job"; poweroff_now; }
export KEEL_ROOT KEEL_KVER KEEL_NODE_INDEX KEEL_NODES KEEL_OUT=$OUT KEEL_MODULE_PATH=${KEEL_MODULE:-}

if [ -n "${KEEL_GUEST_IP:-}" ]; then
	modprobe virtio_net
	for _ in $(seq 50); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.1; done
	ip addr add "$KEEL_GUEST_IP" dev eth0
	ip link set eth0 up
	hostname "keel-vm$KEEL_NODE_INDEX"
fi

. "$KEEL_ROOT/tests/vm/lib/kernel-log.sh"

: > "$OUT/results"
STEP=0
# record NAME RC VERDICT SECONDS: one line per test in $OUT/results.
record() { echo "$1 $2 $3 $4" >> "$OUT/results"; sync; }

# run_step NAME TIMEOUT CMD...: run CMD, judge its exit code and kernel log.
run_step() {
	local name=$1 limit=$2; shift 2
	local file=${name//\//_} start end rc verdict
	STEP=$((STEP + 1))
	log "[$STEP] begin $name"
	start=$(date +%s%N)
	timeout -k 5 "$limit" "$@" > "$OUT/$file.log" 2>&1 < /dev/null
	rc=$?
	end=$(date +%s%N)
	log "[$STEP] end $name rc=$rc"
	kernel_log_between "[$STEP] begin" "[$STEP] end" > "$OUT/$file.dmesg"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		verdict=timeout
	elif [ "$rc" != 0 ]; then
		verdict=failed
	elif kernel_log_is_bad < "$OUT/$file.dmesg" > /dev/null; then
		verdict=kernel-log
	else
		verdict=ok
	fi
	record "$name" "$rc" "$verdict" "$(( (end - start) / 1000000 ))"
	[ "$verdict" = ok ]
}

module_loaded=
if [ -n "${KEEL_MODULE:-}" ]; then
	# insmod does not resolve dependencies (libcrc32c, ...): modprobe them.
	for dep in $(modinfo -F depends "$KEEL_MODULE" | tr ',' ' '); do
		modprobe "$dep"
	done
	if run_step load-module 60 insmod "$KEEL_MODULE"; then
		module_loaded=1
	fi
fi

for entry in $KEEL_TESTS; do
	name=${entry%%=*}
	script=${entry#*=}
	limit=$(sed -n 's/^# vm-timeout: *\([0-9]*\).*/\1/p' "$script" | head -1)
	if [ -n "$module_loaded" ] || [ -z "${KEEL_MODULE:-}" ]; then
		run_step "$name" "${limit:-$KEEL_TEST_TIMEOUT}" bash ${KEEL_TRACE:+-x} "$script"
	else
		record "$name" - skipped-no-module 0
	fi
done

if [ -n "$module_loaded" ]; then
	run_step unload-module 60 rmmod keel
fi

dmesg > "$OUT/dmesg" 2>&1
log "done"
poweroff_now
