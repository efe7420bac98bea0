#!/bin/sh
# Builds a Debian root filesystem of SUITE holding PACKAGE... (installed without recommends) into
# DEST, once. The test suite builds two: sid with llama.cpp's CUDA backend (and with it NVIDIA's
# cudart 12.4, cuBLAS 12.4, libcuda1 550 and nvidia-smi 550), and trixie with python3-torch-cuda
# (docs/reference/real-clients-here.md).
#
# usage: build-tree.sh [--no-postinst PKG]... [--min-free-gb N] DEST SUITE PACKAGE...
#
# --no-postinst PKG installs PKG with its maintainer's postinst replaced by one that does nothing:
# nvidia-cudnn's postinst downloads cuDNN from NVIDIA, which cannot be reached from here, and a
# failing postinst would leave every package depending on it unconfigured.
#
# Exit status: 0 built (or already there), 3 the Debian mirror cannot be reached (callers skip),
# anything else a real failure. The tree is built under DEST.partial and renamed at the end, so an
# interrupted build never looks finished; callers serialise runs with flock on DEST.lock.
set -eu

MIRROR=${VGPU_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The sid tree is ~1.9 GB (the default headroom), the trixie PyTorch tree ~7 GB plus its downloads
# (its caller asks for more with --min-free-gb); demand headroom so a full disk fails here,
# clearly, not halfway in dpkg.
NEED_GB=4

NO_POSTINST=""
while :; do
  case "${1:-}" in
    --no-postinst) [ $# -ge 2 ] || { echo "--no-postinst needs a package name" >&2; exit 2; }; NO_POSTINST="$NO_POSTINST $2"; shift 2 ;;
    --min-free-gb) [ $# -ge 2 ] || { echo "--min-free-gb needs a number" >&2; exit 2; }; NEED_GB=$2; shift 2 ;;
    *) break ;;
  esac
done
NEED_KB=$((NEED_GB * 1024 * 1024))
[ $# -ge 3 ] || { echo "usage: $0 [--no-postinst PKG]... [--min-free-gb N] DEST SUITE PACKAGE..." >&2; exit 2; }
DEST=$1
SUITE=$2
shift 2
[ -f "$DEST/.vgpu-tree-complete" ] && exit 0
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
if ! wget -q -T 20 -O /dev/null "$MIRROR/dists/$SUITE/Release" 2>/dev/null &&
   ! curl -fsS -m 20 -o /dev/null "$MIRROR/dists/$SUITE/Release" 2>/dev/null; then
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
debootstrap --variant=minbase "$SUITE" "$WORK" "$MIRROR" >&2

cat > "$WORK/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main contrib non-free non-free-firmware
SRC
# apt runs in a private mount namespace, so /proc and /dev are unmounted with it however it ends.
# The sid Release file is often reported expired on the mirror; its age is not what we test.
# A --no-postinst package is downloaded, repacked with a postinst that only exits, and installed
# from that file alongside the others (apt prefers a .deb named on its command line).
unshare -m --propagation private /bin/sh -eu -c '
  w=$1; no_postinst=$2; shift 2
  mount -t proc proc "$w/proc"
  mount --bind /dev "$w/dev"
  apt="-q -o Acquire::Check-Valid-Until=false"
  run() { chroot "$w" /usr/bin/env DEBIAN_FRONTEND=noninteractive "$@"; }
  run apt-get $apt update
  local_debs=""
  for p in $no_postinst; do
    mkdir -p "$w/var/tmp/no-postinst/$p"
    run sh -c "cd /var/tmp/no-postinst && apt-get $apt download $p && dpkg-deb -R ${p}_*.deb $p/x"
    printf "#!/bin/sh\n# vgpu test tree: the packaged postinst downloads from NVIDIA, unreachable here.\nexit 0\n" \
      > "$w/var/tmp/no-postinst/$p/x/DEBIAN/postinst"
    chmod 755 "$w/var/tmp/no-postinst/$p/x/DEBIAN/postinst"
    run dpkg-deb -b "/var/tmp/no-postinst/$p/x" "/var/tmp/no-postinst/$p.deb"
    local_debs="$local_debs /var/tmp/no-postinst/$p.deb"
  done
  run apt-get $apt install -y --no-install-recommends $local_debs "$@"
  run apt-get clean
  rm -rf "$w/var/tmp/no-postinst"
' sh "$WORK" "$NO_POSTINST" "$@" >&2
touch "$WORK/.vgpu-tree-complete"
rm -rf --one-file-system "$DEST"
mv "$WORK" "$DEST"
