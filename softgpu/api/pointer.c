/*
 * cuPointerGetAttribute(s): what a pointer is (device allocation, managed memory, page-locked host
 * memory, mapped or not, or neither). Unified addressing makes this a lookup: device pointers are arena addresses, and
 * host memory is known by the exact pointer cuMemAllocHost/cuMemHostAlloc returned or
 * cuMemHostRegister was given (interior host pointers are not tracked and read as unknown).
 */
#include "sg_api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Allocations with CU_POINTER_ATTRIBUTE_SYNC_MEMOPS set (cuPointerSetAttribute), by base. */
static pthread_mutex_t g_sync_lock = PTHREAD_MUTEX_INITIALIZER;
static CUdeviceptr *g_sync;
static size_t g_nsync, g_capsync;

static int sync_index(CUdeviceptr base) {
  for (size_t i = 0; i < g_nsync; i++)
    if (g_sync[i] == base) return (int)i;
  return -1;
}

static int sync_memops(CUdeviceptr base) {
  pthread_mutex_lock(&g_sync_lock);
  int on = sync_index(base) >= 0;
  pthread_mutex_unlock(&g_sync_lock);
  return on;
}

void sg_sync_memops_forget(CUdeviceptr base) {
  pthread_mutex_lock(&g_sync_lock);
  int i = sync_index(base);
  if (i >= 0) g_sync[i] = g_sync[--g_nsync];
  pthread_mutex_unlock(&g_sync_lock);
}

static CUresult sync_memops_set(CUdeviceptr base, int on) {
  CUresult rc = CUDA_SUCCESS;
  pthread_mutex_lock(&g_sync_lock);
  int i = sync_index(base);
  if (on && i < 0) {
    if (g_nsync == g_capsync) {
      size_t cap = g_capsync ? g_capsync * 2 : 8;
      CUdeviceptr *n = realloc(g_sync, cap * sizeof *n);
      if (n) {
        g_sync = n;
        g_capsync = cap;
      }
    }
    if (g_nsync < g_capsync) g_sync[g_nsync++] = base;
    else rc = CUDA_ERROR_OUT_OF_MEMORY;
  } else if (!on && i >= 0) {
    g_sync[i] = g_sync[--g_nsync];
  }
  pthread_mutex_unlock(&g_sync_lock);
  return rc;
}

typedef struct ptr_info {
  CUmemorytype type; /* 0 when the pointer is not CUDA memory */
  sg_ctx *ctx;
  uint64_t base, size;
  int vmm; /* a cuMemMap mapping: no context, access as cuMemSetAccess gave it */
  unsigned long long access;
  int managed; /* cuMemAllocManaged: device memory that is host memory too */
  int mapped;  /* cuMemHostAlloc(DEVICEMAP): host memory that is device memory too */
} ptr_info;

static ptr_info classify(CUdeviceptr p) {
  ptr_info pi = {0, NULL, 0, 0, 0, 0, 0, 0};
  sg_devptr base;
  uint64_t size, value;
  void *owner = NULL;
  CUdeviceptr vbase;
  unsigned long long access;
  sg_coherent_info ci;
  if (sg_coherent_lookup(p, &ci)) {
    if (ci.mapped) return (ptr_info){CU_MEMORYTYPE_HOST, ci.ctx, ci.base, ci.size, 0, 0, 0, 1};
    return (ptr_info){CU_MEMORYTYPE_DEVICE, ci.ctx, ci.base, ci.size, 0, 0, 1, 0};
  }
  /* A mapping's range is the mapping (RANGE_START_ADDR/SIZE, MAPPING_BASE_ADDR/SIZE). */
  if (sg_vmm_range(p, &vbase, &size, &access) == 0)
    return (ptr_info){CU_MEMORYTYPE_DEVICE, NULL, vbase, size, 1, access, 0, 0};
  if (sg_mem_range((sg_devptr)p, &base, &size) == 0) {
    /* Module globals are arena memory too, but belong to no allocation record. */
    sg_reg_find((void *)(uintptr_t)base, SG_OBJ_DEVMEM, &owner, NULL);
    return (ptr_info){CU_MEMORYTYPE_DEVICE, owner, base, size, 0, 0, 0, 0};
  }
  const void *h = (const void *)(uintptr_t)p;
  if (sg_reg_find(h, SG_OBJ_HOSTMEM, &owner, &value) || sg_reg_find(h, SG_OBJ_HOSTREG, &owner, &value))
    return (ptr_info){CU_MEMORYTYPE_HOST, owner, p, value & ((1ull << 56) - 1), 0, 0, 0, 0};
  return pi;
}

/* Writes one attribute of a classified pointer. When `lenient` (cuPointerGetAttributes), unknown
 * pointers get the documented defaults and an attribute this kind of pointer has no value for
 * (a host pointer of device memory, ...) reads as 0/NULL, where cuPointerGetAttribute answers
 * CUDA_ERROR_INVALID_VALUE. */
static CUresult attribute(const ptr_info *pi, CUdeviceptr p, CUpointer_attribute a, void *data, int lenient) {
  int known = pi->type != 0;
  if (!known && !lenient) return CUDA_ERROR_INVALID_VALUE;
  int dev = pi->type == CU_MEMORYTYPE_DEVICE;
  switch (a) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = (CUcontext)pi->ctx; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *(unsigned *)data = (unsigned)pi->type; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      /* Host memory is mapped only when allocated so; it is then its own device address. */
      if (known && !dev && !pi->mapped && !lenient) return CUDA_ERROR_INVALID_VALUE;
      *(CUdeviceptr *)data = dev || pi->mapped ? p : 0;
      break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
      /* Device memory has no host alias, unless it is managed. */
      if (dev && !pi->managed && !lenient) return CUDA_ERROR_INVALID_VALUE;
      *(void **)data = known && (!dev || pi->managed) ? (void *)(uintptr_t)p : NULL;
      break;
    case CU_POINTER_ATTRIBUTE_P2P_TOKENS:
      /* There is no nvidia-p2p kernel interface to hand tokens to. */
      if (dev) return CUDA_ERROR_NOT_SUPPORTED;
      if (known && !lenient) return CUDA_ERROR_INVALID_VALUE;
      memset(data, 0, sizeof(CUDA_POINTER_ATTRIBUTE_P2P_TOKENS));
      break;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: *(int *)data = dev && !pi->vmm && sync_memops(pi->base); break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = known ? pi->base : 0; break;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(int *)data = pi->managed; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data = known ? 0 : -2; break;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE: *(int *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = known; break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
      if (known && !dev && !lenient) return CUDA_ERROR_INVALID_VALUE;
      *(CUdeviceptr *)data = dev ? pi->base : 0;
      break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
      if (known && !dev && !lenient) return CUDA_ERROR_INVALID_VALUE;
      *(size_t *)data = dev ? (size_t)pi->size : 0;
      break;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: *(unsigned long long *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: *(int *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
      /* Host memory is mapped into the device only when allocated so (DEVICEMAP). */
      if (pi->vmm)
        *(unsigned *)data = pi->access == CU_MEM_ACCESS_FLAGS_PROT_READWRITE ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE
                            : pi->access == CU_MEM_ACCESS_FLAGS_PROT_READ   ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READ
                                                                            : CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE;
      else
        *(unsigned *)data = dev || pi->mapped ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE : CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE;
      break;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(CUmemoryPool *)data = NULL; break;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: *(int *)data = 0; break;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute_, CUdeviceptr ptr) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!data) return CUDA_ERROR_INVALID_VALUE;
  ptr_info pi = classify(ptr);
  return attribute(&pi, ptr, attribute_, data, 0);
}

SG_EXPORT CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes, void **data,
                                          CUdeviceptr ptr) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (numAttributes == 0 || !attributes || !data) return CUDA_ERROR_INVALID_VALUE;
  ptr_info pi = classify(ptr);
  for (unsigned i = 0; i < numAttributes; i++) {
    if (!data[i]) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = attribute(&pi, ptr, attributes[i], data[i], 1);
    if (rc) return rc;
  }
  return CUDA_SUCCESS;
}

/* Only SYNC_MEMOPS can be set, and only on device allocations. softgpu's synchronous copies are
 * synchronous anyway, so the flag is kept for what cuPointerGetAttribute(s) answer. */
SG_EXPORT CUresult cuPointerSetAttribute(const void *value, CUpointer_attribute attribute_, CUdeviceptr ptr) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!value || attribute_ != CU_POINTER_ATTRIBUTE_SYNC_MEMOPS) return CUDA_ERROR_INVALID_VALUE;
  ptr_info pi = classify(ptr);
  if (pi.type != CU_MEMORYTYPE_DEVICE || pi.vmm) return CUDA_ERROR_INVALID_VALUE;
  return sync_memops_set(pi.base, *(const unsigned *)value != 0);
}
