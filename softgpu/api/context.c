/*
 * Contexts: the per-thread context stack, created contexts and the device's primary context.
 *
 * A context owns the allocations, streams, events and modules made while it was current;
 * destroying it (or releasing/resetting the primary context) frees them all, which is what lets
 * the host reclaim everything a guest left behind. A context can also carry a sticky error set by
 * the kernel engine (illegal address, trap...); from then on every operation on it returns that
 * error, as on a GPU, until it is destroyed or the primary context is reset.
 *
 * The primary context lives in static storage so its handle stays the same across
 * retain/release cycles, as with the real driver; it is registered only while active.
 */
#include "sg_api.h"

#include <stdlib.h>
#include <string.h>

#define SG_CTX_STACK_MAX 64
#define SG_CTX_API_VERSION 3020
#define SG_STREAM_PRIORITY_LEAST 0
#define SG_STREAM_PRIORITY_GREATEST (-5)

static _Thread_local sg_ctx *t_stack[SG_CTX_STACK_MAX];
static _Thread_local int t_depth;

static _Atomic unsigned long long g_next_id = 1;

/* One primary context per device (VGPU_SOFTGPU_DEVICES), all under one lock. */
typedef struct sg_primary {
  sg_ctx ctx;
  int refs;
  int active;
  unsigned flags;
} sg_primary;

static pthread_mutex_t g_primary_lock = PTHREAD_MUTEX_INITIALIZER;
#define SG_PRIMARY_INIT {.ctx = {.lock = PTHREAD_MUTEX_INITIALIZER}}
_Static_assert(SG_MAX_DEVICES == 16, "one initializer per device");
static sg_primary g_prim[SG_MAX_DEVICES] = {
  SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT,
  SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT,
  SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT, SG_PRIMARY_INIT,
};

/* By address only: `c` may be any pointer a caller passed. */
static int is_primary(const sg_ctx *c) {
  for (int i = 0; i < SG_MAX_DEVICES; i++)
    if (c == &g_prim[i].ctx) return 1;
  return 0;
}

static const size_t g_limit_defaults[SG_LIMIT_COUNT] = {
    [CU_LIMIT_STACK_SIZE] = 1024,
    [CU_LIMIT_PRINTF_FIFO_SIZE] = 1u << 20,
    [CU_LIMIT_MALLOC_HEAP_SIZE] = 8u << 20,
    [CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH] = 2,
    [CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048,
    [CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 32,
    [CU_LIMIT_PERSISTING_L2_CACHE_SIZE] = 0,
};

static int valid_ctx_flags(unsigned flags) {
  if (flags & ~(unsigned)CU_CTX_FLAGS_MASK) return 0;
  unsigned sched = flags & CU_CTX_SCHED_MASK;
  return sched == CU_CTX_SCHED_AUTO || sched == CU_CTX_SCHED_SPIN || sched == CU_CTX_SCHED_YIELD ||
         sched == CU_CTX_SCHED_BLOCKING_SYNC;
}

static void ctx_init_fields(sg_ctx *c, CUdevice dev, unsigned flags, int primary) {
  c->dev = dev;
  c->flags = flags;
  c->primary = primary;
  atomic_store(&c->sticky, 0);
  c->id = atomic_fetch_add(&g_next_id, 1);
  memcpy(c->limits, g_limit_defaults, sizeof c->limits);
}

/* Frees everything the context owns. Modules first: their globals are device allocations. Its
 * kernel output is printed first: destroying a context is one of CUDA's flush points. */
static void ctx_release_resources(sg_ctx *c) {
  sg_output_flush(c);
  sg_module_release_ctx(c);
  sg_tex_release_ctx(c);
  sg_array_release_ctx(c);
  sg_event_release_ctx(c);
  sg_stream_release_ctx(c);
  sg_mem_release_ctx(c);
}

static void stack_forget(sg_ctx *c) {
  int j = 0;
  for (int i = 0; i < t_depth; i++)
    if (t_stack[i] != c) t_stack[j++] = t_stack[i];
  t_depth = j;
}

static CUresult check_live(sg_ctx *c, int with_sticky) {
  if (!sg_reg_find(c, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  return with_sticky ? sg_ctx_sticky(c) : CUDA_SUCCESS;
}

CUresult sg_ctx_sticky(const sg_ctx *c) { return (CUresult)atomic_load(&c->sticky); }

/* Current context without the sticky check, for queries that work on a poisoned context. */
static CUresult current_plain(sg_ctx **out) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (t_depth == 0) return CUDA_ERROR_INVALID_CONTEXT;
  CUresult rc = check_live(t_stack[t_depth - 1], 0);
  if (rc) return rc;
  *out = t_stack[t_depth - 1];
  return CUDA_SUCCESS;
}

CUresult sg_ctx_current_any(sg_ctx **out) { return current_plain(out); }

CUresult sg_ctx_get(sg_ctx **out) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  if ((rc = sg_ctx_sticky(c))) return rc;
  *out = c;
  return CUDA_SUCCESS;
}

static CUresult resolve(CUcontext h, int with_sticky, sg_ctx **out) {
  if (!h) return with_sticky ? sg_ctx_get(out) : current_plain(out);
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_ctx *c = (sg_ctx *)h;
  if (!sg_reg_find(c, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_INVALID_CONTEXT;
  CUresult rc = with_sticky ? sg_ctx_sticky(c) : CUDA_SUCCESS;
  if (rc) return rc;
  *out = c;
  return CUDA_SUCCESS;
}

CUresult sg_ctx_resolve(CUcontext c, sg_ctx **out) { return resolve(c, 1, out); }

void sg_ctx_poison(sg_ctx *c, CUresult err) {
  int expected = 0;
  if (err != CUDA_SUCCESS) atomic_compare_exchange_strong(&c->sticky, &expected, (int)err); /* first wins */
}

void sg_ctx_set_sticky(CUresult err) {
  sg_ctx *c;
  if (current_plain(&c) == CUDA_SUCCESS) sg_ctx_poison(c, err);
}

/* ---- created contexts ----------------------------------------------------------------------- */

static CUresult ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!pctx || !valid_ctx_flags(flags)) return CUDA_ERROR_INVALID_VALUE;
  if (t_depth == SG_CTX_STACK_MAX) return CUDA_ERROR_OUT_OF_MEMORY;
  sg_ctx *c = calloc(1, sizeof *c);
  if (!c) return CUDA_ERROR_OUT_OF_MEMORY;
  pthread_mutex_init(&c->lock, NULL);
  ctx_init_fields(c, dev, flags, 0);
  if (sg_reg_add(c, SG_OBJ_CTX, NULL, 0) != 0) {
    pthread_mutex_destroy(&c->lock);
    free(c);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  t_stack[t_depth++] = c;
  *pctx = (CUcontext)c;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  return ctx_create(pctx, flags, dev);
}

/* Execution affinity (SM partitions) cannot be honoured on the CPU. */
SG_EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                  unsigned int flags, CUdevice dev) {
  if (numParams < 0 || (numParams > 0 && !paramsArray)) return CUDA_ERROR_INVALID_VALUE;
  if (numParams > 0) return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
  return ctx_create(pctx, flags, dev);
}

SG_EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams, unsigned int flags,
                                  CUdevice dev) {
  if (ctxCreateParams) {
    if (ctxCreateParams->execAffinityParams && ctxCreateParams->cigParams) return CUDA_ERROR_INVALID_VALUE;
    if (ctxCreateParams->cigParams) return CUDA_ERROR_NOT_SUPPORTED;
    if (ctxCreateParams->numExecAffinityParams < 0) return CUDA_ERROR_INVALID_VALUE;
    if (ctxCreateParams->execAffinityParams && ctxCreateParams->numExecAffinityParams > 0)
      return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
  }
  return ctx_create(pctx, flags, dev);
}

SG_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_ctx *c = (sg_ctx *)ctx;
  if (!c || is_primary(c)) return CUDA_ERROR_INVALID_CONTEXT;
  if (!sg_reg_remove(c, SG_OBJ_CTX)) return CUDA_ERROR_INVALID_CONTEXT;
  stack_forget(c);
  ctx_release_resources(c);
  pthread_mutex_destroy(&c->lock);
  free(c);
  return CUDA_SUCCESS;
}

/* ---- the stack -------------------------------------------------------------------------------- */

SG_EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!ctx || !sg_reg_find(ctx, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_INVALID_CONTEXT;
  if (t_depth == SG_CTX_STACK_MAX) return CUDA_ERROR_OUT_OF_MEMORY;
  t_stack[t_depth++] = (sg_ctx *)ctx;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *pctx) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (t_depth == 0) return CUDA_ERROR_INVALID_CONTEXT;
  sg_ctx *c = t_stack[--t_depth];
  if (pctx) *pctx = (CUcontext)c;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!ctx) {
    if (t_depth > 0) t_depth--;
    return CUDA_SUCCESS;
  }
  if (!sg_reg_find(ctx, SG_OBJ_CTX, NULL, NULL)) return CUDA_ERROR_INVALID_CONTEXT;
  if (t_depth == 0) t_depth = 1;
  t_stack[t_depth - 1] = (sg_ctx *)ctx;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  *pctx = t_depth ? (CUcontext)t_stack[t_depth - 1] : NULL;
  return CUDA_SUCCESS;
}

/* ---- queries and settings --------------------------------------------------------------------- */

SG_EXPORT CUresult cuCtxGetDevice(CUdevice *device) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  *device = c->dev;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx) {
  sg_ctx *c;
  CUresult rc = resolve(ctx, 0, &c);
  if (rc) return rc;
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  *device = c->dev;
  return CUDA_SUCCESS;
}

/* Execution is synchronous: there is never outstanding work, only kernel output to print (also
 * when a kernel fault poisoned the context: what it printed before is what explains the fault)
 * and a possible sticky error. */
SG_EXPORT CUresult cuCtxSynchronize(void) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  sg_output_flush(c);
  return sg_ctx_sticky(c);
}

SG_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  sg_ctx *c;
  CUresult rc = resolve(ctx, 0, &c);
  if (rc) return rc;
  sg_output_flush(c);
  return sg_ctx_sticky(c);
}

SG_EXPORT CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version) {
  sg_ctx *c;
  CUresult rc = resolve(ctx, 0, &c);
  if (rc) return rc;
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  *version = SG_CTX_API_VERSION;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxGetId(CUcontext ctx, unsigned long long *ctxId) {
  sg_ctx *c;
  CUresult rc = resolve(ctx, 0, &c);
  if (rc) return rc;
  if (!ctxId) return CUDA_ERROR_INVALID_VALUE;
  *ctxId = c->id;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxGetFlags(unsigned int *flags) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  *flags = c->flags;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxSetFlags(unsigned int flags) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  if (!valid_ctx_flags(flags)) return CUDA_ERROR_INVALID_VALUE;
  c->flags = flags;
  return CUDA_SUCCESS;
}

/* Limits 7..9 (shared-memory carve-out for CIG) have no meaning without a graphics client. */
static int limit_known(CUlimit limit) { return (unsigned)limit <= CU_LIMIT_PERSISTING_L2_CACHE_SIZE; }

SG_EXPORT CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  if (!pvalue) return CUDA_ERROR_INVALID_VALUE;
  if (!limit_known(limit)) return CUDA_ERROR_UNSUPPORTED_LIMIT;
  pthread_mutex_lock(&c->lock);
  *pvalue = c->limits[limit];
  pthread_mutex_unlock(&c->lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  if (!limit_known(limit)) return CUDA_ERROR_UNSUPPORTED_LIMIT;
  switch (limit) {
    case CU_LIMIT_STACK_SIZE:
      if (value > (1u << 20)) return CUDA_ERROR_INVALID_VALUE;
      break;
    case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
      if (value > 128) return CUDA_ERROR_INVALID_VALUE;
      break;
    case CU_LIMIT_PERSISTING_L2_CACHE_SIZE:
      if (value != 0) return CUDA_ERROR_INVALID_VALUE; /* MAX_PERSISTING_L2_CACHE_SIZE is 0 */
      break;
    default:
      break;
  }
  pthread_mutex_lock(&c->lock);
  c->limits[limit] = value;
  pthread_mutex_unlock(&c->lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority) {
  sg_ctx *c;
  CUresult rc = current_plain(&c);
  if (rc) return rc;
  if (leastPriority) *leastPriority = SG_STREAM_PRIORITY_LEAST;
  if (greatestPriority) *greatestPriority = SG_STREAM_PRIORITY_GREATEST;
  return CUDA_SUCCESS;
}

/* ---- primary context ---------------------------------------------------------------------------- */

/* Called with g_primary_lock held. */
static void primary_deactivate(CUdevice dev) {
  if (!g_prim[dev].active) return;
  /* Threads keep it on their stacks, as with the real driver: they get CONTEXT_IS_DESTROYED
   * until someone retains it again, which revives the same handle. */
  sg_reg_remove(&g_prim[dev].ctx, SG_OBJ_CTX);
  ctx_release_resources(&g_prim[dev].ctx);
  g_prim[dev].active = 0;
}

SG_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_primary_lock);
  if (!g_prim[dev].active) {
    ctx_init_fields(&g_prim[dev].ctx, dev, g_prim[dev].flags, 1);
    if (sg_reg_add(&g_prim[dev].ctx, SG_OBJ_CTX, NULL, 0) != 0) {
      pthread_mutex_unlock(&g_primary_lock);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    g_prim[dev].active = 1;
  }
  g_prim[dev].refs++;
  pthread_mutex_unlock(&g_primary_lock);
  *pctx = (CUcontext)&g_prim[dev].ctx;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  pthread_mutex_lock(&g_primary_lock);
  if (g_prim[dev].refs == 0) {
    pthread_mutex_unlock(&g_primary_lock);
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  if (--g_prim[dev].refs == 0) primary_deactivate(dev);
  pthread_mutex_unlock(&g_primary_lock);
  return CUDA_SUCCESS;
}

/* "Resetting the primary context does not release it" (cuda.h): the retain count stays, and the
 * releases that match earlier retains still succeed. Its flags are state, and go. */
SG_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  pthread_mutex_lock(&g_primary_lock);
  primary_deactivate(dev);
  g_prim[dev].flags = 0;
  pthread_mutex_unlock(&g_primary_lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_primary_lock);
  *flags = g_prim[dev].flags;
  *active = g_prim[dev].active;
  pthread_mutex_unlock(&g_primary_lock);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!valid_ctx_flags(flags)) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_primary_lock);
  g_prim[dev].flags = flags;
  if (g_prim[dev].active) g_prim[dev].ctx.flags = flags;
  pthread_mutex_unlock(&g_primary_lock);
  return CUDA_SUCCESS;
}

/* Fault injection for tests of error handling (here and in the host): poisons the current
 * context exactly as a faulting kernel would. Returns 0, or -1 without a current context. */
SG_EXPORT int sg_softgpu_poison_context(CUresult err) {
  sg_ctx *c;
  if (err == CUDA_SUCCESS || current_plain(&c) != CUDA_SUCCESS) return -1;
  sg_ctx_set_sticky(err);
  return 0;
}

/* ---- pre-versioned names -------------------------------------------------------------------------
 * The driver still exports the original names of these entry points, with the same signatures
 * as their versioned successors (the difference was reference-counting and stack semantics that
 * no longer exist), and loaders built against old headers resolve them. */
SG_EXPORT CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev) { return ctx_create(pctx, flags, dev); }
SG_EXPORT CUresult cuCtxDestroy(CUcontext ctx) { return cuCtxDestroy_v2(ctx); }
SG_EXPORT CUresult cuCtxPushCurrent(CUcontext ctx) { return cuCtxPushCurrent_v2(ctx); }
SG_EXPORT CUresult cuCtxPopCurrent(CUcontext *pctx) { return cuCtxPopCurrent_v2(pctx); }
SG_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { return cuDevicePrimaryCtxRelease_v2(dev); }
SG_EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev) { return cuDevicePrimaryCtxReset_v2(dev); }
SG_EXPORT CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
  return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}
