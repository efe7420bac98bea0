/*
 * What the programs that run the `spin` kernel of kernels.fatbin share (busy.c, compute.c,
 * hog.c): CK, which prints a failing driver call and returns 1 from the function, and the setup.
 */
#ifndef VG_TEST_SPIN_H
#define VG_TEST_SPIN_H

#include <cuda.h>
#include <stdio.h>

#define CK(x)                                                                   \
  do {                                                                          \
    CUresult r_ = (x);                                                          \
    if (r_ != CUDA_SUCCESS) {                                                   \
      fprintf(stderr, "%s failed: %d\n", #x, (int)r_);                          \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

/* cuInit, device 0's primary context made current, the fatbin at `path` loaded and its `spin`
 * kernel in *k. Returns 0; 2 when the file cannot be read; 1 when a call failed (printed). */
static int spin_setup(const char *path, CUfunction *k) {
  FILE *f = fopen(path, "rb");
  if (!f) return 2;
  static char img[1 << 20];
  size_t n = fread(img, 1, sizeof img, f);
  fclose(f);
  if (n == 0) return 2;
  CUdevice d;
  CUcontext c;
  CUmodule m;
  CK(cuInit(0));
  CK(cuDeviceGet(&d, 0));
  CK(cuDevicePrimaryCtxRetain(&c, d));
  CK(cuCtxSetCurrent(c));
  CK(cuModuleLoadData(&m, img));
  CK(cuModuleGetFunction(k, m, "spin"));
  return 0;
}

#endif
