/* Stream-ordered allocation and memory pools (softgpu/api/mempool.c). */
#include <string.h>

#include "sg_test_cu.h"

static cuuint64_t attr64(CUmemoryPool p, CUmemPool_attribute a) {
  cuuint64_t v = 12345;
  ASSERT_CU_OK(cuMemPoolGetAttribute(p, a, &v));
  return v;
}

TEST(mempool_supported_attribute) {
  sg_test_setup();
  int v = 0;
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, 0));
  ASSERT_EQ(v, 1);
}

TEST(mempool_alloc_async_is_usable_and_counted) {
  sg_test_setup();
  CUstream s;
  CUmemoryPool def, cur;
  CUdeviceptr p;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuDeviceGetDefaultMemPool(&def, 0));
  ASSERT_CU_OK(cuDeviceGetMemPool(&cur, 0));
  ASSERT_EQ((void *)def, (void *)cur);
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 0);
  ASSERT_CU_OK(cuMemAllocAsync(&p, 1 << 20, s));
  ASSERT_CU_OK(cuMemsetD32Async(p, 0xabcdef01u, (1 << 20) / 4, s));
  unsigned last = 0;
  ASSERT_CU_OK(cuMemcpyDtoHAsync(&last, p + (1 << 20) - 4, 4, s));
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_EQ(last, 0xabcdef01u);
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 1 << 20);
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT), 1 << 20);
  ASSERT_CU_OK(cuMemFreeAsync(p, s));
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 0);
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH), 1 << 20);
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH), 1 << 20);
  /* The high-water marks reset to the current value, and only to it. */
  cuuint64_t zero = 0, one = 1;
  ASSERT_CU_OK(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &zero));
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH), 0);
  ASSERT_CU(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, &one), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &zero), CUDA_ERROR_INVALID_VALUE);
  /* A stream-ordered allocation is ordinary device memory: cuMemFree takes it, and the pool sees it. */
  ASSERT_CU_OK(cuMemAllocAsync(&p, 4096, CU_STREAM_PER_THREAD));
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 4096);
  ASSERT_CU_OK(cuMemFree(p));
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 0);
  ASSERT_CU(cuMemFreeAsync(p, s), CUDA_ERROR_INVALID_VALUE); /* double free */
  ASSERT_CU_OK(cuStreamDestroy(s));
}

TEST(mempool_alloc_async_errors) {
  sg_test_setup();
  CUdeviceptr p;
  ASSERT_CU(cuMemAllocAsync(&p, 0, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAllocAsync(NULL, 16, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAllocAsync(&p, (size_t)1 << 62, NULL), CUDA_ERROR_OUT_OF_MEMORY);
  ASSERT_CU(cuMemAllocAsync(&p, 16, (CUstream)0x1234), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuMemAllocFromPoolAsync(&p, 16, (CUmemoryPool)&p, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemFreeAsync(0, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemFreeAsync(0xdeadbeef000ull, NULL), CUDA_ERROR_INVALID_VALUE);
}

TEST(mempool_created_pool_attributes_limit_and_current) {
  sg_test_setup();
  CUmemPoolProps props;
  memset(&props, 0, sizeof props);
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = 0;
  props.maxSize = 1 << 20;
  CUmemoryPool pool, cur, def;
  ASSERT_CU_OK(cuMemPoolCreate(&pool, &props));
  ASSERT_CU_OK(cuDeviceGetDefaultMemPool(&def, 0));
  ASSERT_NE((void *)pool, (void *)def);

  int reuse = 7;
  ASSERT_CU_OK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
  ASSERT_EQ(reuse, 1);
  reuse = 0;
  ASSERT_CU_OK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
  reuse = 7;
  ASSERT_CU_OK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
  ASSERT_EQ(reuse, 0);
  cuuint64_t thr = 64 << 20;
  ASSERT_CU_OK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &thr));
  ASSERT_EQ(attr64(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD), 64 << 20);
  ASSERT_CU(cuMemPoolGetAttribute(pool, (CUmemPool_attribute)99, &thr), CUDA_ERROR_INVALID_VALUE);

  /* The pool's maximum size bounds what it hands out. */
  CUdeviceptr a, b;
  ASSERT_CU_OK(cuMemAllocFromPoolAsync(&a, 768 << 10, pool, NULL));
  ASSERT_CU(cuMemAllocFromPoolAsync(&b, 512 << 10, pool, NULL), CUDA_ERROR_OUT_OF_MEMORY);
  ASSERT_EQ(attr64(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 768 << 10);
  ASSERT_EQ(attr64(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 0);

  /* As the device's current pool, it serves cuMemAllocAsync. */
  ASSERT_CU_OK(cuDeviceSetMemPool(0, pool));
  ASSERT_CU_OK(cuDeviceGetMemPool(&cur, 0));
  ASSERT_EQ((void *)cur, (void *)pool);
  ASSERT_CU_OK(cuMemAllocAsync(&b, 128 << 10, NULL));
  ASSERT_EQ(attr64(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 896 << 10);
  ASSERT_CU_OK(cuMemPoolTrimTo(pool, 0));

  /* Destroyed with allocations outstanding: they stay valid, the device falls back to its default. */
  ASSERT_CU_OK(cuMemPoolDestroy(pool));
  ASSERT_CU_OK(cuDeviceGetMemPool(&cur, 0));
  ASSERT_EQ((void *)cur, (void *)def);
  ASSERT_CU(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &thr), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAllocFromPoolAsync(&b, 16, pool, NULL), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuMemsetD8(a, 1, 768 << 10));
  ASSERT_CU_OK(cuMemFreeAsync(a, NULL));
  ASSERT_CU_OK(cuMemFree(b));
  ASSERT_CU(cuMemPoolDestroy(def), CUDA_ERROR_INVALID_VALUE); /* the default pool is permanent */
}

TEST(mempool_create_errors) {
  sg_test_setup();
  CUmemPoolProps props;
  memset(&props, 0, sizeof props);
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  CUmemoryPool pool;
  ASSERT_CU(cuMemPoolCreate(NULL, &props), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemPoolCreate(&pool, NULL), CUDA_ERROR_INVALID_VALUE);
  props.location.id = 99;
  ASSERT_CU(cuMemPoolCreate(&pool, &props), CUDA_ERROR_INVALID_DEVICE);
  props.location.id = 0;
  props.handleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  ASSERT_CU(cuMemPoolCreate(&pool, &props), CUDA_ERROR_NOT_SUPPORTED);
  props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
  props.location.type = CU_MEM_LOCATION_TYPE_HOST;
  ASSERT_CU(cuMemPoolCreate(&pool, &props), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_CU(cuDeviceGetDefaultMemPool(NULL, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetDefaultMemPool(&pool, 99), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_CU_OK(cuDeviceGetDefaultMemPool(&pool, 0));
  ASSERT_CU(cuDeviceSetMemPool(0, (CUmemoryPool)&props), CUDA_ERROR_INVALID_VALUE);
}

TEST(mempool_alloc_refused_in_capture) {
  sg_test_setup();
  CUstream s;
  CUdeviceptr p;
  CUgraph g;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  ASSERT_CU_OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU(cuMemAllocAsync(&p, 64, s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  ASSERT_CU_OK(cuGraphDestroy(g));
  ASSERT_CU_OK(cuStreamDestroy(s));
}
