#!/usr/bin/env bash
# Installs vgpu's guest libraries (libcuda.so.1, libnvidia-ml.so.1) in a VM or container so that
# every program finds them ahead of NVIDIA's, the vgpu-doctor check beside them, and writes
# /etc/vgpu/guest.conf (docs/guest.md).
#
#   guest/install.sh --server ADDR [--token TOKEN] [--tls-ca FILE] [--tls-pin sha256:HEX]
#                    [--tls-cert FILE --tls-key FILE] [--prefix DIR] [--root DIR] [--from DIR] [--no-ldconfig] [--dry-run]
#   guest/install.sh --uninstall [--root DIR] [--no-ldconfig] [--dry-run]
#
# Every file and folder it creates is listed in ROOT/etc/vgpu/installed-files, which --uninstall
# reads to remove exactly those.
set -euo pipefail

prog=install.sh
usage() {
  cat <<USAGE
usage: $prog --server ADDR [--token TOKEN] [options]
       $prog --uninstall [--root DIR] [--no-ldconfig] [--dry-run]

Installs libcuda.so.1 and libnvidia-ml.so.1 into PREFIX/lib/vgpu, registers that directory with
the dynamic loader ahead of every other (ROOT/etc/ld.so.conf.d/00-vgpu.conf, then ldconfig),
installs PREFIX/bin/vgpu-doctor (checks the result: run it after installing) and writes
ROOT/etc/vgpu/guest.conf.
  --server ADDR   the mediator: vsock:PORT (a VM with vsock), tls:host:port (a VM with a network
                  path to the host), tcp:host:port (the same in cleartext) or unix:/path (a
                  container on the host)
  --tls-ca FILE   tls: verify the host against this CA file (a path inside the guest)
  --tls-pin PIN   tls: the host certificate's sha256:HEX fingerprint (the mediator logs it)
  --tls-cert FILE tls: this VM's client certificate (PEM, a path inside the guest); a VM the
                  host binds to it ('vgpu-admin vm set NAME --tls-client-cert-sha256') needs
                  no token
  --tls-key FILE  tls: the client certificate's private key (PEM, unencrypted; keep it 0600)
  --token TOKEN   the VM's token ('vgpu-admin vm add NAME --print-token' on the host); may be
                  omitted on a Unix socket when the mediator has a default VM
  --prefix DIR    installation prefix (default /usr/local)
  --root DIR      install into this root file system instead of / (an image being built)
  --from DIR      where the built libraries are (default: build/guest of this repository)
  --no-ldconfig   do not run ldconfig (run it yourself, or inside the image later)
  --dry-run       print what would be done and change nothing
  --uninstall     remove what earlier installs into ROOT created (ROOT/etc/vgpu/installed-files
                  lists it); files they overwrote are not brought back
USAGE
}
die() {
  printf '%s: error: %s\n' "$prog" "$1" >&2
  [ $# -lt 2 ] || printf '  %s\n' "$2" >&2
  exit 2
}

self=$(readlink -f -- "${BASH_SOURCE[0]}")
from="$(cd -- "$(dirname -- "$self")/.." && pwd)/build/guest"
server='' token='' tlsca='' tlspin='' tlscert='' tlskey='' prefix=/usr/local root=/ ldconfig=1 dry=0 uninstall=0
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --server|--token|--tls-ca|--tls-pin|--tls-cert|--tls-key|--prefix|--root|--from)
      [ $# -ge 2 ] || die "$1 needs a value" "run '$prog --help' for the options"
      v=$2
      case $1 in --server) server=$v ;; --token) token=$v ;; --tls-ca) tlsca=$v ;; --tls-pin) tlspin=$v ;;
        --tls-cert) tlscert=$v ;; --tls-key) tlskey=$v ;; --prefix) prefix=$v ;; --root) root=$v ;; --from) from=$v ;; esac
      shift 2 ;;
    --server=*) server=${1#*=}; shift ;;
    --token=*) token=${1#*=}; shift ;;
    --tls-ca=*) tlsca=${1#*=}; shift ;;
    --tls-pin=*) tlspin=${1#*=}; shift ;;
    --tls-cert=*) tlscert=${1#*=}; shift ;;
    --tls-key=*) tlskey=${1#*=}; shift ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --root=*) root=${1#*=}; shift ;;
    --from=*) from=${1#*=}; shift ;;
    --no-ldconfig) ldconfig=0; shift ;;
    --dry-run) dry=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    *) die "unknown argument '$1'" "run '$prog --help' for the options" ;;
  esac
done

run() {
  if [ "$dry" = 1 ]; then printf 'would run: %s\n' "$*"; else "$@"; fi
}
refresh_cache() { # ROOT
  if [ "$1" = "" ]; then run ldconfig; else run ldconfig -r "$1"; fi
}

case $root in /*) ;; *) die "--root must be an absolute path" ;; esac
root=${root%/}
manifest_rel=/etc/vgpu/installed-files
manifest="$root$manifest_rel"
# A folder of the tree that is a symlink out of it (ROOT/etc -> /etc) would make this script write
# or remove the host's own files: refuse such a tree rather than follow the link.
root_real=$(realpath -m -- "${root:-/}")
inside_root() { # FOLDER: dies unless FOLDER, its symlinks followed, is ROOT or under it
  [ -z "$root" ] && return 0
  local real
  real=$(realpath -m -- "$1")
  case $real/ in "$root_real"/*) ;; *) die "$1 leads out of --root ${root}: it resolves to $real" "make the symlinks of the tree under --root relative (or inside it), or install into that folder's own tree" ;; esac
}

if [ "$uninstall" = 1 ]; then
  [ -z "$server$token$tlsca$tlspin$tlscert$tlskey" ] || die "--uninstall takes no --server, --token or TLS settings"
  [ -f "$manifest" ] || die "nothing to uninstall: $manifest is missing" "it is written by $prog when it installs into --root ${root:-/}"
  entries=()
  while IFS= read -r line; do
    case $line in ''|'#'*) continue ;; esac
    # Never trust the file: only absolute paths that stay inside ROOT.
    case $line in /*) ;; *) die "$manifest: '$line' is not an absolute path" ;; esac
    case /$line/ in */../*|*/./*) die "$manifest: '$line' leaves its folder" ;; esac
    inside_root "$(dirname -- "$root$line")"
    entries+=("$line")
  done <"$manifest"
  remove_dir() { # FOLDER
    if [ "$dry" = 1 ]; then printf 'would run: rmdir %s\n' "$1"
    elif ! rmdir -- "$1" 2>/dev/null; then printf '%s: warning: %s is not empty (files not installed by %s); left in place\n' "$prog" "$1" "$prog" >&2; fi
  }
  cache_created=0 holding=()
  # Newest first: files before the folders that hold them. The list goes last, and with it the
  # folders that hold it, so that an uninstall cut short can be run again.
  for ((i = ${#entries[@]} - 1; i >= 0; i--)); do
    p=$root${entries[i]}
    [ "${entries[i]}" != /etc/ld.so.cache ] || cache_created=1
    case $manifest_rel in "${entries[i]}"/*) holding+=("$p"); continue ;; esac
    if [ -d "$p" ] && [ ! -L "$p" ]; then
      remove_dir "$p"
    elif [ -e "$p" ] || [ -L "$p" ]; then
      run rm -f -- "$p"
    fi
  done
  run rm -f -- "$manifest"
  for p in "${holding[@]}"; do [ ! -d "$p" ] || remove_dir "$p"; done
  # The loader cache forgets our folder; a cache the install created went with the list.
  if [ "$ldconfig" = 1 ] && [ "$cache_created" = 0 ]; then refresh_cache "$root"; fi
  [ "$dry" = 1 ] || printf '%s: uninstalled from %s\n' "$prog" "${root:-/}"
  exit 0
fi

[ -n "$server" ] || die "--server is required" "e.g. --server tcp:gpu-host:7070"
case $server in
  unix:/?*|unix:@?*) ;;
  tcp:?*:[0-9]*|tls:?*:[0-9]*) ;;
  vsock:[0-9]*) ;;
  *) die "server address '$server' is not unix:/path, tcp:host:port, tls:host:port, vsock:PORT or vsock:CID:PORT" ;;
esac
case $server in
  tls:*) [ -n "$tlsca$tlspin" ] || die "a tls: server needs --tls-ca FILE or --tls-pin sha256:HEX" "without either the guest refuses to connect (it would send its token to anyone)" ;;
  *) [ -z "$tlsca$tlspin$tlscert$tlskey" ] || die "--tls-ca, --tls-pin, --tls-cert and --tls-key go with a tls: server" ;;
esac
{ [ -n "$tlscert" ] && [ -n "$tlskey" ]; } || { [ -z "$tlscert" ] && [ -z "$tlskey" ]; } ||
  die "--tls-cert and --tls-key go together" "the guest presents the certificate and proves it holds its key"
[ -z "$tlspin" ] || [[ $tlspin =~ ^sha256:([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$ ]] || die "--tls-pin '$tlspin' is not sha256: and 64 hex digits"
# guest.conf is line based: a value must not break the line or carry a comment.
for v in "$server" "$token" "$tlsca" "$tlspin" "$tlscert" "$tlskey"; do
  case $v in *[[:space:]]*|*'#'*) die "server, token and TLS settings must not contain spaces or '#'" ;; esac
done
[ ${#token} -le 1000 ] || die "the token is too long"
case $prefix in /*) ;; *) die "--prefix must be an absolute path" ;; esac
for lib in libcuda.so.1 libnvidia-ml.so.1 vgpu-doctor; do
  [ -f "$from/$lib" ] || die "$from/$lib is missing" "build the guest libraries first ('make native') or pass --from DIR"
done
case $server in
  tls:*) [ -n "$token" ] || [ -z "$tlscert" ] || printf '%s: note: no --token: the host must bind this VM to its client certificate (vgpu-admin vm set NAME --tls-client-cert-sha256)\n' "$prog" >&2 ;;
esac
case $server in tcp:*|tls:*) [ -n "$token$tlscert" ] || printf '%s: warning: no --token: a mediator accepts tokenless sessions only on its Unix socket\n' "$prog" >&2 ;; esac
case $server in vsock:*) [ -n "$token" ] || printf '%s: note: no --token: the host must bind this VM to its vsock channel (vgpu-admin vm set NAME --vsock-path/--vsock-cid)\n' "$prog" >&2 ;; esac

libdir="$prefix/lib/vgpu"
dest="$root$libdir"
ldconf="$root/etc/ld.so.conf.d/00-vgpu.conf"
conf="$root/etc/vgpu/guest.conf"

# What this install creates, for --uninstall: earlier installs' entries, then each folder and file
# this one makes that was not there (a folder) or not listed (a file) before.
installed=()
if [ -f "$manifest" ]; then
  while IFS= read -r line; do case $line in /*) installed+=("$line") ;; esac; done <"$manifest"
fi
note() { # PATH-INSIDE-ROOT
  local e
  for e in "${installed[@]}"; do [ "$e" != "$1" ] || return 0; done
  installed+=("$1")
}
make_dir() { # PATH-INSIDE-ROOT: mkdir -p, noting each folder it creates, outermost first
  local d=$1 missing=()
  while [ -n "$d" ] && [ "$d" != / ] && [ ! -e "$root$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname -- "$d"); done
  for d in "${missing[@]}"; do run mkdir -- "$root$d"; note "$d"; done
}
write() { # write FILE MODE CONTENT
  if [ "$dry" = 1 ]; then
    printf 'would write %s (mode %s):\n' "$1" "$2"
    printf '%s' "$3" | sed 's/^token = .*/token = <hidden>/; s/^/  | /'
    return
  fi
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  printf '%s' "$3" >"$tmp"
  chmod "$2" "$tmp"
  mv -f "$tmp" "$1"
}

# A root folder that does not exist yet is made as before (a fresh image tree); it is the caller's,
# so --uninstall leaves it.
[ -z "$root" ] || [ -d "$root" ] || run mkdir -p -- "$root"
for d in "$libdir" /etc/ld.so.conf.d /etc/vgpu "$prefix/bin"; do inside_root "$root$d"; done
make_dir "$libdir"
make_dir /etc/ld.so.conf.d
make_dir /etc/vgpu
make_dir "$prefix/bin"
run install -m 0755 "$from/vgpu-doctor" "$root$prefix/bin/vgpu-doctor"
note "$prefix/bin/vgpu-doctor"
for lib in libcuda.so.1 libnvidia-ml.so.1; do
  run install -m 0755 "$from/$lib" "$dest/$lib"
  # Unversioned names for programs that dlopen "libcuda.so" / "libnvidia-ml.so".
  run ln -sfn "$lib" "$dest/${lib%.1}"
  note "$libdir/$lib"
  note "$libdir/${lib%.1}"
done
note /etc/ld.so.conf.d/00-vgpu.conf
note /etc/vgpu/guest.conf
# ld.so.conf.d is read in name order and before the system directories, so 00-vgpu wins over
# NVIDIA's libraries wherever those are installed.
write "$ldconf" 0644 "# vgpu guest libraries, ahead of NVIDIA's (written by guest/install.sh)
$libdir
"
# Every local user of the VM may use its vGPU, so the token is readable by all of them.
write "$conf" 0644 "# vgpu guest configuration (written by guest/install.sh; see docs/guest.md)
server = $server
${token:+token = $token
}${tlsca:+tls_ca = $tlsca
}${tlspin:+tls_pin = $tlspin
}${tlscert:+tls_cert = $tlscert
}${tlskey:+tls_key = $tlskey
}"
# The drop-in only counts if ld.so.conf includes ld.so.conf.d (Debian, Ubuntu, Fedora... do).
if ! grep -qs '^[[:space:]]*include[[:space:]].*ld\.so\.conf\.d' "$root/etc/ld.so.conf"; then
  printf '%s: warning: %s does not include /etc/ld.so.conf.d/*.conf: add that line, or use vgpu-run / LD_LIBRARY_PATH=%s\n' \
    "$prog" "$root/etc/ld.so.conf" "$libdir" >&2
fi
if [ "$ldconfig" = 1 ]; then
  [ -e "$root/etc/ld.so.cache" ] || note /etc/ld.so.cache
  refresh_cache "$root"
fi
write "$manifest" 0644 "# written by guest/install.sh: what it created, for --uninstall
$(printf '%s\n' "${installed[@]}")
"
[ "$dry" = 1 ] || printf '%s: installed into %s; configuration in %s; check it with %s\n' "$prog" "$dest" "$conf" "$prefix/bin/vgpu-doctor"
