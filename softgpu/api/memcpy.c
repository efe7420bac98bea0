/*
 * Copies between host and device memory. Execution is synchronous, so the Async forms and the
 * per-thread-stream (_ptds/_ptsz) forms differ from the plain ones only in which stream they
 * validate. Device ranges are checked with sg_mem_check: a range must lie in live allocations
 * (granule precision), otherwise CUDA_ERROR_INVALID_VALUE. Host pointers can only be checked
 * for NULL; memmove is used throughout because unified addressing allows overlapping ranges.
 *
 * On a capturing stream the Async forms add a memcpy node instead (sg_graph.h); the synchronous
 * forms are "potentially unsafe" calls that capture may forbid.
 */
#include "sg_graph.h"

#include "memcpy3d.h"

#include <string.h>

/* A blocking copy is one of CUDA's flush points for kernel output (output.c). */
#define SG_BLOCKING_COPY(call)   \
  do {                           \
    sg_output_flush_current();   \
    SG_SYNC_ON_CURRENT(call);    \
  } while (0)

static CUresult dev_ptr(CUdeviceptr p, size_t n, void **out) {
  void *h = sg_mem_check((sg_devptr)p, (uint64_t)n);
  if (!h) return CUDA_ERROR_INVALID_VALUE;
  *out = h;
  return CUDA_SUCCESS;
}

/* Unified addressing: an address inside the arena is device memory, anything else is host. */
static int in_arena(CUdeviceptr p) {
  uint64_t base = (uint64_t)(uintptr_t)sg_mem_arena_base();
  return p >= base && p - base < sg_mem_arena_size();
}

static CUresult any_ptr(CUdeviceptr p, size_t n, void **out) {
  if (in_arena(p)) return dev_ptr(p, n, out);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  *out = (void *)(uintptr_t)p;
  return CUDA_SUCCESS;
}

static CUresult htod(CUdeviceptr dst, const void *src, size_t n) {
  void *d;
  if (n == 0) return CUDA_SUCCESS;
  if (!src) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = dev_ptr(dst, n, &d);
  if (rc) return rc;
  memmove(d, src, n);
  return CUDA_SUCCESS;
}

static CUresult dtoh(void *dst, CUdeviceptr src, size_t n) {
  void *s;
  if (n == 0) return CUDA_SUCCESS;
  if (!dst) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = dev_ptr(src, n, &s);
  if (rc) return rc;
  memmove(dst, s, n);
  return CUDA_SUCCESS;
}

static CUresult dtod(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  void *d, *s;
  if (n == 0) return CUDA_SUCCESS;
  CUresult rc = dev_ptr(dst, n, &d);
  if (rc || (rc = dev_ptr(src, n, &s))) return rc;
  memmove(d, s, n);
  return CUDA_SUCCESS;
}

static CUresult unified(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  void *d, *s;
  if (n == 0) return CUDA_SUCCESS;
  CUresult rc = any_ptr(dst, n, &d);
  if (rc || (rc = any_ptr(src, n, &s))) return rc;
  memmove(d, s, n);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
  SG_BLOCKING_COPY(htod(dstDevice, srcHost, ByteCount));
}
SG_EXPORT CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
  SG_BLOCKING_COPY(dtoh(dstHost, srcDevice, ByteCount));
}
SG_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount) {
  SG_BLOCKING_COPY(dtod(dstDevice, srcDevice, ByteCount));
}
SG_EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  SG_BLOCKING_COPY(unified(dst, src, ByteCount));
}

/* A 1D copy as the one-row 3D copy a memcpy node holds. */
static CUDA_MEMCPY3D desc_1d(CUmemorytype dt, void *dh, CUdeviceptr dd, CUmemorytype st, const void *sh,
                             CUdeviceptr sd, size_t n) {
  CUDA_MEMCPY3D p;
  memset(&p, 0, sizeof p);
  p.dstMemoryType = dt;
  p.dstHost = dh;
  p.dstDevice = dd;
  p.srcMemoryType = st;
  p.srcHost = sh;
  p.srcDevice = sd;
  p.WidthInBytes = n;
  p.Height = 1;
  p.Depth = 1;
  return p;
}

/* Called once the stream passed its checks: adds the copy to the stream's capture. */
static CUresult capture_copy(CUstream s, const CUDA_MEMCPY3D *p) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  sg_op op;
  if ((rc = sg_op_copy(&op, c, p))) return rc;
  return sg_capture_add(s, &op);
}

#define SG_ASYNC_COPY(stream, desc, call)                        \
  do {                                                           \
    if (sg_capture_on(stream)) {                                 \
      CUDA_MEMCPY3D d_ = (desc);                                 \
      return capture_copy((stream), &d_);                        \
    }                                                            \
    SG_ON_STREAM(stream, call);                                  \
  } while (0)

SG_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                        CUstream hStream) {
  SG_ASYNC_COPY(hStream, desc_1d(CU_MEMORYTYPE_DEVICE, NULL, dstDevice, CU_MEMORYTYPE_HOST, srcHost, 0, ByteCount),
                htod(dstDevice, srcHost, ByteCount));
}
SG_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream) {
  SG_ASYNC_COPY(hStream, desc_1d(CU_MEMORYTYPE_HOST, dstHost, 0, CU_MEMORYTYPE_DEVICE, NULL, srcDevice, ByteCount),
                dtoh(dstHost, srcDevice, ByteCount));
}
SG_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                        CUstream hStream) {
  SG_ASYNC_COPY(hStream,
                desc_1d(CU_MEMORYTYPE_DEVICE, NULL, dstDevice, CU_MEMORYTYPE_DEVICE, NULL, srcDevice, ByteCount),
                dtod(dstDevice, srcDevice, ByteCount));
}
SG_EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream) {
  SG_ASYNC_COPY(hStream, desc_1d(CU_MEMORYTYPE_UNIFIED, NULL, dst, CU_MEMORYTYPE_UNIFIED, NULL, src, ByteCount),
                unified(dst, src, ByteCount));
}

SG_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr d, const void *s, size_t n) { return cuMemcpyHtoD_v2(d, s, n); }
SG_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *d, CUdeviceptr s, size_t n) { return cuMemcpyDtoH_v2(d, s, n); }
SG_EXPORT CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr d, CUdeviceptr s, size_t n) { return cuMemcpyDtoD_v2(d, s, n); }
SG_EXPORT CUresult cuMemcpy_ptds(CUdeviceptr d, CUdeviceptr s, size_t n) { return cuMemcpy(d, s, n); }
SG_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr d, const void *s, size_t n, CUstream st) {
  return cuMemcpyHtoDAsync_v2(d, s, n, SG_PTSZ(st));
}
SG_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void *d, CUdeviceptr s, size_t n, CUstream st) {
  return cuMemcpyDtoHAsync_v2(d, s, n, SG_PTSZ(st));
}
SG_EXPORT CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) {
  return cuMemcpyDtoDAsync_v2(d, s, n, SG_PTSZ(st));
}
SG_EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) {
  return cuMemcpyAsync(d, s, n, SG_PTSZ(st));
}

/* ---- 2D and 3D copies ------------------------------------------------------------------------------
 * Host, device, unified and array operands. An array side is its rows, slice after slice, as one
 * tall image (array.c); a 3D copy keeps each of its slices inside one slice of the array. */

/* Resolves one side of a 2D copy to a host-visible address of its first byte and its row pitch,
 * after checking that the whole pitched span lies in memory we may touch. */
static CUresult side_2d(CUmemorytype type, const void *host, CUdeviceptr dev, CUarray arr, size_t x, size_t y,
                        size_t pitch, size_t width, size_t height, unsigned char **out, size_t *pitch_out) {
  *pitch_out = pitch;
  if (type == CU_MEMORYTYPE_ARRAY) {
    sg_array *a;
    CUresult rc = sg_array_get(arr, &a);
    if (rc) return rc;
    size_t rows = a->rows * a->slices;
    if (x > a->pitch || width > a->pitch - x || y > rows || height > rows - y) return CUDA_ERROR_INVALID_VALUE;
    unsigned char *p = sg_mem_check(a->data, a->bytes);
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    *out = p + y * a->pitch + x;
    *pitch_out = a->pitch;
    return CUDA_SUCCESS;
  }
  if (type != CU_MEMORYTYPE_HOST && type != CU_MEMORYTYPE_DEVICE && type != CU_MEMORYTYPE_UNIFIED)
    return CUDA_ERROR_INVALID_VALUE;
  if (height > 1 && pitch < x + width) return CUDA_ERROR_INVALID_VALUE;
  /* offset = y*pitch + x and span = (height-1)*pitch + width, without overflow */
  if (pitch && y > (SIZE_MAX - x) / pitch) return CUDA_ERROR_INVALID_VALUE;
  size_t off = y * pitch + x;
  if (height > 1 && pitch > (SIZE_MAX - width) / (height - 1)) return CUDA_ERROR_INVALID_VALUE;
  size_t span = (height - 1) * pitch + width;
  if (span > SIZE_MAX - off) return CUDA_ERROR_INVALID_VALUE;
  void *p;
  CUresult rc;
  if (type == CU_MEMORYTYPE_HOST) {
    if (!host) return CUDA_ERROR_INVALID_VALUE;
    *out = (unsigned char *)host + off;
    return CUDA_SUCCESS;
  }
  if (dev > UINT64_MAX - off) return CUDA_ERROR_INVALID_VALUE;
  rc = type == CU_MEMORYTYPE_DEVICE ? dev_ptr(dev + off, span, &p) : any_ptr(dev + off, span, &p);
  if (rc) return rc;
  *out = p;
  return CUDA_SUCCESS;
}

/* Checks a 2D copy and, when run is set, performs it. */
static CUresult copy_2d_run(const CUDA_MEMCPY2D *c, int run) {
  if (!c) return CUDA_ERROR_INVALID_VALUE;
  size_t w = c->WidthInBytes, h = c->Height;
  if (w == 0 || h == 0) return CUDA_SUCCESS;
  unsigned char *s, *d;
  size_t sp, dp;
  CUresult rc = side_2d(c->srcMemoryType, c->srcHost, c->srcDevice, c->srcArray, c->srcXInBytes, c->srcY,
                        c->srcPitch, w, h, &s, &sp);
  if (rc) return rc;
  rc = side_2d(c->dstMemoryType, c->dstHost, c->dstDevice, c->dstArray, c->dstXInBytes, c->dstY, c->dstPitch, w, h,
               &d, &dp);
  if (rc || !run) return rc;
  for (size_t row = 0; row < h; row++) memmove(d + row * dp, s + row * sp, w);
  return CUDA_SUCCESS;
}

/* An array side of a 2D copy: the rows of the array's first slice (sg_memcpy_3d reaches the others). */
static CUresult array_side_2d(CUmemorytype type, CUarray arr, size_t y, size_t h) {
  if (type != CU_MEMORYTYPE_ARRAY) return CUDA_SUCCESS;
  sg_array *a;
  CUresult rc = sg_array_get(arr, &a);
  if (rc) return rc;
  return y > a->rows || h > a->rows - y ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

static CUresult copy_2d(const CUDA_MEMCPY2D *c) {
  CUresult rc;
  if (c && c->WidthInBytes && c->Height &&
      ((rc = array_side_2d(c->srcMemoryType, c->srcArray, c->srcY, c->Height)) ||
       (rc = array_side_2d(c->dstMemoryType, c->dstArray, c->dstY, c->Height))))
    return rc;
  return copy_2d_run(c, 1);
}

/* An array side of a 3D copy: its slices are the array's, whatever srcHeight/dstHeight say, and
 * the box must stay inside them. */
static CUresult array_side_3d(CUmemorytype type, CUarray arr, size_t y, size_t z, size_t h, size_t d, size_t *height) {
  if (type != CU_MEMORYTYPE_ARRAY) return CUDA_SUCCESS;
  sg_array *a;
  CUresult rc = sg_array_get(arr, &a);
  if (rc) return rc;
  if (y > a->rows || h > a->rows - y || z > a->slices || d > a->slices - z) return CUDA_ERROR_INVALID_VALUE;
  *height = a->rows;
  return CUDA_SUCCESS;
}

/* Every slice is checked before any byte moves, so a bad copy changes nothing. */
CUresult sg_memcpy_3d(const CUDA_MEMCPY3D *p, int run) {
  if (!p || p->srcLOD || p->dstLOD || p->reserved0 || p->reserved1) return CUDA_ERROR_INVALID_VALUE;
  if (p->WidthInBytes == 0 || p->Height == 0 || p->Depth == 0) return CUDA_SUCCESS;
  CUDA_MEMCPY3D q = *p;
  CUresult rc = array_side_3d(q.srcMemoryType, q.srcArray, q.srcY, q.srcZ, q.Height, q.Depth, &q.srcHeight);
  if (rc || (rc = array_side_3d(q.dstMemoryType, q.dstArray, q.dstY, q.dstZ, q.Height, q.Depth, &q.dstHeight)))
    return rc;
  if (q.Depth > 1 && (q.srcHeight < q.Height || q.dstHeight < q.Height)) return CUDA_ERROR_INVALID_VALUE;
  CUDA_MEMCPY2D s;
  for (int pass = 0; pass < (run ? 2 : 1); pass++) {
    for (size_t z = 0; z < q.Depth; z++) {
      rc = vg_memcpy3d_slice(&q, z, &s);
      if (rc || (rc = copy_2d_run(&s, pass))) return rc;
    }
  }
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy) { SG_BLOCKING_COPY(copy_2d(pCopy)); }
SG_EXPORT CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy) { SG_BLOCKING_COPY(copy_2d(pCopy)); }

static CUDA_MEMCPY3D desc_2d(const CUDA_MEMCPY2D *c) {
  CUDA_MEMCPY3D p;
  memset(&p, 0, sizeof p);
  p.srcXInBytes = c->srcXInBytes, p.srcY = c->srcY, p.srcMemoryType = c->srcMemoryType, p.srcHost = c->srcHost;
  p.srcDevice = c->srcDevice, p.srcArray = c->srcArray, p.srcPitch = c->srcPitch;
  p.dstXInBytes = c->dstXInBytes, p.dstY = c->dstY, p.dstMemoryType = c->dstMemoryType, p.dstHost = c->dstHost;
  p.dstDevice = c->dstDevice, p.dstArray = c->dstArray, p.dstPitch = c->dstPitch;
  p.WidthInBytes = c->WidthInBytes, p.Height = c->Height, p.Depth = 1;
  return p;
}

SG_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
  if (pCopy && sg_capture_on(hStream)) {
    CUDA_MEMCPY3D d = desc_2d(pCopy);
    return capture_copy(hStream, &d);
  }
  SG_ON_STREAM(hStream, copy_2d(pCopy));
}
SG_EXPORT CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy) { return cuMemcpy2D_v2(pCopy); }
SG_EXPORT CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy) { SG_BLOCKING_COPY(sg_memcpy_3d(pCopy, 1)); }
SG_EXPORT CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
  if (pCopy && sg_capture_on(hStream)) return capture_copy(hStream, pCopy);
  SG_ON_STREAM(hStream, sg_memcpy_3d(pCopy, 1));
}
SG_EXPORT CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy) { return cuMemcpy3D_v2(pCopy); }
SG_EXPORT CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
  return cuMemcpy3DAsync_v2(pCopy, SG_PTSZ(hStream));
}

SG_EXPORT CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy) { return cuMemcpy2DUnaligned_v2(pCopy); }
SG_EXPORT CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
  return cuMemcpy2DAsync_v2(pCopy, SG_PTSZ(hStream));
}
