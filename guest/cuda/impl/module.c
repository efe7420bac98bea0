/*
 * Modules, libraries, functions and kernels. Loading names the image by hash (image.c); a function
 * or kernel lookup brings back its parameter layout, kept with the guest handle, so that
 * cuFuncGetParamInfo/cuKernelGetParamInfo are local and a launch packs its parameters without a
 * round trip (launch.c).
 */
#include "vgcuda.h"

#include "coherent.h"

#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "layout.h"
#include "rpc.h"

static CUresult loading_mode_impl(CUmoduleLoadingMode *mode) {
  if (!mode) return CUDA_ERROR_INVALID_VALUE;
  /* EAGER would make every cudart instance ship every fatbin at start-up. */
  *mode = CU_MODULE_LAZY_LOADING;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode) { VG_TRACED(loading_mode_impl(mode)); }

/* Loads an image as a module (op cuModuleLoadData) or library (op cuLibraryLoadData). */
static CUresult load(uint32_t op, vg_hkind kind, void **out, const void *image) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  uint8_t hash[32];
  CUresult r = vg_image_ensure(image, hash);
  if (r) return r;
  vg_call c;
  if ((r = vg_call_begin(&c, op, 0))) return r;
  vg_put_raw(&c, hash, 32);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *out = vg_get_new_handle(&c, kind);
  return vg_call_end(&c, r);
}

/* The JIT log options of cuModuleLoadDataEx/cuLibraryLoadData: the host compiles nothing the guest
 * could read, so logs come back empty and their sizes zero. */
static void clear_jit_logs(unsigned n, const CUjit_option *opt, void **val) {
  if (!opt || !val) return;
  for (unsigned i = 0; i < n; i++) {
    switch (opt[i]) {
    case CU_JIT_INFO_LOG_BUFFER:
    case CU_JIT_ERROR_LOG_BUFFER:
      if (val[i]) *(char *)val[i] = '\0';
      break;
    case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
    case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
      val[i] = (void *)(uintptr_t)0;
      break;
    default:
      break;
    }
  }
}

VG_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  VG_TRACED(load(VG_OP_cuModuleLoadData, VG_H_MODULE, (void **)module, image));
}

VG_EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions, CUjit_option *options,
                                      void **optionValues) {
  if (numOptions && (!options || !optionValues)) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = load(VG_OP_cuModuleLoadData, VG_H_MODULE, (void **)module, image);
  if (r == CUDA_SUCCESS) clear_jit_logs(numOptions, options, optionValues);
  VG_TRACED(r);
}

VG_EXPORT CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin) {
  VG_TRACED(load(VG_OP_cuModuleLoadData, VG_H_MODULE, (void **)module, fatCubin));
}

VG_EXPORT CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions, void **jitOptionsValues,
                                     unsigned int numJitOptions, CUlibraryOption *libraryOptions,
                                     void **libraryOptionValues, unsigned int numLibraryOptions) {
  if ((numJitOptions && (!jitOptions || !jitOptionsValues)) ||
      (numLibraryOptions && (!libraryOptions || !libraryOptionValues)))
    return CUDA_ERROR_INVALID_VALUE;
  CUresult r = load(VG_OP_cuLibraryLoadData, VG_H_LIBRARY, (void **)library, code);
  if (r == CUDA_SUCCESS) clear_jit_logs(numJitOptions, jitOptions, jitOptionsValues);
  VG_TRACED(r);
}

/* A lookup whose reply is `u64 id, u32 n, n x (u32 offset, u32 size)`. */
static CUresult lookup(uint32_t op, vg_hkind owner_kind, const void *owner, const char *name, vg_hkind kind, void **out) {
  if (!out || (name == NULL && owner_kind != VG_H_KERNEL)) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, op, 0);
  if (r) return r;
  vg_put_handle(&c, owner_kind, owner, 0);
  if (name) vg_put_str(&c, name);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    uint64_t rid = vg_get_u64(&c);
    vg_layout *l = vg_layout_read(&c);
    if (!l) r = CUDA_ERROR_OUT_OF_MEMORY;
    else {
      l->library = kind == VG_H_KERNEL || owner_kind == VG_H_KERNEL;
      void *h = vg_handle_find(kind, rid);
      if (!h) h = vg_handle_new(kind, rid, l);
      else free(l);
      *out = h;
    }
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
  VG_TRACED(lookup(VG_OP_cuModuleGetFunction, VG_H_MODULE, hmod, name, VG_H_FUNCTION, (void **)hfunc));
}

VG_EXPORT CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name) {
  VG_TRACED(lookup(VG_OP_cuLibraryGetKernel, VG_H_LIBRARY, library, name, VG_H_KERNEL, (void **)pKernel));
}

VG_EXPORT CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel) {
  VG_TRACED(lookup(VG_OP_cuKernelGetFunction, VG_H_KERNEL, kernel, NULL, VG_H_FUNCTION, (void **)pFunc));
}

/* A module's variable; a __managed__ one (the reply names the driver's managed allocation holding
 * it) becomes coherent memory the host reads and writes at the same address (coherent.c). */
static CUresult get_global(uint32_t op, vg_hkind kind, const void *owner, const char *name, CUdeviceptr *dptr, size_t *bytes) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, op, 0);
  if (r) return r;
  vg_put_handle(&c, kind, owner, 0);
  vg_put_str(&c, name);
  r = vg_call_invoke(&c);
  uint64_t p = 0, n = 0, mbase = 0, msize = 0;
  void *initial = NULL;
  if (r == CUDA_SUCCESS) {
    p = vg_get_u64(&c);
    n = vg_get_u64(&c);
    mbase = vg_get_u64(&c);
    msize = vg_get_u64(&c);
    if (msize && msize <= VG_MAX_PAYLOAD && (initial = calloc(1, msize))) vg_get_bytes(&c, initial, msize);
  }
  if ((r = vg_call_end(&c, r)) == CUDA_SUCCESS && msize) {
    r = initial ? vg_coherent_adopt((CUdeviceptr)mbase, (size_t)msize, initial, owner, (int)kind) : CUDA_ERROR_OUT_OF_MEMORY;
  }
  free(initial);
  if (r) return r;
  if (dptr) *dptr = (CUdeviceptr)p;
  if (bytes) *bytes = (size_t)n;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name) {
  VG_TRACED(get_global(VG_OP_cuModuleGetGlobal_v2, VG_H_MODULE, hmod, name, dptr, bytes));
}

VG_EXPORT CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
  VG_TRACED(get_global(VG_OP_cuLibraryGetGlobal, VG_H_LIBRARY, library, name, dptr, bytes));
}

/* cudart finds each __managed__ variable of its fatbins with this call at start-up. */
VG_EXPORT CUresult cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
  VG_TRACED(get_global(VG_OP_cuLibraryGetManaged, VG_H_LIBRARY, library, name, dptr, bytes));
}

static CUresult param_info(const void *h, size_t idx, size_t *off, size_t *size) {
  const vg_layout *l = vg_layout_of(h);
  if (!l) return CUDA_ERROR_INVALID_HANDLE;
  if (idx >= l->n) return CUDA_ERROR_INVALID_VALUE;
  if (off) *off = l->p[idx].offset;
  if (size) *size = l->p[idx].size;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize) {
  VG_TRACED(param_info(func, paramIndex, paramOffset, paramSize));
}

VG_EXPORT CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize) {
  VG_TRACED(param_info(kernel, paramIndex, paramOffset, paramSize));
}
