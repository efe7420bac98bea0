/* Virtual memory management: the arena mechanics under the API (vmm.c, sg_mem.c): reservations
 * beyond the device memory, two mappings of one allocation sharing bytes, physical memory counted
 * as used and zeroed before reuse, and the capacity shared with cuMemAlloc. */
#include <stdlib.h>
#include <string.h>

#include "sg_test_cu.h"

#define G ((size_t)2 << 20)

static CUmemAllocationProp prop0(void) {
  CUmemAllocationProp p;
  memset(&p, 0, sizeof p);
  p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  return p;
}

static void grant(CUdeviceptr va, size_t n) {
  CUmemAccessDesc rw = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  ASSERT_CU_OK(cuMemSetAccess(va, n, &rw, 1));
}

TEST(vmm_reservations_exceed_memory) {
  setenv("VGPU_SOFTGPU_MEMORY", "64M", 1);
  sg_test_setup();
  CUdeviceptr a, b;
  /* As llama.cpp's pool does: far more address space than the device has memory. */
  ASSERT_CU_OK(cuMemAddressReserve(&a, (size_t)32 << 30, 0, 0, 0));
  ASSERT_CU_OK(cuMemAddressReserve(&b, (size_t)16 << 30, 0, 0, 0));
  ASSERT_EQ(a % G, 0);
  size_t f, t;
  ASSERT_CU_OK(cuMemGetInfo(&f, &t));
  ASSERT_EQ(f, t); /* address space is not memory */
  ASSERT_CU_OK(cuMemAddressFree(a, (size_t)32 << 30));
  ASSERT_CU_OK(cuMemAddressFree(b, (size_t)16 << 30));
  ASSERT_CU(cuMemAddressReserve(&a, (size_t)1 << 50, 0, 0, 0), CUDA_ERROR_OUT_OF_MEMORY);
}

TEST(vmm_two_mappings_share_bytes) {
  sg_test_setup();
  CUmemAllocationProp p = prop0();
  CUmemGenericAllocationHandle h;
  CUdeviceptr a, b;
  ASSERT_CU_OK(cuMemCreate(&h, G, &p, 0));
  ASSERT_CU_OK(cuMemAddressReserve(&a, G, 0, 0, 0));
  ASSERT_CU_OK(cuMemAddressReserve(&b, G, 0, 0, 0));
  ASSERT_CU_OK(cuMemMap(a, G, 0, h, 0));
  ASSERT_CU_OK(cuMemMap(b, G, 0, h, 0));
  grant(a, G);
  grant(b, G);
  unsigned v = 0;
  ASSERT_CU_OK(cuMemsetD32(a + 4096, 0xabcd1234u, 1));
  ASSERT_CU_OK(cuMemcpyDtoH(&v, b + 4096, 4));
  ASSERT_EQ(v, 0xabcd1234u);
  ASSERT_CU_OK(cuMemUnmap(a, G));
  ASSERT_CU(cuMemcpyDtoH(&v, a + 4096, 4), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuMemRelease(h));
  /* Still mapped at b: the bytes live on. */
  v = 0;
  ASSERT_CU_OK(cuMemcpyDtoH(&v, b + 4096, 4));
  ASSERT_EQ(v, 0xabcd1234u);
  ASSERT_CU_OK(cuMemUnmap(b, G));
  ASSERT_CU_OK(cuMemAddressFree(a, G));
  ASSERT_CU_OK(cuMemAddressFree(b, G));
}

TEST(vmm_physical_memory_counts_and_is_zeroed) {
  setenv("VGPU_SOFTGPU_MEMORY", "8M", 1);
  sg_test_setup();
  CUmemAllocationProp p = prop0();
  CUmemGenericAllocationHandle h, h2;
  CUdeviceptr va, d;
  size_t f0, f, t;
  ASSERT_CU_OK(cuMemGetInfo(&f0, &t));
  ASSERT_CU_OK(cuMemCreate(&h, 2 * G, &p, 0));
  ASSERT_CU_OK(cuMemGetInfo(&f, &t));
  ASSERT_EQ(f0 - f, 2 * G);
  /* 4 MiB of 8 are physical now: the arena's allocations and cuMemCreate share the rest. */
  ASSERT_CU(cuMemCreate(&h2, 4 * G, &p, 0), CUDA_ERROR_OUT_OF_MEMORY);
  ASSERT_CU_OK(cuMemAlloc(&d, 3 << 20));
  ASSERT_CU(cuMemCreate(&h2, G, &p, 0), CUDA_ERROR_OUT_OF_MEMORY);
  ASSERT_CU_OK(cuMemFree(d));
  ASSERT_CU_OK(cuMemAddressReserve(&va, 2 * G, 0, 0, 0));
  ASSERT_CU_OK(cuMemMap(va, 2 * G, 0, h, 0));
  grant(va, 2 * G);
  ASSERT_CU_OK(cuMemsetD8(va, 0x77, 2 * G));
  ASSERT_CU_OK(cuMemUnmap(va, 2 * G));
  ASSERT_CU_OK(cuMemRelease(h));
  ASSERT_CU_OK(cuMemGetInfo(&f, &t));
  ASSERT_EQ(f, f0);
  /* The same physical memory again reads as zeros. */
  ASSERT_CU_OK(cuMemCreate(&h, 2 * G, &p, 0));
  ASSERT_CU_OK(cuMemMap(va, 2 * G, 0, h, 0));
  grant(va, 2 * G);
  unsigned char buf[256], zero[256] = {0};
  ASSERT_CU_OK(cuMemcpyDtoH(buf, va + G - 128, sizeof buf));
  ASSERT_MEM_EQ(buf, zero, sizeof buf);
  ASSERT_CU_OK(cuMemUnmap(va, 2 * G));
  ASSERT_CU_OK(cuMemRelease(h));
  ASSERT_CU_OK(cuMemAddressFree(va, 2 * G));
}

TEST(vmm_access_and_attributes) {
  sg_test_setup();
  CUmemAllocationProp p = prop0();
  CUmemGenericAllocationHandle h;
  CUdeviceptr va;
  ASSERT_CU_OK(cuMemCreate(&h, G, &p, 0));
  ASSERT_CU_OK(cuMemAddressReserve(&va, 2 * G, 0, 0, 0));
  ASSERT_CU_OK(cuMemMap(va + G, G, 0, h, 0));
  unsigned access = 99;
  ASSERT_CU_OK(cuPointerGetAttribute(&access, CU_POINTER_ATTRIBUTE_ACCESS_FLAGS, va + G));
  ASSERT_EQ(access, CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE);
  grant(va + G, G);
  ASSERT_CU_OK(cuPointerGetAttribute(&access, CU_POINTER_ATTRIBUTE_ACCESS_FLAGS, va + G));
  ASSERT_EQ(access, CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE);
  CUcontext c = (CUcontext)1;
  ASSERT_CU_OK(cuPointerGetAttribute(&c, CU_POINTER_ATTRIBUTE_CONTEXT, va + G));
  ASSERT_EQ(c, NULL); /* VMM memory belongs to no context */
  /* The reserved but unmapped first granule is nothing. */
  unsigned type = 0;
  ASSERT_CU(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, va), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAddressFree(va, 2 * G), CUDA_ERROR_INVALID_VALUE); /* still mapped */
  ASSERT_CU_OK(cuMemUnmap(va + G, G));
  ASSERT_CU_OK(cuMemRelease(h));
  ASSERT_CU_OK(cuMemAddressFree(va, 2 * G));
}
