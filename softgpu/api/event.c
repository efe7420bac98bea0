/*
 * Events. Execution is synchronous, so recording an event means taking a CLOCK_MONOTONIC
 * timestamp now: everything before it in the stream has completed. Queries and synchronization
 * therefore always find the event complete.
 *
 * Recorded on a capturing stream, an event instead remembers the capture and the stream's
 * dependency set (its "mark"), which cuStreamWaitEvent uses to fork and join captures.
 */
#include "sg_graph.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sg_event {
  sg_ctx *ctx;
  unsigned flags;
  int recorded;
  struct timespec when;
  uint64_t mark_id; /* capture id of the last record on a capturing stream; 0 when none */
  sg_gnode **mark_deps;
  size_t mark_n;
} sg_event;

/* Guards recorded/when/mark, which a record in one thread and a query or wait in another share. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static CUresult lookup(CUevent h, sg_event **out, int with_sticky) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  void *owner;
  if (!sg_reg_find(h, SG_OBJ_EVENT, &owner, NULL)) return CUDA_ERROR_INVALID_HANDLE;
  if (!sg_reg_find(owner, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  if (with_sticky) {
    CUresult rc = sg_ctx_sticky(owner);
    if (rc) return rc;
  }
  *out = (sg_event *)h;
  return CUDA_SUCCESS;
}

CUresult sg_event_check(CUevent e) {
  sg_event *ev;
  return lookup(e, &ev, 1);
}

static void event_free(sg_event *e) {
  free(e->mark_deps);
  free(e);
}

void sg_event_release_ctx(sg_ctx *c) {
  size_t n;
  void **keys = sg_reg_take_owned(c, SG_OBJ_EVENT, &n);
  for (size_t i = 0; i < n; i++) {
    sg_ipc_event_gone(keys[i]);
    event_free(keys[i]);
  }
  free(keys);
}

CUresult sg_event_set_mark(CUevent h, uint64_t capture_id, sg_gnode *const *deps, size_t n) {
  sg_event *e;
  CUresult rc = lookup(h, &e, 0);
  if (rc) return rc;
  sg_gnode **copy = NULL;
  if (n) {
    if (!(copy = malloc(n * sizeof *copy))) return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(copy, deps, n * sizeof *copy);
  }
  pthread_mutex_lock(&g_lock);
  free(e->mark_deps);
  e->mark_id = capture_id;
  e->mark_deps = copy;
  e->mark_n = n;
  pthread_mutex_unlock(&g_lock);
  return CUDA_SUCCESS;
}

CUresult sg_event_get_mark(CUevent h, uint64_t *capture_id, sg_gnode ***deps, size_t *n) {
  sg_event *e;
  CUresult rc = lookup(h, &e, 1);
  if (rc) return rc;
  *capture_id = 0;
  *deps = NULL;
  *n = 0;
  pthread_mutex_lock(&g_lock);
  if (e->mark_id) {
    sg_gnode **copy = e->mark_n ? malloc(e->mark_n * sizeof *copy) : NULL;
    if (e->mark_n && !copy) {
      rc = CUDA_ERROR_OUT_OF_MEMORY;
    } else {
      if (copy) memcpy(copy, e->mark_deps, e->mark_n * sizeof *copy);
      *capture_id = e->mark_id;
      *deps = copy;
      *n = e->mark_n;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

CUresult sg_event_record_now(CUevent h) {
  sg_event *e;
  CUresult rc = lookup(h, &e, 1);
  if (rc) return rc;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  pthread_mutex_lock(&g_lock);
  e->when = now;
  e->recorded = 1;
  free(e->mark_deps);
  e->mark_id = 0;
  e->mark_deps = NULL;
  e->mark_n = 0;
  pthread_mutex_unlock(&g_lock);
  return CUDA_SUCCESS;
}

CUresult sg_event_flags(CUevent h, unsigned *flags) {
  sg_event *e;
  CUresult rc = lookup(h, &e, 0);
  if (rc) return rc;
  *flags = e->flags;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  unsigned known = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
  if (!phEvent || (Flags & ~known)) return CUDA_ERROR_INVALID_VALUE;
  /* The driver requires interprocess events to be created without timing. */
  if ((Flags & CU_EVENT_INTERPROCESS) && !(Flags & CU_EVENT_DISABLE_TIMING)) return CUDA_ERROR_INVALID_VALUE;
  sg_event *e = calloc(1, sizeof *e);
  if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
  e->ctx = c;
  e->flags = Flags;
  if (sg_reg_add(e, SG_OBJ_EVENT, c, 0) != 0) {
    free(e);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *phEvent = (CUevent)e;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuEventDestroy_v2(CUevent hEvent) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!sg_reg_remove(hEvent, SG_OBJ_EVENT)) return CUDA_ERROR_INVALID_HANDLE;
  sg_ipc_event_gone(hEvent);
  event_free((sg_event *)hEvent);
  return CUDA_SUCCESS;
}

static CUresult record(CUevent hEvent, CUstream hStream, int external) {
  sg_event *e;
  sg_ctx *sc;
  CUresult rc = lookup(hEvent, &e, 1);
  if (rc) return rc;
  if ((rc = sg_stream_ctx(hStream, &sc))) return rc;
  if (sc != e->ctx) return CUDA_ERROR_INVALID_HANDLE; /* event and stream must share a context */
  if (sg_capture_on(hStream)) return sg_capture_event_record(hStream, hEvent, external);
  return sg_event_record_now(hEvent);
}

SG_EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream) { return record(hEvent, hStream, 0); }

SG_EXPORT CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags) {
  if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL) return CUDA_ERROR_INVALID_VALUE;
  return record(hEvent, hStream, (flags & CU_EVENT_RECORD_EXTERNAL) != 0);
}

/* An event last recorded inside a capture that is still going on stands for work that has not
 * run (and may never run): waiting for it from the host is refused in every capture mode. */
static CUresult host_wait(CUevent hEvent) {
  sg_event *e;
  CUresult rc = lookup(hEvent, &e, 1);
  if (rc) return rc;
  pthread_mutex_lock(&g_lock);
  uint64_t id = e->mark_id;
  pthread_mutex_unlock(&g_lock);
  return sg_capture_live(id) ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

SG_EXPORT CUresult cuEventQuery(CUevent hEvent) { return host_wait(hEvent); }

SG_EXPORT CUresult cuEventSynchronize(CUevent hEvent) {
  sg_event *e;
  if (lookup(hEvent, &e, 0) == CUDA_SUCCESS) sg_output_flush(e->ctx); /* even when poisoned */
  CUresult rc = host_wait(hEvent);
  return rc ? rc : sg_capture_check_unsafe();
}

SG_EXPORT CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
  sg_event *a, *b;
  CUresult rc = lookup(hStart, &a, 1);
  if (rc) return rc;
  if ((rc = lookup(hEnd, &b, 1))) return rc;
  if (!pMilliseconds) return CUDA_ERROR_INVALID_VALUE;
  if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING) return CUDA_ERROR_INVALID_HANDLE;
  pthread_mutex_lock(&g_lock);
  int both = a->recorded && b->recorded;
  struct timespec ta = a->when, tb = b->when;
  pthread_mutex_unlock(&g_lock);
  if (!both) return CUDA_ERROR_INVALID_HANDLE; /* what the driver says for a never-recorded event */
  double ms = (double)(tb.tv_sec - ta.tv_sec) * 1e3 + (double)(tb.tv_nsec - ta.tv_nsec) / 1e6;
  *pMilliseconds = (float)ms;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
  return cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}

SG_EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream s) { return cuEventRecord(e, SG_PTSZ(s)); }
SG_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream s, unsigned int f) {
  return cuEventRecordWithFlags(e, SG_PTSZ(s), f);
}

/* The original name, still exported by the driver with the same signature. */
SG_EXPORT CUresult cuEventDestroy(CUevent hEvent) { return cuEventDestroy_v2(hEvent); }
