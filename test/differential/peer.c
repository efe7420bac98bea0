/*
 * Peer access and copies between two devices (docs/pointers.md, "Peer access"), run by
 * test/e2e/peer.test.ts on softgpu with two devices, in-process and through vgpu for a VM with two
 * vGPUs: the queries, enabling and disabling access and their errors, a kernel on one device
 * reading the other's memory, and linear and 3D peer copies.
 *   peer KERNELS.fatbin   (test/differential/kernels.cu)
 */
#include <string.h>

#include "diff.h"

typedef __typeof__(&cuDeviceGetCount) count_t;
typedef __typeof__(&cuDevicePrimaryCtxRetain) retain_t;
typedef __typeof__(&cuCtxSetCurrent) ctx_set_t;
typedef CUresult (*ctx_create_t)(CUcontext *pctx, unsigned int flags, CUdevice dev);
typedef __typeof__(&cuCtxDestroy_v2) ctx_destroy_t;
typedef __typeof__(&cuModuleLoadData) load_t;
typedef __typeof__(&cuModuleGetFunction) get_function_t;
typedef __typeof__(&cuLaunchKernel) launch_t;
typedef __typeof__(&cuCtxSynchronize) sync_t;
typedef __typeof__(&cuMemAlloc_v2) alloc_t;
typedef __typeof__(&cuMemcpyHtoD_v2) htod_t;
typedef __typeof__(&cuMemcpyDtoH_v2) dtoh_t;
typedef __typeof__(&cuDeviceCanAccessPeer) can_peer_t;
typedef __typeof__(&cuDeviceGetP2PAttribute) p2p_attr_t;
typedef __typeof__(&cuCtxEnablePeerAccess) enable_peer_t;
typedef __typeof__(&cuCtxDisablePeerAccess) disable_peer_t;
typedef __typeof__(&cuMemcpyPeer) peer_t;
typedef __typeof__(&cuMemcpyPeerAsync) peer_async_t;
typedef __typeof__(&cuMemcpy3DPeer) peer3d_t;
typedef __typeof__(&cuStreamSynchronize) stream_sync_t;

#define N 4096

static void set_current(CUcontext c) { MUST(((ctx_set_t)diff_sym("cuCtxSetCurrent"))(c)); }

static CUdeviceptr alloc_ints(int n) {
  CUdeviceptr p;
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&p, (size_t)n * sizeof(int)));
  return p;
}

/* 1 when dev holds first, first+1, ... */
static int holds(CUdeviceptr dev, int first, int n) {
  static int h[N];
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(h, dev, (size_t)n * sizeof(int)));
  for (int i = 0; i < n; i++)
    if (h[i] != first + i) return 0;
  return 1;
}

static void queries(void) {
  static const struct { CUdevice_P2PAttribute a; const char *name; } attrs[] = {
      {CU_DEVICE_P2P_ATTRIBUTE_PERFORMANCE_RANK, "PERFORMANCE_RANK"},
      {CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED, "ACCESS_SUPPORTED"},
      {CU_DEVICE_P2P_ATTRIBUTE_NATIVE_ATOMIC_SUPPORTED, "NATIVE_ATOMIC_SUPPORTED"},
      {CU_DEVICE_P2P_ATTRIBUTE_CUDA_ARRAY_ACCESS_SUPPORTED, "CUDA_ARRAY_ACCESS_SUPPORTED"},
      {CU_DEVICE_P2P_ATTRIBUTE_ONLY_PARTIAL_NATIVE_ATOMIC_SUPPORTED, "ONLY_PARTIAL_NATIVE_ATOMIC_SUPPORTED"},
  };
  for (int d = 0; d < 2; d++)
    for (int p = 0; p < 2; p++) {
      int can = -1;
      CALL(cuDeviceCanAccessPeer, can_peer_t, "a pair", &can, d, p);
      SAY(cuDeviceCanAccessPeer, "a pair", "%d -> %d: %d", d, p, can);
    }
  int v = -1;
  for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
    CALL(cuDeviceGetP2PAttribute, p2p_attr_t, "0 -> 1", &v, attrs[i].a, 0, 1);
    SAY(cuDeviceGetP2PAttribute, "0 -> 1", "%s %d", attrs[i].name, v);
  }
  CALL(cuDeviceGetP2PAttribute, p2p_attr_t, "an unknown attribute", &v, (CUdevice_P2PAttribute)99, 0, 1);
  CALL(cuDeviceGetP2PAttribute, p2p_attr_t, "a device and itself", &v, CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED, 1, 1);
  CALL(cuDeviceGetP2PAttribute, p2p_attr_t, "null value", NULL, CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED, 0, 1);
}

static void access(CUcontext c0, CUcontext c1) {
  set_current(c0);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "the other device", c1, 0);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "again", c1, 0);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "its own context", c0, 0);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "null context", NULL, 0);
  CALL(cuCtxDisablePeerAccess, disable_peer_t, "the other device", c1);
  CALL(cuCtxDisablePeerAccess, disable_peer_t, "again", c1);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "flags", c1, 1);
  /* Access is per context: device 1's own context has none yet. */
  set_current(c1);
  CALL(cuCtxDisablePeerAccess, disable_peer_t, "from the other side, never enabled", c0);
  /* Access goes with a context: a new context of device 1 starts without it. */
  CUcontext extra;
  MUST(((ctx_create_t)diff_sym("cuCtxCreate_v2"))(&extra, 0, 1));
  set_current(c0);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "a created context", extra, 0);
  MUST(((ctx_destroy_t)diff_sym("cuCtxDestroy_v2"))(extra));
  MUST(((ctx_create_t)diff_sym("cuCtxCreate_v2"))(&extra, 0, 1));
  set_current(c0);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "a context created after one was destroyed", extra, 0);
  CALL(cuCtxDisablePeerAccess, disable_peer_t, "that context", extra);
  MUST(((ctx_destroy_t)diff_sym("cuCtxDestroy_v2"))(extra));
  set_current(c0);
}

static void work(const void *fatbin, CUcontext c0, CUcontext c1) {
  /* Device 1's memory, filled by device 1. */
  set_current(c1);
  CUmodule m1;
  CUfunction fill1;
  MUST(((load_t)diff_sym("cuModuleLoadData"))(&m1, fatbin));
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&fill1, m1, "fill"));
  CUdeviceptr a = alloc_ints(N);
  int base = 500, n = N;
  void *fargs[] = {&a, &base, &n};
  MUST(((launch_t)diff_sym("cuLaunchKernel"))(fill1, N / 256, 1, 1, 256, 1, 1, 0, NULL, fargs, NULL));
  MUST(((sync_t)diff_sym("cuCtxSynchronize"))());

  /* A kernel on device 0 reads it, with peer access enabled. */
  set_current(c0);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "before a kernel reads the peer", c1, 0);
  CUmodule m0;
  CUfunction copy0;
  MUST(((load_t)diff_sym("cuModuleLoadData"))(&m0, fatbin));
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&copy0, m0, "copy_ints"));
  CUdeviceptr b = alloc_ints(N);
  void *cargs[] = {&a, &b, &n};
  CALL(cuLaunchKernel, launch_t, "a kernel reading the peer's memory", copy0, N / 256, 1, 1, 256, 1, 1, 0, NULL, cargs, NULL);
  CALL(cuCtxSynchronize, sync_t, "after the kernel reading the peer", );
  SAY(cuLaunchKernel, "the kernel read the peer's memory", "%d", holds(b, 500, N));

  /* Copies from device 1 to device 0. */
  CUdeviceptr c = alloc_ints(N);
  CALL(cuMemcpyPeer, peer_t, "device 1 to device 0", c, c0, a, c1, N * sizeof(int));
  SAY(cuMemcpyPeer, "device 1 to device 0", "%d", holds(c, 500, N));
  MUST(((htod_t)diff_sym("cuMemcpyHtoD_v2"))(c, (int[]){0, 0, 0, 0}, 4 * sizeof(int)));
  CALL(cuMemcpyPeerAsync, peer_async_t, "device 1 to device 0", c, c0, a, c1, N * sizeof(int), NULL);
  CALL(cuStreamSynchronize, stream_sync_t, "after the async peer copy", NULL);
  SAY(cuMemcpyPeerAsync, "device 1 to device 0", "%d", holds(c, 500, N));
  /* Rows 2..5 of a 64-int-wide picture on device 1, into a 16-int-wide one on device 0. */
  CUDA_MEMCPY3D_PEER p = {.srcXInBytes = 8 * sizeof(int), .srcY = 2, .srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = a,
                          .srcContext = c1, .srcPitch = 64 * sizeof(int), .srcHeight = 16,
                          .dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = b, .dstContext = c0,
                          .dstPitch = 16 * sizeof(int), .dstHeight = 4, .WidthInBytes = 16 * sizeof(int), .Height = 4, .Depth = 2};
  CALL(cuMemcpy3DPeer, peer3d_t, "device 1 to device 0", &p);
  static int h[128];
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(h, b, sizeof h));
  int ok = 1;
  for (int z = 0; z < 2; z++)
    for (int y = 0; y < 4; y++)
      for (int x = 0; x < 16; x++) ok = ok && h[(z * 4 + y) * 16 + x] == 500 + (z * 16 + y + 2) * 64 + x + 8;
  SAY(cuMemcpy3DPeer, "device 1 to device 0", "%d", ok);
  CALL(cuCtxDisablePeerAccess, disable_peer_t, "at the end", c1);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 2) {
    fprintf(stderr, "usage: peer KERNELS.fatbin\n");
    return 2;
  }
  void *fatbin = diff_read_file(argv[1]);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  int count = 0;
  MUST(((count_t)diff_sym("cuDeviceGetCount"))(&count));
  SAY(cuDeviceGetCount, "devices", "%d", count);
  if (count < 2) return 3;
  CUcontext c0, c1;
  MUST(((retain_t)diff_sym("cuDevicePrimaryCtxRetain"))(&c0, 0));
  MUST(((retain_t)diff_sym("cuDevicePrimaryCtxRetain"))(&c1, 1));
  queries();
  access(c0, c1);
  work(fatbin, c0, c1);
  return 0;
}
