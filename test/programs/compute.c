/*
 * A fixed amount of compute-bound GPU work, timed: LAUNCHES launches of the `spin` kernel from
 * kernels.fatbin, one synchronize. Prints {"ms": wall time of the work}. Used by the scheduling
 * tests to run two tenants against each other.
 *   compute FATBIN LAUNCHES ITERS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernel_prog.h"

int main(int argc, char **argv)
{
  if (argc < 4) return 2;
  const char *img = load_image(argv[1]);
  if (!img) return 2;
  int launches = atoi(argv[2]), iters = atoi(argv[3]);
  CUdevice d;
  CUcontext c;
  CUmodule m;
  CUfunction k;
  CUdeviceptr out;
  CK(cuInit(0));
  CK(cuDeviceGet(&d, 0));
  CK(cuDevicePrimaryCtxRetain(&c, d));
  CK(cuCtxSetCurrent(c));
  CK(cuModuleLoadData(&m, img));
  CK(cuModuleGetFunction(&k, m, "spin"));
  CK(cuMemAlloc(&out, 64 * 256 * sizeof(float)));
  void *args[] = {&out, &iters};
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
