/* Streams: creation, special handles, queries, handle checking, host callbacks. */
#include "sg_test_cu.h"

TEST(stream_create_query_destroy) {
  sg_test_setup();
  CUstream s;
  unsigned flags = 99;
  int prio = 99;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  ASSERT_CU_OK(cuStreamQuery(s));
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_CU_OK(cuStreamGetFlags(s, &flags));
  ASSERT_EQ(flags, CU_STREAM_NON_BLOCKING);
  ASSERT_CU_OK(cuStreamGetPriority(s, &prio));
  ASSERT_EQ(prio, 0);
  ASSERT_CU_OK(cuStreamDestroy(s));
  ASSERT_CU(cuStreamQuery(s), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuStreamDestroy(s), CUDA_ERROR_INVALID_HANDLE);
}

TEST(stream_priority_clamped) {
  sg_test_setup();
  CUstream hi, lo;
  int p;
  ASSERT_CU_OK(cuStreamCreateWithPriority(&hi, 0, -100));
  ASSERT_CU_OK(cuStreamGetPriority(hi, &p));
  ASSERT_EQ(p, -5);
  ASSERT_CU_OK(cuStreamCreateWithPriority(&lo, 0, 7));
  ASSERT_CU_OK(cuStreamGetPriority(lo, &p));
  ASSERT_EQ(p, 0);
  ASSERT_CU(cuStreamCreate(&hi, 0x10), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuStreamCreate(NULL, 0), CUDA_ERROR_INVALID_VALUE);
}

TEST(stream_special_handles) {
  CUcontext c = sg_test_setup();
  CUcontext got;
  CUdevice dev = -1;
  ASSERT_CU_OK(cuStreamSynchronize(NULL));
  ASSERT_CU_OK(cuStreamSynchronize(CU_STREAM_LEGACY));
  ASSERT_CU_OK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
  ASSERT_CU_OK(cuStreamQuery_ptsz(NULL));
  ASSERT_CU_OK(cuStreamGetCtx(CU_STREAM_LEGACY, &got));
  ASSERT_EQ((void *)got, (void *)c);
  ASSERT_CU_OK(cuStreamGetDevice(NULL, &dev));
  ASSERT_EQ(dev, 0);
  ASSERT_CU(cuStreamDestroy(NULL), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuStreamDestroy(CU_STREAM_LEGACY), CUDA_ERROR_INVALID_HANDLE);
}

TEST(stream_unknown_and_wrong_type_handles) {
  sg_test_setup();
  int bogus = 0;
  CUevent e;
  unsigned long long id;
  ASSERT_CU(cuStreamSynchronize((CUstream)&bogus), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuStreamQuery((CUstream)0x12345678), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuEventCreate(&e, 0));
  ASSERT_CU(cuStreamSynchronize((CUstream)e), CUDA_ERROR_INVALID_HANDLE); /* an event is not a stream */
  ASSERT_CU(cuStreamGetId((CUstream)&bogus, &id), CUDA_ERROR_INVALID_HANDLE);
}

TEST(stream_ids_and_ctx) {
  CUcontext c = sg_test_setup();
  CUstream a, b;
  unsigned long long ia, ib;
  CUcontext got;
  ASSERT_CU_OK(cuStreamCreate(&a, 0));
  ASSERT_CU_OK(cuStreamCreate(&b, 0));
  ASSERT_CU_OK(cuStreamGetId(a, &ia));
  ASSERT_CU_OK(cuStreamGetId(b, &ib));
  ASSERT_NE(ia, ib);
  ASSERT_CU_OK(cuStreamGetCtx(a, &got));
  ASSERT_EQ((void *)got, (void *)c);
}

TEST(stream_dies_with_its_context) {
  CUcontext a;
  CUstream s;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuCtxDestroy(a));
  ASSERT_CU(cuStreamSynchronize(s), CUDA_ERROR_INVALID_HANDLE);
}

TEST(stream_wait_event) {
  sg_test_setup();
  CUstream s;
  CUevent e;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuEventCreate(&e, 0));
  ASSERT_CU_OK(cuEventRecord(e, s));
  ASSERT_CU_OK(cuStreamWaitEvent(NULL, e, 0));
  ASSERT_CU_OK(cuStreamWaitEvent_ptsz(s, e, 0));
  ASSERT_CU(cuStreamWaitEvent(s, e, 0x40), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuEventDestroy(e));
  ASSERT_CU(cuStreamWaitEvent(s, e, 0), CUDA_ERROR_INVALID_HANDLE);
}

static void host_fn(void *arg) { ++*(int *)arg; }
static void stream_cb(CUstream s, CUresult st, void *arg) { *(int *)arg += st == CUDA_SUCCESS ? 10 : 1000; }

TEST(stream_host_callbacks_run_in_order) {
  sg_test_setup();
  CUstream s;
  int n = 0;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuLaunchHostFunc(s, host_fn, &n));
  ASSERT_CU_OK(cuStreamAddCallback(s, stream_cb, &n, 0));
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_EQ(n, 11);
  ASSERT_CU(cuLaunchHostFunc(s, NULL, &n), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuStreamAddCallback(s, stream_cb, &n, 1), CUDA_ERROR_INVALID_VALUE);
}
