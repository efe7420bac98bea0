/*
 * One guest of a burst (test/e2e/burst.test.ts, test/soak/burst.ts): many of these start at once
 * against one mediator. Each runs `vadd` from kernels.fatbin on inputs derived from SEED and checks
 * every element of the result. Prints `verified SEED N MS` and exits 0 when all N are right, MS
 * being how long its first GPU call took (cuCtxCreate: waiting for the session's executor
 * included); a failing call is printed (kernel_prog.h's CK) and the exit status is 1, a wrong
 * element 3. With `hold`
 * it then keeps its session open until a line or the end of stdin, so that a test can end many
 * sessions at the same moment.
 *   burst FATBIN SEED [hold]
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel_prog.h"

#define N 4096

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  unsigned seed = (unsigned)strtoul(argv[2], NULL, 10);
  const char *img = load_image(argv[1]);
  if (!img) return 2;
  static float a[N], b[N], c[N];
  for (int i = 0; i < N; i++) {
    a[i] = (float)((seed + (unsigned)i) % 1000);
    b[i] = (float)((seed * 7u + (unsigned)i * 3u) % 1000);
  }
  /* Its own context (not the primary one): the first call a burst's guest makes is cuCtxCreate. */
  CUcontext ctx;
  CUdevice d;
  CK(cuInit(0));
  CK(cuDeviceGet(&d, 0));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CK(cuCtxCreate(&ctx, NULL, 0, d));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CUmodule m;
  CUfunction k;
  CK(cuModuleLoadData(&m, img));
  CK(cuModuleGetFunction(&k, m, "vadd"));
  CUdeviceptr dev[3]; /* a, b, c */
  for (int i = 0; i < 3; i++) CK(cuMemAlloc(&dev[i], sizeof a));
  CK(cuMemcpyHtoD(dev[0], a, sizeof a));
  CK(cuMemcpyHtoD(dev[1], b, sizeof b));
  int count = N;
  void *args[] = {&dev[0], &dev[1], &dev[2], &count};
  CK(cuLaunchKernel(k, N / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
  CK(cuMemcpyDtoH(c, dev[2], sizeof c));
  for (int i = 0; i < N; i++) {
    if (c[i] != a[i] + b[i]) {
      fprintf(stderr, "element %d: %g + %g gave %g\n", i, a[i], b[i], c[i]);
      return 3;
    }
  }
  for (int i = 0; i < 3; i++) CK(cuMemFree(dev[i]));
  CK(cuCtxDestroy(ctx));
  printf("verified %u %d %.1f\n", seed, N, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
  fflush(stdout);
  if (argc > 3 && strcmp(argv[3], "hold") == 0) {
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n') {
    }
  }
  return 0;
}
