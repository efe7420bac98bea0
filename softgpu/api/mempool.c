/*
 * Stream-ordered allocation and memory pools. softgpu executes synchronously, so an allocation
 * enqueued on a stream is made at once and a free enqueued on a stream returns the memory to the
 * arena at once: a pool never keeps freed memory, its reserved size is its used size, and
 * trimming has nothing to release. What a pool does track is what the API lets a program observe:
 * its attributes, the memory allocated from it, its maximum size, and which pool is each
 * device's current one. Allocations belong to no context (cuCtxDestroy does not free them, as
 * with the real driver); they are ordinary device memory otherwise (cuMemFree frees them too).
 */
#include "sg_api.h"
#include "sg_graph.h"

#include <stdlib.h>

typedef struct sg_pool {
  CUdevice dev;
  int is_default;
  int destroyed; /* handle gone, freed once its last allocation is */
  int reuse[3];  /* CU_MEMPOOL_ATTR_REUSE_* (1..3) */
  uint64_t threshold;
  uint64_t max_size; /* 0: no limit */
  uint64_t used, used_high, reserved_high;
} sg_pool;

/* Guards every pool's fields and the device tables; taken before the registry's own lock. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static sg_pool g_default[SG_MAX_DEVICES];
static int g_default_ready[SG_MAX_DEVICES];
static sg_pool *g_current[SG_MAX_DEVICES]; /* NULL: the default pool */

static void pool_init(sg_pool *p, CUdevice dev, int is_default) {
  *p = (sg_pool){.dev = dev, .is_default = is_default, .reuse = {1, 1, 1}};
}

/* Lock held. NULL when the registry has no room. */
static sg_pool *default_pool(CUdevice dev) {
  sg_pool *p = &g_default[dev];
  if (!g_default_ready[dev]) {
    pool_init(p, dev, 1);
    if (sg_reg_add(p, SG_OBJ_MEMPOOL, NULL, 0) != 0) return NULL;
    g_default_ready[dev] = 1;
  }
  return p;
}

/* Lock held. */
static sg_pool *current_pool(CUdevice dev) {
  return g_current[dev] ? g_current[dev] : default_pool(dev);
}

/* Lock held. */
static sg_pool *pool_of(CUmemoryPool h) {
  return h && sg_reg_find(h, SG_OBJ_MEMPOOL, NULL, NULL) ? (sg_pool *)h : NULL;
}

static CUresult pool_alloc(sg_pool *p, size_t size, CUdeviceptr *dptr) {
  if (p->max_size && (size > p->max_size || p->used > p->max_size - size)) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult rc = sg_devmem_alloc(NULL, size, dptr);
  if (rc) return rc;
  if (sg_reg_add((void *)(uintptr_t)*dptr, SG_OBJ_POOLMEM, p, size) != 0) {
    sg_devmem_free(*dptr);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  p->used += size;
  if (p->used > p->used_high) p->used_high = p->used;
  if (p->used > p->reserved_high) p->reserved_high = p->used;
  return CUDA_SUCCESS;
}

void sg_pool_forget(CUdeviceptr dptr) {
  void *owner;
  uint64_t size;
  pthread_mutex_lock(&g_lock);
  if (sg_reg_find((void *)(uintptr_t)dptr, SG_OBJ_POOLMEM, &owner, &size)) {
    sg_reg_remove((void *)(uintptr_t)dptr, SG_OBJ_POOLMEM);
    sg_pool *p = owner;
    p->used -= size;
    if (p->destroyed && p->used == 0) free(p);
  }
  pthread_mutex_unlock(&g_lock);
}

/* A capture would need a memory-allocation node, which softgpu's graphs do not have. */
static CUresult alloc_async(CUdeviceptr *dptr, size_t size, CUmemoryPool h, int from_pool, CUstream s) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  if (!dptr || size == 0) return CUDA_ERROR_INVALID_VALUE;
  if (sg_capture_on(s)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  pthread_mutex_lock(&g_lock);
  sg_pool *p = from_pool ? pool_of(h) : current_pool(c->dev);
  rc = p ? pool_alloc(p, size, dptr) : (from_pool ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY);
  pthread_mutex_unlock(&g_lock);
  return rc;
}

static CUresult free_async(CUdeviceptr dptr, CUstream s) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  if (dptr == 0) return CUDA_ERROR_INVALID_VALUE;
  if (sg_capture_on(s)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  sg_coherent_info ci;
  if (sg_coherent_lookup(dptr, &ci)) return CUDA_ERROR_INVALID_VALUE; /* managed or mapped memory */
  return sg_devmem_free(dptr);
}

SG_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  return alloc_async(dptr, bytesize, NULL, 0, hStream);
}
SG_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  return alloc_async(dptr, bytesize, NULL, 0, SG_PTSZ(hStream));
}
SG_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream) {
  return alloc_async(dptr, bytesize, pool, 1, hStream);
}
SG_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                                CUstream hStream) {
  return alloc_async(dptr, bytesize, pool, 1, SG_PTSZ(hStream));
}
SG_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) { return free_async(dptr, hStream); }
SG_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) {
  return free_async(dptr, SG_PTSZ(hStream));
}

/* ---- pools --------------------------------------------------------------------------------- */

static CUresult device_pool(CUmemoryPool *out, CUdevice dev, int current) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_lock);
  sg_pool *p = current ? current_pool(dev) : default_pool(dev);
  pthread_mutex_unlock(&g_lock);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  *out = (CUmemoryPool)p;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev) {
  return device_pool(pool_out, dev, 0);
}
SG_EXPORT CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev) { return device_pool(pool, dev, 1); }

SG_EXPORT CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  pthread_mutex_lock(&g_lock);
  sg_pool *p = pool_of(pool);
  if (p && p->dev == dev) g_current[dev] = p->is_default ? NULL : p;
  else rc = CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_unlock(&g_lock);
  return rc;
}

/* Device pools only: softgpu memory cannot be exported (MEMPOOL_SUPPORTED_HANDLE_TYPES is 0) and
 * it has no host pools (HOST_MEMORY_POOLS_SUPPORTED is 0). */
SG_EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!pool || !props || props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED) return CUDA_ERROR_INVALID_VALUE;
  if (props->handleTypes != CU_MEM_HANDLE_TYPE_NONE) return CUDA_ERROR_NOT_SUPPORTED;
  if (props->location.type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_NOT_SUPPORTED;
  if (sg_dev_check(props->location.id) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
  sg_pool *p = malloc(sizeof *p);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  pool_init(p, props->location.id, 0);
  p->max_size = props->maxSize;
  if (sg_reg_add(p, SG_OBJ_MEMPOOL, NULL, 0) != 0) {
    free(p);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pool = (CUmemoryPool)p;
  return CUDA_SUCCESS;
}

/* Outstanding allocations stay valid; the pool's memory goes once they are freed (cuda.h). */
SG_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  CUresult rc = CUDA_SUCCESS;
  pthread_mutex_lock(&g_lock);
  sg_pool *p = pool_of(pool);
  if (!p || p->is_default) rc = CUDA_ERROR_INVALID_VALUE;
  else {
    sg_reg_remove(p, SG_OBJ_MEMPOOL);
    if (g_current[p->dev] == p) g_current[p->dev] = NULL;
    p->destroyed = 1;
    if (p->used == 0) free(p);
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

SG_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep) {
  pthread_mutex_lock(&g_lock);
  CUresult rc = pool_of(pool) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_unlock(&g_lock);
  return rc;
}

SG_EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = CUDA_SUCCESS;
  pthread_mutex_lock(&g_lock);
  sg_pool *p = pool_of(pool);
  if (!p) rc = CUDA_ERROR_INVALID_VALUE;
  else switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
      p->reuse[attr - CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES] = *(int *)value != 0;
      break;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: p->threshold = *(cuuint64_t *)value; break;
    /* The high-water marks can only be reset, to the current value. */
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
      if (*(cuuint64_t *)value) rc = CUDA_ERROR_INVALID_VALUE;
      else p->reserved_high = p->used;
      break;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
      if (*(cuuint64_t *)value) rc = CUDA_ERROR_INVALID_VALUE;
      else p->used_high = p->used;
      break;
    default: rc = CUDA_ERROR_INVALID_VALUE;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

SG_EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = CUDA_SUCCESS;
  pthread_mutex_lock(&g_lock);
  sg_pool *p = pool_of(pool);
  if (!p) rc = CUDA_ERROR_INVALID_VALUE;
  else switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
      *(int *)value = p->reuse[attr - CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES];
      break;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: *(cuuint64_t *)value = p->threshold; break;
    /* Freed memory goes straight back to the arena: what is reserved is what is in use. */
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT: *(cuuint64_t *)value = p->used; break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: *(cuuint64_t *)value = p->reserved_high; break;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: *(cuuint64_t *)value = p->used_high; break;
    default: rc = CUDA_ERROR_INVALID_VALUE;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}
