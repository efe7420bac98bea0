/*
 * Copies between contexts (cuMemcpyPeer, cuMemcpy3DPeer and their stream and per-thread forms).
 * Every vGPU of a session lives in one executor, whose driver gives all of their memory one
 * unified address space, so a copy between two contexts of the session, of one device or of two,
 * is a device-to-device copy (or, in 3D, the 3D copy of memcpy2d.c) that the executor checks
 * like any other. The contexts must be live; a side whose memory is an array or host memory names
 * no context (cuda.h: the context is ignored there).
 */
#include "vgcuda.h"

#include "memcpy3d.h"
#include "rpc.h"

static CUresult live_context(CUcontext ctx) {
  if (!ctx) return CUDA_ERROR_INVALID_CONTEXT;
  return vg_ctx_info(ctx, NULL, NULL);
}

static CUresult peer_check(CUcontext dst, CUcontext src) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  CUresult r = live_context(dst);
  return r ? r : live_context(src);
}

VG_EXPORT CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice, CUcontext srcContext,
                                size_t ByteCount) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoD_v2(dstDevice, srcDevice, ByteCount));
}
VG_EXPORT CUresult cuMemcpyPeer_ptds(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                     CUcontext srcContext, size_t ByteCount) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoD_v2_ptds(dstDevice, srcDevice, ByteCount));
}
VG_EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                     CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoDAsync_v2(dstDevice, srcDevice, ByteCount, hStream));
}
VG_EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                          CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  CUresult r = peer_check(dstContext, srcContext);
  VG_TRACED(r ? r : cuMemcpyDtoDAsync_v2_ptsz(dstDevice, srcDevice, ByteCount, hStream));
}

/* The contexts of a 3D peer copy's device sides, then the copy as cuMemcpy3D's descriptor. */
static CUresult peer_3d(const CUDA_MEMCPY3D_PEER *p, CUDA_MEMCPY3D *out) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  CUresult r;
  if (vg_memcpy3d_peer_side_has_context(p->srcMemoryType) && (r = live_context(p->srcContext))) return r;
  if (vg_memcpy3d_peer_side_has_context(p->dstMemoryType) && (r = live_context(p->dstContext))) return r;
  *out = vg_memcpy3d_of_peer(p);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *pCopy) {
  CUDA_MEMCPY3D c;
  CUresult r = peer_3d(pCopy, &c);
  VG_TRACED(r ? r : cuMemcpy3D_v2(&c));
}
VG_EXPORT CUresult cuMemcpy3DPeer_ptds(const CUDA_MEMCPY3D_PEER *pCopy) {
  CUDA_MEMCPY3D c;
  CUresult r = peer_3d(pCopy, &c);
  VG_TRACED(r ? r : cuMemcpy3D_v2_ptds(&c));
}
VG_EXPORT CUresult cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream) {
  CUDA_MEMCPY3D c;
  CUresult r = peer_3d(pCopy, &c);
  VG_TRACED(r ? r : cuMemcpy3DAsync_v2(&c, hStream));
}
VG_EXPORT CUresult cuMemcpy3DPeerAsync_ptsz(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream) {
  CUDA_MEMCPY3D c;
  CUresult r = peer_3d(pCopy, &c);
  VG_TRACED(r ? r : cuMemcpy3DAsync_v2_ptsz(&c, hStream));
}
