/*
 * Contexts. The current-context stack is per thread and local (ctxstack.c); the guest keeps one
 * handle per primary context from cuInit on, retained or not, because cudart makes the primary
 * context current before it retains it. Creation, destruction and primary-context activation are
 * forwarded with hand-written wire formats (ops 0x0101-0x0104, 0x0110-0x0111).
 *
 * A context handle's data is not a pointer but a packed value (device, primary bit, creation
 * flags), so a handle destroyed by another thread never leaves a dangling pointer behind.
 *
 * When a context's state goes away (primary reset or last release, cuCtxDestroy) the context
 * local storage destructors run first (darkapi_cls.c), while the context still works and with no
 * lock held: that is how every cudart instance in the process learns to rebuild its state.
 */
#include "vgcuda.h"

#include "coherent.h"
#include "ctxstack.h"
#include "darkapi.h"
#include "handles.h"
#include "rpc.h"
#include "session.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CTX_API_VERSION 3020u

typedef struct primary {
  void *handle;
  unsigned int flags;
  int refcount;
  uint64_t rid; /* 0 while inactive */
  unsigned long long id; /* vg_ctx_id; renewed whenever the context's state is destroyed */
} primary;

static pthread_mutex_t g_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static primary g_primary[VG_MAX_DEVICES];
static int g_nprimary;
/* Primary context ids count up from 1; created contexts use their handle value (>= 2^56). */
static unsigned long long g_next_id = 1;

static unsigned long long new_id(void) { return __atomic_fetch_add(&g_next_id, 1, __ATOMIC_RELAXED); }

static void *pack(CUdevice dev, int is_primary, unsigned int flags) {
  return (void *)(uintptr_t)(((uint64_t)flags << 32) | ((uint64_t)(uint32_t)dev << 1) | (is_primary ? 1u : 0u));
}
static CUdevice packed_dev(void *d) { return (CUdevice)(((uintptr_t)d & 0xffffffffu) >> 1); }
static int packed_primary(void *d) { return (int)((uintptr_t)d & 1u); }
static unsigned int packed_flags(void *d) { return (unsigned int)((uintptr_t)d >> 32); }

/* The fork child has a session of its own in which nothing is retained yet. */
static void fork_child(void) {
  pthread_mutex_init(&g_ctx_lock, NULL);
  for (int i = 0; i < g_nprimary; i++) g_primary[i].rid = 0;
}

int vg_primary_setup(int ndev) {
  for (int i = 0; i < ndev; i++) {
    g_primary[i].handle = vg_handle_new(VG_H_CONTEXT, 0, pack(i, 1, 0));
    if (!g_primary[i].handle) return -1;
    g_primary[i].id = new_id();
  }
  g_nprimary = ndev;
  vg_session_on_fork_child(fork_child);
  return 0;
}

CUresult vg_ctx_info(CUcontext ctx, CUdevice *dev, unsigned int *flags) {
  void *d;
  if (!ctx) ctx = vg_ctx_current();
  if (!ctx || vg_handle_get(ctx, VG_H_CONTEXT, NULL, &d) != 0) return CUDA_ERROR_INVALID_CONTEXT;
  if (dev) *dev = packed_dev(d);
  if (flags) {
    if (packed_primary(d)) {
      /* Read without g_ctx_lock, which is held across primary-context calls to the host. */
      *flags = __atomic_load_n(&g_primary[packed_dev(d)].flags, __ATOMIC_RELAXED);
    } else {
      *flags = packed_flags(d);
    }
  }
  return CUDA_SUCCESS;
}

CUresult vg_ctx_id(CUcontext ctx, unsigned long long *id) {
  void *d;
  if (!ctx) ctx = vg_ctx_current();
  if (!ctx || vg_handle_get(ctx, VG_H_CONTEXT, NULL, &d) != 0) return CUDA_ERROR_INVALID_CONTEXT;
  if (packed_primary(d)) *id = __atomic_load_n(&g_primary[packed_dev(d)].id, __ATOMIC_RELAXED);
  else *id = (unsigned long long)(uintptr_t)ctx;
  return CUDA_SUCCESS;
}

/* ---- the current-context stack ---- */

static CUresult get_current_impl(CUcontext *pctx) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  *pctx = vg_ctx_current();
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx) { VG_TRACED(get_current_impl(pctx)); }

static CUresult set_current_impl(CUcontext ctx) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (ctx && vg_handle_get(ctx, VG_H_CONTEXT, NULL, NULL) != 0) return CUDA_ERROR_INVALID_CONTEXT;
  return vg_ctx_set(ctx) ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

VG_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx) { VG_TRACED(set_current_impl(ctx)); }

static CUresult push_impl(CUcontext ctx) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!ctx || vg_handle_get(ctx, VG_H_CONTEXT, NULL, NULL) != 0) return CUDA_ERROR_INVALID_CONTEXT;
  return vg_ctx_push(ctx) ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

/* The v1 and v2 ABIs are identical (only the pre-3.2 context layout differed). */
VG_EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx) { VG_TRACED(push_impl(ctx)); }
VG_EXPORT CUresult cuCtxPushCurrent(CUcontext ctx) { VG_TRACED(push_impl(ctx)); }

static CUresult pop_impl(CUcontext *pctx) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  void *top;
  if (vg_ctx_pop(&top)) return CUDA_ERROR_INVALID_CONTEXT;
  if (pctx) *pctx = top;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *pctx) { VG_TRACED(pop_impl(pctx)); }
VG_EXPORT CUresult cuCtxPopCurrent(CUcontext *pctx) { VG_TRACED(pop_impl(pctx)); }

static CUresult get_device_impl(CUdevice *dev, CUcontext ctx) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!dev) return CUDA_ERROR_INVALID_VALUE;
  return vg_ctx_info(ctx, dev, NULL);
}

VG_EXPORT CUresult cuCtxGetDevice(CUdevice *device) { VG_TRACED(get_device_impl(device, NULL)); }
VG_EXPORT CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx) { VG_TRACED(get_device_impl(device, ctx)); }

static CUresult api_version_impl(CUcontext ctx, unsigned int *version) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = vg_ctx_info(ctx, NULL, NULL);
  if (r == CUDA_SUCCESS) *version = CTX_API_VERSION;
  return r;
}

VG_EXPORT CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version) {
  VG_TRACED(api_version_impl(ctx, version));
}

static CUresult get_flags_impl(unsigned int *flags) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  return vg_ctx_info(NULL, NULL, flags);
}

VG_EXPORT CUresult cuCtxGetFlags(unsigned int *flags) { VG_TRACED(get_flags_impl(flags)); }

/* ---- primary contexts ---- */

static CUresult primary_of(CUdevice dev, primary **out) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (dev < 0 || dev >= g_nprimary) return CUDA_ERROR_INVALID_DEVICE;
  *out = &g_primary[dev];
  return CUDA_SUCCESS;
}

/* CUDART_INTERFACE[2]: cudart takes the handle during init and retains it later. */
CUresult vg_primary_handle(CUdevice dev, CUcontext *out) {
  primary *p;
  CUresult r = primary_of(dev, &p);
  if (r == CUDA_SUCCESS) *out = p->handle;
  return r;
}

static CUresult get_state_impl(CUdevice dev, unsigned int *flags, int *active) {
  primary *p;
  CUresult r = primary_of(dev, &p);
  if (r) return r;
  if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_ctx_lock);
  *flags = p->flags;
  *active = p->rid != 0;
  pthread_mutex_unlock(&g_ctx_lock);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active) {
  VG_TRACED(get_state_impl(dev, flags, active));
}

/* One `i32 dev [, u32 flags]` call; the reply carries a context id only for retain. */
static CUresult primary_call(uint32_t op, CUdevice dev, const unsigned int *flags, uint64_t *rid) {
  vg_call c;
  CUresult r = vg_call_begin(&c, op, VG_CALL_SYNC);
  if (r) return r;
  vg_put_i32(&c, dev);
  if (flags) vg_put_u32(&c, *flags);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS && rid) {
    *rid = vg_get_u64(&c);
    /* An active context always has an executor id (>= 0x1000). */
    if (*rid < 0x1000) r = vg_call_end(&c, CUDA_ERROR_DEVICE_UNAVAILABLE);
    else r = vg_call_end(&c, r);
    return r;
  }
  return vg_call_end(&c, r);
}

static CUresult retain_impl(CUcontext *pctx, CUdevice dev) {
  primary *p;
  CUresult r = primary_of(dev, &p);
  if (r) return r;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_ctx_lock);
  /* Activation is sent on 0 -> 1 and again after a reset left the context inactive. */
  if (p->rid == 0) {
    uint64_t rid = 0;
    r = primary_call(VG_OP_cuDevicePrimaryCtxRetain, dev, NULL, &rid);
    if (r == CUDA_SUCCESS) {
      p->rid = rid;
      vg_handle_set_rid(p->handle, VG_H_CONTEXT, rid);
    }
  }
  if (r == CUDA_SUCCESS) {
    p->refcount++;
    *pctx = p->handle;
  }
  pthread_mutex_unlock(&g_ctx_lock);
  return r;
}

VG_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) { VG_TRACED(retain_impl(pctx, dev)); }

static void deactivate(primary *p) {
  p->rid = 0;
  vg_handle_set_rid(p->handle, VG_H_CONTEXT, 0);
  __atomic_store_n(&p->id, new_id(), __ATOMIC_RELAXED);
}

static CUresult release_impl(CUdevice dev) {
  primary *p;
  CUresult r = primary_of(dev, &p);
  if (r) return r;
  pthread_mutex_lock(&g_ctx_lock);
  int last = p->refcount == 1 && p->rid != 0;
  pthread_mutex_unlock(&g_ctx_lock);
  /* The last release destroys the context. A retain racing with it may keep the context alive
   * after the destructors ran; its owner then finds no state and rebuilds it, as after a reset. */
  if (last) vg_cls_context_gone(p->handle);
  pthread_mutex_lock(&g_ctx_lock);
  if (p->refcount == 0) {
    r = CUDA_ERROR_INVALID_CONTEXT;
  } else if (p->refcount == 1 && p->rid != 0) {
    r = primary_call(VG_OP_cuDevicePrimaryCtxRelease_v2, dev, NULL, NULL);
    if (r == CUDA_SUCCESS) {
      p->refcount = 0;
      deactivate(p);
      vg_coherent_context_gone(p->handle);
    }
  } else {
    p->refcount--;
  }
  pthread_mutex_unlock(&g_ctx_lock);
  return r;
}

VG_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) { VG_TRACED(release_impl(dev)); }
VG_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { VG_TRACED(release_impl(dev)); }

/* Reset destroys the context's state but not the retain count (as documented for the real
 * driver): the guest keeps its count, marks the context inactive, and the next retain activates
 * it again with a new executor id. */
static CUresult reset_impl(CUdevice dev) {
  primary *p;
  CUresult r = primary_of(dev, &p);
  if (r) return r;
  vg_cls_context_gone(p->handle);
  pthread_mutex_lock(&g_ctx_lock);
  r = primary_call(VG_OP_cuDevicePrimaryCtxReset_v2, dev, NULL, NULL);
  if (r == CUDA_SUCCESS) {
    deactivate(p);
    __atomic_store_n(&p->flags, 0u, __ATOMIC_RELAXED);
    vg_coherent_context_gone(p->handle);
  }
  pthread_mutex_unlock(&g_ctx_lock);
  return r;
}

VG_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) { VG_TRACED(reset_impl(dev)); }
VG_EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev) { VG_TRACED(reset_impl(dev)); }

static CUresult set_flags_impl(CUdevice dev, unsigned int flags) {
  primary *p;
  CUresult r = primary_of(dev, &p);
  if (r) return r;
  pthread_mutex_lock(&g_ctx_lock);
  r = primary_call(VG_OP_cuDevicePrimaryCtxSetFlags_v2, dev, &flags, NULL);
  if (r == CUDA_SUCCESS) __atomic_store_n(&p->flags, flags, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&g_ctx_lock);
  return r;
}

VG_EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  VG_TRACED(set_flags_impl(dev, flags));
}
VG_EXPORT CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
  VG_TRACED(set_flags_impl(dev, flags));
}

/* ---- created contexts ---- */

static CUresult create_impl(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_dev_rec(dev)) return CUDA_ERROR_INVALID_DEVICE;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuCtxCreate_v2, VG_CALL_SYNC);
  if (r) return r;
  vg_put_u32(&c, flags);
  vg_put_i32(&c, dev);
  r = vg_call_invoke(&c);
  uint64_t rid = r == CUDA_SUCCESS ? vg_get_u64(&c) : 0;
  if (r == CUDA_SUCCESS && rid < 0x1000) r = CUDA_ERROR_DEVICE_UNAVAILABLE;
  r = vg_call_end(&c, r);
  if (r) return r;
  void *h = vg_handle_new(VG_H_CONTEXT, rid, pack(dev, 0, flags));
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY; /* the executor's context ends with the session */
  if (vg_ctx_push(h)) {
    vg_handle_release(h);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pctx = h;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  VG_TRACED(create_impl(pctx, flags, dev));
}
VG_EXPORT CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  VG_TRACED(create_impl(pctx, flags, dev));
}

static CUresult create_v3_impl(CUcontext *pctx, CUexecAffinityParam *params, int n, unsigned int flags,
                               CUdevice dev) {
  if (n < 0 || (n > 0 && !params)) return CUDA_ERROR_INVALID_VALUE;
  if (n > 0) return CUDA_ERROR_NOT_SUPPORTED; /* execution affinity (SM partitions) */
  return create_impl(pctx, flags, dev);
}

VG_EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                  unsigned int flags, CUdevice dev) {
  VG_TRACED(create_v3_impl(pctx, paramsArray, numParams, flags, dev));
}

static CUresult create_v4_impl(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev) {
  if (params && (params->execAffinityParams || params->numExecAffinityParams || params->cigParams))
    return CUDA_ERROR_NOT_SUPPORTED; /* execution affinity and CUDA-in-graphics contexts */
  return create_impl(pctx, flags, dev);
}

VG_EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams, unsigned int flags,
                                  CUdevice dev) {
  VG_TRACED(create_v4_impl(pctx, ctxCreateParams, flags, dev));
}

static CUresult destroy_impl(CUcontext ctx) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  uint64_t rid;
  void *d;
  if (!ctx || vg_handle_get(ctx, VG_H_CONTEXT, &rid, &d) != 0 || packed_primary(d))
    return CUDA_ERROR_INVALID_CONTEXT;
  vg_cls_context_gone(ctx);
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuCtxDestroy_v2, VG_CALL_SYNC);
  if (r) return r;
  vg_put_u64(&c, rid);
  r = vg_call_end(&c, vg_call_invoke(&c));
  if (r) return r;
  vg_coherent_context_gone(ctx);
  vg_ctx_forget(ctx);
  vg_handle_release(ctx);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx) { VG_TRACED(destroy_impl(ctx)); }
VG_EXPORT CUresult cuCtxDestroy(CUcontext ctx) { VG_TRACED(destroy_impl(ctx)); }
