/*
 * softgpu device memory (interface and rationale in sg_mem.h).
 *
 * Layout: the arena is one MAP_NORESERVE mapping, so an 8 GiB "device" costs nothing until it is
 * touched. Liveness is a bitmap with one bit per 256-byte granule, read with atomic loads and no
 * lock, because the PTX engine checks every access. Writers (alloc/free) serialise on a mutex.
 *
 * Every allocation is followed by one guard granule that is never live. Two allocations are
 * therefore never adjacent in the bitmap, so "every granule of [p, p+n) is live" already means
 * "inside one allocation": an overrun from one buffer into its neighbour is caught.
 *
 * The memory part of the arena is a shared mapping of one memory file (memfd, sparse), so that
 * another softgpu process can map an allocation's pages for CUDA IPC (ipc.c, sg_mem_fd).
 *
 * Invariant: every byte of the arena outside live allocations and retired ones (exported by CUDA
 * IPC, then freed: sg_mem_share) is zero. Fresh pages are zero;
 * sg_mem_free zeroes the partial pages at the edges of the freed block and gives whole pages
 * back with MADV_REMOVE (which punches them out of the file, so they read as zeros again). So an allocation never needs a
 * memset, and a huge allocation commits no memory until used.
 *
 * The allocator keeps two arrays sorted by offset, of free extents (coalesced) and of live
 * blocks; allocation is first fit over the free extents. Both are O(n) in the number of
 * extents per call, which is fine for the allocation counts of CUDA programs (frameworks pool).
 */
#include "sg_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SG_MEM_DEFAULT_BYTES (8ull << 30)
#define SG_MEM_MIN_BYTES (1ull << 20)
#define SG_MEM_MAX_BYTES (1ull << 40)
/* The least address space reservations get (cuMemAddressReserve), whatever the memory. */
#define SG_MEM_MIN_VA_BYTES (64ull << 30)

typedef struct extent {
  uint64_t off;
  uint64_t len; /* bytes reserved, granule multiple; for blocks this includes the guard granule */
  uint64_t size; /* blocks only: the size asked for */
  int shared;    /* blocks only: exported by CUDA IPC (sg_mem_share) */
} extent;

typedef struct extent_vec {
  extent *v;
  size_t n, cap;
} extent_vec;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc = -1;
static uint8_t *g_base;
static uint64_t g_size; /* device memory: the allocations' part of the arena, [0, g_size) */
static uint64_t g_span; /* the whole arena: memory, then address space for reservations */
static _Atomic uint64_t *g_live; /* one bit per granule */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static extent_vec g_free, g_blocks;
static uint64_t g_used;
/* Virtual memory management (end of this file). */
static extent_vec g_resv;      /* live reservations: off, len (guard included), size */
static extent_vec g_vfree;     /* free address space for reservations, [g_size, g_span) */
static extent_vec g_phys_free; /* free extents of the physical file */
static int g_phys_fd = -1;
static uint64_t g_phys_used;
static int g_mem_fd = -1; /* the file behind [0, g_size) */

/* ---- configuration ---------------------------------------------------------------------- */

/* Parses "8G", "512M", "1024k", "2GiB", "1073741824". Returns 0 when the text is malformed. */
static uint64_t parse_size(const char *s) {
  char *end;
  errno = 0;
  if (*s < '0' || *s > '9') return 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return 0;
  unsigned shift = 0;
  switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
  }
  if (shift && (end[0] == 'i' || end[0] == 'I') && (end[1] == 'b' || end[1] == 'B')) end += 2;
  else if (end[0] == 'b' || end[0] == 'B') end++;
  if (*end) return 0;
  if (v > (UINT64_MAX >> shift)) return 0;
  return (uint64_t)v << shift;
}

static void do_init(void) {
  uint64_t size = SG_MEM_DEFAULT_BYTES;
  const char *env = getenv("VGPU_SOFTGPU_MEMORY");
  if (env && *env) {
    size = parse_size(env);
    if (size < SG_MEM_MIN_BYTES || size > SG_MEM_MAX_BYTES) return; /* g_init_rc stays -1 */
  }
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  size = (size + page - 1) & ~(page - 1);

  /* Address space for reservations beyond the memory, as a GPU's virtual space exceeds its memory:
   * llama.cpp reserves 32 GiB for its pool, PyTorch a little more than the memory per segment.
   * Inaccessible (PROT_NONE) until something is mapped there, so it costs no memory. */
  uint64_t vsize = size * 4 > SG_MEM_MIN_VA_BYTES ? size * 4 : SG_MEM_MIN_VA_BYTES;
  uint64_t span = size + vsize;
  int mem_fd = memfd_create("softgpu-memory", MFD_CLOEXEC);
  if (mem_fd < 0) return;
  if (ftruncate(mem_fd, (off_t)size) != 0) {
    close(mem_fd);
    return;
  }
  uint8_t *arena = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arena == MAP_FAILED) {
    close(mem_fd);
    return;
  }
  if (mmap(arena, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE | MAP_FIXED, mem_fd, 0) == MAP_FAILED) {
    munmap(arena, span);
    close(mem_fd);
    return;
  }
  uint64_t granules = span / SG_MEM_GRANULE;
  size_t words = (size_t)((granules + 63) / 64);
  size_t live_bytes = words * sizeof(uint64_t);
  void *live = mmap(NULL, live_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (live == MAP_FAILED) {
    munmap(arena, span);
    close(mem_fd);
    return;
  }
  extent *first = malloc(16 * sizeof *first);
  extent *vfirst = malloc(16 * sizeof *vfirst);
  if (!first || !vfirst) {
    free(first);
    free(vfirst);
    munmap(live, live_bytes);
    munmap(arena, span);
    close(mem_fd);
    return;
  }
  first[0] = (extent){0, size, 0, 0};
  g_free = (extent_vec){first, 1, 16};
  vfirst[0] = (extent){size, vsize, 0, 0};
  g_vfree = (extent_vec){vfirst, 1, 16};
  g_base = arena;
  g_size = size;
  g_span = span;
  g_live = live;
  g_mem_fd = mem_fd;
  g_init_rc = 0;
}

int sg_mem_init(void) {
  pthread_once(&g_once, do_init);
  return g_init_rc;
}

uint64_t sg_mem_total(void) { return sg_mem_init() == 0 ? g_size : 0; }

uint64_t sg_mem_used(void) {
  if (sg_mem_init() != 0) return 0;
  pthread_mutex_lock(&g_lock);
  uint64_t u = g_used + g_phys_used;
  pthread_mutex_unlock(&g_lock);
  return u;
}

int sg_mem_fd(void) { return sg_mem_init() == 0 ? g_mem_fd : -1; }

int sg_mem_phys_fd(void) {
  if (sg_mem_init() != 0) return -1;
  pthread_mutex_lock(&g_lock);
  int fd = g_phys_fd;
  pthread_mutex_unlock(&g_lock);
  return fd;
}

uint8_t *sg_mem_arena_base(void) { return sg_mem_init() == 0 ? g_base : NULL; }
uint64_t sg_mem_arena_size(void) { return sg_mem_init() == 0 ? g_span : 0; }

/* ---- granule bitmap ----------------------------------------------------------------------- */

/* Sets or clears granules [g, g+count). Called with g_lock held; atomics because readers don't lock. */
static void live_mark(uint64_t g, uint64_t count, int on) {
  while (count) {
    uint64_t bit = g % 64;
    uint64_t take = 64 - bit < count ? 64 - bit : count;
    uint64_t mask = take == 64 ? ~0ull : ((1ull << take) - 1) << bit;
    if (on)
      atomic_fetch_or_explicit(&g_live[g / 64], mask, memory_order_release);
    else
      atomic_fetch_and_explicit(&g_live[g / 64], ~mask, memory_order_release);
    g += take;
    count -= take;
  }
}

/* 1 when every granule of [g, g+count) is live. */
static int live_all(uint64_t g, uint64_t count) {
  while (count) {
    uint64_t bit = g % 64;
    uint64_t take = 64 - bit < count ? 64 - bit : count;
    uint64_t mask = take == 64 ? ~0ull : ((1ull << take) - 1) << bit;
    if ((atomic_load_explicit(&g_live[g / 64], memory_order_acquire) & mask) != mask) return 0;
    g += take;
    count -= take;
  }
  return 1;
}

int sg_mem_granule_live(uint64_t off) {
  if (sg_mem_init() != 0 || off >= g_span) return 0;
  return live_all(off / SG_MEM_GRANULE, 1);
}

void *sg_mem_check(sg_devptr p, uint64_t n) {
  if (sg_mem_init() != 0) return NULL;
  uint64_t base = (uint64_t)(uintptr_t)g_base;
  if (n == 0) n = 1;
  if (p < base) return NULL;
  uint64_t off = p - base;
  if (off >= g_span || n > g_span - off) return NULL;
  uint64_t g0 = off / SG_MEM_GRANULE;
  uint64_t g1 = (off + n - 1) / SG_MEM_GRANULE;
  if (!live_all(g0, g1 - g0 + 1)) return NULL;
  return g_base + off;
}

/* ---- sorted extent arrays ------------------------------------------------------------------ */

/* Index of the first extent with off > key. */
static size_t vec_upper(const extent_vec *vec, uint64_t key) {
  size_t lo = 0, hi = vec->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (vec->v[mid].off <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int vec_reserve(extent_vec *vec, size_t extra) {
  if (vec->n + extra <= vec->cap) return 0;
  size_t cap = vec->cap ? vec->cap : 16;
  while (cap < vec->n + extra) cap *= 2;
  extent *v = realloc(vec->v, cap * sizeof *v);
  if (!v) return -1;
  vec->v = v;
  vec->cap = cap;
  return 0;
}

static void vec_insert(extent_vec *vec, size_t at, extent e) {
  memmove(&vec->v[at + 1], &vec->v[at], (vec->n - at) * sizeof e);
  vec->v[at] = e;
  vec->n++;
}

static void vec_remove(extent_vec *vec, size_t at) {
  memmove(&vec->v[at], &vec->v[at + 1], (vec->n - at - 1) * sizeof *vec->v);
  vec->n--;
}

/* ---- allocation ----------------------------------------------------------------------------- */

/* First fit of len bytes from `free` whose absolute address (base + offset) is a multiple of
 * align (a power of two; 0 or 1 for none). Called with g_lock held; the extent split off in front
 * of an aligned piece stays free. 0 and *off on success, -1 when nothing fits. */
static int ext_take(extent_vec *free, uint64_t base, uint64_t len, uint64_t align, uint64_t *off) {
  if (align < 2) align = 1;
  if (vec_reserve(free, 1) != 0) return -1;
  for (size_t i = 0; i < free->n; i++) {
    extent *e = &free->v[i];
    uint64_t start = ((base + e->off + align - 1) & ~(align - 1)) - base;
    uint64_t skip = start - e->off;
    if (skip > e->len || e->len - skip < len) continue;
    uint64_t tail = e->len - skip - len;
    if (skip == 0 && tail == 0) {
      vec_remove(free, i);
    } else if (skip == 0) {
      e->off += len;
      e->len -= len;
    } else {
      e->len = skip;
      if (tail) vec_insert(free, i + 1, (extent){start + len, tail, 0, 0});
    }
    *off = start;
    return 0;
  }
  return -1;
}

/* Gives [off, off+len) back to `free`, coalescing with its neighbours. The caller has reserved
 * room for one more extent (vec_reserve), so this cannot fail. Called with g_lock held. */
static void ext_give(extent_vec *free, uint64_t off, uint64_t len) {
  size_t at = vec_upper(free, off);
  int join_prev = at > 0 && free->v[at - 1].off + free->v[at - 1].len == off;
  int join_next = at < free->n && off + len == free->v[at].off;
  if (join_prev && join_next) {
    free->v[at - 1].len += len + free->v[at].len;
    vec_remove(free, at);
  } else if (join_prev) {
    free->v[at - 1].len += len;
  } else if (join_next) {
    free->v[at].off = off;
    free->v[at].len += len;
  } else {
    vec_insert(free, at, (extent){off, len, 0, 0});
  }
}

int sg_mem_alloc(uint64_t size, sg_devptr *out) {
  if (!out || sg_mem_init() != 0) return -1;
  /* Size 0 still gets a granule so that the pointer is unique and checkable. */
  if (size > g_size) return -1;
  uint64_t len = (size + SG_MEM_GRANULE - 1) / SG_MEM_GRANULE * SG_MEM_GRANULE;
  if (len == 0) len = SG_MEM_GRANULE;
  len += SG_MEM_GRANULE; /* guard */

  /* Allocations of a page or more start on a page, as a GPU's large allocations start on its own
   * pages: vgpu's guest maps its copy of managed memory at the device address (docs/managed-memory.md). */
  uint64_t align = size >= 4096 ? 4096 : 0;
  pthread_mutex_lock(&g_lock);
  uint64_t off;
  if (vec_reserve(&g_blocks, 1) != 0 || ext_take(&g_free, 0, len, align, &off) != 0) goto fail;
  vec_insert(&g_blocks, vec_upper(&g_blocks, off), (extent){off, len, size, 0});
  g_used += len;
  live_mark(off / SG_MEM_GRANULE, len / SG_MEM_GRANULE - 1, 1);
  pthread_mutex_unlock(&g_lock);
  *out = (sg_devptr)(uintptr_t)(g_base + off);
  return 0;
fail:
  pthread_mutex_unlock(&g_lock);
  return -1;
}

/* Restores the all-zero invariant over [off, off+len) and returns whole pages to the kernel. */
static void scrub(uint64_t off, uint64_t len) {
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  uint64_t end = off + len;
  uint64_t first_page = (off + page - 1) & ~(page - 1);
  uint64_t last_page = end & ~(page - 1);
  if (first_page >= last_page) {
    memset(g_base + off, 0, len);
    return;
  }
  memset(g_base + off, 0, first_page - off);
  memset(g_base + last_page, 0, end - last_page);
  if (madvise(g_base + first_page, last_page - first_page, MADV_REMOVE) != 0)
    memset(g_base + first_page, 0, last_page - first_page);
}

/* Finds the live block containing arena offset off (within its reserved granules, guard excluded). */
static extent *block_at(uint64_t off, size_t *idx) {
  size_t i = vec_upper(&g_blocks, off);
  if (i == 0) return NULL;
  extent *b = &g_blocks.v[i - 1];
  if (off >= b->off + b->len - SG_MEM_GRANULE) return NULL;
  if (idx) *idx = i - 1;
  return b;
}

int sg_mem_free(sg_devptr p) {
  if (sg_mem_init() != 0) return -1;
  uint64_t base = (uint64_t)(uintptr_t)g_base;
  if (p < base || p - base >= g_size) return -1;
  uint64_t off = p - base;

  pthread_mutex_lock(&g_lock);
  size_t bi;
  extent *b = block_at(off, &bi);
  /* Room for one more free extent first, so that nothing can fail after the block is gone. */
  if (!b || b->off != off || vec_reserve(&g_free, 1) != 0) {
    pthread_mutex_unlock(&g_lock);
    return -1;
  }
  uint64_t len = b->len;
  int shared = b->shared;
  vec_remove(&g_blocks, bi);
  live_mark(off / SG_MEM_GRANULE, len / SG_MEM_GRANULE - 1, 0);
  /* Another process may still have a shared block open (CUDA IPC) and keeps reaching its pages:
   * they are neither scrubbed (it would see zeros) nor allocated again (it would see the next
   * allocation's bytes) while this process lives. No one tells the exporter of the last close, so
   * the range stays retired, and counted as used, until then. */
  if (!shared) {
    g_used -= len;
    scrub(off, len);
    ext_give(&g_free, off, len);
  }
  pthread_mutex_unlock(&g_lock);
  return 0;
}

/* Base and size of the live block containing p, marking it shared when `share` says so. */
static int block_query(sg_devptr p, sg_devptr *base, uint64_t *size, int share) {
  if (sg_mem_init() != 0) return -1;
  uint64_t abase = (uint64_t)(uintptr_t)g_base;
  if (p < abase || p - abase >= g_size) return -1;
  pthread_mutex_lock(&g_lock);
  extent *b = block_at(p - abase, NULL);
  int rc = -1;
  if (b) {
    if (base) *base = abase + b->off;
    if (size) *size = b->size;
    if (share) b->shared = 1;
    rc = 0;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

int sg_mem_range(sg_devptr p, sg_devptr *base, uint64_t *size) { return block_query(p, base, size, 0); }

int sg_mem_share(sg_devptr p, sg_devptr *base, uint64_t *size) { return block_query(p, base, size, 1); }

/* ---- virtual memory management (cuMemAddressReserve, cuMemCreate, cuMemMap) ------------------
 *
 * The arena is longer than the memory: after the allocations' part, [g_size, g_span) is address
 * space for reservations only (PROT_NONE, so it costs nothing), at least 64 GiB and four times the
 * memory, as a GPU's virtual space is much larger than its memory. A reservation is a stretch of
 * it, with a guard granule after it, never live and not counted as used. Physical memory is a second, separate space: one memfd as large as the arena
 * (sparse, so it costs nothing until touched) with its own free extents. Mapping places the file's
 * pages over the arena's at the reserved address (mmap MAP_FIXED | MAP_SHARED), so every mapping of
 * one physical allocation shares its bytes; unmapping puts fresh anonymous pages back. Freed physical memory is punched out of the file, so it
 * reads as zero when allocated again. Liveness of mapped granules is set by sg_mem_set_live
 * (cuMemSetAccess): a mapping starts inaccessible, as on a GPU. Inside one reservation adjacent
 * mappings are adjacent in the bitmap, so a range spanning them is valid, as CUDA promises. */


/* Creates the physical file on first use. Called with g_lock held. */
static int phys_init(void) {
  if (g_phys_fd >= 0) return 0;
  int fd = memfd_create("softgpu-physical", MFD_CLOEXEC);
  if (fd < 0) return -1;
  if (ftruncate(fd, (off_t)g_size) != 0 || vec_reserve(&g_phys_free, 1) != 0) {
    close(fd);
    return -1;
  }
  vec_insert(&g_phys_free, 0, (extent){0, g_size, 0, 0});
  g_phys_fd = fd;
  return 0;
}

int sg_mem_reserve(uint64_t size, uint64_t align, sg_devptr hint, sg_devptr *out) {
  if (!out || sg_mem_init() != 0 || size == 0 || size > g_span - g_size) return -1;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  if (align < page) align = page;
  uint64_t len = size + SG_MEM_GRANULE; /* guard: nothing live ever follows a reservation directly */
  uint64_t base = (uint64_t)(uintptr_t)g_base;
  pthread_mutex_lock(&g_lock);
  uint64_t off = UINT64_MAX;
  if (vec_reserve(&g_resv, 1) != 0 || vec_reserve(&g_vfree, 2) != 0) goto fail;
  /* The hint is taken when that exact stretch is free and aligned; otherwise it is only a hint. */
  if (hint && hint % align == 0 && hint >= base && hint - base <= g_span - len) {
    uint64_t want = hint - base;
    size_t i = vec_upper(&g_vfree, want);
    if (i > 0) {
      extent e = g_vfree.v[i - 1];
      if (want + len <= e.off + e.len) {
        vec_remove(&g_vfree, i - 1);
        if (want > e.off) ext_give(&g_vfree, e.off, want - e.off);
        if (e.off + e.len > want + len) ext_give(&g_vfree, want + len, e.off + e.len - want - len);
        off = want;
      }
    }
  }
  if (off == UINT64_MAX && ext_take(&g_vfree, base, len, align, &off) != 0) goto fail;
  vec_insert(&g_resv, vec_upper(&g_resv, off), (extent){off, len, size, 0});
  pthread_mutex_unlock(&g_lock);
  *out = base + off;
  return 0;
fail:
  pthread_mutex_unlock(&g_lock);
  return -1;
}

/* The reservation holding arena offset off (guard excluded), or NULL. Called with g_lock held. */
static extent *resv_at(uint64_t off, size_t *idx) {
  size_t i = vec_upper(&g_resv, off);
  if (i == 0) return NULL;
  extent *r = &g_resv.v[i - 1];
  if (off >= r->off + r->size) return NULL;
  if (idx) *idx = i - 1;
  return r;
}

int sg_mem_reservation(sg_devptr p, sg_devptr *base, uint64_t *size) {
  if (sg_mem_init() != 0) return -1;
  uint64_t abase = (uint64_t)(uintptr_t)g_base;
  if (p < abase || p - abase >= g_span) return -1;
  pthread_mutex_lock(&g_lock);
  extent *r = resv_at(p - abase, NULL);
  if (r) {
    if (base) *base = abase + r->off;
    if (size) *size = r->size;
  }
  pthread_mutex_unlock(&g_lock);
  return r ? 0 : -1;
}

int sg_mem_unreserve(sg_devptr p, uint64_t size) {
  if (sg_mem_init() != 0) return -1;
  uint64_t abase = (uint64_t)(uintptr_t)g_base;
  if (p < abase || p - abase >= g_span) return -1;
  pthread_mutex_lock(&g_lock);
  size_t i;
  extent *r = resv_at(p - abase, &i);
  int rc = -1;
  if (r && r->off == p - abase && r->size == size && vec_reserve(&g_vfree, 1) == 0) {
    uint64_t off = r->off, len = r->len;
    vec_remove(&g_resv, i);
    ext_give(&g_vfree, off, len);
    rc = 0;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

int sg_mem_phys_alloc(uint64_t size, uint64_t *off) {
  if (!off || sg_mem_init() != 0 || size == 0) return -1;
  pthread_mutex_lock(&g_lock);
  /* Physical memory and the arena's allocations share the device's one capacity. */
  int rc = -1;
  uint64_t taken = g_used + g_phys_used;
  if (phys_init() == 0 && taken <= g_size && size <= g_size - taken && ext_take(&g_phys_free, 0, size, 0, off) == 0) {
    g_phys_used += size;
    rc = 0;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

void sg_mem_phys_free(uint64_t off, uint64_t size) {
  if (sg_mem_init() != 0 || g_phys_fd < 0) return;
  pthread_mutex_lock(&g_lock);
  if (vec_reserve(&g_phys_free, 1) == 0) {
    /* Back to zeros (and to the kernel) before anyone can allocate it again. */
    fallocate(g_phys_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)size);
    ext_give(&g_phys_free, off, size);
    g_phys_used -= size;
  }
  pthread_mutex_unlock(&g_lock);
}

int sg_mem_map_fd(sg_devptr p, uint64_t size, int fd, uint64_t off) {
  if (sg_mem_init() != 0 || fd < 0) return -1;
  uint64_t abase = (uint64_t)(uintptr_t)g_base;
  /* Only reservation space: the memory part is the arena's own file. */
  if (p < abase + g_size || p - abase > g_span || size > g_span - (p - abase)) return -1;
  void *at = mmap(g_base + (p - abase), size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)off);
  return at == MAP_FAILED ? -1 : 0;
}

int sg_mem_map(sg_devptr p, uint64_t size, uint64_t phys_off) {
  if (sg_mem_init() != 0 || g_phys_fd < 0) return -1;
  return sg_mem_map_fd(p, size, g_phys_fd, phys_off);
}

void sg_mem_unmap(sg_devptr p, uint64_t size) {
  if (sg_mem_init() != 0) return;
  uint64_t off = p - (uint64_t)(uintptr_t)g_base;
  pthread_mutex_lock(&g_lock);
  live_mark(off / SG_MEM_GRANULE, size / SG_MEM_GRANULE, 0);
  pthread_mutex_unlock(&g_lock);
  /* Fresh zero pages (costing nothing until touched) rather than PROT_NONE: an access that passed
   * its check just before the granules went dead reads zeros instead of killing the process. */
  mmap(g_base + off, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

void sg_mem_set_live(sg_devptr p, uint64_t size, int live) {
  if (sg_mem_init() != 0) return;
  uint64_t off = p - (uint64_t)(uintptr_t)g_base;
  pthread_mutex_lock(&g_lock);
  live_mark(off / SG_MEM_GRANULE, size / SG_MEM_GRANULE, live);
  pthread_mutex_unlock(&g_lock);
}
