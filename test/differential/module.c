/*
 * Differential cases (docs/testing.md): modules, libraries, kernels, their parameter layouts and
 * globals, and kernel launches in every ABI form, with launch configurations past the device
 * limits, bad parameters, and functions, modules, libraries and streams used after they went.
 *   module KERNELS.fatbin   (test/differential/kernels.cu)
 */
#include <stdint.h>
#include <string.h>

#include "diff.h"

typedef __typeof__(&cuModuleLoadData) load_t;
typedef CUresult (*load_ex_t)(CUmodule *, const void *, unsigned int, CUjit_option *, void **);
typedef __typeof__(&cuModuleGetFunction) get_function_t;
typedef __typeof__(&cuModuleGetGlobal_v2) get_global_t;
typedef __typeof__(&cuLibraryLoadData) library_load_t;
typedef __typeof__(&cuLibraryGetKernel) get_kernel_t;
typedef __typeof__(&cuLibraryGetGlobal) library_global_t;
typedef __typeof__(&cuKernelGetFunction) kernel_function_t;
typedef __typeof__(&cuFuncGetParamInfo) func_param_t;
typedef __typeof__(&cuKernelGetParamInfo) kernel_param_t;
typedef __typeof__(&cuLaunchKernel) launch_t;
typedef __typeof__(&cuLaunchKernelEx) launch_ex_t;
typedef __typeof__(&cuLaunchCooperativeKernel) launch_coop_t;

static const unsigned char garbage[64] = "this is not a CUDA image, nor PTX, nor anything else at all";

static void modules(const void *fatbin) {
  CUmoduleLoadingMode mode = (CUmoduleLoadingMode)99;
  CALL(cuModuleGetLoadingMode, __typeof__(&cuModuleGetLoadingMode), "ok", &mode);
  printf("# loading mode %d\n", (int)mode);
  CALL(cuModuleGetLoadingMode, __typeof__(&cuModuleGetLoadingMode), "null", NULL); printf("cuModuleGetLoadingMode extra: 1\n");

  CUmodule m = NULL, m2 = NULL, gone = NULL;
  CALL(cuModuleLoadData, load_t, "fatbin", &m, fatbin);
  CALL(cuModuleLoadData, load_t, "null module", NULL, fatbin);
  CALL(cuModuleLoadData, load_t, "null image", &m2, NULL);
  CALL(cuModuleLoadData, load_t, "garbage", &m2, garbage);
  CALL(cuModuleLoadDataEx, load_ex_t, "no options", &gone, fatbin, 0, NULL, NULL);
  char log[256];
  memset(log, 'x', sizeof log);
  CUjit_option opts[] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {log, (void *)(uintptr_t)sizeof log};
  CALL(cuModuleLoadDataEx, load_ex_t, "info log options", &m2, fatbin, 2, opts, vals);
  SAY(cuModuleLoadDataEx, "info log terminated", "%d", memchr(log, 0, sizeof log) != NULL);
  CALL(cuModuleUnload, __typeof__(&cuModuleUnload), "the one with options", m2);
  CALL(cuModuleLoadDataEx, load_ex_t, "options count without arrays", &m2, fatbin, 2, NULL, NULL);
  CALL(cuModuleLoadDataEx, load_ex_t, "garbage", &m2, garbage, 0, NULL, NULL);
  CALL(cuModuleLoadFatBinary, load_t, "fatbin", &m2, fatbin);
  CALL(cuModuleUnload, __typeof__(&cuModuleUnload), "the fat binary one", m2);
  CALL(cuModuleLoadFatBinary, load_t, "garbage", &m2, garbage);
  CALL(cuModuleLoadFatBinary, load_t, "null module", NULL, fatbin);

  CUfunction f = NULL, stale = NULL;
  CALL(cuModuleGetFunction, get_function_t, "fill", &f, m, "fill");
  CALL(cuModuleGetFunction, get_function_t, "fill again", &stale, m, "fill");
  SAY(cuModuleGetFunction, "same handle twice", "%d", f == stale);
  CALL(cuModuleGetFunction, get_function_t, "unknown name", &stale, m, "no_such_kernel");
  CALL(cuModuleGetFunction, get_function_t, "a global's name", &stale, m, "table");
  CALL(cuModuleGetFunction, get_function_t, "null name", &stale, m, NULL);
  CALL(cuModuleGetFunction, get_function_t, "null out", NULL, m, "fill");
  CALL(cuModuleGetFunction, get_function_t, "null module", &stale, NULL, "fill");
  CALL(cuModuleGetFunction, get_function_t, "from the module to unload", &stale, gone, "fill");

  CUdeviceptr g = 0;
  size_t bytes = 0;
  CALL(cuModuleGetGlobal_v2, get_global_t, "table", &g, &bytes, m, "table");
  SAY(cuModuleGetGlobal_v2, "table size", "%zu", bytes);
  CALL(cuModuleGetGlobal_v2, get_global_t, "coeff", &g, &bytes, m, "coeff");
  SAY(cuModuleGetGlobal_v2, "coeff size", "%zu", bytes);
  CALL(cuModuleGetGlobal_v2, get_global_t, "size only", NULL, &bytes, m, "table");
  CALL(cuModuleGetGlobal_v2, get_global_t, "address only", &g, NULL, m, "table");
  float four[4] = {1, 2, 3, 4}, back[4] = {0};
  CALL(cuModuleGetGlobal_v2, get_global_t, "coeff for a copy", &g, &bytes, m, "coeff");
  CALL(cuMemcpyHtoD_v2, __typeof__(&cuMemcpyHtoD_v2), "into coeff", g, four, sizeof four);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "from coeff", back, g, sizeof back);
  SAY(cuMemcpyDtoH_v2, "coeff round trip", "%d", memcmp(four, back, sizeof four) == 0);
  CALL(cuModuleGetGlobal_v2, get_global_t, "unknown name", &g, &bytes, m, "no_such_global");
  CALL(cuModuleGetGlobal_v2, get_global_t, "a kernel's name", &g, &bytes, m, "fill");
  CALL(cuModuleGetGlobal_v2, get_global_t, "null name", &g, &bytes, m, NULL);
  CALL(cuModuleGetGlobal_v2, get_global_t, "null module", &g, &bytes, NULL, "table");

  CUfunction from_gone = NULL;
  CALL(cuModuleGetFunction, get_function_t, "fill of the module to unload", &from_gone, gone, "fill");
  CALL(cuModuleUnload, __typeof__(&cuModuleUnload), "ok", gone);
  CALL(cuModuleUnload, __typeof__(&cuModuleUnload), "twice", gone);
  CALL(cuModuleGetFunction, get_function_t, "unloaded module", &stale, gone, "fill");
  CALL(cuModuleGetGlobal_v2, get_global_t, "unloaded module", &g, &bytes, gone, "table");
  int v = 0;
  CALL(cuFuncGetAttribute, __typeof__(&cuFuncGetAttribute), "function of an unloaded module", &v,
       CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, from_gone);
  void *args[] = {&g, &v, &v};
  CUresult r = ((launch_t)diff_sym("cuLaunchKernel"))(from_gone, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL);
  diff_async("cuLaunchKernel", "function of an unloaded module", r,
             ((__typeof__(&cuCtxSynchronize))diff_sym("cuCtxSynchronize"))());
  CALL(cuModuleUnload, __typeof__(&cuModuleUnload), "null", NULL);
}

static void libraries(const void *fatbin, CUkernel *kernel_out) {
  CUlibrary lib = NULL, gone = NULL, other;
  CALL(cuLibraryLoadData, library_load_t, "fatbin", &lib, fatbin, NULL, NULL, 0, NULL, NULL, 0);
  CALL(cuLibraryLoadData, library_load_t, "the one to unload", &gone, fatbin, NULL, NULL, 0, NULL, NULL, 0);
  CALL(cuLibraryLoadData, library_load_t, "null library", NULL, fatbin, NULL, NULL, 0, NULL, NULL, 0);
  CALL(cuLibraryLoadData, library_load_t, "null code", &other, NULL, NULL, NULL, 0, NULL, NULL, 0);
  CALL(cuLibraryLoadData, library_load_t, "garbage", &other, garbage, NULL, NULL, 0, NULL, NULL, 0);
  CALL(cuLibraryLoadData, library_load_t, "jit option count without arrays", &other, fatbin, NULL, NULL, 1, NULL, NULL, 0);
  CALL(cuLibraryLoadData, library_load_t, "library option count without arrays", &other, fatbin, NULL, NULL, 0, NULL, NULL, 1);

  CUkernel k = NULL, k2 = NULL, stale = NULL;
  CALL(cuLibraryGetKernel, get_kernel_t, "fill", &k, lib, "fill");
  CALL(cuLibraryGetKernel, get_kernel_t, "fill again", &k2, lib, "fill");
  SAY(cuLibraryGetKernel, "same handle twice", "%d", k == k2);
  CALL(cuLibraryGetKernel, get_kernel_t, "unknown name", &stale, lib, "no_such_kernel");
  CALL(cuLibraryGetKernel, get_kernel_t, "null name", &stale, lib, NULL);
  CALL(cuLibraryGetKernel, get_kernel_t, "null out", NULL, lib, "fill");
  CALL(cuLibraryGetKernel, get_kernel_t, "null library", &stale, NULL, "fill");

  CUdeviceptr g = 0;
  size_t bytes = 0;
  CALL(cuLibraryGetGlobal, library_global_t, "table", &g, &bytes, lib, "table");
  SAY(cuLibraryGetGlobal, "table size", "%zu", bytes);
  CALL(cuLibraryGetGlobal, library_global_t, "size only", NULL, &bytes, lib, "coeff");
  SAY(cuLibraryGetGlobal, "coeff size", "%zu", bytes);
  CALL(cuLibraryGetGlobal, library_global_t, "unknown name", &g, &bytes, lib, "no_such_global");
  CALL(cuLibraryGetGlobal, library_global_t, "null name", &g, &bytes, lib, NULL);
  CALL(cuLibraryGetGlobal, library_global_t, "null library", &g, &bytes, NULL, "table");

  CUfunction f = NULL;
  CALL(cuKernelGetFunction, kernel_function_t, "fill", &f, k);
  CALL(cuKernelGetFunction, kernel_function_t, "null out", NULL, k);
  CALL(cuKernelGetFunction, kernel_function_t, "null kernel", &f, NULL);

  CUkernel gone_kernel = NULL;
  CALL(cuLibraryGetKernel, get_kernel_t, "fill of the library to unload", &gone_kernel, gone, "fill");
  CALL(cuLibraryUnload, __typeof__(&cuLibraryUnload), "ok", gone);
  CALL(cuLibraryUnload, __typeof__(&cuLibraryUnload), "twice", gone);
  CALL(cuLibraryGetKernel, get_kernel_t, "unloaded library", &stale, gone, "fill");
  CALL(cuLibraryGetGlobal, library_global_t, "unloaded library", &g, &bytes, gone, "table");
  CALL(cuKernelGetFunction, kernel_function_t, "kernel of an unloaded library", &f, gone_kernel);
  *kernel_out = k;
}

static void param_info(CUmodule m, CUkernel k) {
  CUfunction layout = NULL, fill = NULL;
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&layout, m, "layout"));
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&fill, m, "fill"));
  for (size_t i = 0; i < 5; i++) {
    size_t off = 99, size = 99;
    CUresult r = ((func_param_t)diff_sym("cuFuncGetParamInfo"))(layout, i, &off, &size);
    printf("cuFuncGetParamInfo layout %zu: %d = %zu, %zu\n", i, (int)r, r ? 0 : off, r ? 0 : size);
  }
  size_t off = 0, size = 0;
  CALL(cuFuncGetParamInfo, func_param_t, "size only", fill, 1, NULL, &size);
  SAY(cuFuncGetParamInfo, "size only value", "%zu", size);
  CALL(cuFuncGetParamInfo, func_param_t, "offset only", fill, 2, &off, NULL);
  SAY(cuFuncGetParamInfo, "offset only value", "%zu", off);
  CALL(cuFuncGetParamInfo, func_param_t, "null function", NULL, 0, &off, &size);
  for (size_t i = 0; i < 4; i++) {
    size_t o = 99, s = 99;
    CUresult r = ((kernel_param_t)diff_sym("cuKernelGetParamInfo"))(k, i, &o, &s);
    printf("cuKernelGetParamInfo fill %zu: %d = %zu, %zu\n", i, (int)r, r ? 0 : o, r ? 0 : s);
  }
  CALL(cuKernelGetParamInfo, kernel_param_t, "null kernel", NULL, 0, &off, &size);
  CALL(cuKernelGetParamInfo, kernel_param_t, "a function, not a kernel", (CUkernel)fill, 0, &off, &size);
  CUfunction nothing = NULL;
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&nothing, m, "nothing"));
  CALL(cuFuncGetParamInfo, func_param_t, "no parameters", nothing, 0, &off, &size);
}

static void clusters(CUfunction f) {
  CUlaunchConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.gridDimX = 4;
  cfg.gridDimY = cfg.gridDimZ = 1;
  cfg.blockDimX = 64;
  cfg.blockDimY = cfg.blockDimZ = 1;
  int n = -1;
  CUresult r = ((__typeof__(&cuOccupancyMaxActiveClusters))diff_sym("cuOccupancyMaxActiveClusters"))(&n, f, &cfg);
  /* Cluster support is a property of the device. */
  printf("# cuOccupancyMaxActiveClusters without clusters: %d = %d\n", (int)r, n);
  CALL(cuOccupancyMaxActiveClusters, __typeof__(&cuOccupancyMaxActiveClusters), "null out", NULL, f, &cfg);
  CALL(cuOccupancyMaxActiveClusters, __typeof__(&cuOccupancyMaxActiveClusters), "null config", &n, f, NULL);
  CALL(cuOccupancyMaxActiveClusters, __typeof__(&cuOccupancyMaxActiveClusters), "null function", &n, NULL, &cfg);
}

/* A launch configuration case: every form of launch gets the same configuration. The limit on
 * dynamic shared memory is the function's own (48 KiB unless raised with cuFuncSetAttribute),
 * which vgpu's guest does not know, so a launch past it fails at the next synchronisation
 * (`deferred`); every other limit is the device's and fails at the call. */
typedef struct launch_case {
  const char *label;
  unsigned g[3], b[3], shared;
  int deferred;
} launch_case;

static const launch_case configs[] = {
    {"4x64", {4, 1, 1}, {64, 1, 1}, 0, 0},
    {"block 1024", {1, 1, 1}, {1024, 1, 1}, 0, 0},
    {"block 2048", {1, 1, 1}, {2048, 1, 1}, 0, 0},
    {"block 1025", {1, 1, 1}, {1025, 1, 1}, 0, 0},
    {"block 32x32x2", {1, 1, 1}, {32, 32, 2}, 0, 0},
    {"block z 65", {1, 1, 1}, {1, 1, 65}, 0, 0},
    {"block y 1025", {1, 1, 1}, {1, 1025, 1}, 0, 0},
    {"block x 0", {1, 1, 1}, {0, 1, 1}, 0, 0},
    {"block z 0", {1, 1, 1}, {1, 1, 0}, 0, 0},
    {"grid 0", {0, 1, 1}, {32, 1, 1}, 0, 0},
    {"grid y 0", {1, 0, 1}, {32, 1, 1}, 0, 0},
    {"grid y 65536", {1, 65536, 1}, {32, 1, 1}, 0, 0},
    {"grid z 65536", {1, 1, 65536}, {32, 1, 1}, 0, 0},
    {"grid x 2^31", {0x80000000u, 1, 1}, {32, 1, 1}, 0, 0},
    {"shared 48 KiB", {1, 1, 1}, {32, 1, 1}, 48 * 1024, 0},
    {"shared 48 KiB + 1", {1, 1, 1}, {32, 1, 1}, 48 * 1024 + 1, 1},
    {"shared 1 MiB", {1, 1, 1}, {32, 1, 1}, 1 << 20, 0},
};

/* Launches fill over `out` with every form, for each configuration; f may be a CUkernel. */
static void launch_configs(const char *what, CUfunction f, CUdeviceptr out) {
  int base = 100, n = 256;
  void *args[] = {&out, &base, &n};
  CUresult (*sync)(void) = (CUresult(*)(void))diff_sym("cuCtxSynchronize");
  char label[128];
  for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
    const launch_case *c = &configs[i];
    snprintf(label, sizeof label, "%s %s", what, c->label);
    CUlaunchConfig cfg = {c->g[0], c->g[1], c->g[2], c->b[0], c->b[1], c->b[2], c->shared, NULL, NULL, 0};
    static const char *const forms[] = {"cuLaunchKernel", "cuLaunchKernel_ptsz", "cuLaunchKernelEx", "cuLaunchKernelEx_ptsz"};
    for (int form = 0; form < 4; form++) {
      void *fn = diff_sym(forms[form]);
      CUresult r = form < 2 ? ((launch_t)fn)(f, c->g[0], c->g[1], c->g[2], c->b[0], c->b[1], c->b[2], c->shared, NULL,
                                             args, NULL)
                            : ((launch_ex_t)fn)(&cfg, f, args, NULL);
      CUresult after = sync();
      if (c->deferred) diff_async(forms[form], label, r, after);
      else printf("%s %s: %d, then %d\n", forms[form], label, (int)r, (int)after);
    }
  }
}

/* A grid-wide barrier, through both cooperative entry points, in a grid sized by the occupancy
 * calculation (at most 8 blocks; the size is the device's and goes to a note), and the refusal of
 * one block more than can be resident at once, at the call. */
static void grid_sync(CUmodule m, CUstream s) {
  enum { BLOCK = 64, MAX_GRID = 8, N = 3000 };
  CUfunction f = NULL;
  CALL(cuModuleGetFunction, get_function_t, "grid_sum", &f, m, "grid_sum");
  int per_sm = 0, sms = 0;
  CALL(cuOccupancyMaxActiveBlocksPerMultiprocessor, __typeof__(&cuOccupancyMaxActiveBlocksPerMultiprocessor),
       "grid_sum", &per_sm, f, BLOCK, 0);
  ((__typeof__(&cuDeviceGetAttribute))diff_sym("cuDeviceGetAttribute"))(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0);
  unsigned resident = (unsigned)(per_sm * sms), grid = resident < MAX_GRID ? resident : MAX_GRID;
  printf("# grid_sum: %d blocks per multiprocessor, %d multiprocessors, grid of %u\n", per_sm, sms, grid);
  SAY(cuOccupancyMaxActiveBlocksPerMultiprocessor, "grid_sum fits two blocks at once", "%d", resident >= 2);
  if (grid < 2) return;
  int host[N], want = 0;
  for (int i = 0; i < N; i++) want += host[i] = i % 17 - 3;
  CUdeviceptr in = 0, partial = 0, out = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&in, sizeof host));
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&partial, MAX_GRID * sizeof(int)));
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&out, MAX_GRID * sizeof(int)));
  MUST(((__typeof__(&cuMemcpyHtoD_v2))diff_sym("cuMemcpyHtoD_v2"))(in, host, sizeof host));
  int n = N, back[MAX_GRID];
  void *args[] = {&in, &partial, &out, &n};
  CALL(cuLaunchCooperativeKernel, launch_coop_t, "grid sync", f, grid, 1, 1, BLOCK, 1, 1, 0, s, args);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after grid sync", s);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "grid sync result", back, out, grid * sizeof(int));
  int same = 1;
  for (unsigned b = 0; b < grid; b++) same &= back[b] == want;
  SAY(cuLaunchCooperativeKernel, "every block summed every block's partial", "%d", same);

  MUST(((__typeof__(&cuMemsetD32_v2))diff_sym("cuMemsetD32_v2"))(out, 0, MAX_GRID));
  CUlaunchAttribute attr;
  memset(&attr, 0, sizeof attr);
  attr.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
  attr.value.cooperative = 1;
  CUlaunchConfig cfg = {grid, 1, 1, BLOCK, 1, 1, 0, s, &attr, 1};
  CALL(cuLaunchKernelEx, launch_ex_t, "cooperative attribute, grid sync", &cfg, f, args, NULL);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the cooperative Ex launch", s);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "cooperative Ex result", back, out, grid * sizeof(int));
  same = 1;
  for (unsigned b = 0; b < grid; b++) same &= back[b] == want;
  SAY(cuLaunchKernelEx, "cooperative: every block summed every block's partial", "%d", same);

  CALL(cuLaunchCooperativeKernel, launch_coop_t, "one block more than is resident", f, resident + 1, 1, 1, BLOCK, 1,
       1, 0, s, args);
  CALL(cuLaunchCooperativeKernel_ptsz, launch_coop_t, "one block more than is resident", f, resident + 1, 1, 1,
       BLOCK, 1, 1, 0, NULL, args);
  cfg.gridDimX = resident + 1;
  CALL(cuLaunchKernelEx, launch_ex_t, "cooperative, one block more than is resident", &cfg, f, args, NULL);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the refusals", s);
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(in));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(partial));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(out));
}

/* A captured kernel node's parameters, through both forms: function, configuration and values. */
static void kernel_node(CUfunction fill, CUstream s, CUdeviceptr out) {
  typedef CUresult (*params_v1_t)(CUgraphNode, CUDA_KERNEL_NODE_PARAMS_v1 *);
  typedef CUresult (*params_v2_t)(CUgraphNode, CUDA_KERNEL_NODE_PARAMS_v2 *);
  CUgraph g = NULL;
  int base = 11, n = 100;
  void *args[] = {&out, &base, &n};
  MUST(((__typeof__(&cuStreamBeginCapture_v2))diff_sym("cuStreamBeginCapture_v2"))(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  MUST(((launch_t)diff_sym("cuLaunchKernel"))(fill, 3, 2, 1, 32, 2, 1, 0, s, args, NULL));
  MUST(((__typeof__(&cuStreamEndCapture))diff_sym("cuStreamEndCapture"))(s, &g));
  CUgraphNode node = NULL;
  size_t one = 1;
  MUST(((__typeof__(&cuGraphGetNodes))diff_sym("cuGraphGetNodes"))(g, &node, &one));
  CUgraphNodeType t = (CUgraphNodeType)-1;
  CALL(cuGraphNodeGetType, __typeof__(&cuGraphNodeGetType), "kernel node", node, &t);
  SAY(cuGraphNodeGetType, "kernel node", "%d", (int)t);
  CUDA_KERNEL_NODE_PARAMS_v2 p;
  memset(&p, 0, sizeof p);
  CALL(cuGraphKernelNodeGetParams_v2, params_v2_t, "captured launch", node, &p);
  SAY(cuGraphKernelNodeGetParams_v2, "configuration", "grid %u %u %u, block %u %u %u, shared %u, function %d",
      p.gridDimX, p.gridDimY, p.gridDimZ, p.blockDimX, p.blockDimY, p.blockDimZ, p.sharedMemBytes, p.func == fill);
  SAY(cuGraphKernelNodeGetParams_v2, "values", "%d", p.kernelParams && *(CUdeviceptr *)p.kernelParams[0] == out &&
      *(int *)p.kernelParams[1] == 11 && *(int *)p.kernelParams[2] == 100);
  CUDA_KERNEL_NODE_PARAMS_v1 p1;
  memset(&p1, 0, sizeof p1);
  CALL(cuGraphKernelNodeGetParams, params_v1_t, "captured launch", node, &p1);
  SAY(cuGraphKernelNodeGetParams, "configuration", "grid %u, block %u, function %d, values %d", p1.gridDimX,
      p1.blockDimY, p1.func == fill, p1.kernelParams && *(int *)p1.kernelParams[2] == 100);
  CALL(cuGraphKernelNodeGetParams_v2, params_v2_t, "null params", node, NULL);
  CALL(cuGraphKernelNodeGetParams_v2, params_v2_t, "null node", NULL, &p);
  CALL(cuGraphKernelNodeGetParams, params_v1_t, "null params", node, NULL);
  /* A memset node is not a kernel node. */
  CUgraph g2 = NULL;
  MUST(((__typeof__(&cuStreamBeginCapture_v2))diff_sym("cuStreamBeginCapture_v2"))(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(out, 1, 4, s));
  MUST(((__typeof__(&cuStreamEndCapture))diff_sym("cuStreamEndCapture"))(s, &g2));
  CUgraphNode set = NULL;
  one = 1;
  MUST(((__typeof__(&cuGraphGetNodes))diff_sym("cuGraphGetNodes"))(g2, &set, &one));
  CALL(cuGraphKernelNodeGetParams_v2, params_v2_t, "memset node", set, &p);
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g2));
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g));
}

static void launches(CUmodule m, CUkernel k) {
  CUfunction fill = NULL, nothing = NULL, layout = NULL;
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&fill, m, "fill"));
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&nothing, m, "nothing"));
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&layout, m, "layout"));
  CUdeviceptr out = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&out, 256 * sizeof(int)));
  CUstream s = NULL, gone = NULL;
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&s, CU_STREAM_NON_BLOCKING));
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&gone, 0));
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(gone));

  int host[256];
  int base = 7, n = 256;
  void *args[] = {&out, &base, &n};
  CALL(cuLaunchKernel, launch_t, "fill 4x64", fill, 4, 1, 1, 64, 1, 1, 0, s, args, NULL);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after fill", s);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "fill result", host, out, sizeof host);
  SAY(cuLaunchKernel, "fill wrote base + i", "%d", host[0] == 7 && host[255] == 262);
  struct {
    CUdeviceptr out;
    int base, n;
  } packed = {out, 1000, 256};
  size_t packed_size = sizeof packed;
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &packed_size, CU_LAUNCH_PARAM_END};
  CALL(cuLaunchKernel_ptsz, launch_t, "fill through extra", fill, 2, 1, 1, 128, 1, 1, 0, NULL, NULL, extra);
  CALL(cuStreamSynchronize_ptsz, __typeof__(&cuStreamSynchronize), "after fill through extra", NULL);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "fill through extra result", host, out, sizeof host);
  SAY(cuLaunchKernel_ptsz, "extra wrote base + i", "%d", host[0] == 1000 && host[255] == 1255);
  CUlaunchAttribute attr;
  memset(&attr, 0, sizeof attr);
  attr.id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
  attr.value.priority = 0;
  base = 50;
  CUlaunchConfig cfg = {1, 1, 1, 256, 1, 1, 0, s, &attr, 1};
  CALL(cuLaunchKernelEx, launch_ex_t, "fill with a priority attribute", &cfg, fill, args, NULL);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the Ex launch", s);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "Ex result", host, out, sizeof host);
  SAY(cuLaunchKernelEx, "wrote base + i", "%d", host[0] == 50 && host[255] == 305);
  cfg.hStream = NULL;
  cfg.numAttrs = 0;
  base = 60;
  CALL(cuLaunchKernelEx_ptsz, launch_ex_t, "fill on the per-thread stream", &cfg, fill, args, NULL);
  CALL(cuStreamSynchronize_ptsz, __typeof__(&cuStreamSynchronize), "after the Ex per-thread launch", NULL);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "Ex per-thread result", host, out, sizeof host);
  SAY(cuLaunchKernelEx_ptsz, "wrote base + i", "%d", host[0] == 60 && host[255] == 315);

  /* Parameters and handles; fire-and-forget launches report through diff_async. */
  CUresult (*sync)(void) = (CUresult(*)(void))diff_sym("cuCtxSynchronize");
  CUresult r;
  r = ((launch_t)diff_sym("cuLaunchKernel"))(fill, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
  diff_async("cuLaunchKernel", "parameters missing", r, sync());
  r = ((launch_t)diff_sym("cuLaunchKernel"))(fill, 1, 1, 1, 32, 1, 1, 0, NULL, args, extra);
  diff_async("cuLaunchKernel", "kernelParams and extra", r, sync());
  r = ((launch_t)diff_sym("cuLaunchKernel"))(nothing, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
  diff_async("cuLaunchKernel", "no parameters needed", r, sync());
  size_t short_size = 4;
  void *short_extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &short_size, CU_LAUNCH_PARAM_END};
  r = ((launch_t)diff_sym("cuLaunchKernel"))(fill, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, short_extra);
  diff_async("cuLaunchKernel", "extra buffer too small", r, sync());
  void *no_size[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_END};
  r = ((launch_t)diff_sym("cuLaunchKernel"))(fill, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, no_size);
  diff_async("cuLaunchKernel", "extra without a size", r, sync());
  r = ((launch_t)diff_sym("cuLaunchKernel"))(NULL, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL);
  diff_async("cuLaunchKernel", "null function", r, sync());
  r = ((launch_t)diff_sym("cuLaunchKernel"))(fill, 1, 1, 1, 32, 1, 1, 0, gone, args, NULL);
  diff_async("cuLaunchKernel", "destroyed stream", r, sync());
  r = ((launch_t)diff_sym("cuLaunchKernel_ptsz"))(fill, 1, 1, 1, 32, 1, 1, 0, gone, args, NULL);
  diff_async("cuLaunchKernel_ptsz", "destroyed stream", r, sync());
  r = ((launch_ex_t)diff_sym("cuLaunchKernelEx"))(NULL, fill, args, NULL);
  diff_async("cuLaunchKernelEx", "null config", r, sync());
  r = ((launch_ex_t)diff_sym("cuLaunchKernelEx_ptsz"))(NULL, fill, args, NULL);
  diff_async("cuLaunchKernelEx_ptsz", "null config", r, sync());
  CUlaunchConfig bad = {1, 1, 1, 32, 1, 1, 0, NULL, NULL, 1};
  r = ((launch_ex_t)diff_sym("cuLaunchKernelEx"))(&bad, fill, args, NULL);
  diff_async("cuLaunchKernelEx", "attribute count without attributes", r, sync());
  bad.numAttrs = 0;
  bad.hStream = gone;
  r = ((launch_ex_t)diff_sym("cuLaunchKernelEx"))(&bad, fill, args, NULL);
  diff_async("cuLaunchKernelEx", "destroyed stream", r, sync());
  r = ((launch_ex_t)diff_sym("cuLaunchKernelEx"))(&cfg, NULL, args, NULL);
  diff_async("cuLaunchKernelEx", "null function", r, sync());

  /* layout: char, struct {char; double}, short, pointer. */
  long long res[3] = {0};
  CUdeviceptr lout = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&lout, sizeof res));
  char c = 5;
  struct {
    char c;
    double d;
  } pair = {3, 40.0};
  short sh = -9;
  void *largs[] = {&c, &pair, &sh, &lout};
  CALL(cuLaunchKernel, launch_t, "layout", layout, 1, 1, 1, 1, 1, 1, 0, NULL, largs, NULL);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "layout result", res, lout, sizeof res);
  SAY(cuLaunchKernel, "layout values", "%lld %lld %lld", res[0], res[1], res[2]);

  /* Cooperative launches need CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH: the result must follow it. */
  int coop = -1;
  ((__typeof__(&cuDeviceGetAttribute))diff_sym("cuDeviceGetAttribute"))(&coop, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, 0);
  base = 1;
  r = ((launch_coop_t)diff_sym("cuLaunchCooperativeKernel"))(fill, 1, 1, 1, 32, 1, 1, 0, s, args);
  CUresult after = ((__typeof__(&cuStreamSynchronize))diff_sym("cuStreamSynchronize"))(s);
  SAY(cuLaunchCooperativeKernel, "follows the device attribute", "%d",
      coop == 1 ? (r == CUDA_SUCCESS && after == CUDA_SUCCESS) : r == CUDA_ERROR_NOT_SUPPORTED);
  printf("# cooperative launch attribute %d: %d, then %d\n", coop, (int)r, (int)after);
  r = ((launch_coop_t)diff_sym("cuLaunchCooperativeKernel_ptsz"))(fill, 1, 1, 1, 32, 1, 1, 0, NULL, args);
  after = sync();
  SAY(cuLaunchCooperativeKernel_ptsz, "follows the device attribute", "%d",
      coop == 1 ? (r == CUDA_SUCCESS && after == CUDA_SUCCESS) : r == CUDA_ERROR_NOT_SUPPORTED);
  CALL(cuLaunchCooperativeKernel, launch_coop_t, "null function", NULL, 1, 1, 1, 32, 1, 1, 0, NULL, args);
  CALL(cuLaunchCooperativeKernel_ptsz, launch_coop_t, "null function", NULL, 1, 1, 1, 32, 1, 1, 0, NULL, args);
  if (coop == 1) grid_sync(m, s);
  kernel_node(fill, s, out);

  /* Launch configurations, with a CUfunction and with a CUkernel passed as one (as cudart does). */
  launch_configs("function", fill, out);
  launch_configs("kernel", (CUfunction)k, out);
  CUfunction of_kernel = NULL;
  MUST(((kernel_function_t)diff_sym("cuKernelGetFunction"))(&of_kernel, k));
  launch_configs("function of a kernel", of_kernel, out);
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(s));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 2) {
    fprintf(stderr, "usage: module KERNELS.fatbin\n");
    return 2;
  }
  void *fatbin = diff_read_file(argv[1]);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  CUmodule none;
  CALL(cuModuleLoadData, load_t, "no context", &none, fatbin);
  CUlibrary lib_no_ctx = NULL;
  /* Libraries are context-independent: they load without a context. */
  CALL(cuLibraryLoadData, library_load_t, "no context", &lib_no_ctx, fatbin, NULL, NULL, 0, NULL, NULL, 0);
  CUcontext ctx;
  MUST(((__typeof__(&cuDevicePrimaryCtxRetain))diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, 0));
  MUST(((__typeof__(&cuCtxSetCurrent))diff_sym("cuCtxSetCurrent"))(ctx));
  modules(fatbin);
  CUkernel k = NULL;
  libraries(fatbin, &k);
  CUmodule m = NULL;
  MUST(((load_t)diff_sym("cuModuleLoadData"))(&m, fatbin));
  param_info(m, k);
  CUfunction fill = NULL;
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&fill, m, "fill"));
  clusters(fill);
  launches(m, k);
  return 0;
}
