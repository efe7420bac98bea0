/*
 * Kernel output: what device printf (vprintf) and failed asserts print.
 *
 * As on a GPU, a context keeps it in a FIFO of CU_LIMIT_PRINTF_FIFO_SIZE bytes (default 1 MiB)
 * and prints it only at a flush point: cuCtxSynchronize, cuStreamSynchronize, cuEventSynchronize,
 * a blocking copy, module or library load and unload, the context's destruction (cuCtxDestroy,
 * primary context release or reset), and before a host function or stream callback runs. Kernel
 * launches, which CUDA's programming guide also lists, are not flush points here: the guide's
 * launch-time flush prints whatever earlier, still running kernels have written so far, which
 * depends on timing, and vgpu's launches are fire-and-forget, so the guest could not print at
 * that moment anyway. Output left in the FIFO when the process exits is lost, as with CUDA.
 *
 * The FIFO holds one record per printf or assert (u8 fd, u32 length, text), and a record that
 * does not fit is dropped whole, so what is printed is always a prefix of whole printf calls (the
 * guide calls a GPU's buffer circular; softgpu keeps the oldest output instead).
 *
 * Printing means writing to the process's stdout (printf) or stderr (asserts). A host that runs
 * kernels on someone else's behalf (the vgpu executor) calls sg_softgpu_output_capture(1) first:
 * flushed output then waits in a queue for sg_softgpu_output_take, so the host can hand it to the
 * program it belongs to instead of printing it in its own log.
 */
#include "sg_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_HDR 5u

/* One flushed FIFO, waiting to be taken; records are consumed from `pos` on (the record at
 * `pos` has had its first `part` bytes of text taken already). */
typedef struct sg_flushed {
  struct sg_flushed *next;
  unsigned char *p;
  size_t len, pos, part;
} sg_flushed;

static _Atomic int g_capture;
static pthread_mutex_t g_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static sg_flushed *g_head, *g_tail;

static uint32_t rec_len(const unsigned char *r) {
  return (uint32_t)r[1] | ((uint32_t)r[2] << 8) | ((uint32_t)r[3] << 16) | ((uint32_t)r[4] << 24);
}

void sg_output_emit(void *ctx, int fd, const char *text, size_t n) {
  sg_ctx *c = ctx;
  pthread_mutex_lock(&c->lock);
  sg_outbuf *b = &c->out;
  size_t limit = c->limits[CU_LIMIT_PRINTF_FIFO_SIZE];
  if (n <= UINT32_MAX && REC_HDR + n <= limit && b->len <= limit - REC_HDR - n) {
    size_t need = b->len + REC_HDR + n;
    if (need > b->cap) {
      /* Grown as output comes, not allocated at the limit: most kernels print little or nothing. */
      size_t cap = b->cap ? b->cap : 4096;
      while (cap < need) cap *= 2;
      if (cap > limit) cap = limit;
      unsigned char *p = realloc(b->p, cap);
      if (!p) goto out; /* dropped, like a record that does not fit */
      b->p = p;
      b->cap = cap;
    }
    unsigned char *r = b->p + b->len;
    r[0] = (unsigned char)fd;
    for (int i = 0; i < 4; i++) r[1 + i] = (unsigned char)(n >> (8 * i));
    memcpy(r + REC_HDR, text, n);
    b->len = need;
  }
out:
  pthread_mutex_unlock(&c->lock);
}

static void print_records(const unsigned char *p, size_t len) {
  for (size_t pos = 0; pos + REC_HDR <= len;) {
    uint32_t n = rec_len(p + pos);
    FILE *f = p[pos] == 2 ? stderr : stdout;
    fwrite(p + pos + REC_HDR, 1, n, f);
    pos += REC_HDR + n;
  }
  fflush(stdout);
  fflush(stderr);
}

void sg_output_flush(sg_ctx *c) {
  pthread_mutex_lock(&c->lock);
  sg_outbuf b = c->out;
  c->out = (sg_outbuf){0};
  pthread_mutex_unlock(&c->lock);
  if (!b.len) {
    free(b.p);
    return;
  }
  if (!atomic_load(&g_capture)) {
    print_records(b.p, b.len);
    free(b.p);
    return;
  }
  sg_flushed *f = malloc(sizeof *f);
  if (!f) {
    free(b.p);
    return;
  }
  *f = (sg_flushed){.p = b.p, .len = b.len};
  pthread_mutex_lock(&g_queue_lock);
  if (g_tail) g_tail->next = f;
  else g_head = f;
  g_tail = f;
  pthread_mutex_unlock(&g_queue_lock);
}

void sg_output_flush_current(void) {
  sg_ctx *c;
  if (sg_ctx_current_any(&c) == CUDA_SUCCESS) sg_output_flush(c);
}

SG_EXPORT void sg_softgpu_output_capture(int on) { atomic_store(&g_capture, on != 0); }

/* Copies up to cap bytes of the oldest flushed output into buf and forgets them; *fd says whose
 * stream they belong to (1: stdout, 2: stderr). One call never mixes two streams: it stops at the
 * end of a record when the next one is for the other stream. Returns the bytes copied, 0 when
 * nothing is waiting. */
SG_EXPORT size_t sg_softgpu_output_take(int *fd, void *buf, size_t cap) {
  size_t got = 0;
  if (!fd || !buf || !cap) return 0;
  pthread_mutex_lock(&g_queue_lock);
  while (g_head && got < cap) {
    sg_flushed *f = g_head;
    if (f->pos + REC_HDR > f->len) {
      g_head = f->next;
      if (!g_head) g_tail = NULL;
      free(f->p);
      free(f);
      continue;
    }
    const unsigned char *r = f->p + f->pos;
    if (got && r[0] != *fd) break;
    *fd = r[0];
    size_t left = rec_len(r) - f->part, k = left < cap - got ? left : cap - got;
    memcpy((unsigned char *)buf + got, r + REC_HDR + f->part, k);
    got += k;
    f->part += k;
    if (f->part == rec_len(r)) {
      f->pos += REC_HDR + f->part;
      f->part = 0;
    }
  }
  pthread_mutex_unlock(&g_queue_lock);
  return got;
}
