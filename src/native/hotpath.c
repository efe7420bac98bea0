/*
 * The executor's native hot path: see hotpath.h and docs/executors.md ("Native hot path").
 *
 * The guest's connection has one owner at a time. While this side owns it (NATIVE), a thread of
 * this library reads it, runs the hot calls and writes their answers; at the first frame it does
 * not serve, it writes what answers it still holds, then hands the connection over with what it
 * read but did not serve (VG_HOT_TAKE on the socketpair), and reads it no more. The executor's
 * TypeScript serving loop then reads and writes the connection itself, at full speed, until it has
 * served all it read, stopped reading and written all it had, when it hands the connection back
 * (VG_HOT_MARKER). Replies thus keep the order of the calls, and the driver is never called for
 * the session from both sides at once. Native calls run with `run_mu` held; the executor takes it
 * to change what is allowed or the mirrors, so a change never lands in the middle of a call.
 */
#include "hotpath.h"
#include "gen/hot-kinds.h"

#include <cuda.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Wire constants (docs/protocol.md; src/protocol/constants.ts). */
#define HEADER 16u
#define T_CALL 3u
#define T_REPLY 4u
#define T_NOTIFY 8u
#define F_NOREPLY 0x1u
#define NOTICE_STDOUT 1u
#define NOTICE_STDERR 2u
#define CTX_INACTIVE_PRIMARY 1u
/* softgpu's answer for work abandoned by its watcher (src/executor/abandon.ts). */
#define LAUNCH_TIMEOUT 702

/* A frame longer than this is never a hot call: it goes to the executor without being awaited
 * here (which also keeps a lying length from reserving memory). */
#define HOT_MAX_PAYLOAD (64u * 1024u)
/* Reads from either side go through pieces of this size. */
#define PIECE (1024u * 1024u)
/* The most one read of the guest takes: hot calls are small, and what is read ahead of a frame
 * that is not one crosses the socketpair with the hand-over (a bulk copy's data is then read by
 * the executor itself, straight from the connection). */
#define GUEST_READ (64u * 1024u)
/* Socket buffers of the guest's connection and of both ends of the socketpair: what the guest asks
 * for on its end (guest/common/impl/conn.c; SOCKET_BUFFER in src/executor/direct-socket.ts, which
 * the executor sets on its own duplicate too). */
#define SOCKET_BUFFER (4 * 1024 * 1024)
/* Answers not yet taken by the guest beyond which nothing more is read (from the guest or the
 * executor) until it reads them; the same bound as the executor's OUTPUT_MAX. */
#define OUT_MAX (1024u * 1024u)
/* Unserved guest bytes beyond which the guest is not read (a frame too large to be hot is handed
 * over as soon as its header is seen, so `in` stays small). */
#define IN_MAX (1024u * 1024u)
/* How long a stopping hot path still tries to deliver what it holds. */
#define STOP_NS 1000000000ll
/* Kernel output piece (one NOTIFY frame each), as src/executor/output.ts. */
#define OUTPUT_PIECE (64u * 1024u)

/* CUDA's limit on kernel parameter bytes, and the most launch attributes taken (as
 * src/executor/custom/launch.ts). */
#define MAX_PARAM_BYTES 32764u
#define MAX_ATTRS 32u

enum { VG_HOT_DECLINE = 0, VG_HOT_DONE = 1 };

struct vg_hot_call {
  struct vg_hot *h;
  const uint8_t *p;
  size_t off, len;
  CUresult res;
};

struct vg_hot_op {
  uint32_t id;
  const char *name;
  int async, sync;
  int (*run)(struct vg_hot_call *c, void *fn);
};

struct buf {
  uint8_t *p;
  size_t off, len, cap;
};

struct slot {
  uint64_t id; /* 0: empty */
  uint64_t real;
  int kind;
};

struct range {
  uint64_t base, size;
};

struct vg_hot {
  int guest, js, wake[2];
  pthread_t thread;
  bool thread_started;
  void *lib;
  CUresult (*set_current)(CUcontext);
  size_t (*output_take)(int *fd, void *buf, size_t cap);
  int (*cancel_stats)(uint64_t *out);
  void *fns[32];

  pthread_mutex_t run_mu;
  bool allowed;     /* under run_mu */
  struct slot *map; /* under run_mu */
  size_t map_cap, map_len;
  uint64_t cur_ctx; /* the context made current on this thread (0: none yet); under run_mu */
  struct range *ranges; /* the session's device ranges, sorted by base; under run_mu */
  size_t nranges, ranges_cap;

  atomic_int notices;
  atomic_int deferred;
  atomic_int stopping;
  _Atomic uint64_t stats[VG_HOT_NSTATS];

  /* The thread's own. */
  bool native;      /* this side owns the guest's connection (NATIVE); else the executor does (JS) */
  bool handing;     /* switching to JS: answers still being written before the hand-over */
  atomic_bool allowed_hint; /* `allowed`, read without the lock (run_native checks it under it) */
  atomic_int exec_waiting; /* executor threads waiting for run_mu (see exec_lock) */
  bool halted;      /* the session's work was abandoned: nothing more is served */
  bool guest_eof, guest_broken, js_eof, js_shut;
  struct buf in, out, fwd;
  uint8_t jhdr[HEADER];
  size_t jhdr_got, jbody_left;
  uint8_t *piece;
  uint8_t *outbuf;
  /* A launch's packed parameters and attributes (their addresses are what the driver is given). */
  _Alignas(16) uint8_t params[MAX_PARAM_BYTES];
  CUlaunchAttribute attrs[MAX_ATTRS];
};

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static void stat_add(struct vg_hot *h, int i, uint64_t n) { atomic_fetch_add_explicit(&h->stats[i], n, memory_order_relaxed); }

/* ---- buffers ------------------------------------------------------------------------------- */

static size_t buf_pending(const struct buf *b) { return b->len - b->off; }

/* Room for n more bytes; false when memory ran out. */
static bool buf_reserve(struct buf *b, size_t n) {
  if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
  if (b->len + n <= b->cap) return true;
  if (b->off > 0) {
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + n <= b->cap) return true;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + n) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return false;
  b->p = p;
  b->cap = cap;
  return true;
}

static bool buf_put(struct buf *b, const void *p, size_t n) {
  if (n == 0) return true;
  if (!buf_reserve(b, n)) return false;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return true;
}

/* ---- the handle mirror (open addressing, linear probing; ids are never 0) --------------------- */

static size_t slot_of(const struct vg_hot *h, uint64_t id) {
  return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (h->map_cap - 1);
}

static struct slot *map_find(struct vg_hot *h, uint64_t id) {
  if (h->map_cap == 0) return NULL;
  for (size_t i = slot_of(h, id);; i = (i + 1) & (h->map_cap - 1)) {
    if (h->map[i].id == id) return &h->map[i];
    if (h->map[i].id == 0) return NULL;
  }
}

static bool map_grow(struct vg_hot *h) {
  size_t cap = h->map_cap ? h->map_cap * 2 : 256;
  struct slot *old = h->map;
  size_t old_cap = h->map_cap;
  struct slot *m = calloc(cap, sizeof *m);
  if (!m) return false;
  h->map = m;
  h->map_cap = cap;
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i].id == 0) continue;
    size_t j = slot_of(h, old[i].id);
    while (m[j].id != 0) j = (j + 1) & (cap - 1);
    m[j] = old[i];
  }
  free(old);
  return true;
}

/* run_mu as the executor's thread takes it. glibc's mutex is not fair: the serving thread, which
 * unlocks and locks it again between calls, could take it back each time before the woken executor
 * ran, and the executor waited out as many calls as the guest kept sending (a session kept its GPU
 * while another waited). The serving thread lets a waiting executor go first (run_native). */
static void exec_lock(struct vg_hot *h) {
  atomic_fetch_add(&h->exec_waiting, 1);
  pthread_mutex_lock(&h->run_mu);
  atomic_fetch_sub(&h->exec_waiting, 1);
}

void vg_hot_handle_add(struct vg_hot *h, uint64_t id, int kind, uint64_t real) {
  if (id == 0) return;
  exec_lock(h);
  struct slot *s = map_find(h, id);
  if (s) {
    s->kind = kind;
    s->real = real;
  } else if ((h->map_len + 1) * 2 <= h->map_cap || map_grow(h)) {
    size_t j = slot_of(h, id);
    while (h->map[j].id != 0) j = (j + 1) & (h->map_cap - 1);
    h->map[j] = (struct slot){id, real, kind};
    h->map_len++;
  }
  /* Out of memory: the handle stays unknown here, so its calls are declined and served by the
   * executor. Nothing is wrong, only slower. */
  pthread_mutex_unlock(&h->run_mu);
}

void vg_hot_handle_remove(struct vg_hot *h, uint64_t id) {
  exec_lock(h);
  struct slot *s = map_find(h, id);
  if (s) {
    /* Backward-shift deletion keeps every probe chain unbroken. */
    size_t i = (size_t)(s - h->map);
    size_t mask = h->map_cap - 1;
    h->map[i].id = 0;
    h->map_len--;
    for (size_t j = (i + 1) & mask; h->map[j].id != 0; j = (j + 1) & mask) {
      size_t home = slot_of(h, h->map[j].id);
      /* Move j back into the hole i when its home is not cyclically in (i, j]. */
      bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (stays) continue;
      h->map[i] = h->map[j];
      h->map[j].id = 0;
      i = j;
    }
  }
  if (id == h->cur_ctx) h->cur_ctx = 0;
  pthread_mutex_unlock(&h->run_mu);
}

/* ---- the mirror of the session's device ranges (src/executor/allocs.ts) ---------------------- */

/* How many ranges start at or below p (the index after AllocMap's floor). */
static size_t ranges_upto(const struct vg_hot *h, uint64_t p) {
  size_t lo = 0, hi = h->nranges;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (h->ranges[mid].base <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

void vg_hot_range_add(struct vg_hot *h, uint64_t base, uint64_t size) {
  exec_lock(h);
  if (h->nranges == h->ranges_cap) {
    size_t cap = h->ranges_cap ? h->ranges_cap * 2 : 64;
    struct range *r = realloc(h->ranges, cap * sizeof *r);
    /* Out of memory: the range stays unknown here; calls on it go to the executor. */
    if (!r) goto out;
    h->ranges = r;
    h->ranges_cap = cap;
  }
  size_t i = ranges_upto(h, base);
  memmove(&h->ranges[i + 1], &h->ranges[i], (h->nranges - i) * sizeof h->ranges[0]);
  h->ranges[i] = (struct range){base, size};
  h->nranges++;
out:
  pthread_mutex_unlock(&h->run_mu);
}

void vg_hot_range_remove(struct vg_hot *h, uint64_t base, uint64_t size) {
  exec_lock(h);
  for (size_t i = ranges_upto(h, base); i > 0 && h->ranges[i - 1].base == base; i--) {
    if (h->ranges[i - 1].size != size) continue;
    memmove(&h->ranges[i - 1], &h->ranges[i], (h->nranges - i) * sizeof h->ranges[0]);
    h->nranges--;
    break;
  }
  pthread_mutex_unlock(&h->run_mu);
}

/* ---- what the generated handlers use ------------------------------------------------------- */

static bool vg_hot_rd_u64(struct vg_hot_call *c, uint64_t *v) {
  if (c->len - c->off < 8) return false;
  *v = rd64(c->p + c->off);
  c->off += 8;
  return true;
}

static bool vg_hot_rd_u32(struct vg_hot_call *c, uint32_t *v) {
  if (c->len - c->off < 4) return false;
  *v = rd32(c->p + c->off);
  c->off += 4;
  return true;
}

static inline bool vg_hot_rd_i32(struct vg_hot_call *c, int32_t *v) {
  uint32_t u;
  if (!vg_hot_rd_u32(c, &u)) return false;
  memcpy(v, &u, sizeof u);
  return true;
}

static inline bool vg_hot_rd_f32(struct vg_hot_call *c, float *v) {
  uint32_t u;
  if (!vg_hot_rd_u32(c, &u)) return false;
  memcpy(v, &u, sizeof u);
  return true;
}

static bool vg_hot_rd_end(struct vg_hot_call *c) { return c->off == c->len; }

/* The driver handle of guest id `id` of `kind`, as ExecContext.handle() resolves it; false where
 * that would fail (the executor then serves the call and gives its error) or where the handle is
 * the per-thread default stream, which is the executor thread's, not this one's. */
static bool vg_hot_handle(struct vg_hot_call *c, int kind, uint64_t id, int nullable, uint64_t *real) {
  if (kind == VG_HOT_KIND_STREAM && id <= 2) {
    *real = id;
    return id != 2;
  }
  if (id == 0) {
    *real = 0;
    return nullable != 0;
  }
  struct slot *s = map_find(c->h, id);
  if (!s || (s->kind != kind && !(kind == VG_HOT_KIND_FUNCTION && s->kind == VG_HOT_KIND_KERNEL))) return false;
  *real = s->real;
  return true;
}

/* The largest integer the executor's checks hold exactly (a JavaScript number): beyond it they
 * would round, so this side declines rather than decide differently. */
#define SAFE_MAX ((1ull << 53) - 1)

/* Whether [p, p + count * unit) lies inside one range of the session, as AllocMap.check() decides
 * (ranges of adjacent mappings, which it joins, are left to it: declined here). */
static bool vg_hot_range(struct vg_hot_call *c, uint64_t p, uint64_t count, uint64_t unit) {
  if (p > SAFE_MAX || count > SAFE_MAX / unit) return false;
  uint64_t n = count * unit;
  if (n == 0) return true;
  size_t i = ranges_upto(c->h, p);
  if (i == 0) return false;
  const struct range *r = &c->h->ranges[i - 1];
  return p - r->base < r->size && n <= r->size - (p - r->base);
}

#include "gen/hot-ops.h"

/* ---- launches: the wire layout of src/executor/custom/launch.ts -------------------------------- */

/* A `bytes` field (u64 length, then the bytes) of packed kernel parameters, copied to the launch
 * buffer; *extra is then the CU_LAUNCH_PARAM_BUFFER_* array that passes them. */
static bool read_params(struct vg_hot_call *c, void **extra, size_t *size) {
  uint64_t n;
  if (!vg_hot_rd_u64(c, &n) || n > c->len - c->off || n > MAX_PARAM_BYTES) return false;
  memcpy(c->h->params, c->p + c->off, (size_t)n);
  c->off += (size_t)n;
  *size = (size_t)n;
  extra[0] = CU_LAUNCH_PARAM_BUFFER_POINTER;
  extra[1] = c->h->params;
  extra[2] = CU_LAUNCH_PARAM_BUFFER_SIZE;
  extra[3] = size;
  extra[4] = CU_LAUNCH_PARAM_END;
  return true;
}

/* u64 f, u32 grid xyz, block xyz, shared memory, u64 stream, bytes params. */
static int hot_custom_cuLaunchKernel(struct vg_hot_call *c, void *fn) {
  uint64_t f_id, s_id, f, s;
  uint32_t d[7];
  if (!vg_hot_rd_u64(c, &f_id)) return VG_HOT_DECLINE;
  for (int i = 0; i < 7; i++) if (!vg_hot_rd_u32(c, &d[i])) return VG_HOT_DECLINE;
  void *extra[5];
  size_t size;
  if (!vg_hot_rd_u64(c, &s_id) || !read_params(c, extra, &size) || !vg_hot_rd_end(c)) return VG_HOT_DECLINE;
  if (!vg_hot_handle(c, VG_HOT_KIND_FUNCTION, f_id, 0, &f) || !vg_hot_handle(c, VG_HOT_KIND_STREAM, s_id, 1, &s)) return VG_HOT_DECLINE;
  CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **) =
      (CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **))fn;
  c->res = launch((CUfunction)(uintptr_t)f, d[0], d[1], d[2], d[3], d[4], d[5], d[6], (CUstream)(uintptr_t)s, NULL, extra);
  return VG_HOT_DONE;
}

/* u64 f, then a CUlaunchConfig: u32 grid xyz, block xyz, shared memory, u64 stream, u32 count,
 * count x (u32 id, 64 value bytes); then bytes params. */
static int hot_custom_cuLaunchKernelEx(struct vg_hot_call *c, void *fn) {
  uint64_t f_id, s_id, f, s;
  uint32_t d[7], n;
  if (!vg_hot_rd_u64(c, &f_id)) return VG_HOT_DECLINE;
  for (int i = 0; i < 7; i++) if (!vg_hot_rd_u32(c, &d[i])) return VG_HOT_DECLINE;
  if (!vg_hot_rd_u64(c, &s_id) || !vg_hot_rd_u32(c, &n) || n > MAX_ATTRS) return VG_HOT_DECLINE;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id;
    if (!vg_hot_rd_u32(c, &id) || c->len - c->off < 64) return VG_HOT_DECLINE;
    memset(&c->h->attrs[i], 0, sizeof c->h->attrs[i]);
    c->h->attrs[i].id = (CUlaunchAttributeID)id;
    memcpy(&c->h->attrs[i].value, c->p + c->off, 64);
    c->off += 64;
  }
  void *extra[5];
  size_t size;
  if (!read_params(c, extra, &size) || !vg_hot_rd_end(c)) return VG_HOT_DECLINE;
  if (!vg_hot_handle(c, VG_HOT_KIND_FUNCTION, f_id, 0, &f) || !vg_hot_handle(c, VG_HOT_KIND_STREAM, s_id, 1, &s)) return VG_HOT_DECLINE;
  CUlaunchConfig cfg = {
    .gridDimX = d[0], .gridDimY = d[1], .gridDimZ = d[2], .blockDimX = d[3], .blockDimY = d[4], .blockDimZ = d[5],
    .sharedMemBytes = d[6], .hStream = (CUstream)(uintptr_t)s, .attrs = n ? c->h->attrs : NULL, .numAttrs = n,
  };
  c->res = ((CUresult (*)(const CUlaunchConfig *, CUfunction, void **, void **))fn)(&cfg, (CUfunction)(uintptr_t)f, NULL, extra);
  return VG_HOT_DONE;
}

_Static_assert(VG_HOT_NOPS <= 32, "fns[] holds one driver entry point per hot op");
_Static_assert(sizeof(CUlaunchAttributeValue) == 64, "a launch attribute travels as 64 value bytes");

static int op_index(uint32_t id) {
  for (size_t i = 0; i < VG_HOT_NOPS; i++) if (vg_hot_ops[i].id == id) return (int)i;
  return -1;
}

/* ---- serving -------------------------------------------------------------------------------- */

static void put_frame(struct vg_hot *h, uint16_t type, uint32_t id, uint32_t op, const void *payload, uint32_t len) {
  uint8_t hd[HEADER];
  wr32(hd, len);
  wr16(hd + 4, type);
  wr16(hd + 6, 0);
  wr32(hd + 8, id);
  wr32(hd + 12, op);
  /* A failed allocation drops the frame: the guest then waits for a reply that never comes and
   * ends on its own timeout, which is what running out of memory means for any frame. */
  if (buf_put(&h->out, hd, HEADER) && buf_put(&h->out, payload, len)) {
    stat_add(h, VG_HOT_STAT_BYTES_OUT, HEADER + len);
  }
}

/* Kernel output the driver has flushed, ahead of the reply that follows (as serve.ts). */
static void pass_output(struct vg_hot *h) {
  if (!h->output_take) return;
  for (;;) {
    int fd = 1;
    size_t n = h->output_take(&fd, h->outbuf, OUTPUT_PIECE);
    if (n == 0) return;
    if (atomic_load(&h->notices)) put_frame(h, T_NOTIFY, 0, fd == 2 ? NOTICE_STDERR : NOTICE_STDOUT, h->outbuf, (uint32_t)n);
    else stat_add(h, VG_HOT_STAT_DROPPED_OUTPUT, n);
  }
}

static bool abandoned(struct vg_hot *h, CUresult res) {
  if (res != LAUNCH_TIMEOUT || !h->cancel_stats) return false;
  uint64_t st[4] = {0};
  h->cancel_stats(st);
  return st[0] != 0;
}

/* Queues n bytes for `fd` behind what `b` holds: written at once where nothing waits, the rest
 * kept in `b`. False when memory ran out. */
static bool emit(int fd, struct buf *b, const uint8_t *p, size_t n) {
  if (buf_pending(b) == 0) {
    while (n > 0) {
      ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break; /* full, or broken: the flush in the loop finds out which */
      p += w;
      n -= (size_t)w;
    }
  }
  return buf_put(b, p, n);
}

/* A control frame for the executor (VG_HOT_TAKE): header, then `n` bytes. */
static void to_executor(struct vg_hot *h, uint16_t type, const void *p, size_t n) {
  uint8_t hd[HEADER] = {0};
  wr32(hd, (uint32_t)n);
  wr16(hd + 4, type);
  if (!emit(h->js, &h->fwd, hd, HEADER) || !emit(h->js, &h->fwd, p, n)) h->guest_broken = true;
}

/* The executor serves from the next frame on: once this side's answers are all written, it is
 * given the connection with what was read of it but not served (VG_HOT_TAKE). */
static void to_js(struct vg_hot *h) {
  if (!h->native) return;
  h->native = false;
  h->handing = true;
  stat_add(h, VG_HOT_STAT_SWITCHES, 1);
}

/* Completes a hand-over once nothing of this side's is left to write to the guest. */
static void hand_over(struct vg_hot *h) {
  if (!h->handing || buf_pending(&h->out) > 0) return;
  h->handing = false;
  to_executor(h, VG_HOT_TAKE, h->in.p + h->in.off, buf_pending(&h->in));
  h->in.off = h->in.len = 0;
}

/* Runs one whole hot frame at the start of `in`; false when it was declined (nothing ran). */
static bool run_native(struct vg_hot *h, const struct vg_hot_op *op, int oi) {
  const uint8_t *f = h->in.p + h->in.off;
  uint32_t len = rd32(f);
  uint16_t flags = rd16(f + 6);
  uint32_t id = rd32(f + 8);
  /* An executor thread waiting for the lock goes first (exec_lock). */
  while (atomic_load(&h->exec_waiting) > 0) sched_yield();
  int64_t t0 = now_ns();
  pthread_mutex_lock(&h->run_mu);
  struct vg_hot_call c = {h, f + HEADER, 8, len, CUDA_SUCCESS};
  bool ran = false;
  if (h->allowed && len >= 8) {
    uint64_t ctx = rd64(f + HEADER);
    bool ctx_ok = ctx == h->cur_ctx && ctx != 0;
    if (!ctx_ok && ctx > CTX_INACTIVE_PRIMARY) {
      struct slot *s = map_find(h, ctx);
      if (s && s->kind == VG_HOT_KIND_CONTEXT && h->set_current((CUcontext)(uintptr_t)s->real) == CUDA_SUCCESS) {
        h->cur_ctx = ctx;
        ctx_ok = true;
      }
    }
    ran = ctx_ok && op->run(&c, h->fns[oi]) == VG_HOT_DONE;
  }
  CUresult res = c.res;
  bool noreply = (flags & F_NOREPLY) != 0;
  if (ran && !noreply && op->sync) {
    int d = atomic_exchange(&h->deferred, 0);
    if (res == CUDA_SUCCESS && d != 0) res = (CUresult)d;
  }
  int64_t t1 = now_ns();
  pthread_mutex_unlock(&h->run_mu);
  if (!ran) return false;
  h->in.off += HEADER + len;
  stat_add(h, VG_HOT_STAT_CALLS, 1);
  stat_add(h, VG_HOT_STAT_BYTES_IN, HEADER + len);
  stat_add(h, VG_HOT_STAT_BUSY_NS, (uint64_t)(t1 - t0));
  if (res != CUDA_SUCCESS && abandoned(h, res)) {
    h->halted = true; /* no reply, no further call: the session is ending */
    return true;
  }
  if (noreply) {
    stat_add(h, VG_HOT_STAT_ASYNC_CALLS, 1);
    if (res != CUDA_SUCCESS) {
      int zero = 0;
      atomic_compare_exchange_strong(&h->deferred, &zero, (int)res);
    }
    return true;
  }
  pass_output(h);
  uint8_t r[4];
  wr32(r, (uint32_t)res);
  put_frame(h, T_REPLY, id, 0, r, 4);
  return true;
}

/* Serves the hot calls at the start of what was read; at the first frame that is not one (or that
 * its checks decline), the connection goes to the executor, that frame first. */
static void process_in(struct vg_hot *h) {
  while (h->native && !h->halted && !h->guest_broken) {
    size_t have = buf_pending(&h->in);
    if (have < HEADER) return;
    const uint8_t *f = h->in.p + h->in.off;
    uint32_t len = rd32(f);
    uint16_t type = rd16(f + 4), flags = rd16(f + 6);
    int oi = op_index(rd32(f + 12));
    /* Without the slice every call goes to the executor, which waits for it. */
    bool hot = type == T_CALL && (flags & ~F_NOREPLY) == 0 && len <= HOT_MAX_PAYLOAD && oi >= 0 && h->fns[oi] && h->allowed_hint;
    if (!hot) {
      to_js(h);
      return;
    }
    if (have < HEADER + len || buf_pending(&h->out) >= OUT_MAX) return;
    if (!run_native(h, &vg_hot_ops[oi], oi)) {
      to_js(h);
      return;
    }
  }
}

/* What the executor sends on the socketpair: the hand-back marker, and requests for the connection
 * (it has a notice to write). Their payloads, if any, are skipped. */
static void from_js(struct vg_hot *h, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (h->jbody_left > 0) {
      size_t k = n < h->jbody_left ? n : h->jbody_left;
      h->jbody_left -= k;
      p += k;
      n -= k;
      continue;
    }
    size_t k = HEADER - h->jhdr_got < n ? HEADER - h->jhdr_got : n;
    memcpy(h->jhdr + h->jhdr_got, p, k);
    h->jhdr_got += k;
    p += k;
    n -= k;
    if (h->jhdr_got < HEADER) continue;
    h->jhdr_got = 0;
    h->jbody_left = rd32(h->jhdr);
    uint16_t type = rd16(h->jhdr + 4);
    if (type == VG_HOT_MARKER && !h->native && !h->handing) {
      /* The executor has served all it read, stopped reading and written all it had. */
      h->native = true;
      stat_add(h, VG_HOT_STAT_HANDBACKS, 1);
    } else if (type == VG_HOT_REQUEST) {
      /* Handed over at once (what was read of a frame goes with it); already on its way if not
       * this side's. */
      to_js(h);
    }
  }
}

/* Writes what is pending on `b` to `fd`; false when the peer is gone. */
static bool flush(int fd, struct buf *b) {
  while (buf_pending(b) > 0) {
    ssize_t w = send(fd, b->p + b->off, buf_pending(b), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      b->off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  b->off = b->len = 0;
  return true;
}

static void read_guest(struct vg_hot *h) {
  char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  /* Straight behind what `in` holds: bulk data is not copied again on its way through. */
  if (!buf_reserve(&h->in, GUEST_READ)) {
    h->guest_broken = true;
    return;
  }
  struct iovec iov = {h->in.p + h->in.len, GUEST_READ};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t n = recvmsg(h->guest, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return;
    h->guest_eof = true;
    return;
  }
  int fds[4];
  int nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (nfds < 4) fds[nfds++] = fd;
      else close(fd);
    }
  }
  if (n == 0) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    h->guest_eof = true;
    return;
  }
  /* A descriptor comes only after vgShmOffer's answer, which the executor gives, reading the
   * connection itself: one sent now is a guest's mistake, and its byte is handed over with the rest,
   * for the executor to refuse. */
  for (int i = 0; i < nfds; i++) close(fds[i]);
  if (h->halted) return;
  h->in.len += (size_t)n;
  process_in(h);
}

static void read_js(struct vg_hot *h) {
  ssize_t n = recv(h->js, h->piece, PIECE, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return;
    h->js_eof = true;
    return;
  }
  if (n == 0) {
    h->js_eof = true;
    return;
  }
  from_js(h, h->piece, (size_t)n);
  /* A hand-back may have made frames already read servable. */
  process_in(h);
}

static void *hot_main(void *arg) {
  struct vg_hot *h = arg;
  int64_t deadline = 0;
  for (;;) {
    if (atomic_load(&h->stopping) && deadline == 0) deadline = now_ns() + STOP_NS;
    if (deadline != 0 && now_ns() > deadline) break;
    if (h->guest_broken) {
      /* The guest is gone: the executor learns it from its end closing. */
      h->out.off = h->out.len = 0;
      if (!h->js_shut) {
        shutdown(h->js, SHUT_WR);
        h->js_shut = true;
      }
      if (h->js_eof) break;
    }
    /* The guest closed while this side read it: the executor is told by its end closing (while
     * the executor owns the connection it sees the close itself). */
    if (h->guest_eof && h->native && !h->js_shut && buf_pending(&h->fwd) == 0) {
      shutdown(h->js, SHUT_WR);
      h->js_shut = true;
    }
    if (h->js_eof && buf_pending(&h->out) == 0) break;
    struct pollfd p[3];
    int np = 0;
    bool out_room = buf_pending(&h->out) < OUT_MAX;
    /* Once halted the guest is still read (and what it sends dropped): its close must be seen. */
    bool read_guest_ok = h->native && !h->guest_eof && !h->guest_broken && out_room && buf_pending(&h->in) < IN_MAX;
    p[np++] = (struct pollfd){h->wake[0], POLLIN, 0};
    int gi = -1, ji = -1;
    short gev = (short)((read_guest_ok ? POLLIN : 0) | (buf_pending(&h->out) > 0 && !h->guest_broken ? POLLOUT : 0));
    if (gev) {
      gi = np;
      p[np++] = (struct pollfd){h->guest, gev, 0};
    }
    short jev = (short)((!h->js_eof && out_room ? POLLIN : 0) | (buf_pending(&h->fwd) > 0 ? POLLOUT : 0));
    if (jev) {
      ji = np;
      p[np++] = (struct pollfd){h->js, jev, 0};
    }
    int r = poll(p, (nfds_t)np, deadline ? 50 : -1);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (p[0].revents) {
      char b[16];
      while (read(h->wake[0], b, sizeof b) > 0) {}
    }
    if (ji >= 0 && (p[ji].revents & POLLOUT) && !flush(h->js, &h->fwd)) {
      h->fwd.off = h->fwd.len = 0;
      h->js_eof = true;
    }
    if (ji >= 0 && (p[ji].revents & (POLLIN | POLLHUP | POLLERR))) read_js(h);
    if (gi >= 0 && (p[gi].revents & POLLOUT) && !flush(h->guest, &h->out)) h->guest_broken = true;
    if (gi >= 0 && (p[gi].revents & (POLLIN | POLLHUP | POLLERR)) && read_guest_ok) read_guest(h);
    /* Answers are written as soon as they exist: a guest waiting for one should not wait for poll. */
    if (buf_pending(&h->out) > 0 && !h->guest_broken && !flush(h->guest, &h->out)) h->guest_broken = true;
    process_in(h);
    hand_over(h);
    if (buf_pending(&h->fwd) > 0 && !flush(h->js, &h->fwd)) {
      h->fwd.off = h->fwd.len = 0;
      h->js_eof = true;
    }
  }
  return NULL;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

static void hot_free(struct vg_hot *h) {
  if (h->guest >= 0) close(h->guest);
  if (h->js >= 0) close(h->js);
  if (h->wake[0] >= 0) close(h->wake[0]);
  if (h->wake[1] >= 0) close(h->wake[1]);
  if (h->lib) dlclose(h->lib);
  pthread_mutex_destroy(&h->run_mu);
  free(h->map);
  free(h->ranges);
  free(h->in.p);
  free(h->out.p);
  free(h->fwd.p);
  free(h->piece);
  free(h->outbuf);
  free(h);
}

struct vg_hot *vg_hot_start(int guest_fd, const char *driver, int *js_fd) {
  struct vg_hot *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->guest = h->js = h->wake[0] = h->wake[1] = -1;
  pthread_mutex_init(&h->run_mu, NULL);
  /* The executor owns the connection first (it writes ATTACHED), and hands it over when idle. */
  h->native = false;
  int sv[2] = {-1, -1};
  h->piece = malloc(PIECE);
  h->outbuf = malloc(OUTPUT_PIECE);
  h->lib = dlopen(driver, RTLD_NOW | RTLD_LOCAL);
  if (!h->piece || !h->outbuf || !h->lib) goto fail;
  h->set_current = (CUresult (*)(CUcontext))dlsym(h->lib, "cuCtxSetCurrent");
  if (!h->set_current) goto fail;
  h->output_take = (size_t (*)(int *, void *, size_t))dlsym(h->lib, "sg_softgpu_output_take");
  h->cancel_stats = (int (*)(uint64_t *))dlsym(h->lib, "sg_softgpu_cancel_stats");
  for (size_t i = 0; i < VG_HOT_NOPS; i++) h->fns[i] = dlsym(h->lib, vg_hot_ops[i].name);
  h->guest = fcntl(guest_fd, F_DUPFD_CLOEXEC, 3);
  if (h->guest < 0) goto fail;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) goto fail;
  /* Deeper buffers only help; a refusal leaves the defaults, which work. */
  int sb = SOCKET_BUFFER;
  for (int i = 0; i < 3; i++) {
    int fd = i == 0 ? h->guest : sv[i - 1];
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sb, sizeof sb);
  }
  if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) != 0) goto fail;
  h->js = sv[0];
  int fl = fcntl(h->guest, F_GETFL);
  if (fl < 0 || fcntl(h->guest, F_SETFL, fl | O_NONBLOCK) != 0) goto fail;
  fl = fcntl(h->js, F_GETFL);
  if (fl < 0 || fcntl(h->js, F_SETFL, fl | O_NONBLOCK) != 0) goto fail;
  /* The thread takes no signals: they are the executor's (Node's) to handle. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(&h->thread, NULL, hot_main, h);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    errno = e;
    goto fail;
  }
  h->thread_started = true;
  *js_fd = sv[1];
  return h;
fail:;
  int err = errno ? errno : ENOMEM;
  if (sv[1] >= 0) close(sv[1]);
  if (h->js < 0 && sv[0] >= 0) close(sv[0]);
  hot_free(h);
  errno = err;
  return NULL;
}

void vg_hot_stop(struct vg_hot *h) {
  if (!h) return;
  atomic_store(&h->stopping, 1);
  if (write(h->wake[1], "x", 1) < 0) { /* the thread wakes within its poll anyway */ }
  if (h->thread_started) pthread_join(h->thread, NULL);
  hot_free(h);
}

void vg_hot_allow(struct vg_hot *h, int allowed) {
  /* Withdrawn before the lock is waited for: the serving thread serves no call after the one under
   * way, and hands the connection over at the next frame. */
  if (!allowed) atomic_store(&h->allowed_hint, false);
  exec_lock(h);
  h->allowed = allowed != 0;
  atomic_store(&h->allowed_hint, allowed != 0);
  pthread_mutex_unlock(&h->run_mu);
  /* Frames held for a hand-back are not held any more without the slice (and vice versa). */
  if (write(h->wake[1], "a", 1) < 0) { /* a wake-up is already pending */ }
}

void vg_hot_set_notices(struct vg_hot *h, int on) { atomic_store(&h->notices, on != 0); }

void vg_hot_defer(struct vg_hot *h, int res) {
  int zero = 0;
  if (res != 0) atomic_compare_exchange_strong(&h->deferred, &zero, res);
}

int vg_hot_take_deferred(struct vg_hot *h) { return atomic_exchange(&h->deferred, 0); }

size_t vg_hot_op_ids(uint32_t *out, size_t max) {
  for (size_t i = 0; i < VG_HOT_NOPS && i < max; i++) out[i] = vg_hot_ops[i].id;
  return VG_HOT_NOPS;
}

void vg_hot_stats(struct vg_hot *h, uint64_t *out) {
  for (int i = 0; i < VG_HOT_NSTATS; i++) out[i] = atomic_load_explicit(&h->stats[i], memory_order_relaxed);
}
