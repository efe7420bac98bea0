/* Device and host memory: allocation, bounds, copies in every direction, memsets. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sg_test_cu.h"

static void pattern(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 31 + seed);
}

TEST(mem_alloc_is_aligned_and_zeroed) {
  sg_test_setup();
  CUdeviceptr a, b;
  unsigned char buf[1000], zero[1000] = {0};
  ASSERT_CU_OK(cuMemAlloc(&a, 1000));
  ASSERT_CU_OK(cuMemAlloc(&b, 1));
  ASSERT_EQ(a % 256, 0);
  ASSERT_EQ(b % 256, 0);
  ASSERT_NE(a, b);
  memset(buf, 0xee, sizeof buf);
  ASSERT_CU_OK(cuMemcpyDtoH(buf, a, sizeof buf));
  ASSERT_MEM_EQ(buf, zero, sizeof buf);
  /* Freed memory comes back zeroed too. */
  ASSERT_CU_OK(cuMemsetD8(a, 0x5a, 1000));
  ASSERT_CU_OK(cuMemFree(a));
  ASSERT_CU_OK(cuMemAlloc(&a, 1000));
  ASSERT_CU_OK(cuMemcpyDtoH(buf, a, sizeof buf));
  ASSERT_MEM_EQ(buf, zero, sizeof buf);
}

TEST(mem_alloc_errors) {
  sg_test_setup();
  CUdeviceptr p;
  ASSERT_CU(cuMemAlloc(&p, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAlloc(NULL, 16), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAlloc(&p, (size_t)1 << 62), CUDA_ERROR_OUT_OF_MEMORY);
  ASSERT_CU(cuMemAlloc(&p, SIZE_MAX), CUDA_ERROR_OUT_OF_MEMORY);
}

TEST(mem_free_errors_double_free) {
  sg_test_setup();
  CUdeviceptr p;
  ASSERT_CU_OK(cuMemAlloc(&p, 512));
  ASSERT_CU(cuMemFree(p + 256), CUDA_ERROR_INVALID_VALUE); /* not the start */
  ASSERT_CU_OK(cuMemFree(p));
  ASSERT_CU(cuMemFree(p), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuMemFree(0)); /* freeing NULL is a no-op (cudaFree(NULL) relies on it) */
  ASSERT_CU(cuMemFree((CUdeviceptr)0xdeadbeef000ull), CUDA_ERROR_INVALID_VALUE);
}

/* Another process may still map memory exported by CUDA IPC after its free here: its range is
 * retired, never scrubbed or allocated again, and stays counted as used (sg_mem.h). */
TEST(mem_ipc_exported_memory_is_not_reused) {
  sg_test_setup();
  CUdeviceptr p, q, r;
  CUipcMemHandle h;
  size_t f0, f1, total;
  ASSERT_CU_OK(cuMemAlloc(&p, 1 << 20));
  ASSERT_CU_OK(cuMemFree(p));
  ASSERT_CU_OK(cuMemAlloc(&q, 1 << 20));
  ASSERT_EQ(q, p); /* first fit: memory nobody exported is used again */
  ASSERT_CU_OK(cuIpcGetMemHandle(&h, q));
  ASSERT_CU_OK(cuMemGetInfo(&f0, &total));
  ASSERT_CU_OK(cuMemFree(q));
  ASSERT_CU_OK(cuMemGetInfo(&f1, &total));
  ASSERT_EQ(f1, f0);
  ASSERT_CU(cuMemFree(q), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemsetD8(q, 0, 1), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuMemAlloc(&r, 1 << 20));
  ASSERT_NE(r, q);
  ASSERT_CU_OK(cuMemFree(r));
}

TEST(mem_info_tracks_allocations) {
  sg_test_setup();
  size_t f0, f1, total;
  CUdeviceptr p;
  ASSERT_CU_OK(cuMemGetInfo(&f0, &total));
  ASSERT_EQ(total, 8ull << 30);
  ASSERT_CU_OK(cuMemAlloc(&p, 64 << 20));
  ASSERT_CU_OK(cuMemGetInfo(&f1, &total));
  ASSERT_GE(f0 - f1, 64u << 20);
  ASSERT_CU_OK(cuMemFree(p));
  ASSERT_CU_OK(cuMemGetInfo(&f1, &total));
  ASSERT_EQ(f1, f0);
  ASSERT_CU(cuMemGetInfo(NULL, &total), CUDA_ERROR_INVALID_VALUE);
}

TEST(mem_small_arena_exhausts) {
  setenv("VGPU_SOFTGPU_MEMORY", "4M", 1);
  sg_test_setup();
  CUdeviceptr a, b;
  ASSERT_CU_OK(cuMemAlloc(&a, 3 << 20));
  ASSERT_CU(cuMemAlloc(&b, 2 << 20), CUDA_ERROR_OUT_OF_MEMORY);
  ASSERT_CU_OK(cuMemFree(a));
  ASSERT_CU_OK(cuMemAlloc(&b, 2 << 20));
}

TEST(mem_address_range) {
  sg_test_setup();
  CUdeviceptr p, base = 0;
  size_t size = 0;
  ASSERT_CU_OK(cuMemAlloc(&p, 1000));
  ASSERT_CU_OK(cuMemGetAddressRange(&base, &size, p + 999));
  ASSERT_EQ(base, p);
  ASSERT_EQ(size, 1000);
  ASSERT_CU_OK(cuMemGetAddressRange(NULL, &size, p));
  ASSERT_CU(cuMemGetAddressRange(&base, &size, p + 4096), CUDA_ERROR_NOT_FOUND);
  ASSERT_CU(cuMemGetAddressRange(&base, &size, 0x1000), CUDA_ERROR_NOT_FOUND);
}

TEST(mem_alloc_pitch) {
  sg_test_setup();
  CUdeviceptr p;
  size_t pitch = 0;
  ASSERT_CU_OK(cuMemAllocPitch(&p, &pitch, 100, 10, 4));
  ASSERT_EQ(pitch, 512);
  ASSERT_CU_OK(cuMemsetD2D32(p, pitch, 0x01020304u, 25, 10));
  ASSERT_CU(cuMemAllocPitch(&p, &pitch, 100, 10, 3), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAllocPitch(&p, &pitch, 0, 10, 4), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAllocPitch(&p, &pitch, SIZE_MAX / 2, SIZE_MAX / 2, 4), CUDA_ERROR_OUT_OF_MEMORY);
}

TEST(mem_copy_round_trip_all_directions) {
  sg_test_setup();
  enum { N = 100000 };
  unsigned char *src = malloc(N), *dst = malloc(N);
  ASSERT_NOT_NULL(src);
  ASSERT_NOT_NULL(dst);
  pattern(src, N, 7);
  CUdeviceptr a, b;
  CUstream s;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  ASSERT_CU_OK(cuMemAlloc(&a, N));
  ASSERT_CU_OK(cuMemAlloc(&b, N));
  /* sync forms */
  ASSERT_CU_OK(cuMemcpyHtoD(a, src, N));
  ASSERT_CU_OK(cuMemcpyDtoD(b, a, N));
  memset(dst, 0, N);
  ASSERT_CU_OK(cuMemcpyDtoH(dst, b, N));
  ASSERT_MEM_EQ(dst, src, N);
  /* async forms on a created stream, the legacy and the per-thread stream */
  pattern(src, N, 99);
  ASSERT_CU_OK(cuMemcpyHtoDAsync(a, src, N, s));
  ASSERT_CU_OK(cuMemcpyDtoDAsync(b, a, N, CU_STREAM_LEGACY));
  memset(dst, 0, N);
  ASSERT_CU_OK(cuMemcpyDtoHAsync(dst, b, N, CU_STREAM_PER_THREAD));
  ASSERT_MEM_EQ(dst, src, N);
  /* unified cuMemcpy: every combination of host and device */
  pattern(src, N, 3);
  ASSERT_CU_OK(cuMemcpy(a, (CUdeviceptr)(uintptr_t)src, N));
  ASSERT_CU_OK(cuMemcpyAsync(b, a, N, s));
  memset(dst, 0, N);
  ASSERT_CU_OK(cuMemcpy((CUdeviceptr)(uintptr_t)dst, b, N));
  ASSERT_MEM_EQ(dst, src, N);
  unsigned char *dst2 = calloc(1, N);
  ASSERT_CU_OK(cuMemcpy((CUdeviceptr)(uintptr_t)dst2, (CUdeviceptr)(uintptr_t)dst, N));
  ASSERT_MEM_EQ(dst2, src, N);
  /* per-thread-default-stream entry points behave the same */
  pattern(src, N, 11);
  ASSERT_CU_OK(cuMemcpyHtoD_v2_ptds(a, src, N));
  ASSERT_CU_OK(cuMemcpyDtoDAsync_v2_ptsz(b, a, N, NULL));
  memset(dst, 0, N);
  ASSERT_CU_OK(cuMemcpyDtoH_v2_ptds(dst, b, N));
  ASSERT_MEM_EQ(dst, src, N);
  free(src);
  free(dst);
  free(dst2);
}

TEST(mem_copy_offsets_inside_allocation) {
  sg_test_setup();
  CUdeviceptr a;
  unsigned char in[64], out[64];
  pattern(in, sizeof in, 1);
  ASSERT_CU_OK(cuMemAlloc(&a, 1024));
  ASSERT_CU_OK(cuMemcpyHtoD(a + 960, in, 64)); /* exactly up to the end */
  ASSERT_CU_OK(cuMemcpyDtoH(out, a + 960, 64));
  ASSERT_MEM_EQ(out, in, 64);
  /* overlapping device-to-device copy behaves like memmove */
  ASSERT_CU_OK(cuMemcpyDtoD(a + 961, a + 960, 32));
  ASSERT_CU_OK(cuMemcpyDtoH(out, a + 961, 32));
  ASSERT_MEM_EQ(out, in, 32);
}

TEST(mem_copy_bounds_are_checked) {
  sg_test_setup();
  CUdeviceptr a, b;
  unsigned char buf[4096] = {0};
  ASSERT_CU_OK(cuMemAlloc(&a, 1024));
  ASSERT_CU_OK(cuMemAlloc(&b, 1024));
  ASSERT_CU(cuMemcpyHtoD(a, buf, 1025), CUDA_ERROR_INVALID_VALUE);     /* past the end */
  ASSERT_CU(cuMemcpyHtoD(a + 1000, buf, 100), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemcpyDtoH(buf, a, 4096), CUDA_ERROR_INVALID_VALUE);     /* would run into b */
  ASSERT_CU(cuMemcpyDtoD(b, a, 2048), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemcpyHtoD(0, buf, 16), CUDA_ERROR_INVALID_VALUE);       /* null device pointer */
  ASSERT_CU(cuMemcpyHtoD(0x1234, buf, 16), CUDA_ERROR_INVALID_VALUE);  /* not device memory */
  ASSERT_CU(cuMemcpyHtoD(a, NULL, 16), CUDA_ERROR_INVALID_VALUE);      /* null host pointer */
  ASSERT_CU(cuMemcpyDtoH(NULL, a, 16), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemcpyHtoD(a, buf, SIZE_MAX), CUDA_ERROR_INVALID_VALUE); /* absurd size */
  ASSERT_CU(cuMemcpy(a, 0, 16), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuMemFree(b));
  ASSERT_CU(cuMemcpyDtoH(buf, b, 16), CUDA_ERROR_INVALID_VALUE);       /* freed */
  ASSERT_CU_OK(cuMemcpyHtoD(a, buf, 0));                               /* empty copy */
}

TEST(mem_copy_unknown_stream) {
  sg_test_setup();
  CUdeviceptr a;
  unsigned char buf[16];
  int bogus;
  CUstream s;
  ASSERT_CU_OK(cuMemAlloc(&a, 16));
  ASSERT_CU(cuMemcpyHtoDAsync(a, buf, 16, (CUstream)&bogus), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuStreamDestroy(s));
  ASSERT_CU(cuMemcpyDtoHAsync(buf, a, 16, s), CUDA_ERROR_INVALID_HANDLE);
}

TEST(mem_memset_widths) {
  sg_test_setup();
  CUdeviceptr a;
  unsigned char out[64];
  ASSERT_CU_OK(cuMemAlloc(&a, 64));
  ASSERT_CU_OK(cuMemsetD8(a, 0xab, 64));
  ASSERT_CU_OK(cuMemcpyDtoH(out, a, 64));
  for (int i = 0; i < 64; i++) ASSERT_EQ(out[i], 0xab);
  ASSERT_CU_OK(cuMemsetD16(a + 2, 0x1234, 4));
  ASSERT_CU_OK(cuMemcpyDtoH(out, a, 16));
  uint16_t h[8];
  memcpy(h, out, 16);
  ASSERT_EQ(h[0], 0xabab);
  for (int i = 1; i < 5; i++) ASSERT_EQ(h[i], 0x1234);
  ASSERT_EQ(h[5], 0xabab);
  ASSERT_CU_OK(cuMemsetD32Async(a, 0xdeadbeefu, 16, NULL));
  uint32_t w[16];
  ASSERT_CU_OK(cuMemcpyDtoH(w, a, 64));
  for (int i = 0; i < 16; i++) ASSERT_EQ(w[i], 0xdeadbeefu);
  ASSERT_CU_OK(cuMemsetD8Async(a, 1, 1, CU_STREAM_PER_THREAD));
  ASSERT_CU_OK(cuMemsetD16Async(a, 1, 1, NULL));
  ASSERT_CU_OK(cuMemsetD8_v2_ptds(a, 0, 64));
  ASSERT_CU_OK(cuMemsetD32Async_ptsz(a, 0, 16, NULL));
}

TEST(mem_memset_errors) {
  sg_test_setup();
  CUdeviceptr a;
  /* Bounds are checked at the 256-byte granule allocations are rounded to (as a GPU rounds
   * them to pages): a 64-byte allocation accepts a 256-byte fill, not a 257-byte one. */
  ASSERT_CU_OK(cuMemAlloc(&a, 64));
  ASSERT_CU_OK(cuMemsetD8(a, 0, 256));
  ASSERT_CU(cuMemsetD8(a, 0, 257), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemsetD16(a + 1, 0, 2), CUDA_ERROR_INVALID_VALUE); /* misaligned */
  ASSERT_CU(cuMemsetD32(a + 2, 0, 2), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemsetD32(a, 0, 65), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemsetD32(a, 0, SIZE_MAX / 2), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemsetD8(0, 0, 1), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemsetD2D8(a, 8, 0, 16, 2), CUDA_ERROR_INVALID_VALUE); /* pitch < width */
  ASSERT_CU(cuMemsetD2D8(a, 128, 0, 16, 3), CUDA_ERROR_INVALID_VALUE); /* 2*128+16 > 256 */
  ASSERT_CU(cuMemsetD2D8(a, SIZE_MAX, 0, 16, 3), CUDA_ERROR_INVALID_VALUE);
}

TEST(mem_memset_2d) {
  sg_test_setup();
  CUdeviceptr a;
  unsigned char out[4 * 32];
  ASSERT_CU_OK(cuMemAlloc(&a, sizeof out));
  ASSERT_CU_OK(cuMemsetD2D8(a, 32, 7, 5, 4));
  ASSERT_CU_OK(cuMemcpyDtoH(out, a, sizeof out));
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 32; x++) ASSERT_EQ(out[y * 32 + x], x < 5 ? 7 : 0);
  ASSERT_CU_OK(cuMemsetD2D16(a, 32, 0x0102, 16, 4));
  ASSERT_CU_OK(cuMemsetD2D32Async(a, 32, 0, 8, 4, NULL));
  ASSERT_CU_OK(cuMemcpyDtoH(out, a, sizeof out));
  for (int i = 0; i < (int)sizeof out; i++) ASSERT_EQ(out[i], 0);
  ASSERT_CU_OK(cuMemsetD2D8Async(a, 32, 1, 32, 4, CU_STREAM_LEGACY));
  ASSERT_CU_OK(cuMemsetD2D16Async(a, 32, 1, 16, 4, NULL));
}

TEST(mem_host_alloc_and_register) {
  sg_test_setup();
  void *p = NULL, *q = NULL;
  ASSERT_CU_OK(cuMemAllocHost(&p, 10000));
  ASSERT_EQ((uintptr_t)p % 4096, 0);
  memset(p, 1, 10000);
  ASSERT_CU_OK(cuMemHostAlloc(&q, 100, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_WRITECOMBINED));
  unsigned flags = 99;
  ASSERT_CU_OK(cuMemHostGetFlags(&flags, q));
  ASSERT_EQ(flags, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_WRITECOMBINED);
  ASSERT_CU_OK(cuMemHostGetFlags(&flags, p));
  ASSERT_EQ(flags, 0);
  /* "fails if the pointer does not reside in an allocation" (cuda.h): any address inside works. */
  flags = 99;
  ASSERT_CU_OK(cuMemHostGetFlags(&flags, (char *)q + 1));
  ASSERT_EQ(flags, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_WRITECOMBINED);
  ASSERT_CU(cuMemHostGetFlags(&flags, (char *)q + 100), CUDA_ERROR_INVALID_VALUE); /* one past its end */
  ASSERT_CU(cuMemHostAlloc(&q, 100, 0x80), CUDA_ERROR_INVALID_VALUE);
  CUdeviceptr d;
  ASSERT_CU(cuMemHostGetDevicePointer(&d, p, 0), CUDA_ERROR_INVALID_VALUE); /* not mapped */
  /* Mapped memory is arena memory: its device address is itself, and it counts as device memory. */
  void *m = NULL;
  ASSERT_CU_OK(cuMemHostAlloc(&m, 100, CU_MEMHOSTALLOC_DEVICEMAP));
  ASSERT_CU_OK(cuMemHostGetDevicePointer(&d, (char *)m + 8, 0));
  ASSERT_EQ(d, (CUdeviceptr)(uintptr_t)m + 8);
  ASSERT_CU(cuMemFree(d - 8), CUDA_ERROR_INVALID_VALUE); /* host memory: freed as such */
  ASSERT_CU_OK(cuMemFreeHost(m));
  ASSERT_CU_OK(cuMemFreeHost(p));
  ASSERT_CU(cuMemFreeHost(p), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemAllocHost(&p, 0), CUDA_ERROR_INVALID_VALUE);

  static char buf[8192];
  ASSERT_CU_OK(cuMemHostRegister(buf, sizeof buf, 0));
  ASSERT_CU(cuMemHostRegister(buf, sizeof buf, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
  ASSERT_CU_OK(cuMemHostUnregister(buf));
  ASSERT_CU(cuMemHostUnregister(buf), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
  ASSERT_CU(cuMemHostRegister(buf, sizeof buf, CU_MEMHOSTREGISTER_DEVICEMAP), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_CU(cuMemHostRegister(NULL, 16, 0), CUDA_ERROR_INVALID_VALUE);
}

TEST(mem_pointer_attributes) {
  CUcontext c = sg_test_setup();
  CUdeviceptr d, got = 0;
  void *h;
  unsigned type = 99;
  CUcontext owner = NULL;
  size_t size = 0;
  ASSERT_CU_OK(cuMemAlloc(&d, 1000));
  ASSERT_CU_OK(cuMemAllocHost(&h, 64));
  ASSERT_CU_OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d + 10));
  ASSERT_EQ(type, CU_MEMORYTYPE_DEVICE);
  ASSERT_CU_OK(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, d));
  ASSERT_EQ((void *)owner, (void *)c);
  ASSERT_CU_OK(cuPointerGetAttribute(&got, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, d + 10));
  ASSERT_EQ(got, d);
  ASSERT_CU_OK(cuPointerGetAttribute(&size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, d + 10));
  ASSERT_EQ(size, 1000);
  ASSERT_CU_OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)h));
  ASSERT_EQ(type, CU_MEMORYTYPE_HOST);
  void *hp = NULL;
  ASSERT_CU(cuPointerGetAttribute(&hp, CU_POINTER_ATTRIBUTE_HOST_POINTER, d), CUDA_ERROR_INVALID_VALUE);
  int stack_var;
  ASSERT_CU(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)&stack_var),
            CUDA_ERROR_INVALID_VALUE);
  /* The plural form reports unknown pointers with default values instead of failing. */
  CUpointer_attribute attrs[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL};
  int ordinal = 5;
  type = 99;
  void *vals[] = {&type, &ordinal};
  ASSERT_CU_OK(cuPointerGetAttributes(2, attrs, vals, (CUdeviceptr)(uintptr_t)&stack_var));
  ASSERT_EQ(type, 0);
  ASSERT_EQ(ordinal, -2);
  ASSERT_CU_OK(cuPointerGetAttributes(2, attrs, vals, d));
  ASSERT_EQ(type, CU_MEMORYTYPE_DEVICE);
  ASSERT_EQ(ordinal, 0);
  ASSERT_CU_OK(cuMemFree(d));
  ASSERT_CU(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d), CUDA_ERROR_INVALID_VALUE);
}

/* Several threads allocating, writing, checking and freeing at once: the allocator and the
 * registry are shared, and each thread must only ever see its own bytes. */
static void *alloc_worker(void *arg) {
  CUcontext c = arg;
  if (cuCtxSetCurrent(c) != CUDA_SUCCESS) return (void *)1;
  unsigned seed = (unsigned)(uintptr_t)&c;
  for (int i = 0; i < 300; i++) {
    size_t n = 1 + (size_t)(rand_r(&seed) % 20000);
    CUdeviceptr p;
    unsigned char in[256], out[256];
    if (cuMemAlloc(&p, n) != CUDA_SUCCESS) return (void *)2;
    size_t k = n < sizeof in ? n : sizeof in;
    for (size_t j = 0; j < k; j++) in[j] = (unsigned char)(i + j);
    if (cuMemcpyHtoD(p + n - k, in, k) != CUDA_SUCCESS) return (void *)3;
    if (cuMemcpyDtoH(out, p + n - k, k) != CUDA_SUCCESS || memcmp(in, out, k) != 0) return (void *)4;
    if (cuMemFree(p) != CUDA_SUCCESS) return (void *)5;
  }
  return NULL;
}

TEST(mem_concurrent_alloc_free) {
  CUcontext c = sg_test_setup();
  uint64_t used0, used1, total;
  ASSERT_EQ(sg_softgpu_memory(&used0, &total), 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) ASSERT_EQ(pthread_create(&t[i], NULL, alloc_worker, c), 0);
  for (int i = 0; i < 4; i++) {
    void *r = (void *)1;
    ASSERT_EQ(pthread_join(t[i], &r), 0);
    ASSERT_NULL(r);
  }
  ASSERT_EQ(sg_softgpu_memory(&used1, &total), 0);
  ASSERT_EQ(used1, used0);
  /* Free space coalesced back: nearly the whole arena is one block again. */
  CUdeviceptr big;
  ASSERT_CU_OK(cuMemAlloc(&big, total - used0 - 4096));
}

TEST(mem_copy_2d) {
  sg_test_setup();
  unsigned char host[8][20], back[8][20] = {{0}};
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 20; x++) host[y][x] = (unsigned char)(y * 20 + x);
  CUdeviceptr d;
  size_t pitch;
  ASSERT_CU_OK(cuMemAllocPitch(&d, &pitch, 16, 8, 4));
  CUDA_MEMCPY2D up = {0};
  up.srcMemoryType = CU_MEMORYTYPE_HOST;
  up.srcHost = host;
  up.srcPitch = 20;
  up.srcXInBytes = 2;
  up.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  up.dstDevice = d;
  up.dstPitch = pitch;
  up.WidthInBytes = 16;
  up.Height = 8;
  ASSERT_CU_OK(cuMemcpy2D(&up));
  CUDA_MEMCPY2D down = {0};
  down.srcMemoryType = CU_MEMORYTYPE_UNIFIED;
  down.srcDevice = d;
  down.srcPitch = pitch;
  down.dstMemoryType = CU_MEMORYTYPE_HOST;
  down.dstHost = back;
  down.dstPitch = 20;
  down.dstXInBytes = 2;
  down.WidthInBytes = 16;
  down.Height = 8;
  ASSERT_CU_OK(cuMemcpy2DAsync(&down, NULL));
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 20; x++) ASSERT_EQ(back[y][x], x >= 2 && x < 18 ? host[y][x] : 0);
  up.Height = 9; /* one row past the allocation */
  ASSERT_CU(cuMemcpy2D(&up), CUDA_ERROR_INVALID_VALUE);
  up.Height = 8;
  up.dstPitch = 8; /* pitch narrower than a row */
  ASSERT_CU(cuMemcpy2D(&up), CUDA_ERROR_INVALID_VALUE);
  up.dstPitch = pitch;
  up.dstMemoryType = CU_MEMORYTYPE_ARRAY; /* with no array */
  ASSERT_CU(cuMemcpy2D(&up), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuMemcpy2D(NULL), CUDA_ERROR_INVALID_VALUE);
}

/* Managed memory is arena memory the host uses directly; it has its own pointer attributes and
 * keeps advice per page (common/managed_advice.h). */
TEST(mem_managed) {
  sg_test_setup();
  CUdeviceptr m;
  ASSERT_CU(cuMemAllocManaged(&m, 100, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuMemAllocManaged(&m, 3 * 4096, CU_MEM_ATTACH_GLOBAL));
  int *h = (int *)(uintptr_t)m;
  h[5] = 42;
  int back = 0;
  ASSERT_CU_OK(cuMemcpyDtoH(&back, m + 20, 4));
  ASSERT_EQ(back, 42);
  int managed = 0;
  void *host = NULL;
  ASSERT_CU_OK(cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, m + 8));
  ASSERT_EQ(managed, 1);
  ASSERT_CU_OK(cuPointerGetAttribute(&host, CU_POINTER_ATTRIBUTE_HOST_POINTER, m + 8));
  ASSERT_EQ((uintptr_t)host, (uintptr_t)(m + 8));
  CUmemLocation dev = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  ASSERT_CU_OK(cuMemAdvise_v2(m + 4096, 4096, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, dev));
  int pref = 7;
  ASSERT_CU_OK(cuMemRangeGetAttribute(&pref, 4, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, m + 4096, 4096));
  ASSERT_EQ(pref, 0);
  ASSERT_CU_OK(cuMemRangeGetAttribute(&pref, 4, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, m, 3 * 4096));
  ASSERT_EQ(pref, CU_DEVICE_INVALID); /* not every page has it */
  ASSERT_CU(cuMemPrefetchAsync_v2(m, 4096, dev, 0, NULL), CUDA_ERROR_INVALID_DEVICE); /* no concurrent access */
  ASSERT_CU(cuMemFree(m + 4), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuMemFree(m));
  ASSERT_CU(cuMemRangeGetAttribute(&pref, 4, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, m, 4096), CUDA_ERROR_INVALID_VALUE);
}
