#!/bin/bash
# tests/dkms/dkms-build.sh KVER [OUT]: `dkms add` and `dkms build` of this tree
# for kernel KVER, in a private DKMS tree (--dkmstree/--sourcetree) so the
# machine's own /var/lib/dkms and /usr/src are not touched.  Checks that the
# module DKMS built is keel.ko of this version, for that kernel, and copies
# it to OUT (the VM suite loads it: tests/vm/basic/dkms-module.sh).
set -euo pipefail
kver=$1
out=${2:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(cat "$root/VERSION")
conf_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$root/dkms.conf")
[ "$conf_version" = "$version" ] || { echo "dkms.conf says $conf_version, VERSION says $version"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src/keel-$version
mkdir -p "$src" "$tmp/tree"
cp -r "$root/kmod" "$root/include" "$root/VERSION" "$root/dkms.conf" "$src/"
# A clean copy: no build products from the developer's tree.
find "$src" \( -name '*.o' -o -name '*.ko' -o -name '.probes' -o -name 'keel_compat_probes.h' \) -prune -exec rm -rf {} +

dk() { dkms "$@" --dkmstree "$tmp/tree" --sourcetree "$tmp/src"; }
dk add -m keel -v "$version"
dk build -m keel -v "$version" -k "$kver" || {
	cat "$tmp/tree/keel/$version/build/make.log" 2>/dev/null | tail -30
	exit 1
}
ko=$(find "$tmp/tree/keel/$version/$kver" -name 'keel.ko*' | head -1)
[ -n "$ko" ] || { echo "dkms build produced no keel.ko"; exit 1; }
case $ko in *.xz) xz -d "$ko"; ko=${ko%.xz} ;; *.zst) zstd -qd --rm "$ko"; ko=${ko%.zst} ;; esac
got_version=$(modinfo -F version "$ko")
vermagic=$(modinfo -F vermagic "$ko")
[ "$got_version" = "$version" ] || { echo "module version $got_version, want $version"; exit 1; }
[ "${vermagic%% *}" = "$kver" ] || { echo "vermagic '$vermagic' is not for $kver"; exit 1; }
dk status -m keel -v "$version"
if [ -n "$out" ]; then mkdir -p "$(dirname "$out")"; cp "$ko" "$out"; fi
echo "dkms built keel.ko $got_version for $kver"
