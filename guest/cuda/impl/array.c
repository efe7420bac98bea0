/*
 * CUDA arrays (mipmapped ones too), copies that name an array, and texture and surface objects,
 * forwarded to the executor (src/executor/custom/texture.ts), which checks every handle and device
 * range:
 *  - descriptors travel field by field, never as structs with pointers in them;
 *  - host bytes travel in calls of at most CHUNK bytes: an offset copy (cuMemcpyHtoA...) is cut
 *    into consecutive pieces, a 2D/3D box with an array side into boxes of whole rows (or pieces
 *    of one row) per call (vgMemcpy3DArray);
 *  - texture and surface objects are the driver's values, which kernels receive in their
 *    parameters unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "vgcuda.h"

#include "rpc.h"

#define CHUNK ((size_t)4 * 1024 * 1024)

/* ---- arrays ------------------------------------------------------------------------------------ */
static CUresult array_create(CUarray *out, const CUDA_ARRAY3D_DESCRIPTOR *d, int three_d) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out || !d) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, three_d ? VG_OP_cuArray3DCreate_v2 : VG_OP_cuArrayCreate_v2, 0);
  if (r) return r;
  vg_put_u64(&c, d->Width);
  vg_put_u64(&c, d->Height);
  if (three_d) vg_put_u64(&c, d->Depth);
  vg_put_u32(&c, (uint32_t)d->Format);
  vg_put_u32(&c, d->NumChannels);
  if (three_d) vg_put_u32(&c, d->Flags);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *out = (CUarray)vg_get_new_handle(&c, VG_H_ARRAY);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray) {
  CUDA_ARRAY3D_DESCRIPTOR d;
  memset(&d, 0, sizeof d);
  if (pAllocateArray) {
    d.Width = pAllocateArray->Width, d.Height = pAllocateArray->Height;
    d.Format = pAllocateArray->Format, d.NumChannels = pAllocateArray->NumChannels;
  }
  VG_TRACED(array_create(pHandle, pAllocateArray ? &d : NULL, 0));
}

VG_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray) {
  VG_TRACED(array_create(pHandle, pAllocateArray, 1));
}

static CUresult array_desc(void *out, size_t n, CUarray a, int three_d) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, three_d ? VG_OP_cuArray3DGetDescriptor_v2 : VG_OP_cuArrayGetDescriptor_v2, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_ARRAY, a, 0);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    if (!out) r = CUDA_ERROR_INVALID_VALUE;
    else vg_get_raw(&c, out, n);
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR *pArrayDescriptor, CUarray hArray) {
  VG_TRACED(array_desc(pArrayDescriptor, sizeof *pArrayDescriptor, hArray, 0));
}
VG_EXPORT CUresult cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR *pArrayDescriptor, CUarray hArray) {
  VG_TRACED(array_desc(pArrayDescriptor, sizeof *pArrayDescriptor, hArray, 1));
}

/* ---- mipmapped arrays ---------------------------------------------------------------------------- */
static CUresult mipmap_create(CUmipmappedArray *out, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned levels) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out || !d) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuMipmappedArrayCreate, 0);
  if (r) return r;
  vg_put_u64(&c, d->Width);
  vg_put_u64(&c, d->Height);
  vg_put_u64(&c, d->Depth);
  vg_put_u32(&c, (uint32_t)d->Format);
  vg_put_u32(&c, d->NumChannels);
  vg_put_u32(&c, d->Flags);
  vg_put_u32(&c, levels);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *out = (CUmipmappedArray)vg_get_new_handle(&c, VG_H_MIPMAPPEDARRAY);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                          unsigned int numMipmapLevels) {
  VG_TRACED(mipmap_create(pHandle, pMipmappedArrayDesc, numMipmapLevels));
}

/* A level is the same array (and guest handle) each time; it goes with its mipmapped array. */
static CUresult mipmap_level(CUarray *out, CUmipmappedArray m, unsigned level) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuMipmappedArrayGetLevel, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_MIPMAPPEDARRAY, m, 0);
  vg_put_u32(&c, level);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *out = (CUarray)vg_get_new_handle(&c, VG_H_ARRAY);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuMipmappedArrayGetLevel(CUarray *pLevelArray, CUmipmappedArray hMipmappedArray, unsigned int level) {
  VG_TRACED(mipmap_level(pLevelArray, hMipmappedArray, level));
}

/* ---- copies naming an array by byte offset ------------------------------------------------------ */
typedef struct aforms {
  uint32_t htoa, atoh;
  int has_stream;
} aforms;

static const aforms SYNC_FORMS = {VG_OP_cuMemcpyHtoA_v2, VG_OP_cuMemcpyAtoH_v2, 0};
static const aforms PTDS_FORMS = {VG_OP_cuMemcpyHtoA_v2_ptds, VG_OP_cuMemcpyAtoH_v2_ptds, 0};
static const aforms ASYNC_FORMS = {VG_OP_cuMemcpyHtoAAsync_v2, VG_OP_cuMemcpyAtoHAsync_v2, 1};
static const aforms PTSZ_FORMS = {VG_OP_cuMemcpyHtoAAsync_v2_ptsz, VG_OP_cuMemcpyAtoHAsync_v2_ptsz, 1};

static CUresult htoa(const aforms *f, CUarray a, size_t off, const void *src, size_t n, CUstream st) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if ((!src && n) || !a) return CUDA_ERROR_INVALID_VALUE; /* a null array is a bad value, as softgpu says */
  size_t at = 0;
  do {
    size_t k = n - at < CHUNK ? n - at : CHUNK;
    vg_call c;
    CUresult r = vg_call_begin(&c, f->htoa, VG_CALL_SYNC);
    if (r) return r;
    vg_put_handle(&c, VG_H_ARRAY, a, 0);
    vg_put_u64(&c, off + at);
    vg_put_bytes(&c, (const uint8_t *)src + at, k);
    if (f->has_stream) vg_put_handle(&c, VG_H_STREAM, st, 1);
    if ((r = vg_call_end(&c, vg_call_invoke(&c)))) return r;
    at += k;
  } while (at < n);
  return CUDA_SUCCESS;
}

static CUresult atoh(const aforms *f, void *dst, CUarray a, size_t off, size_t n, CUstream st) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if ((!dst && n) || !a) return CUDA_ERROR_INVALID_VALUE;
  size_t at = 0;
  do {
    size_t k = n - at < CHUNK ? n - at : CHUNK;
    vg_call c;
    CUresult r = vg_call_begin(&c, f->atoh, VG_CALL_SYNC);
    if (r) return r;
    vg_put_handle(&c, VG_H_ARRAY, a, 0);
    vg_put_u64(&c, off + at);
    vg_put_u64(&c, k);
    if (f->has_stream) vg_put_handle(&c, VG_H_STREAM, st, 1);
    if ((r = vg_call_end(&c, vg_call_invoke_into(&c, (uint8_t *)dst + at, k)))) return r;
    at += k;
  } while (at < n);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemcpyHtoA_v2(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount) {
  VG_TRACED(htoa(&SYNC_FORMS, dstArray, dstOffset, srcHost, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpyHtoA_v2_ptds(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount) {
  VG_TRACED(htoa(&PTDS_FORMS, dstArray, dstOffset, srcHost, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpyHtoAAsync_v2(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount,
                                        CUstream hStream) {
  VG_TRACED(htoa(&ASYNC_FORMS, dstArray, dstOffset, srcHost, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyHtoAAsync_v2_ptsz(CUarray dstArray, size_t dstOffset, const void *srcHost,
                                             size_t ByteCount, CUstream hStream) {
  VG_TRACED(htoa(&PTSZ_FORMS, dstArray, dstOffset, srcHost, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyAtoH_v2(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount) {
  VG_TRACED(atoh(&SYNC_FORMS, dstHost, srcArray, srcOffset, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpyAtoH_v2_ptds(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount) {
  VG_TRACED(atoh(&PTDS_FORMS, dstHost, srcArray, srcOffset, ByteCount, NULL));
}
VG_EXPORT CUresult cuMemcpyAtoHAsync_v2(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount,
                                        CUstream hStream) {
  VG_TRACED(atoh(&ASYNC_FORMS, dstHost, srcArray, srcOffset, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyAtoHAsync_v2_ptsz(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount,
                                             CUstream hStream) {
  VG_TRACED(atoh(&PTSZ_FORMS, dstHost, srcArray, srcOffset, ByteCount, hStream));
}

/* ---- 2D and 3D boxes with an array side (called by memcpy2d.c) ----------------------------------- */
typedef struct bside {
  CUmemorytype type;
  const void *host;
  CUdeviceptr dev;
  CUarray arr;
  size_t x, y, z, pitch, height;
} bside;

static void put_side(vg_call *c, const bside *s, size_t y, size_t z) {
  vg_put_u32(c, (uint32_t)s->type);
  if (s->type == CU_MEMORYTYPE_ARRAY) {
    vg_put_handle(c, VG_H_ARRAY, s->arr, 0);
    vg_put_u64(c, s->x), vg_put_u64(c, y), vg_put_u64(c, z);
  } else if (s->type == CU_MEMORYTYPE_DEVICE) {
    vg_put_u64(c, s->dev);
    vg_put_u64(c, s->x), vg_put_u64(c, y), vg_put_u64(c, z), vg_put_u64(c, s->pitch), vg_put_u64(c, s->height);
  }
}

/* One call: a box of w bytes x h rows of slice z (of each side), starting at row y of each. */
static CUresult box_call(const bside *s, const bside *d, size_t xoff, size_t w, size_t sy, size_t dy, size_t sz,
                         size_t dz, size_t h, CUstream st, int ptsz, uint8_t *tmp) {
  bside ss = *s, dd = *d;
  ss.x += xoff, dd.x += xoff;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_vgMemcpy3DArray, VG_CALL_SYNC);
  if (r) return r;
  vg_put_handle(&c, VG_H_STREAM, st, 1);
  vg_put_u8(&c, (uint8_t)ptsz);
  vg_put_u64(&c, w), vg_put_u64(&c, h), vg_put_u64(&c, 1);
  put_side(&c, &ss, sy, sz);
  put_side(&c, &dd, dy, dz);
  if (s->type == CU_MEMORYTYPE_HOST) {
    for (size_t row = 0; row < h; row++)
      memcpy(tmp + row * w, (const uint8_t *)s->host + (sz * s->height + sy + row) * s->pitch + ss.x, w);
    vg_put_bytes(&c, tmp, w * h);
  }
  if (d->type != CU_MEMORYTYPE_HOST) return vg_call_end(&c, vg_call_invoke(&c));
  r = vg_call_end(&c, vg_call_invoke_into(&c, tmp, w * h));
  if (r) return r;
  for (size_t row = 0; row < h; row++)
    memcpy((uint8_t *)d->host + (dz * d->height + dy + row) * d->pitch + dd.x, tmp + row * w, w);
  return CUDA_SUCCESS;
}

static CUresult side_of(CUmemorytype type, const void *host, CUdeviceptr dev, CUarray arr, size_t x, size_t y,
                        size_t z, size_t pitch, size_t height, bside *out) {
  if (type == CU_MEMORYTYPE_UNIFIED) {
    int is_dev = 0;
    CUresult r = vg_ptr_is_device(dev, &is_dev);
    if (r) return r;
    if (is_dev) type = CU_MEMORYTYPE_DEVICE;
    else type = CU_MEMORYTYPE_HOST, host = (const void *)(uintptr_t)dev;
  }
  if (type != CU_MEMORYTYPE_HOST && type != CU_MEMORYTYPE_DEVICE && type != CU_MEMORYTYPE_ARRAY)
    return CUDA_ERROR_INVALID_VALUE;
  if ((type == CU_MEMORYTYPE_HOST && !host) || (type == CU_MEMORYTYPE_ARRAY && !arr)) return CUDA_ERROR_INVALID_VALUE;
  *out = (bside){type, host, dev, arr, x, y, z, pitch, height};
  return CUDA_SUCCESS;
}

static size_t format_bytes(CUarray_format f) {
  switch (f) {
  case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: return 1;
  case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF: return 2;
  default: return 4;
  }
}

/* A copy cut into several calls must not stop halfway: the box is checked against the array's
 * size first, as the driver checks a copy before it moves a byte. */
static CUresult array_fits(const bside *a, size_t w, size_t h, size_t d) {
  if (a->type != CU_MEMORYTYPE_ARRAY) return CUDA_SUCCESS;
  CUDA_ARRAY3D_DESCRIPTOR desc;
  CUresult r = array_desc(&desc, sizeof desc, a->arr, 1);
  if (r) return r;
  size_t row = desc.Width * format_bytes(desc.Format) * desc.NumChannels;
  size_t rows = desc.Height ? desc.Height : 1, slices = desc.Depth ? desc.Depth : 1;
  if (a->x > row || w > row - a->x || a->y > rows || h > rows - a->y || a->z > slices || d > slices - a->z)
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

CUresult vg_memcpy_array_box(const CUDA_MEMCPY3D *p, const CUstream *st, int ptsz) {
  size_t w = p->WidthInBytes, h = p->Height, depth = p->Depth;
  if (w == 0 || h == 0 || depth == 0) return CUDA_SUCCESS;
  bside s, d;
  CUresult r = side_of(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcXInBytes, p->srcY, p->srcZ,
                       p->srcPitch, p->srcHeight, &s);
  if (r || (r = side_of(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstXInBytes, p->dstY, p->dstZ,
                        p->dstPitch, p->dstHeight, &d)))
    return r;
  if (s.type == CU_MEMORYTYPE_HOST && d.type == CU_MEMORYTYPE_HOST) return CUDA_ERROR_INVALID_VALUE;
  int host = s.type == CU_MEMORYTYPE_HOST || d.type == CU_MEMORYTYPE_HOST;
  CUstream stream = st ? *st : NULL;
  if (!host) { /* device and arrays only: one call, no bytes on the wire */
    vg_call c;
    if ((r = vg_call_begin(&c, VG_OP_vgMemcpy3DArray, VG_CALL_SYNC))) return r;
    vg_put_handle(&c, VG_H_STREAM, stream, 1);
    vg_put_u8(&c, (uint8_t)ptsz);
    vg_put_u64(&c, w), vg_put_u64(&c, h), vg_put_u64(&c, depth);
    put_side(&c, &s, s.y, s.z);
    put_side(&c, &d, d.y, d.z);
    return vg_call_end(&c, vg_call_invoke(&c));
  }
  /* The host side's rows must not overlap each other (pitch covers the row, height the box). */
  const bside *hs = s.type == CU_MEMORYTYPE_HOST ? &s : &d;
  if ((h > 1 && hs->pitch < hs->x + w) || (depth > 1 && hs->height < h)) return CUDA_ERROR_INVALID_VALUE;
  if ((r = array_fits(&s, w, h, depth)) || (r = array_fits(&d, w, h, depth))) return r;
  size_t piece = w < CHUNK ? w : CHUNK;
  size_t rows = CHUNK / piece;
  uint8_t *tmp = malloc(piece * (rows < h ? rows : h));
  if (!tmp) return CUDA_ERROR_OUT_OF_MEMORY;
  for (size_t z = 0; z < depth && !r; z++)
    for (size_t y = 0; y < h && !r; y += rows) {
      size_t n = h - y < rows ? h - y : rows;
      for (size_t x = 0; x < w && !r; x += piece) {
        size_t k = w - x < piece ? w - x : piece;
        r = box_call(&s, &d, x, k, s.y + y, d.y + y, s.z + z, d.z + z, n, stream, ptsz, tmp);
      }
    }
  free(tmp);
  return r;
}

/* ---- texture and surface objects ------------------------------------------------------------------ */
static CUresult put_resource(vg_call *c, const CUDA_RESOURCE_DESC *rd) {
  vg_put_u32(c, (uint32_t)rd->resType);
  vg_put_u32(c, rd->flags);
  switch (rd->resType) {
  case CU_RESOURCE_TYPE_ARRAY:
    vg_put_handle(c, VG_H_ARRAY, rd->res.array.hArray, 0);
    return CUDA_SUCCESS;
  case CU_RESOURCE_TYPE_LINEAR:
    vg_put_u64(c, rd->res.linear.devPtr);
    vg_put_u32(c, (uint32_t)rd->res.linear.format);
    vg_put_u32(c, rd->res.linear.numChannels);
    vg_put_u64(c, rd->res.linear.sizeInBytes);
    return CUDA_SUCCESS;
  case CU_RESOURCE_TYPE_PITCH2D:
    vg_put_u64(c, rd->res.pitch2D.devPtr);
    vg_put_u32(c, (uint32_t)rd->res.pitch2D.format);
    vg_put_u32(c, rd->res.pitch2D.numChannels);
    vg_put_u64(c, rd->res.pitch2D.width);
    vg_put_u64(c, rd->res.pitch2D.height);
    vg_put_u64(c, rd->res.pitch2D.pitchInBytes);
    return CUDA_SUCCESS;
  case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY:
    vg_put_handle(c, VG_H_MIPMAPPEDARRAY, rd->res.mipmap.hMipmappedArray, 0);
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

/* The executor's reply to the resource getters (src/executor/custom/texture.ts, resourceWire). */
static void get_resource(vg_call *c, CUDA_RESOURCE_DESC *rd) {
  memset(rd, 0, sizeof *rd);
  rd->resType = (CUresourcetype)vg_get_u32(c);
  rd->flags = vg_get_u32(c);
  switch (rd->resType) {
  case CU_RESOURCE_TYPE_ARRAY:
    rd->res.array.hArray = (CUarray)vg_handle_find(VG_H_ARRAY, vg_get_u64(c));
    break;
  case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY:
    rd->res.mipmap.hMipmappedArray = (CUmipmappedArray)vg_handle_find(VG_H_MIPMAPPEDARRAY, vg_get_u64(c));
    break;
  case CU_RESOURCE_TYPE_LINEAR:
    rd->res.linear.devPtr = vg_get_u64(c);
    rd->res.linear.sizeInBytes = vg_get_u64(c);
    rd->res.linear.format = (CUarray_format)vg_get_u32(c);
    rd->res.linear.numChannels = vg_get_u32(c);
    break;
  default:
    rd->res.pitch2D.devPtr = vg_get_u64(c);
    rd->res.pitch2D.width = vg_get_u64(c);
    rd->res.pitch2D.height = vg_get_u64(c);
    rd->res.pitch2D.pitchInBytes = vg_get_u64(c);
    rd->res.pitch2D.format = (CUarray_format)vg_get_u32(c);
    rd->res.pitch2D.numChannels = vg_get_u32(c);
    break;
  }
}

static CUresult object_create(unsigned long long *out, const CUDA_RESOURCE_DESC *rd, const CUDA_TEXTURE_DESC *td,
                              const CUDA_RESOURCE_VIEW_DESC *vd, int surface) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out || !rd || (!surface && !td)) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, surface ? VG_OP_cuSurfObjectCreate : VG_OP_cuTexObjectCreate, 0);
  if (r) return r;
  if ((r = put_resource(&c, rd))) return vg_call_end(&c, r);
  if (!surface) {
    vg_put_raw(&c, td, sizeof *td);
    vg_put_u8(&c, vd != NULL);
    if (vd) vg_put_raw(&c, vd, sizeof *vd);
  }
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *out = vg_get_u64(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuTexObjectCreate(CUtexObject *pTexObject, const CUDA_RESOURCE_DESC *pResDesc,
                                     const CUDA_TEXTURE_DESC *pTexDesc, const CUDA_RESOURCE_VIEW_DESC *pResViewDesc) {
  VG_TRACED(object_create(pTexObject, pResDesc, pTexDesc, pResViewDesc, 0));
}
VG_EXPORT CUresult cuSurfObjectCreate(CUsurfObject *pSurfObject, const CUDA_RESOURCE_DESC *pResDesc) {
  VG_TRACED(object_create(pSurfObject, pResDesc, NULL, NULL, 1));
}

static CUresult object_destroy(unsigned long long v, uint32_t op) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, op, 0);
  if (r) return r;
  vg_put_u64(&c, v);
  return vg_call_end(&c, vg_call_invoke(&c));
}

VG_EXPORT CUresult cuTexObjectDestroy(CUtexObject texObject) {
  VG_TRACED(object_destroy(texObject, VG_OP_cuTexObjectDestroy));
}
VG_EXPORT CUresult cuSurfObjectDestroy(CUsurfObject surfObject) {
  VG_TRACED(object_destroy(surfObject, VG_OP_cuSurfObjectDestroy));
}

enum { PART_RES, PART_TEX, PART_VIEW };

static CUresult object_describe(void *out, unsigned long long v, uint32_t op, int part) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, op, 0);
  if (r) return r;
  vg_put_u64(&c, v);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS && !out) r = CUDA_ERROR_INVALID_VALUE;
  if (r == CUDA_SUCCESS) {
    if (part == PART_RES) get_resource(&c, out);
    else if (part == PART_TEX) vg_get_raw(&c, out, sizeof(CUDA_TEXTURE_DESC));
    else vg_get_raw(&c, out, sizeof(CUDA_RESOURCE_VIEW_DESC));
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUtexObject texObject) {
  VG_TRACED(object_describe(pResDesc, texObject, VG_OP_cuTexObjectGetResourceDesc, PART_RES));
}
VG_EXPORT CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *pTexDesc, CUtexObject texObject) {
  VG_TRACED(object_describe(pTexDesc, texObject, VG_OP_cuTexObjectGetTextureDesc, PART_TEX));
}
VG_EXPORT CUresult cuTexObjectGetResourceViewDesc(CUDA_RESOURCE_VIEW_DESC *pResViewDesc, CUtexObject texObject) {
  VG_TRACED(object_describe(pResViewDesc, texObject, VG_OP_cuTexObjectGetResourceViewDesc, PART_VIEW));
}
VG_EXPORT CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUsurfObject surfObject) {
  VG_TRACED(object_describe(pResDesc, surfObject, VG_OP_cuSurfObjectGetResourceDesc, PART_RES));
}
