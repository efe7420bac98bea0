#!/bin/sh
# Fetches what the VM tests boot (docs/virtual-machines.md, "How the test suite boots a VM") into
# DEST, once: Debian bookworm's kernel (uncompressed vmlinux: TCG decompresses vmlinuz slowly) and
# the modules for virtio-pci, vsock and 9p; a busybox-static initramfs whose /init loads them and
# runs the job a test shares in; and vhost-device-vsock from Debian sid (not in bookworm). QEMU
# itself (bookworm's qemu-system-x86) is installed with apt when missing.
#
# usage: build-assets.sh DEST
#
# Exit status: 0 ready, 3 the Debian mirror cannot be reached (callers skip), 4 not root (callers
# skip), anything else a real failure. DEST is built under DEST.partial and renamed at the end, so
# an interrupted build never looks finished; callers serialise runs with flock on DEST.lock.
set -eu

MIRROR=${VGPU_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The guest kernel: whatever bookworm's linux-image-amd64 points at (checked with 6.1.0-57).
KERNEL_META=linux-image-amd64
# Load order (each after what its .modinfo "depends=" names).
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci vsock
vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport netfs fscache 9pnet 9pnet_virtio 9p"

[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
DEST=$1
[ -f "$DEST/.vgpu-vm-assets-complete" ] && command -v qemu-system-x86_64 >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || { echo "fetching the VM assets and installing QEMU needs root (apt-get)" >&2; exit 4; }

unreachable() { echo "$1" >&2; exit 3; }

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if ! DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends qemu-system-x86 >&2; then
    apt-get -q update >&2 || unreachable "apt cannot reach its mirror to install qemu-system-x86"
    DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends qemu-system-x86 >&2
  fi
fi
qemu-system-x86_64 -device help 2>/dev/null | grep -q vhost-user-vsock-pci ||
  { echo "this QEMU has no vhost-user-vsock-pci device" >&2; exit 5; }

[ -f "$DEST/.vgpu-vm-assets-complete" ] && exit 0
WORK=$DEST.partial
rm -rf "$WORK"
mkdir -p "$WORK/dl" "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
cd "$WORK/dl"

# bookworm (the machine's own sources): the kernel and busybox.
kernel=$(apt-cache depends "$KERNEL_META" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
[ -n "$kernel" ] || { apt-get -q update >&2 || unreachable "apt cannot reach its mirror"; \
  kernel=$(apt-cache depends "$KERNEL_META" | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1); }
[ -n "$kernel" ] || { echo "cannot tell which kernel $KERNEL_META depends on" >&2; exit 6; }
apt-get -q download "$kernel" busybox-static >&2 || unreachable "apt cannot download $kernel and busybox-static"

# sid, through a private sources list (the machine's own stays untouched): vhost-device-vsock.
# sid's Release file is often reported expired on the mirror; its age is not what we test.
echo "deb $MIRROR sid main" > "$WORK/apt/sources.list"
SID="-o Dir::Etc::SourceList=$WORK/apt/sources.list -o Dir::Etc::SourceParts=/dev/null
 -o Dir::State::Lists=$WORK/apt/lists -o Dir::Cache=$WORK/apt/cache -o Acquire::Check-Valid-Until=false"
# shellcheck disable=SC2086
apt-get -q $SID update >&2 || unreachable "the Debian mirror $MIRROR (sid) cannot be reached"
# shellcheck disable=SC2086
apt-get -q $SID download vhost-device-vsock >&2 || unreachable "cannot download vhost-device-vsock from sid"

mkdir -p "$WORK/x/kernel" "$WORK/x/bb" "$WORK/x/vsock"
dpkg -x linux-image-*.deb "$WORK/x/kernel"
dpkg -x busybox-static_*.deb "$WORK/x/bb"
dpkg -x vhost-device-vsock_*.deb "$WORK/x/vsock"
cp vhost-device-vsock_*.deb "$WORK/"   # kept: sid moves on, the tested version stays recorded
install -m 755 "$WORK/x/vsock/usr/bin/vhost-device-vsock" "$WORK/vhost-device-vsock"

# vmlinux: the xz stream inside the bzImage, uncompressed (boots in ~3 s instead of ~7 s).
vmlinuz=$(ls "$WORK"/x/kernel/boot/vmlinuz-*)
off=$(LC_ALL=C grep -obUa "$(printf '\3757zXZ')" "$vmlinuz" | head -1 | cut -d: -f1)
[ -n "$off" ] || { echo "no xz stream in $vmlinuz" >&2; exit 6; }
tail -c +$((off + 1)) "$vmlinuz" | xz -dc > "$WORK/vmlinux" 2>/dev/null || true
head -c 4 "$WORK/vmlinux" | grep -q ELF || { echo "could not extract vmlinux from $vmlinuz" >&2; exit 6; }

# The initramfs: busybox, the modules, and an /init that runs the job the test shares in.
I=$WORK/x/initramfs
mkdir -p "$I/bin" "$I/proc" "$I/sys" "$I/dev" "$I/job" "$I/root" "$I/lib/modules"
cp "$WORK/x/bb/bin/busybox" "$I/bin/busybox"
for m in $MODULES; do
  f=$(find "$WORK"/x/kernel/lib/modules -name "$m.ko" | head -1)
  [ -n "$f" ] || { echo "module $m not found in $kernel" >&2; exit 6; }
  cp "$f" "$I/lib/modules/"
done
echo "$MODULES" | tr ' ' '\n' | sed '/^$/d' > "$I/lib/modules/order"
cat > "$I/init" <<'INIT'
#!/bin/busybox sh
# Loads virtio, vsock and 9p, mounts the job share (tag "job") and runs its run.sh; powers off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || echo "vgpu-init: insmod $m failed"; done
if mount -t 9p -o trans=virtio,version=9p2000.L job /job; then
  sh /job/run.sh
  echo "vgpu-init: job ended with status $?"
else
  echo "vgpu-init: cannot mount the job share"
fi
sync
poweroff -f
INIT
chmod 755 "$I/init"
(cd "$I" && find . | "$I/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 > "$WORK/initramfs.cpio.gz")

echo "$kernel $(dpkg-deb -f "$WORK"/vhost-device-vsock_*.deb Version)" > "$WORK/versions"
rm -rf "$WORK/x" "$WORK/dl" "$WORK/apt"
touch "$WORK/.vgpu-vm-assets-complete"
rm -rf "$DEST"
mv "$WORK" "$DEST"
