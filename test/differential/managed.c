/*
 * Differential cases of managed memory and mapped page-locked memory (docs/managed-memory.md):
 * the host and a kernel take turns on the same bytes, pointer attributes of each kind, prefetch,
 * advice and range attributes, frees, setting SYNC_MEMOPS, peer copies between contexts of one
 * device, and a module's __managed__ variables (cuLibraryGetManaged, cuModuleGetGlobal).
 *   managed KERNELS.fatbin   (test/differential/kernels.cu)
 */
#include <stdint.h>
#include <string.h>

#include "diff.h"

typedef __typeof__(&cuDeviceGetAttribute) dev_attr_t;
typedef __typeof__(&cuModuleLoadData) load_t;
typedef __typeof__(&cuModuleGetFunction) get_function_t;
typedef __typeof__(&cuLaunchKernel) launch_t;
typedef __typeof__(&cuCtxSynchronize) sync_t;
typedef __typeof__(&cuMemAllocManaged) alloc_managed_t;
typedef __typeof__(&cuMemFree_v2) free_t;
typedef __typeof__(&cuMemFreeAsync) free_async_t;
typedef __typeof__(&cuMemAlloc_v2) alloc_t;
typedef __typeof__(&cuMemHostAlloc) host_alloc_t;
typedef __typeof__(&cuMemFreeHost) free_host_t;
typedef __typeof__(&cuMemHostRegister_v2) host_register_t;
typedef __typeof__(&cuMemHostUnregister) host_unregister_t;
typedef __typeof__(&cuMemHostGetDevicePointer_v2) host_dptr_t;
typedef CUresult (*host_dptr_v1_t)(unsigned int *pdptr, void *p, unsigned int Flags);
typedef __typeof__(&cuPointerGetAttribute) get_attr_t;
typedef __typeof__(&cuPointerGetAttributes) get_attrs_t;
typedef __typeof__(&cuMemGetAddressRange_v2) range_t;
typedef CUresult (*prefetch_v1_t)(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream);
typedef CUresult (*prefetch_v2_t)(CUdeviceptr devPtr, size_t count, CUmemLocation location, unsigned int flags, CUstream hStream);
typedef CUresult (*advise_v1_t)(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device);
typedef CUresult (*advise_v2_t)(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUmemLocation location);
typedef __typeof__(&cuMemRangeGetAttribute) range_attr_t;
typedef __typeof__(&cuMemRangeGetAttributes) range_attrs_t;
typedef __typeof__(&cuMemcpyPeer) peer_t;
typedef __typeof__(&cuMemcpyPeerAsync) peer_async_t;
typedef __typeof__(&cuMemcpyDtoH_v2) dtoh_t;
typedef __typeof__(&cuStreamSynchronize) stream_sync_t;
typedef CUresult (*ctx_create_t)(CUcontext *pctx, unsigned int flags, CUdevice dev);
typedef __typeof__(&cuCtxDestroy_v2) ctx_destroy_t;
typedef __typeof__(&cuCtxSetCurrent) ctx_set_t;
typedef __typeof__(&cuStreamAttachMemAsync) attach_t;
typedef CUresult (*stream_create_t)(CUstream *phStream, unsigned int Flags);
typedef __typeof__(&cuStreamDestroy_v2) stream_destroy_t;
typedef __typeof__(&cuMemcpy3DPeer) peer3d_t;
typedef __typeof__(&cuMemcpy3DPeerAsync) peer3d_async_t;
typedef __typeof__(&cuDeviceCanAccessPeer) can_peer_t;
typedef __typeof__(&cuDeviceGetP2PAttribute) p2p_attr_t;
typedef __typeof__(&cuCtxEnablePeerAccess) enable_peer_t;
typedef __typeof__(&cuCtxDisablePeerAccess) disable_peer_t;
typedef __typeof__(&cuLibraryLoadData) lib_load_t;
typedef __typeof__(&cuLibraryUnload) lib_unload_t;
typedef __typeof__(&cuLibraryGetManaged) lib_managed_t;
typedef __typeof__(&cuLibraryGetKernel) lib_kernel_t;
typedef __typeof__(&cuModuleGetGlobal_v2) mod_global_t;

#define N 3000 /* ints: not a page multiple, several pages */

static CUfunction g_fill;

static CUresult fill(CUdeviceptr out, int base, int n) {
  void *args[] = {&out, &base, &n};
  CUresult r = ((launch_t)diff_sym("cuLaunchKernel"))(g_fill, (unsigned)(n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL);
  return r ? r : ((sync_t)diff_sym("cuCtxSynchronize"))();
}

static int g_concurrent; /* CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS */

/* What works is compared; how managed memory is kept coherent is the device's (vgpu keeps it at
 * synchronisation points only, docs/managed-memory.md), so those attributes are notes. */
static void attributes(void) {
  static const CUdevice_attribute same[] = {CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY,
                                            CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING};
  static const CUdevice_attribute device_own[] = {
      CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS,
      CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM, CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST};
  char label[48];
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
    int v = -1;
    snprintf(label, sizeof label, "attribute %d", (int)same[i]);
    CALL(cuDeviceGetAttribute, dev_attr_t, label, &v, same[i], 0);
    printf("cuDeviceGetAttribute %s: %d\n", label, v);
  }
  for (size_t i = 0; i < sizeof device_own / sizeof device_own[0]; i++) {
    int v = -1;
    CUresult r = ((dev_attr_t)diff_sym("cuDeviceGetAttribute"))(&v, device_own[i], 0);
    printf("# cuDeviceGetAttribute attribute %d: %d %d\n", (int)device_own[i], (int)r, v);
    if (device_own[i] == CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS) g_concurrent = v;
  }
}

/* A prefetch to the GPU works exactly when the device has concurrent managed access. */
static void prefetch_to_gpu(const char *fn, const char *label, CUresult r) {
  printf("%s %s: follows concurrent managed access %d\n", fn, label, g_concurrent ? r == CUDA_SUCCESS : r == CUDA_ERROR_INVALID_DEVICE);
  printf("# %s %s: %d\n", fn, label, (int)r);
}

/* The device's own view of mapped host memory (its range, mapping and access flags): a local driver
 * answers from its mapping of the host pages, vgpu from its device copy (docs/pointers.md), so for
 * host memory these are notes. */
static int device_view(CUpointer_attribute a) {
  return a == CU_POINTER_ATTRIBUTE_RANGE_START_ADDR || a == CU_POINTER_ATTRIBUTE_RANGE_SIZE ||
         a == CU_POINTER_ATTRIBUTE_ACCESS_FLAGS || a == CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR ||
         a == CU_POINTER_ATTRIBUTE_MAPPING_SIZE;
}

/* Every pointer attribute of p, one by one, printed where the value does not depend on numbering.
 * `host`: p is (mapped) host memory. */
static void pointer_attributes(const char *what, CUdeviceptr p, CUdeviceptr base, size_t size, CUcontext ctx, int host) {
  static const CUpointer_attribute k[] = {
      CU_POINTER_ATTRIBUTE_CONTEXT, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_POINTER,
      CU_POINTER_ATTRIBUTE_HOST_POINTER, CU_POINTER_ATTRIBUTE_P2P_TOKENS, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS,
      CU_POINTER_ATTRIBUTE_BUFFER_ID, CU_POINTER_ATTRIBUTE_IS_MANAGED, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
      CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
      CU_POINTER_ATTRIBUTE_RANGE_SIZE, CU_POINTER_ATTRIBUTE_MAPPED, CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES,
      CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE, CU_POINTER_ATTRIBUTE_ACCESS_FLAGS,
      CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, CU_POINTER_ATTRIBUTE_MAPPING_SIZE, CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR,
      CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID, CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE};
  const size_t n = sizeof k / sizeof k[0];
  uint8_t vals[sizeof k / sizeof k[0]][32];
  char label[96];
  for (size_t i = 0; i < n; i++) {
    memset(vals[i], 0xee, 32);
    snprintf(label, sizeof label, "%s attribute %d", what, (int)k[i]);
    if (host && device_view(k[i])) {
      printf("# cuPointerGetAttribute %s: %d\n", label, (int)((get_attr_t)diff_sym("cuPointerGetAttribute"))(vals[i], k[i], p));
      continue;
    }
    if (CALL(cuPointerGetAttribute, get_attr_t, label, vals[i], k[i], p) != CUDA_SUCCESS) continue;
    switch (k[i]) {
      case CU_POINTER_ATTRIBUTE_CONTEXT: printf("cuPointerGetAttribute %s: context is the current one %d\n", label, *(CUcontext *)vals[i] == ctx); break;
      case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      case CU_POINTER_ATTRIBUTE_HOST_POINTER: printf("cuPointerGetAttribute %s: is itself %d\n", label, *(CUdeviceptr *)vals[i] == p); break;
      case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: printf("cuPointerGetAttribute %s: is the base %d\n", label, *(CUdeviceptr *)vals[i] == base); break;
      case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: printf("cuPointerGetAttribute %s: is the size %d\n", label, *(size_t *)vals[i] == size); break;
      case CU_POINTER_ATTRIBUTE_BUFFER_ID:
      case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
      case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
      case CU_POINTER_ATTRIBUTE_P2P_TOKENS: break; /* numbering differs between drivers */
      default: printf("cuPointerGetAttribute %s: %d\n", label, *(int *)vals[i]); break;
    }
  }
  /* All at once, leaving out the P2P tokens (refused for memory the device holds). */
  void *all[sizeof k / sizeof k[0]];
  CUpointer_attribute list[sizeof k / sizeof k[0]];
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (k[i] == CU_POINTER_ATTRIBUTE_P2P_TOKENS) continue;
    list[m] = k[i];
    all[m++] = vals[i];
  }
  snprintf(label, sizeof label, "%s every attribute", what);
  if (CALL(cuPointerGetAttributes, get_attrs_t, label, (unsigned)m, list, all, p) == CUDA_SUCCESS)
    printf("cuPointerGetAttributes %s: type %u managed %d device pointer is itself %d host pointer is itself %d\n", label,
           *(unsigned *)vals[1], *(int *)vals[7], *(CUdeviceptr *)vals[2] == p, *(CUdeviceptr *)vals[3] == p);
}

static void managed(CUcontext ctx) {
  CUdeviceptr m = 0, d = 0;
  CALL(cuMemAllocManaged, alloc_managed_t, "null", NULL, 4096, CU_MEM_ATTACH_GLOBAL);
  CALL(cuMemAllocManaged, alloc_managed_t, "0 bytes", &m, 0, CU_MEM_ATTACH_GLOBAL);
  CALL(cuMemAllocManaged, alloc_managed_t, "no flags", &m, 4096, 0);
  CALL(cuMemAllocManaged, alloc_managed_t, "both flags", &m, 4096, CU_MEM_ATTACH_GLOBAL | CU_MEM_ATTACH_HOST);
  CALL(cuMemAllocManaged, alloc_managed_t, "attach single", &m, 4096, CU_MEM_ATTACH_SINGLE);
  CALL(cuMemAllocManaged, alloc_managed_t, "attach host", &m, 100, CU_MEM_ATTACH_HOST);
  CALL(cuMemFree_v2, free_t, "managed attached to the host", m);
  if (CALL(cuMemAllocManaged, alloc_managed_t, "global", &m, N * sizeof(int), CU_MEM_ATTACH_GLOBAL)) return;
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&d, N * sizeof(int)));
  int *h = (int *)(uintptr_t)m;
  int zero = 1;
  for (int i = 0; i < N; i++) zero = zero && h[i] == 0;
  SAY(cuMemAllocManaged, "starts as zeros", "%d", zero);

  /* The host writes, a kernel writes, the host reads, for three rounds. */
  for (int round = 0; round < 3; round++) {
    h[N - 1] = -1;
    int got = 0;
    CUresult r = ((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(&got, m + (N - 1) * sizeof(int), sizeof got);
    printf("cuMemcpyDtoH_v2 round %d, a host write seen by the device: %d %d\n", round, (int)r, got);
    r = fill(m, 100 * round, N);
    int good = r == CUDA_SUCCESS;
    for (int i = 0; i < N; i++) good = good && h[i] == 100 * round + i;
    printf("cuLaunchKernel round %d, the kernel's writes seen by the host: %d %d\n", round, (int)r, good);
  }
  fill(d, 7, N);
  CALL(cuMemcpyDtoD_v2, __typeof__(&cuMemcpyDtoD_v2), "device to managed", m, d, N * sizeof(int));
  SAY(cuMemcpyDtoD_v2, "the host sees it", "%d %d", h[0], h[N - 1]);

  pointer_attributes("managed", m + 40, m, N * sizeof(int), ctx, 0);
  CUdeviceptr base = 0;
  size_t size = 0;
  CALL(cuMemGetAddressRange_v2, range_t, "managed", &base, &size, m + 40);
  SAY(cuMemGetAddressRange_v2, "managed", "base %d size %d", base == m, size == N * sizeof(int));

  /* Prefetch: to the CPU works; to the GPU needs concurrent managed access, which is 0. */
  CUmemLocation host = {CU_MEM_LOCATION_TYPE_HOST, 0}, dev = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  CUmemLocation bad_dev = {CU_MEM_LOCATION_TYPE_DEVICE, 9}, bad_type = {(CUmemLocationType)77, 0};
  CALL(cuMemPrefetchAsync, prefetch_v1_t, "to the CPU", m, N * sizeof(int), CU_DEVICE_CPU, NULL);
  prefetch_to_gpu("cuMemPrefetchAsync", "to the GPU", ((prefetch_v1_t)diff_sym("cuMemPrefetchAsync"))(m, N * sizeof(int), 0, NULL));
  CALL(cuMemPrefetchAsync, prefetch_v1_t, "to a device that is not one", m, N * sizeof(int), 9, NULL);
  CALL(cuMemPrefetchAsync, prefetch_v1_t, "device memory", d, N * sizeof(int), CU_DEVICE_CPU, NULL);
  CALL(cuMemPrefetchAsync, prefetch_v1_t, "past the end", m, N * sizeof(int) + 1, CU_DEVICE_CPU, NULL);
  CALL(cuMemPrefetchAsync, prefetch_v1_t, "0 bytes", m, 0, CU_DEVICE_CPU, NULL);
  CALL(cuMemPrefetchAsync_ptsz, prefetch_v1_t, "to the CPU", m, 4096, CU_DEVICE_CPU, NULL);
  CALL(cuMemPrefetchAsync_v2, prefetch_v2_t, "to the host", m, N * sizeof(int), host, 0, NULL);
  prefetch_to_gpu("cuMemPrefetchAsync_v2", "to the GPU", ((prefetch_v2_t)diff_sym("cuMemPrefetchAsync_v2"))(m, N * sizeof(int), dev, 0, NULL));
  CALL(cuMemPrefetchAsync_v2, prefetch_v2_t, "flags", m, N * sizeof(int), host, 1, NULL);
  CALL(cuMemPrefetchAsync_v2, prefetch_v2_t, "unknown location type", m, N * sizeof(int), bad_type, 0, NULL);
  CALL(cuMemPrefetchAsync_v2_ptsz, prefetch_v2_t, "to the host", m, N * sizeof(int), host, 0, NULL);
  CALL(cuStreamSynchronize, stream_sync_t, "after the prefetches", NULL);

  /* Advice, then what the range attributes say of it. */
  CALL(cuMemAdvise, advise_v1_t, "read mostly", m, N * sizeof(int), CU_MEM_ADVISE_SET_READ_MOSTLY, 0);
  CALL(cuMemAdvise, advise_v1_t, "preferred location the CPU", m, 4096, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, CU_DEVICE_CPU);
  CALL(cuMemAdvise, advise_v1_t, "accessed by a device that is not one", m, 4096, CU_MEM_ADVISE_SET_ACCESSED_BY, 9);
  CALL(cuMemAdvise, advise_v1_t, "unknown advice", m, 4096, (CUmem_advise)0, 0);
  CALL(cuMemAdvise, advise_v1_t, "device memory", d, 4096, CU_MEM_ADVISE_SET_READ_MOSTLY, 0);
  CALL(cuMemAdvise_v2, advise_v2_t, "preferred location the device", m + 4096, 4096, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, dev);
  CALL(cuMemAdvise_v2, advise_v2_t, "accessed by the device", m, N * sizeof(int), CU_MEM_ADVISE_SET_ACCESSED_BY, dev);
  CALL(cuMemAdvise_v2, advise_v2_t, "preferred location of an unknown type", m, 4096, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, bad_type);
  CALL(cuMemAdvise_v2, advise_v2_t, "preferred location a device that is not one", m, 4096, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, bad_dev);
  int v = -7, by[3] = {-7, -7, -7};
  CUmemLocationType t = (CUmemLocationType)-7;
  const struct {
    const char *label;
    CUdeviceptr p;
    size_t n;
  } ranges[] = {{"first page", m, 4096}, {"second page", m + 4096, 4096}, {"whole", m, N * sizeof(int)}};
  for (int i = 0; i < 3; i++) {
    char label[64];
    static const CUmem_range_attribute ints[] = {
        CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION,
        CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID,
        CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID};
    for (size_t a = 0; a < sizeof ints / sizeof ints[0]; a++) {
      snprintf(label, sizeof label, "%s attribute %d", ranges[i].label, (int)ints[a]);
      if (CALL(cuMemRangeGetAttribute, range_attr_t, label, &v, 4, ints[a], ranges[i].p, ranges[i].n) == CUDA_SUCCESS)
        printf("cuMemRangeGetAttribute %s: %d\n", label, v);
    }
    static const CUmem_range_attribute types[] = {CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE,
                                                  CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE};
    for (size_t a = 0; a < 2; a++) {
      snprintf(label, sizeof label, "%s attribute %d", ranges[i].label, (int)types[a]);
      if (CALL(cuMemRangeGetAttribute, range_attr_t, label, &t, sizeof t, types[a], ranges[i].p, ranges[i].n) == CUDA_SUCCESS)
        printf("cuMemRangeGetAttribute %s: %d\n", label, (int)t);
    }
    snprintf(label, sizeof label, "%s accessed by", ranges[i].label);
    if (CALL(cuMemRangeGetAttribute, range_attr_t, label, by, sizeof by, CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY, ranges[i].p, ranges[i].n) == CUDA_SUCCESS)
      printf("cuMemRangeGetAttribute %s: %d %d %d\n", label, by[0], by[1], by[2]);
  }
  CALL(cuMemRangeGetAttribute, range_attr_t, "wrong size", &v, 8, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, m, 4096);
  CALL(cuMemRangeGetAttribute, range_attr_t, "unknown attribute", &v, 4, (CUmem_range_attribute)99, m, 4096);
  CALL(cuMemRangeGetAttribute, range_attr_t, "device memory", &v, 4, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, d, 4096);
  CALL(cuMemRangeGetAttribute, range_attr_t, "past the end", &v, 4, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, m, N * sizeof(int) + 1);
  CALL(cuMemRangeGetAttribute, range_attr_t, "null data", NULL, 4, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, m, 4096);
  {
    int rm = -7, pref = -7;
    void *data[] = {&rm, &pref};
    size_t sizes[] = {4, 4};
    CUmem_range_attribute list[] = {CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION};
    if (CALL(cuMemRangeGetAttributes, range_attrs_t, "two", data, sizes, list, 2, m, 4096) == CUDA_SUCCESS)
      printf("cuMemRangeGetAttributes two: %d %d\n", rm, pref);
    sizes[1] = 3;
    CALL(cuMemRangeGetAttributes, range_attrs_t, "one size wrong", data, sizes, list, 2, m, 4096);
    CALL(cuMemRangeGetAttributes, range_attrs_t, "none", data, sizes, list, 0, m, 4096);
  }

  /* Frees: by the exact pointer, never stream-ordered. */
  CALL(cuMemFree_v2, free_t, "inside managed memory", m + 4);
  CALL(cuMemFreeAsync, free_async_t, "managed", m, NULL);
  CALL(cuMemFree_v2, free_t, "managed", m);
  CALL(cuMemFree_v2, free_t, "managed again", m);
  CALL(cuMemFree_v2, free_t, "device", d);
}

static void mapped(CUcontext ctx) {
  void *h = NULL, *plain = NULL;
  CUdeviceptr dp = 0;
  unsigned int dp32 = 0;
  if (CALL(cuMemHostAlloc, host_alloc_t, "mapped", &h, N * sizeof(int), CU_MEMHOSTALLOC_DEVICEMAP)) return;
  MUST(((host_alloc_t)diff_sym("cuMemHostAlloc"))(&plain, 4096, 0));
  if (CALL(cuMemHostGetDevicePointer_v2, host_dptr_t, "mapped", &dp, (char *)h + 8, 0) == CUDA_SUCCESS)
    SAY(cuMemHostGetDevicePointer_v2, "mapped", "is the host pointer %d", dp == (CUdeviceptr)(uintptr_t)h + 8);
  CALL(cuMemHostGetDevicePointer_v2, host_dptr_t, "not mapped", &dp, plain, 0);
  CALL(cuMemHostGetDevicePointer_v2, host_dptr_t, "pageable", &dp, &dp, 0);
  CALL(cuMemHostGetDevicePointer_v2, host_dptr_t, "flags", &dp, h, 1);
  CALL(cuMemHostGetDevicePointer_v2, host_dptr_t, "null", NULL, h, 0);
  /* 64-bit addresses do not fit the 32-bit ABI. */
  CALL(cuMemHostGetDevicePointer, host_dptr_v1_t, "mapped, 32-bit", &dp32, h, 0);

  int *hi = h;
  for (int i = 0; i < N; i++) hi[i] = -1;
  CUresult r = fill((CUdeviceptr)(uintptr_t)h, 5, N);
  int good = r == CUDA_SUCCESS;
  for (int i = 0; i < N; i++) good = good && hi[i] == 5 + i;
  printf("cuLaunchKernel mapped, the kernel's writes seen by the host: %d %d\n", (int)r, good);
  hi[3] = 1234;
  int got = 0;
  r = ((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(&got, (CUdeviceptr)(uintptr_t)h + 12, sizeof got);
  printf("cuMemcpyDtoH_v2 mapped, a host write seen by the device: %d %d\n", (int)r, got);

  pointer_attributes("mapped", (CUdeviceptr)(uintptr_t)h + 16, (CUdeviceptr)(uintptr_t)h, N * sizeof(int), ctx, 1);
  CALL(cuMemFree_v2, free_t, "mapped host memory", (CUdeviceptr)(uintptr_t)h);
  CALL(cuMemFreeHost, free_host_t, "mapped", h);
  CALL(cuMemFreeHost, free_host_t, "plain", plain);

  /* Registered memory with a device mapping: softgpu's kernels reach only its arena, so it cannot
   * offer what vgpu does (a device copy); the result is a note. */
  static int reg[1024];
  r = ((host_register_t)diff_sym("cuMemHostRegister_v2"))(reg, sizeof reg, CU_MEMHOSTREGISTER_DEVICEMAP);
  printf("# cuMemHostRegister_v2 mapped: %d\n", (int)r);
  if (r == CUDA_SUCCESS) MUST(((host_unregister_t)diff_sym("cuMemHostUnregister"))(reg));
}

typedef __typeof__(&cuPointerSetAttribute) set_attr_t;

/* CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, the one attribute that can be set, on device memory only. */
static void sync_memops(void) {
  CUdeviceptr d = 0, m = 0;
  void *h = NULL;
  unsigned on = 1, off = 0;
  int v = -1;
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&d, 4096));
  MUST(((alloc_managed_t)diff_sym("cuMemAllocManaged"))(&m, 4096, CU_MEM_ATTACH_GLOBAL));
  MUST(((host_alloc_t)diff_sym("cuMemHostAlloc"))(&h, 4096, 0));
  CALL(cuPointerSetAttribute, set_attr_t, "device memory on", &on, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, d + 8);
  CALL(cuPointerGetAttribute, get_attr_t, "sync memops after setting it", &v, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, d);
  SAY(cuPointerSetAttribute, "device memory on", "%d", v);
  CALL(cuPointerSetAttribute, set_attr_t, "device memory off", &off, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, d);
  CALL(cuPointerGetAttribute, get_attr_t, "sync memops after clearing it", &v, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, d);
  SAY(cuPointerSetAttribute, "device memory off", "%d", v);
  CALL(cuPointerSetAttribute, set_attr_t, "managed memory on", &on, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, m);
  CALL(cuPointerGetAttribute, get_attr_t, "sync memops of managed memory", &v, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, m);
  SAY(cuPointerSetAttribute, "managed memory on", "%d", v);
  CALL(cuPointerSetAttribute, set_attr_t, "another attribute", &on, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d);
  CALL(cuPointerSetAttribute, set_attr_t, "null value", NULL, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, d);
  CALL(cuPointerSetAttribute, set_attr_t, "page-locked host memory", &on, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, (CUdeviceptr)(uintptr_t)h);
  CALL(cuPointerSetAttribute, set_attr_t, "pageable host memory", &on, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, (CUdeviceptr)(uintptr_t)&v);
  CALL(cuPointerSetAttribute, set_attr_t, "null", &on, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, 0);
  MUST(((free_t)diff_sym("cuMemFree_v2"))(d));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(m));
  MUST(((free_host_t)diff_sym("cuMemFreeHost"))(h));
}

/* Peer copies between two contexts of device 0. */
static void peer(CUcontext ctx) {
  CUdeviceptr a = 0, b = 0;
  CUcontext other;
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&a, N * sizeof(int)));
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&b, N * sizeof(int)));
  MUST(((ctx_create_t)diff_sym("cuCtxCreate_v2"))(&other, 0, 0));
  MUST(((ctx_set_t)diff_sym("cuCtxSetCurrent"))(ctx));
  fill(a, 11, N);
  CALL(cuMemcpyPeer, peer_t, "same context", b, ctx, a, ctx, N * sizeof(int));
  CALL(cuMemcpyPeer, peer_t, "two contexts of one device", b, other, a, ctx, N * sizeof(int));
  CALL(cuMemcpyPeer, peer_t, "null context", b, NULL, a, ctx, N * sizeof(int));
  CALL(cuMemcpyPeer, peer_t, "past the end", b, ctx, a, ctx, N * sizeof(int) + 4096);
  CALL(cuMemcpyPeer_ptds, peer_t, "same context", b, ctx, a, ctx, N * sizeof(int));
  CALL(cuMemcpyPeerAsync, peer_async_t, "same context", b, ctx, a, ctx, N * sizeof(int), NULL);
  CALL(cuMemcpyPeerAsync, peer_async_t, "null context", b, ctx, a, NULL, N * sizeof(int), NULL);
  CALL(cuMemcpyPeerAsync_ptsz, peer_async_t, "same context", b, ctx, a, ctx, N * sizeof(int), NULL);
  CALL(cuStreamSynchronize, stream_sync_t, "after the peer copies", NULL);
  int last = 0;
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(&last, b + (N - 1) * sizeof(int), sizeof last));
  SAY(cuMemcpyPeer, "the bytes arrived", "%d", last);

  /* 3D: a box of 10 x 6 x 3 ints out of a 20 x 8 x 4 volume in a, to the start of b. */
  fill(a, 100, N);
  CUDA_MEMCPY3D_PEER p3 = {.srcXInBytes = 2 * sizeof(int), .srcY = 1, .srcZ = 1, .srcMemoryType = CU_MEMORYTYPE_DEVICE,
                           .srcDevice = a, .srcContext = ctx, .srcPitch = 20 * sizeof(int), .srcHeight = 8,
                           .dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = b, .dstContext = other,
                           .dstPitch = 10 * sizeof(int), .dstHeight = 6, .WidthInBytes = 10 * sizeof(int), .Height = 6, .Depth = 3};
  CALL(cuMemcpy3DPeer, peer3d_t, "two contexts of one device", &p3);
  int box[180];
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(box, b, sizeof box));
  int ok3 = 1;
  for (int z = 0; z < 3; z++)
    for (int y = 0; y < 6; y++)
      for (int x = 0; x < 10; x++) ok3 = ok3 && box[(z * 6 + y) * 10 + x] == 100 + ((z + 1) * 8 + y + 1) * 20 + x + 2;
  SAY(cuMemcpy3DPeer, "the box arrived", "%d", ok3);
  CALL(cuMemcpy3DPeer_ptds, peer3d_t, "same context", &p3);
  CALL(cuMemcpy3DPeerAsync, peer3d_async_t, "two contexts of one device", &p3, NULL);
  CALL(cuMemcpy3DPeerAsync_ptsz, peer3d_async_t, "two contexts of one device", &p3, NULL);
  CALL(cuStreamSynchronize, stream_sync_t, "after the 3D peer copies", NULL);
  CALL(cuMemcpy3DPeer, peer3d_t, "null descriptor", NULL);
  CUDA_MEMCPY3D_PEER bad = p3;
  bad.srcContext = NULL;
  CALL(cuMemcpy3DPeer, peer3d_t, "null source context", &bad);
  bad = p3;
  bad.Depth = 40; /* past the end of a */
  CALL(cuMemcpy3DPeer, peer3d_t, "past the end", &bad);
  int hostbox[180];
  bad = p3;
  bad.dstMemoryType = CU_MEMORYTYPE_HOST, bad.dstHost = hostbox, bad.dstContext = NULL;
  CALL(cuMemcpy3DPeer, peer3d_t, "to host memory, no context", &bad);
  SAY(cuMemcpy3DPeer, "to host memory: the box", "%d", memcmp(hostbox, box, sizeof box) == 0);

  /* One device: it is not its own peer. */
  int can = -1, v = -1;
  CALL(cuDeviceCanAccessPeer, can_peer_t, "a device and itself", &can, 0, 0);
  SAY(cuDeviceCanAccessPeer, "a device and itself", "%d", can);
  CALL(cuDeviceCanAccessPeer, can_peer_t, "a bad peer device", &can, 0, 99);
  CALL(cuDeviceCanAccessPeer, can_peer_t, "null result", NULL, 0, 0);
  CALL(cuDeviceGetP2PAttribute, p2p_attr_t, "a device and itself", &v, CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED, 0, 0);
  CALL(cuDeviceGetP2PAttribute, p2p_attr_t, "a bad device", &v, CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED, 0, 99);
  CALL(cuCtxEnablePeerAccess, enable_peer_t, "a context of the same device", other, 0);
  CALL(cuCtxDisablePeerAccess, disable_peer_t, "a context of the same device", other);
  MUST(((ctx_destroy_t)diff_sym("cuCtxDestroy_v2"))(other));
  MUST(((ctx_set_t)diff_sym("cuCtxSetCurrent"))(ctx));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(a));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(b));
}

/* cuStreamAttachMemAsync: checked like the driver; memory attached to a stream, or to the host,
 * still agrees with the device at every launch and synchronisation. */
static void attach(void) {
  CUdeviceptr m = 0, d = 0;
  CUstream s, gone;
  MUST(((alloc_managed_t)diff_sym("cuMemAllocManaged"))(&m, N * sizeof(int), CU_MEM_ATTACH_GLOBAL));
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&d, N * sizeof(int)));
  MUST(((stream_create_t)diff_sym("cuStreamCreate"))(&s, CU_STREAM_NON_BLOCKING));
  MUST(((stream_create_t)diff_sym("cuStreamCreate"))(&gone, 0));
  MUST(((stream_destroy_t)diff_sym("cuStreamDestroy_v2"))(gone));
  CALL(cuStreamAttachMemAsync, attach_t, "single, whole", s, m, 0, CU_MEM_ATTACH_SINGLE);
  CALL(cuStreamAttachMemAsync, attach_t, "host, by its size", s, m, N * sizeof(int), CU_MEM_ATTACH_HOST);
  CALL(cuStreamAttachMemAsync, attach_t, "global, null stream", NULL, m, 0, CU_MEM_ATTACH_GLOBAL);
  CALL(cuStreamAttachMemAsync_ptsz, attach_t, "single, per-thread stream", CU_STREAM_PER_THREAD, m, 0, CU_MEM_ATTACH_SINGLE);
  CALL(cuStreamAttachMemAsync, attach_t, "part of the allocation", s, m, 4096, CU_MEM_ATTACH_SINGLE);
  CALL(cuStreamAttachMemAsync, attach_t, "inside the allocation", s, m + 4096, 0, CU_MEM_ATTACH_SINGLE);
  CALL(cuStreamAttachMemAsync, attach_t, "no flags", s, m, 0, 0);
  CALL(cuStreamAttachMemAsync, attach_t, "two flags", s, m, 0, CU_MEM_ATTACH_GLOBAL | CU_MEM_ATTACH_HOST);
  CALL(cuStreamAttachMemAsync, attach_t, "device memory", s, d, 0, CU_MEM_ATTACH_SINGLE);
  CALL(cuStreamAttachMemAsync, attach_t, "a destroyed stream", gone, m, 0, CU_MEM_ATTACH_SINGLE);
  /* Attached to s: the host's writes reach s's kernel, and its results come back at s's sync. */
  MUST(((attach_t)diff_sym("cuStreamAttachMemAsync"))(s, m, 0, CU_MEM_ATTACH_SINGLE));
  int *h = (int *)(uintptr_t)m, good = 1;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) h[i] = -i;
    int base = 7 * round, n = N;
    void *args[] = {&m, &base, &n};
    CUresult r = ((launch_t)diff_sym("cuLaunchKernel"))(g_fill, (N + 255) / 256, 1, 1, 256, 1, 1, 0, s, args, NULL);
    if (!r) r = ((stream_sync_t)diff_sym("cuStreamSynchronize"))(s);
    good = good && r == CUDA_SUCCESS && h[0] == base && h[N - 1] == base + N - 1;
  }
  SAY(cuStreamAttachMemAsync, "three rounds on the attached stream", "%d", good);
  MUST(((stream_destroy_t)diff_sym("cuStreamDestroy_v2"))(s));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(m));
  MUST(((free_t)diff_sym("cuMemFree_v2"))(d));
}

#define MV_N 3000 /* managed_table's length (kernels.cu) */

/* Host rounds on a module's __managed__ variables: the host writes, a kernel adds, the host reads
 * after synchronising. Prints whether every round came back right. */
static void managed_var_rounds(const char *how, CUfunction bump, int *counter, int *table) {
  int good = 1, want = *counter;
  for (int round = 1; round <= 4; round++) {
    for (int i = 0; i < MV_N; i++) table[i] = round * 10000 + i;
    *counter += 1000;
    want += 1000 + 1;
    int n = MV_N;
    void *args[] = {&n};
    CUresult r = ((launch_t)diff_sym("cuLaunchKernel"))(bump, (MV_N + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL);
    if (!r) r = ((sync_t)diff_sym("cuCtxSynchronize"))();
    good = good && r == CUDA_SUCCESS && *counter == want;
    for (int i = 0; i < MV_N; i++) good = good && table[i] == round * 10000 + 2 * i;
  }
  printf("managed variables %s: four rounds %s\n", how, good ? "agree" : "DISAGREE");
}

static void managed_vars(const void *fatbin, CUmodule mod) {
  CUlibrary lib;
  MUST(((lib_load_t)diff_sym("cuLibraryLoadData"))(&lib, fatbin, NULL, NULL, 0, NULL, NULL, 0));
  CUdeviceptr c = 0, t = 0, x = 0;
  size_t cb = 0, tb = 0, xb = 0;
  CALL(cuLibraryGetManaged, lib_managed_t, "a scalar", &c, &cb, lib, "managed_counter");
  CALL(cuLibraryGetManaged, lib_managed_t, "an array", &t, &tb, lib, "managed_table");
  SAY(cuLibraryGetManaged, "sizes", "%zu %zu", cb, tb);
  CALL(cuLibraryGetManaged, lib_managed_t, "no bytes asked for", &x, NULL, lib, "managed_counter");
  SAY(cuLibraryGetManaged, "the same address again", "%d", x == c);
  CALL(cuLibraryGetManaged, lib_managed_t, "a __device__ variable", &x, &xb, lib, "table");
  CALL(cuLibraryGetManaged, lib_managed_t, "no such name", &x, &xb, lib, "no_such_variable");
  CALL(cuLibraryGetManaged, lib_managed_t, "null name", &x, &xb, lib, NULL);
  CALL(cuLibraryGetManaged, lib_managed_t, "null library", &x, &xb, NULL, "managed_counter");
  if (!c || !t) return;
  int *counter = (int *)(uintptr_t)c, *table = (int *)(uintptr_t)t;
  SAY(cuLibraryGetManaged, "the initial value, read by the host", "%d", *counter);
  int managed = -1;
  CALL(cuPointerGetAttribute, get_attr_t, "a managed variable", &managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, c);
  SAY(cuPointerGetAttribute, "a managed variable is managed", "%d", managed);
  CALL(cuMemFree_v2, free_t, "a managed variable", t);
  CUkernel k;
  MUST(((lib_kernel_t)diff_sym("cuLibraryGetKernel"))(&k, lib, "managed_bump"));
  managed_var_rounds("of a library", (CUfunction)k, counter, table);
  /* Looked up again while a kernel has changed it, before the synchronisation that reads it back:
   * the kernel's write still arrives. */
  {
    int before = *counter, n = MV_N;
    void *args[] = {&n};
    MUST(((launch_t)diff_sym("cuLaunchKernel"))((CUfunction)k, (MV_N + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CALL(cuLibraryGetManaged, lib_managed_t, "again after a launch", &x, &xb, lib, "managed_counter");
    MUST(((sync_t)diff_sym("cuCtxSynchronize"))());
    SAY(cuLibraryGetManaged, "the kernel's write after a second lookup", "%d", *counter == before + 1);
  }

  /* The module loaded by cuModuleLoadData has variables of its own. */
  CUdeviceptr mc = 0, mt = 0;
  size_t mcb = 0;
  CALL(cuModuleGetGlobal_v2, mod_global_t, "a managed variable", &mc, &mcb, mod, "managed_counter");
  CALL(cuModuleGetGlobal_v2, mod_global_t, "a managed array", &mt, NULL, mod, "managed_table");
  SAY(cuModuleGetGlobal_v2, "a module's own copy", "%d %zu", mc != c && mc != 0, mcb);
  CUfunction mbump;
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&mbump, mod, "managed_bump"));
  if (mc && mt) {
    SAY(cuModuleGetGlobal_v2, "the initial value, read by the host", "%d", *(int *)(uintptr_t)mc);
    managed_var_rounds("of a module", mbump, (int *)(uintptr_t)mc, (int *)(uintptr_t)mt);
  }
  CALL(cuLibraryUnload, lib_unload_t, "with managed variables", lib);
  /* Work after the library went keeps the module's variables coherent. */
  if (mc && mt) managed_var_rounds("of a module, after the library was unloaded", mbump, (int *)(uintptr_t)mc, (int *)(uintptr_t)mt);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 2) {
    fprintf(stderr, "usage: managed KERNELS.fatbin\n");
    return 2;
  }
  void *fatbin = diff_read_file(argv[1]);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  attributes();
  CUcontext ctx;
  MUST(((__typeof__(&cuDevicePrimaryCtxRetain))diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, 0));
  MUST(((ctx_set_t)diff_sym("cuCtxSetCurrent"))(ctx));
  CUmodule mod;
  MUST(((load_t)diff_sym("cuModuleLoadData"))(&mod, fatbin));
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&g_fill, mod, "fill"));
  managed(ctx);
  mapped(ctx);
  sync_memops();
  peer(ctx);
  managed_vars(fatbin, mod);
  attach();
  return 0;
}
