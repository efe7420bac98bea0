/*
 * The two tables only the CUDA runtime uses: CUDART_INTERFACE and CONTEXT_CHECKS
 * (docs/reference/cudart-driver-interface.md §2.3).
 *
 * cudart 13 calls CUDART_INTERFACE[2] once per device during init, before it retains anything,
 * and later makes that handle current before cuDevicePrimaryCtxRetain: the handle must be the
 * primary context's, and asking for it must not activate it. The module loaders of older
 * runtimes ([1], [6], [8]) are not implemented; they fail visibly rather than load nothing.
 */
#include "vgcuda.h"

#include "darkapi.h"

/* ---- CUDART_INTERFACE ---- */

static CUresult get_primary_ctx_impl(CUcontext *out, CUdevice dev) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  return vg_primary_handle(dev, out);
}

static CUresult get_primary_ctx(CUcontext *out, CUdevice dev) { VG_TRACED(get_primary_ctx_impl(out, dev)); }

/* Slots whose meaning is known but that vgpu does not implement: the runtimes that need them
 * (pre-12 module loading) are not supported. */
static int g_unsup_logged[4];
static CUresult unsupported(int i, const char *name) {
  vg_log_once(&g_unsup_logged[i], VG_LOG_WARN, "CUDART_INTERFACE %s is not supported (runtime older than 12?)", name);
  return CUDA_ERROR_NOT_SUPPORTED;
}
static CUresult get_module_from_cubin(CUmodule *m, const void *wrapper) {
  VG_TRACED(unsupported(0, "[1] get_module_from_cubin"));
}
static CUresult get_module_from_cubin_ext1(CUmodule *m, const void *wrapper, void *a3, void *a4, unsigned a5) {
  VG_TRACED(unsupported(1, "[6] get_module_from_cubin_ext1"));
}
static CUresult cudart_fn7(size_t a1) { VG_TRACED(unsupported(2, "[7]")); }
static CUresult get_module_from_cubin_ext2(const void *fatbin, CUmodule *m, void *a3, void *a4, unsigned a5) {
  VG_TRACED(unsupported(3, "[8] get_module_from_cubin_ext2"));
}

/* cudart 13.1 asks the driver to load its JIT compilers (PTX compiler, NVVM) before first use.
 * vgpu's guest never compiles: PTX is shipped to the host, whose driver compiles it, so there is
 * nothing to load here and the request succeeds. */
static CUresult load_compilers(void) { VG_TRACED(CUDA_SUCCESS); }

static const vg_dark_slot cudart_slots[] = {
    {1, "get_module_from_cubin", (vg_dark_fn)get_module_from_cubin},
    {2, "get_primary_ctx", (vg_dark_fn)get_primary_ctx},
    {6, "get_module_from_cubin_ext1", (vg_dark_fn)get_module_from_cubin_ext1},
    {7, "fn7", (vg_dark_fn)cudart_fn7},
    {8, "get_module_from_cubin_ext2", (vg_dark_fn)get_module_from_cubin_ext2},
    {12, "load_compilers", (vg_dark_fn)load_compilers},
};

const vg_dark_desc vg_dark_cudart_desc = {
    .name = "CUDART_INTERFACE",
    .id = {0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9},
    .size_slot = 1,
    .nslots = 13,
    .known = cudart_slots,
    .nknown = sizeof cudart_slots / sizeof cudart_slots[0],
};

/* ---- CONTEXT_CHECKS ---- */

/* cudart asks after creating a context and before cudaDeviceSynchronize whether the context has
 * any of a set of conditions flagged (*flags != 0). vgpu contexts never carry them: the host's
 * driver reports real faults through the results of the calls themselves. */
static CUresult context_check_impl(CUcontext ctx, uint32_t *flags, void **detail) {
  if (ctx && ctx != (CUcontext)(intptr_t)-1) {
    CUresult r = vg_ctx_info(ctx, NULL, NULL);
    if (r) return r;
  }
  if (flags) *flags = 0;
  return CUDA_SUCCESS;
}

static CUresult context_check(CUcontext ctx, uint32_t *flags, void **detail) {
  VG_TRACED(context_check_impl(ctx, flags, detail));
}

/* Process-wide form of the same question, answered the same way. */
static uint32_t global_check(void) { return 0; }

static const vg_dark_slot checks_slots[] = {
    {2, "context_check", (vg_dark_fn)context_check},
    {3, "global_check", (vg_dark_fn)global_check},
};

const vg_dark_desc vg_dark_checks_desc = {
    .name = "CONTEXT_CHECKS",
    .id = {0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43, 0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e},
    .size_slot = 1,
    .nslots = 4,
    .known = checks_slots,
    .nknown = sizeof checks_slots / sizeof checks_slots[0],
};
