/*
 * Host functions and stream callbacks. The function belongs to the guest process, so it runs
 * here: the stream's earlier work is waited for (its errors surface as the callback's status),
 * then the function runs before the call returns, so work queued on the stream afterwards starts
 * after it, as CUDA requires. The difference from a GPU is that the calling thread waits.
 * While a stream is being captured into a graph the function would have to become a host node of
 * the graph the host's driver is building, which the guest does not see: that case is refused
 * with CUDA_ERROR_NOT_SUPPORTED (host nodes added to a graph explicitly are carried: graph_host.c).
 */
#include "vgcuda.h"

#include "rpc.h"

/* The call's own errors: a stream that is not one (asking whether it is capturing finds out), or
 * one being captured. */
static CUresult check_stream(CUstream s, int ptsz) {
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
  CUresult r = ptsz ? cuStreamIsCapturing_ptsz(s, &st) : cuStreamIsCapturing(s, &st);
  if (r == CUDA_SUCCESS && st != CU_STREAM_CAPTURE_STATUS_NONE) return vg_unsupported("cuLaunchHostFunc during stream capture");
  return r == CUDA_ERROR_NOT_SUPPORTED ? CUDA_SUCCESS : r;
}

static CUresult wait_stream(CUstream s, int ptsz) { return ptsz ? cuStreamSynchronize_ptsz(s) : cuStreamSynchronize(s); }

static CUresult host_fn(CUstream s, CUhostFn fn, void *user, int ptsz) {
  if (!fn) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = check_stream(s, ptsz);
  if (r == CUDA_SUCCESS) r = wait_stream(s, ptsz);
  if (r) return r;
  fn(user);
  return CUDA_SUCCESS;
}

static CUresult callback(CUstream s, CUstreamCallback cb, void *user, unsigned flags, int ptsz) {
  if (!cb || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = check_stream(s, ptsz);
  if (r) return r;
  /* A stream callback is told the stream's status (an earlier failure) instead of being skipped. */
  cb(s, wait_stream(s, ptsz), user);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData) { VG_TRACED(host_fn(hStream, fn, userData, 0)); }
VG_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData) { VG_TRACED(host_fn(hStream, fn, userData, 1)); }
VG_EXPORT CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback cb, void *userData, unsigned int flags) {
  VG_TRACED(callback(hStream, cb, userData, flags, 0));
}
VG_EXPORT CUresult cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback cb, void *userData, unsigned int flags) {
  VG_TRACED(callback(hStream, cb, userData, flags, 1));
}
