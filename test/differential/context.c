/*
 * Differential cases (docs/testing.md): primary contexts, created contexts and the current-context
 * stack, including every legacy ABI, bad devices, null arguments and contexts used after they
 * were destroyed.
 */
#include <string.h>

#include "diff.h"

typedef CUresult (*ctx_create_v3_t)(CUcontext *, CUexecAffinityParam *, int, unsigned int, CUdevice);
typedef CUresult (*ctx_create_v4_t)(CUcontext *, CUctxCreateParams *, unsigned int, CUdevice);
typedef CUresult (*ctx_create_t)(CUcontext *, unsigned int, CUdevice);
typedef __typeof__(&cuCtxDestroy_v2) ctx_destroy_t;
typedef __typeof__(&cuDevicePrimaryCtxRelease_v2) primary_release_t;
typedef __typeof__(&cuDevicePrimaryCtxReset_v2) primary_reset_t;
typedef __typeof__(&cuDevicePrimaryCtxSetFlags_v2) primary_set_flags_t;
typedef __typeof__(&cuCtxPushCurrent_v2) push_t;
typedef __typeof__(&cuCtxPopCurrent_v2) pop_t;

/* The current context, as a comparable fact: none, the given one, or another. */
static const char *which(CUcontext want) {
  CUcontext cur = (CUcontext)(uintptr_t)1;
  if (((__typeof__(&cuCtxGetCurrent))diff_sym("cuCtxGetCurrent"))(&cur) != CUDA_SUCCESS) return "error";
  return cur == NULL ? "none" : cur == want ? "expected" : "other";
}

static void primary(CUdevice n) {
  unsigned int flags = 99;
  int active = 99;
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "before retain", 0, &flags, &active);
  SAY(cuDevicePrimaryCtxGetState, "before retain flags, active", "%u %d", flags, active);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "null flags", 0, NULL, &active);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "null active", 0, &flags, NULL);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "bad device", n, &flags, &active);

  CALL(cuDevicePrimaryCtxSetFlags_v2, primary_set_flags_t, "inactive, schedule spin", 0, CU_CTX_SCHED_SPIN);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "after set flags", 0, &flags, &active);
  SAY(cuDevicePrimaryCtxGetState, "after set flags flags, active", "%u %d", flags, active);
  CALL(cuDevicePrimaryCtxSetFlags_v2, primary_set_flags_t, "unknown flag bit", 0, 0x80000000u);
  CALL(cuDevicePrimaryCtxSetFlags_v2, primary_set_flags_t, "two schedule modes", 0, CU_CTX_SCHED_SPIN | CU_CTX_SCHED_YIELD);
  CALL(cuDevicePrimaryCtxSetFlags_v2, primary_set_flags_t, "bad device", n, 0);
  CALL(cuDevicePrimaryCtxSetFlags, primary_set_flags_t, "legacy, auto", 0, CU_CTX_SCHED_AUTO);
  CALL(cuDevicePrimaryCtxSetFlags, primary_set_flags_t, "legacy, bad device", -1, 0);

  CALL(cuDevicePrimaryCtxRelease_v2, primary_release_t, "never retained", 0);
  CALL(cuDevicePrimaryCtxRelease, primary_release_t, "legacy, never retained", 0);
  CALL(cuDevicePrimaryCtxRelease_v2, primary_release_t, "bad device", n);

  CUcontext p = NULL, p2 = NULL;
  CALL(cuDevicePrimaryCtxRetain, __typeof__(&cuDevicePrimaryCtxRetain), "ok", &p, 0);
  CALL(cuDevicePrimaryCtxRetain, __typeof__(&cuDevicePrimaryCtxRetain), "again", &p2, 0);
  SAY(cuDevicePrimaryCtxRetain, "same handle", "%d", p != NULL && p == p2);
  CALL(cuDevicePrimaryCtxRetain, __typeof__(&cuDevicePrimaryCtxRetain), "null", NULL, 0);
  CALL(cuDevicePrimaryCtxRetain, __typeof__(&cuDevicePrimaryCtxRetain), "bad device", &p2, n);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "retained", 0, &flags, &active);
  SAY(cuDevicePrimaryCtxGetState, "retained flags, active", "%u %d", flags, active);
  SAY(cuDevicePrimaryCtxRetain, "retain does not make it current", "%s", which(p));

  /* Flags can change while the context is active (CUDA 11 and later). */
  CALL(cuDevicePrimaryCtxSetFlags_v2, primary_set_flags_t, "active, blocking sync", 0, CU_CTX_SCHED_BLOCKING_SYNC);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "after active set flags", 0, &flags, &active);
  SAY(cuDevicePrimaryCtxGetState, "after active set flags flags, active", "%u %d", flags, active);

  CALL(cuCtxSetCurrent, __typeof__(&cuCtxSetCurrent), "primary", p);
  unsigned int cflags = 99;
  CALL(cuCtxGetFlags, __typeof__(&cuCtxGetFlags), "primary", &cflags);
  SAY(cuCtxGetFlags, "primary flags", "%u", cflags);
  CALL(cuCtxGetFlags, __typeof__(&cuCtxGetFlags), "null", NULL);
  unsigned int api = 0;
  CALL(cuCtxGetApiVersion, __typeof__(&cuCtxGetApiVersion), "primary", p, &api);
  SAY(cuCtxGetApiVersion, "primary version", "%u", api);
  CALL(cuCtxGetApiVersion, __typeof__(&cuCtxGetApiVersion), "current (null)", NULL, &api);
  CALL(cuCtxGetApiVersion, __typeof__(&cuCtxGetApiVersion), "null out", p, NULL);

  /* Reset keeps the retain count; the next use finds the context inactive until retained. */
  CALL(cuDevicePrimaryCtxReset_v2, primary_reset_t, "ok", 0);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "after reset", 0, &flags, &active);
  SAY(cuDevicePrimaryCtxGetState, "after reset flags, active", "%u %d", flags, active);
  CALL(cuDevicePrimaryCtxReset_v2, primary_reset_t, "bad device", n);
  CALL(cuDevicePrimaryCtxReset, primary_reset_t, "legacy", 0);
  CALL(cuDevicePrimaryCtxRetain, __typeof__(&cuDevicePrimaryCtxRetain), "after reset", &p2, 0);
  SAY(cuDevicePrimaryCtxRetain, "after reset same handle", "%d", p == p2);
  CALL(cuDevicePrimaryCtxRelease_v2, primary_release_t, "1 of 3", 0);
  CALL(cuDevicePrimaryCtxRelease, primary_release_t, "legacy, 2 of 3", 0);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "one retain left", 0, &flags, &active);
  SAY(cuDevicePrimaryCtxGetState, "one retain left active", "%d", active);
  CALL(cuDevicePrimaryCtxRelease_v2, primary_release_t, "3 of 3", 0);
  CALL(cuDevicePrimaryCtxGetState, __typeof__(&cuDevicePrimaryCtxGetState), "all released", 0, &flags, &active);
  SAY(cuDevicePrimaryCtxGetState, "all released active", "%d", active);
  CALL(cuDevicePrimaryCtxRelease_v2, primary_release_t, "one too many", 0);
  /* The released primary context is still the thread's current context. */
  CUdeviceptr d;
  CALL(cuMemAlloc_v2, __typeof__(&cuMemAlloc_v2), "in a released primary context", &d, 16);
  CALL(cuCtxSetCurrent, __typeof__(&cuCtxSetCurrent), "none", NULL);
}

static void created(CUdevice n) {
  CUcontext a = NULL, b = NULL, c = NULL, top = NULL;
  CALL(cuCtxCreate_v2, ctx_create_t, "ok", &a, 0, 0);
  SAY(cuCtxCreate_v2, "made current", "%s", which(a));
  CALL(cuCtxCreate_v2, ctx_create_t, "null", NULL, 0, 0);
  CALL(cuCtxCreate_v2, ctx_create_t, "bad device", &b, 0, n);
  CALL(cuCtxCreate_v2, ctx_create_t, "device -1", &b, 0, -1);
  CALL(cuCtxCreate_v2, ctx_create_t, "unknown flag bit", &b, 0x80000000u, 0);
  CALL(cuCtxCreate, ctx_create_t, "legacy, map host", &b, CU_CTX_MAP_HOST, 0);
  SAY(cuCtxCreate, "legacy made current", "%s", which(b));
  unsigned int cflags = 0;
  CALL(cuCtxGetFlags, __typeof__(&cuCtxGetFlags), "created with map host", &cflags);
  SAY(cuCtxGetFlags, "created with map host flags", "%u", cflags);
  CUexecAffinityParam aff;
  memset(&aff, 0, sizeof aff);
  CALL(cuCtxCreate_v3, ctx_create_v3_t, "no affinity", &c, NULL, 0, 0, 0);
  CALL(cuCtxDestroy_v2, ctx_destroy_t, "the v3 one", c);
  CALL(cuCtxCreate_v3, ctx_create_v3_t, "negative count", &c, NULL, -1, 0, 0);
  CALL(cuCtxCreate_v3, ctx_create_v3_t, "count without array", &c, NULL, 1, 0, 0);
  CALL(cuCtxCreate_v3, ctx_create_v3_t, "null", NULL, NULL, 0, 0, 0);
  CALL(cuCtxCreate_v4, ctx_create_v4_t, "null params", &c, NULL, 0, 0);
  CALL(cuCtxDestroy_v2, ctx_destroy_t, "the v4 one", c);
  CUctxCreateParams params;
  memset(&params, 0, sizeof params);
  CALL(cuCtxCreate_v4, ctx_create_v4_t, "empty params", &c, &params, 0, 0);
  CALL(cuCtxDestroy, ctx_destroy_t, "legacy, the second v4 one", c);
  CALL(cuCtxCreate_v4, ctx_create_v4_t, "null", NULL, NULL, 0, 0);
  CALL(cuCtxCreate_v4, ctx_create_v4_t, "bad device", &c, NULL, 0, n);

  /* The stack: b is on top of a. */
  CUdevice dev = -1;
  CALL(cuCtxGetDevice, __typeof__(&cuCtxGetDevice), "current", &dev);
  SAY(cuCtxGetDevice, "current device", "%d", dev);
  CALL(cuCtxGetDevice, __typeof__(&cuCtxGetDevice), "null", NULL);
  CALL(cuCtxGetDevice_v2, __typeof__(&cuCtxGetDevice_v2), "given context", &dev, a);
  SAY(cuCtxGetDevice_v2, "given context device", "%d", dev);
  CALL(cuCtxGetDevice_v2, __typeof__(&cuCtxGetDevice_v2), "null context is current", &dev, NULL);
  CALL(cuCtxGetDevice_v2, __typeof__(&cuCtxGetDevice_v2), "null out", NULL, a);
  CALL(cuCtxPopCurrent_v2, pop_t, "b", &top);
  SAY(cuCtxPopCurrent_v2, "popped b", "%d", top == b);
  SAY(cuCtxPopCurrent_v2, "a is current", "%s", which(a));
  CALL(cuCtxPushCurrent_v2, push_t, "b", b);
  CALL(cuCtxPopCurrent, pop_t, "legacy, null out", NULL);
  SAY(cuCtxPopCurrent, "a is current after legacy pop", "%s", which(a));
  CALL(cuCtxPushCurrent, push_t, "legacy, b", b);
  CALL(cuCtxPushCurrent_v2, push_t, "null", NULL);
  CALL(cuCtxGetCurrent, __typeof__(&cuCtxGetCurrent), "null", NULL);
  CALL(cuCtxSetCurrent, __typeof__(&cuCtxSetCurrent), "a replaces the top", a);
  CALL(cuCtxPopCurrent_v2, pop_t, "a from the top", &top);
  SAY(cuCtxPopCurrent_v2, "popped a", "%d", top == a);
  SAY(cuCtxPopCurrent_v2, "a is current below", "%s", which(a));
  CALL(cuCtxPopCurrent_v2, pop_t, "a", &top);
  SAY(cuCtxPopCurrent_v2, "stack empty", "%s", which(a));
  CALL(cuCtxPopCurrent_v2, pop_t, "empty stack", &top);
  CALL(cuCtxPopCurrent, pop_t, "legacy, empty stack", &top);
  CALL(cuCtxGetDevice, __typeof__(&cuCtxGetDevice), "no context", &dev);
  unsigned int flags = 0;
  CALL(cuCtxGetFlags, __typeof__(&cuCtxGetFlags), "no context", &flags);
  unsigned int api = 0;
  CALL(cuCtxGetApiVersion, __typeof__(&cuCtxGetApiVersion), "no context", NULL, &api);

  /* Destroyed contexts. */
  CALL(cuCtxPushCurrent_v2, push_t, "b before destroy", b);
  CALL(cuCtxDestroy_v2, ctx_destroy_t, "b, current", b);
  SAY(cuCtxDestroy_v2, "current after destroying the current one", "%s", which(NULL));
  CALL(cuCtxDestroy_v2, ctx_destroy_t, "b again", b);
  CALL(cuCtxDestroy, ctx_destroy_t, "legacy, b again", b);
  CALL(cuCtxPushCurrent_v2, push_t, "destroyed b", b);
  CALL(cuCtxSetCurrent, __typeof__(&cuCtxSetCurrent), "destroyed b", b);
  CALL(cuCtxGetApiVersion, __typeof__(&cuCtxGetApiVersion), "destroyed b", b, &api);
  CALL(cuCtxGetDevice_v2, __typeof__(&cuCtxGetDevice_v2), "destroyed b", &dev, b);
  CALL(cuCtxDestroy_v2, ctx_destroy_t, "null", NULL);
  CALL(cuCtxSetCurrent, __typeof__(&cuCtxSetCurrent), "a", a);
  CALL(cuCtxDestroy_v2, ctx_destroy_t, "a", a);
  CUdeviceptr d;
  CALL(cuMemAlloc_v2, __typeof__(&cuMemAlloc_v2), "after the current context was destroyed", &d, 16);
  CALL(cuCtxSynchronize, __typeof__(&cuCtxSynchronize), "after the current context was destroyed");
  CUcontext p;
  CALL(cuDevicePrimaryCtxRetain, __typeof__(&cuDevicePrimaryCtxRetain), "for a primary destroy", &p, 0);
  CALL(cuCtxDestroy_v2, ctx_destroy_t, "a primary context", p);
  CALL(cuDevicePrimaryCtxRelease_v2, primary_release_t, "after the refused destroy", 0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  int n = 0;
  MUST(((__typeof__(&cuDeviceGetCount))diff_sym("cuDeviceGetCount"))(&n));
  CUcontext cur = (CUcontext)(uintptr_t)1;
  CALL(cuCtxGetCurrent, __typeof__(&cuCtxGetCurrent), "fresh thread", &cur);
  SAY(cuCtxGetCurrent, "fresh thread has none", "%d", cur == NULL);
  CALL(cuCtxSetCurrent, __typeof__(&cuCtxSetCurrent), "null with none", NULL);
  CUcontext top = (CUcontext)(uintptr_t)1;
  CALL(cuCtxPopCurrent_v2, pop_t, "nothing pushed", &top);
  primary((CUdevice)n);
  created((CUdevice)n);
  return 0;
}
