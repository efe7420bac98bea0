/*
 * Coherent host memory: managed memory (cuMemAllocManaged) and mapped page-locked memory
 * (cuMemHostAlloc/cuMemHostRegister with DEVICEMAP). Design, costs and differences from a local
 * GPU: docs/managed-memory.md. In short:
 *  - the bytes live twice: in a device allocation of the session (counted in the quota like
 *    cuMemAlloc) and in the guest's host memory, the "mirror". Managed and mapped allocations put
 *    the mirror at the device allocation's own address (mmap MAP_FIXED_NOREPLACE), so one pointer
 *    is both, as with unified addressing on a GPU; a registered range keeps the program's address
 *    and gets a device pointer of its own (cuMemHostGetDevicePointer);
 *  - a shadow copy per range holds the bytes both sides last agreed on. Before a call that puts
 *    work on the device (a launch, copy, memset, graph launch: VG_CALL_ASYNC/VG_CALL_SYNC calls)
 *    the pages where the mirror differs from the shadow go to the device (vgCoherentWrite); after
 *    a call that synchronises (context, stream and event synchronisation, successful queries,
 *    blocking copies) the executor sends the pages the device changed (vgCoherentRead, against
 *    its own shadow) and those that differ from the guest's shadow are written into the mirror (a
 *    three-way merge: pages the host changed and the device did not keep the host's bytes until
 *    the next flush);
 *  - the guest never traps writes (no mprotect, no signal handler), so system calls, other
 *    libraries and every thread may write the mirror freely.
 * The table lock is held across flushes and refreshes, which make calls of their own; those calls
 * skip the hooks (t_inside), and nothing calls into this file while holding the session.
 */
#include "vgcuda.h"

#include "coherent.h"
#include "ctxstack.h"
#include "rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Attempts at finding a device allocation whose address is free in this process too. */
#define PLACE_TRIES 8
/* The most bytes one transfer of a range carries (src/executor/custom/coherent.ts takes as much). */
#define PIECE ((size_t)4 << 20)

typedef struct crange {
  uintptr_t host;        /* the mirror */
  CUdeviceptr dev;       /* the device address of host[0] */
  CUdeviceptr dev_alloc; /* the device allocation to free */
  size_t size;           /* bytes the program asked for */
  size_t map_size;       /* bytes of mirror mapping this file owns; 0 for registered ranges */
  uint8_t *shadow;       /* size bytes: what both sides last agreed on */
  vg_coh_kind kind;
  CUcontext ctx;
  unsigned long long id;
  vg_advice_page *pages;    /* managed memory: advice and prefetch state, one per page */
  const void *owner;        /* a module's __managed__ variables: the module or library handle */
  int owner_kind;           /* its vg_hkind */
} crange;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static crange *g_r;
static size_t g_n, g_cap;
static _Atomic size_t g_live;       /* g_n, read without the lock by the hooks' fast path */
/* Work submissions so far, and how many of them a whole-context synchronisation has seen finish:
 * while they differ, device work may have changed coherent memory since the host last looked. */
static _Atomic uint64_t g_submitted, g_complete;
static __thread uint64_t t_submitted_at_sync; /* g_submitted when this thread's wait began */
static __thread int t_inside;       /* this thread is flushing or refreshing */
/* Buffer ids of managed memory: below the guest's page-locked ones (2^62 up, hostmem.c) and far
 * above any the driver gives (docs/pointers.md). */
static unsigned long long g_next_id = 1ull << 61;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void atfork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&g_lock); }
/* A forked child opens a session of its own, in which the parent's device copies do not exist:
 * its copies of the ranges stay ordinary memory. The table's storage is left as it is (copy on
 * write makes that free), since only async-signal-safe work belongs here. */
static void atfork_child(void) {
  g_n = 0;
  atomic_store(&g_live, 0);
  atomic_store(&g_complete, atomic_load(&g_submitted));
  pthread_mutex_unlock(&g_lock);
}

static CUresult hook_before(uint32_t op);
static void hook_after(uint32_t op, CUresult r);

static void setup(void) {
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  vg_call_set_hooks(hook_before, hook_after);
}

/* ---- the table (callers hold g_lock) ---------------------------------------------------- */

static crange *find_host(uintptr_t p) {
  for (size_t i = 0; i < g_n; i++)
    if (p - g_r[i].host < g_r[i].size) return &g_r[i];
  return NULL;
}

static crange *find_dev(CUdeviceptr p) {
  for (size_t i = 0; i < g_n; i++)
    if (p - g_r[i].dev < g_r[i].size) return &g_r[i];
  return NULL;
}

static int add(const crange *r) {
  if (g_n == g_cap) {
    size_t cap = g_cap ? g_cap * 2 : 8;
    crange *nr = realloc(g_r, cap * sizeof *nr);
    if (!nr) return -1;
    g_r = nr;
    g_cap = cap;
  }
  g_r[g_n++] = *r;
  atomic_store(&g_live, g_n);
  return 0;
}

static void drop(crange *r) {
  size_t i = (size_t)(r - g_r);
  g_r[i] = g_r[--g_n];
  atomic_store(&g_live, g_n);
}

/* ---- moving bytes (t_inside set: these calls skip the hooks) ------------------------------ */

static CUresult write_piece(crange *r, size_t off, size_t n);

/* Sends the pages of r where the mirror differs from the shadow. The shadow is updated from the
 * mirror before the bytes are sent from it, so a write racing the flush shows as a difference at
 * the next one instead of being lost. */
static CUresult flush_range(crange *r) {
  size_t page = page_size();
  size_t off = 0, run = 0, run_len = 0;
  CUresult res = CUDA_SUCCESS;
  const uint8_t *m = (const uint8_t *)r->host;
  while (off < r->size) {
    size_t end = ((r->host + off) / page + 1) * page - r->host; /* the next page boundary */
    if (end > r->size) end = r->size;
    size_t n = end - off;
    int dirty = memcmp(m + off, r->shadow + off, n) != 0;
    if (dirty) {
      memcpy(r->shadow + off, m + off, n);
      if (run_len == 0) run = off;
      run_len += n;
    }
    if (run_len && (!dirty || end == r->size || run_len > PIECE - page)) {
      res = write_piece(r, run, run_len);
      if (res) { /* not sent: make the shadow differ so the next flush tries again */
        for (size_t k = run; k < run + run_len; k++) r->shadow[k] = (uint8_t)~m[k];
        return res;
      }
      run_len = 0;
    }
    off = end;
  }
  return res;
}

/* Sends r's shadow bytes [off, off+n) to the device and to the executor's shadow of the range. */
static CUresult write_piece(crange *r, size_t off, size_t n) {
  vg_call c;
  CUresult res = vg_call_begin(&c, VG_OP_vgCoherentWrite, 0);
  if (res) return res;
  vg_put_u64(&c, r->dev);
  vg_put_u64(&c, r->size);
  vg_put_u64(&c, off);
  vg_put_bytes(&c, r->shadow + off, n);
  return vg_call_end(&c, vg_call_invoke(&c));
}

/* Reads r back and writes the pages the device changed into the mirror. The executor sends only
 * the chunks (pages, from the range's start) that differ from what it last sent or was sent; a
 * chunk is written here only where it differs from the guest's shadow too, so the host's changes
 * not yet flushed survive in every page the device left alone. */
static CUresult refresh_range(crange *r, uint8_t *buf) {
  size_t page = page_size();
  uint8_t *m = (uint8_t *)r->host;
  uint8_t bitmap[PIECE / 4096 / 8];
  for (size_t base = 0; base < r->size; base += PIECE) {
    size_t n = r->size - base < PIECE ? r->size - base : PIECE;
    size_t chunks = (n + page - 1) / page;
    vg_call c;
    CUresult res = vg_call_begin(&c, VG_OP_vgCoherentRead, 0);
    if (res) return res;
    vg_put_u64(&c, r->dev);
    vg_put_u64(&c, r->size);
    vg_put_u64(&c, base);
    vg_put_u64(&c, n);
    vg_put_u32(&c, (uint32_t)page);
    res = vg_call_invoke(&c);
    if (res == CUDA_SUCCESS) {
      vg_get_bytes(&c, bitmap, (chunks + 7) / 8);
      vg_get_bytes(&c, buf, PIECE);
    }
    if ((res = vg_call_end(&c, res))) return res;
    size_t at = 0; /* in buf: the changed chunks, in order */
    for (size_t i = 0; i < chunks; i++) {
      if (!(bitmap[i / 8] & (1u << (i % 8)))) continue;
      size_t off = base + i * page, len = r->size - off < page ? r->size - off : page;
      if (memcmp(buf + at, r->shadow + off, len) != 0) {
        memcpy(r->shadow + off, buf + at, len);
        memcpy(m + off, buf + at, len);
      }
      at += len;
    }
  }
  return CUDA_SUCCESS;
}

/* The copies of a range run in the context it was allocated in, whatever this thread has current
 * (a range of no context, in the current one). */
static CUresult in_context(crange *r, CUresult (*fn)(crange *, uint8_t *), uint8_t *buf) {
  if (!r->ctx) return fn(r, buf); /* a library's __managed__ variables: any context reaches them */
  if (vg_ctx_push(r->ctx)) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult res = fn(r, buf);
  void *popped;
  vg_ctx_pop(&popped);
  return res;
}

static CUresult flush_one(crange *r, uint8_t *unused) {
  (void)unused;
  return flush_range(r);
}

static void forget(crange *r);

/* Drops the ranges of __managed__ variables whose module or library was unloaded (the executor
 * forgot them with it). Called with g_lock held. */
static void drop_orphans(void) {
  for (size_t i = 0; i < g_n;) {
    crange *r = &g_r[i];
    if (r->owner && vg_handle_get(r->owner, (vg_hkind)r->owner_kind, NULL, NULL) != 0) forget(r);
    else i++;
  }
}

/* A flush that fails (the session is gone, or the range's context is) leaves its pages to the next
 * flush and does not fail the call that triggered it: that call reports its own errors. */
static CUresult flush_all(void) {
  CUresult res = CUDA_SUCCESS;
  t_inside = 1;
  pthread_mutex_lock(&g_lock);
  drop_orphans();
  for (size_t i = 0; i < g_n; i++) {
    CUresult one = in_context(&g_r[i], flush_one, NULL);
    if (one && !res) res = one;
  }
  pthread_mutex_unlock(&g_lock);
  t_inside = 0;
  if (res) vg_log(VG_LOG_WARN, "coherent memory: sending the host's changes failed (%d)", (int)res);
  return CUDA_SUCCESS;
}

/* 0 when every range was read back. */
static int refresh_all(void) {
  uint8_t *buf = malloc(PIECE);
  if (!buf) return -1; /* tried again at the next synchronisation */
  t_inside = 1;
  pthread_mutex_lock(&g_lock);
  drop_orphans();
  CUresult res = CUDA_SUCCESS;
  for (size_t i = 0; i < g_n; i++) {
    CUresult one = in_context(&g_r[i], refresh_range, buf);
    if (one && !res) res = one;
  }
  pthread_mutex_unlock(&g_lock);
  t_inside = 0;
  free(buf);
  if (res) vg_log(VG_LOG_WARN, "coherent memory: reading the device's copy back failed (%d)", (int)res);
  return res ? -1 : 0;
}

/* ---- the hooks -------------------------------------------------------------------------- */

/* Calls that only wait: they read and write no device memory of their own. */
static int waits_only(uint32_t op) {
  switch (op) {
    case VG_OP_cuCtxSynchronize:
    case VG_OP_cuCtxSynchronize_v2:
    case VG_OP_cuStreamSynchronize:
    case VG_OP_cuStreamSynchronize_ptsz:
    case VG_OP_cuStreamQuery:
    case VG_OP_cuStreamQuery_ptsz:
    case VG_OP_cuEventSynchronize:
    case VG_OP_cuEventQuery: return 1;
    default: return 0;
  }
}

/* Calls that manage contexts: they neither run work nor wait for it, and a context that ends takes
 * its coherent memory with it (vg_coherent_context_gone), so there is nothing to flush or read back. */
static int manages_context(uint32_t op) {
  switch (op) {
    case VG_OP_cuCtxCreate_v2:
    case VG_OP_cuCtxDestroy_v2:
    case VG_OP_cuDevicePrimaryCtxRetain:
    case VG_OP_cuDevicePrimaryCtxRelease_v2:
    case VG_OP_cuDevicePrimaryCtxReset_v2:
    case VG_OP_cuDevicePrimaryCtxSetFlags_v2: return 1;
    default: return 0;
  }
}

/* Device-to-host copies read device memory but change none. */
static int reads_only(uint32_t op) {
  switch (op) {
    case VG_OP_cuMemcpyDtoH_v2:
    case VG_OP_cuMemcpyDtoH_v2_ptds:
    case VG_OP_cuMemcpyDtoHAsync_v2:
    case VG_OP_cuMemcpyDtoHAsync_v2_ptsz: return 1;
    default: return 0;
  }
}

static CUresult hook_before(uint32_t op) {
  if (t_inside) return CUDA_SUCCESS;
  if (waits_only(op)) {
    t_submitted_at_sync = atomic_load(&g_submitted);
    return CUDA_SUCCESS;
  }
  if (atomic_load(&g_live) == 0 || manages_context(op)) return CUDA_SUCCESS;
  if (!reads_only(op)) atomic_fetch_add(&g_submitted, 1);
  return flush_all();
}

/* After a successful wait: read back unless all work submitted is known to have finished and been
 * read back. A stream or event may finish while other streams still run, so only a whole-context
 * synchronisation marks the work submitted before it as complete; until one comes, every wait
 * reads back (only the pages that changed cross the connection). */
static void hook_after(uint32_t op, CUresult r) {
  if (t_inside || r != CUDA_SUCCESS || atomic_load(&g_live) == 0 || manages_context(op)) return;
  if (atomic_load(&g_submitted) == atomic_load(&g_complete)) return;
  if (refresh_all() != 0) return;
  if (op != VG_OP_cuCtxSynchronize && op != VG_OP_cuCtxSynchronize_v2) return;
  uint64_t done = atomic_load(&g_complete);
  while (done < t_submitted_at_sync && !atomic_compare_exchange_weak(&g_complete, &done, t_submitted_at_sync)) {
  }
}

/* ---- creating and destroying ranges -------------------------------------------------------- */

static CUresult dev_alloc(CUdeviceptr *p, size_t n) {
  t_inside = 1;
  CUresult r = cuMemAlloc_v2(p, n);
  t_inside = 0;
  return r;
}

static void dev_free(CUdeviceptr p) {
  t_inside = 1;
  (void)cuMemFree_v2(p);
  t_inside = 0;
}

/* A device allocation of at least n bytes (a page multiple) whose first page-aligned address a is
 * also free in this process, with the mirror mapped there. Allocations whose address this process
 * already uses are kept until the end, so the next try gets another address. */
static CUresult place(size_t n, CUdeviceptr *alloc_out, uintptr_t *addr_out) {
  size_t page = page_size();
  CUdeviceptr busy[PLACE_TRIES];
  int nbusy = 0;
  CUresult res = CUDA_ERROR_OUT_OF_MEMORY;
  for (int t = 0; t < PLACE_TRIES; t++) {
    CUdeviceptr d;
    if ((res = dev_alloc(&d, n))) break;
    if (d % page) { /* the device aligned it less than a page: ask for one page more */
      dev_free(d);
      if ((res = dev_alloc(&d, n + page))) break;
    }
    uintptr_t a = ((uintptr_t)d + page - 1) & ~(uintptr_t)(page - 1);
    void *m = mmap((void *)a, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == (void *)a) {
      *alloc_out = d;
      *addr_out = a;
      res = CUDA_SUCCESS;
      break;
    }
    if (m != MAP_FAILED) munmap(m, n); /* a kernel that took the address only as a hint */
    busy[nbusy++] = d;
    res = CUDA_ERROR_OUT_OF_MEMORY;
  }
  for (int i = 0; i < nbusy; i++) dev_free(busy[i]);
  if (res == CUDA_ERROR_OUT_OF_MEMORY && nbusy == PLACE_TRIES)
    vg_log(VG_LOG_WARN, "coherent memory: %d device addresses in a row are in use in this process", PLACE_TRIES);
  return res;
}

/* The device copy starts as zeros, like the fresh mirror and shadow. */
static CUresult zero_device(CUdeviceptr d, size_t n) {
  t_inside = 1;
  CUresult r = cuMemsetD8_v2(d, 0, n);
  t_inside = 0;
  return r;
}

CUresult vg_coherent_alloc(void **pp, size_t bytesize, vg_coh_kind kind) {
  pthread_once(&g_once, setup);
  size_t page = page_size();
  if (bytesize > SIZE_MAX - page) return CUDA_ERROR_OUT_OF_MEMORY;
  size_t n = (bytesize + page - 1) & ~(page - 1);
  crange r = {.size = bytesize, .map_size = n, .kind = kind, .ctx = vg_ctx_current()};
  r.shadow = calloc(1, bytesize);
  if (kind == VG_COH_MANAGED) r.pages = calloc(n / page, sizeof *r.pages);
  if (!r.shadow || (kind == VG_COH_MANAGED && !r.pages)) {
    free(r.shadow);
    free(r.pages);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  uintptr_t a = 0;
  CUresult res = place(n, &r.dev_alloc, &a);
  if (res == CUDA_SUCCESS && (res = zero_device(a, bytesize))) {
    munmap((void *)a, n);
    dev_free(r.dev_alloc);
  }
  if (res) {
    free(r.shadow);
    free(r.pages);
    return res;
  }
  r.host = a;
  r.dev = a;
  pthread_mutex_lock(&g_lock);
  r.id = g_next_id++;
  int bad = add(&r);
  pthread_mutex_unlock(&g_lock);
  if (bad) {
    munmap((void *)a, n);
    dev_free(r.dev_alloc);
    free(r.shadow);
    free(r.pages);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pp = (void *)a;
  return CUDA_SUCCESS;
}

CUresult vg_coherent_adopt(CUdeviceptr base, size_t size, const void *initial, const void *owner, int owner_kind) {
  pthread_once(&g_once, setup);
  size_t page = page_size();
  if (base % page || size % page || size == 0) {
    vg_log(VG_LOG_WARN, "coherent memory: managed variables at 0x%llx (%zu bytes) are not page-aligned",
           (unsigned long long)base, size);
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  pthread_mutex_lock(&g_lock);
  drop_orphans();
  crange *known = find_dev(base);
  int same = known && known->dev == base && known->size == size && known->owner == owner;
  pthread_mutex_unlock(&g_lock);
  if (same) return CUDA_SUCCESS;
  if (known) return CUDA_ERROR_INVALID_VALUE; /* the executor gave an address already in use here */
  /* A module's variables live in its context and go with it; a library's belong to every context
   * (no context here: they are copied in the caller's). */
  crange r = {.host = base, .dev = base, .size = size, .map_size = size, .kind = VG_COH_MANAGED,
              .ctx = owner_kind == VG_H_MODULE ? vg_ctx_current() : NULL, .owner = owner, .owner_kind = owner_kind};
  r.shadow = malloc(size);
  r.pages = calloc(size / page, sizeof *r.pages);
  void *m = r.shadow && r.pages ? mmap((void *)base, size, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
                                : MAP_FAILED;
  CUresult res = CUDA_SUCCESS;
  if (m != (void *)base) {
    if (m != MAP_FAILED) munmap(m, size); /* a kernel that took the address only as a hint */
    else if (r.shadow && r.pages)
      vg_log(VG_LOG_WARN, "coherent memory: the address of managed variables (0x%llx) is in use in this process",
             (unsigned long long)base);
    res = CUDA_ERROR_OUT_OF_MEMORY;
  }
  if (res == CUDA_SUCCESS) {
    /* The variables' initial values, which the executor's shadow holds too. */
    memcpy((void *)base, initial, size);
    memcpy(r.shadow, initial, size);
    pthread_mutex_lock(&g_lock);
    r.id = g_next_id++;
    if (add(&r)) res = CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_unlock(&g_lock);
    if (res) munmap((void *)base, size);
  }
  if (res) {
    free(r.shadow);
    free(r.pages);
  }
  return res;
}

CUresult vg_coherent_register(void *p, size_t bytesize) {
  pthread_once(&g_once, setup);
  crange r = {.host = (uintptr_t)p, .size = bytesize, .kind = VG_COH_REGISTERED, .ctx = vg_ctx_current()};
  r.shadow = malloc(bytesize);
  if (!r.shadow) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult res = dev_alloc(&r.dev_alloc, bytesize);
  if (res) {
    free(r.shadow);
    return res;
  }
  r.dev = r.dev_alloc;
  /* The program's bytes are the starting point: the device gets them now. */
  memcpy(r.shadow, p, bytesize);
  t_inside = 1;
  for (size_t off = 0; off < bytesize && !res; off += PIECE)
    res = write_piece(&r, off, bytesize - off < PIECE ? bytesize - off : PIECE);
  t_inside = 0;
  pthread_mutex_lock(&g_lock);
  if (res == CUDA_SUCCESS && add(&r)) res = CUDA_ERROR_OUT_OF_MEMORY;
  pthread_mutex_unlock(&g_lock);
  if (res) {
    dev_free(r.dev_alloc);
    free(r.shadow);
  }
  return res;
}

/* Removes the range whose mirror starts at p (kind `kind`): frees its device copy and, when this
 * file mapped it, its mirror. 0 when there is no such range. */
static int release(uintptr_t p, vg_coh_kind kind, int by_dev) {
  pthread_mutex_lock(&g_lock);
  crange *r = by_dev ? find_dev((CUdeviceptr)p) : find_host(p);
  if (!r || (by_dev ? r->dev : r->host) != p || r->kind != kind) {
    pthread_mutex_unlock(&g_lock);
    return 0;
  }
  crange c = *r;
  drop(r);
  pthread_mutex_unlock(&g_lock);
  dev_free(c.dev_alloc);
  if (c.map_size) munmap((void *)c.host, c.map_size);
  free(c.shadow);
  free(c.pages);
  return 1;
}

int vg_coherent_release_host(void *p, vg_coh_kind kind) { return release((uintptr_t)p, kind, 0); }

int vg_coherent_free_hook(CUdeviceptr dptr, int stream_ordered, CUresult *res) {
  if (atomic_load(&g_live) == 0 || t_inside || dptr == 0) return 0;
  pthread_mutex_lock(&g_lock);
  crange *r = find_dev(dptr);
  vg_coh_kind kind = r ? r->kind : VG_COH_MANAGED;
  int module_var = r && r->owner;
  pthread_mutex_unlock(&g_lock);
  if (!r) return 0;
  if (kind != VG_COH_MANAGED || stream_ordered || module_var) {
    /* The device side of mapped host memory is freed with the host memory, never by itself; and
     * a managed allocation is not stream-ordered memory. */
    *res = CUDA_ERROR_INVALID_VALUE;
    return 1;
  }
  *res = release((uintptr_t)dptr, VG_COH_MANAGED, 1) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
  return 1;
}

/* Removes r, whose device side is gone. Managed memory is freed with it, as on a GPU. Mapped
 * page-locked memory stays the program's host memory (hostmem.c frees its mapping at
 * cuMemFreeHost), without a device side. Called with g_lock held. */
static void forget(crange *r) {
  if (r->kind == VG_COH_MANAGED) munmap((void *)r->host, r->map_size);
  free(r->shadow);
  free(r->pages);
  drop(r);
}

void vg_coherent_context_gone(CUcontext ctx) {
  if (atomic_load(&g_live) == 0) return;
  pthread_mutex_lock(&g_lock);
  for (size_t i = 0; i < g_n;) {
    /* A library's __managed__ variables belong to no context (ctx NULL): they go with the library. */
    if (g_r[i].ctx == ctx) forget(&g_r[i]);
    else i++;
  }
  pthread_mutex_unlock(&g_lock);
}

/* ---- queries ---------------------------------------------------------------------------- */

int vg_coherent_lookup(uintptr_t p, int by_dev, vg_coh_info *out) {
  if (atomic_load(&g_live) == 0) return 0;
  pthread_mutex_lock(&g_lock);
  crange *r = by_dev ? find_dev((CUdeviceptr)p) : find_host(p);
  if (r) *out = (vg_coh_info){.host = r->host, .dev = r->dev, .size = r->size, .kind = r->kind,
                              .ctx = r->ctx, .id = r->id};
  pthread_mutex_unlock(&g_lock);
  return r != NULL;
}

/* Managed memory's advice and prefetch state: fn runs on the page records of [p, p+n), which must
 * lie in one managed allocation. */
CUresult vg_coherent_pages(CUdeviceptr p, size_t n, vg_coh_pages_fn fn, void *arg) {
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_lock);
  crange *r = atomic_load(&g_live) ? find_dev(p) : NULL;
  CUresult res = CUDA_ERROR_INVALID_VALUE;
  if (r && r->kind == VG_COH_MANAGED && n <= r->size - (p - r->dev)) {
    size_t page = page_size();
    size_t first = (p - r->dev) / page, last = (p - r->dev + n - 1) / page;
    res = fn(r->pages + first, last - first + 1, arg);
  }
  pthread_mutex_unlock(&g_lock);
  return res;
}
