/*
 * Page-locked host memory is a guest-local notion: the data reaches the GPU through the copy
 * calls. "Pinned" allocations are blocks of the region shared with the executor where there is
 * one (shm.c: copies from and to them name the block instead of carrying its bytes), otherwise
 * ordinary page-aligned anonymous mappings. They are tracked so that frees, flag queries and
 * (un)registrations of foreign pointers fail like on the real driver instead of corrupting the heap.
 * Mapped ones (DEVICEMAP) are neither: they also get a device copy that coherent.c keeps in step
 * (docs/managed-memory.md), and coherent.c owns their mapping.
 */
#include "vgcuda.h"

#include "coherent.h"
#include "ctxstack.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct range {
  uintptr_t base;
  size_t size;      /* bytes asked for */
  size_t map_size;  /* bytes mapped (page multiple); 0 for registered ranges */
  int shared;       /* a block of the shared region (shm.c), not a mapping of its own */
  unsigned int flags;
  CUcontext ctx;    /* current when it was allocated or registered (pointer attributes) */
  unsigned long long id; /* CU_POINTER_ATTRIBUTE_BUFFER_ID */
} range;

/* Buffer ids of host memory: the executor's driver numbers device allocations from 1, so the
 * guest's own start at bit 62 and the two never meet (docs/pointers.md). */
static unsigned long long g_next_id = 1ull << 62;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static range *g_r; /* sorted by base, non-overlapping */
static size_t g_n, g_cap;

/* Index of the first range with base > p. */
static size_t upper(uintptr_t p) {
  size_t lo = 0, hi = g_n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (g_r[mid].base <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* The range containing p, or NULL. */
static range *containing(uintptr_t p) {
  size_t i = upper(p);
  if (i == 0) return NULL;
  range *r = &g_r[i - 1];
  return p - r->base < r->size ? r : NULL;
}

static int overlaps(uintptr_t p, size_t n) {
  size_t i = upper(p);
  if (i > 0 && p - g_r[i - 1].base < g_r[i - 1].size) return 1;
  return i < g_n && g_r[i].base - p < n;
}

static int insert(range r) {
  if (g_n == g_cap) {
    size_t cap = g_cap ? g_cap * 2 : 16;
    range *nr = realloc(g_r, cap * sizeof *nr);
    if (!nr) return -1;
    g_r = nr;
    g_cap = cap;
  }
  size_t i = upper(r.base);
  memmove(&g_r[i + 1], &g_r[i], (g_n - i) * sizeof *g_r);
  g_r[i] = r;
  g_n++;
  return 0;
}

static void remove_at(range *r) {
  size_t i = (size_t)(r - g_r);
  memmove(&g_r[i], &g_r[i + 1], (g_n - i - 1) * sizeof *g_r);
  g_n--;
}

/* The real driver needs a current context for these calls. */
static CUresult need_context(void) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  return vg_ctx_info(NULL, NULL, NULL);
}

/* Gives back a page-locked block to whichever of coherent.c, the shared region or mmap made it. */
static void release_block(void *p, size_t map_size, int shared) {
  if (vg_coherent_release_host(p, VG_COH_MAPPED)) return;
  if (shared) vg_shm_free(p, map_size);
  else munmap(p, map_size);
}

static CUresult alloc_impl(void **pp, size_t bytesize, unsigned int flags) {
  CUresult r = need_context();
  if (r) return r;
  if (!pp || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  if (flags & ~(unsigned)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED))
    return CUDA_ERROR_INVALID_VALUE;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (bytesize > SIZE_MAX - page) return CUDA_ERROR_OUT_OF_MEMORY;
  size_t map_size = (bytesize + page - 1) & ~(page - 1);
  void *p = NULL;
  int shared = 0;
  if (flags & CU_MEMHOSTALLOC_DEVICEMAP) { /* mapped: coherent.c owns the mapping */
    if ((r = vg_coherent_alloc(&p, bytesize, VG_COH_MAPPED))) return r;
  } else if ((p = vg_shm_alloc(map_size)) != NULL) {
    shared = 1;
  } else if ((p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  pthread_mutex_lock(&g_lock);
  int bad = insert((range){.base = (uintptr_t)p, .size = bytesize, .map_size = map_size, .shared = shared,
                           .flags = flags, .ctx = vg_ctx_current(), .id = g_next_id++});
  pthread_mutex_unlock(&g_lock);
  if (bad) {
    release_block(p, map_size, shared);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pp = p;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) { VG_TRACED(alloc_impl(pp, bytesize, 0)); }
VG_EXPORT CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags) {
  VG_TRACED(alloc_impl(pp, bytesize, Flags));
}

static CUresult free_impl(void *p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_lock);
  range *r = containing((uintptr_t)p);
  if (!r || r->base != (uintptr_t)p || r->map_size == 0) {
    pthread_mutex_unlock(&g_lock);
    return CUDA_ERROR_INVALID_VALUE;
  }
  size_t map_size = r->map_size;
  int shared = r->shared;
  remove_at(r);
  pthread_mutex_unlock(&g_lock);
  release_block(p, map_size, shared);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemFreeHost(void *p) { VG_TRACED(free_impl(p)); }

static CUresult get_flags_impl(unsigned int *pFlags, void *p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!pFlags || !p) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_lock);
  range *r = containing((uintptr_t)p);
  CUresult res = CUDA_ERROR_INVALID_VALUE;
  if (r && r->map_size) {
    *pFlags = r->flags;
    res = CUDA_SUCCESS;
  }
  pthread_mutex_unlock(&g_lock);
  return res;
}

VG_EXPORT CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p) { VG_TRACED(get_flags_impl(pFlags, p)); }

static CUresult register_impl(void *p, size_t bytesize, unsigned int flags) {
  CUresult r = need_context();
  if (r) return r;
  if (!p || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
  if ((uintptr_t)p > UINTPTR_MAX - bytesize) return CUDA_ERROR_INVALID_VALUE;
  if (flags & ~(unsigned)(CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP |
                          CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY))
    return CUDA_ERROR_INVALID_VALUE;
  /* I/O memory (a device BAR) cannot be reached from the host GPU over the wire. */
  if (flags & CU_MEMHOSTREGISTER_IOMEMORY) return CUDA_ERROR_NOT_SUPPORTED;
  pthread_mutex_lock(&g_lock);
  if (overlaps((uintptr_t)p, bytesize)) r = CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
  else if (insert((range){.base = (uintptr_t)p, .size = bytesize, .map_size = 0, .flags = flags,
                          .ctx = vg_ctx_current(), .id = g_next_id++}))
    r = CUDA_ERROR_OUT_OF_MEMORY;
  pthread_mutex_unlock(&g_lock);
  /* Mapped: a device copy that coherent.c keeps in step (the range is claimed above first, so two
   * threads never register it twice). */
  if (r == CUDA_SUCCESS && (flags & CU_MEMHOSTREGISTER_DEVICEMAP) && (r = vg_coherent_register(p, bytesize))) {
    pthread_mutex_lock(&g_lock);
    range *rg = containing((uintptr_t)p);
    if (rg) remove_at(rg);
    pthread_mutex_unlock(&g_lock);
  }
  return r;
}

VG_EXPORT CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags) {
  VG_TRACED(register_impl(p, bytesize, Flags));
}

static CUresult unregister_impl(void *p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
  pthread_mutex_lock(&g_lock);
  range *rg = containing((uintptr_t)p);
  if (rg && rg->base == (uintptr_t)p && rg->map_size == 0) {
    remove_at(rg);
    r = CUDA_SUCCESS;
  }
  pthread_mutex_unlock(&g_lock);
  if (r == CUDA_SUCCESS) (void)vg_coherent_release_host(p, VG_COH_REGISTERED);
  return r;
}

VG_EXPORT CUresult cuMemHostUnregister(void *p) { VG_TRACED(unregister_impl(p)); }

int vg_hostmem_lookup(uintptr_t p, vg_hostmem_info *out) {
  pthread_mutex_lock(&g_lock);
  range *r = containing(p);
  if (r) {
    *out = (vg_hostmem_info){.base = r->base, .size = r->size, .flags = r->flags,
                             .registered = r->map_size == 0, .ctx = r->ctx, .id = r->id};
  }
  pthread_mutex_unlock(&g_lock);
  return r != NULL;
}
