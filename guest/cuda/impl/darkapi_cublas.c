/*
 * Table 21318c60-9714-3248-8ca6-41ff7324c8f2, which cuBLASLt 13 fetches when it chooses GEMM
 * kernels (cublasLtMatmulAlgoGetHeuristic). Without it cublasSgemm fails with
 * CUBLAS_STATUS_NOT_SUPPORTED (docs/reference/cudart-driver-interface.md §2.2).
 *
 * Only slot 4 is known to be used: the unique id of a context, the value cuCtxGetId reports,
 * which cuBLASLt uses to key its per-context kernel registry. The real table has about 90 slots;
 * all of them are present so that a call to another one fails with an error and a log line
 * rather than jumping through memory past the end of the table.
 */
#include "vgcuda.h"

#include "darkapi.h"

static CUresult context_id_impl(CUcontext ctx, unsigned long long *id) {
  if (!id) return CUDA_ERROR_INVALID_VALUE;
  return vg_ctx_id(ctx, id);
}

static CUresult context_id(CUcontext ctx, unsigned long long *id) { VG_TRACED(context_id_impl(ctx, id)); }

static const vg_dark_slot ctxinfo_slots[] = {
    {4, "context_id", (vg_dark_fn)context_id},
};

const vg_dark_desc vg_dark_ctxinfo_desc = {
    .name = "CUBLASLT_CONTEXT_INFO(21318c60)",
    .id = {0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2},
    .size_slot = 1,
    .nslots = 93,
    .known = ctxinfo_slots,
    .nknown = sizeof ctxinfo_slots / sizeof ctxinfo_slots[0],
};
