/*
 * Module loading and kernel launches through the driver API, linked against vgpu's libcuda.so.1:
 * nvcc-built fatbin, PTX and cubin images (paths in argv), cuModule* and cuLibrary* lookups,
 * parameter layouts, kernelParams and `extra` launches, cuLaunchKernelEx, module globals and
 * constants, and error paths (bad configuration, unknown names, images without PTX, an illegal
 * address that sticks to the context). One "ok - name" / "not ok - name" line per check.
 *   launch FATBIN PTX CUBIN
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static void *slurp(const char *path, size_t *n, int nul) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)len + 1);
  if (fread(p, 1, (size_t)len, f) != (size_t)len) exit(2);
  fclose(f);
  if (nul) p[len] = 0;
  *n = (size_t)len;
  return p;
}

struct Blob { double d[5]; int i; };

/* Host functions: record what they saw. */
static int host_calls;
static CUresult cb_status = (CUresult)-1;
static void host_fn(void *p) { host_calls += *(int *)p; }
static void stream_cb(CUstream s, CUresult status, void *p) { (void)s; cb_status = status; host_calls += *(int *)p; }

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 4) { fprintf(stderr, "usage: launch FATBIN PTX CUBIN\n"); return 2; }
  size_t nfat, nptx, ncubin;
  void *fat = slurp(argv[1], &nfat, 0), *ptx = slurp(argv[2], &nptx, 1), *cubin = slurp(argv[3], &ncubin, 0);
  CUdevice dev;
  CUcontext ctx;
  EXPECT("cuInit", cuInit(0), CUDA_SUCCESS);
  EXPECT("cuDeviceGet", cuDeviceGet(&dev, 0), CUDA_SUCCESS);
  EXPECT("retain", cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
  EXPECT("set current", cuCtxSetCurrent(ctx), CUDA_SUCCESS);

  /* ---- module from a fatbin, function lookup, parameter layout -------------------------------- */
  CUmodule mod;
  CUfunction vadd, mixed, count, empty, poke, nope;
  EXPECT("cuModuleLoadData fatbin", cuModuleLoadData(&mod, fat), CUDA_SUCCESS);
  EXPECT("cuModuleGetFunction vadd", cuModuleGetFunction(&vadd, mod, "vadd"), CUDA_SUCCESS);
  EXPECT("cuModuleGetFunction mixed", cuModuleGetFunction(&mixed, mod, "mixed"), CUDA_SUCCESS);
  EXPECT("cuModuleGetFunction count", cuModuleGetFunction(&count, mod, "count"), CUDA_SUCCESS);
  EXPECT("cuModuleGetFunction empty", cuModuleGetFunction(&empty, mod, "empty"), CUDA_SUCCESS);
  EXPECT("cuModuleGetFunction poke", cuModuleGetFunction(&poke, mod, "poke"), CUDA_SUCCESS);
  EXPECT("unknown function name", cuModuleGetFunction(&nope, mod, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);
  size_t off = 99, size = 99;
  EXPECT("cuFuncGetParamInfo vadd 3", cuFuncGetParamInfo(vadd, 3, &off, &size), CUDA_SUCCESS);
  CHECK("vadd param 3 at 24, 4 bytes", off == 24 && size == 4);
  EXPECT("cuFuncGetParamInfo past the end", cuFuncGetParamInfo(vadd, 4, &off, &size), CUDA_ERROR_INVALID_VALUE);
  EXPECT("mixed param 2", cuFuncGetParamInfo(mixed, 2, &off, &size), CUDA_SUCCESS);
  CHECK("struct parameter aligned to 8, 48 bytes", off == 8 && size == 48);
  int regs = -1;
  EXPECT("cuFuncGetAttribute NUM_REGS", cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, vadd), CUDA_SUCCESS);
  int maxthreads = 0;
  EXPECT("cuFuncGetAttribute MAX_THREADS", cuFuncGetAttribute(&maxthreads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, vadd), CUDA_SUCCESS);
  CHECK("max threads per block > 0", maxthreads > 0);

  /* ---- launches: kernelParams and extra ------------------------------------------------------ */
  enum { N = 10000 };
  float *ha = malloc(N * 4), *hb = malloc(N * 4), *hc = malloc(N * 4);
  for (int i = 0; i < N; i++) { ha[i] = (float)i; hb[i] = (float)(2 * i); }
  CUdeviceptr da, db, dc;
  cuMemAlloc(&da, N * 4); cuMemAlloc(&db, N * 4); cuMemAlloc(&dc, N * 4);
  cuMemcpyHtoD(da, ha, N * 4); cuMemcpyHtoD(db, hb, N * 4); cuMemsetD32(dc, 0, N);
  int n = N;
  void *args[] = {&da, &db, &dc, &n};
  EXPECT("cuLaunchKernel vadd", cuLaunchKernel(vadd, (N + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
  EXPECT("cuCtxSynchronize", cuCtxSynchronize(), CUDA_SUCCESS);
  cuMemcpyDtoH(hc, dc, N * 4);
  int ok = 1;
  for (int i = 0; i < N; i++) ok &= hc[i] == 3.0f * i;
  CHECK("vadd results", ok);
  struct { CUdeviceptr a, b, c; int n; int pad; } packed = {db, db, dc, N, 0};
  size_t psize = 28;
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &psize, CU_LAUNCH_PARAM_END};
  EXPECT("cuLaunchKernel with extra", cuLaunchKernel(vadd, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, NULL, extra), CUDA_SUCCESS);
  cuMemcpyDtoH(hc, dc, N * 4);
  ok = 1;
  for (int i = 0; i < N; i++) ok &= hc[i] == 4.0f * i;
  CHECK("extra-form results", ok);
  EXPECT("kernelParams and extra together", cuLaunchKernel(vadd, 1, 1, 1, 1, 1, 1, 0, NULL, args, extra), CUDA_ERROR_INVALID_VALUE);
  EXPECT("block too large", cuLaunchKernel(vadd, 1, 1, 1, 2048, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  EXPECT("zero grid", cuLaunchKernel(vadd, 0, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);

  /* mixed parameter types: char, short, 48-byte struct, double, pointer, float */
  CUdeviceptr dout;
  cuMemAlloc(&dout, 6 * 8);
  char c = 7; short s = -300; struct Blob blob = {{1.5, 0, 0, 0, 2.5}, 99}; double d = 1234.0; float f = 5.0f;
  void *margs[] = {&c, &s, &blob, &d, &dout, &f};
  EXPECT("launch mixed", cuLaunchKernel(mixed, 1, 1, 1, 32, 1, 1, 0, NULL, margs, NULL), CUDA_SUCCESS);
  long long out[6] = {0};
  EXPECT("DtoH mixed", cuMemcpyDtoH(out, dout, sizeof out), CUDA_SUCCESS);
  CHECK("mixed parameters arrive intact", out[0] == 7 && out[1] == -300 && out[2] == 4 && out[3] == 99 && out[4] == 1234 && out[5] == 5);

  /* ---- module globals and constants ------------------------------------------------------ */
  CUdeviceptr gcounter, gscale;
  size_t gsize = 0;
  EXPECT("cuModuleGetGlobal counter", cuModuleGetGlobal(&gcounter, &gsize, mod, "counter"), CUDA_SUCCESS);
  CHECK("counter is 4 bytes", gsize == 4);
  EXPECT("cuModuleGetGlobal scale", cuModuleGetGlobal(&gscale, NULL, mod, "scale"), CUDA_SUCCESS);
  int zero = 0;
  float two = 2.0f;
  EXPECT("write __device__ global", cuMemcpyHtoD(gcounter, &zero, 4), CUDA_SUCCESS);
  EXPECT("write __constant__", cuMemcpyHtoD(gscale, &two, 4), CUDA_SUCCESS);
  EXPECT("cuMemFree of a global is refused", cuMemFree(gcounter), CUDA_ERROR_INVALID_VALUE);
  void *cargs[] = {&dc};
  EXPECT("launch count", cuLaunchKernel(count, 3, 1, 1, 64, 1, 1, 0, NULL, cargs, NULL), CUDA_SUCCESS);
  int counted = 0;
  EXPECT("read counter", cuMemcpyDtoH(&counted, gcounter, 4), CUDA_SUCCESS);
  CHECK("192 atomic increments", counted == 192);
  cuMemcpyDtoH(hc, dc, 64 * 4);
  CHECK("constant read by the kernel", hc[10] == 20.0f && hc[63] == 126.0f);
  EXPECT("unknown global", cuModuleGetGlobal(&gcounter, &gsize, mod, "nope"), CUDA_ERROR_NOT_FOUND);

  /* ---- library API, kernel handles used as functions, cuLaunchKernelEx -------------------- */
  CUlibrary lib;
  CUkernel kvadd;
  CUfunction fvadd;
  EXPECT("cuLibraryLoadData", cuLibraryLoadData(&lib, fat, NULL, NULL, 0, NULL, NULL, 0), CUDA_SUCCESS);
  EXPECT("cuLibraryGetKernel", cuLibraryGetKernel(&kvadd, lib, "vadd"), CUDA_SUCCESS);
  EXPECT("cuKernelGetParamInfo", cuKernelGetParamInfo(kvadd, 2, &off, &size), CUDA_SUCCESS);
  CHECK("kernel param 2 at 16", off == 16 && size == 8);
  EXPECT("cuKernelGetFunction", cuKernelGetFunction(&fvadd, kvadd), CUDA_SUCCESS);
  cuMemsetD32(dc, 0, N);
  EXPECT("launch a CUkernel as a CUfunction", cuLaunchKernel((CUfunction)kvadd, (N + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
  cuMemcpyDtoH(hc, dc, N * 4);
  CHECK("CUkernel launch results", hc[N - 1] == 3.0f * (N - 1));
  CUlaunchConfig cfg = {.gridDimX = (N + 255) / 256, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 256, .blockDimY = 1, .blockDimZ = 1};
  cuMemsetD32(dc, 0, N);
  EXPECT("cuLaunchKernelEx", cuLaunchKernelEx(&cfg, fvadd, args, NULL), CUDA_SUCCESS);
  cuMemcpyDtoH(hc, dc, N * 4);
  CHECK("cuLaunchKernelEx results", hc[123] == 3.0f * 123);
  CUdeviceptr lcounter;
  EXPECT("cuLibraryGetGlobal", cuLibraryGetGlobal(&lcounter, &gsize, lib, "counter"), CUDA_SUCCESS);

  /* ---- PTX text and an image with no PTX ------------------------------------------------- */
  CUmodule mptx, mcubin;
  CUfunction fptx;
  EXPECT("cuModuleLoadData PTX text", cuModuleLoadData(&mptx, ptx), CUDA_SUCCESS);
  EXPECT("function from PTX", cuModuleGetFunction(&fptx, mptx, "vadd"), CUDA_SUCCESS);
  EXPECT("launch from PTX module", cuLaunchKernel(fptx, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
  EXPECT("sync after PTX launch", cuCtxSynchronize(), CUDA_SUCCESS);
  EXPECT("cubin without PTX", cuModuleLoadData(&mcubin, cubin), CUDA_ERROR_NO_BINARY_FOR_GPU);
  EXPECT("garbage image", cuModuleLoadData(&mcubin, "this is not an image"), CUDA_ERROR_INVALID_IMAGE);
  EXPECT("cuModuleUnload", cuModuleUnload(mptx), CUDA_SUCCESS);
  EXPECT("unloaded module", cuModuleGetFunction(&fptx, mptx, "vadd"), CUDA_ERROR_INVALID_HANDLE);

  /* ---- many launches, one sync ---------------------------------------------------------- */
  for (int i = 0; i < 2000; i++) cuLaunchKernel(empty, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
  EXPECT("2000 fire-and-forget launches then sync", cuCtxSynchronize(), CUDA_SUCCESS);

  /* ---- host functions run after the stream's earlier work ------------------------------- */
  int inc = 1;
  CUstream hs;
  cuStreamCreate(&hs, 0);
  cuMemsetD32(dc, 0, N);
  EXPECT("launch before host func", cuLaunchKernel(vadd, (N + 255) / 256, 1, 1, 256, 1, 1, 0, hs, args, NULL), CUDA_SUCCESS);
  EXPECT("cuLaunchHostFunc", cuLaunchHostFunc(hs, host_fn, &inc), CUDA_SUCCESS);
  CHECK("host function ran", host_calls == 1);
  EXPECT("cuStreamAddCallback", cuStreamAddCallback(hs, stream_cb, &inc, 0), CUDA_SUCCESS);
  CHECK("stream callback ran with success status", host_calls == 2 && cb_status == CUDA_SUCCESS);
  EXPECT("cuStreamAddCallback with flags", cuStreamAddCallback(hs, stream_cb, &inc, 1), CUDA_ERROR_INVALID_VALUE);
  cuMemcpyDtoH(hc, dc, N * 4);
  CHECK("work before the host function completed", hc[N - 1] == 3.0f * (N - 1));

  /* ---- an illegal address sticks to the context, reported at the next sync --------------- */
  CUdeviceptr bad = 0x10;
  void *pargs[] = {&bad};
  EXPECT("launch poke (queued)", cuLaunchKernel(poke, 1, 1, 1, 1, 1, 1, 0, NULL, pargs, NULL), CUDA_SUCCESS);
  EXPECT("sync reports the illegal address", cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
  printf("# %d failure(s)\n", failures);
  return failures ? 1 : 0;
}
