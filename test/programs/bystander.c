/*
 * A tenant doing real work next to a hostile one: rounds of copy in, `vadd` of kernels.fatbin,
 * copy out and check, about every 20 ms, until its stdin reaches end-of-file. Prints
 *   {"round": R}          after each round whose result was right
 *   {"rounds": N}         at end-of-file, then exits 0
 * and exits 1 at the first failing call or wrong result. Used by the live fuzzer (test/fuzz) to
 * show that a session survives what other connections do.
 *   bystander FATBIN
 */
#include <stdio.h>

#include "kernel_prog.h"

#define N 4096

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *img = load_image(argv[1]);
  if (!img) return 2;
  static float a[N], b[N], c[N];
  CUdevice d;
  CUcontext ctx;
  CUmodule m;
  CUfunction k;
  CUdeviceptr da, db, dc;
  CK(cuInit(0));
  CK(cuDeviceGet(&d, 0));
  CK(cuDevicePrimaryCtxRetain(&ctx, d));
  CK(cuCtxSetCurrent(ctx));
  CK(cuModuleLoadData(&m, img));
  CK(cuModuleGetFunction(&k, m, "vadd"));
  CK(cuMemAlloc(&da, sizeof a));
  CK(cuMemAlloc(&db, sizeof b));
  CK(cuMemAlloc(&dc, sizeof c));
  int n = N;
  void *args[] = {&da, &db, &dc, &n};
  long round = 0;
  while (!stdin_closed(20)) {
    round++;
    for (int i = 0; i < N; i++) {
      a[i] = (float)(i + round);
      b[i] = (float)(2 * i);
    }
    CK(cuMemcpyHtoD(da, a, sizeof a));
    CK(cuMemcpyHtoD(db, b, sizeof b));
    CK(cuLaunchKernel(k, N / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CK(cuMemcpyDtoH(c, dc, sizeof c));
    for (int i = 0; i < N; i++) {
      if (c[i] != (float)(3 * i + round)) {
        fprintf(stderr, "round %ld: c[%d] = %g, want %g\n", round, i, c[i], (float)(3 * i + round));
        return 1;
      }
    }
    printf("{\"round\": %ld}\n", round);
    fflush(stdout);
  }
  printf("{\"rounds\": %ld}\n", round);
  return 0;
}
