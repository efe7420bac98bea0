/*
 * Modules and libraries: cuModuleLoad*, cuLibraryLoad*, function/kernel/global lookup and
 * function attributes. Loading extracts the PTX for the device's compute capability from the
 * image (fatbin wrapper, fatbin container or PTX text) and hands it to the PTX engine, which
 * parses and pre-decodes it once; launches then only run it (launch.c).
 */
#include "sg_module.h"

#include "culimits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sg_library {
  sg_module *mod;
} sg_library;

CUresult sg_ptx_status_to_cu(sg_ptx_status st) {
  switch (st) {
    case SG_PTX_OK: return CUDA_SUCCESS;
    case SG_PTX_ERR_PARSE: return CUDA_ERROR_INVALID_PTX;
    case SG_PTX_ERR_UNSUPPORTED: return CUDA_ERROR_NOT_SUPPORTED;
    case SG_PTX_ERR_NOT_FOUND: return CUDA_ERROR_NOT_FOUND;
    case SG_PTX_ERR_ILLEGAL_ADDRESS: return CUDA_ERROR_ILLEGAL_ADDRESS;
    case SG_PTX_ERR_MISALIGNED: return CUDA_ERROR_MISALIGNED_ADDRESS;
    case SG_PTX_ERR_LAUNCH: return CUDA_ERROR_INVALID_VALUE;
    case SG_PTX_ERR_OUT_OF_RESOURCES: return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
    case SG_PTX_ERR_TRAP: return CUDA_ERROR_ASSERT;
    case SG_PTX_ERR_NOMEM: return CUDA_ERROR_OUT_OF_MEMORY;
    case SG_PTX_ERR_CANCELLED: return CUDA_ERROR_LAUNCH_TIMEOUT;
    case SG_PTX_ERR_DEVICE_RUNTIME: return CUDA_ERROR_INVALID_PTX;
  }
  return CUDA_ERROR_UNKNOWN;
}

/* ---- loading -------------------------------------------------------------------------------- */

static void module_free(sg_module *m) {
  for (int i = 0; i < m->nfunc; i++) {
    sg_reg_remove(&m->funcs[i], SG_OBJ_FUNC);
    pthread_mutex_destroy(&m->funcs[i].lock);
  }
  free(m->funcs);
  sg_devptr d;
  uint64_t n;
  for (int i = 0; m->pm && sg_ptx_managed_var(m->pm, i, &d, &n); i++) sg_managed_var_remove((CUdeviceptr)d);
  if (m->pm) sg_ptx_unload(m->pm);
  free(m);
}

/* Writes the JIT logs the caller asked for: `err` into the error log (empty after a load that
 * worked), nothing into the info log (softgpu's "JIT" has nothing to say), and passes back the
 * bytes written to each, as cuda.h's *_LOG_BUFFER_SIZE_BYTES options ask. */
static void jit_logs(unsigned n, const CUjit_option *opts, void **vals, const char *err) {
  char *buf[2] = {NULL, NULL};
  size_t size[2] = {0, 0};
  int size_at[2] = {-1, -1};
  for (unsigned i = 0; i < n; i++) {
    int which = opts[i] == CU_JIT_ERROR_LOG_BUFFER || opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES;
    if (opts[i] == CU_JIT_INFO_LOG_BUFFER || opts[i] == CU_JIT_ERROR_LOG_BUFFER) buf[which] = vals[i];
    if (opts[i] == CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES || opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) {
      size[which] = (size_t)(uintptr_t)vals[i];
      size_at[which] = (int)i;
    }
  }
  const char *text[2] = {"", err};
  for (int w = 0; w < 2; w++) {
    size_t written = 0;
    if (buf[w] && size[w]) {
      int k = snprintf(buf[w], size[w], "%s", text[w]);
      written = k < 0 ? 0 : (size_t)k < size[w] ? (size_t)k : size[w] - 1;
    }
    if (size_at[w] >= 0) vals[size_at[w]] = (void *)(uintptr_t)written;
  }
}

static CUresult module_create(const void *image, sg_ctx *ctx, unsigned nopt, CUjit_option *opts, void **vals,
                              sg_module **out) {
  char err[400] = "";
  if (!image) return CUDA_ERROR_INVALID_VALUE;
  if (nopt > 0 && (!opts || !vals)) return CUDA_ERROR_INVALID_VALUE;
  int sm = sg_dev_cc_major() * 10 + sg_dev_cc_minor();
  char *ptx = NULL;
  size_t ptx_len = 0;
  sg_ptx_status st = sg_ptx_extract(image, 0, sm, &ptx, &ptx_len, err, sizeof err);
  if (st != SG_PTX_OK) {
    sg_diag_set(err);
    jit_logs(nopt, opts, vals, err);
    return st == SG_PTX_ERR_NOT_FOUND        ? CUDA_ERROR_NO_BINARY_FOR_GPU
           : st == SG_PTX_ERR_NOMEM          ? CUDA_ERROR_OUT_OF_MEMORY
           : st == SG_PTX_ERR_DEVICE_RUNTIME ? sg_ptx_status_to_cu(st)
                                             : CUDA_ERROR_INVALID_IMAGE;
  }
  sg_module *m = calloc(1, sizeof *m);
  if (!m) {
    free(ptx);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  m->ctx = ctx;
  st = sg_ptx_load(ptx, ptx_len, &m->pm, err, sizeof err);
  free(ptx);
  if (st != SG_PTX_OK) {
    sg_diag_set(err);
    jit_logs(nopt, opts, vals, err);
    m->pm = NULL;
    module_free(m);
    return sg_ptx_status_to_cu(st);
  }
  sg_devptr vd;
  uint64_t vn;
  for (int i = 0; sg_ptx_managed_var(m->pm, i, &vd, &vn); i++) {
    if (sg_managed_var_add((CUdeviceptr)vd, (size_t)vn)) {
      module_free(m); /* forgets the variables added so far */
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
  }
  int n = sg_ptx_kernel_count(m->pm);
  if (n > 0 && !(m->funcs = calloc((size_t)n, sizeof *m->funcs))) {
    module_free(m);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  for (int i = 0; i < n; i++) {
    sg_func *f = &m->funcs[i];
    f->mod = m;
    f->k = sg_ptx_kernel_at(m->pm, i);
    pthread_mutex_init(&f->lock, NULL);
    m->nfunc = i + 1;
    sg_ptx_attrs a;
    sg_ptx_kernel_attrs(f->k, &a);
    f->max_dyn_shared = a.static_shared_bytes < VG_CU_MAX_SHARED_PER_BLOCK ? VG_CU_MAX_SHARED_PER_BLOCK - a.static_shared_bytes : 0;
    f->carveout = -1;
    f->cache_config = CU_FUNC_CACHE_PREFER_NONE;
    if (sg_reg_add(f, SG_OBJ_FUNC, ctx, 0) != 0) {
      module_free(m);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
  }
  sg_diag_set("");
  jit_logs(nopt, opts, vals, "");
  *out = m;
  return CUDA_SUCCESS;
}

static CUresult module_load(CUmodule *module, const void *image, unsigned nopt, CUjit_option *opts, void **vals) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!module) return CUDA_ERROR_INVALID_VALUE;
  sg_output_flush(c); /* loading and unloading code are flush points (output.c) */
  sg_module *m;
  if ((rc = module_create(image, c, nopt, opts, vals, &m))) return rc;
  if (sg_reg_add(m, SG_OBJ_MODULE, c, 0) != 0) {
    module_free(m);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *module = (CUmodule)m;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) { return module_load(module, image, 0, NULL, NULL); }

SG_EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                      CUjit_option *options, void **optionValues) {
  return module_load(module, image, numOptions, options, optionValues);
}

SG_EXPORT CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin) {
  return module_load(module, fatCubin, 0, NULL, NULL);
}

/* Reads at most 1 GiB; the image must stay NUL-terminated for PTX text. */
SG_EXPORT CUresult cuModuleLoad(CUmodule *module, const char *fname) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!module || !fname) return CUDA_ERROR_INVALID_VALUE;
  FILE *f = fopen(fname, "rb");
  if (!f) return CUDA_ERROR_FILE_NOT_FOUND;
  char *buf = NULL;
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  if (len < 0 || len > (1l << 30) || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return CUDA_ERROR_INVALID_IMAGE;
  }
  if (!(buf = calloc((size_t)len + 1, 1))) {
    fclose(f);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  size_t got = fread(buf, 1, (size_t)len, f);
  fclose(f);
  rc = got == (size_t)len ? module_load(module, buf, 0, NULL, NULL) : CUDA_ERROR_FILE_NOT_FOUND;
  free(buf);
  return rc;
}

static CUresult module_lookup(CUmodule h, sg_module **out) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  void *owner;
  if (!sg_reg_find(h, SG_OBJ_MODULE, &owner, NULL)) return CUDA_ERROR_INVALID_HANDLE;
  if (owner && !sg_reg_find(owner, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  *out = (sg_module *)h;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuModuleUnload(CUmodule hmod) {
  sg_module *m;
  CUresult rc = module_lookup(hmod, &m);
  if (rc) return rc;
  if (m->library) return CUDA_ERROR_INVALID_HANDLE; /* a library's module goes with cuLibraryUnload */
  if (!sg_reg_remove(m, SG_OBJ_MODULE)) return CUDA_ERROR_INVALID_HANDLE;
  sg_output_flush(m->ctx);
  module_free(m);
  return CUDA_SUCCESS;
}

void sg_module_release_ctx(sg_ctx *c) {
  size_t n;
  void **keys = sg_reg_take_owned(c, SG_OBJ_MODULE, &n);
  for (size_t i = 0; i < n; i++) module_free(keys[i]);
  free(keys);
}

static sg_func *find_func(sg_module *m, const char *name) {
  for (int i = 0; i < m->nfunc; i++)
    if (strcmp(sg_ptx_kernel_name(m->funcs[i].k), name) == 0) return &m->funcs[i];
  return NULL;
}

SG_EXPORT CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
  sg_module *m;
  CUresult rc = module_lookup(hmod, &m);
  if (rc) return rc;
  if (!hfunc || !name) return CUDA_ERROR_INVALID_VALUE;
  sg_func *f = find_func(m, name);
  if (!f) return CUDA_ERROR_NOT_FOUND;
  *hfunc = (CUfunction)f;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuModuleGetFunctionCount(unsigned int *count, CUmodule mod) {
  sg_module *m;
  CUresult rc = module_lookup(mod, &m);
  if (rc) return rc;
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  *count = (unsigned)m->nfunc;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions, CUmodule mod) {
  sg_module *m;
  CUresult rc = module_lookup(mod, &m);
  if (rc) return rc;
  if (!functions && numFunctions) return CUDA_ERROR_INVALID_VALUE;
  for (unsigned i = 0; i < numFunctions && i < (unsigned)m->nfunc; i++) functions[i] = (CUfunction)&m->funcs[i];
  return CUDA_SUCCESS;
}

static CUresult get_global(sg_module *m, CUdeviceptr *dptr, size_t *bytes, const char *name) {
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  sg_devptr p;
  uint64_t size;
  sg_ptx_status st = sg_ptx_get_global(m->pm, name, &p, &size, NULL);
  if (st != SG_PTX_OK) return st == SG_PTX_ERR_NOT_FOUND ? CUDA_ERROR_NOT_FOUND : sg_ptx_status_to_cu(st);
  if (dptr) *dptr = (CUdeviceptr)p;
  if (bytes) *bytes = (size_t)size;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name) {
  sg_module *m;
  CUresult rc = module_lookup(hmod, &m);
  return rc ? rc : get_global(m, dptr, bytes, name);
}

SG_EXPORT CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!mode) return CUDA_ERROR_INVALID_VALUE;
  *mode = CU_MODULE_EAGER_LOADING;
  return CUDA_SUCCESS;
}

/* ---- libraries ------------------------------------------------------------------------------- */

SG_EXPORT CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                     void **jitOptionsValues, unsigned int numJitOptions,
                                     CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                     unsigned int numLibraryOptions) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!library || !code) return CUDA_ERROR_INVALID_VALUE;
  if (numLibraryOptions > 0 && (!libraryOptions || !libraryOptionValues)) return CUDA_ERROR_INVALID_VALUE;
  sg_output_flush_current(); /* a library is context-independent: the caller's context is flushed */
  sg_library *lib = calloc(1, sizeof *lib);
  if (!lib) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult rc = module_create(code, NULL, numJitOptions, jitOptions, jitOptionsValues, &lib->mod);
  if (rc) {
    free(lib);
    return rc;
  }
  lib->mod->library = lib;
  if (sg_reg_add(lib, SG_OBJ_LIBRARY, NULL, 0) != 0 || sg_reg_add(lib->mod, SG_OBJ_MODULE, NULL, 0) != 0) {
    sg_reg_remove(lib, SG_OBJ_LIBRARY);
    module_free(lib->mod);
    free(lib);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *library = (CUlibrary)lib;
  return CUDA_SUCCESS;
}

static CUresult library_lookup(CUlibrary h, sg_library **out) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!sg_reg_find(h, SG_OBJ_LIBRARY, NULL, NULL)) return CUDA_ERROR_INVALID_HANDLE;
  *out = (sg_library *)h;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuLibraryUnload(CUlibrary library) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!sg_reg_remove(library, SG_OBJ_LIBRARY)) return CUDA_ERROR_INVALID_HANDLE;
  sg_output_flush_current();
  sg_library *lib = (sg_library *)library;
  sg_reg_remove(lib->mod, SG_OBJ_MODULE);
  module_free(lib->mod);
  free(lib);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name) {
  sg_library *lib;
  CUresult rc = library_lookup(library, &lib);
  if (rc) return rc;
  if (!pKernel || !name) return CUDA_ERROR_INVALID_VALUE;
  sg_func *f = find_func(lib->mod, name);
  if (!f) return CUDA_ERROR_NOT_FOUND;
  *pKernel = (CUkernel)f;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuLibraryGetKernelCount(unsigned int *count, CUlibrary library) {
  sg_library *lib;
  CUresult rc = library_lookup(library, &lib);
  if (rc) return rc;
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  *count = (unsigned)lib->mod->nfunc;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int numKernels, CUlibrary library) {
  sg_library *lib;
  CUresult rc = library_lookup(library, &lib);
  if (rc) return rc;
  if (!kernels && numKernels) return CUDA_ERROR_INVALID_VALUE;
  for (unsigned i = 0; i < numKernels && i < (unsigned)lib->mod->nfunc; i++)
    kernels[i] = (CUkernel)&lib->mod->funcs[i];
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary library) {
  sg_library *lib;
  CUresult rc = library_lookup(library, &lib);
  if (rc) return rc;
  if (!pMod) return CUDA_ERROR_INVALID_VALUE;
  *pMod = (CUmodule)lib->mod;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
  sg_library *lib;
  CUresult rc = library_lookup(library, &lib);
  return rc ? rc : get_global(lib->mod, dptr, bytes, name);
}

/* A __managed__ variable's address; other variables are not found here, as with the driver. */
SG_EXPORT CUresult cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
  sg_library *lib;
  CUresult rc = library_lookup(library, &lib);
  if (rc) return rc;
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  sg_devptr p;
  uint64_t size;
  int managed = 0;
  if (sg_ptx_get_global(lib->mod->pm, name, &p, &size, &managed) != SG_PTX_OK || !managed) return CUDA_ERROR_NOT_FOUND;
  if (dptr) *dptr = (CUdeviceptr)p;
  if (bytes) *bytes = (size_t)size;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel) {
  sg_func *f;
  CUresult rc = sg_func_lookup((CUfunction)kernel, &f);
  if (rc) return rc;
  if (!pFunc) return CUDA_ERROR_INVALID_VALUE;
  *pFunc = (CUfunction)f;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel) {
  sg_func *f;
  CUresult rc = sg_func_lookup((CUfunction)kernel, &f);
  if (rc) return rc;
  if (!pLib) return CUDA_ERROR_INVALID_VALUE;
  if (!f->mod->library) return CUDA_ERROR_INVALID_HANDLE;
  *pLib = (CUlibrary)f->mod->library;
  return CUDA_SUCCESS;
}
