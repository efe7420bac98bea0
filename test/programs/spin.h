/*
 * What the programs that run the `spin` kernel of kernels.fatbin share (busy.c, compute.c,
 * hog.c): the setup, on top of what every kernel-running test program shares (kernel_prog.h: CK,
 * the image loader, stdin's end as "stop").
 */
#ifndef VG_TEST_SPIN_H
#define VG_TEST_SPIN_H

#include "kernel_prog.h"

/* cuInit, device 0's primary context made current, the fatbin at `path` loaded and its `spin`
 * kernel in *k. Returns 0; 2 when the file cannot be read; 1 when a call failed (printed). */
static int spin_setup(const char *path, CUfunction *k) {
  const char *img = load_image(path);
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
