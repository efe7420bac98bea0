/*
 * Managed memory and mapped page-locked memory: the entry points (docs/managed-memory.md). The
 * bytes and their coherence are coherent.c's; this file checks arguments as the driver does and
 * keeps the advice and prefetch state that cuMemRangeGetAttribute(s) report (with softgpu's rules:
 * common/managed_advice.h). The vGPU reports CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS 0
 * (src/executor/feature-mask.ts), so, as on any device without concurrent managed access, a
 * prefetch to a GPU is refused and advice is kept but moves nothing.
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
  /* Attached to the host or not, the memory is where the last synchronisation left it. */
  if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST) return CUDA_ERROR_INVALID_VALUE;
  void *p;
  if ((r = vg_coherent_alloc(&p, bytesize, VG_COH_MANAGED))) return r;
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

/* ---- advice, prefetching and range attributes (common/managed_advice.h) ----------------------- */

static CUresult check_stream(CUstream s) {
  if (s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD) return CUDA_SUCCESS;
  return vg_handle_get(s, VG_H_STREAM, NULL, NULL) == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult set_prefetch(vg_advice_page *pg, size_t n, void *arg) {
  vg_prefetch_apply(pg, n, *(const CUmemLocation *)arg);
  return CUDA_SUCCESS;
}

/* The prefetch moves nothing: the host's copy is the host location, and the device's is brought
 * up to date before any work runs (coherent.c). It is recorded for the range attributes. */
static CUresult prefetch(CUdeviceptr p, size_t count, CUmemLocation loc, unsigned flags, CUstream s) {
  CUresult r = need_context();
  if (r || (r = vg_prefetch_check(loc, flags, vg_dev_count())) || (r = check_stream(s))) return r;
  return vg_coherent_pages(p, count, set_prefetch, &loc);
}

VG_EXPORT CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
  VG_TRACED(prefetch(devPtr, count, vg_device_location(dstDevice), 0, hStream));
}
VG_EXPORT CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
  VG_TRACED(prefetch(devPtr, count, vg_device_location(dstDevice), 0, hStream));
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

static CUresult set_advice(vg_advice_page *pg, size_t n, void *arg) {
  const advice *a = arg;
  vg_advise_apply(pg, n, a->what, a->loc);
  return CUDA_SUCCESS;
}

static CUresult advise(CUdeviceptr p, size_t count, CUmem_advise what, CUmemLocation loc) {
  CUresult r = need_context();
  if (r || (r = vg_advise_check(what, loc, vg_dev_count()))) return r;
  advice a = {what, loc};
  return vg_coherent_pages(p, count, set_advice, &a);
}

VG_EXPORT CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device) {
  VG_TRACED(advise(devPtr, count, advice, vg_device_location(device)));
}
VG_EXPORT CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUmemLocation location) {
  VG_TRACED(advise(devPtr, count, advice, location));
}

typedef struct range_query {
  CUmem_range_attribute attr;
  void *data;
  size_t size;
} range_query;

static CUresult answer_range(vg_advice_page *pg, size_t n, void *arg) {
  const range_query *q = arg;
  vg_range_answer(pg, n, q->attr, q->data, q->size);
  return CUDA_SUCCESS;
}

static CUresult range_attrs(void **data, size_t *sizes, CUmem_range_attribute *attrs, size_t n, CUdeviceptr p, size_t count) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!data || !sizes || !attrs || n == 0) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < n; i++)
    if (!data[i] || !vg_range_size_ok(attrs[i], sizes[i])) return CUDA_ERROR_INVALID_VALUE;
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

/* ---- stream attachment -------------------------------------------------------------------- */

/* Checked as the driver does, and then nothing to do: what an attachment lets a program do on a
 * device without concurrent managed access (touch memory attached to the host, or to a stream
 * that is idle, while other streams run) is what the coherence of coherent.c already allows, since
 * the host's copy is never taken away and a read-back merges only the pages the device changed
 * (docs/managed-memory.md, "Stream attachment"). */
static CUresult attach(CUstream s, CUdeviceptr p, size_t length, unsigned flags) {
  CUresult r = need_context();
  if (r || (r = check_stream(s))) return r;
  vg_coh_info ci;
  if (!vg_coherent_lookup((uintptr_t)p, 1, &ci) || ci.kind != VG_COH_MANAGED) return CUDA_ERROR_INVALID_VALUE;
  return vg_attach_check(p, length, flags, ci.dev, ci.size);
}

VG_EXPORT CUresult cuStreamAttachMemAsync(CUstream hStream, CUdeviceptr dptr, size_t length, unsigned int flags) {
  VG_TRACED(attach(hStream, dptr, length, flags));
}
VG_EXPORT CUresult cuStreamAttachMemAsync_ptsz(CUstream hStream, CUdeviceptr dptr, size_t length, unsigned int flags) {
  VG_TRACED(attach(hStream, dptr, length, flags));
}
