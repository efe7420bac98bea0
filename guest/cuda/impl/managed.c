/*
 * Managed memory and mapped page-locked memory: the entry points (docs/managed-memory.md). The
 * bytes and their coherence are coherent.c's; this file checks arguments as the driver does and
 * keeps the advice and prefetch state that cuMemRangeGetAttribute(s) report. The vGPU reports
 * CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS 0 (src/executor/feature-mask.ts), so, as on any
 * device without concurrent managed access, a prefetch to a GPU is refused and advice is kept but
 * moves nothing: the data is where the last synchronisation left it.
 */
#include "vgcuda.h"

#include "coherent.h"
#include "rpc.h"

#include <string.h>

static CUresult need_context(void) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  return vg_ctx_info(NULL, NULL, NULL);
}

static CUresult alloc_managed(CUdeviceptr *dptr, size_t bytesize, unsigned flags) {
  CUresult r = need_context();
  if (r) return r;
  if (!dptr || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST) return CUDA_ERROR_INVALID_VALUE;
  void *p;
  if ((r = vg_coherent_alloc(&p, bytesize, VG_COH_MANAGED, flags))) return r;
  *dptr = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
  VG_TRACED(alloc_managed(dptr, bytesize, flags));
}

/* The device address of mapped page-locked memory; only DEVICEMAP memory has one. */
static CUresult host_device_pointer(CUdeviceptr *pdptr, void *p, unsigned flags) {
  CUresult r = need_context();
  if (r) return r;
  if (!pdptr || !p || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  vg_hostmem_info hi;
  vg_coh_info ci;
  if (!vg_hostmem_lookup((uintptr_t)p, &hi) || !vg_coherent_lookup((uintptr_t)p, 0, &ci)) return CUDA_ERROR_INVALID_VALUE;
  *pdptr = ci.dev + ((uintptr_t)p - ci.host);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags) {
  VG_TRACED(host_device_pointer(pdptr, p, Flags));
}
VG_EXPORT CUresult cuMemHostGetDevicePointer(CUdeviceptr_v1 *pdptr, void *p, unsigned int Flags) {
  CUdeviceptr d = 0;
  CUresult r = host_device_pointer(&d, p, Flags);
  if (r == CUDA_SUCCESS) {
    if (d > UINT32_MAX) return CUDA_ERROR_INVALID_VALUE; /* the 32-bit ABI cannot hold it */
    *pdptr = (CUdeviceptr_v1)d;
  }
  return r;
}

/* ---- locations, advice and prefetching ----------------------------------------------------- */

/* A location a managed range may be advised or prefetched to; INVALID_DEVICE for a device that is
 * not one, INVALID_VALUE for a type cuda.h does not define here. */
static CUresult check_location(CUmemLocation loc) {
  switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE: return loc.id >= 0 && loc.id < vg_dev_count() ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT: return CUDA_SUCCESS;
    case CU_MEM_LOCATION_TYPE_HOST_NUMA: return loc.id >= 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}

/* The legacy CUdevice argument: an ordinal or CU_DEVICE_CPU. */
static CUmemLocation device_location(CUdevice d) {
  if (d == CU_DEVICE_CPU) return (CUmemLocation){.type = CU_MEM_LOCATION_TYPE_HOST, .id = 0};
  return (CUmemLocation){.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = d};
}

static CUresult check_stream(CUstream s) {
  if (s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD) return CUDA_SUCCESS;
  return vg_handle_get(s, VG_H_STREAM, NULL, NULL) == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult set_prefetch(vg_coh_page *pg, size_t n, void *arg) {
  const CUmemLocation *loc = arg;
  for (size_t i = 0; i < n; i++) {
    pg[i].prefetch_type = (uint8_t)loc->type;
    pg[i].prefetch_id = (int8_t)loc->id;
  }
  return CUDA_SUCCESS;
}

static CUresult prefetch(CUdeviceptr p, size_t count, CUmemLocation loc, unsigned flags, CUstream s) {
  CUresult r = need_context();
  if (r) return r;
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if ((r = check_location(loc)) || (r = check_stream(s))) return r;
  /* Moving pages to a GPU while the host may touch them needs concurrent managed access. */
  if (loc.type == CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_INVALID_DEVICE;
  return vg_coherent_pages(p, count, set_prefetch, &loc);
}

VG_EXPORT CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
  VG_TRACED(prefetch(devPtr, count, device_location(dstDevice), 0, hStream));
}
VG_EXPORT CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
  VG_TRACED(prefetch(devPtr, count, device_location(dstDevice), 0, hStream));
}
VG_EXPORT CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation location, unsigned int flags,
                                         CUstream hStream) {
  VG_TRACED(prefetch(devPtr, count, location, flags, hStream));
}
VG_EXPORT CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                                              unsigned int flags, CUstream hStream) {
  VG_TRACED(prefetch(devPtr, count, location, flags, hStream));
}

typedef struct advice {
  CUmem_advise what;
  CUmemLocation loc;
} advice;

static CUresult set_advice(vg_coh_page *pg, size_t n, void *arg) {
  const advice *a = arg;
  uint8_t bit = a->loc.type == CU_MEM_LOCATION_TYPE_DEVICE && a->loc.id < 8 ? (uint8_t)(1u << a->loc.id) : 0;
  for (size_t i = 0; i < n; i++) {
    switch (a->what) {
      case CU_MEM_ADVISE_SET_READ_MOSTLY: pg[i].read_mostly = 1; break;
      case CU_MEM_ADVISE_UNSET_READ_MOSTLY: pg[i].read_mostly = 0; break;
      case CU_MEM_ADVISE_SET_PREFERRED_LOCATION:
        pg[i].pref_type = (uint8_t)a->loc.type;
        pg[i].pref_id = (int8_t)a->loc.id;
        break;
      case CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION: pg[i].pref_type = 0; pg[i].pref_id = 0; break;
      case CU_MEM_ADVISE_SET_ACCESSED_BY: pg[i].accessed_by |= bit; break;
      case CU_MEM_ADVISE_UNSET_ACCESSED_BY: pg[i].accessed_by &= (uint8_t)~bit; break;
    }
  }
  return CUDA_SUCCESS;
}

static CUresult advise(CUdeviceptr p, size_t count, CUmem_advise what, CUmemLocation loc) {
  CUresult r = need_context();
  if (r) return r;
  if (what < CU_MEM_ADVISE_SET_READ_MOSTLY || what > CU_MEM_ADVISE_UNSET_ACCESSED_BY) return CUDA_ERROR_INVALID_VALUE;
  /* Read-mostly and its undoing ignore the location; the others name one. */
  if (what != CU_MEM_ADVISE_SET_READ_MOSTLY && what != CU_MEM_ADVISE_UNSET_READ_MOSTLY && (r = check_location(loc)))
    return r;
  advice a = {what, loc};
  return vg_coherent_pages(p, count, set_advice, &a);
}

VG_EXPORT CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device) {
  VG_TRACED(advise(devPtr, count, advice, device_location(device)));
}
VG_EXPORT CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUmemLocation location) {
  VG_TRACED(advise(devPtr, count, advice, location));
}

/* ---- range attributes ---------------------------------------------------------------------- */

typedef struct range_query {
  CUmem_range_attribute attr;
  void *data;
  size_t size;
} range_query;

/* A location shared by every page, or the invalid one. */
static CUmemLocation common_location(const vg_coh_page *pg, size_t n, int prefetch_loc) {
  uint8_t t = prefetch_loc ? pg[0].prefetch_type : pg[0].pref_type;
  int8_t id = prefetch_loc ? pg[0].prefetch_id : pg[0].pref_id;
  for (size_t i = 1; i < n; i++) {
    if ((prefetch_loc ? pg[i].prefetch_type : pg[i].pref_type) != t || (prefetch_loc ? pg[i].prefetch_id : pg[i].pref_id) != id)
      return (CUmemLocation){.type = CU_MEM_LOCATION_TYPE_INVALID, .id = 0};
  }
  return (CUmemLocation){.type = (CUmemLocationType)t, .id = id};
}

/* The legacy form of a location: a device ordinal, CU_DEVICE_CPU or CU_DEVICE_INVALID. */
static int legacy_device(CUmemLocation l) {
  if (l.type == CU_MEM_LOCATION_TYPE_DEVICE) return l.id;
  if (l.type == CU_MEM_LOCATION_TYPE_HOST) return CU_DEVICE_CPU;
  return CU_DEVICE_INVALID;
}

static CUresult answer_range(vg_coh_page *pg, size_t n, void *arg) {
  const range_query *q = arg;
  switch (q->attr) {
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY: {
      int all = 1;
      for (size_t i = 0; i < n; i++) all = all && pg[i].read_mostly;
      *(int *)q->data = all;
      return CUDA_SUCCESS;
    }
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION: *(int *)q->data = legacy_device(common_location(pg, n, 0)); return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION: *(int *)q->data = legacy_device(common_location(pg, n, 1)); return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE: *(CUmemLocationType *)q->data = common_location(pg, n, 0).type; return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID: *(int *)q->data = common_location(pg, n, 0).id; return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE: *(CUmemLocationType *)q->data = common_location(pg, n, 1).type; return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID: *(int *)q->data = common_location(pg, n, 1).id; return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: {
      uint8_t all = 0xff;
      for (size_t i = 0; i < n; i++) all &= pg[i].accessed_by;
      int *out = q->data;
      size_t k = 0, cap = q->size / sizeof(int);
      for (int d = 0; d < 8 && k < cap; d++)
        if (all & (1u << d)) out[k++] = d;
      while (k < cap) out[k++] = CU_DEVICE_INVALID;
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_VALUE;
}

static int range_size_ok(CUmem_range_attribute a, size_t size) {
  switch (a) {
    case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: return size > 0 && size % 4 == 0;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE:
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE: return size == sizeof(CUmemLocationType);
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY:
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION:
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION:
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID:
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID: return size == 4;
  }
  return 0;
}

static CUresult range_attrs(void **data, size_t *sizes, CUmem_range_attribute *attrs, size_t n, CUdeviceptr p, size_t count) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!data || !sizes || !attrs || n == 0) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < n; i++)
    if (!data[i] || !range_size_ok(attrs[i], sizes[i])) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < n; i++) {
    range_query q = {attrs[i], data[i], sizes[i]};
    CUresult r = vg_coherent_pages(p, count, answer_range, &q);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemRangeGetAttribute(void *data, size_t dataSize, CUmem_range_attribute attribute, CUdeviceptr devPtr,
                                          size_t count) {
  VG_TRACED(range_attrs(&data, &dataSize, &attribute, 1, devPtr, count));
}
VG_EXPORT CUresult cuMemRangeGetAttributes(void **data, size_t *dataSizes, CUmem_range_attribute *attributes,
                                           size_t numAttributes, CUdeviceptr devPtr, size_t count) {
  VG_TRACED(range_attrs(data, dataSizes, attributes, numAttributes, devPtr, count));
}

/* ---- peer copies: a vGPU is its own only peer --------------------------------------------- */

/* Both contexts must be live; a copy between two contexts of one device is a device-to-device
 * copy. Peers on two devices would need the host GPUs' peer access, which vgpu does not give. */
static CUresult peer_check(CUcontext dst, CUcontext src) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  CUdevice dd, sd;
  CUresult r;
  if (!dst || !src) return CUDA_ERROR_INVALID_CONTEXT;
  if ((r = vg_ctx_info(dst, &dd, NULL)) || (r = vg_ctx_info(src, &sd, NULL))) return r;
  return dd == sd ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
}

VG_EXPORT CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice, CUcontext srcContext,
                                size_t ByteCount) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoD_v2(dstDevice, srcDevice, ByteCount));
}
VG_EXPORT CUresult cuMemcpyPeer_ptds(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                     CUcontext srcContext, size_t ByteCount) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoD_v2_ptds(dstDevice, srcDevice, ByteCount));
}
VG_EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                     CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoDAsync_v2(dstDevice, srcDevice, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                          CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoDAsync_v2_ptsz(dstDevice, srcDevice, ByteCount, hStream));
}
