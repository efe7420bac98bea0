/*
 * Texture and surface objects. A handle is a number from a per-process counter (as on a GPU, where
 * it indexes the context's descriptor table), never a pointer: the registry maps it to its
 * description, and the PTX engine resolves the handle a kernel names through sg_tex_resolve, which
 * finds only the objects of the launching context. A forged or stale handle fails the launch with
 * an illegal address; it cannot name memory of another process, which is all another vgpu
 * session's executor could own (each session runs in its own executor process).
 *
 * Resources: CUDA arrays (1D, 2D, 3D, layered), mipmapped arrays, linear memory (tex1Dfetch) and
 * pitched 2D memory. Resource views other than the identity and sRGB conversion are
 * CUDA_ERROR_NOT_SUPPORTED. Linear and pitched memory must lie inside live allocations when the
 * object is made; every texel read is checked again (ptx_texture.c).
 */
#include "sg_api.h"

#include "../ptx/ptx.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct sg_texobj {
  struct sg_texobj *next; /* g_all */
  sg_ctx *ctx;
  int surface;
  CUDA_RESOURCE_DESC res;
  CUDA_TEXTURE_DESC tex;
  CUDA_RESOURCE_VIEW_DESC view;
  sg_ptx_tex desc; /* what kernels read */
} sg_texobj;

/* Serialises lookups against destruction, so a resolver never copies freed memory. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long long g_next = 1;
/* Every object, so a context's release can free those the registry hands back only as keys. */
static sg_texobj *g_all;

static void unlink_locked(sg_texobj *o) {
  for (sg_texobj **p = &g_all; *p; p = &(*p)->next)
    if (*p == o) {
      *p = o->next;
      return;
    }
}

static int attr_int(CUdevice_attribute a) {
  int v = 0;
  return sg_dev_attribute(a, &v) == CUDA_SUCCESS ? v : 0;
}

static void desc_of_array(const sg_array *a, sg_ptx_tex *d) {
  int layered = (a->desc.Flags & CUDA_ARRAY3D_LAYERED) != 0;
  d->base = a->data;
  d->pitch = a->pitch;
  d->slice = a->pitch * a->rows;
  d->width = (uint32_t)a->desc.Width;
  d->height = (uint32_t)a->rows;
  d->depth = layered ? 1 : (uint32_t)a->slices;
  d->layers = layered ? (uint32_t)a->desc.Depth : 0;
  d->format = a->desc.Format;
  d->channels = (uint8_t)a->desc.NumChannels;
  d->dims = a->desc.Height == 0 ? 1 : (a->desc.Depth && !layered) ? 3 : 2;
}

static CUresult check_channels(CUarray_format f, unsigned n) {
  if (n != 1 && n != 2 && n != 4) return CUDA_ERROR_INVALID_VALUE;
  if (!sg_format_size(f)) return sg_format_known(f) ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

/* The resource as kernels see it; surfaces take only arrays made for load/store. */
static CUresult resource(const CUDA_RESOURCE_DESC *r, int surface, sg_ptx_tex *d) {
  if (r->flags) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc;
  switch (r->resType) {
  case CU_RESOURCE_TYPE_ARRAY: {
    sg_array *a;
    if ((rc = sg_array_get(r->res.array.hArray, &a))) return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_INVALID_HANDLE : rc;
    if (surface && !(a->desc.Flags & CUDA_ARRAY3D_SURFACE_LDST)) return CUDA_ERROR_INVALID_VALUE;
    desc_of_array(a, d);
    return CUDA_SUCCESS;
  }
  case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY: {
    if (surface) return CUDA_ERROR_INVALID_VALUE;
    sg_mipmap *m;
    if ((rc = sg_mipmap_get(r->res.mipmap.hMipmappedArray, &m)))
      return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_INVALID_HANDLE : rc;
    desc_of_array(m->level[0], d);
    for (unsigned k = 1; k < m->nlevels; k++) {
      sg_ptx_tex lv;
      desc_of_array(m->level[k], &lv);
      d->mip[k - 1] = (sg_ptx_mip){lv.base, lv.pitch, lv.slice, lv.width, lv.height, lv.depth};
    }
    d->nmips = (uint8_t)(m->nlevels - 1);
    return CUDA_SUCCESS;
  }
  case CU_RESOURCE_TYPE_LINEAR: {
    if (surface) return CUDA_ERROR_INVALID_VALUE;
    if ((rc = check_channels(r->res.linear.format, r->res.linear.numChannels))) return rc;
    size_t es = sg_format_size(r->res.linear.format) * r->res.linear.numChannels;
    size_t n = r->res.linear.sizeInBytes / es;
    /* Alignment: softgpu's allocations start on 256-byte granules, so that is what it asks. */
    if (!r->res.linear.devPtr || r->res.linear.devPtr % SG_MEM_GRANULE || n == 0 ||
        n > (size_t)attr_int(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH) ||
        !sg_mem_check(r->res.linear.devPtr, r->res.linear.sizeInBytes))
      return CUDA_ERROR_INVALID_VALUE;
    *d = (sg_ptx_tex){.base = r->res.linear.devPtr, .pitch = n * es, .slice = n * es, .width = (uint32_t)n,
                      .height = 1, .depth = 1, .format = r->res.linear.format,
                      .channels = (uint8_t)r->res.linear.numChannels, .dims = 1, .linear = 1};
    return CUDA_SUCCESS;
  }
  case CU_RESOURCE_TYPE_PITCH2D: {
    if (surface) return CUDA_ERROR_INVALID_VALUE;
    const __typeof__(r->res.pitch2D) *p = &r->res.pitch2D;
    if ((rc = check_channels(p->format, p->numChannels))) return rc;
    size_t es = sg_format_size(p->format) * p->numChannels;
    if (!p->devPtr || p->devPtr % SG_MEM_GRANULE || p->width == 0 || p->height == 0 ||
        p->width > (size_t)attr_int(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_WIDTH) ||
        p->height > (size_t)attr_int(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_HEIGHT) ||
        p->pitchInBytes > (size_t)attr_int(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_PITCH) ||
        p->pitchInBytes % (size_t)attr_int(CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT) ||
        p->pitchInBytes < p->width * es || !sg_mem_check(p->devPtr, (p->height - 1) * p->pitchInBytes + p->width * es))
      return CUDA_ERROR_INVALID_VALUE;
    *d = (sg_ptx_tex){.base = p->devPtr, .pitch = p->pitchInBytes, .slice = p->pitchInBytes * p->height,
                      .width = (uint32_t)p->width, .height = (uint32_t)p->height, .depth = 1, .format = p->format,
                      .channels = (uint8_t)p->numChannels, .dims = 2};
    return CUDA_SUCCESS;
  }
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

#define KNOWN_TEX_FLAGS (CU_TRSF_READ_AS_INTEGER | CU_TRSF_NORMALIZED_COORDINATES | CU_TRSF_DISABLE_TRILINEAR_OPTIMIZATION | \
                         CU_TRSF_SEAMLESS_CUBEMAP)

static CUresult sampling(const CUDA_TEXTURE_DESC *t, sg_ptx_tex *d) {
  for (int k = 0; k < 3; k++) {
    if ((unsigned)t->addressMode[k] > CU_TR_ADDRESS_MODE_BORDER) return CUDA_ERROR_INVALID_VALUE;
    d->addr[k] = (uint8_t)t->addressMode[k];
  }
  if ((unsigned)t->filterMode > CU_TR_FILTER_MODE_LINEAR || (unsigned)t->mipmapFilterMode > CU_TR_FILTER_MODE_LINEAR)
    return CUDA_ERROR_INVALID_VALUE;
  if (t->flags & CU_TRSF_SRGB) return CUDA_ERROR_NOT_SUPPORTED;
  if (t->flags & ~(unsigned)KNOWN_TEX_FLAGS) return CUDA_ERROR_INVALID_VALUE;
  d->filter_linear = t->filterMode == CU_TR_FILTER_MODE_LINEAR;
  d->read_int = (t->flags & CU_TRSF_READ_AS_INTEGER) != 0;
  d->norm_coords = (t->flags & CU_TRSF_NORMALIZED_COORDINATES) != 0;
  memcpy(d->border, t->borderColor, sizeof d->border);
  d->mip_linear = t->mipmapFilterMode == CU_TR_FILTER_MODE_LINEAR;
  d->lod_bias = t->mipmapLevelBias;
  d->min_lod = t->minMipmapLevelClamp;
  d->max_lod = t->maxMipmapLevelClamp;
  return CUDA_SUCCESS;
}

/* Only the identity view: the resource's own format and size, all its levels and all its layers. */
static CUresult view(const CUDA_RESOURCE_VIEW_DESC *v, const sg_ptx_tex *d) {
  if (!v) return CUDA_SUCCESS;
  int same_size = (v->width == 0 || v->width == d->width) && (v->height == 0 || v->height == d->height) &&
                  (v->depth == 0 || v->depth == (d->layers ? d->layers : d->depth));
  if (v->format != CU_RES_VIEW_FORMAT_NONE || !same_size || v->firstMipmapLevel ||
      (v->lastMipmapLevel && v->lastMipmapLevel != d->nmips) ||
      v->firstLayer || (v->lastLayer && v->lastLayer + 1 != d->layers))
    return CUDA_ERROR_NOT_SUPPORTED;
  return CUDA_SUCCESS;
}

static CUresult make(sg_ctx *c, sg_texobj *o, unsigned long long *out) {
  sg_texobj *h = malloc(sizeof *h);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *h = *o;
  unsigned long long id = atomic_fetch_add(&g_next, 1);
  pthread_mutex_lock(&g_lock);
  int bad = sg_reg_add((void *)(uintptr_t)id, o->surface ? SG_OBJ_SURFOBJ : SG_OBJ_TEXOBJ, c, (uint64_t)(uintptr_t)h);
  if (!bad) {
    h->next = g_all;
    g_all = h;
  }
  pthread_mutex_unlock(&g_lock);
  if (bad) {
    free(h);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *out = id;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuTexObjectCreate(CUtexObject *pTexObject, const CUDA_RESOURCE_DESC *pResDesc,
                                     const CUDA_TEXTURE_DESC *pTexDesc, const CUDA_RESOURCE_VIEW_DESC *pResViewDesc) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pTexObject || !pResDesc || !pTexDesc) return CUDA_ERROR_INVALID_VALUE;
  sg_texobj o;
  memset(&o, 0, sizeof o);
  if ((rc = resource(pResDesc, 0, &o.desc)) || (rc = sampling(pTexDesc, &o.desc)) || (rc = view(pResViewDesc, &o.desc)))
    return rc;
  o.ctx = c;
  o.res = *pResDesc;
  o.tex = *pTexDesc;
  if (pResViewDesc) o.view = *pResViewDesc;
  return make(c, &o, pTexObject);
}

SG_EXPORT CUresult cuSurfObjectCreate(CUsurfObject *pSurfObject, const CUDA_RESOURCE_DESC *pResDesc) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!pSurfObject || !pResDesc) return CUDA_ERROR_INVALID_VALUE;
  sg_texobj o;
  memset(&o, 0, sizeof o);
  if ((rc = resource(pResDesc, 1, &o.desc))) return rc;
  o.ctx = c;
  o.surface = 1;
  o.res = *pResDesc;
  return make(c, &o, pSurfObject);
}

/* Copies out the object of the current context behind handle h. */
static CUresult find(unsigned long long h, int surface, sg_texobj *out) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  void *owner = NULL;
  uint64_t v = 0;
  pthread_mutex_lock(&g_lock);
  int ok = sg_reg_find((void *)(uintptr_t)h, surface ? SG_OBJ_SURFOBJ : SG_OBJ_TEXOBJ, &owner, &v) && owner == c;
  if (ok) *out = *(sg_texobj *)(uintptr_t)v;
  pthread_mutex_unlock(&g_lock);
  return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult destroy(unsigned long long h, int surface) {
  sg_texobj o;
  CUresult rc = find(h, surface, &o);
  if (rc) return rc;
  uint64_t v = 0;
  sg_obj_type type = surface ? SG_OBJ_SURFOBJ : SG_OBJ_TEXOBJ;
  pthread_mutex_lock(&g_lock);
  int ok = sg_reg_find((void *)(uintptr_t)h, type, NULL, &v) && sg_reg_remove((void *)(uintptr_t)h, type);
  if (ok) unlink_locked((sg_texobj *)(uintptr_t)v);
  pthread_mutex_unlock(&g_lock);
  if (!ok) return CUDA_ERROR_INVALID_VALUE;
  free((void *)(uintptr_t)v);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuTexObjectDestroy(CUtexObject texObject) { return destroy(texObject, 0); }
SG_EXPORT CUresult cuSurfObjectDestroy(CUsurfObject surfObject) { return destroy(surfObject, 1); }

/* Copies one descriptor (a member of sg_texobj, at `off`) of a live object to the caller. */
static CUresult get_desc(uint64_t handle, int surface, void *dst, size_t off, size_t size) {
  sg_texobj o;
  CUresult rc = find(handle, surface, &o);
  if (rc) return rc;
  if (!dst) return CUDA_ERROR_INVALID_VALUE;
  memcpy(dst, (const char *)&o + off, size);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUtexObject texObject) {
  return get_desc(texObject, 0, pResDesc, offsetof(sg_texobj, res), sizeof *pResDesc);
}
SG_EXPORT CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *pTexDesc, CUtexObject texObject) {
  return get_desc(texObject, 0, pTexDesc, offsetof(sg_texobj, tex), sizeof *pTexDesc);
}
SG_EXPORT CUresult cuTexObjectGetResourceViewDesc(CUDA_RESOURCE_VIEW_DESC *pResViewDesc, CUtexObject texObject) {
  return get_desc(texObject, 0, pResViewDesc, offsetof(sg_texobj, view), sizeof *pResViewDesc);
}
SG_EXPORT CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUsurfObject surfObject) {
  return get_desc(surfObject, 1, pResDesc, offsetof(sg_texobj, res), sizeof *pResDesc);
}

int sg_tex_resolve(void *arg, uint64_t handle, int surface, sg_ptx_tex *out) {
  void *owner = NULL;
  uint64_t v = 0;
  pthread_mutex_lock(&g_lock);
  int ok = sg_reg_find((void *)(uintptr_t)handle, surface ? SG_OBJ_SURFOBJ : SG_OBJ_TEXOBJ, &owner, &v) && owner == arg;
  if (ok) *out = ((sg_texobj *)(uintptr_t)v)->desc;
  pthread_mutex_unlock(&g_lock);
  return ok ? 0 : -1;
}

void sg_tex_release_ctx(sg_ctx *c) {
  pthread_mutex_lock(&g_lock);
  for (int s = 0; s < 2; s++) {
    size_t n;
    free(sg_reg_take_owned(c, s ? SG_OBJ_SURFOBJ : SG_OBJ_TEXOBJ, &n));
  }
  for (sg_texobj **p = &g_all; *p;) {
    sg_texobj *o = *p;
    if (o->ctx == c) {
      *p = o->next;
      free(o);
    } else {
      p = &o->next;
    }
  }
  pthread_mutex_unlock(&g_lock);
}
