/*
 * cuGetProcAddress: (base name, cudaVersion, flags) -> the ABI variant the real driver returns,
 * from the generated table (guest/cuda/gen/procaddr.c, vg_procaddr_lookup). Local: cudart calls it
 * about 400 times at start-up.
 */
#include "vgcuda.h"

/* Generated: 0 found, 1 symbol not found, 2 version not sufficient (CUdriverProcAddressQueryResult),
 * -1 flags invalid. */
int vg_procaddr_lookup(const char *symbol, int cudaVersion, uint64_t flags, void **pfn);

static CUresult lookup_impl(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                            CUdriverProcAddressQueryResult *status) {
  if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
  *pfn = NULL;
  if (status) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  if (cudaVersion > vg_driver_version()) return CUDA_ERROR_INVALID_VALUE;
  if (!*symbol) return CUDA_ERROR_NOT_FOUND;
  void *fn = NULL;
  int st = vg_procaddr_lookup(symbol, cudaVersion, flags, &fn);
  if (st < 0) return CUDA_ERROR_INVALID_VALUE; /* flags outside LEGACY_STREAM | PER_THREAD_DEFAULT_STREAM */
  if (st == CU_GET_PROC_ADDRESS_SUCCESS && fn) {
    *pfn = fn;
    if (status) *status = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
  }
  if (status)
    *status = st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                                               : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  if (vg_log_enabled(VG_LOG_DEBUG))
    vg_log(VG_LOG_DEBUG, "cuGetProcAddress(%s, %d, %llu): %s", symbol, cudaVersion, (unsigned long long)flags,
           st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT ? "version not sufficient" : "not found");
  return CUDA_ERROR_NOT_FOUND;
}

VG_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                       CUdriverProcAddressQueryResult *symbolStatus) {
  VG_TRACED(lookup_impl(symbol, pfn, cudaVersion, flags, symbolStatus));
}

/* The 11.3 ABI, without the status output. */
VG_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
  VG_TRACED(lookup_impl(symbol, pfn, cudaVersion, flags, NULL));
}
