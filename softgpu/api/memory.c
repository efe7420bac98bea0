/*
 * Device and host allocations. Device memory comes from the arena (sg_mem.c); each allocation is
 * registered with the context that made it, so destroying the context frees it. "Page-locked"
 * host memory is ordinary page-aligned memory: on the CPU every host buffer is already as fast
 * to copy as it gets, so registration is bookkeeping that makes the error codes right.
 */
#include "sg_api.h"

#include <stdlib.h>
#include <string.h>

void sg_mem_release_ctx(sg_ctx *c) {
  size_t n;
  void **keys = sg_reg_take_owned(c, SG_OBJ_HOSTMEM, &n);
  sg_coherent_info ci;
  /* Mapped page-locked memory is arena memory: it goes with the device allocations below. */
  for (size_t i = 0; i < n; i++)
    if (!sg_coherent_lookup((CUdeviceptr)(uintptr_t)keys[i], &ci)) free(keys[i]);
  free(keys);
  sg_coherent_release_ctx(c);
  sg_peer_release_ctx(c);
  keys = sg_reg_take_owned(c, SG_OBJ_DEVMEM, &n);
  for (size_t i = 0; i < n; i++) {
    sg_sync_memops_forget((CUdeviceptr)(uintptr_t)keys[i]);
    sg_mem_free((sg_devptr)(uintptr_t)keys[i]);
  }
  free(keys);
  keys = sg_reg_take_owned(c, SG_OBJ_HOSTREG, &n);
  free(keys);
}

static CUresult dev_alloc(sg_ctx *c, uint64_t size, CUdeviceptr *dptr) {
  sg_devptr p;
  if (size > sg_mem_total() || sg_mem_alloc(size, &p) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
  if (sg_reg_add((void *)(uintptr_t)p, SG_OBJ_DEVMEM, c, size) != 0) {
    sg_mem_free(p);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *dptr = (CUdeviceptr)p;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!dptr || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  return dev_alloc(c, bytesize, dptr);
}

/* Rows are padded to 512 bytes, the pitch alignment a GPU texture unit wants. */
SG_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                                      unsigned int ElementSizeBytes) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!dptr || !pPitch || WidthInBytes == 0 || Height == 0) return CUDA_ERROR_INVALID_VALUE;
  if (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16) return CUDA_ERROR_INVALID_VALUE;
  if (WidthInBytes > SIZE_MAX - 511) return CUDA_ERROR_OUT_OF_MEMORY;
  size_t pitch = (WidthInBytes + 511) & ~(size_t)511;
  if (Height > SIZE_MAX / pitch) return CUDA_ERROR_OUT_OF_MEMORY;
  rc = dev_alloc(c, (uint64_t)pitch * Height, dptr);
  if (rc == CUDA_SUCCESS) *pPitch = pitch;
  return rc;
}

CUresult sg_devmem_alloc(sg_ctx *owner, uint64_t size, CUdeviceptr *dptr) { return dev_alloc(owner, size, dptr); }

CUresult sg_devmem_free(CUdeviceptr dptr) {
  if (!sg_reg_remove((void *)(uintptr_t)dptr, SG_OBJ_DEVMEM)) return CUDA_ERROR_INVALID_VALUE;
  sg_sync_memops_forget(dptr);
  sg_pool_forget(dptr);
  sg_mem_free((sg_devptr)dptr);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (dptr == 0) return CUDA_SUCCESS; /* freeing NULL is a no-op, as cudaFree(NULL) relies on */
  if (sg_managed_free(dptr, &rc)) return rc;
  return sg_devmem_free(dptr);
}

SG_EXPORT CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!free_bytes || !total) return CUDA_ERROR_INVALID_VALUE;
  uint64_t t = sg_mem_total(), u = sg_mem_used();
  *total = (size_t)t;
  *free_bytes = (size_t)(u < t ? t - u : 0);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  sg_devptr base;
  uint64_t size;
  CUdeviceptr vbase;
  unsigned long long access;
  if (sg_vmm_range(dptr, &vbase, &size, &access) == 0) {
    base = (sg_devptr)vbase; /* a cuMemMap mapping */
  } else if (sg_mem_range((sg_devptr)dptr, &base, &size) != 0) {
    /* Page-locked host memory is in the unified address space too (known by its exact pointer). */
    uint64_t value;
    const void *h = (const void *)(uintptr_t)dptr;
    if (!sg_reg_find(h, SG_OBJ_HOSTMEM, NULL, &value) && !sg_reg_find(h, SG_OBJ_HOSTREG, NULL, &value))
      return CUDA_ERROR_NOT_FOUND;
    base = (sg_devptr)dptr;
    size = value & (((uint64_t)1 << 56) - 1);
  }
  if (pbase) *pbase = (CUdeviceptr)base;
  if (psize) *psize = (size_t)size;
  return CUDA_SUCCESS;
}

/* ---- host memory -------------------------------------------------------------------------------- */

/* Registry value of host memory: the size, with the allocation/registration flags in the top
 * byte (sizes beyond 2^56 bytes cannot exist on a host). */
#define HOST_VALUE(size, flags) ((uint64_t)(size) | ((uint64_t)(flags) << 56))
#define HOST_FLAGS(value) ((unsigned)((value) >> 56))
#define HOST_SIZE(value) ((value) & (((uint64_t)1 << 56) - 1))

typedef struct host_range {
  uintptr_t p;
  size_t n;
} host_range;

static int overlaps(const void *key, uint64_t value, void *arg) {
  const host_range *r = arg;
  uintptr_t base = (uintptr_t)key;
  return r->p < base + HOST_SIZE(value) && base < r->p + r->n;
}

/* Page-locked host memory (allocated or registered) that overlaps [p, p+n): 1 with its start and
 * registry value, else 0. The driver tracks ranges, not pointers: it finds a block from any
 * address inside it and refuses to register a range that overlaps one. */
static int host_find(sg_obj_type type, const void *p, size_t n, const void **key, uint64_t *value) {
  host_range r = {(uintptr_t)p, n};
  return sg_reg_search(type, overlaps, &r, key, value);
}

static void host_release(void *p) {
  if (!sg_mapped_free(p)) free(p);
}

static CUresult host_alloc(void **pp, size_t bytesize, unsigned flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pp || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  size_t page = 4096;
  if (bytesize > SIZE_MAX - page || bytesize >> 56) return CUDA_ERROR_OUT_OF_MEMORY;
  void *p;
  if (flags & CU_MEMHOSTALLOC_DEVICEMAP) { /* mapped: arena memory, which kernels reach */
    if ((rc = sg_mapped_alloc(c, bytesize, &p))) return rc;
  } else if (!(p = aligned_alloc(page, (bytesize + page - 1) & ~(page - 1)))) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if (sg_reg_add(p, SG_OBJ_HOSTMEM, c, HOST_VALUE(bytesize, flags)) != 0) {
    host_release(p);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pp = p;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) { return host_alloc(pp, bytesize, 0); }

SG_EXPORT CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags) {
  unsigned known = CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED;
  if (Flags & ~known) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return host_alloc(pp, bytesize, Flags);
}

SG_EXPORT CUresult cuMemFreeHost(void *p) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!p || !sg_reg_remove(p, SG_OBJ_HOSTMEM)) return CUDA_ERROR_INVALID_VALUE;
  host_release(p);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pdptr || !p || Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  sg_coherent_info ci;
  /* Only mapped memory has a device address: its own, as under unified addressing. */
  if (!sg_coherent_lookup((CUdeviceptr)(uintptr_t)p, &ci) || !ci.mapped) return CUDA_ERROR_INVALID_VALUE;
  *pdptr = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemHostGetDevicePointer(CUdeviceptr_v1 *pdptr, void *p, unsigned int Flags) {
  CUdeviceptr d = 0;
  CUresult rc = cuMemHostGetDevicePointer_v2(&d, p, Flags);
  if (rc == CUDA_SUCCESS) {
    if (d > UINT32_MAX) return CUDA_ERROR_INVALID_VALUE; /* the 32-bit ABI cannot hold it */
    *pdptr = (CUdeviceptr_v1)d;
  }
  return rc;
}

SG_EXPORT CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  unsigned known = CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_IOMEMORY |
                   CU_MEMHOSTREGISTER_READ_ONLY;
  if (!p || bytesize == 0 || (Flags & ~known)) return CUDA_ERROR_INVALID_VALUE;
  if (Flags & (CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY))
    return CUDA_ERROR_NOT_SUPPORTED;
  if (bytesize >> 56 || (uintptr_t)p > UINTPTR_MAX - bytesize) return CUDA_ERROR_INVALID_VALUE;
  const void *key;
  uint64_t value;
  if (host_find(SG_OBJ_HOSTREG, p, bytesize, &key, &value) || host_find(SG_OBJ_HOSTMEM, p, bytesize, &key, &value))
    return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
  if (sg_reg_add(p, SG_OBJ_HOSTREG, c, HOST_VALUE(bytesize, Flags)) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemHostUnregister(void *p) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  if (!sg_reg_remove(p, SG_OBJ_HOSTREG)) return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
  return CUDA_SUCCESS;
}

/* Flags of memory from cuMemHostAlloc/cuMemAllocHost, found from any address inside it. */
SG_EXPORT CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  const void *key;
  uint64_t value;
  if (!pFlags || !p || !host_find(SG_OBJ_HOSTMEM, p, 1, &key, &value)) return CUDA_ERROR_INVALID_VALUE;
  *pFlags = HOST_FLAGS(value);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags) {
  return cuMemHostRegister_v2(p, bytesize, Flags);
}
