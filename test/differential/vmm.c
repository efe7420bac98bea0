/*
 * Differential cases (docs/testing.md): virtual memory management. A reservation, physical
 * allocations mapped into it side by side, access granted, the mapping used by copies, memsets and
 * a kernel (across the boundary of two mappings), pointer attributes of the mapping, retained
 * handles, and the errors of each call: misaligned sizes and addresses, mappings outside any
 * reservation or over one another, unknown handles, partial unmaps, access never granted.
 *   vmm KERNELS.fatbin   (test/differential/kernels.cu)
 */
#include <stdint.h>
#include <string.h>

#include "diff.h"

typedef __typeof__(&cuMemAddressReserve) reserve_t;
typedef __typeof__(&cuMemAddressFree) addr_free_t;
typedef __typeof__(&cuMemCreate) create_t;
typedef __typeof__(&cuMemRelease) release_t;
typedef __typeof__(&cuMemMap) map_t;
typedef __typeof__(&cuMemUnmap) unmap_t;
typedef __typeof__(&cuMemSetAccess) set_access_t;
typedef __typeof__(&cuMemGetAccess) get_access_t;
typedef __typeof__(&cuMemGetAllocationGranularity) granularity_t;
typedef __typeof__(&cuMemGetAllocationPropertiesFromHandle) props_t;
typedef __typeof__(&cuMemRetainAllocationHandle) retain_t;
typedef __typeof__(&cuMemcpyHtoD_v2) htod_t;
typedef __typeof__(&cuMemcpyDtoH_v2) dtoh_t;
typedef __typeof__(&cuMemsetD32_v2) memset32_t;
typedef __typeof__(&cuPointerGetAttribute) ptr_attr_t;
typedef __typeof__(&cuMemGetAddressRange_v2) range_t;
typedef __typeof__(&cuMemFree_v2) free_t;
typedef __typeof__(&cuModuleLoadData) load_t;
typedef __typeof__(&cuModuleGetFunction) get_function_t;
typedef __typeof__(&cuLaunchKernel) launch_t;
typedef __typeof__(&cuCtxSynchronize) sync_t;
typedef __typeof__(&cuDeviceGetAttribute) dev_attr_t;

static CUmemAllocationProp device_prop(int dev) {
  CUmemAllocationProp p;
  memset(&p, 0, sizeof p);
  p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  p.location.id = dev;
  return p;
}

static size_t granularity(void) {
  CUmemAllocationProp p = device_prop(0);
  size_t g = 0, rec = 0;
  CALL(cuMemGetAllocationGranularity, granularity_t, "minimum", &g, &p, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  CALL(cuMemGetAllocationGranularity, granularity_t, "recommended", &rec, &p, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED);
  printf("# granularity %zu, recommended %zu\n", g, rec);
  SAY(cuMemGetAllocationGranularity, "recommended is a multiple of minimum", "%d", g && rec % g == 0);
  CALL(cuMemGetAllocationGranularity, granularity_t, "null granularity", NULL, &p, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  CALL(cuMemGetAllocationGranularity, granularity_t, "null prop", &g, NULL, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  CUmemAllocationProp bad = device_prop(99);
  CALL(cuMemGetAllocationGranularity, granularity_t, "bad device", &rec, &bad, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  bad = device_prop(0);
  bad.type = CU_MEM_ALLOCATION_TYPE_INVALID;
  CALL(cuMemGetAllocationGranularity, granularity_t, "invalid type", &rec, &bad, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  return g;
}

static void create_release(size_t g) {
  CUmemAllocationProp p = device_prop(0);
  CUmemGenericAllocationHandle h = 0;
  CALL(cuMemCreate, create_t, "null handle", NULL, g, &p, 0);
  CALL(cuMemCreate, create_t, "null prop", &h, g, NULL, 0);
  CALL(cuMemCreate, create_t, "zero size", &h, 0, &p, 0);
  CALL(cuMemCreate, create_t, "misaligned size", &h, g + g / 2, &p, 0);
  CALL(cuMemCreate, create_t, "flags", &h, g, &p, 1);
  CUmemAllocationProp bad = device_prop(99);
  CALL(cuMemCreate, create_t, "bad device", &h, g, &bad, 0);
  if (CALL(cuMemCreate, create_t, "two granules", &h, 2 * g, &p, 0) == CUDA_SUCCESS) {
    CUmemAllocationProp got;
    memset(&got, 0xff, sizeof got);
    CALL(cuMemGetAllocationPropertiesFromHandle, props_t, "live handle", &got, h);
    SAY(cuMemGetAllocationPropertiesFromHandle, "type location", "%d %d %d", (int)got.type, (int)got.location.type,
        got.location.id);
    SAY(cuMemGetAllocationPropertiesFromHandle, "handle types", "%d", (int)got.requestedHandleTypes);
    CALL(cuMemGetAllocationPropertiesFromHandle, props_t, "null prop", NULL, h);
    CALL(cuMemRelease, release_t, "live handle", h);
    /* Not mapped and released: the handle is gone. */
    CALL(cuMemGetAllocationPropertiesFromHandle, props_t, "released handle", &got, h);
  }
  CALL(cuMemRelease, release_t, "released handle", h);
  /* PyTorch's expandable segments ask for a file descriptor handle on every allocation. */
  CUmemAllocationProp fd = device_prop(0);
  fd.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  if (CALL(cuMemCreate, create_t, "file descriptor handle type", &h, g, &fd, 0) == CUDA_SUCCESS) {
    CUmemAllocationProp got;
    memset(&got, 0, sizeof got);
    CALL(cuMemGetAllocationPropertiesFromHandle, props_t, "file descriptor handle type", &got, h);
    SAY(cuMemGetAllocationPropertiesFromHandle, "file descriptor handle type", "%d", (int)got.requestedHandleTypes);
    CALL(cuMemRelease, release_t, "file descriptor handle type", h);
  }
}

static void reserve_free(size_t g) {
  CUdeviceptr va = 0;
  CALL(cuMemAddressReserve, reserve_t, "null ptr", NULL, g, 0, 0, 0);
  CALL(cuMemAddressReserve, reserve_t, "zero size", &va, 0, 0, 0, 0);
  CALL(cuMemAddressReserve, reserve_t, "flags", &va, g, 0, 0, 1);
  CALL(cuMemAddressReserve, reserve_t, "alignment not a power of two", &va, g, 3 * g, 0, 0);
  if (CALL(cuMemAddressReserve, reserve_t, "aligned 4 granules", &va, 2 * g, 4 * g, 0, 0) == CUDA_SUCCESS) {
    SAY(cuMemAddressReserve, "alignment honoured", "%d", va % (4 * g) == 0);
    CALL(cuMemAddressFree, addr_free_t, "wrong size", va, g);
    CALL(cuMemAddressFree, addr_free_t, "interior address", va + g, g);
    /* A reservation is not an allocation. */
    CALL(cuMemFree_v2, free_t, "reservation", va);
    CALL(cuMemAddressFree, addr_free_t, "whole reservation", va, 2 * g);
    CALL(cuMemAddressFree, addr_free_t, "freed reservation", va, 2 * g);
  }
}

static int check_ints(const int *v, size_t n, int base) {
  for (size_t i = 0; i < n; i++)
    if (v[i] != base + (int)i) return 0;
  return 1;
}

static void mapping(size_t g, CUfunction fill) {
  CUmemAllocationProp p = device_prop(0);
  CUdeviceptr va = 0, other = 0;
  CUmemGenericAllocationHandle h0 = 0, h1 = 0;
  MUST(((reserve_t)diff_sym("cuMemAddressReserve"))(&va, 4 * g, 0, 0, 0));
  MUST(((reserve_t)diff_sym("cuMemAddressReserve"))(&other, g, 0, 0, 0));
  MUST(((create_t)diff_sym("cuMemCreate"))(&h0, g, &p, 0));
  MUST(((create_t)diff_sym("cuMemCreate"))(&h1, g, &p, 0));

  /* Errors before anything is mapped. */
  CALL(cuMemMap, map_t, "misaligned address", va + g / 2, g, 0, h0, 0);
  CALL(cuMemMap, map_t, "misaligned size", va, g / 2, 0, h0, 0);
  CALL(cuMemMap, map_t, "zero size", va, 0, 0, h0, 0);
  CALL(cuMemMap, map_t, "larger than the allocation", va, 2 * g, 0, h0, 0);
  CALL(cuMemMap, map_t, "offset past the allocation", va, g, g, h0, 0);
  CALL(cuMemMap, map_t, "flags", va, g, 0, h0, 1);
  CALL(cuMemMap, map_t, "past the reservation", other, 2 * g, 0, h0, 0);
  CALL(cuMemMap, map_t, "unknown handle", va, g, 0, (CUmemGenericAllocationHandle)0x5a5a5a5a, 0);
  CALL(cuMemUnmap, unmap_t, "nothing mapped", va, g);
  CUmemAccessDesc rw = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  CALL(cuMemSetAccess, set_access_t, "nothing mapped", va, g, &rw, 1);

  /* Two allocations side by side in the middle of the reservation. */
  CUdeviceptr m = va + g;
  CALL(cuMemMap, map_t, "first", m, g, 0, h0, 0);
  CALL(cuMemMap, map_t, "second", m + g, g, 0, h1, 0);
  CALL(cuMemMap, map_t, "over a mapping", m, g, 0, h1, 0);
  CALL(cuMemMap, map_t, "overlapping the end", va, 2 * g, 0, h1, 0);

  unsigned long long flags = 99;
  CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  CALL(cuMemGetAccess, get_access_t, "mapped, no access yet", &flags, &loc, m);
  SAY(cuMemGetAccess, "mapped, no access yet", "%llu", flags);
  CALL(cuMemGetAccess, get_access_t, "null flags", NULL, &loc, m);
  CALL(cuMemGetAccess, get_access_t, "null location", &flags, NULL, m);
  CALL(cuMemGetAccess, get_access_t, "unmapped address", &flags, &loc, va);
  int host[64];
  memset(host, 0, sizeof host);
  CALL(cuMemcpyHtoD_v2, htod_t, "mapped, no access", m, host, sizeof host);

  CUmemAccessDesc bad = {{CU_MEM_LOCATION_TYPE_DEVICE, 99}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  CALL(cuMemSetAccess, set_access_t, "bad device", m, 2 * g, &bad, 1);
  bad = rw;
  bad.flags = (CUmemAccess_flags)2;
  CALL(cuMemSetAccess, set_access_t, "bad flags", m, 2 * g, &bad, 1);
  CALL(cuMemSetAccess, set_access_t, "null desc", m, 2 * g, NULL, 1);
  CALL(cuMemSetAccess, set_access_t, "zero count", m, 2 * g, &rw, 0);
  CALL(cuMemSetAccess, set_access_t, "past the mappings", m, 3 * g, &rw, 1);
  CALL(cuMemSetAccess, set_access_t, "both mappings", m, 2 * g, &rw, 1);
  CALL(cuMemGetAccess, get_access_t, "read-write", &flags, &loc, m + g + 4096);
  SAY(cuMemGetAccess, "read-write", "%llu", flags);

  /* Copies, memsets and a kernel across the boundary between the two mappings. */
  enum { N = 4096 };
  static int out[N];
  CUdeviceptr span = m + g - N * sizeof(int) / 2;
  for (int i = 0; i < N; i++) out[i] = 1000 + i;
  CALL(cuMemcpyHtoD_v2, htod_t, "across two mappings", span, out, sizeof out);
  memset(out, 0, sizeof out);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "across two mappings", out, span, sizeof out);
  SAY(cuMemcpyDtoH_v2, "across two mappings", "%d", check_ints(out, N, 1000));
  CALL(cuMemcpyHtoD_v2, htod_t, "past the last mapping", m + 2 * g - 64, out, 128);
  CALL(cuMemsetD32_v2, memset32_t, "whole mapping", m, 7, g / 4);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "after memset", out, m + g - 8, 16);
  SAY(cuMemcpyDtoH_v2, "after memset", "%d %d %d %d", out[0], out[1], out[2], out[3]);
  int n = N, base = 5;
  void *args[] = {&span, &base, &n};
  CALL(cuLaunchKernel, launch_t, "fill across two mappings", fill, N / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL);
  CALL(cuCtxSynchronize, sync_t, "after fill", );
  memset(out, 0, sizeof out);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "after fill", out, span, sizeof out);
  SAY(cuMemcpyDtoH_v2, "after fill", "%d", check_ints(out, N, 5));

  /* What the mapping is. */
  unsigned type = 0;
  CUdeviceptr start = 0;
  size_t size = 0;
  CALL(cuPointerGetAttribute, ptr_attr_t, "mapping memory type", &type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, span);
  SAY(cuPointerGetAttribute, "mapping memory type", "%u", type);
  CALL(cuPointerGetAttribute, ptr_attr_t, "mapping range start", &start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, m + 100);
  SAY(cuPointerGetAttribute, "mapping range start", "%d", start == m);
  CALL(cuPointerGetAttribute, ptr_attr_t, "mapping range size", &size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, m + g + 100);
  SAY(cuPointerGetAttribute, "mapping range size", "%d", size == g);
  CALL(cuMemGetAddressRange_v2, range_t, "mapping", &start, &size, m + g + 8);
  SAY(cuMemGetAddressRange_v2, "mapping", "%d %d", start == m + g, size == g);
  CALL(cuMemFree_v2, free_t, "mapping", m);

  /* Retained handles: the same handle, one more reference. */
  CUmemGenericAllocationHandle r = 0;
  CALL(cuMemRetainAllocationHandle, retain_t, "interior address", &r, (void *)(uintptr_t)(m + g + 12345));
  SAY(cuMemRetainAllocationHandle, "interior address", "%d", r == h1);
  CALL(cuMemRetainAllocationHandle, retain_t, "unmapped address", &r, (void *)(uintptr_t)va);
  CALL(cuMemRetainAllocationHandle, retain_t, "null handle", NULL, (void *)(uintptr_t)m);
  CALL(cuMemRelease, release_t, "retained", h1);
  /* Released while mapped: the memory stays until it is unmapped. */
  CALL(cuMemRelease, release_t, "mapped handle", h1);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "released but mapped", out, m + g, 16);
  SAY(cuMemcpyDtoH_v2, "released but mapped", "%d", out[0]);
  CALL(cuMemRetainAllocationHandle, retain_t, "released but mapped", &r, (void *)(uintptr_t)(m + g));
  SAY(cuMemRetainAllocationHandle, "released but mapped", "%d", r == h1);
  CALL(cuMemRelease, release_t, "retained again", r);

  /* Unmapping: whole mappings only. */
  CALL(cuMemUnmap, unmap_t, "part of a mapping", m, g / 2);
  CALL(cuMemUnmap, unmap_t, "past the mappings", m, 3 * g);
  CALL(cuMemUnmap, unmap_t, "both mappings", m, 2 * g);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "unmapped", out, m, 16);
  CALL(cuPointerGetAttribute, ptr_attr_t, "unmapped memory type", &type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, m);
  CALL(cuMemUnmap, unmap_t, "again", m, 2 * g);

  /* Mapped again: the same bytes, fresh access. */
  CALL(cuMemMap, map_t, "again", va, g, 0, h0, 0);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "mapped again, no access", out, va, 16);
  CALL(cuMemSetAccess, set_access_t, "mapped again", va, g, &rw, 1);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "mapped again", out, va + g - 8, 8);
  SAY(cuMemcpyDtoH_v2, "mapped again", "%d %d", out[0], out[1]);
  CALL(cuMemRelease, release_t, "mapped again", h0);
  CALL(cuMemUnmap, unmap_t, "last mapping", va, g);
  CALL(cuMemRelease, release_t, "released and unmapped", h0);
  CALL(cuMemAddressFree, addr_free_t, "used reservation", va, 4 * g);
  CALL(cuMemAddressFree, addr_free_t, "other reservation", other, g);
  CALL(cuMemMap, map_t, "freed reservation", va, g, 0, h0, 0);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 2) {
    fprintf(stderr, "usage: vmm KERNELS.fatbin\n");
    return 2;
  }
  void *fatbin = diff_read_file(argv[1]);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  int vmm = 0;
  CALL(cuDeviceGetAttribute, dev_attr_t, "virtual memory management", &vmm,
       CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0);
  SAY(cuDeviceGetAttribute, "virtual memory management", "%d", vmm);
  CUcontext ctx;
  MUST(((__typeof__(&cuDevicePrimaryCtxRetain))diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, 0));
  MUST(((__typeof__(&cuCtxSetCurrent))diff_sym("cuCtxSetCurrent"))(ctx));
  CUmodule mod;
  CUfunction fill;
  MUST(((load_t)diff_sym("cuModuleLoadData"))(&mod, fatbin));
  MUST(((get_function_t)diff_sym("cuModuleGetFunction"))(&fill, mod, "fill"));
  size_t g = granularity();
  if (!g) return 4;
  create_release(g);
  reserve_free(g);
  mapping(g, fill);
  return 0;
}
