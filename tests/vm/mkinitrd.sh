#!/bin/bash
# mkinitrd.sh KVER OUT - build the tiny initramfs the VM harness boots with.
#
# It holds busybox, the modules needed to reach the host's root filesystem
# (virtio-pci, 9p, overlay; resolved with modprobe --show-depends against
# KVER's modules.dep, decompressed if the kernel ships them compressed) and
# guest/initramfs-init, which mounts the host root read-only over 9p with a
# tmpfs overlay on top and switches to it.
set -euo pipefail
kver=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "mkinitrd: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
[ -d "/lib/modules/$kver" ] || { echo "mkinitrd: no /lib/modules/$kver" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,mnt,lib/modules}
cp "$busybox" "$work/bin/busybox"
ln -s busybox "$work/bin/sh"
cp "$here/guest/initramfs-init" "$work/init"
chmod +x "$work/init"

: > "$work/lib/modules/load-order"
for mod in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -S "$kver" --show-depends "$mod" | while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		name=$(basename "$path")
		name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
		[ -f "$work/lib/modules/$name" ] && continue
		case "$path" in
		*.xz) xz -dc "$path" > "$work/lib/modules/$name" ;;
		*.zst) zstd -qdc "$path" > "$work/lib/modules/$name" ;;
		*.gz) gzip -dc "$path" > "$work/lib/modules/$name" ;;
		*) cp "$path" "$work/lib/modules/$name" ;;
		esac
		echo "$name" >> "$work/lib/modules/load-order"
	done
done

mkdir -p "$(dirname "$out")"
(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
