/*
 * Managed memory and mapped page-locked memory. softgpu's device memory is host memory of this
 * process, so both are arena allocations that the host and kernels share directly: there is
 * nothing to keep coherent. What this file keeps is what makes them more than device memory:
 * which allocations they are (pointer attributes, frees), and the advice and prefetch state of
 * managed memory, answered by the rules vgpu's guest library uses too (common/managed_advice.h).
 * Like a vGPU, softgpu reports no concurrent managed access, so a prefetch to the GPU is refused.
 * cuMemHostRegister with DEVICEMAP stays unsupported: kernels reach the arena only, and a
 * program's own buffer is not in it.
 */
#include "sg_api.h"

#include "managed_advice.h"

#include <pthread.h>
#include <stdlib.h>

#define PAGE 4096u

typedef struct coherent {
  CUdeviceptr base;
  size_t size;
  int mapped; /* cuMemHostAlloc(DEVICEMAP); else cuMemAllocManaged */
  int module_var; /* a module's __managed__ variable: freed with the module, never by cuMemFree */
  sg_ctx *ctx;
  vg_advice_page *pages; /* managed only */
} coherent;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static coherent *g_c;
static size_t g_n, g_cap;

/* The entry containing p; called with g_lock held. */
static coherent *find(CUdeviceptr p) {
  for (size_t i = 0; i < g_n; i++)
    if (p - g_c[i].base < g_c[i].size) return &g_c[i];
  return NULL;
}

static int add(coherent e) {
  pthread_mutex_lock(&g_lock);
  if (g_n == g_cap) {
    size_t cap = g_cap ? g_cap * 2 : 8;
    coherent *nc = realloc(g_c, cap * sizeof *nc);
    if (!nc) {
      pthread_mutex_unlock(&g_lock);
      return -1;
    }
    g_c = nc;
    g_cap = cap;
  }
  g_c[g_n++] = e;
  pthread_mutex_unlock(&g_lock);
  return 0;
}

/* Removes the entry starting at base of the given kind: 1 if there was one. */
static int take(CUdeviceptr base, int mapped, int module_var) {
  pthread_mutex_lock(&g_lock);
  coherent *e = find(base);
  int ok = e && e->base == base && e->mapped == mapped && e->module_var == module_var;
  if (ok) {
    free(e->pages);
    *e = g_c[--g_n];
  }
  pthread_mutex_unlock(&g_lock);
  return ok;
}

int sg_coherent_lookup(CUdeviceptr p, sg_coherent_info *out) {
  pthread_mutex_lock(&g_lock);
  coherent *e = find(p);
  if (e) *out = (sg_coherent_info){.base = e->base, .size = e->size, .mapped = e->mapped, .ctx = e->ctx};
  pthread_mutex_unlock(&g_lock);
  return e != NULL;
}

void sg_coherent_release_ctx(sg_ctx *c) {
  pthread_mutex_lock(&g_lock);
  for (size_t i = 0; i < g_n;) {
    if (g_c[i].ctx != c) {
      i++;
      continue;
    }
    free(g_c[i].pages);
    g_c[i] = g_c[--g_n];
  }
  pthread_mutex_unlock(&g_lock);
}

SG_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!dptr || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST) return CUDA_ERROR_INVALID_VALUE;
  coherent e = {.size = bytesize, .ctx = c, .pages = calloc((bytesize + PAGE - 1) / PAGE, sizeof(vg_advice_page))};
  if (!e.pages) return CUDA_ERROR_OUT_OF_MEMORY;
  if ((rc = sg_devmem_alloc(c, bytesize, &e.base))) {
    free(e.pages);
    return rc;
  }
  if (add(e)) {
    free(e.pages);
    sg_devmem_free(e.base);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *dptr = e.base;
  return CUDA_SUCCESS;
}

CUresult sg_mapped_alloc(sg_ctx *c, size_t bytesize, void **pp) {
  coherent e = {.size = bytesize, .mapped = 1, .ctx = c};
  CUresult rc = sg_devmem_alloc(c, bytesize, &e.base);
  if (rc) return rc;
  if (add(e)) {
    sg_devmem_free(e.base);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pp = (void *)(uintptr_t)e.base;
  return CUDA_SUCCESS;
}

int sg_mapped_free(void *p) {
  CUdeviceptr d = (CUdeviceptr)(uintptr_t)p;
  if (!take(d, 1, 0)) return 0;
  sg_devmem_free(d);
  return 1;
}

int sg_managed_var_add(CUdeviceptr base, size_t size) {
  coherent e = {.base = base, .size = size, .module_var = 1, .pages = calloc((size + PAGE - 1) / PAGE, sizeof(vg_advice_page))};
  if (!e.pages) return -1;
  if (add(e)) {
    free(e.pages);
    return -1;
  }
  return 0;
}

void sg_managed_var_remove(CUdeviceptr base) { (void)take(base, 0, 1); }

int sg_managed_free(CUdeviceptr dptr, CUresult *rc) {
  sg_coherent_info ci;
  if (!sg_coherent_lookup(dptr, &ci)) return 0;
  /* Mapped memory is freed as host memory; managed memory by its exact pointer. */
  if (ci.mapped || !take(dptr, 0, 0)) {
    *rc = CUDA_ERROR_INVALID_VALUE;
    return 1;
  }
  *rc = sg_devmem_free(dptr);
  return 1;
}

/* ---- advice, prefetching, range attributes ----------------------------------------------- */

typedef enum { OP_PREFETCH, OP_ADVISE, OP_QUERY } page_op;

typedef struct page_args {
  page_op op;
  CUmemLocation loc;
  CUmem_advise advice;
  CUmem_range_attribute attr;
  void *data;
  size_t size;
} page_args;

/* Runs one operation on the page records of [p, p+n), which must lie in one managed allocation. */
static CUresult on_pages(CUdeviceptr p, size_t n, const page_args *a) {
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_lock);
  coherent *e = find(p);
  CUresult rc = CUDA_ERROR_INVALID_VALUE;
  if (e && !e->mapped && n <= e->size - (p - e->base)) {
    size_t first = (p - e->base) / PAGE, count = (p - e->base + n - 1) / PAGE - first + 1;
    vg_advice_page *pg = e->pages + first;
    switch (a->op) {
      case OP_PREFETCH: vg_prefetch_apply(pg, count, a->loc); break;
      case OP_ADVISE: vg_advise_apply(pg, count, a->advice, a->loc); break;
      case OP_QUERY: vg_range_answer(pg, count, a->attr, a->data, a->size); break;
    }
    rc = CUDA_SUCCESS;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

static CUresult prefetch(CUdeviceptr p, size_t count, CUmemLocation loc, unsigned flags, CUstream s) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc || (rc = vg_prefetch_check(loc, flags, sg_dev_count())) || (rc = sg_stream_ctx(s, &c))) return rc;
  page_args a = {.op = OP_PREFETCH, .loc = loc};
  return on_pages(p, count, &a);
}

SG_EXPORT CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
  return prefetch(devPtr, count, vg_device_location(dstDevice), 0, hStream);
}
SG_EXPORT CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
  return prefetch(devPtr, count, vg_device_location(dstDevice), 0, SG_PTSZ(hStream));
}
SG_EXPORT CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation location, unsigned int flags,
                                         CUstream hStream) {
  return prefetch(devPtr, count, location, flags, hStream);
}
SG_EXPORT CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                                              unsigned int flags, CUstream hStream) {
  return prefetch(devPtr, count, location, flags, SG_PTSZ(hStream));
}

static CUresult advise(CUdeviceptr p, size_t count, CUmem_advise what, CUmemLocation loc) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc || (rc = vg_advise_check(what, loc, sg_dev_count()))) return rc;
  page_args a = {.op = OP_ADVISE, .advice = what, .loc = loc};
  return on_pages(p, count, &a);
}

SG_EXPORT CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device) {
  return advise(devPtr, count, advice, vg_device_location(device));
}
SG_EXPORT CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUmemLocation location) {
  return advise(devPtr, count, advice, location);
}

SG_EXPORT CUresult cuMemRangeGetAttributes(void **data, size_t *dataSizes, CUmem_range_attribute *attributes,
                                           size_t numAttributes, CUdeviceptr devPtr, size_t count) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!data || !dataSizes || !attributes || numAttributes == 0) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < numAttributes; i++)
    if (!data[i] || !vg_range_size_ok(attributes[i], dataSizes[i])) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < numAttributes; i++) {
    page_args a = {.op = OP_QUERY, .attr = attributes[i], .data = data[i], .size = dataSizes[i]};
    CUresult rc = on_pages(devPtr, count, &a);
    if (rc) return rc;
  }
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemRangeGetAttribute(void *data, size_t dataSize, CUmem_range_attribute attribute, CUdeviceptr devPtr,
                                          size_t count) {
  return cuMemRangeGetAttributes(&data, &dataSize, &attribute, 1, devPtr, count);
}

/* Checked as the driver does; softgpu's host and kernels share the bytes, so there is nothing for
 * an attachment to change (docs/managed-memory.md, "Stream attachment"). */
static CUresult attach(CUstream s, CUdeviceptr p, size_t length, unsigned flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc || (rc = sg_stream_ctx(s, &c))) return rc;
  sg_coherent_info ci;
  if (!sg_coherent_lookup(p, &ci) || ci.mapped) return CUDA_ERROR_INVALID_VALUE;
  return vg_attach_check(p, length, flags, ci.base, ci.size);
}

SG_EXPORT CUresult cuStreamAttachMemAsync(CUstream hStream, CUdeviceptr dptr, size_t length, unsigned int flags) {
  return attach(hStream, dptr, length, flags);
}
SG_EXPORT CUresult cuStreamAttachMemAsync_ptsz(CUstream hStream, CUdeviceptr dptr, size_t length, unsigned int flags) {
  return attach(SG_PTSZ(hStream), dptr, length, flags);
}
