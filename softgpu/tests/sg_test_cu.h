/*
 * Helpers for tests that call softgpu's driver API directly: CUresult asserts that print error
 * names, and the usual setup (cuInit + primary context made current).
 */
#ifndef SG_TEST_CU_H
#define SG_TEST_CU_H

/* The tests call deprecated entry points on purpose: softgpu must still serve them. */
#define CUDA_ENABLE_DEPRECATED 1
#include <cuda.h>
#include <stdint.h>

#include "task.h"

/* Exported entry points that cuda.h hides behind its renaming macros. */
CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams, unsigned int flags,
                        CUdevice dev);
CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount);
CUresult cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount);
CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
CUresult cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc, size_t N);
CUresult cuMemsetD32Async_ptsz(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream);
CUresult cuStreamQuery_ptsz(CUstream hStream);
CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags);
CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream);
CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                             unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                             unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra);

/* softgpu's own exports (softgpu/api): fault injection, diagnostics, kernel output capture,
 * abandoning work. */
int sg_softgpu_poison_context(CUresult err);
size_t sg_softgpu_last_error(char *buf, size_t len);
void sg_softgpu_output_capture(int on);
size_t sg_softgpu_output_take(int *fd, void *buf, size_t cap);
int sg_softgpu_memory(uint64_t *used, uint64_t *total);
int sg_softgpu_cancel(int cancel);
int sg_softgpu_watch(int guest_fd, int control_fd);
int sg_softgpu_cancel_stats(uint64_t out[4]);

static inline const char *sg_test_cu_name(CUresult r) {
  const char *s = NULL;
  return cuGetErrorName(r, &s) == CUDA_SUCCESS && s ? s : "(unknown CUresult)";
}

#define ASSERT_CU(call, expected)                                                                          \
  do {                                                                                                     \
    CUresult got_ = (call), want_ = (expected);                                                            \
    if (got_ != want_)                                                                                     \
      FAIL("%s returned %d (%s), expected %d (%s)", #call, (int)got_, sg_test_cu_name(got_), (int)want_,   \
           sg_test_cu_name(want_));                                                                        \
  } while (0)

#define ASSERT_CU_OK(call) ASSERT_CU(call, CUDA_SUCCESS)

/* cuInit, then retain the primary context of device 0 and make it current. */
static inline CUcontext sg_test_setup(void) {
  CUcontext ctx = NULL;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&ctx, 0));
  ASSERT_CU_OK(cuCtxSetCurrent(ctx));
  return ctx;
}

#endif
