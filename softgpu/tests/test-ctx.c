/* Contexts: primary context lifecycle, created contexts, the per-thread stack, sticky errors. */
#include <pthread.h>

#include "sg_test_cu.h"

TEST(ctx_none_current_is_invalid_context) {
  CUdeviceptr p;
  CUcontext c = (CUcontext)1;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxGetCurrent(&c));
  ASSERT_NULL(c);
  ASSERT_CU(cuMemAlloc(&p, 16), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU(cuCtxSynchronize(), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU(cuCtxPopCurrent(&c), CUDA_ERROR_INVALID_CONTEXT);
}

TEST(ctx_primary_retain_release_state) {
  CUcontext a, b;
  unsigned flags = 99;
  int active = -1;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  ASSERT_EQ(active, 0);
  ASSERT_EQ(flags, 0);
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&a, 0));
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&b, 0));
  ASSERT_EQ((void *)a, (void *)b);
  ASSERT_CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  ASSERT_EQ(active, 1);
  ASSERT_CU_OK(cuDevicePrimaryCtxRelease(0));
  ASSERT_CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  ASSERT_EQ(active, 1);
  ASSERT_CU_OK(cuDevicePrimaryCtxRelease(0));
  ASSERT_CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  ASSERT_EQ(active, 0);
  ASSERT_CU(cuDevicePrimaryCtxRelease(0), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU(cuDevicePrimaryCtxRetain(&a, 1), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_CU(cuDevicePrimaryCtxRetain(NULL, 0), CUDA_ERROR_INVALID_VALUE);
}

TEST(ctx_primary_reset_frees_memory_and_destroys) {
  CUcontext c = sg_test_setup();
  CUdeviceptr p;
  size_t free_before, free_after, total;
  ASSERT_CU_OK(cuMemGetInfo(&free_before, &total));
  ASSERT_CU_OK(cuMemAlloc(&p, 1 << 20));
  ASSERT_CU_OK(cuDevicePrimaryCtxReset(0));
  /* Still current on this thread, but destroyed until retained again. */
  ASSERT_CU(cuMemAlloc(&p, 16), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  CUcontext again;
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&again, 0));
  ASSERT_EQ((void *)again, (void *)c);
  ASSERT_CU_OK(cuMemGetInfo(&free_after, &total));
  ASSERT_EQ(free_after, free_before);
  ASSERT_CU(cuMemFree(p), CUDA_ERROR_INVALID_VALUE);
}

TEST(ctx_primary_set_flags) {
  unsigned flags;
  int active;
  CUcontext c;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDevicePrimaryCtxSetFlags(0, CU_CTX_SCHED_BLOCKING_SYNC));
  ASSERT_CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  ASSERT_EQ(flags, CU_CTX_SCHED_BLOCKING_SYNC);
  ASSERT_CU(cuDevicePrimaryCtxSetFlags(0, 0x1000), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDevicePrimaryCtxSetFlags(0, CU_CTX_SCHED_SPIN | CU_CTX_SCHED_YIELD), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&c, 0));
  ASSERT_CU_OK(cuCtxSetCurrent(c));
  ASSERT_CU_OK(cuCtxGetFlags(&flags));
  ASSERT_EQ(flags, CU_CTX_SCHED_BLOCKING_SYNC);
}

TEST(ctx_create_push_pop_destroy) {
  CUcontext a, b, cur, popped;
  CUdevice dev = -1;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_CU_OK(cuCtxGetCurrent(&cur));
  ASSERT_EQ((void *)cur, (void *)a);
  ASSERT_CU_OK(cuCtxCreate(&b, NULL, CU_CTX_SCHED_YIELD, 0)); /* _v4 */
  ASSERT_CU_OK(cuCtxGetCurrent(&cur));
  ASSERT_EQ((void *)cur, (void *)b);
  ASSERT_CU_OK(cuCtxGetDevice(&dev));
  ASSERT_EQ(dev, 0);
  ASSERT_CU_OK(cuCtxPopCurrent(&popped));
  ASSERT_EQ((void *)popped, (void *)b);
  ASSERT_CU_OK(cuCtxGetCurrent(&cur));
  ASSERT_EQ((void *)cur, (void *)a);
  ASSERT_CU_OK(cuCtxPushCurrent(b));
  ASSERT_CU_OK(cuCtxDestroy(b)); /* current: popped as well */
  ASSERT_CU_OK(cuCtxGetCurrent(&cur));
  ASSERT_EQ((void *)cur, (void *)a);
  ASSERT_CU(cuCtxDestroy(b), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU(cuCtxPushCurrent(b), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU(cuCtxSetCurrent(b), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU_OK(cuCtxDestroy(a));
  ASSERT_CU_OK(cuCtxGetCurrent(&cur));
  ASSERT_NULL(cur);
}

TEST(ctx_create_rejects_bad_arguments) {
  CUcontext c;
  ASSERT_CU(cuCtxCreate_v2(&c, 0, 0), CUDA_ERROR_NOT_INITIALIZED);
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU(cuCtxCreate_v2(NULL, 0, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuCtxCreate_v2(&c, 0x100, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuCtxCreate_v2(&c, 0, 5), CUDA_ERROR_INVALID_DEVICE);
  CUexecAffinityParam p = {0};
  ASSERT_CU(cuCtxCreate_v3(&c, &p, 1, 0, 0), CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY);
  ASSERT_CU_OK(cuCtxCreate_v3(&c, NULL, 0, 0, 0));
  ASSERT_CU(cuCtxDestroy(NULL), CUDA_ERROR_INVALID_CONTEXT);
  CUcontext primary;
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&primary, 0));
  ASSERT_CU(cuCtxDestroy(primary), CUDA_ERROR_INVALID_CONTEXT);
}

TEST(ctx_destroy_frees_its_allocations) {
  CUcontext a;
  CUdeviceptr p;
  ASSERT_CU_OK(cuInit(0));
  uint64_t used0, used1, total;
  ASSERT_EQ(sg_softgpu_memory(&used0, &total), 0);
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_CU_OK(cuMemAlloc(&p, 4096));
  ASSERT_EQ(sg_softgpu_memory(&used1, &total), 0);
  ASSERT_GT(used1, used0);
  ASSERT_CU_OK(cuCtxDestroy(a));
  ASSERT_EQ(sg_softgpu_memory(&used1, &total), 0);
  ASSERT_EQ(used1, used0);
}

TEST(ctx_set_current_null_pops) {
  CUcontext a, cur;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxSetCurrent(NULL)); /* empty stack: no-op */
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_CU_OK(cuCtxSetCurrent(NULL));
  ASSERT_CU_OK(cuCtxGetCurrent(&cur));
  ASSERT_NULL(cur);
  ASSERT_CU_OK(cuCtxSetCurrent(a));
  ASSERT_CU_OK(cuCtxGetCurrent(&cur));
  ASSERT_EQ((void *)cur, (void *)a);
}

static void *thread_current(void *arg) {
  CUcontext cur = (CUcontext)1;
  cuCtxGetCurrent(&cur);
  *(CUcontext *)arg = cur;
  return NULL;
}

TEST(ctx_current_is_per_thread) {
  sg_test_setup();
  CUcontext seen = (CUcontext)1;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, NULL, thread_current, &seen), 0);
  ASSERT_EQ(pthread_join(t, NULL), 0);
  ASSERT_NULL(seen);
}

TEST(ctx_queries) {
  CUcontext c = sg_test_setup();
  unsigned v = 0;
  unsigned long long id = 0, id2 = 0;
  CUdevice d = -1;
  int least = 1, greatest = 1;
  ASSERT_CU_OK(cuCtxGetApiVersion(c, &v));
  ASSERT_EQ(v, 3020);
  ASSERT_CU_OK(cuCtxGetApiVersion(NULL, &v));
  ASSERT_CU_OK(cuCtxGetId(c, &id));
  ASSERT_CU_OK(cuCtxGetId(NULL, &id2));
  ASSERT_EQ(id, id2);
  ASSERT_CU_OK(cuCtxGetDevice_v2(&d, c));
  ASSERT_EQ(d, 0);
  ASSERT_CU_OK(cuCtxGetStreamPriorityRange(&least, &greatest));
  ASSERT_EQ(least, 0);
  ASSERT_EQ(greatest, -5);
  ASSERT_CU_OK(cuCtxGetStreamPriorityRange(NULL, NULL));
  ASSERT_CU(cuCtxGetApiVersion((CUcontext)&v, &v), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU_OK(cuCtxSynchronize());
  ASSERT_CU_OK(cuCtxSynchronize_v2(c));
}

TEST(ctx_limits) {
  sg_test_setup();
  size_t v = 0;
  ASSERT_CU_OK(cuCtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
  ASSERT_EQ(v, 1024);
  ASSERT_CU_OK(cuCtxSetLimit(CU_LIMIT_STACK_SIZE, 4096));
  ASSERT_CU_OK(cuCtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
  ASSERT_EQ(v, 4096);
  ASSERT_CU_OK(cuCtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
  ASSERT_EQ(v, 8u << 20);
  ASSERT_CU(cuCtxGetLimit(&v, (CUlimit)0x40), CUDA_ERROR_UNSUPPORTED_LIMIT);
  ASSERT_CU(cuCtxSetLimit((CUlimit)0x40, 1), CUDA_ERROR_UNSUPPORTED_LIMIT);
  ASSERT_CU(cuCtxGetLimit(NULL, CU_LIMIT_STACK_SIZE), CUDA_ERROR_INVALID_VALUE);
}

TEST(ctx_sticky_error_poisons_until_reset) {
  sg_test_setup();
  CUdeviceptr p;
  CUstream s;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_EQ(sg_softgpu_poison_context(CUDA_ERROR_ILLEGAL_ADDRESS), 0);
  ASSERT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
  ASSERT_CU(cuMemAlloc(&p, 16), CUDA_ERROR_ILLEGAL_ADDRESS);
  ASSERT_CU(cuStreamSynchronize(s), CUDA_ERROR_ILLEGAL_ADDRESS);
  ASSERT_CU(cuStreamSynchronize(NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
  /* The first error wins. */
  ASSERT_EQ(sg_softgpu_poison_context(CUDA_ERROR_ASSERT), 0);
  ASSERT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
  /* Recovery: reset the primary context, retain it again. */
  CUcontext c;
  ASSERT_CU_OK(cuDevicePrimaryCtxReset(0));
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&c, 0));
  ASSERT_CU_OK(cuCtxSynchronize());
  ASSERT_CU_OK(cuMemAlloc(&p, 16));
  ASSERT_CU(cuStreamSynchronize(s), CUDA_ERROR_INVALID_HANDLE); /* streams died with the reset */
}

TEST(ctx_sticky_error_stays_in_its_context) {
  CUcontext a, b;
  CUdeviceptr p;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_EQ(sg_softgpu_poison_context(CUDA_ERROR_MISALIGNED_ADDRESS), 0);
  ASSERT_CU_OK(cuCtxCreate_v2(&b, 0, 0));
  ASSERT_CU_OK(cuMemAlloc(&p, 16));
  ASSERT_CU(cuCtxSynchronize_v2(a), CUDA_ERROR_MISALIGNED_ADDRESS);
  ASSERT_CU_OK(cuCtxDestroy(a)); /* a poisoned context can still be destroyed */
  ASSERT_CU_OK(cuCtxSynchronize());
}

/* The unversioned names the driver still exports behave like their successors. */
#undef cuCtxDestroy
#undef cuCtxPushCurrent
#undef cuCtxPopCurrent
#undef cuDevicePrimaryCtxRelease
CUresult cuCtxDestroy(CUcontext ctx);
CUresult cuCtxPushCurrent(CUcontext ctx);
CUresult cuCtxPopCurrent(CUcontext *pctx);
CUresult cuDevicePrimaryCtxRelease(CUdevice dev);

TEST(ctx_unversioned_aliases) {
  CUcontext a, got, p;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_CU_OK(cuCtxPopCurrent(&got));
  ASSERT_EQ((void *)got, (void *)a);
  ASSERT_CU_OK(cuCtxPushCurrent(a));
  ASSERT_CU_OK(cuCtxDestroy(a));
  ASSERT_CU(cuCtxDestroy(a), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&p, 0));
  ASSERT_CU_OK(cuDevicePrimaryCtxRelease(0));
  ASSERT_CU(cuDevicePrimaryCtxRelease(0), CUDA_ERROR_INVALID_CONTEXT);
}
