# lib/vm-common.sh - host side of the VM harness, shared by vm-run and
# vm-cluster.  Expects $root (the source tree) and $here (tests/vm).

. "$here/lib/kernel-log.sh"

# vm_kernels: every kernel release with both modules and a bootable image.
vm_kernels() {
	local k
	for k in $(ls /lib/modules 2>/dev/null | sort -V); do
		[ -f "/boot/vmlinuz-$k" ] && [ -d "/lib/modules/$k/build" ] && echo "$k"
	done
}

vm_default_kernel() {
	vm_kernels | tail -1
}

# vm_initrd KVER: path of the harness initramfs for KVER, built if stale.
vm_initrd() {
	local kver=$1 out=$root/build/vm/initrd-$1.gz
	if [ ! -f "$out" ] || [ "$here/mkinitrd.sh" -nt "$out" ] ||
	   [ "$here/guest/initramfs-init" -nt "$out" ]; then
		"$here/mkinitrd.sh" "$kver" "$out" >&2 || return 1
	fi
	echo "$out"
}

# vm_prepare_run KVER TAG: a fresh run directory; prints its path.
vm_prepare_run() {
	local dir=$root/build/vm/runs/$2-$1-$$-$RANDOM
	rm -rf "$dir"
	mkdir -p "$dir/out"
	echo "$dir"
}

# vm_test_name SCRIPT: the name a test is reported under (path below tests/,
# without .sh), e.g. tests/vm/basic/info.sh -> vm/basic/info.
vm_test_name() {
	local abs
	abs=$(cd "$(dirname "$1")" && pwd)/$(basename "$1" .sh)
	case $abs in
	"$root"/tests/*) echo "${abs#"$root"/tests/}" ;;
	*) echo "${abs#"$root"/}" ;;
	esac
}

# vm_write_job RUN KVER MODULE TEST_TIMEOUT GUEST_IP INDEX NODES SCRIPT...
vm_write_job() {
	local run=$1 kver=$2 module=$3 tt=$4 ip=$5 index=$6 nodes=$7 s tests=
	shift 7
	for s in "$@"; do
		[ -f "$s" ] || { echo "vm: no such test script: $s" >&2; return 2; }
		tests="$tests $(vm_test_name "$s")=$(cd "$(dirname "$s")" && pwd)/$(basename "$s")"
	done
	cat > "$run/out/job" <<JOB
KEEL_ROOT=$root
KEEL_KVER=$kver
KEEL_MODULE=$module
KEEL_TEST_TIMEOUT=$tt
KEEL_GUEST_IP=$ip
KEEL_NODE_INDEX=$index
KEEL_NODES=$nodes
KEEL_TRACE=${KEEL_TRACE:-}
KEEL_TESTS="${tests# }"
JOB
}

# vm_boot RUN KVER TIMEOUT MEM CPUS NETDEV_ARGS: run qemu to completion.
# Returns qemu's status (124 when the timeout killed it).
vm_boot() {
	local run=$1 kver=$2 limit=$3 mem=$4 cpus=$5 net=$6 initrd
	initrd=$(vm_initrd "$kver") || return 1
	local wrap=()
	[ -n "${VM_NETNS:-}" ] && wrap=(ip netns exec "$VM_NETNS")
	# shellcheck disable=SC2086
	"${wrap[@]}" timeout -k 5 "$limit" qemu-system-x86_64 -pidfile "$run/qemu.pid" \
		-accel tcg,thread=multi -machine q35 -cpu max -smp "$cpus" -m "$mem" \
		-nodefaults -no-reboot -display none -monitor none \
		-kernel "/boot/vmlinuz-$kver" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 log_buf_len=8M loglevel=6 keel.init=$here/guest/init.sh" \
		-serial "file:$run/console.log" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$run/out,mount_tag=keelout,security_model=none" \
		-device virtio-rng-pci $net \
		> "$run/qemu.log" 2>&1
}

# vm_judge RUN KVER QEMU_RC RESULTS QUIET SCRIPT...: report every step of
# the run; returns 0 only if all passed.
vm_judge() {
	local run=$1 kver=$2 qrc=$3 results=$4 quiet=$5
	shift 5
	local names=() s n line rc verdict ms pass=0 fail=0 skip=0 status detail
	local label="vm[$kver]"
	[ -n "${VM_LABEL:-}" ] && label=$VM_LABEL
	[ -n "$(grep -s '^load-module ' "$run/out/results")" ] && names+=(load-module)
	for s in "$@"; do names+=("$(vm_test_name "$s")"); done
	[ -n "$(grep -s '^unload-module ' "$run/out/results")" ] && names+=(unload-module)
	names+=(console)

	for n in "${names[@]}"; do
		if [ "$n" = console ]; then
			line=$(kernel_log_is_bad < "$run/console.log" | head -5 || true)
			if [ "$qrc" = 124 ]; then
				status=FAIL detail="guest timed out (whole-VM limit), see $run/console.log"
			elif [ -n "$line" ]; then
				status=FAIL detail="kernel log: $(echo "$line" | head -1)"
			elif ! grep -q 'keel-vm: done' "$run/console.log"; then
				status=FAIL detail="guest did not finish (qemu rc=$qrc), see $run/console.log"
			else
				status=PASS detail=""
			fi
		else
			line=$(grep -s "^$n " "$run/out/results" | tail -1 || true)
			if [ -z "$line" ]; then
				status=FAIL detail="no result: guest died or timed out before it ran"
			else
				read -r _ rc verdict ms <<< "$line"
				case $verdict in
				ok) status=PASS detail="$((ms / 1000)).$(printf %03d $((ms % 1000)) | cut -c1)s" ;;
				timeout) status=FAIL detail="timed out after $((ms / 1000))s" ;;
				failed) status=FAIL detail="exit status $rc" ;;
				kernel-log) status=FAIL detail="kernel log: $(kernel_log_is_bad < "$run/out/${n//\//_}.dmesg" | head -1)" ;;
				skipped-*) status=SKIP detail="${verdict#skipped-}" ;;
				*) status=FAIL detail="verdict $verdict" ;;
				esac
			fi
		fi
		case $status in
		PASS) pass=$((pass + 1)) ;;
		FAIL) fail=$((fail + 1)) ;;
		SKIP) skip=$((skip + 1)) ;;
		esac
		if [ "$status" != PASS ] || [ -z "$quiet" ]; then
			printf '%-4s %s/%s %s\n' "$status" "$label" "$n" "${detail:+($detail)}"
		fi
		if [ "$status" = FAIL ] && [ "$n" != console ] && [ -f "$run/out/${n//\//_}.log" ]; then
			echo "---- last lines of $n output ($run/out/${n//\//_}.log):"
			tail -20 "$run/out/${n//\//_}.log" | sed 's/^/    /'
			echo "----"
		fi
		[ -n "$results" ] && echo "$status $label/$n $detail" >> "$results"
	done
	echo "vm-run: $label: $pass passed, $fail failed${skip:+, $skip skipped} (run dir $run)" | sed 's/, 0 skipped//'
	[ "$fail" = 0 ]
}
