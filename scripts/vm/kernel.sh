#!/usr/bin/env bash
# Leaves a Debian kernel and the modules a 9p-rooted machine needs (virtio
# PCI, 9p, netfs, fscache) in SPECLOOP_VM_DIR (default /var/cache/specloop/vm),
# for internal/vm: tests that need a pure cgroup v2 host boot it under QEMU.
# The package is unpacked, never installed: nothing on this host changes.
# Idempotent.
set -euo pipefail
dir=${SPECLOOP_VM_DIR:-/var/cache/specloop/vm}
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/modules/9p.ko" ]; then
  exit 0
fi
# The kernel the metapackage points at today: older builds leave the mirror.
kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(kernel)
[ -n "$pkg" ] || { apt-get update -qq && pkg=$(kernel); }
[ -n "$pkg" ] || { echo "kernel.sh: Debian's lists name no linux-image-amd64 kernel" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null)
deb=$(ls "$tmp"/*.deb)
mkdir -p "$tmp/x" "$dir/modules.new"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' \
  './lib/modules/*/kernel/drivers/virtio/virtio*.ko' './lib/modules/*/kernel/net/9p/*.ko' \
  './lib/modules/*/kernel/fs/9p/*.ko' './lib/modules/*/kernel/fs/netfs/*.ko' './lib/modules/*/kernel/fs/fscache/*.ko'
for m in virtio virtio_ring virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev netfs fscache 9pnet 9pnet_virtio 9p; do
  f=$(find "$tmp/x/lib/modules" -name "$m.ko" | head -1)
  [ -n "$f" ] || { echo "kernel.sh: $pkg has no $m.ko" >&2; exit 1; }
  cp "$f" "$dir/modules.new/"
done
rm -rf "$dir/modules"
mv "$dir/modules.new" "$dir/modules"
cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz.new" && mv "$dir/vmlinuz.new" "$dir/vmlinuz"
echo "$pkg" > "$dir/package"
