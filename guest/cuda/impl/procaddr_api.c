/*
 * cuGetProcAddress: (base name, cudaVersion, flags) -> the ABI variant the real driver returns,
 * from the generated table (guest/cuda/gen/procaddr.c, vg_procaddr_lookup). Local: cudart calls it
 * about 400 times at start-up.
 */
#include "vgcuda.h"

/* Generated: 0 found, 1 symbol not found, 2 version not sufficient (CUdriverProcAddressQueryResult),
 * -1 flags invalid. */
int vg_procaddr_lookup(const char *symbol, int cudaVersion, uint64_t flags, void **pfn);

/* *st: the lookup's outcome for the trace (0 found, 1 not found, 2 version not sufficient, 3 invalid). */
static CUresult lookup_impl(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                            CUdriverProcAddressQueryResult *status, int *st_out) {
  *st_out = 3;
  if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
  *pfn = NULL;
  if (status) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  if (cudaVersion > vg_driver_version()) return CUDA_ERROR_INVALID_VALUE;
  *st_out = 1;
  if (!*symbol) return CUDA_ERROR_NOT_FOUND;
  void *fn = NULL;
  int st = vg_procaddr_lookup(symbol, cudaVersion, flags, &fn);
  if (st < 0) { /* flags outside LEGACY_STREAM | PER_THREAD_DEFAULT_STREAM */
    *st_out = 3;
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (st == CU_GET_PROC_ADDRESS_SUCCESS && fn) {
    *pfn = fn;
    if (status) *status = CU_GET_PROC_ADDRESS_SUCCESS;
    *st_out = 0;
    return CUDA_SUCCESS;
  }
  if (status)
    *status = st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                                               : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  *st_out = st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT ? 2 : 1;
  return CUDA_ERROR_NOT_FOUND;
}

/* Traced as a lookup (counted for the summary line, log.h), not as a call of its own. */
static CUresult lookup(const char *fn_name, const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *status) {
  uint64_t t0 = vg_log_enabled(VG_LOG_DEBUG) ? vg_now_ns() : 0;
  int st;
  CUresult r = lookup_impl(symbol, pfn, cudaVersion, flags, status, &st);
  if (t0) vg_trace_lookup(fn_name, symbol, cudaVersion, (uint64_t)flags, st, (int)r, t0);
  return r;
}

VG_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                       CUdriverProcAddressQueryResult *symbolStatus) {
  return lookup(__func__, symbol, pfn, cudaVersion, flags, symbolStatus);
}

/* The 11.3 ABI, without the status output. */
VG_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
  return lookup(__func__, symbol, pfn, cudaVersion, flags, NULL);
}
