/*
 * cuLaunchCooperativeKernel on vgpu's libcuda.so.1 (cudart's cudaLaunchCooperativeKernel, which
 * llama.cpp's soft_max uses when the device reports cooperative launch). The answer must agree
 * with CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH: where it is 1 the kernel runs (checked), where it is
 * 0 the call itself returns CUDA_ERROR_NOT_SUPPORTED and leaves the context usable. Output follows
 * test/cuda/check.h.
 */
#include <cuda.h>
#include <stdio.h>
#include <string.h>

static int checks, failures;

#define CHECK(name, cond)                                                                                        \
  do {                                                                                                           \
    checks++;                                                                                                    \
    if (cond) printf("ok - %s\n", name);                                                                         \
    else {                                                                                                       \
      printf("not ok - %s (line %d)\n", name, __LINE__);                                                         \
      failures++;                                                                                                \
    }                                                                                                            \
  } while (0)

static const char PTX[] =
    ".version 7.0\n.target sm_75\n.address_size 64\n"
    ".visible .entry fill(.param .u64 out) {\n"
    "  .reg .b32 %r<4>;\n  .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [out];\n  cvta.to.global.u64 %rd1, %rd1;\n"
    "  mov.u32 %r1, %ctaid.x;\n  mov.u32 %r2, %ntid.x;\n  mov.u32 %r3, %tid.x;\n"
    "  mad.lo.s32 %r1, %r1, %r2, %r3;\n  mul.wide.u32 %rd2, %r1, 4;\n  add.s64 %rd3, %rd1, %rd2;\n"
    "  add.s32 %r1, %r1, 7;\n  st.global.u32 [%rd3], %r1;\n  ret;\n}\n";

enum { BLOCKS = 2, THREADS = 32, N = BLOCKS * THREADS };

int main(void) {
  CUdevice dev;
  CUcontext ctx;
  CUmodule mod;
  CUfunction fn;
  CUdeviceptr out;
  CHECK("cuInit", cuInit(0) == CUDA_SUCCESS);
  CHECK("cuDeviceGet", cuDeviceGet(&dev, 0) == CUDA_SUCCESS);
  CHECK("primary context", cuDevicePrimaryCtxRetain(&ctx, dev) == CUDA_SUCCESS && cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
  CHECK("cuModuleLoadData", cuModuleLoadData(&mod, PTX) == CUDA_SUCCESS);
  CHECK("cuModuleGetFunction", cuModuleGetFunction(&fn, mod, "fill") == CUDA_SUCCESS);
  CHECK("cuMemAlloc", cuMemAlloc(&out, N * sizeof(unsigned)) == CUDA_SUCCESS);
  CHECK("cuMemsetD32", cuMemsetD32(out, 0, N) == CUDA_SUCCESS);
  int coop = -1;
  CHECK("cooperative launch attribute", cuDeviceGetAttribute(&coop, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, dev) ==
                                            CUDA_SUCCESS && (coop == 0 || coop == 1));
  printf("# cooperative launch supported: %d\n", coop);

  void *args[] = {&out};
  CHECK("a bad function handle is refused",
        cuLaunchCooperativeKernel(NULL, BLOCKS, 1, 1, THREADS, 1, 1, 0, NULL, args) == CUDA_ERROR_INVALID_HANDLE);
  CUresult r = cuLaunchCooperativeKernel(fn, BLOCKS, 1, 1, THREADS, 1, 1, 0, NULL, args);
  printf("# cuLaunchCooperativeKernel -> %d\n", (int)r);
  CHECK("cuLaunchCooperativeKernel answers as the attribute says",
        coop == 1 ? r == CUDA_SUCCESS : r == CUDA_ERROR_NOT_SUPPORTED);
  CHECK("the context is still usable", cuCtxSynchronize() == CUDA_SUCCESS);
  unsigned host[N];
  memset(host, 0xff, sizeof host);
  CHECK("copy back", cuMemcpyDtoH(host, out, sizeof host) == CUDA_SUCCESS);
  int ran = 1, untouched = 1;
  for (unsigned i = 0; i < N; i++) {
    ran &= host[i] == i + 7;
    untouched &= host[i] == 0;
  }
  CHECK(coop == 1 ? "the cooperative kernel ran" : "nothing ran", coop == 1 ? ran : untouched);
  /* An ordinary launch of the same function still works afterwards. */
  CHECK("cuLaunchKernel", cuLaunchKernel(fn, BLOCKS, 1, 1, THREADS, 1, 1, 0, NULL, args, NULL) == CUDA_SUCCESS);
  CHECK("copy back again", cuMemcpyDtoH(host, out, sizeof host) == CUDA_SUCCESS);
  ran = 1;
  for (unsigned i = 0; i < N; i++) ran &= host[i] == i + 7;
  CHECK("the ordinary launch ran", ran);
  cuMemFree(out);
  cuModuleUnload(mod);
  cuDevicePrimaryCtxRelease(dev);
  printf("# %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
