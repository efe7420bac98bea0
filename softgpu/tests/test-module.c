/* Modules, libraries, function attributes and kernel launches through the driver API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_test_cu.h"
#include "sg_test_kernels.h"

enum { N = 1000 };

static CUmodule load_ptx(void) {
  CUmodule m = NULL;
  ASSERT_CU_OK(cuModuleLoadData(&m, SG_TEST_PTX));
  return m;
}

/* y = a*x + y over N floats with the given function; returns through host arrays. */
static void run_axpy(CUfunction f, int how, float *out) {
  float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = (float)i, y[i] = 1.0f;
  CUdeviceptr dx, dy;
  ASSERT_CU_OK(cuMemAlloc(&dx, sizeof x));
  ASSERT_CU_OK(cuMemAlloc(&dy, sizeof y));
  ASSERT_CU_OK(cuMemcpyHtoD(dx, x, sizeof x));
  ASSERT_CU_OK(cuMemcpyHtoD(dy, y, sizeof y));
  float a = 2.0f;
  int n = N;
  unsigned grid = (N + 127) / 128;
  if (how == 0) {
    void *args[] = {&a, &dx, &dy, &n};
    ASSERT_CU_OK(cuLaunchKernel(f, grid, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
  } else if (how == 1) {
    struct {
      float a;
      unsigned pad;
      CUdeviceptr x, y;
      int n;
    } buf = {a, 0, dx, dy, n};
    size_t size = sizeof buf;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END};
    ASSERT_CU_OK(cuLaunchKernel(f, grid, 1, 1, 128, 1, 1, 0, CU_STREAM_PER_THREAD, NULL, extra));
  } else {
    void *args[] = {&a, &dx, &dy, &n};
    CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_PRIORITY};
    attr.value.priority = -1;
    CUlaunchConfig cfg = {grid, 1, 1, 128, 1, 1, 0, NULL, &attr, 1};
    ASSERT_CU_OK(cuLaunchKernelEx(&cfg, f, args, NULL));
  }
  ASSERT_CU_OK(cuMemcpyDtoH(out, dy, sizeof y));
  ASSERT_CU_OK(cuMemFree(dx));
  ASSERT_CU_OK(cuMemFree(dy));
}

static void check_axpy(const float *y) {
  for (int i = 0; i < N; i++)
    if (y[i] != 2.0f * (float)i + 1.0f) FAIL("y[%d] = %g, expected %g", i, (double)y[i], 2.0 * i + 1.0);
}

TEST(module_ptx_launch_with_kernel_params) {
  sg_test_setup();
  CUmodule m = load_ptx();
  CUfunction f;
  float y[N];
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "axpy"));
  run_axpy(f, 0, y);
  check_axpy(y);
  ASSERT_CU_OK(cuModuleUnload(m));
}

TEST(module_launch_with_extra_buffer_and_ex) {
  sg_test_setup();
  CUmodule m = load_ptx();
  CUfunction f;
  float y[N];
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "axpy"));
  run_axpy(f, 1, y);
  check_axpy(y);
  run_axpy(f, 2, y);
  check_axpy(y);
}

TEST(module_fatbin_container_and_wrapper) {
  sg_test_setup();
  CUmodule m1, m2, m3;
  CUfunction f;
  float y[N];
  ASSERT_CU_OK(cuModuleLoadData(&m1, sg_test_fatbin));
  ASSERT_CU_OK(cuModuleGetFunction(&f, m1, "axpy"));
  run_axpy(f, 0, y);
  check_axpy(y);
  /* what nvcc's registration code hands to the runtime: a wrapper pointing at the container */
  struct {
    int magic, version;
    const void *data;
    void *filenames;
  } wrapper = {0x466243b1, 1, sg_test_fatbin, NULL};
  ASSERT_CU_OK(cuModuleLoadFatBinary(&m2, &wrapper));
  ASSERT_CU_OK(cuModuleLoadDataEx(&m3, &wrapper, 0, NULL, NULL));
  ASSERT_CU_OK(cuModuleGetFunction(&f, m3, "bump"));
}

TEST(module_function_lookup_and_params) {
  sg_test_setup();
  CUmodule m = load_ptx(), got;
  CUfunction f;
  unsigned count = 0;
  size_t off, size;
  const char *name;
  ASSERT_CU(cuModuleGetFunction(&f, m, "nope"), CUDA_ERROR_NOT_FOUND);
  ASSERT_CU_OK(cuModuleGetFunctionCount(&count, m));
  ASSERT_EQ(count, 3);
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "axpy"));
  ASSERT_CU_OK(cuFuncGetName(&name, f));
  ASSERT_STR_EQ(name, "axpy");
  ASSERT_CU_OK(cuFuncGetModule(&got, f));
  ASSERT_EQ((void *)got, (void *)m);
  static const size_t offs[] = {0, 8, 16, 24}, sizes[] = {4, 8, 8, 4};
  for (int i = 0; i < 4; i++) {
    ASSERT_CU_OK(cuFuncGetParamInfo(f, (size_t)i, &off, &size));
    ASSERT_EQ(off, offs[i]);
    ASSERT_EQ(size, sizes[i]);
  }
  ASSERT_CU(cuFuncGetParamInfo(f, 4, &off, &size), CUDA_ERROR_INVALID_VALUE);
  CUmoduleLoadingMode mode;
  ASSERT_CU_OK(cuModuleGetLoadingMode(&mode));
  ASSERT_EQ(mode, CU_MODULE_EAGER_LOADING);
}

TEST(module_globals) {
  sg_test_setup();
  CUmodule m = load_ptx();
  CUfunction f;
  CUdeviceptr counter;
  size_t bytes = 0;
  int v = 3, out[4];
  ASSERT_CU_OK(cuModuleGetGlobal(&counter, &bytes, m, "counter"));
  ASSERT_EQ(bytes, 16);
  ASSERT_CU(cuModuleGetGlobal(&counter, &bytes, m, "missing"), CUDA_ERROR_NOT_FOUND);
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "bump"));
  void *args[] = {&v};
  ASSERT_CU_OK(cuLaunchKernel(f, 2, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
  ASSERT_CU_OK(cuMemcpyDtoH(out, counter, sizeof out));
  for (int i = 0; i < 4; i++) ASSERT_EQ(out[i], 2 * 16 * 3);
}

TEST(module_function_attributes) {
  sg_test_setup();
  CUmodule m = load_ptx();
  CUfunction f;
  int v = -1;
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "axpy"));
  ASSERT_CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f));
  ASSERT_EQ(v, 1024);
  /* The .target (sm_89), not the file's .version 9.0 (test-ptx-run.c checks a target apart from
   * the device's). */
  ASSERT_CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PTX_VERSION, f));
  ASSERT_EQ(v, 89);
  /* The code that runs was compiled for the device (softgpu's default 12.0). */
  ASSERT_CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_BINARY_VERSION, f));
  ASSERT_EQ(v, 120);
  ASSERT_CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f));
  ASSERT_EQ(v, 0);
  ASSERT_CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
  ASSERT_EQ(v, 48 * 1024);
  ASSERT_CU_OK(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 99 * 1024));
  ASSERT_CU_OK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
  ASSERT_EQ(v, 99 * 1024);
  ASSERT_CU(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 99 * 1024 + 1),
            CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_NUM_REGS, 3), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuFuncGetAttribute(&v, (CUfunction_attribute)999, f), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuFuncSetCacheConfig(f, CU_FUNC_CACHE_PREFER_SHARED));
  int grid = 0, block = 0;
  ASSERT_CU_OK(cuOccupancyMaxPotentialBlockSize(&grid, &block, f, NULL, 0, 0));
  ASSERT_GT(block, 0);
  ASSERT_EQ(block % 32, 0);
  ASSERT_GT(grid, 0);
  int blocks = 0;
  ASSERT_CU_OK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, f, 128, 0));
  ASSERT_GT(blocks, 0);
}

/* Registers: what is live, not what is declared; within .maxnreg and the launch bounds; and the
 * largest block and occupancy follow from the count. */
static const char REGS_PTX[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    /* 500 declared, 3 used: the count is small. */
    ".visible .entry sparse(.param .u64 out)\n{\n.reg .b32 %r<500>;\n.reg .b64 %rd<4>;\n"
    "ld.param.u64 %rd1, [out];\ncvta.to.global.u64 %rd2, %rd1;\nmov.u32 %r1, 7;\nst.global.u32 [%rd2], %r1;\nret;\n}\n"
    /* 40 values live at once, 64-bit: 80 units, capped by .maxnreg 48. */
    ".visible .entry capped(.param .u64 out) .maxnreg 48\n{\n.reg .b64 %rd<48>;\n"
    "ld.param.u64 %rd45, [out];\ncvta.to.global.u64 %rd46, %rd45;\n"
    "LOADS"
    "SUMS"
    "st.global.u64 [%rd46], %rd0;\nret;\n}\n"
    /* The same with .maxntid 512: the count leaves room for 512 threads. */
    ".visible .entry bounded(.param .u64 out) .maxntid 512, 1, 1\n{\n.reg .b64 %rd<48>;\n"
    "ld.param.u64 %rd45, [out];\ncvta.to.global.u64 %rd46, %rd45;\n"
    "LOADS"
    "SUMS"
    "st.global.u64 [%rd46], %rd0;\nret;\n}\n";

/* REGS_PTX with LOADS (40 loads into %rd0..%rd39) and SUMS (their sum into %rd0) written out. */
static char *regs_ptx(void) {
  char loads[4096] = "", sums[4096] = "";
  for (int i = 0; i < 40; i++)
    snprintf(loads + strlen(loads), sizeof loads - strlen(loads), "ld.global.u64 %%rd%d, [%%rd46+%d];\n", i, i * 8);
  for (int i = 1; i < 40; i++)
    snprintf(sums + strlen(sums), sizeof sums - strlen(sums), "add.s64 %%rd0, %%rd0, %%rd%d;\n", i);
  char *out = malloc(sizeof REGS_PTX + 4 * sizeof loads);
  char *w = out;
  for (const char *r = REGS_PTX; *r;) {
    if (!strncmp(r, "LOADS", 5)) w += sprintf(w, "%s", loads), r += 5;
    else if (!strncmp(r, "SUMS", 4)) w += sprintf(w, "%s", sums), r += 4;
    else *w++ = *r++;
  }
  *w = 0;
  return out;
}

static int attr(CUfunction f, CUfunction_attribute a) {
  int v = -1;
  ASSERT_CU_OK(cuFuncGetAttribute(&v, a, f));
  return v;
}

TEST(module_register_count) {
  sg_test_setup();
  char *src = regs_ptx();
  CUmodule m;
  CUfunction sparse, capped, bounded;
  ASSERT_CU_OK(cuModuleLoadData(&m, src));
  free(src);
  ASSERT_CU_OK(cuModuleGetFunction(&sparse, m, "sparse"));
  ASSERT_CU_OK(cuModuleGetFunction(&capped, m, "capped"));
  ASSERT_CU_OK(cuModuleGetFunction(&bounded, m, "bounded"));
  int r = attr(sparse, CU_FUNC_ATTRIBUTE_NUM_REGS);
  ASSERT_GT(r, 0);
  ASSERT_TRUE(r <= 16);
  ASSERT_EQ(attr(sparse, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK), 1024);
  ASSERT_EQ(attr(capped, CU_FUNC_ATTRIBUTE_NUM_REGS), 48);
  /* 48 registers: 65536 / (48 * 32) = 42 warps, so 1024 threads still fit. */
  ASSERT_EQ(attr(capped, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK), 1024);
  r = attr(bounded, CU_FUNC_ATTRIBUTE_NUM_REGS);
  ASSERT_TRUE(r > 64 && r <= 128); /* 80 live units and what ptxas reserves; 512 threads leave 128 */
  ASSERT_EQ(attr(bounded, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK), 512);
  int blocks = -1;
  ASSERT_CU_OK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, bounded, 512, 0));
  ASSERT_EQ(blocks, 65536 / ((r + 7) / 8 * 8 * 32) / 16);
  ASSERT_CU_OK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, bounded, 1024, 0));
  ASSERT_EQ(blocks, 0);
  ASSERT_CU_OK(cuModuleUnload(m));
}

/* `.ptr .align 1` is the alignment of what a pointer parameter points to, which nvcc 13 writes
 * for compute_100 and later (cub's DeviceCompactInitKernel): the parameter itself stays 8-aligned. */
TEST(module_pointer_param_alignment) {
  sg_test_setup();
  static const char src[] =
      ".version 9.0\n.target sm_100\n.address_size 64\n"
      ".visible .entry k(.param .align 8 .b8 a[8], .param .u32 n, .param .u64 .ptr .global .align 1 out)\n{\n"
      ".reg .b32 %r<2>;\n.reg .b64 %rd<3>;\n"
      "ld.param.u32 %r1, [n];\nld.param.u64 %rd1, [out];\ncvta.to.global.u64 %rd2, %rd1;\n"
      "st.global.u32 [%rd2], %r1;\nret;\n}\n";
  CUmodule m;
  CUfunction f;
  ASSERT_CU_OK(cuModuleLoadData(&m, src));
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "k"));
  size_t off = 0, size = 0;
  ASSERT_CU_OK(cuFuncGetParamInfo(f, 2, &off, &size));
  ASSERT_EQ(off, 16);
  ASSERT_EQ(size, 8);
  CUdeviceptr d;
  int n = 42, got = 0;
  unsigned char a[8] = {0};
  ASSERT_CU_OK(cuMemAlloc(&d, sizeof got));
  void *args[] = {a, &n, &d};
  ASSERT_CU_OK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
  ASSERT_CU_OK(cuMemcpyDtoH(&got, d, sizeof got));
  ASSERT_EQ(got, 42);
  ASSERT_CU_OK(cuMemFree(d));
  ASSERT_CU_OK(cuModuleUnload(m));
}

TEST(module_library_kernels_work_as_functions) {
  ASSERT_CU_OK(cuInit(0));
  CUlibrary lib;
  CUkernel k;
  CUfunction f;
  CUmodule m;
  unsigned count = 0;
  /* Libraries are context-independent: loading needs no current context. */
  ASSERT_CU_OK(cuLibraryLoadData(&lib, SG_TEST_PTX, NULL, NULL, 0, NULL, NULL, 0));
  ASSERT_CU_OK(cuLibraryGetKernel(&k, lib, "axpy"));
  ASSERT_CU(cuLibraryGetKernel(&k, lib, "missing"), CUDA_ERROR_NOT_FOUND);
  ASSERT_CU_OK(cuLibraryGetKernel(&k, lib, "axpy"));
  ASSERT_CU_OK(cuLibraryGetKernelCount(&count, lib));
  ASSERT_EQ(count, 3);
  ASSERT_CU_OK(cuKernelGetFunction(&f, k));
  ASSERT_CU_OK(cuLibraryGetModule(&m, lib));
  ASSERT_CU(cuModuleUnload(m), CUDA_ERROR_INVALID_HANDLE); /* belongs to the library */
  size_t off, size;
  ASSERT_CU_OK(cuKernelGetParamInfo(k, 1, &off, &size));
  ASSERT_EQ(off, 8);
  int v;
  ASSERT_CU_OK(cuKernelGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, k, 0));
  ASSERT_EQ(v, 1024);
  CUdeviceptr counter;
  size_t bytes;
  ASSERT_CU_OK(cuLibraryGetGlobal(&counter, &bytes, lib, "counter"));
  ASSERT_EQ(bytes, 16);
  sg_test_setup();
  float y[N];
  run_axpy(f, 0, y);
  check_axpy(y);
  run_axpy((CUfunction)k, 2, y); /* a CUkernel where a CUfunction is expected */
  check_axpy(y);
  ASSERT_CU_OK(cuLibraryUnload(lib));
  ASSERT_CU(cuLibraryUnload(lib), CUDA_ERROR_INVALID_HANDLE);
  void *args[] = {&v};
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_HANDLE);
}

TEST(module_bad_images) {
  sg_test_setup();
  CUmodule m;
  char log[256] = "";
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {log, (void *)(uintptr_t)sizeof log};
  static const char broken[] = ".version 9.0\n.target sm_89\n.address_size 64\n.visible .entry k() { bogus.op %r1; }\n";
  ASSERT_CU(cuModuleLoadDataEx(&m, broken, 2, opts, vals), CUDA_ERROR_INVALID_PTX);
  ASSERT_GT(strlen(log), 0);
  char diag[256];
  ASSERT_GT(sg_softgpu_last_error(diag, sizeof diag), 0);
  static const unsigned char junk[64] = {0x50, 0xed, 0x55, 0xba, 0x01, 0x00, 0x10, 0x00, 0xff, 0xff, 0xff, 0x7f};
  CUresult r = cuModuleLoadData(&m, junk);
  ASSERT_TRUE(r == CUDA_ERROR_INVALID_IMAGE || r == CUDA_ERROR_NO_BINARY_FOR_GPU);
  ASSERT_CU(cuModuleLoadData(&m, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuModuleLoadData(NULL, SG_TEST_PTX), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuModuleLoad(&m, "/nonexistent/k.ptx"), CUDA_ERROR_FILE_NOT_FOUND);
  int bogus;
  CUfunction f;
  ASSERT_CU(cuModuleGetFunction(&f, (CUmodule)&bogus, "axpy"), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuModuleUnload((CUmodule)&bogus), CUDA_ERROR_INVALID_HANDLE);
}

/* A kernel-side launch (nvcc -rdc: a call into libcudadevrt) fails the load with the driver's
 * CUDA_ERROR_INVALID_PTX, the reason in the JIT error log and in softgpu's last error. */
TEST(module_device_runtime_refused) {
  sg_test_setup();
  CUmodule m = NULL;
  char log[512] = "";
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {log, (void *)(uintptr_t)sizeof log};
  static const char cdp[] =
      ".version 9.0\n.target sm_90\n.address_size 64\n"
      ".extern .func (.param .b32 rv) __cudaCDP2LaunchDeviceV2(.param .b64 a, .param .b64 b);\n"
      ".visible .entry k() {\n .reg .b32 %r<2>;\n .reg .b64 %rd<2>;\n mov.u64 %rd1, 0;\n"
      " { .param .b64 p0; st.param.b64 [p0], %rd1; .param .b64 p1; st.param.b64 [p1], %rd1;\n"
      "   .param .b32 r0; call.uni (r0), __cudaCDP2LaunchDeviceV2, (p0, p1); ld.param.b32 %r1, [r0]; }\n"
      " ret;\n}\n";
  ASSERT_CU(cuModuleLoadDataEx(&m, cdp, 2, opts, vals), CUDA_ERROR_INVALID_PTX);
  ASSERT_TRUE(strstr(log, "__cudaCDP2LaunchDeviceV2") != NULL);
  ASSERT_TRUE(strstr(log, "dynamic parallelism") != NULL);
  char diag[512];
  ASSERT_GT(sg_softgpu_last_error(diag, sizeof diag), 0);
  ASSERT_TRUE(strstr(diag, "__cudaCDP2LaunchDeviceV2") != NULL);
  CUlibrary lib;
  ASSERT_CU(cuLibraryLoadData(&lib, cdp, NULL, NULL, 0, NULL, NULL, 0), CUDA_ERROR_INVALID_PTX);
}

TEST(module_launch_validation) {
  sg_test_setup();
  CUmodule m = load_ptx();
  CUfunction f;
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "axpy"));
  CUdeviceptr d;
  ASSERT_CU_OK(cuMemAlloc(&d, 4096));
  float a = 1;
  int n = 0;
  void *args[] = {&a, &d, &d, &n};
  ASSERT_CU(cuLaunchKernel(f, 0, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 1025, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 1, 1, 65, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuLaunchKernel(f, 1, 65536, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 48 * 1024 + 1, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
  size_t small = 8;
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, args, CU_LAUNCH_PARAM_BUFFER_SIZE, &small, CU_LAUNCH_PARAM_END};
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, extra), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, extra), CUDA_ERROR_INVALID_VALUE);
  int bogus;
  ASSERT_CU(cuLaunchKernel((CUfunction)&bogus, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, (CUstream)&bogus, args, NULL), CUDA_ERROR_INVALID_HANDLE);
  CUlaunchAttribute coop = {.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE};
  coop.value.cooperative = 1;
  CUlaunchConfig cfg = {1, 1, 1, 32, 1, 1, 0, NULL, &coop, 1};
  ASSERT_CU_OK(cuLaunchKernelEx(&cfg, f, args, NULL));
  ASSERT_CU_OK(cuLaunchCooperativeKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args));
  /* A cooperative grid must be resident at once: one block more than the occupancy allows is refused. */
  int per_sm = 0, sms = 0, attr = 0;
  ASSERT_CU_OK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, f, 32, 0));
  ASSERT_CU_OK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  ASSERT_CU_OK(cuDeviceGetAttribute(&attr, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, 0));
  ASSERT_EQ(attr, 1);
  ASSERT_GT(per_sm, 0);
  cfg.gridDimX = (unsigned)(per_sm * sms + 1);
  ASSERT_CU(cuLaunchKernelEx(&cfg, f, args, NULL), CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
  ASSERT_CU(cuLaunchCooperativeKernel(f, cfg.gridDimX, 1, 1, 32, 1, 1, 0, NULL, args),
            CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
  ASSERT_CU_OK(cuLaunchCooperativeKernel(f, cfg.gridDimX - 1, 1, 1, 32, 1, 1, 0, NULL, args));
  ASSERT_CU(cuLaunchCooperativeKernel((CUfunction)&bogus, 1, 1, 1, 32, 1, 1, 0, NULL, args), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuLaunchKernel_ptsz(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL)); /* n = 0: no work */
  ASSERT_CU_OK(cuModuleUnload(m));
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuCtxSynchronize()); /* launch errors are not sticky */
}

TEST(module_illegal_address_is_sticky) {
  sg_test_setup();
  CUmodule m = load_ptx();
  CUfunction f;
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "poke"));
  CUdeviceptr d;
  ASSERT_CU_OK(cuMemAlloc(&d, 256));
  long off = 0;
  void *args[] = {&d, &off};
  ASSERT_CU_OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
  int v = 0;
  ASSERT_CU_OK(cuMemcpyDtoH(&v, d, sizeof v));
  ASSERT_EQ(v, 1);
  off = 1 << 20; /* 4 MiB past the allocation */
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
  char msg[256] = "";
  ASSERT_GT(sg_softgpu_last_error(msg, sizeof msg), 0);
  ASSERT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
  ASSERT_CU(cuMemcpyDtoH(&v, d, sizeof v), CUDA_ERROR_ILLEGAL_ADDRESS);
  ASSERT_CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
}

TEST(module_no_clusters_but_cuBLAS_probes_succeed) {
  sg_test_setup();
  CUmodule m = load_ptx();
  CUfunction f;
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "axpy"));
  /* A permission to use non-portable cluster sizes is harmless without clusters... */
  ASSERT_CU_OK(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1));
  ASSERT_CU(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 2), CUDA_ERROR_INVALID_VALUE);
  /* ...but requiring a cluster shape is not supported. */
  ASSERT_CU(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH, 2), CUDA_ERROR_NOT_SUPPORTED);
  CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION};
  attr.value.clusterDim.x = 3;
  attr.value.clusterDim.y = 1;
  attr.value.clusterDim.z = 1;
  CUlaunchConfig cfg = {.gridDimX = 3, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 128, .blockDimY = 1, .blockDimZ = 1,
                        .attrs = &attr, .numAttrs = 1};
  int n = -1;
  ASSERT_CU_OK(cuOccupancyMaxActiveClusters(&n, f, &cfg));
  ASSERT_EQ(n, 0); /* no cluster can be resident on a device that launches none */
  ASSERT_CU(cuOccupancyMaxActiveClusters(NULL, f, &cfg), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuOccupancyMaxActiveClusters(&n, f, NULL), CUDA_ERROR_INVALID_VALUE);
}

/* grid.sync() as nvcc 13 compiles it (softgpu/tests/ptx/src/gridsync.cu), reduced to the pattern:
 * thread 0 of each block counts its block into out[0], then the grid barrier on the workspace
 * counter at %envreg1:%envreg2 + 4, then every block's thread 0 copies out[0] to out[1 + block]. */
static const char GRID_SYNC_PTX[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry gsync(.param .u64 out)\n{\n"
    ".reg .b32 %r<16>;\n.reg .b64 %rd<8>;\n.reg .pred %p<4>;\n"
    "ld.param.u64 %rd1, [out];\n"
    "mov.u32 %r1, %envreg2;\ncvt.u64.u32 %rd2, %r1;\n"
    "mov.u32 %r2, %envreg1;\ncvt.u64.u32 %rd3, %r2;\n"
    "bfi.b64 %rd4, %rd3, %rd2, 32, 32;\n"
    "setp.ne.s64 %p3, %rd4, 0;\n@%p3 bra HAVE;\ntrap;\n"
    "HAVE:\n"
    "mov.u32 %r3, %tid.x;\nsetp.ne.u32 %p1, %r3, 0;\n"
    "@%p1 bra ARRIVED;\natom.global.add.u32 %r4, [%rd1], 1;\n"
    "ARRIVED:\nbarrier.sync 0;\n@%p1 bra AFTER;\n"
    "mov.u32 %r5, %ctaid.x;\nmov.u32 %r6, %nctaid.x;\nsetp.eq.u32 %p2, %r5, 0;\n"
    "mov.u32 %r7, -2147483647;\nsub.s32 %r8, %r7, %r6;\nselp.b32 %r9, %r8, 1, %p2;\n"
    "add.s64 %rd5, %rd4, 4;\natom.add.release.gpu.u32 %r10, [%rd5], %r9;\n"
    "SPIN:\nld.acquire.gpu.u32 %r11, [%rd5];\nxor.b32 %r12, %r11, %r10;\nsetp.gt.s32 %p2, %r12, -1;\n@%p2 bra SPIN;\n"
    "AFTER:\nbarrier.sync 0;\n@%p1 bra DONE;\n"
    "ld.global.u32 %r13, [%rd1];\nmov.u32 %r14, %ctaid.x;\nmul.wide.u32 %rd6, %r14, 4;\nadd.s64 %rd7, %rd1, %rd6;\n"
    "st.global.u32 [%rd7+4], %r13;\n"
    "DONE:\nret;\n}\n";

/* A cooperative grid of every resident block runs to the end through its grid barrier, directly
 * and as a captured cooperative launch replayed twice (each run gets a fresh workspace); a normal
 * launch of the same kernel has no workspace, so it traps. */
TEST(module_cooperative_grid_sync) {
  sg_test_setup();
  CUmodule m;
  ASSERT_CU_OK(cuModuleLoadData(&m, GRID_SYNC_PTX));
  CUfunction f;
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "gsync"));
  int per_sm = 0, sms = 0;
  ASSERT_CU_OK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, f, 64, 0));
  ASSERT_CU_OK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  unsigned grid = (unsigned)(per_sm * sms);
  ASSERT_GT(grid, 1);
  if (grid > 64) grid = 64;
  CUdeviceptr out;
  ASSERT_CU_OK(cuMemAlloc(&out, 65 * 4));
  void *args[] = {&out};
  unsigned host[65];

  ASSERT_CU_OK(cuMemsetD32(out, 0, 65));
  ASSERT_CU_OK(cuLaunchCooperativeKernel(f, grid, 1, 1, 64, 1, 1, 0, NULL, args));
  ASSERT_CU_OK(cuMemcpyDtoH(host, out, sizeof host));
  for (unsigned b = 0; b <= grid; b++) ASSERT_EQ(host[b], grid);

  CUstream s;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUlaunchAttribute coop = {.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE};
  coop.value.cooperative = 1;
  CUlaunchConfig cfg = {grid, 1, 1, 64, 1, 1, 0, s, &coop, 1};
  CUgraph g;
  CUgraphExec x;
  ASSERT_CU_OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuMemsetD32Async(out, 0, 65, s));
  ASSERT_CU_OK(cuLaunchKernelEx(&cfg, f, args, NULL));
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  ASSERT_CU_OK(cuGraphInstantiate(&x, g, 0));
  for (int rep = 0; rep < 2; rep++) {
    memset(host, 0xff, sizeof host);
    ASSERT_CU_OK(cuGraphLaunch(x, s));
    ASSERT_CU_OK(cuStreamSynchronize(s));
    ASSERT_CU_OK(cuMemcpyDtoH(host, out, sizeof host));
    for (unsigned b = 0; b <= grid; b++) ASSERT_EQ(host[b], grid);
  }
  /* A capture checks the co-residency limit too. */
  cfg.gridDimX = (unsigned)(per_sm * sms + 1);
  ASSERT_CU_OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU(cuLaunchKernelEx(&cfg, f, args, NULL), CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
  CUgraph g2;
  cuStreamEndCapture(s, &g2);
  ASSERT_CU_OK(cuGraphExecDestroy(x));
  ASSERT_CU_OK(cuGraphDestroy(g));

  ASSERT_CU(cuLaunchKernel(f, grid, 1, 1, 64, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_ASSERT);
}
