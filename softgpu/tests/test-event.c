/* Events: creation flags, recording, timing, handle checking. */
#include <time.h>

#include "sg_test_cu.h"

/* The pre-12.x entry point, which cuda.h now renames to _v2; softgpu exports both. */
#undef cuEventElapsedTime
CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd);

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

TEST(event_elapsed_time_measures) {
  sg_test_setup();
  CUevent a, b;
  float ms = -1;
  ASSERT_CU_OK(cuEventCreate(&a, CU_EVENT_DEFAULT));
  ASSERT_CU_OK(cuEventCreate(&b, CU_EVENT_BLOCKING_SYNC));
  ASSERT_CU_OK(cuEventRecord(a, NULL));
  sleep_ms(20);
  ASSERT_CU_OK(cuEventRecordWithFlags(b, CU_STREAM_LEGACY, 0));
  ASSERT_CU_OK(cuEventSynchronize(b));
  ASSERT_CU_OK(cuEventQuery(b));
  ASSERT_CU_OK(cuEventElapsedTime_v2(&ms, a, b));
  ASSERT_GE(ms, 19.0);
  ASSERT_LT(ms, 5000.0);
  float ms1 = -1;
  ASSERT_CU_OK(cuEventElapsedTime(&ms1, a, a));
  ASSERT_EQ(ms1, 0.0);
}

TEST(event_elapsed_time_errors) {
  sg_test_setup();
  CUevent a, b, nt;
  float ms;
  ASSERT_CU_OK(cuEventCreate(&a, 0));
  ASSERT_CU_OK(cuEventCreate(&b, 0));
  ASSERT_CU_OK(cuEventCreate(&nt, CU_EVENT_DISABLE_TIMING));
  ASSERT_CU_OK(cuEventQuery(a)); /* never recorded: complete */
  ASSERT_CU_OK(cuEventRecord(a, NULL));
  ASSERT_CU(cuEventElapsedTime_v2(&ms, a, b), CUDA_ERROR_INVALID_HANDLE); /* b never recorded */
  ASSERT_CU_OK(cuEventRecord(nt, NULL));
  ASSERT_CU(cuEventElapsedTime_v2(&ms, a, nt), CUDA_ERROR_INVALID_HANDLE); /* timing disabled */
  ASSERT_CU_OK(cuEventRecord(b, NULL));
  ASSERT_CU(cuEventElapsedTime_v2(NULL, a, b), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuEventElapsedTime_v2(&ms, a, b));
  ASSERT_GE(ms, 0.0);
}

TEST(event_flags_and_handles) {
  sg_test_setup();
  CUevent e;
  int bogus;
  CUstream s;
  ASSERT_CU(cuEventCreate(&e, 0x100), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuEventCreate(&e, CU_EVENT_INTERPROCESS), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuEventCreate(&e, CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING));
  ASSERT_CU(cuEventCreate(NULL, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuEventRecordWithFlags(e, NULL, 0x10), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuEventRecord((CUevent)&bogus, NULL), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuEventRecord(e, (CUstream)&bogus), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU(cuEventQuery((CUevent)s), CUDA_ERROR_INVALID_HANDLE); /* a stream is not an event */
  ASSERT_CU_OK(cuEventDestroy(e));
  ASSERT_CU(cuEventDestroy(e), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuEventSynchronize(e), CUDA_ERROR_INVALID_HANDLE);
}

TEST(event_and_stream_must_share_context) {
  CUcontext a, b;
  CUevent e;
  CUstream s;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_CU_OK(cuEventCreate(&e, 0));
  ASSERT_CU_OK(cuCtxCreate_v2(&b, 0, 0));
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU(cuEventRecord(e, s), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuEventRecord(e, NULL), CUDA_ERROR_INVALID_HANDLE); /* b's default stream */
  ASSERT_CU_OK(cuCtxPopCurrent(NULL));
  ASSERT_CU_OK(cuEventRecord(e, NULL));
  ASSERT_CU_OK(cuEventRecord_ptsz(e, NULL));
}
