/*
 * A fixed amount of compute-bound GPU work, timed: LAUNCHES launches of the `spin` kernel from
 * kernels.fatbin, one synchronize. Prints {"ms": wall time of the work}. Used by the scheduling
 * tests to run two tenants against each other. With `hold`, once set up (module loaded, memory
 * allocated) it prints `ready` and waits for a line or the end of stdin before launching, so a
 * test can start two tenants' work together.
 *   compute FATBIN LAUNCHES ITERS [hold]
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spin.h"

int main(int argc, char **argv)
{
  if (argc < 4) return 2;
  int launches = atoi(argv[2]), iters = atoi(argv[3]);
  CUfunction k;
  CUdeviceptr out;
  int rc = spin_setup(argv[1], &k);
  if (rc) return rc;
  CK(cuMemAlloc(&out, 64 * 256 * sizeof(float)));
  void *args[] = {&out, &iters};
  if (argc > 4 && strcmp(argv[4], "hold") == 0) {
    printf("ready\n");
    fflush(stdout);
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n') {
    }
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < launches; i++) CK(cuLaunchKernel(k, 64, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
  CK(cuCtxSynchronize());
  clock_gettime(CLOCK_MONOTONIC, &t1);
  float host[1];
  CK(cuMemcpyDtoH(host, out, sizeof host));
  printf("{\"ms\": %.1f, \"check\": %g}\n", (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, host[0]);
  return 0;
}
