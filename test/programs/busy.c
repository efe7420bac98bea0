/*
 * Keeps the vGPU busy until told to stop: holds MIB MiB of device memory and launches the `spin`
 * kernel of kernels.fatbin in a loop, synchronizing after each batch, until its stdin reaches
 * end-of-file. Once the memory is held and the first batch has run it prints one line,
 *   {"pid": P, "used": U, "total": T}
 * where U and T are cuMemGetInfo's total - free and total, as the VM sees them then; on stdin's
 * end it prints {"batches": N} and exits. Used by test/e2e/nvml-status.test.ts.
 *   busy FATBIN MIB ITERS
 */
#include <stdlib.h>

#include "spin.h"

static int batch(CUfunction k, void **args) {
  for (int i = 0; i < 4; i++) CK(cuLaunchKernel(k, 16, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
  CK(cuCtxSynchronize());
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  size_t mib = (size_t)atoi(argv[2]);
  int iters = atoi(argv[3]);
  CUfunction k;
  CUdeviceptr out, held;
  int rc = spin_setup(argv[1], &k);
  if (rc) return rc;
  CK(cuMemAlloc(&out, 16 * 128 * sizeof(float)));
  CK(cuMemAlloc(&held, mib << 20));
  void *args[] = {&out, &iters};
  if (batch(k, args)) return 1;
  size_t fr, total;
  CK(cuMemGetInfo(&fr, &total));
  printf("{\"pid\": %d, \"used\": %zu, \"total\": %zu}\n", (int)getpid(), total - fr, total);
  fflush(stdout);
  long n = 1;
  while (!stdin_closed(0)) {
    if (batch(k, args)) return 1;
    n++;
  }
  printf("{\"batches\": %ld}\n", n);
  return 0;
}
