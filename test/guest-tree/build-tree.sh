#!/bin/sh
# Builds a Debian sid root filesystem holding llama.cpp's CUDA backend (and with it NVIDIA's
# cudart 12.4, cuBLAS 12.4, libcuda1 550 and nvidia-smi 550) into DEST, once.
#
# usage: build-tree.sh DEST PACKAGE...
#
# Exit status: 0 built (or already there), 3 the Debian mirror cannot be reached (callers skip),
# anything else a real failure. The tree is built under DEST.partial and renamed at the end, so an
# interrupted build never looks finished; callers serialise runs with flock on DEST.lock.
set -eu

MIRROR=${VGPU_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The tree is ~1.9 GB; demand headroom so a full disk fails here, clearly, not halfway in dpkg.
NEED_KB=$((4 * 1024 * 1024))

[ $# -ge 2 ] || { echo "usage: $0 DEST PACKAGE..." >&2; exit 2; }
DEST=$1
shift
[ -x "$DEST/usr/bin/llama-cli" ] && [ -f "$DEST/.vgpu-tree-complete" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "building the guest tree needs root (debootstrap, chroot)" >&2; exit 4; }

PARENT=$(dirname "$DEST")
mkdir -p "$PARENT"
avail=$(df -Pk "$PARENT" | awk 'NR==2 {print $4}')
if [ "$avail" -lt "$NEED_KB" ]; then
  echo "only ${avail} KiB free under $PARENT; the guest tree needs ${NEED_KB} KiB" >&2
  exit 5
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  if ! apt-get -q install -y --no-install-recommends debootstrap >&2; then
    apt-get -q update >&2 || { echo "apt cannot reach its mirror to install debootstrap" >&2; exit 3; }
    apt-get -q install -y --no-install-recommends debootstrap >&2
  fi
fi

# Reachability decides skip vs. fail: only a mirror that does not answer is a reason to skip.
if ! wget -q -T 20 -O /dev/null "$MIRROR/dists/sid/Release" 2>/dev/null &&
   ! curl -fsS -m 20 -o /dev/null "$MIRROR/dists/sid/Release" 2>/dev/null; then
  echo "the Debian mirror $MIRROR cannot be reached" >&2
  exit 3
fi

WORK=$DEST.partial
# A killed earlier build may have left mounts under WORK (older versions of this script mounted in
# the host's namespace); never let rm cross into them, or it would empty the host's /dev.
if grep -q " $WORK/" /proc/self/mountinfo; then
  for m in dev/pts dev proc; do umount -l "$WORK/$m" 2>/dev/null || true; done
  if grep -q " $WORK/" /proc/self/mountinfo; then
    echo "$WORK still has mounts; unmount them and retry" >&2
    exit 6
  fi
fi
rm -rf --one-file-system "$WORK"
debootstrap --variant=minbase sid "$WORK" "$MIRROR" >&2

cat > "$WORK/etc/apt/sources.list" <<SRC
deb $MIRROR sid main contrib non-free non-free-firmware
SRC
# apt runs in a private mount namespace, so /proc and /dev are unmounted with it however it ends.
# The sid Release file is often reported expired on the mirror; its age is not what we test.
unshare -m --propagation private /bin/sh -eu -c '
  w=$1; shift
  mount -t proc proc "$w/proc"
  mount --bind /dev "$w/dev"
  apt="-q -o Acquire::Check-Valid-Until=false"
  chroot "$w" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get $apt update
  chroot "$w" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get $apt install -y --no-install-recommends "$@"
  chroot "$w" apt-get clean
' sh "$WORK" "$@" >&2
touch "$WORK/.vgpu-tree-complete"
rm -rf --one-file-system "$DEST"
mv "$WORK" "$DEST"
