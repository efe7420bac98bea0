/*
 * Module functions answered locally. Loading itself is forwarded (generated stubs).
 */
#include "vgcuda.h"

static CUresult loading_mode_impl(CUmoduleLoadingMode *mode) {
  if (!mode) return CUDA_ERROR_INVALID_VALUE;
  /* EAGER would make every cudart instance ship every fatbin at start-up. */
  *mode = CU_MODULE_LAZY_LOADING;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode) { VG_TRACED(loading_mode_impl(mode)); }
