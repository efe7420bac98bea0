/*
 * Streams. Execution is synchronous (see sg_api.h), so a stream is an ordering that is always
 * already satisfied: synchronize and query only report the context's sticky error, and host
 * callbacks run before the enqueueing call returns. What streams still do is validate: a handle
 * must be live and its context alive.
 *
 * A stream may also take part in a stream capture (capture.c): then its work becomes graph
 * nodes, and synchronising with it is refused.
 *
 * CU_STREAM_LEGACY, CU_STREAM_PER_THREAD and NULL all mean the current context's default stream.
 */
#include "sg_graph.h"

#include <stdlib.h>

#define SG_STREAM_PRIORITY_LEAST 0
#define SG_STREAM_PRIORITY_GREATEST (-5)

typedef struct sg_stream {
  sg_ctx *ctx;
  unsigned flags;
  int priority;
  unsigned long long id;
} sg_stream;

static _Atomic unsigned long long g_next_id = 16; /* ids below are left to the default streams */

static int is_default(CUstream s) { return !s || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD; }

static CUresult lookup(CUstream h, sg_stream **out, int with_sticky) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  void *owner;
  if (!sg_reg_find(h, SG_OBJ_STREAM, &owner, NULL)) return CUDA_ERROR_INVALID_HANDLE;
  if (!sg_reg_find(owner, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  if (with_sticky) {
    CUresult rc = sg_ctx_sticky(owner);
    if (rc) return rc;
  }
  *out = (sg_stream *)h;
  return CUDA_SUCCESS;
}

CUresult sg_stream_ctx(CUstream s, sg_ctx **ctx) {
  if (is_default(s)) return sg_ctx_get(ctx);
  sg_stream *st;
  CUresult rc = lookup(s, &st, 1);
  if (rc) return rc;
  *ctx = st->ctx;
  return CUDA_SUCCESS;
}

/* Graphs, execs and captures go first: captures name streams, and context.c has no hook of its
 * own for them. */
void sg_stream_release_ctx(sg_ctx *c) {
  sg_capture_release_ctx(c);
  sg_exec_release_ctx(c);
  sg_graph_release_ctx(c);
  size_t n;
  void **keys = sg_reg_take_owned(c, SG_OBJ_STREAM, &n);
  for (size_t i = 0; i < n; i++) free(keys[i]);
  free(keys);
}

/* A flush point of the stream's context, poisoned or not (output.c). */
static void flush_output(CUstream s) {
  sg_stream *st;
  if (is_default(s)) sg_output_flush_current();
  else if (lookup(s, &st, 0) == CUDA_SUCCESS) sg_output_flush(st->ctx);
}

static CUresult create(CUstream *phStream, unsigned flags, int priority) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!phStream || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING)) return CUDA_ERROR_INVALID_VALUE;
  /* Out-of-range priorities are clamped, as the driver documents. */
  if (priority > SG_STREAM_PRIORITY_LEAST) priority = SG_STREAM_PRIORITY_LEAST;
  if (priority < SG_STREAM_PRIORITY_GREATEST) priority = SG_STREAM_PRIORITY_GREATEST;
  sg_stream *s = malloc(sizeof *s);
  if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
  *s = (sg_stream){c, flags, priority, atomic_fetch_add(&g_next_id, 1)};
  if (sg_reg_add(s, SG_OBJ_STREAM, c, 0) != 0) {
    free(s);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *phStream = (CUstream)s;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags) { return create(phStream, Flags, 0); }

SG_EXPORT CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority) {
  return create(phStream, flags, priority);
}

SG_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (is_default(hStream)) return CUDA_ERROR_INVALID_HANDLE;
  if (!sg_reg_remove(hStream, SG_OBJ_STREAM)) return CUDA_ERROR_INVALID_HANDLE;
  sg_capture_forget_stream(hStream);
  free(hStream);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuStreamSynchronize(CUstream hStream) {
  sg_ctx *c;
  flush_output(hStream);
  CUresult rc = sg_stream_ctx(hStream, &c);
  if (rc || (rc = sg_capture_check_sync(hStream))) return rc;
  return sg_capture_check_unsafe();
}

/* Querying a capturing stream is refused (and ends its capture's validity), as on a GPU. */
SG_EXPORT CUresult cuStreamQuery(CUstream hStream) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(hStream, &c);
  return rc ? rc : sg_capture_check_sync(hStream);
}

SG_EXPORT CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(hStream, &c);
  if (rc) return rc;
  if (Flags & ~(unsigned)CU_EVENT_WAIT_EXTERNAL) return CUDA_ERROR_INVALID_VALUE;
  if ((rc = sg_event_check(hEvent))) return rc;
  if (sg_capture_wait_event(hStream, hEvent, Flags, &rc)) return rc;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuStreamGetPriority(CUstream hStream, int *priority) {
  if (!priority) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  if (is_default(hStream)) {
    sg_ctx *c;
    CUresult rc = sg_ctx_get(&c);
    if (rc == CUDA_SUCCESS) *priority = 0;
    return rc;
  }
  sg_stream *s;
  CUresult rc = lookup(hStream, &s, 0);
  if (rc == CUDA_SUCCESS) *priority = s->priority;
  return rc;
}

SG_EXPORT CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags) {
  if (!flags) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  if (is_default(hStream)) {
    sg_ctx *c;
    CUresult rc = sg_ctx_get(&c);
    if (rc == CUDA_SUCCESS) *flags = 0;
    return rc;
  }
  sg_stream *s;
  CUresult rc = lookup(hStream, &s, 0);
  if (rc == CUDA_SUCCESS) *flags = s->flags;
  return rc;
}

SG_EXPORT CUresult cuStreamGetId(CUstream hStream, unsigned long long *streamId) {
  if (!streamId) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  if (is_default(hStream)) {
    sg_ctx *c;
    CUresult rc = sg_ctx_get(&c);
    if (rc == CUDA_SUCCESS) *streamId = hStream == CU_STREAM_PER_THREAD ? 2 : 1;
    return rc;
  }
  sg_stream *s;
  CUresult rc = lookup(hStream, &s, 0);
  if (rc == CUDA_SUCCESS) *streamId = s->id;
  return rc;
}

SG_EXPORT CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx) {
  if (!pctx) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  sg_ctx *c;
  CUresult rc;
  if (is_default(hStream)) {
    rc = sg_ctx_get(&c);
  } else {
    sg_stream *s;
    rc = lookup(hStream, &s, 0);
    if (rc == CUDA_SUCCESS) c = s->ctx;
  }
  if (rc == CUDA_SUCCESS) *pctx = (CUcontext)c;
  return rc;
}

SG_EXPORT CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device) {
  CUcontext c;
  if (!device) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUresult rc = cuStreamGetCtx(hStream, &c);
  if (rc == CUDA_SUCCESS) *device = ((sg_ctx *)c)->dev;
  return rc;
}

/* Host work runs right away: everything enqueued before it has already completed. */
SG_EXPORT CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(hStream, &c);
  if (rc) return rc;
  if (!fn) return CUDA_ERROR_INVALID_VALUE;
  if (sg_capture_on(hStream)) {
    sg_op op = {.type = CU_GRAPH_NODE_TYPE_HOST, .ctx = c, .u.host = {fn, userData}};
    return sg_capture_add(hStream, &op);
  }
  flush_output(hStream);
  fn(userData);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
                                       unsigned int flags) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(hStream, &c);
  if (rc) return rc;
  if (!callback || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if ((rc = sg_capture_check_sync(hStream))) return rc; /* callbacks cannot be captured */
  flush_output(hStream);
  callback(hStream, CUDA_SUCCESS, userData);
  return CUDA_SUCCESS;
}

/* Per-thread-default-stream entry points: NULL names the per-thread stream (SG_PTSZ). */
SG_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s) { return cuStreamSynchronize(SG_PTSZ(s)); }
SG_EXPORT CUresult cuStreamQuery_ptsz(CUstream s) { return cuStreamQuery(SG_PTSZ(s)); }
SG_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream s, CUevent e, unsigned int f) {
  return cuStreamWaitEvent(SG_PTSZ(s), e, f);
}
SG_EXPORT CUresult cuStreamGetPriority_ptsz(CUstream s, int *p) { return cuStreamGetPriority(SG_PTSZ(s), p); }
SG_EXPORT CUresult cuStreamGetFlags_ptsz(CUstream s, unsigned int *f) { return cuStreamGetFlags(SG_PTSZ(s), f); }
SG_EXPORT CUresult cuStreamGetId_ptsz(CUstream s, unsigned long long *id) { return cuStreamGetId(SG_PTSZ(s), id); }
SG_EXPORT CUresult cuStreamGetCtx_ptsz(CUstream s, CUcontext *c) { return cuStreamGetCtx(SG_PTSZ(s), c); }
SG_EXPORT CUresult cuStreamGetDevice_ptsz(CUstream s, CUdevice *d) { return cuStreamGetDevice(SG_PTSZ(s), d); }
SG_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void *u) {
  return cuLaunchHostFunc(SG_PTSZ(s), fn, u);
}
SG_EXPORT CUresult cuStreamAddCallback_ptsz(CUstream s, CUstreamCallback cb, void *u, unsigned int f) {
  return cuStreamAddCallback(SG_PTSZ(s), cb, u, f);
}

/* The original name, still exported by the driver with the same signature. */
SG_EXPORT CUresult cuStreamDestroy(CUstream hStream) { return cuStreamDestroy_v2(hStream); }
