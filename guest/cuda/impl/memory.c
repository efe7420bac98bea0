/*
 * Host<->device copies, hand-written because of their bulk data (docs/protocol.md, "Bulk data"):
 *  - from or to the shared region (page-locked memory, shm.c): one call naming the range;
 *  - synchronous, of pageable memory, 64 KiB or more, where the process has a region: staged
 *    through its block (vg_shm_stage_take), one vgShmHtoD/vgShmDtoH per 4 MiB piece;
 *  - HtoD: pieces of at most 4 MiB, one CALL frame each, all but the last flagged MORE, one reply;
 *    each piece's data is written to the socket from the application's memory (vg_put_bytes_tail);
 *  - DtoH: the reply is `u32 result` then the n bytes, read straight into the destination;
 *  - HtoDAsync: each piece is its own fire-and-forget call (the source may be reused on return,
 *    so the bytes are taken now; errors surface at the next synchronising call);
 *  - DtoHAsync: waits for its data like the synchronous form (the destination must be filled
 *    before the application can observe completion, and the guest has no completion callbacks).
 * The _ptds/_ptsz variants carry the same layouts under their own wire ids, so the executor can
 * give a NULL stream per-thread-default-stream meaning.
 */
#include "vgcuda.h"

#include "rpc.h"

#include <string.h>

#define CHUNK ((size_t)4 * 1024 * 1024)

static CUresult check(const void *host, size_t n) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (n && !host) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

/* Synchronous copies of pageable memory from this size on go through the staging block of the
 * shared region when there is one (vg_shm_stage_take); smaller ones cost one round trip either
 * way, with their bytes in the request or the reply. */
#define STAGE_MIN ((size_t)64 * 1024)

/* Stages a synchronous HtoD through the block `s` (`slen` bytes at region offset `soff`): each
 * piece is copied in and then to the device, whose reply says the block is free again. */
static CUresult htod_staged(CUdeviceptr dst, const uint8_t *src, size_t n, uint8_t *s, size_t slen, uint64_t soff, int ptds) {
  for (size_t off = 0; off < n;) {
    size_t k = n - off < slen ? n - off : slen;
    memcpy(s, src + off, k);
    CUresult r = vg_shm_copy(VG_OP_vgShmHtoD, dst + off, soff, k, NULL, ptds);
    if (r) return r;
    off += k;
  }
  return CUDA_SUCCESS;
}

static CUresult dtoh_staged(uint8_t *dst, CUdeviceptr src, size_t n, uint8_t *s, size_t slen, uint64_t soff, int ptds) {
  for (size_t off = 0; off < n;) {
    size_t k = n - off < slen ? n - off : slen;
    CUresult r = vg_shm_copy(VG_OP_vgShmDtoH, src + off, soff, k, NULL, ptds);
    if (r) return r;
    memcpy(dst + off, s, k);
    off += k;
  }
  return CUDA_SUCCESS;
}

static CUresult htod(uint32_t op, CUdeviceptr dst, const void *src, size_t n) {
  CUresult r = check(src, n);
  if (r) return r;
  if (dst > UINT64_MAX - n) return CUDA_ERROR_INVALID_VALUE;
  uint64_t shm_off;
  int ptds = op == VG_OP_cuMemcpyHtoD_v2_ptds;
  if (vg_shm_range(src, n, &shm_off)) return vg_shm_copy(VG_OP_vgShmHtoD, dst, shm_off, n, NULL, ptds);
  size_t slen;
  uint8_t *s = n >= STAGE_MIN ? vg_shm_stage_take(&slen, &shm_off) : NULL;
  if (s) {
    r = htod_staged(dst, src, n, s, slen, shm_off, ptds);
    vg_shm_stage_give();
    return r;
  }
  vg_call c;
  if ((r = vg_call_begin(&c, op, VG_CALL_SYNC))) return r;
  if (vg_call_tracing(&c)) {
    vg_targ(&c.trace, 0, VG_TA_HEX, "dstDevice", dst);
    vg_targ(&c.trace, 0, VG_TA_SIZE, "ByteCount", n);
  }
  const uint8_t *p = src;
  size_t off = 0;
  do {
    size_t k = n - off < CHUNK ? n - off : CHUNK;
    vg_put_u64(&c, dst + off);
    vg_put_bytes_tail(&c, p + off, k); /* sent from the application's memory, not copied */
    off += k;
    if (off < n && (r = vg_call_send_piece(&c))) return vg_call_end(&c, r);
  } while (off < n);
  return vg_call_end(&c, vg_call_invoke(&c));
}

static CUresult dtoh(uint32_t op, void *dst, CUdeviceptr src, size_t n, const CUstream *stream) {
  CUresult r = check(dst, n);
  if (r) return r;
  if (src > UINT64_MAX - n) return CUDA_ERROR_INVALID_VALUE;
  uint64_t off;
  int ptds = op == VG_OP_cuMemcpyDtoH_v2_ptds || op == VG_OP_cuMemcpyDtoHAsync_v2_ptsz;
  if (vg_shm_range(dst, n, &off)) return vg_shm_copy(stream ? VG_OP_vgShmDtoHAsync : VG_OP_vgShmDtoH, src, off, n, stream, ptds);
  size_t slen;
  uint8_t *s = !stream && n >= STAGE_MIN ? vg_shm_stage_take(&slen, &off) : NULL;
  if (s) {
    r = dtoh_staged(dst, src, n, s, slen, off, ptds);
    vg_shm_stage_give();
    return r;
  }
  vg_call c;
  if ((r = vg_call_begin(&c, op, VG_CALL_SYNC))) return r;
  if (vg_call_tracing(&c)) {
    vg_targ(&c.trace, 0, VG_TA_HEX, "srcDevice", src);
    vg_targ(&c.trace, 0, VG_TA_SIZE, "ByteCount", n);
    if (stream) vg_targ(&c.trace, 0, VG_TA_PTR, "hStream", (uint64_t)(uintptr_t)*stream);
  }
  vg_put_u64(&c, src);
  vg_put_u64(&c, n);
  if (stream) vg_put_handle(&c, VG_H_STREAM, *stream, 1);
  return vg_call_end(&c, vg_call_invoke_into(&c, dst, n));
}

static CUresult htod_async(uint32_t op, CUdeviceptr dst, const void *src, size_t n, CUstream stream) {
  CUresult r = check(src, n);
  if (r) return r;
  if (dst > UINT64_MAX - n) return CUDA_ERROR_INVALID_VALUE;
  /* From the shared region the executor reads the bytes when it runs the copy, as a GPU reads
   * page-locked memory: the program may reuse them once the stream has passed the copy. */
  uint64_t shm_off;
  if (vg_shm_range(src, n, &shm_off))
    return vg_shm_copy(VG_OP_vgShmHtoDAsync, dst, shm_off, n, &stream, op == VG_OP_cuMemcpyHtoDAsync_v2_ptsz);
  const uint8_t *p = src;
  size_t off = 0;
  do {
    size_t k = n - off < CHUNK ? n - off : CHUNK;
    vg_call c;
    if ((r = vg_call_begin(&c, op, VG_CALL_ASYNC))) return r;
    if (vg_call_tracing(&c)) { /* one line per piece sent */
      vg_targ(&c.trace, 0, VG_TA_HEX, "dstDevice", dst + off);
      vg_targ(&c.trace, 0, VG_TA_SIZE, "ByteCount", k);
      vg_targ(&c.trace, 0, VG_TA_PTR, "hStream", (uint64_t)(uintptr_t)stream);
    }
    vg_put_u64(&c, dst + off);
    vg_put_bytes(&c, p + off, k);
    vg_put_handle(&c, VG_H_STREAM, stream, 1);
    if ((r = vg_call_end(&c, vg_call_invoke(&c)))) return r;
    off += k;
  } while (off < n);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
  VG_TRACED(htod(VG_OP_cuMemcpyHtoD_v2, dstDevice, srcHost, ByteCount));
}
VG_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
  VG_TRACED(htod(VG_OP_cuMemcpyHtoD_v2_ptds, dstDevice, srcHost, ByteCount));
}
VG_EXPORT CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
  VG_TRACED(dtoh(VG_OP_cuMemcpyDtoH_v2, dstHost, srcDevice, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
  VG_TRACED(dtoh(VG_OP_cuMemcpyDtoH_v2_ptds, dstHost, srcDevice, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                        CUstream hStream) {
  VG_TRACED(htod_async(VG_OP_cuMemcpyHtoDAsync_v2, dstDevice, srcHost, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                             CUstream hStream) {
  VG_TRACED(htod_async(VG_OP_cuMemcpyHtoDAsync_v2_ptsz, dstDevice, srcHost, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                        CUstream hStream) {
  VG_TRACED(dtoh(VG_OP_cuMemcpyDtoHAsync_v2, dstHost, srcDevice, ByteCount, &hStream));
}
VG_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                             CUstream hStream) {
  VG_TRACED(dtoh(VG_OP_cuMemcpyDtoHAsync_v2_ptsz, dstHost, srcDevice, ByteCount, &hStream));
}

/* Forwarded by hand because the executor answers it from the VM's quota (spec/cuda.spec.h). */
static CUresult mem_get_info(size_t *free_bytes, size_t *total) {
  if (!free_bytes || !total) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuMemGetInfo_v2, 0);
  if (r) return r;
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    *free_bytes = (size_t)vg_get_u64(&c);
    *total = (size_t)vg_get_u64(&c);
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemGetInfo_v2(size_t *free, size_t *total) { VG_TRACED(mem_get_info(free, total)); }

/* Forwarded by hand: the pitch the driver picks sizes the allocation the executor counts. */
static CUresult mem_alloc_pitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned elem) {
  if (!dptr || !pitch) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuMemAllocPitch_v2, 0);
  if (r) return r;
  vg_put_u64(&c, width);
  vg_put_u64(&c, height);
  vg_put_u32(&c, elem);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    *dptr = (CUdeviceptr)vg_get_u64(&c);
    *pitch = (size_t)vg_get_u64(&c);
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                                      unsigned int ElementSizeBytes) {
  VG_TRACED(mem_alloc_pitch(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes));
}

/* Memory pools: the properties struct travels field by field (the executor maps the device ordinal
 * and refuses what a VM must not have: see src/executor/custom/mempool.ts). */
static CUresult pool_create(CUmemoryPool *pool, const CUmemPoolProps *props) {
  if (!pool || !props) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuMemPoolCreate, 0);
  if (r) return r;
  vg_put_u32(&c, (uint32_t)props->allocType);
  vg_put_u32(&c, (uint32_t)props->handleTypes);
  vg_put_u32(&c, (uint32_t)props->location.type);
  vg_put_i32(&c, props->location.id);
  vg_put_u64(&c, props->maxSize);
  vg_put_u32(&c, props->usage);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *pool = (CUmemoryPool)vg_get_new_handle(&c, VG_H_MEMPOOL);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps) {
  VG_TRACED(pool_create(pool, poolProps));
}

/* Size of a pool attribute's value: the reuse flags are int, the rest cuuint64_t; 0 if unknown. */
static size_t pool_attr_size(CUmemPool_attribute attr) {
  switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES: return sizeof(int);
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: return sizeof(cuuint64_t);
    default: return 0;
  }
}

/* Wire: pool, u32 attr, then (set) u64 value / (get) reply u64 value; ints in the low 32 bits. */
static CUresult pool_attr(int set, CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  size_t n = pool_attr_size(attr);
  if (!value || n == 0) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, set ? VG_OP_cuMemPoolSetAttribute : VG_OP_cuMemPoolGetAttribute, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_MEMPOOL, pool, 0);
  vg_put_u32(&c, (uint32_t)attr);
  if (set) vg_put_u64(&c, n == sizeof(int) ? (uint64_t)(uint32_t)*(const int *)value : *(const cuuint64_t *)value);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS && !set) {
    uint64_t v = vg_get_u64(&c);
    if (n == sizeof(int)) *(int *)value = (int)(uint32_t)v;
    else *(cuuint64_t *)value = v;
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  VG_TRACED(pool_attr(1, pool, attr, value));
}

VG_EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  VG_TRACED(pool_attr(0, pool, attr, value));
}

/* ---- unified addressing: the direction comes from the pointers (docs/pointers.md) ----------- */

typedef struct copy_ops {
  uint32_t htod, dtoh;  /* wire ops of the host<->device legs */
  int async, ptds;
} copy_ops;

static CUresult unified_copy(const copy_ops *o, CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream stream) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (n == 0) return CUDA_SUCCESS;
  int dst_dev, src_dev;
  CUresult r;
  if ((r = vg_ptr_is_device(dst, &dst_dev)) || (r = vg_ptr_is_device(src, &src_dev))) return r;
  void *hdst = (void *)(uintptr_t)dst;
  const void *hsrc = (const void *)(uintptr_t)src;
  if (dst_dev && src_dev) {
    if (o->async) return o->ptds ? cuMemcpyDtoDAsync_v2_ptsz(dst, src, n, stream) : cuMemcpyDtoDAsync_v2(dst, src, n, stream);
    return o->ptds ? cuMemcpyDtoD_v2_ptds(dst, src, n) : cuMemcpyDtoD_v2(dst, src, n);
  }
  if (dst_dev) return o->async ? htod_async(o->htod, dst, hsrc, n, stream) : htod(o->htod, dst, hsrc, n);
  if (src_dev) return dtoh(o->dtoh, hdst, src, n, o->async ? &stream : NULL);
  /* Host to host. The guest's host memory is only written by copies that have completed when
   * they return (device-to-host copies wait for their data), so nothing queued can still touch
   * these bytes; an asynchronous copy waits for its stream's earlier work all the same, so that
   * work queued before it is ordered before it as on a local GPU. */
  if (o->async && (r = o->ptds ? cuStreamSynchronize_ptsz(stream) : cuStreamSynchronize(stream))) return r;
  memmove(hdst, hsrc, n);
  return CUDA_SUCCESS;
}

static const copy_ops k_sync = {VG_OP_cuMemcpyHtoD_v2, VG_OP_cuMemcpyDtoH_v2, 0, 0};
static const copy_ops k_sync_ptds = {VG_OP_cuMemcpyHtoD_v2_ptds, VG_OP_cuMemcpyDtoH_v2_ptds, 0, 1};
static const copy_ops k_async = {VG_OP_cuMemcpyHtoDAsync_v2, VG_OP_cuMemcpyDtoHAsync_v2, 1, 0};
static const copy_ops k_async_ptsz = {VG_OP_cuMemcpyHtoDAsync_v2_ptsz, VG_OP_cuMemcpyDtoHAsync_v2_ptsz, 1, 1};

VG_EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  VG_TRACED(unified_copy(&k_sync, dst, src, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  VG_TRACED(unified_copy(&k_sync_ptds, dst, src, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream) {
  VG_TRACED(unified_copy(&k_async, dst, src, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream) {
  VG_TRACED(unified_copy(&k_async_ptsz, dst, src, ByteCount, hStream));
}
