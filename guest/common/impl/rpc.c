/*
 * The call runtime (rpc.h). The request and reply buffers belong to the session and are only
 * touched between vg_call_begin and vg_call_end, i.e. under the session lock.
 *
 * Encode failures (bad handle, string too long) latch a CUresult and nothing is sent. Decode
 * failures latch CUDA_ERROR_DEVICE_UNAVAILABLE and end the session in vg_call_end, since a reply
 * that does not match its call means the two sides no longer agree on the stream.
 */
#include "rpc.h"

#include "compress.h"
#include "ctxstack.h"
#include "log.h"
#include "session.h"
#include "wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ_MAX ((size_t)VG_FRAME_HDR_LEN + VG_MAX_PAYLOAD)
/* A logical reply (REPLY frames joined by MORE) larger than this is refused as malformed; bulk
 * data never goes through this buffer (vg_call_invoke_into). */
#define REP_MAX ((size_t)64 * 1024 * 1024 + 64 * 1024)
#define PREFIX_LEN ((size_t)VG_FRAME_HDR_LEN + 8)

static uint8_t *g_req;
static size_t g_req_cap;
static uint8_t *g_rep;
static size_t g_rep_cap;

static void latch(vg_call *c, CUresult r) {
  if (!c->failed) c->failed = (int)r;
}

static uint8_t *room(vg_call *c, size_t n) {
  if (c->failed) return NULL;
  if (n > REQ_MAX - c->req_len) {
    latch(c, CUDA_ERROR_INVALID_VALUE);
    return NULL;
  }
  if (c->req_len + n > g_req_cap) {
    size_t cap = g_req_cap ? g_req_cap : 4096;
    while (cap < c->req_len + n) cap *= 2;
    if (cap > REQ_MAX) cap = REQ_MAX;
    uint8_t *p = realloc(g_req, cap);
    if (!p) {
      latch(c, CUDA_ERROR_OUT_OF_MEMORY);
      return NULL;
    }
    g_req = p;
    g_req_cap = cap;
  }
  c->req = g_req;
  c->req_cap = g_req_cap;
  uint8_t *q = c->req + c->req_len;
  c->req_len += n;
  return q;
}

static void put_le(vg_call *c, uint64_t v, size_t n) {
  uint8_t *q = room(c, n);
  if (!q) return;
  for (size_t i = 0; i < n; i++) q[i] = (uint8_t)(v >> (8 * i));
}

void vg_put_u32(vg_call *c, uint32_t v) { put_le(c, v, 4); }
void vg_put_i32(vg_call *c, int32_t v) { put_le(c, (uint32_t)v, 4); }
void vg_put_u64(vg_call *c, uint64_t v) { put_le(c, v, 8); }
void vg_put_u8(vg_call *c, uint8_t v) { put_le(c, v, 1); }
void vg_put_f32(vg_call *c, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  put_le(c, u, 4);
}

void vg_put_raw(vg_call *c, const void *p, size_t n) {
  if ((n && !p) || n > REQ_MAX) {
    latch(c, CUDA_ERROR_INVALID_VALUE);
    return;
  }
  uint8_t *q = room(c, n);
  if (q && n) memcpy(q, p, n);
}

void vg_put_bytes(vg_call *c, const void *p, uint64_t n) {
  if (n && !p) {
    latch(c, CUDA_ERROR_INVALID_VALUE);
    return;
  }
  if (n > REQ_MAX) {
    latch(c, CUDA_ERROR_INVALID_VALUE);
    return;
  }
  put_le(c, n, 8);
  uint8_t *q = room(c, (size_t)n);
  if (q && n) memcpy(q, p, (size_t)n);
}

/* Below this, data is copied into the request as by vg_put_bytes: a separate piece of the write
 * saves nothing, and small fire-and-forget calls stay in the batch. */
#define TAIL_MIN ((size_t)64 * 1024)

void vg_put_bytes_tail(vg_call *c, const void *p, uint64_t n) {
  if (n < TAIL_MIN) {
    vg_put_bytes(c, p, n);
    return;
  }
  if (!p || n > REQ_MAX - 8 || c->req_len + 8 > REQ_MAX - n) {
    latch(c, CUDA_ERROR_INVALID_VALUE);
    return;
  }
  put_le(c, n, 8);
  c->tail = p;
  c->tail_len = (size_t)n;
}

void vg_put_str(vg_call *c, const char *s) {
  if (!s) {
    latch(c, CUDA_ERROR_INVALID_VALUE);
    return;
  }
  size_t n = strnlen(s, VG_MAX_STR + 1);
  if (n > VG_MAX_STR) {
    latch(c, CUDA_ERROR_INVALID_VALUE);
    return;
  }
  put_le(c, n, 2);
  uint8_t *q = room(c, n);
  if (q && n) memcpy(q, s, n);
}

/* What the driver answers for a handle that names nothing: memory pools are checked as values
 * (their entry points document CUDA_ERROR_INVALID_VALUE only), and a NULL graph or graph exec is
 * a bad argument rather than a bad handle. */
static CUresult bad_handle(vg_hkind kind, const void *h) {
  switch (kind) {
  case VG_H_CONTEXT: return CUDA_ERROR_INVALID_CONTEXT;
  case VG_H_MEMPOOL: return CUDA_ERROR_INVALID_VALUE;
  case VG_H_GRAPH:
  case VG_H_GRAPHEXEC:
  case VG_H_GRAPHNODE: return h ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_INVALID_VALUE;
  default: return CUDA_ERROR_INVALID_HANDLE;
  }
}

void vg_put_handle(vg_call *c, vg_hkind kind, const void *h, int nullable) {
  CUresult bad = bad_handle(kind, h);
  uintptr_t v = (uintptr_t)h;
  uint64_t rid = 0;
  if (kind == VG_H_STREAM && v <= 2) {
    /* NULL, CU_STREAM_LEGACY and CU_STREAM_PER_THREAD travel as themselves. */
    put_le(c, v, 8);
    return;
  }
  if (!h) {
    if (nullable) put_le(c, 0, 8);
    else latch(c, bad);
    return;
  }
  /* cudart and cuBLASLt pass CUkernel where a CUfunction is expected (documented driver
   * behaviour); the executor tells them apart by its own table. */
  if (vg_handle_get(h, kind, &rid, NULL) != 0 &&
      !(kind == VG_H_FUNCTION && vg_handle_get(h, VG_H_KERNEL, &rid, NULL) == 0)) {
    latch(c, bad);
    return;
  }
  put_le(c, rid, 8);
}

static const uint8_t *take(vg_call *c, size_t n) {
  if (c->failed) return NULL;
  if (!c->rep || c->rep_len - c->rep_pos < n) {
    latch(c, CUDA_ERROR_DEVICE_UNAVAILABLE);
    return NULL;
  }
  const uint8_t *q = c->rep + c->rep_pos;
  c->rep_pos += n;
  return q;
}

static uint64_t get_le(vg_call *c, size_t n) {
  const uint8_t *q = take(c, n);
  uint64_t v = 0;
  if (q)
    for (size_t i = 0; i < n; i++) v |= (uint64_t)q[i] << (8 * i);
  return v;
}

uint32_t vg_get_u32(vg_call *c) { return (uint32_t)get_le(c, 4); }
int32_t vg_get_i32(vg_call *c) { return (int32_t)(uint32_t)get_le(c, 4); }
uint64_t vg_get_u64(vg_call *c) { return get_le(c, 8); }
uint8_t vg_get_u8(vg_call *c) { return (uint8_t)get_le(c, 1); }
float vg_get_f32(vg_call *c) {
  uint32_t u = (uint32_t)get_le(c, 4);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

void vg_get_bytes(vg_call *c, void *dst, uint64_t cap) {
  uint64_t n = get_le(c, 8);
  if (c->failed) return;
  if (n > cap) {
    latch(c, CUDA_ERROR_DEVICE_UNAVAILABLE);
    return;
  }
  const uint8_t *q = take(c, (size_t)n);
  if (q && n) memcpy(dst, q, (size_t)n);
}

void vg_get_raw(vg_call *c, void *dst, size_t n) {
  const uint8_t *q = take(c, n);
  if (q && n) memcpy(dst, q, n);
}

void vg_get_str(vg_call *c, char *dst, size_t cap) {
  size_t n = (size_t)get_le(c, 2);
  const uint8_t *q = n <= VG_MAX_STR ? take(c, n) : NULL;
  if (n > VG_MAX_STR) latch(c, CUDA_ERROR_DEVICE_UNAVAILABLE);
  if (!dst || !cap) return;
  if (!q) {
    dst[0] = 0;
    return;
  }
  size_t k = n < cap - 1 ? n : cap - 1;
  memcpy(dst, q, k);
  dst[k] = 0;
}

void *vg_get_new_handle(vg_call *c, vg_hkind kind) {
  uint64_t rid = get_le(c, 8);
  if (c->failed || rid == 0) return NULL;
  if (rid < 0x1000) { /* executor ids start at 0x1000 */
    latch(c, CUDA_ERROR_DEVICE_UNAVAILABLE);
    return NULL;
  }
  void *h = vg_handle_find(kind, rid);
  if (!h && !(h = vg_handle_new(kind, rid, NULL))) latch(c, CUDA_ERROR_OUT_OF_MEMORY);
  return h;
}

static _Atomic(vg_call_before_fn) g_before;
static _Atomic(vg_call_after_fn) g_after;

void vg_call_set_hooks(vg_call_before_fn before, vg_call_after_fn after) {
  atomic_store(&g_before, before);
  atomic_store(&g_after, after);
}

CUresult vg_call_begin(vg_call *c, uint32_t op, uint32_t flags) {
  memset(c, 0, offsetof(vg_call, trace));
  c->op = op;
  c->flags = flags;
  vg_call_before_fn before = atomic_load(&g_before);
  if (before && (flags & (VG_CALL_ASYNC | VG_CALL_SYNC))) {
    CUresult hr = before(op);
    if (hr) return hr;
  }
  if (vg_log_enabled(VG_LOG_DEBUG)) {
    c->t_start_ns = vg_now_ns();
    vg_targs_clear(&c->trace);
  }
  if (!vg_session_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  uint64_t ctx_rid = 0;
  void *cur = vg_ctx_current();
  /* Only a primary context that is not active has remote id 0 (created ones always have one). */
  if (cur && vg_handle_get(cur, VG_H_CONTEXT, &ctx_rid, NULL) != 0) ctx_rid = 0;
  else if (cur && ctx_rid == 0) ctx_rid = VG_CTX_INACTIVE_PRIMARY;
  if (vg_session_lock() != VG_SESS_OK) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  c->id = vg_session_next_id();
  c->req_len = 0;
  (void)room(c, VG_FRAME_HDR_LEN);
  put_le(c, ctx_rid, 8);
  return CUDA_SUCCESS;
}

static void finish_header(vg_call *c, uint16_t flags) {
  vg_frame_hdr h = {.len = (uint32_t)(c->req_len + c->tail_len - VG_FRAME_HDR_LEN), .type = VG_FT_CALL,
                    .flags = flags, .id = c->id, .op = c->op};
  vg_wire_put_hdr(c->req, &h);
}

/* Sends the call's frame, its tail (vg_put_bytes_tail) from where it is: one copy of the data
 * fewer, into the socket straight from the application's memory. A connection that compresses
 * needs the frame in one piece, so there a tail that looks compressible is copied in first (one
 * that does not is sent as it is, uncompressed, as vg_lz4_frame would have). Once one piece of a
 * copy did not look compressible, its later pieces are not sampled: a buffer is mostly of one
 * kind, and the sample is what random data would otherwise pay on every piece. Queued (in the
 * batch) only when `queue` and there is no tail. */
static CUresult send_frame(vg_call *c, uint16_t flags, int queue) {
  if (c->tail_len && vg_session_compresses() && !c->incompressible && !vg_lz4_worth(c->tail, c->tail_len))
    c->incompressible = 1;
  if (c->tail_len && vg_session_compresses() && !c->incompressible) {
    const void *t = c->tail;
    size_t n = c->tail_len;
    c->tail = NULL;
    c->tail_len = 0;
    uint8_t *q = room(c, n);
    if (!q) return (CUresult)c->failed;
    memcpy(q, t, n);
  }
  finish_header(c, flags);
  int r = queue && !c->tail_len ? vg_session_queue(c->req, c->req_len)
                                : vg_session_send_call(c->req, c->req_len, c->tail, c->tail_len);
  c->tail = NULL;
  c->tail_len = 0;
  return r ? CUDA_ERROR_DEVICE_UNAVAILABLE : CUDA_SUCCESS;
}

static CUresult malformed(vg_call *c, const char *what) {
  char why[160];
  snprintf(why, sizeof why, "malformed reply to %s (request %u): %s", vg_op_name(c->op), c->id, what);
  vg_session_fail(why);
  return CUDA_ERROR_DEVICE_UNAVAILABLE;
}

/* Reads frames until one that belongs to this call, acting on the notices (NOTIFY) in between:
 * kernel output the host flushed while serving the call comes just before its reply. Returns 0
 * with *h filled, or a CUresult after failing the session. */
static CUresult next_reply_hdr(vg_call *c, vg_frame_hdr *h) {
  for (;;) {
    if (vg_session_read_hdr(h)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    if (h->type == VG_FT_ERROR) {
      vg_session_host_error(h);
      return CUDA_ERROR_DEVICE_UNAVAILABLE;
    }
    if (h->type == VG_FT_NOTIFY) {
      if (vg_session_notice(h)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
      continue;
    }
    if (h->type != VG_FT_REPLY) return malformed(c, "unexpected frame type");
    if (h->id != c->id) return malformed(c, "reply id does not match the call");
    return CUDA_SUCCESS;
  }
}

static CUresult read_reply(vg_call *c) {
  size_t total = 0;
  vg_frame_hdr h;
  do {
    CUresult r = next_reply_hdr(c, &h);
    if (r) return r;
    if (h.len > REP_MAX - total) return malformed(c, "reply too large");
    if (total + h.len > g_rep_cap) {
      size_t cap = g_rep_cap ? g_rep_cap : 4096;
      while (cap < total + h.len) cap *= 2;
      uint8_t *p = realloc(g_rep, cap);
      if (!p) return malformed(c, "out of memory for the reply");
      g_rep = p;
      g_rep_cap = cap;
    }
    if (vg_session_read(g_rep + total, h.len)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    total += h.len;
  } while (h.flags & VG_FF_MORE);
  if (total < 4) return malformed(c, "reply shorter than its result");
  c->rep = g_rep;
  c->rep_len = total;
  c->rep_pos = 4;
  return (CUresult)((uint32_t)g_rep[0] | ((uint32_t)g_rep[1] << 8) | ((uint32_t)g_rep[2] << 16) |
                    ((uint32_t)g_rep[3] << 24));
}

CUresult vg_call_invoke(vg_call *c) {
  if (c->failed) return (CUresult)c->failed;
  if ((c->flags & VG_CALL_ASYNC) && !vg_session_strict_sync()) return send_frame(c, VG_FF_NOREPLY, 1);
  CUresult r = send_frame(c, 0, 0);
  return r ? r : read_reply(c);
}

CUresult vg_call_send_piece(vg_call *c) {
  if (c->failed) return (CUresult)c->failed;
  CUresult r = send_frame(c, VG_FF_MORE, 0);
  if (r) return r;
  c->req_len = PREFIX_LEN; /* keep the ctx prefix already encoded */
  return CUDA_SUCCESS;
}

CUresult vg_call_invoke_into(vg_call *c, void *dst, uint64_t n) {
  if (c->failed) return (CUresult)c->failed;
  finish_header(c, 0);
  if (vg_session_send(c->req, c->req_len)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  vg_frame_hdr h;
  uint64_t pos = 0;
  int first = 1;
  uint32_t result = 0;
  do {
    CUresult r = next_reply_hdr(c, &h);
    if (r) return r;
    uint64_t len = h.len;
    if (first) {
      uint8_t rb[4];
      if (len < 4) return malformed(c, "reply shorter than its result");
      if (vg_session_read(rb, 4)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
      result = (uint32_t)rb[0] | ((uint32_t)rb[1] << 8) | ((uint32_t)rb[2] << 16) | ((uint32_t)rb[3] << 24);
      len -= 4;
      first = 0;
    }
    if (len > n - pos || (len && result != CUDA_SUCCESS)) return malformed(c, "more data than requested");
    if (len && vg_session_read((uint8_t *)dst + pos, (size_t)len)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    pos += len;
  } while (h.flags & VG_FF_MORE);
  if (result == CUDA_SUCCESS && pos != n) return malformed(c, "less data than requested");
  return (CUresult)result;
}

CUresult vg_call_end(vg_call *c, CUresult r) {
  if (c->failed == (int)CUDA_ERROR_DEVICE_UNAVAILABLE) {
    malformed(c, "outputs do not match the call");
  } else if (!c->failed && r == CUDA_SUCCESS && c->rep && c->rep_pos != c->rep_len) {
    r = malformed(c, "unexpected bytes after the outputs");
  }
  if (c->failed) r = (CUresult)c->failed;
  vg_session_unlock();
  if (c->t_start_ns) vg_trace_call(vg_op_name(c->op), (int)r, c->t_start_ns, &c->trace);
  vg_call_after_fn after = atomic_load(&g_after);
  if (after && (c->flags & VG_CALL_SYNC)) after(c->op, r);
  return r;
}

/* ---- unsupported entry points ---- */

#define SEEN_MAX 512
static pthread_mutex_t g_seen_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *g_seen[SEEN_MAX];
static int g_nseen;

CUresult vg_unsupported(const char *name) {
  int first = 1;
  pthread_mutex_lock(&g_seen_lock);
  for (int i = 0; i < g_nseen; i++)
    if (g_seen[i] == name || !strcmp(g_seen[i], name)) {
      first = 0;
      break;
    }
  if (first && g_nseen < SEEN_MAX) g_seen[g_nseen++] = name;
  pthread_mutex_unlock(&g_seen_lock);
  if (first) vg_log(VG_LOG_WARN, "%s is not supported by vgpu; returning CUDA_ERROR_NOT_SUPPORTED", name);
  else if (vg_log_enabled(VG_LOG_DEBUG)) vg_trace_call(name, CUDA_ERROR_NOT_SUPPORTED, vg_now_ns(), NULL);
  const char *ab = getenv("VGPU_ABORT_UNSUPPORTED");
  if (ab && !strcmp(ab, "1")) {
    vg_log(VG_LOG_ERROR, "VGPU_ABORT_UNSUPPORTED=1: aborting in %s", name);
    abort();
  }
  return CUDA_ERROR_NOT_SUPPORTED;
}
