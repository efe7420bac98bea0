/*
 * Peer copies and peer access. All of softgpu's devices keep their memory in one arena of this
 * process, so a kernel on one device can read and write another's memory, and a copy between
 * contexts of two devices is a device-to-device copy: every pair of distinct devices is a peer
 * pair, with native atomics (the arena's atomics are the CPU's). CUDA arrays are not reached from
 * a peer (CUDA_ARRAY_ACCESS_SUPPORTED 0): kernels sample them through texture objects of their
 * own device. Peer access is recorded per (context, peer context), as the driver keeps it, and
 * forgotten when either context goes.
 */
#include "sg_api.h"

#include "memcpy3d.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- copies between contexts -------------------------------------------------------------- */

static CUresult live_context(CUcontext ctx) {
  if (!ctx) return CUDA_ERROR_INVALID_CONTEXT;
  sg_ctx *c;
  return sg_ctx_resolve(ctx, &c);
}

static CUresult peer_check(CUcontext dst, CUcontext src) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  CUresult rc = live_context(dst);
  return rc ? rc : live_context(src);
}

SG_EXPORT CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice, CUcontext srcContext,
                                size_t ByteCount) {
  CUresult rc = peer_check(dstContext, srcContext);
  return rc ? rc : cuMemcpyDtoD_v2(dstDevice, srcDevice, ByteCount);
}
SG_EXPORT CUresult cuMemcpyPeer_ptds(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                     CUcontext srcContext, size_t ByteCount) {
  CUresult rc = peer_check(dstContext, srcContext);
  return rc ? rc : cuMemcpyDtoD_v2_ptds(dstDevice, srcDevice, ByteCount);
}
SG_EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                     CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  CUresult rc = peer_check(dstContext, srcContext);
  return rc ? rc : cuMemcpyDtoDAsync_v2(dstDevice, srcDevice, ByteCount, hStream);
}
SG_EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                          CUcontext srcContext, size_t ByteCount, CUstream hStream) {
  CUresult rc = peer_check(dstContext, srcContext);
  return rc ? rc : cuMemcpyDtoDAsync_v2_ptsz(dstDevice, srcDevice, ByteCount, hStream);
}

static CUresult peer_3d(const CUDA_MEMCPY3D_PEER *p, CUDA_MEMCPY3D *out) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc;
  if (vg_memcpy3d_peer_side_has_context(p->srcMemoryType) && (rc = live_context(p->srcContext))) return rc;
  if (vg_memcpy3d_peer_side_has_context(p->dstMemoryType) && (rc = live_context(p->dstContext))) return rc;
  *out = vg_memcpy3d_of_peer(p);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *pCopy) {
  CUDA_MEMCPY3D c;
  CUresult rc = peer_3d(pCopy, &c);
  return rc ? rc : cuMemcpy3D_v2(&c);
}
SG_EXPORT CUresult cuMemcpy3DPeer_ptds(const CUDA_MEMCPY3D_PEER *pCopy) {
  CUDA_MEMCPY3D c;
  CUresult rc = peer_3d(pCopy, &c);
  return rc ? rc : cuMemcpy3D_v2_ptds(&c);
}
SG_EXPORT CUresult cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream) {
  CUDA_MEMCPY3D c;
  CUresult rc = peer_3d(pCopy, &c);
  return rc ? rc : cuMemcpy3DAsync_v2(&c, hStream);
}
SG_EXPORT CUresult cuMemcpy3DPeerAsync_ptsz(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream) {
  CUDA_MEMCPY3D c;
  CUresult rc = peer_3d(pCopy, &c);
  return rc ? rc : cuMemcpy3DAsync_v2_ptsz(&c, hStream);
}

/* ---- peer access ---------------------------------------------------------------------------- */

SG_EXPORT CUresult cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev) {
  CUresult rc = sg_dev_check(dev);
  if (rc || (rc = sg_dev_check(peerDev))) return rc;
  if (!canAccessPeer) return CUDA_ERROR_INVALID_VALUE;
  *canAccessPeer = dev != peerDev; /* a device is not its own peer */
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceGetP2PAttribute(int *value, CUdevice_P2PAttribute attrib, CUdevice srcDevice, CUdevice dstDevice) {
  CUresult rc = sg_dev_check(srcDevice);
  if (rc || (rc = sg_dev_check(dstDevice))) return rc;
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  if (srcDevice == dstDevice) return CUDA_ERROR_INVALID_DEVICE;
  switch (attrib) {
    case CU_DEVICE_P2P_ATTRIBUTE_PERFORMANCE_RANK: *value = 0; break; /* every pair alike */
    case CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED:
    case CU_DEVICE_P2P_ATTRIBUTE_NATIVE_ATOMIC_SUPPORTED: *value = 1; break;
    case CU_DEVICE_P2P_ATTRIBUTE_CUDA_ARRAY_ACCESS_SUPPORTED:
    case CU_DEVICE_P2P_ATTRIBUTE_ONLY_PARTIAL_NATIVE_ATOMIC_SUPPORTED: *value = 0; break;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

typedef struct peer_pair {
  unsigned long long ctx, peer; /* context ids: a freed context's address may come back */
} peer_pair;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static peer_pair *g_pairs;
static size_t g_n, g_cap;

/* The index of (ctx, peer), or -1; called with g_lock held. */
static long find_pair(unsigned long long ctx, unsigned long long peer) {
  for (size_t i = 0; i < g_n; i++)
    if (g_pairs[i].ctx == ctx && g_pairs[i].peer == peer) return (long)i;
  return -1;
}

/* The current context and the peer context, which must be live and of another device. */
static CUresult access_args(CUcontext peerContext, sg_ctx **cur, sg_ctx **peer) {
  CUresult rc = sg_ctx_get(cur);
  if (rc) return rc;
  if (!peerContext) return CUDA_ERROR_INVALID_CONTEXT; /* NULL is no context here, not the current one */
  if ((rc = sg_ctx_resolve(peerContext, peer))) return rc;
  return (*cur)->dev == (*peer)->dev ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

SG_EXPORT CUresult cuCtxEnablePeerAccess(CUcontext peerContext, unsigned int Flags) {
  sg_ctx *cur, *peer;
  CUresult rc = access_args(peerContext, &cur, &peer);
  if (rc) return rc;
  if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_lock);
  if (find_pair(cur->id, peer->id) >= 0) rc = CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED;
  else if (g_n == g_cap) {
    size_t cap = g_cap ? g_cap * 2 : 8;
    peer_pair *np = realloc(g_pairs, cap * sizeof *np);
    if (np) {
      g_pairs = np;
      g_cap = cap;
    } else {
      rc = CUDA_ERROR_OUT_OF_MEMORY;
    }
  }
  if (!rc) g_pairs[g_n++] = (peer_pair){cur->id, peer->id};
  pthread_mutex_unlock(&g_lock);
  return rc;
}

SG_EXPORT CUresult cuCtxDisablePeerAccess(CUcontext peerContext) {
  sg_ctx *cur, *peer;
  CUresult rc = access_args(peerContext, &cur, &peer);
  if (rc) return rc == CUDA_ERROR_INVALID_DEVICE ? CUDA_ERROR_PEER_ACCESS_NOT_ENABLED : rc;
  pthread_mutex_lock(&g_lock);
  long i = find_pair(cur->id, peer->id);
  if (i < 0) rc = CUDA_ERROR_PEER_ACCESS_NOT_ENABLED;
  else g_pairs[i] = g_pairs[--g_n];
  pthread_mutex_unlock(&g_lock);
  return rc;
}

void sg_peer_release_ctx(sg_ctx *c) {
  pthread_mutex_lock(&g_lock);
  for (size_t i = 0; i < g_n;) {
    if (g_pairs[i].ctx == c->id || g_pairs[i].peer == c->id) g_pairs[i] = g_pairs[--g_n];
    else i++;
  }
  pthread_mutex_unlock(&g_lock);
}
