/*
 * What the programs that load kernels.fatbin share (burst.c, busy.c, compute.c,
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

/* The module image at `path` (up to 1 MiB, in a static buffer), or NULL when it cannot be read. */
static inline const char *read_image(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char img[1 << 20];
  size_t n = fread(img, 1, sizeof img, f);
  fclose(f);
  return n == 0 ? NULL : img;
}

/* cuInit, device 0's primary context made current, the fatbin at `path` loaded and its `spin`
 * kernel in *k. Returns 0; 2 when the file cannot be read; 1 when a call failed (printed). */
static inline int spin_setup(const char *path, CUfunction *k) {
  const char *img = read_image(path);
  if (!img) return 2;
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
