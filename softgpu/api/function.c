/*
 * Function (and kernel) handles: attributes, parameter layout, names, and occupancy.
 * A CUkernel is the same object as a CUfunction here (see sg_module.h), so the cuKernel* forms
 * are the cuFunc* ones plus a device check.
 */
#include "sg_module.h"

CUresult sg_func_lookup(CUfunction h, sg_func **out) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  void *owner;
  if (!sg_reg_find(h, SG_OBJ_FUNC, &owner, NULL)) return CUDA_ERROR_INVALID_HANDLE;
  if (owner && !sg_reg_find(owner, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  *out = (sg_func *)h;
  return CUDA_SUCCESS;
}

static int optin_shared(void) {
  int v = 0;
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, &v);
  return v;
}

static CUresult get_attr(sg_func *f, CUfunction_attribute attrib, int *pi) {
  sg_ptx_attrs a;
  sg_ptx_kernel_attrs(f->k, &a);
  switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = a.max_threads_per_block; break;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: *pi = a.static_shared_bytes; break;
    case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES: *pi = a.const_bytes; break;
    case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: *pi = a.local_bytes; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: *pi = a.num_regs; break;
    /* The virtual architecture the function was compiled for (compute_75 -> 75), not the PTX ISA
     * version of the file: cub and thrust choose their tuning policies (and which of several
     * embedded kernel variants to launch) from it, and the ISA version (90 for .version 9.0) made
     * thrust's reductions fail and one cub sort go wrong silently. */
    case CU_FUNC_ATTRIBUTE_PTX_VERSION: *pi = a.target_arch; break;
    /* The code that runs is the PTX compiled for this device, as after a JIT. */
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *pi = sg_dev_cc_major() * 10 + sg_dev_cc_minor(); break;
    case CU_FUNC_ATTRIBUTE_CACHE_MODE_CA: *pi = 0; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
      pthread_mutex_lock(&f->lock);
      *pi = f->max_dyn_shared;
      pthread_mutex_unlock(&f->lock);
      break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      pthread_mutex_lock(&f->lock);
      *pi = f->carveout;
      pthread_mutex_unlock(&f->lock);
      break;
    case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE: *pi = 0; break;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

static CUresult set_attr(sg_func *f, CUfunction_attribute attrib, int value) {
  sg_ptx_attrs a;
  sg_ptx_kernel_attrs(f->k, &a);
  switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
      if (value < 0 || value > optin_shared() - a.static_shared_bytes) return CUDA_ERROR_INVALID_VALUE;
      pthread_mutex_lock(&f->lock);
      f->max_dyn_shared = value;
      pthread_mutex_unlock(&f->lock);
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      if (value < -1 || value > 100) return CUDA_ERROR_INVALID_VALUE;
      pthread_mutex_lock(&f->lock);
      f->carveout = value;
      pthread_mutex_unlock(&f->lock);
      return CUDA_SUCCESS;
    /* No thread-block clusters: only the values that mean "no cluster" are accepted. */
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
      return value == 0 ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
    /* A permission ("non-portable cluster sizes may be used"), not a requirement: granting it
     * changes nothing for a device that launches no clusters. cuBLAS sets it at start-up. */
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
      return value == 0 || value == 1 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}

SG_EXPORT CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc) {
  sg_func *f;
  CUresult rc = sg_func_lookup(hfunc, &f);
  if (rc) return rc;
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  return get_attr(f, attrib, pi);
}

SG_EXPORT CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  sg_func *f;
  CUresult rc = sg_func_lookup(hfunc, &f);
  return rc ? rc : set_attr(f, attrib, value);
}

SG_EXPORT CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev) {
  sg_func *f;
  CUresult rc = sg_func_lookup((CUfunction)kernel, &f);
  if (rc || (rc = sg_dev_check(dev))) return rc;
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  return get_attr(f, attrib, pi);
}

SG_EXPORT CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev) {
  sg_func *f;
  CUresult rc = sg_func_lookup((CUfunction)kernel, &f);
  if (rc || (rc = sg_dev_check(dev))) return rc;
  return set_attr(f, attrib, val);
}

static CUresult set_cache(CUfunction h, CUfunc_cache config) {
  sg_func *f;
  CUresult rc = sg_func_lookup(h, &f);
  if (rc) return rc;
  if ((unsigned)config > CU_FUNC_CACHE_PREFER_EQUAL) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&f->lock);
  f->cache_config = config;
  pthread_mutex_unlock(&f->lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config) { return set_cache(hfunc, config); }

SG_EXPORT CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  return rc ? rc : set_cache((CUfunction)kernel, config);
}

static CUresult param_info(CUfunction h, size_t idx, size_t *off, size_t *size) {
  sg_func *f;
  CUresult rc = sg_func_lookup(h, &f);
  if (rc) return rc;
  if (!off && !size) return CUDA_ERROR_INVALID_VALUE;
  if (idx >= (size_t)sg_ptx_param_count(f->k)) return CUDA_ERROR_INVALID_VALUE;
  size_t o, s;
  sg_ptx_status st = sg_ptx_param_info(f->k, (int)idx, &o, &s);
  if (st != SG_PTX_OK) return CUDA_ERROR_INVALID_VALUE;
  if (off) *off = o;
  if (size) *size = s;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize) {
  return param_info(func, paramIndex, paramOffset, paramSize);
}

SG_EXPORT CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize) {
  return param_info((CUfunction)kernel, paramIndex, paramOffset, paramSize);
}

SG_EXPORT CUresult cuFuncGetModule(CUmodule *hmod, CUfunction hfunc) {
  sg_func *f;
  CUresult rc = sg_func_lookup(hfunc, &f);
  if (rc) return rc;
  if (!hmod) return CUDA_ERROR_INVALID_VALUE;
  *hmod = (CUmodule)f->mod;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuFuncGetName(const char **name, CUfunction hfunc) {
  sg_func *f;
  CUresult rc = sg_func_lookup(hfunc, &f);
  if (rc) return rc;
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  *name = sg_ptx_kernel_name(f->k);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuKernelGetName(const char **name, CUkernel hfunc) { return cuFuncGetName(name, (CUfunction)hfunc); }

/* Loading is eager: every function is ready as soon as its module is. */
SG_EXPORT CUresult cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction function) {
  sg_func *f;
  CUresult rc = sg_func_lookup(function, &f);
  if (rc) return rc;
  if (!state) return CUDA_ERROR_INVALID_VALUE;
  *state = CU_FUNCTION_LOADING_STATE_LOADED;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuFuncLoad(CUfunction function) {
  sg_func *f;
  return sg_func_lookup(function, &f);
}

/* ---- occupancy ---------------------------------------------------------------------------------
 * The classic calculation against the limits softgpu reports, so that frameworks size their
 * grids the same way they would on the GPU described by cuDeviceGetAttribute. */

static int dev_attr(CUdevice_attribute a) {
  int v = 0;
  sg_dev_attribute(a, &v);
  return v;
}

int sg_func_blocks_per_sm(sg_func *f, int block, size_t dyn) {
  sg_ptx_attrs a;
  sg_ptx_kernel_attrs(f->k, &a);
  if (block <= 0 || block > a.max_threads_per_block || block > dev_attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK))
    return 0;
  int warps = (block + 31) / 32;
  int n = dev_attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR);
  int by_threads = dev_attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR) / (warps * 32);
  if (by_threads < n) n = by_threads;
  size_t smem = (size_t)a.static_shared_bytes + dyn;
  if (smem > (size_t)dev_attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)) return 0;
  if (smem > 0) {
    size_t by_smem = (size_t)dev_attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR) / smem;
    if (by_smem < (size_t)n) n = (int)by_smem;
  }
  /* Registers go to warps in units of 256 (8 per thread), as CUDA's occupancy calculator counts. */
  if (a.num_regs > 0) {
    int per_warp = (a.num_regs + 7) / 8 * 8 * 32;
    int by_regs = dev_attr(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR) / per_warp / warps;
    if (by_regs < n) n = by_regs;
  }
  return n;
}

/* softgpu launches no thread-block clusters (CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH is 0), so no
 * cluster of any shape can be resident: the answer is 0, which callers (cuBLAS) take as "use a
 * kernel without clusters". */
SG_EXPORT CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func, const CUlaunchConfig *config) {
  sg_func *f;
  CUresult rc = sg_func_lookup(func, &f);
  if (rc) return rc;
  if (!numClusters || !config) return CUDA_ERROR_INVALID_VALUE;
  *numClusters = 0;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func, int blockSize,
                                                                        size_t dynamicSMemSize, unsigned int flags) {
  sg_func *f;
  CUresult rc = sg_func_lookup(func, &f);
  if (rc) return rc;
  if (!numBlocks || (flags & ~(unsigned)CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE)) return CUDA_ERROR_INVALID_VALUE;
  *numBlocks = sg_func_blocks_per_sm(f, blockSize, dynamicSMemSize);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize,
                                                               size_t dynamicSMemSize) {
  return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, func, blockSize, dynamicSMemSize, 0);
}

SG_EXPORT CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize, CUfunction func,
                                                             CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                             size_t dynamicSMemSize, int blockSizeLimit,
                                                             unsigned int flags) {
  sg_func *f;
  CUresult rc = sg_func_lookup(func, &f);
  if (rc) return rc;
  if (!minGridSize || !blockSize || blockSizeLimit < 0) return CUDA_ERROR_INVALID_VALUE;
  if (flags & ~(unsigned)CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE) return CUDA_ERROR_INVALID_VALUE;
  sg_ptx_attrs a;
  sg_ptx_kernel_attrs(f->k, &a);
  int limit = a.max_threads_per_block;
  if (blockSizeLimit > 0 && blockSizeLimit < limit) limit = blockSizeLimit;
  int best_block = 0, best_blocks = 0;
  long best_threads = -1;
  for (int b = (limit + 31) / 32 * 32; b > 0; b -= 32) {
    int bs = b > limit ? limit : b;
    size_t dyn = blockSizeToDynamicSMemSize ? blockSizeToDynamicSMemSize(bs) : dynamicSMemSize;
    int n = sg_func_blocks_per_sm(f, bs, dyn);
    if ((long)n * bs > best_threads) {
      best_threads = (long)n * bs;
      best_block = bs;
      best_blocks = n;
    }
  }
  *blockSize = best_block;
  *minGridSize = best_blocks * sg_dev_sm_count();
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
                                                    CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                    size_t dynamicSMemSize, int blockSizeLimit) {
  return cuOccupancyMaxPotentialBlockSizeWithFlags(minGridSize, blockSize, func, blockSizeToDynamicSMemSize,
                                                   dynamicSMemSize, blockSizeLimit, 0);
}

SG_EXPORT CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dynamicSmemSize, CUfunction func, int numBlocks,
                                                           int blockSize) {
  sg_func *f;
  CUresult rc = sg_func_lookup(func, &f);
  if (rc) return rc;
  if (!dynamicSmemSize || numBlocks <= 0 || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
  sg_ptx_attrs a;
  sg_ptx_kernel_attrs(f->k, &a);
  if (sg_func_blocks_per_sm(f, blockSize, 0) < numBlocks) {
    *dynamicSmemSize = 0;
    return CUDA_SUCCESS;
  }
  size_t per_block = (size_t)dev_attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR) / (size_t)numBlocks;
  size_t optin = (size_t)dev_attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  if (per_block > optin) per_block = optin;
  *dynamicSmemSize = per_block > (size_t)a.static_shared_bytes ? per_block - (size_t)a.static_shared_bytes : 0;
  return CUDA_SUCCESS;
}
