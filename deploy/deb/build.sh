#!/usr/bin/env bash
# Builds the host package (make deb; docs/operations.md, "Packages"): vgpu as built in this
# checkout, under /usr/lib/vgpu, with /usr/bin links to its three tools, the systemd unit, a
# default /etc/vgpu/mediator.toml and the guest libraries with their installer.
#
#   deploy/deb/build.sh OUT.deb
#
# Run after 'make native ts'. The package holds what this machine built (the C libraries, the
# compiled TypeScript and the npm packages with their native modules), so it installs on hosts of
# the same architecture, Debian release and Node major version; Depends says so.
set -euo pipefail

out=${1:?usage: build.sh OUT.deb}
root=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$root"
for f in build/guest/libcuda.so.1 build/guest/libnvidia-ml.so.1 build/guest/vgpu-doctor build/softgpu/libvgpu-softgpu.so \
         build/native/vgpu-vsock-listen build/native/libvgpu-hotpath.so build/native/libvgpu-zygote.so dist/src/mediator/main.js dist/ui/index.html; do
  [ -e "$f" ] || { echo "build.sh: $f is missing: run 'make native ts ui' first" >&2; exit 1; }
done

version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
node_major=$(node -p 'process.versions.node.split(".")[0]')
stage=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-deb.XXXXXX")
chmod 0755 "$stage"
trap 'rm -rf -- "$stage"' EXIT
lib=$stage/usr/lib/vgpu

install -d "$lib/bin" "$lib/dist" "$lib/build/guest" "$lib/build/softgpu" "$lib/build/native" "$lib/guest" \
  "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/vgpu" "$stage/usr/share/doc/vgpu" "$stage/DEBIAN"
install -m 0755 bin/vgpu-mediator bin/vgpu-admin bin/vgpu-run "$lib/bin/"
install -m 0644 package.json package-lock.json "$lib/"
# The host code only: the tests and code generators stay out.
cp -a dist/src "$lib/dist/src"
# The dashboard's page, which the mediator serves from dist/ui (docs/dashboard.md).
cp -a dist/ui "$lib/dist/ui"
# The guest libraries, where vgpu-run and guest/install.sh look for them (build/guest).
cp -a build/guest/libcuda.so.1 build/guest/libcuda.so build/guest/libnvidia-ml.so.1 build/guest/libnvidia-ml.so build/guest/vgpu-doctor "$lib/build/guest/"
install -m 0755 build/softgpu/libvgpu-softgpu.so "$lib/build/softgpu/"
install -m 0755 build/native/vgpu-vsock-listen "$lib/build/native/"
install -m 0644 build/native/libvgpu-hotpath.so "$lib/build/native/"
install -m 0644 build/native/libvgpu-zygote.so "$lib/build/native/"
install -m 0755 guest/install.sh "$lib/guest/install.sh"
# Production dependencies: npm prune drops the dev ones from a copy, offline.
cp -a node_modules "$lib/node_modules"
(cd "$lib" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
for t in vgpu-mediator vgpu-admin vgpu-run; do ln -s "../lib/vgpu/bin/$t" "$stage/usr/bin/$t"; done
sed 's|@BINDIR@|/usr/bin|' deploy/systemd/vgpu-mediator.service.in > "$stage/lib/systemd/system/vgpu-mediator.service"
install -m 0644 deploy/mediator.toml "$stage/etc/vgpu/mediator.toml"
install -m 0644 README.md docs/operations.md docs/guest.md docs/executors.md "$stage/usr/share/doc/vgpu/"

cat > "$stage/DEBIAN/control" <<CONTROL
Package: vgpu
Version: $version
Architecture: $arch
Maintainer: vgpu developers <vgpu@localhost>
Section: misc
Priority: optional
Depends: nodejs (>= $node_major), nodejs (<< $((node_major + 1))), libc6, libzstd1, liblz4-1, adduser
Recommends: libssl3 | libssl3t64
Suggests: openssl
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Description: GPU sharing by CUDA driver-API remoting (host)
 vgpu-mediator serves guests (VMs, containers, remote machines) the host's
 GPUs over CUDA driver-API remoting; vgpu-admin manages VMs, quotas and
 pools; vgpu-run runs a program on vgpu's guest libraries. The guest
 libraries and guest/install.sh are in /usr/lib/vgpu.
CONTROL
echo /etc/vgpu/mediator.toml > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
# The mediator runs as the system user vgpu; members of the group vgpu may use its socket.
set -e
if [ "$1" = configure ]; then
  getent group vgpu >/dev/null || addgroup --system vgpu
  getent passwd vgpu >/dev/null || adduser --system --ingroup vgpu --home /var/lib/vgpu --no-create-home vgpu
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
POSTINST
cat > "$stage/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
# Stop the service for good (a drain) before its files go; an upgrade restarts it in postinst's
# place: 'systemctl restart vgpu-mediator', or SIGUSR2 to keep the sessions (docs/operations.md).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then systemctl stop vgpu-mediator.service || true; fi
PRERM
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
# purge removes the state (VMs, tokens, module images); remove keeps it.
if [ "$1" = purge ]; then rm -rf /var/lib/vgpu; fi
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
mkdir -p "$(dirname -- "$out")"
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$out" >/dev/null
echo "$out"
