/*
 * The layout rule of a 3D copy, shared by softgpu and the guest library (which composes 3D copies
 * from 2D ones): slice z of a CUDA_MEMCPY3D is the 2D copy whose rows start srcHeight (dstHeight)
 * rows further on per slice. One place, so the two cannot drift apart.
 */
#ifndef VG_COMMON_MEMCPY3D_H
#define VG_COMMON_MEMCPY3D_H

#include <cuda.h>
#include <stdint.h>

static inline CUresult vg_memcpy3d_slice(const CUDA_MEMCPY3D *p, size_t z, CUDA_MEMCPY2D *out) {
  size_t sz = p->srcZ + z, dz = p->dstZ + z;
  if (sz < z || dz < z) return CUDA_ERROR_INVALID_VALUE;
  if ((p->srcHeight && sz > (SIZE_MAX - p->srcY) / p->srcHeight) ||
      (p->dstHeight && dz > (SIZE_MAX - p->dstY) / p->dstHeight))
    return CUDA_ERROR_INVALID_VALUE;
  *out = (CUDA_MEMCPY2D){
      .srcXInBytes = p->srcXInBytes, .srcY = p->srcY + sz * p->srcHeight, .srcMemoryType = p->srcMemoryType,
      .srcHost = p->srcHost, .srcDevice = p->srcDevice, .srcArray = p->srcArray, .srcPitch = p->srcPitch,
      .dstXInBytes = p->dstXInBytes, .dstY = p->dstY + dz * p->dstHeight, .dstMemoryType = p->dstMemoryType,
      .dstHost = p->dstHost, .dstDevice = p->dstDevice, .dstArray = p->dstArray, .dstPitch = p->dstPitch,
      .WidthInBytes = p->WidthInBytes, .Height = p->Height};
  return CUDA_SUCCESS;
}

/* cuMemcpy3DPeer's descriptor as cuMemcpy3D's; the contexts are the caller's to check. */
static inline CUDA_MEMCPY3D vg_memcpy3d_of_peer(const CUDA_MEMCPY3D_PEER *p) {
  return (CUDA_MEMCPY3D){
      .srcXInBytes = p->srcXInBytes, .srcY = p->srcY, .srcZ = p->srcZ, .srcLOD = p->srcLOD,
      .srcMemoryType = p->srcMemoryType, .srcHost = p->srcHost, .srcDevice = p->srcDevice, .srcArray = p->srcArray,
      .srcPitch = p->srcPitch, .srcHeight = p->srcHeight, .dstXInBytes = p->dstXInBytes, .dstY = p->dstY,
      .dstZ = p->dstZ, .dstLOD = p->dstLOD, .dstMemoryType = p->dstMemoryType, .dstHost = p->dstHost,
      .dstDevice = p->dstDevice, .dstArray = p->dstArray, .dstPitch = p->dstPitch, .dstHeight = p->dstHeight,
      .WidthInBytes = p->WidthInBytes, .Height = p->Height, .Depth = p->Depth};
}

/* Whether a side of a 3D peer copy names a context: device memory does; an array carries its own
 * and host memory has none (cuda.h: the context is ignored there). */
static inline int vg_memcpy3d_peer_side_has_context(CUmemorytype t) {
  return t == CU_MEMORYTYPE_DEVICE || t == CU_MEMORYTYPE_UNIFIED;
}

#endif
