#!/bin/bash
# tests/packaging/keeld-unit.sh KEELD: offline checks of keeld's packaging
# (a CTest test): systemd-analyze verify accepts packaging/keeld.service
# (ExecStart pointed at the built keeld) and refuses a broken copy, so the
# check can fail; the unit is Type=notify with modprobe first and restarts
# on failure; keeld accepts packaging/keeld.conf.example.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
keeld=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

unit=$root/packaging/keeld.service
for want in '^Type=notify$' '^ExecStartPre=/sbin/modprobe keel$' '^Restart=on-failure$' \
	'^ExecReload=/bin/kill -HUP \$MAINPID$'; do
	grep -qE "$want" "$unit" || fail "keeld.service lacks $want"
done
grep -qx keel "$root/packaging/modules-load.d/keel.conf" || fail "modules-load.d/keel.conf"
# The Docker plugin's mounts must be seen by dockerd: no option that puts
# keeld in a mount namespace of its own.
for ns in ProtectSystem ProtectHome PrivateTmp PrivateMounts ProtectControlGroups ProtectKernelLogs \
	ProtectKernelTunables ProtectHostname ProtectProc ReadOnlyPaths ReadWritePaths InaccessiblePaths \
	TemporaryFileSystem BindPaths BindReadOnlyPaths MountFlags RootDirectory PrivateDevices; do
	! grep -qE "^$ns=" "$unit" || fail "keeld.service sets $ns=: keeld would mount in a namespace of its own"
done

if command -v systemd-analyze > /dev/null; then
	sed "s|/usr/sbin/keeld|$keeld|" "$unit" > "$tmp/keeld.service"
	out=$(systemd-analyze verify --man=no "$tmp/keeld.service" 2>&1) || fail "verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
	sed 's/^Type=notify$/Type=notifyy/' "$tmp/keeld.service" > "$tmp/broken.service"
	if systemd-analyze verify --man=no "$tmp/broken.service" > "$tmp/broken.out" 2>&1 &&
		! grep -q "Failed to parse" "$tmp/broken.out"; then
		fail "systemd-analyze verify accepted a broken unit"
	fi
else
	echo "systemd-analyze not installed: unit syntax not verified"
fi

"$keeld" --config "$root/packaging/keeld.conf.example" --print-config > "$tmp/conf.json" ||
	fail "keeld refuses packaging/keeld.conf.example"
grep -q '"node_name": "node1"' "$tmp/conf.json" || fail "example config not applied"
echo "keeld packaging ok"
