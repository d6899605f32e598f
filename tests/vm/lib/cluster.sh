# lib/cluster.sh - helpers for guest scripts run by vm-cluster.
. "$KEEL_ROOT/tests/vm/lib/guest.sh"

# cluster_ip I: guest I's address.
cluster_ip() { echo "10.213.0.$((10 + $1))"; }

# cluster_signal NAME: tell the host script something happened.
cluster_signal() { touch "$KEEL_OUT/$1"; sync; }

# cluster_wait NAME [SECONDS]: wait for the host script's vm_signal.
cluster_wait() {
	local t=0 secs=${2:-300}
	while [ ! -e "$KEEL_OUT/$1" ]; do
		sleep 0.5; t=$((t + 1))
		[ $t -lt $((secs * 2)) ] || fail "timed out waiting for host signal $1"
	done
}
