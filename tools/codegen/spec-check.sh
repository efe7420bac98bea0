#!/usr/bin/env bash
# Compiles spec/cuda.spec.h against the installed toolkit's cuda.h, so that every prototype in the
# spec is checked by the C compiler against NVIDIA's own declaration. cuda.h declares different
# ABI variants depending on macros, so it is checked three times: the public names, the
# per-thread-default-stream names (_ptds/_ptsz), and the legacy ABIs (__CUDA_API_VERSION_INTERNAL).
# Then checks that spec/curesult.tsv covers every CUresult of that cuda.h.
set -euo pipefail
CUDA_HOME=${1:-/usr/local/cuda}
cd "$(dirname "$0")/../.."
[ -f "$CUDA_HOME/include/cuda.h" ] || { echo "spec-check: $CUDA_HOME/include/cuda.h not found (set CUDA_HOME)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names=$(grep -oE 'CUresult[[:space:]]+cu[A-Za-z0-9_]+\(' spec/cuda.spec.h | sed -E 's/CUresult[[:space:]]+//; s/\($//')
for mode in "" "-DCUDA_API_PER_THREAD_DEFAULT_STREAM" "-D__CUDA_API_VERSION_INTERNAL"; do
  {
    echo '#include "vgspec.h"'
    echo '#include <cuda.h>'
    for n in $names; do echo "#undef $n"; done
    grep -v '^#include' spec/cuda.spec.h
  } > "$tmp/spec.c"
  if ! gcc -std=c11 -fsyntax-only -Wall -Werror $mode -Ispec -I"$CUDA_HOME/include" "$tmp/spec.c" 2> "$tmp/err"; then
    echo "spec-check: spec/cuda.spec.h disagrees with $CUDA_HOME/include/cuda.h (mode: ${mode:-default}):" >&2
    sed "s#$tmp/spec.c#spec/cuda.spec.h(+undefs)#" "$tmp/err" >&2
    exit 1
  fi
done
echo "spec-check: $(echo "$names" | wc -w) prototypes agree with $CUDA_HOME/include/cuda.h"

# spec/curesult.tsv must name every CUresult of cuda.h: the generated switch over CUresult, with
# -Wswitch-enum, reports an enumerator the table lacks (run 'make curesult-refresh' to add it).
if ! gcc -std=c11 -fsyntax-only -Wall -Wswitch-enum -Werror -Icommon/gen -I"$CUDA_HOME/include" common/gen/curesult.c 2> "$tmp/err"; then
  echo "spec-check: spec/curesult.tsv lacks CUresult codes of $CUDA_HOME/include/cuda.h:" >&2
  cat "$tmp/err" >&2
  exit 1
fi
echo "spec-check: spec/curesult.tsv names every CUresult of $CUDA_HOME/include/cuda.h"
