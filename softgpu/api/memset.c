/*
 * cuMemsetD* : fill device memory with 8-, 16- or 32-bit values, in 1D and 2D (pitched) forms.
 * Synchronous like every stream operation here; the Async and per-thread forms only differ in
 * the stream they validate. 16- and 32-bit fills require a matching alignment, as on a GPU.
 * On a capturing stream the Async forms add a memset node instead (sg_graph.h).
 */
#include "sg_graph.h"

#include <string.h>

/* Fills `count` elements of `elem` bytes at p; p was range-checked by the caller. */
static void fill(unsigned char *p, unsigned elem, uint32_t value, size_t count) {
  if (elem == 1) {
    memset(p, (int)(value & 0xff), count);
  } else if (elem == 2) {
    uint16_t v = (uint16_t)value;
    for (size_t i = 0; i < count; i++) memcpy(p + 2 * i, &v, 2);
  } else {
    for (size_t i = 0; i < count; i++) memcpy(p + 4 * i, &value, 4);
  }
}

CUresult sg_memset_2d(CUdeviceptr dst, size_t pitch, uint32_t value, unsigned elem, size_t width, size_t height,
                      int run) {
  if (elem != 1 && elem != 2 && elem != 4) return CUDA_ERROR_INVALID_VALUE;
  if (width == 0 || height == 0) return CUDA_SUCCESS;
  if (dst % elem) return CUDA_ERROR_INVALID_VALUE;
  if (width > SIZE_MAX / elem) return CUDA_ERROR_INVALID_VALUE;
  size_t row = width * elem;
  if (height > 1 && (pitch < row || pitch % elem)) return CUDA_ERROR_INVALID_VALUE;
  /* span = (height - 1) * pitch + row, without overflow */
  if (height > 1 && pitch > (SIZE_MAX - row) / (height - 1)) return CUDA_ERROR_INVALID_VALUE;
  size_t span = (height - 1) * (height > 1 ? pitch : 0) + row;
  unsigned char *p = sg_mem_check((sg_devptr)dst, span);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  if (!run) return CUDA_SUCCESS;
  for (size_t y = 0; y < height; y++) fill(p + y * pitch, elem, value, width);
  return CUDA_SUCCESS;
}

static CUresult memset_2d(CUdeviceptr dst, size_t pitch, uint32_t value, unsigned elem, size_t width,
                          size_t height) {
  return sg_memset_2d(dst, pitch, value, elem, width, height, 1);
}

static CUresult memset_1d(CUdeviceptr dst, uint32_t value, unsigned elem, size_t n) {
  return memset_2d(dst, 0, value, elem, n, 1);
}

/* Adds the memset to the stream's capture once the stream passed its checks. */
static CUresult capture_set(CUstream s, CUdeviceptr dst, size_t pitch, uint32_t value, unsigned elem, size_t width,
                            size_t height) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  CUDA_MEMSET_NODE_PARAMS p = {dst, height > 1 ? pitch : 0, value, elem, width, height};
  sg_op op;
  if ((rc = sg_op_memset(&op, c, &p))) return rc;
  return sg_capture_add(s, &op);
}

#define SG_ASYNC_SET(s, dst, pitch, value, elem, w, h)                                      \
  do {                                                                                    \
    if (sg_capture_on(s)) return capture_set((s), (dst), (pitch), (value), (elem), (w), (h)); \
    SG_ON_STREAM(s, memset_2d((dst), (pitch), (value), (elem), (w), (h)));                  \
  } while (0)

SG_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char uc, size_t N) {
  SG_SYNC_ON_CURRENT(memset_1d(d, uc, 1, N));
}
SG_EXPORT CUresult cuMemsetD16_v2(CUdeviceptr d, unsigned short us, size_t N) {
  SG_SYNC_ON_CURRENT(memset_1d(d, us, 2, N));
}
SG_EXPORT CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int ui, size_t N) {
  SG_SYNC_ON_CURRENT(memset_1d(d, ui, 4, N));
}

SG_EXPORT CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char uc, size_t N, CUstream s) {
  SG_ASYNC_SET(s, d, 0, uc, 1, N, 1);
}
SG_EXPORT CUresult cuMemsetD16Async(CUdeviceptr d, unsigned short us, size_t N, CUstream s) {
  SG_ASYNC_SET(s, d, 0, us, 2, N, 1);
}
SG_EXPORT CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int ui, size_t N, CUstream s) {
  SG_ASYNC_SET(s, d, 0, ui, 4, N, 1);
}

SG_EXPORT CUresult cuMemsetD2D8_v2(CUdeviceptr d, size_t pitch, unsigned char uc, size_t w, size_t h) {
  SG_SYNC_ON_CURRENT(memset_2d(d, pitch, uc, 1, w, h));
}
SG_EXPORT CUresult cuMemsetD2D16_v2(CUdeviceptr d, size_t pitch, unsigned short us, size_t w, size_t h) {
  SG_SYNC_ON_CURRENT(memset_2d(d, pitch, us, 2, w, h));
}
SG_EXPORT CUresult cuMemsetD2D32_v2(CUdeviceptr d, size_t pitch, unsigned int ui, size_t w, size_t h) {
  SG_SYNC_ON_CURRENT(memset_2d(d, pitch, ui, 4, w, h));
}
SG_EXPORT CUresult cuMemsetD2D8Async(CUdeviceptr d, size_t pitch, unsigned char uc, size_t w, size_t h, CUstream s) {
  SG_ASYNC_SET(s, d, pitch, uc, 1, w, h);
}
SG_EXPORT CUresult cuMemsetD2D16Async(CUdeviceptr d, size_t pitch, unsigned short us, size_t w, size_t h,
                                      CUstream s) {
  SG_ASYNC_SET(s, d, pitch, us, 2, w, h);
}
SG_EXPORT CUresult cuMemsetD2D32Async(CUdeviceptr d, size_t pitch, unsigned int ui, size_t w, size_t h, CUstream s) {
  SG_ASYNC_SET(s, d, pitch, ui, 4, w, h);
}

SG_EXPORT CUresult cuMemsetD8_v2_ptds(CUdeviceptr d, unsigned char v, size_t n) { return cuMemsetD8_v2(d, v, n); }
SG_EXPORT CUresult cuMemsetD16_v2_ptds(CUdeviceptr d, unsigned short v, size_t n) { return cuMemsetD16_v2(d, v, n); }
SG_EXPORT CUresult cuMemsetD32_v2_ptds(CUdeviceptr d, unsigned int v, size_t n) { return cuMemsetD32_v2(d, v, n); }
SG_EXPORT CUresult cuMemsetD2D8_v2_ptds(CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h) {
  return cuMemsetD2D8_v2(d, p, v, w, h);
}
SG_EXPORT CUresult cuMemsetD2D16_v2_ptds(CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h) {
  return cuMemsetD2D16_v2(d, p, v, w, h);
}
SG_EXPORT CUresult cuMemsetD2D32_v2_ptds(CUdeviceptr d, size_t p, unsigned int v, size_t w, size_t h) {
  return cuMemsetD2D32_v2(d, p, v, w, h);
}
SG_EXPORT CUresult cuMemsetD8Async_ptsz(CUdeviceptr d, unsigned char v, size_t n, CUstream s) {
  return cuMemsetD8Async(d, v, n, SG_PTSZ(s));
}
SG_EXPORT CUresult cuMemsetD16Async_ptsz(CUdeviceptr d, unsigned short v, size_t n, CUstream s) {
  return cuMemsetD16Async(d, v, n, SG_PTSZ(s));
}
SG_EXPORT CUresult cuMemsetD32Async_ptsz(CUdeviceptr d, unsigned int v, size_t n, CUstream s) {
  return cuMemsetD32Async(d, v, n, SG_PTSZ(s));
}
SG_EXPORT CUresult cuMemsetD2D8Async_ptsz(CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h, CUstream s) {
  return cuMemsetD2D8Async(d, p, v, w, h, SG_PTSZ(s));
}
SG_EXPORT CUresult cuMemsetD2D16Async_ptsz(CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h,
                                           CUstream s) {
  return cuMemsetD2D16Async(d, p, v, w, h, SG_PTSZ(s));
}
SG_EXPORT CUresult cuMemsetD2D32Async_ptsz(CUdeviceptr d, size_t p, unsigned int v, size_t w, size_t h, CUstream s) {
  return cuMemsetD2D32Async(d, p, v, w, h, SG_PTSZ(s));
}
