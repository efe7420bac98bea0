/*
 * CUDA arrays: cuArrayCreate, cuArray3DCreate and their descriptors, and the copies that name an
 * array by offset (cuMemcpyAtoH, HtoA, AtoD, DtoA, AtoA and the Async forms). 2D and 3D copies
 * with array operands go through memcpy.c, which asks sg_array_box for the array's side.
 *
 * Mipmapped arrays (cuMipmappedArrayCreate, GetLevel, Destroy) are arrays per level, each level
 * half the one before (layers stay), owned by the mipmapped array.
 *
 * Formats stored: 8, 16 and 32-bit integers, half and float, with 1, 2 or 4 channels. Flags:
 * layered, surface load/store and texture gather; cubemaps, sparse and deferred-mapping arrays,
 * depth textures and colour attachments are CUDA_ERROR_NOT_SUPPORTED, as are the packed and
 * block-compressed formats. Limits are the device attributes softgpu reports (device_attr.c).
 */
#include "sg_graph.h"

#include <stdlib.h>
#include <string.h>

unsigned sg_format_size(CUarray_format f) {
  switch (f) {
  case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: return 1;
  case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF: return 2;
  case CU_AD_FORMAT_UNSIGNED_INT32: case CU_AD_FORMAT_SIGNED_INT32: case CU_AD_FORMAT_FLOAT: return 4;
  default: return 0;
  }
}

/* The formats cuda.h names that softgpu does not store: packed, planar (video) and block-compressed. */
int sg_format_known(CUarray_format f) {
  unsigned v = (unsigned)f;
  return v == 0x50 || (v >= 0x91 && v <= 0x9f) || (v >= 0xa1 && v <= 0xa9) || (v >= 0xb0 && v <= 0xb3) ||
         (v >= 0xc0 && v <= 0xcb);
}

#define KNOWN_FLAGS (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST | CUDA_ARRAY3D_TEXTURE_GATHER)

static CUresult attr(CUdevice_attribute a, size_t *v) {
  int x = 0;
  CUresult rc = sg_dev_attribute(a, &x);
  *v = (size_t)x;
  return rc;
}

/* The device's limits for an array of this shape. */
static CUresult check_limits(const CUDA_ARRAY3D_DESCRIPTOR *d) {
  size_t mw, mh = 1, md = 1;
  int layered = (d->Flags & CUDA_ARRAY3D_LAYERED) != 0;
  CUresult rc;
  if (layered && d->Height == 0) {
    if ((rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_WIDTH, &mw)) ||
        (rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_LAYERS, &md)))
      return rc;
  } else if (layered) {
    if ((rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_WIDTH, &mw)) ||
        (rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_HEIGHT, &mh)) ||
        (rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_LAYERS, &md)))
      return rc;
  } else if (d->Depth) {
    if ((rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH, &mw)) ||
        (rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT, &mh)) ||
        (rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH, &md)))
      return rc;
  } else if (d->Height) {
    if ((rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH, &mw)) ||
        (rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT, &mh)))
      return rc;
  } else if ((rc = attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH, &mw))) {
    return rc;
  }
  if (d->Width > mw || d->Height > mh || d->Depth > md) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

static CUresult check_desc(const CUDA_ARRAY3D_DESCRIPTOR *d) {
  if (d->Flags & ~(unsigned)KNOWN_FLAGS) {
    unsigned known_elsewhere = CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING |
                               CUDA_ARRAY3D_DEPTH_TEXTURE | CUDA_ARRAY3D_COLOR_ATTACHMENT;
    return d->Flags & ~(unsigned)(KNOWN_FLAGS | known_elsewhere) ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_SUPPORTED;
  }
  if (d->NumChannels != 1 && d->NumChannels != 2 && d->NumChannels != 4) return CUDA_ERROR_INVALID_VALUE;
  if (!sg_format_size(d->Format)) {
    /* The packed and block-compressed formats are real, softgpu does not store them. */
    return sg_format_known(d->Format) ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
  }
  int layered = (d->Flags & CUDA_ARRAY3D_LAYERED) != 0;
  if (d->Width == 0) return CUDA_ERROR_INVALID_VALUE;
  if (!layered && d->Depth && !d->Height) return CUDA_ERROR_INVALID_VALUE;
  if (layered && !d->Depth) return CUDA_ERROR_INVALID_VALUE;
  if ((d->Flags & CUDA_ARRAY3D_TEXTURE_GATHER) && (!d->Height || d->Depth)) return CUDA_ERROR_INVALID_VALUE;
  return check_limits(d);
}

static CUresult array_alloc(sg_ctx *c, CUarray *out, const CUDA_ARRAY3D_DESCRIPTOR *d, sg_mipmap *mm);

static CUresult array_create(sg_ctx *c, CUarray *out, const CUDA_ARRAY3D_DESCRIPTOR *d) {
  CUresult rc = check_desc(d);
  if (rc) return rc;
  return array_alloc(c, out, d, NULL);
}

/* Makes an array of a checked descriptor; mm: the mipmapped array it is a level of, if any. */
static CUresult array_alloc(sg_ctx *c, CUarray *out, const CUDA_ARRAY3D_DESCRIPTOR *d, sg_mipmap *mm) {
  CUresult rc;
  sg_array *a = calloc(1, sizeof *a);
  if (!a) return CUDA_ERROR_OUT_OF_MEMORY;
  a->ctx = c;
  a->mipmap = mm;
  a->desc = *d;
  a->elem = sg_format_size(d->Format) * d->NumChannels;
  a->pitch = d->Width * a->elem;
  a->rows = d->Height ? d->Height : 1;
  a->slices = d->Depth ? d->Depth : 1;
  a->bytes = a->pitch * a->rows * a->slices; /* below 2^48: the limits bound each factor */
  if (a->bytes > sg_mem_total() || sg_mem_alloc(a->bytes, &a->data) != 0) {
    free(a);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if ((rc = sg_reg_add(a, SG_OBJ_ARRAY, c, 0) != 0 ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS)) {
    sg_mem_free(a->data);
    free(a);
    return rc;
  }
  *out = (CUarray)a;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pHandle || !pAllocateArray) return CUDA_ERROR_INVALID_VALUE;
  return array_create(c, pHandle, pAllocateArray);
}

SG_EXPORT CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pHandle || !pAllocateArray) return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY3D_DESCRIPTOR d = {pAllocateArray->Width, pAllocateArray->Height, 0, pAllocateArray->Format,
                               pAllocateArray->NumChannels, 0};
  return array_create(c, pHandle, &d);
}

CUresult sg_array_get(CUarray h, sg_array **out) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!h) return CUDA_ERROR_INVALID_VALUE;
  void *owner = NULL;
  if (!sg_reg_find(h, SG_OBJ_ARRAY, &owner, NULL) || owner != c) return CUDA_ERROR_INVALID_HANDLE;
  *out = (sg_array *)h;
  return CUDA_SUCCESS;
}

static void array_free(sg_array *a) {
  sg_mem_free(a->data);
  free(a);
}

SG_EXPORT CUresult cuArrayDestroy(CUarray hArray) {
  sg_array *a;
  CUresult rc = sg_array_get(hArray, &a);
  if (rc) return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_INVALID_HANDLE : rc;
  if (a->mipmap) return CUDA_ERROR_INVALID_HANDLE; /* a level goes with its mipmapped array */
  if (!sg_reg_remove(a, SG_OBJ_ARRAY)) return CUDA_ERROR_INVALID_HANDLE;
  array_free(a);
  return CUDA_SUCCESS;
}

static void mipmap_free(sg_mipmap *m) {
  for (unsigned k = 0; k < m->nlevels; k++)
    if (sg_reg_remove(m->level[k], SG_OBJ_ARRAY)) array_free(m->level[k]);
  free(m);
}

void sg_array_release_ctx(sg_ctx *c) {
  size_t n;
  void **mm = sg_reg_take_owned(c, SG_OBJ_MIPMAP, &n);
  for (size_t i = 0; i < n; i++) mipmap_free(mm[i]);
  free(mm);
  void **keys = sg_reg_take_owned(c, SG_OBJ_ARRAY, &n);
  for (size_t i = 0; i < n; i++) array_free(keys[i]);
  free(keys);
}

SG_EXPORT CUresult cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR *pArrayDescriptor, CUarray hArray) {
  sg_array *a;
  CUresult rc = sg_array_get(hArray, &a);
  if (rc) return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_INVALID_HANDLE : rc;
  if (!pArrayDescriptor) return CUDA_ERROR_INVALID_VALUE;
  *pArrayDescriptor = a->desc;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR *pArrayDescriptor, CUarray hArray) {
  sg_array *a;
  CUresult rc = sg_array_get(hArray, &a);
  if (rc) return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_INVALID_HANDLE : rc;
  if (!pArrayDescriptor) return CUDA_ERROR_INVALID_VALUE;
  *pArrayDescriptor = (CUDA_ARRAY_DESCRIPTOR){a->desc.Width, a->desc.Height, a->desc.Format, a->desc.NumChannels};
  return CUDA_SUCCESS;
}

/* ---- mipmapped arrays --------------------------------------------------------------------------- */
static size_t half(size_t n) { return n > 1 ? n / 2 : n; }

SG_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                          unsigned int numMipmapLevels) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pHandle || !pMipmappedArrayDesc) return CUDA_ERROR_INVALID_VALUE;
  const CUDA_ARRAY3D_DESCRIPTOR *d = pMipmappedArrayDesc;
  if ((rc = check_desc(d))) return rc;
  if (d->Flags & CUDA_ARRAY3D_TEXTURE_GATHER) return CUDA_ERROR_INVALID_VALUE;
  int layered = (d->Flags & CUDA_ARRAY3D_LAYERED) != 0;
  size_t big = d->Width > d->Height ? d->Width : d->Height;
  if (!layered && d->Depth > big) big = d->Depth;
  unsigned most = 1;
  while (big >> most) most++;
  if (numMipmapLevels == 0 || numMipmapLevels > most || numMipmapLevels > SG_MAX_MIP_LEVELS)
    return CUDA_ERROR_INVALID_VALUE;
  sg_mipmap *m = calloc(1, sizeof *m);
  if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
  m->ctx = c;
  m->desc = *d;
  CUDA_ARRAY3D_DESCRIPTOR ld = *d;
  for (unsigned k = 0; k < numMipmapLevels; k++) {
    CUarray a;
    if ((rc = array_alloc(c, &a, &ld, m))) {
      mipmap_free(m);
      return rc;
    }
    m->level[m->nlevels++] = (sg_array *)a;
    ld.Width = half(ld.Width), ld.Height = half(ld.Height);
    if (!layered) ld.Depth = half(ld.Depth);
  }
  if (sg_reg_add(m, SG_OBJ_MIPMAP, c, 0) != 0) {
    mipmap_free(m);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pHandle = (CUmipmappedArray)m;
  return CUDA_SUCCESS;
}

CUresult sg_mipmap_get(CUmipmappedArray h, sg_mipmap **out) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!h) return CUDA_ERROR_INVALID_VALUE;
  void *owner = NULL;
  if (!sg_reg_find(h, SG_OBJ_MIPMAP, &owner, NULL) || owner != c) return CUDA_ERROR_INVALID_HANDLE;
  *out = (sg_mipmap *)h;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMipmappedArrayGetLevel(CUarray *pLevelArray, CUmipmappedArray hMipmappedArray, unsigned int level) {
  sg_mipmap *m;
  CUresult rc = sg_mipmap_get(hMipmappedArray, &m);
  if (rc) return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_INVALID_HANDLE : rc;
  if (!pLevelArray || level >= m->nlevels) return CUDA_ERROR_INVALID_VALUE;
  *pLevelArray = (CUarray)m->level[level];
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray) {
  sg_mipmap *m;
  CUresult rc = sg_mipmap_get(hMipmappedArray, &m);
  if (rc) return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_INVALID_HANDLE : rc;
  if (!sg_reg_remove(m, SG_OBJ_MIPMAP)) return CUDA_ERROR_INVALID_HANDLE;
  mipmap_free(m);
  return CUDA_SUCCESS;
}

/* Sparse mipmapped arrays and deferred mapping do not exist here either. */
SG_EXPORT CUresult cuMipmappedArrayGetSparseProperties(CUDA_ARRAY_SPARSE_PROPERTIES *sparseProperties,
                                                       CUmipmappedArray mipmap) {
  return CUDA_ERROR_NOT_SUPPORTED;
}
SG_EXPORT CUresult cuMipmappedArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *memoryRequirements,
                                                         CUmipmappedArray mipmap, CUdevice device) {
  return CUDA_ERROR_NOT_SUPPORTED;
}

/* Sparse arrays, planes of multi-planar formats and memory requirements of deferred-mapping
 * arrays do not exist here: softgpu's arrays are none of those. */
SG_EXPORT CUresult cuArrayGetSparseProperties(CUDA_ARRAY_SPARSE_PROPERTIES *sparseProperties, CUarray array) {
  return CUDA_ERROR_NOT_SUPPORTED;
}
SG_EXPORT CUresult cuArrayGetPlane(CUarray *pPlaneArray, CUarray hArray, unsigned int planeIdx) {
  return CUDA_ERROR_NOT_SUPPORTED;
}
SG_EXPORT CUresult cuArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *memoryRequirements, CUarray array,
                                                CUdevice device) {
  return CUDA_ERROR_NOT_SUPPORTED;
}

/* ---- copies naming an array by byte offset -------------------------------------------------------
 * The offset counts bytes through the array's rows and slices, as for the 1D arrays these calls
 * are meant for. */
static CUresult array_bytes(CUarray h, size_t off, size_t n, unsigned char **out) {
  sg_array *a;
  CUresult rc = sg_array_get(h, &a);
  if (rc) return rc;
  if (off > a->bytes || n > a->bytes - off) return CUDA_ERROR_INVALID_VALUE;
  unsigned char *p = sg_mem_check(a->data, a->bytes);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  *out = p + off;
  return CUDA_SUCCESS;
}

static CUresult dev_bytes(CUdeviceptr p, size_t n, unsigned char **out) {
  void *h = sg_mem_check((sg_devptr)p, (uint64_t)n);
  if (!h) return CUDA_ERROR_INVALID_VALUE;
  *out = h;
  return CUDA_SUCCESS;
}

enum { K_ATOH, K_HTOA, K_ATOD, K_DTOA, K_ATOA };

typedef struct acopy {
  int kind;
  void *host;
  CUdeviceptr dev;
  CUarray dst, src;
  size_t doff, soff, n;
} acopy;

static CUresult run_acopy(const acopy *k) {
  if (k->n == 0) return CUDA_SUCCESS;
  unsigned char *d = NULL, *s = NULL;
  CUresult rc = CUDA_SUCCESS;
  switch (k->kind) {
  case K_ATOH:
    if (!k->host) return CUDA_ERROR_INVALID_VALUE;
    d = k->host;
    rc = array_bytes(k->src, k->soff, k->n, &s);
    break;
  case K_HTOA:
    if (!k->host) return CUDA_ERROR_INVALID_VALUE;
    s = k->host;
    rc = array_bytes(k->dst, k->doff, k->n, &d);
    break;
  case K_ATOD:
    if (!(rc = dev_bytes(k->dev, k->n, &d))) rc = array_bytes(k->src, k->soff, k->n, &s);
    break;
  case K_DTOA:
    if (!(rc = dev_bytes(k->dev, k->n, &s))) rc = array_bytes(k->dst, k->doff, k->n, &d);
    break;
  default:
    if (!(rc = array_bytes(k->dst, k->doff, k->n, &d))) rc = array_bytes(k->src, k->soff, k->n, &s);
    break;
  }
  if (rc) return rc;
  memmove(d, s, k->n);
  return CUDA_SUCCESS;
}

/* A blocking copy is one of CUDA's flush points for kernel output (output.c). */
static CUresult blocking(const acopy *k) {
  sg_output_flush_current();
  SG_SYNC_ON_CURRENT(run_acopy(k));
}

/* The stream forms cannot be captured into a graph: a memcpy node describes its array by
 * position, not by byte offset. */
static CUresult on_stream(CUstream s, const acopy *k) {
  if (sg_capture_on(s)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  SG_ON_STREAM(s, run_acopy(k));
}

SG_EXPORT CUresult cuMemcpyAtoH_v2(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount) {
  acopy k = {K_ATOH, dstHost, 0, NULL, srcArray, 0, srcOffset, ByteCount};
  return blocking(&k);
}
SG_EXPORT CUresult cuMemcpyHtoA_v2(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount) {
  acopy k = {K_HTOA, (void *)(uintptr_t)srcHost, 0, dstArray, NULL, dstOffset, 0, ByteCount};
  return blocking(&k);
}
SG_EXPORT CUresult cuMemcpyAtoD_v2(CUdeviceptr dstDevice, CUarray srcArray, size_t srcOffset, size_t ByteCount) {
  acopy k = {K_ATOD, NULL, dstDevice, NULL, srcArray, 0, srcOffset, ByteCount};
  return blocking(&k);
}
SG_EXPORT CUresult cuMemcpyDtoA_v2(CUarray dstArray, size_t dstOffset, CUdeviceptr srcDevice, size_t ByteCount) {
  acopy k = {K_DTOA, NULL, srcDevice, dstArray, NULL, dstOffset, 0, ByteCount};
  return blocking(&k);
}
SG_EXPORT CUresult cuMemcpyAtoA_v2(CUarray dstArray, size_t dstOffset, CUarray srcArray, size_t srcOffset,
                                   size_t ByteCount) {
  acopy k = {K_ATOA, NULL, 0, dstArray, srcArray, dstOffset, srcOffset, ByteCount};
  return blocking(&k);
}
SG_EXPORT CUresult cuMemcpyAtoHAsync_v2(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount,
                                        CUstream hStream) {
  acopy k = {K_ATOH, dstHost, 0, NULL, srcArray, 0, srcOffset, ByteCount};
  return on_stream(hStream, &k);
}
SG_EXPORT CUresult cuMemcpyHtoAAsync_v2(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount,
                                        CUstream hStream) {
  acopy k = {K_HTOA, (void *)(uintptr_t)srcHost, 0, dstArray, NULL, dstOffset, 0, ByteCount};
  return on_stream(hStream, &k);
}
SG_EXPORT CUresult cuMemcpyAtoH_v2_ptds(void *d, CUarray s, size_t so, size_t n) { return cuMemcpyAtoH_v2(d, s, so, n); }
SG_EXPORT CUresult cuMemcpyHtoA_v2_ptds(CUarray d, size_t o, const void *s, size_t n) {
  return cuMemcpyHtoA_v2(d, o, s, n);
}
SG_EXPORT CUresult cuMemcpyAtoD_v2_ptds(CUdeviceptr d, CUarray s, size_t so, size_t n) {
  return cuMemcpyAtoD_v2(d, s, so, n);
}
SG_EXPORT CUresult cuMemcpyDtoA_v2_ptds(CUarray d, size_t o, CUdeviceptr s, size_t n) {
  return cuMemcpyDtoA_v2(d, o, s, n);
}
SG_EXPORT CUresult cuMemcpyAtoA_v2_ptds(CUarray d, size_t o, CUarray s, size_t so, size_t n) {
  return cuMemcpyAtoA_v2(d, o, s, so, n);
}
SG_EXPORT CUresult cuMemcpyAtoHAsync_v2_ptsz(void *d, CUarray s, size_t so, size_t n, CUstream st) {
  return cuMemcpyAtoHAsync_v2(d, s, so, n, SG_PTSZ(st));
}
SG_EXPORT CUresult cuMemcpyHtoAAsync_v2_ptsz(CUarray d, size_t o, const void *s, size_t n, CUstream st) {
  return cuMemcpyHtoAAsync_v2(d, o, s, n, SG_PTSZ(st));
}
