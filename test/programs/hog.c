/*
 * Holds the vGPU with one kernel that would run for hours: launches the `spin` kernel of
 * kernels.fatbin (64 blocks of 128 threads, ITERS iterations each), prints "syncing", waits for it
 * in cuCtxSynchronize, then prints "sync -> <CUresult>" and exits 0 whatever the result (the test
 * reads the result and the guest library's log). Used by test/e2e/fair-use.test.ts.
 *   hog FATBIN ITERS
 */
#include <stdlib.h>

#include "spin.h"

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int iters = atoi(argv[2]);
  CUfunction k;
  CUdeviceptr out;
  int rc = spin_setup(argv[1], &k);
  if (rc) return rc;
  CK(cuMemAlloc(&out, 64 * 128 * sizeof(float)));
  void *args[] = {&out, &iters};
  CK(cuLaunchKernel(k, 64, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
  printf("syncing\n");
  printf("sync -> %d\n", (int)cuCtxSynchronize());
  return 0;
}
