/*
 * 2D and 3D copies (cudaMemcpy2D/3D, cudaMemcpy2DAsync, image and video code everywhere), composed
 * in the guest from the forwarded linear copies, so the executor checks every byte range exactly
 * as it does for them (one live allocation of the session per device range) and the wire carries
 * no host pointer:
 *  - host to device: one call whose pieces are the rows (docs/protocol.md, "Bulk data": every
 *    piece names its own destination); the asynchronous forms send each row as a fire-and-forget
 *    copy on the stream, taking the bytes at once, as cuMemcpyHtoDAsync does;
 *  - device to host: rows close together are read as one span and scattered here, rows far apart
 *    one by one (never more than SPAN_SLACK extra bytes read per useful byte);
 *  - device to device: a copy per row on the stream (all but the last fire-and-forget);
 *  - host to host: memmove here.
 * Every slice of a 3D copy, and both sides of every 2D copy, are checked before any byte moves,
 * with softgpu's rules (softgpu/api/memcpy.c); each device side's whole pitched span must lie in
 * one live allocation (asked of the executor with cuMemGetAddressRange). Unified operands are
 * resolved to host or device memory first. A copy with a CUDA array on either side goes to the
 * executor as boxes (array.c), since an array's layout is the driver's.
 */
#include <stdlib.h>
#include <string.h>

#include "vgcuda.h"

#include "memcpy3d.h"
#include "rpc.h"

#define CHUNK ((size_t)4 * 1024 * 1024)
/* A device-to-host span is read whole while it is at most this many times the bytes wanted. */
#define SPAN_SLACK 2

typedef struct side {
  CUmemorytype type;
  const void *host;
  CUdeviceptr dev;
  size_t off; /* of the first byte: y * pitch + x */
  size_t pitch;
} side;

/* The ops of one ABI form: the legacy default stream, or the per-thread one (_ptds/_ptsz). */
typedef struct ops {
  int per_thread;
  uint32_t htod, htod_async, dtoh, dtoh_async;
  CUresult (*dtod)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*dtod_async)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
} ops;

static const ops LEGACY = {0, VG_OP_cuMemcpyHtoD_v2, VG_OP_cuMemcpyHtoDAsync_v2, VG_OP_cuMemcpyDtoH_v2,
                           VG_OP_cuMemcpyDtoHAsync_v2, cuMemcpyDtoD_v2, cuMemcpyDtoDAsync_v2};
static const ops PER_THREAD = {1, VG_OP_cuMemcpyHtoD_v2_ptds, VG_OP_cuMemcpyHtoDAsync_v2_ptsz,
                               VG_OP_cuMemcpyDtoH_v2_ptds, VG_OP_cuMemcpyDtoHAsync_v2_ptsz,
                               cuMemcpyDtoD_v2_ptds, cuMemcpyDtoDAsync_v2_ptsz};

static CUresult check_side(CUmemorytype type, const void *host, CUdeviceptr dev, size_t x, size_t y, size_t pitch,
                           size_t w, size_t h, side *out) {
  if (type != CU_MEMORYTYPE_HOST && type != CU_MEMORYTYPE_DEVICE) return CUDA_ERROR_INVALID_VALUE;
  if (h > 1 && pitch < x + w) return CUDA_ERROR_INVALID_VALUE;
  if (pitch && y > (SIZE_MAX - x) / pitch) return CUDA_ERROR_INVALID_VALUE;
  size_t off = y * pitch + x;
  if (h > 1 && pitch > (SIZE_MAX - w) / (h - 1)) return CUDA_ERROR_INVALID_VALUE;
  size_t span = (h - 1) * pitch + w;
  if (span > SIZE_MAX - off) return CUDA_ERROR_INVALID_VALUE;
  if (type == CU_MEMORYTYPE_HOST && !host) return CUDA_ERROR_INVALID_VALUE;
  if (type == CU_MEMORYTYPE_DEVICE && (dev > UINT64_MAX - off || dev + off > UINT64_MAX - span))
    return CUDA_ERROR_INVALID_VALUE;
  *out = (side){type, host, dev, off, pitch};
  return CUDA_SUCCESS;
}

/* A unified operand (cudaMemcpyDefault) is its device field as an address in either space: the
 * session's device memory, or else host memory (docs/pointers.md). */
static CUresult resolve(CUmemorytype *type, const void **host, CUdeviceptr *dev) {
  if (*type != CU_MEMORYTYPE_UNIFIED) return CUDA_SUCCESS;
  int is_dev = 0;
  CUresult r = vg_ptr_is_device(*dev, &is_dev);
  if (r) return r;
  if (is_dev) *type = CU_MEMORYTYPE_DEVICE;
  else *type = CU_MEMORYTYPE_HOST, *host = (const void *)(uintptr_t)*dev;
  return CUDA_SUCCESS;
}

static CUresult check_2d(const CUDA_MEMCPY2D *c, side *s, side *d) {
  CUmemorytype st = c->srcMemoryType, dt = c->dstMemoryType;
  const void *sh = c->srcHost, *dh = c->dstHost;
  CUdeviceptr sd = c->srcDevice, dd = c->dstDevice;
  CUresult r = resolve(&st, &sh, &sd);
  if (r || (r = resolve(&dt, &dh, &dd))) return r;
  r = check_side(st, sh, sd, c->srcXInBytes, c->srcY, c->srcPitch, c->WidthInBytes, c->Height, s);
  if (r) return r;
  return check_side(dt, dh, dd, c->dstXInBytes, c->dstY, c->dstPitch, c->WidthInBytes, c->Height, d);
}

/* The device side of a copy lies inside one live allocation, as the driver demands of the whole
 * pitched span: the rows alone could each pass the executor's check yet land in a neighbouring
 * allocation. One cuMemGetAddressRange round trip per device side. */
static CUresult dev_span(CUdeviceptr first, size_t len) {
  CUdeviceptr base = 0;
  size_t size = 0;
  CUresult r = cuMemGetAddressRange_v2(&base, &size, first);
  if (r == CUDA_ERROR_INVALID_CONTEXT || r == CUDA_ERROR_NOT_INITIALIZED || r == CUDA_ERROR_DEVICE_UNAVAILABLE) return r;
  if (r != CUDA_SUCCESS || first - base > size || len > size - (first - base)) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

/* The bytes a side's rows cover, from its first byte: (h - 1) * pitch + w (checked by check_side). */
static size_t span_of(const side *x, size_t w, size_t h) { return (h - 1) * x->pitch + w; }

static const uint8_t *host_row(const side *s, size_t row) { return (const uint8_t *)s->host + s->off + row * s->pitch; }
static CUdeviceptr dev_row(const side *s, size_t row) { return s->dev + s->off + row * s->pitch; }

/* Host to device, synchronous: one call, the rows (cut at CHUNK) its pieces. */
static CUresult htod_rows(const ops *o, const side *s, const side *d, size_t w, size_t h) {
  vg_call c;
  CUresult r = vg_call_begin(&c, o->htod, VG_CALL_SYNC);
  if (r) return r;
  for (size_t row = 0; row < h; row++) {
    for (size_t at = 0; at < w;) {
      size_t k = w - at < CHUNK ? w - at : CHUNK;
      vg_put_u64(&c, dev_row(d, row) + at);
      vg_put_bytes(&c, host_row(s, row) + at, k);
      at += k;
      if ((at < w || row + 1 < h) && (r = vg_call_send_piece(&c))) return vg_call_end(&c, r);
    }
  }
  return vg_call_end(&c, vg_call_invoke(&c));
}

/* Host to device on a stream: each row (cut at CHUNK) its own fire-and-forget copy. */
static CUresult htod_rows_async(const ops *o, const side *s, const side *d, size_t w, size_t h, CUstream st) {
  for (size_t row = 0; row < h; row++) {
    for (size_t at = 0; at < w;) {
      size_t k = w - at < CHUNK ? w - at : CHUNK;
      vg_call c;
      CUresult r = vg_call_begin(&c, o->htod_async, VG_CALL_ASYNC);
      if (r) return r;
      vg_put_u64(&c, dev_row(d, row) + at);
      vg_put_bytes(&c, host_row(s, row) + at, k);
      vg_put_handle(&c, VG_H_STREAM, st, 1);
      if ((r = vg_call_end(&c, vg_call_invoke(&c)))) return r;
      at += k;
    }
  }
  return CUDA_SUCCESS;
}

/* One linear device-to-host read (the DtoH ops wait for their data, on a stream or not). */
static CUresult dtoh_linear(const ops *o, void *dst, CUdeviceptr src, size_t n, const CUstream *st) {
  vg_call c;
  CUresult r = vg_call_begin(&c, st ? o->dtoh_async : o->dtoh, VG_CALL_SYNC);
  if (r) return r;
  vg_put_u64(&c, src);
  vg_put_u64(&c, n);
  if (st) vg_put_handle(&c, VG_H_STREAM, *st, 1);
  return vg_call_end(&c, vg_call_invoke_into(&c, dst, n));
}

static CUresult dtoh_rows(const ops *o, const side *s, const side *d, size_t w, size_t h, const CUstream *st) {
  uint8_t *dst0 = (uint8_t *)d->host + d->off;
  size_t span = (h - 1) * s->pitch + w;
  if (s->pitch == w && d->pitch == w) return dtoh_linear(o, dst0, dev_row(s, 0), w * h, st);
  if (span / SPAN_SLACK <= w * h) {
    uint8_t *tmp = malloc(span);
    if (tmp) {
      CUresult r = dtoh_linear(o, tmp, dev_row(s, 0), span, st);
      if (r == CUDA_SUCCESS)
        for (size_t row = 0; row < h; row++) memmove(dst0 + row * d->pitch, tmp + row * s->pitch, w);
      free(tmp);
      return r;
    }
  }
  for (size_t row = 0; row < h; row++) {
    CUresult r = dtoh_linear(o, dst0 + row * d->pitch, dev_row(s, row), w, st);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

/* Device to device: the rows in stream order; a synchronous copy ends with a synchronous row,
 * which reports what went wrong with the ones before it. */
static CUresult dtod_rows(const ops *o, const side *s, const side *d, size_t w, size_t h, const CUstream *st) {
  size_t rows = h, len = w;
  if (s->pitch == w && d->pitch == w) rows = 1, len = w * h; /* one contiguous block */
  for (size_t row = 0; row < rows; row++) {
    CUdeviceptr to = dev_row(d, row), from = dev_row(s, row);
    CUresult r = st ? o->dtod_async(to, from, len, *st)
                 : row + 1 < rows ? o->dtod_async(to, from, len, NULL)
                 : o->dtod(to, from, len);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

static CUresult check_spans(const CUDA_MEMCPY2D *c, const side *s, const side *d) {
  size_t w = c->WidthInBytes, h = c->Height;
  CUresult r;
  if (s->type == CU_MEMORYTYPE_DEVICE && (r = dev_span(s->dev + s->off, span_of(s, w, h)))) return r;
  if (d->type == CU_MEMORYTYPE_DEVICE && (r = dev_span(d->dev + d->off, span_of(d, w, h)))) return r;
  return CUDA_SUCCESS;
}

static CUresult run_2d(const ops *o, const CUDA_MEMCPY2D *c, const side *s, const side *d, const CUstream *st) {
  size_t w = c->WidthInBytes, h = c->Height;
  if (s->type == CU_MEMORYTYPE_HOST && d->type == CU_MEMORYTYPE_HOST) {
    for (size_t row = 0; row < h; row++) memmove((uint8_t *)d->host + d->off + row * d->pitch, host_row(s, row), w);
    return CUDA_SUCCESS;
  }
  if (s->type == CU_MEMORYTYPE_HOST) return st ? htod_rows_async(o, s, d, w, h, *st) : htod_rows(o, s, d, w, h);
  if (d->type == CU_MEMORYTYPE_HOST) return dtoh_rows(o, s, d, w, h, st);
  return dtod_rows(o, s, d, w, h, st);
}

static int has_array(CUmemorytype s, CUmemorytype d) { return s == CU_MEMORYTYPE_ARRAY || d == CU_MEMORYTYPE_ARRAY; }

static CUresult copy_2d(const ops *o, const CUDA_MEMCPY2D *c, const CUstream *st) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!c) return CUDA_ERROR_INVALID_VALUE;
  if (has_array(c->srcMemoryType, c->dstMemoryType)) {
    CUDA_MEMCPY3D p = {.srcXInBytes = c->srcXInBytes, .srcY = c->srcY, .srcMemoryType = c->srcMemoryType,
                       .srcHost = c->srcHost, .srcDevice = c->srcDevice, .srcArray = c->srcArray,
                       .srcPitch = c->srcPitch, .dstXInBytes = c->dstXInBytes, .dstY = c->dstY,
                       .dstMemoryType = c->dstMemoryType, .dstHost = c->dstHost, .dstDevice = c->dstDevice,
                       .dstArray = c->dstArray, .dstPitch = c->dstPitch, .WidthInBytes = c->WidthInBytes,
                       .Height = c->Height, .Depth = 1};
    return vg_memcpy_array_box(&p, st, o->per_thread);
  }
  if (c->WidthInBytes == 0 || c->Height == 0) return CUDA_SUCCESS;
  side s, d;
  CUresult r = check_2d(c, &s, &d);
  if (r || (r = check_spans(c, &s, &d))) return r;
  return run_2d(o, c, &s, &d, st);
}


static CUresult copy_3d(const ops *o, const CUDA_MEMCPY3D *p, const CUstream *st) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!p || p->srcLOD || p->dstLOD || p->reserved0 || p->reserved1) return CUDA_ERROR_INVALID_VALUE;
  if (p->WidthInBytes == 0 || p->Height == 0 || p->Depth == 0) return CUDA_SUCCESS;
  if (has_array(p->srcMemoryType, p->dstMemoryType)) return vg_memcpy_array_box(p, st, o->per_thread);
  if (p->Depth > 1 && (p->srcHeight < p->Height || p->dstHeight < p->Height)) return CUDA_ERROR_INVALID_VALUE;
  CUDA_MEMCPY2D c;
  side s, d;
  for (size_t z = 0; z < p->Depth; z++) {
    CUresult r = vg_memcpy3d_slice(p, z, &c);
    if (r || (r = check_2d(&c, &s, &d)) || (r = check_spans(&c, &s, &d))) return r;
  }
  for (size_t z = 0; z < p->Depth; z++) {
    vg_memcpy3d_slice(p, z, &c);
    check_2d(&c, &s, &d);
    CUresult r = run_2d(o, &c, &s, &d, st);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy) { VG_TRACED(copy_2d(&LEGACY, pCopy, NULL)); }
VG_EXPORT CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy) { VG_TRACED(copy_2d(&PER_THREAD, pCopy, NULL)); }
/* Alignment is the driver's business on a GPU; rows are copied bytewise here either way. */
VG_EXPORT CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy) { VG_TRACED(copy_2d(&LEGACY, pCopy, NULL)); }
VG_EXPORT CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy) {
  VG_TRACED(copy_2d(&PER_THREAD, pCopy, NULL));
}
VG_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
  VG_TRACED(copy_2d(&LEGACY, pCopy, &hStream));
}
VG_EXPORT CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
  VG_TRACED(copy_2d(&PER_THREAD, pCopy, &hStream));
}
VG_EXPORT CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy) { VG_TRACED(copy_3d(&LEGACY, pCopy, NULL)); }
VG_EXPORT CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy) { VG_TRACED(copy_3d(&PER_THREAD, pCopy, NULL)); }
VG_EXPORT CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
  VG_TRACED(copy_3d(&LEGACY, pCopy, &hStream));
}
VG_EXPORT CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
  VG_TRACED(copy_3d(&PER_THREAD, pCopy, &hStream));
}
