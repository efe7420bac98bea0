/*
 * Pointer attributes and unified addressing (docs/pointers.md). A pointer is one of:
 *  - page-locked host memory of this process (cuMemAllocHost, cuMemHostAlloc, cuMemHostRegister):
 *    answered here from hostmem.c's table;
 *  - device memory of the session (cuMemAlloc*, pitched, stream-ordered and pool allocations,
 *    module globals): the executor asks the host driver (vgPointerQuery) and translates the
 *    driver's contexts, pools and device ordinals into the guest's;
 *  - anything else (pageable host memory, NULL, foreign addresses): unknown, answered here as the
 *    driver answers for memory it does not know.
 *  - coherent memory (coherent.c): managed memory, answered here as the driver answers for it, and
 *    mapped page-locked memory, which is page-locked memory with a device pointer.
 * The device cannot reach the guest's other host memory, so unmapped page-locked memory has no
 * device pointer here (CU_POINTER_ATTRIBUTE_DEVICE_POINTER is refused, ACCESS_FLAGS is none): the
 * one place the answers differ from a local driver, which maps all page-locked memory into the
 * device's space.
 */
#include "vgcuda.h"

#include "coherent.h"
#include "rpc.h"

#include <string.h>

/* Modes of vgPointerQuery (src/executor/custom/pointer.ts). */
enum { MODE_CLASSIFY = 0, MODE_SINGLE = 1, MODE_MULTI = 2 };
/* Bytes the executor returns per attribute value (the largest, the P2P tokens, is 16). */
#define VALUE_SIZE 16
/* Most attributes one cuPointerGetAttributes call may ask for (CUDA 13 defines 21). */
#define MAX_ATTRS 64
/* CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL of memory the driver does not know. */
#define UNKNOWN_ORDINAL (-2)

/* Size of an attribute's value as cuda.h documents its type; 0 for values cuda.h does not define. */
static size_t attr_size(CUpointer_attribute a) {
  switch (a) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: return sizeof(CUcontext);
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: return sizeof(unsigned int);
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: return sizeof(CUdeviceptr);
    case CU_POINTER_ATTRIBUTE_HOST_POINTER: return sizeof(void *);
    case CU_POINTER_ATTRIBUTE_P2P_TOKENS: return sizeof(CUDA_POINTER_ATTRIBUTE_P2P_TOKENS);
    case CU_POINTER_ATTRIBUTE_BUFFER_ID: return sizeof(unsigned long long);
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: return sizeof(int);
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR: return sizeof(CUdeviceptr);
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE: return sizeof(size_t);
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: return sizeof(unsigned long long);
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS: return sizeof(unsigned int);
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: return sizeof(CUmemoryPool);
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: return sizeof(size_t);
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: return sizeof(CUdeviceptr);
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: return sizeof(unsigned long long);
    /* The booleans are ints, as cudart reads them. */
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
    case CU_POINTER_ATTRIBUTE_MAPPED:
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: return sizeof(int);
  }
  return 0;
}

/* Asks the executor about ptr. *found is 0 when ptr is not the session's device memory; otherwise
 * values (n * VALUE_SIZE bytes) holds the driver's answers with the session's handle ids. */
static CUresult query(CUdeviceptr ptr, unsigned mode, unsigned n, const CUpointer_attribute *attrs, int *found,
                      uint8_t *values) {
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_vgPointerQuery, 0);
  if (r) return r;
  vg_put_u64(&c, ptr);
  vg_put_u32(&c, mode);
  vg_put_u32(&c, n);
  for (unsigned i = 0; i < n; i++) vg_put_u32(&c, (uint32_t)attrs[i]);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    *found = vg_get_u8(&c) != 0;
    if (*found && mode != MODE_CLASSIFY) vg_get_bytes(&c, values, (uint64_t)n * VALUE_SIZE);
  }
  return vg_call_end(&c, r);
}

CUresult vg_ptr_is_device(CUdeviceptr p, int *is_device) {
  vg_hostmem_info hi;
  *is_device = 0;
  if (p == 0 || vg_hostmem_lookup((uintptr_t)p, &hi)) return CUDA_SUCCESS;
  return query(p, MODE_CLASSIFY, 0, NULL, is_device, NULL);
}

/* Copies an executor answer into the caller's variable, turning remote ids into guest handles. */
static CUresult from_executor(CUpointer_attribute a, const uint8_t *v, void *data) {
  uint64_t rid;
  switch (a) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      memcpy(&rid, v, 8);
      *(CUcontext *)data = rid ? (CUcontext)vg_handle_find(VG_H_CONTEXT, rid) : NULL;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: {
      memcpy(&rid, v, 8);
      void *h = NULL;
      if (rid && !(h = vg_handle_find(VG_H_MEMPOOL, rid)) && !(h = vg_handle_new(VG_H_MEMPOOL, rid, NULL)))
        return CUDA_ERROR_OUT_OF_MEMORY;
      *(CUmemoryPool *)data = (CUmemoryPool)h;
      return CUDA_SUCCESS;
    }
    default: memcpy(data, v, attr_size(a)); return CUDA_SUCCESS;
  }
}

/* One attribute of memory the guest answers for: its own host memory (hi) or unknown memory
 * (hi NULL). `lenient` (cuPointerGetAttributes) gives the default value where the single query
 * fails, as the driver does. */
static CUresult local_attr(const vg_hostmem_info *hi, CUdeviceptr p, CUpointer_attribute a, void *data, int lenient) {
  size_t n = attr_size(a);
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;
  vg_coh_info ci;
  if (hi && vg_coherent_lookup(hi->base, 0, &ci)) { /* mapped: the device reaches it */
    if (a == CU_POINTER_ATTRIBUTE_DEVICE_POINTER) {
      *(CUdeviceptr *)data = ci.dev + ((uintptr_t)p - ci.host);
      return CUDA_SUCCESS;
    }
    if (a == CU_POINTER_ATTRIBUTE_ACCESS_FLAGS) {
      *(unsigned int *)data = CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE;
      return CUDA_SUCCESS;
    }
  }
  if (!hi) {
    if (!lenient) return CUDA_ERROR_INVALID_VALUE;
    memset(data, 0, n);
    if (a == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL) *(int *)data = UNKNOWN_ORDINAL;
    return CUDA_SUCCESS;
  }
  switch (a) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = hi->ctx; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *(unsigned int *)data = CU_MEMORYTYPE_HOST; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
    case CU_POINTER_ATTRIBUTE_P2P_TOKENS:
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
      /* No device address reaches the guest's memory, so it has no device range or mapping (the
       * range is cuMemGetAddressRange's); tokens are for device memory only. */
      if (!lenient) return CUDA_ERROR_INVALID_VALUE;
      memset(data, 0, n);
      break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER: *(void **)data = (void *)(uintptr_t)p; break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = hi->id; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: {
      CUdevice dev;
      *(int *)data = vg_ctx_info(hi->ctx, &dev, NULL) == CUDA_SUCCESS ? (int)dev : 0;
      break;
    }
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = 1; break;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS: *(unsigned int *)data = CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE; break;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(CUmemoryPool *)data = NULL; break;
    default: memset(data, 0, n); break; /* the remaining booleans and the handle-type mask */
  }
  return CUDA_SUCCESS;
}

/* Managed memory, answered as the driver answers for it: device memory that is also host memory.
 * SYNC_MEMOPS is its device allocation's, which cuPointerSetAttribute sets in the driver. */
static CUresult managed_attr(const vg_coh_info *ci, CUdeviceptr p, CUpointer_attribute a, void *data) {
  size_t n = attr_size(a);
  switch (a) {
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: {
      int found = 0;
      uint8_t v[VALUE_SIZE];
      CUresult r = query(p, MODE_SINGLE, 1, &a, &found, v);
      if (r) return r;
      memcpy(data, v, sizeof(int));
      if (!found) *(int *)data = 0;
      break;
    }
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = ci->ctx; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *(unsigned int *)data = CU_MEMORYTYPE_DEVICE; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: *(CUdeviceptr *)data = p; break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER: *(void **)data = (void *)(uintptr_t)p; break;
    case CU_POINTER_ATTRIBUTE_P2P_TOKENS: return CUDA_ERROR_NOT_SUPPORTED;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = 1; break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = ci->id; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: {
      CUdevice dev;
      *(int *)data = vg_ctx_info(ci->ctx, &dev, NULL) == CUDA_SUCCESS ? (int)dev : 0;
      break;
    }
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: *(CUdeviceptr *)data = ci->dev; break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data = ci->size; break;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS: *(unsigned int *)data = CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE; break;
    default: memset(data, 0, n); break; /* no pool, no IPC or RDMA, no SYNC_MEMOPS */
  }
  return CUDA_SUCCESS;
}

/* Coherent memory known by the address asked about: managed memory, or the device pointer of a
 * registered range (answered as that host memory). 1 with *hi filled for the latter. */
static int coherent_kind(CUdeviceptr p, vg_coh_info *ci, vg_hostmem_info *hi, CUdeviceptr *host_p) {
  if (!vg_coherent_lookup((uintptr_t)p, 1, ci)) return 0;
  if (ci->kind == VG_COH_MANAGED) return 1;
  *host_p = ci->host + (p - ci->dev);
  return vg_hostmem_lookup((uintptr_t)*host_p, hi) ? 2 : 0;
}

static CUresult get_attribute(void *data, CUpointer_attribute a, CUdeviceptr p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!data || attr_size(a) == 0) return CUDA_ERROR_INVALID_VALUE;
  vg_hostmem_info hi;
  if (p == 0) return CUDA_ERROR_INVALID_VALUE;
  if (vg_hostmem_lookup((uintptr_t)p, &hi)) return local_attr(&hi, p, a, data, 0);
  vg_coh_info ci;
  CUdeviceptr hp;
  switch (coherent_kind(p, &ci, &hi, &hp)) {
    case 1: return managed_attr(&ci, p, a, data);
    case 2: return local_attr(&hi, hp, a, data, 0);
    default: break;
  }
  int found = 0;
  uint8_t v[VALUE_SIZE];
  CUresult r;
  if (a == CU_POINTER_ATTRIBUTE_P2P_TOKENS) {
    /* nvidia-p2p tokens name the host's GPU mapping to the host's kernel: useless in a guest. */
    if ((r = query(p, MODE_CLASSIFY, 0, NULL, &found, NULL))) return r;
    return found ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
  }
  if ((r = query(p, MODE_SINGLE, 1, &a, &found, v))) return r;
  if (!found) return local_attr(NULL, p, a, data, 0);
  return from_executor(a, v, data);
}

VG_EXPORT CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr) {
  VG_TRACED(get_attribute(data, attribute, ptr));
}

static CUresult get_attributes(unsigned n, CUpointer_attribute *attrs, void **data, CUdeviceptr p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (n == 0 || !attrs || !data) return CUDA_ERROR_INVALID_VALUE;
  if (n > MAX_ATTRS) return CUDA_ERROR_INVALID_VALUE;
  for (unsigned i = 0; i < n; i++) {
    if (!data[i] || attr_size(attrs[i]) == 0) return CUDA_ERROR_INVALID_VALUE;
  }
  vg_hostmem_info hi;
  if (p == 0 || vg_hostmem_lookup((uintptr_t)p, &hi)) {
    for (unsigned i = 0; i < n; i++) local_attr(p ? &hi : NULL, p, attrs[i], data[i], 1);
    return CUDA_SUCCESS;
  }
  vg_coh_info ci;
  CUdeviceptr hp;
  switch (coherent_kind(p, &ci, &hi, &hp)) {
    case 1:
      for (unsigned i = 0; i < n; i++) {
        CUresult r = managed_attr(&ci, p, attrs[i], data[i]);
        if (r) return r; /* P2P tokens are refused, as for device memory */
      }
      return CUDA_SUCCESS;
    case 2:
      for (unsigned i = 0; i < n; i++) local_attr(&hi, hp, attrs[i], data[i], 1);
      return CUDA_SUCCESS;
    default: break;
  }
  for (unsigned i = 0; i < n; i++) {
    if (attrs[i] == CU_POINTER_ATTRIBUTE_P2P_TOKENS) {
      /* See get_attribute; refused for device memory, the default for anything else. */
      int found = 0;
      CUresult r = query(p, MODE_CLASSIFY, 0, NULL, &found, NULL);
      if (r) return r;
      if (found) return CUDA_ERROR_NOT_SUPPORTED;
      for (unsigned j = 0; j < n; j++) local_attr(NULL, p, attrs[j], data[j], 1);
      return CUDA_SUCCESS;
    }
  }
  static __thread uint8_t values[MAX_ATTRS * VALUE_SIZE];
  int found = 0;
  CUresult r = query(p, MODE_MULTI, n, attrs, &found, values);
  if (r) return r;
  for (unsigned i = 0; i < n; i++) {
    r = found ? from_executor(attrs[i], values + (size_t)i * VALUE_SIZE, data[i]) : local_attr(NULL, p, attrs[i], data[i], 1);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes, void **data,
                                          CUdeviceptr ptr) {
  VG_TRACED(get_attributes(numAttributes, attributes, data, ptr));
}

/* Only SYNC_MEMOPS can be set, on device memory of the session: the guest's host memory and
 * unknown pointers are refused here, the rest is the executor's to check. */
static CUresult set_attribute(const void *value, CUpointer_attribute a, CUdeviceptr p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!value || a != CU_POINTER_ATTRIBUTE_SYNC_MEMOPS) return CUDA_ERROR_INVALID_VALUE;
  vg_hostmem_info hi;
  if (p == 0 || vg_hostmem_lookup((uintptr_t)p, &hi)) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuPointerSetAttribute, 0);
  if (r) return r;
  vg_put_u32(&c, (uint32_t)a);
  vg_put_u32(&c, *(const unsigned int *)value);
  vg_put_u64(&c, p);
  return vg_call_end(&c, vg_call_invoke(&c));
}

VG_EXPORT CUresult cuPointerSetAttribute(const void *value, CUpointer_attribute attribute, CUdeviceptr ptr) {
  VG_TRACED(set_attribute(value, attribute, ptr));
}

/* Page-locked host memory is answered here: its allocation (or registration) is the range. */
static CUresult address_range(CUdeviceptr *pbase, size_t *psize, CUdeviceptr p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_hostmem_info hi;
  if (p && vg_hostmem_lookup((uintptr_t)p, &hi)) {
    if (pbase) *pbase = hi.base;
    if (psize) *psize = hi.size;
    return CUDA_SUCCESS;
  }
  vg_coh_info ci;
  if (p && vg_coherent_lookup((uintptr_t)p, 1, &ci) && ci.kind == VG_COH_MANAGED) {
    if (pbase) *pbase = ci.dev;
    if (psize) *psize = ci.size;
    return CUDA_SUCCESS;
  }
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuMemGetAddressRange_v2, 0);
  if (r) return r;
  vg_put_u64(&c, p);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    CUdeviceptr base = (CUdeviceptr)vg_get_u64(&c);
    size_t size = (size_t)vg_get_u64(&c);
    if (pbase) *pbase = base;
    if (psize) *psize = size;
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
  VG_TRACED(address_range(pbase, psize, dptr));
}
