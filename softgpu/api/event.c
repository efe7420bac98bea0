/*
 * Events. Execution is synchronous, so recording an event means taking a CLOCK_MONOTONIC
 * timestamp now: everything before it in the stream has completed. Queries and synchronization
 * therefore always find the event complete.
 */
#include "sg_api.h"

#include <stdlib.h>
#include <time.h>

typedef struct sg_event {
  sg_ctx *ctx;
  unsigned flags;
  int recorded;
  struct timespec when;
} sg_event;

/* Guards recorded/when, which a record in one thread and an elapsed-time query in another share. */
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

void sg_event_release_ctx(sg_ctx *c) {
  size_t n;
  void **keys = sg_reg_take_owned(c, SG_OBJ_EVENT, &n);
  for (size_t i = 0; i < n; i++) free(keys[i]);
  free(keys);
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
  free(hEvent);
  return CUDA_SUCCESS;
}

static CUresult record(CUevent hEvent, CUstream hStream) {
  sg_event *e;
  sg_ctx *sc;
  CUresult rc = lookup(hEvent, &e, 1);
  if (rc) return rc;
  if ((rc = sg_stream_ctx(hStream, &sc))) return rc;
  if (sc != e->ctx) return CUDA_ERROR_INVALID_HANDLE; /* event and stream must share a context */
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  pthread_mutex_lock(&g_lock);
  e->when = now;
  e->recorded = 1;
  pthread_mutex_unlock(&g_lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream) { return record(hEvent, hStream); }

SG_EXPORT CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags) {
  if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL) return CUDA_ERROR_INVALID_VALUE;
  return record(hEvent, hStream);
}

SG_EXPORT CUresult cuEventQuery(CUevent hEvent) { return sg_event_check(hEvent); }
SG_EXPORT CUresult cuEventSynchronize(CUevent hEvent) { return sg_event_check(hEvent); }

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

SG_EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream s) { return cuEventRecord(e, s); }
SG_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream s, unsigned int f) {
  return cuEventRecordWithFlags(e, s, f);
}

/* The original name, still exported by the driver with the same signature. */
SG_EXPORT CUresult cuEventDestroy(CUevent hEvent) { return cuEventDestroy_v2(hEvent); }
