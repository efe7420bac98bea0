/*
 * Differential cases (docs/testing.md): memory information, pitched allocations, memory pools,
 * page-locked host memory and the host<->device copies (linear, 2D and 3D) in every ABI form: good copies, zero sizes,
 * null and foreign pointers, ranges past the end of an allocation, freed memory and destroyed
 * streams; pointer attributes of every kind of pointer and unified-addressing copies (cuMemcpy).
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "diff.h"

typedef __typeof__(&cuMemcpyHtoD_v2) htod_t;
typedef __typeof__(&cuMemcpyDtoH_v2) dtoh_t;
typedef __typeof__(&cuMemcpyHtoDAsync_v2) htod_async_t;
typedef __typeof__(&cuMemcpyDtoHAsync_v2) dtoh_async_t;

#define N 4096

static uint8_t src[N], dst[N];

static void pattern(unsigned seed) {
  for (int i = 0; i < N; i++) src[i] = (uint8_t)(i * 7 + seed);
  memset(dst, 0, sizeof dst);
}

static int same(size_t n) { return memcmp(src, dst, n) == 0; }

static void info(void) {
  size_t free_b = 0, total = 0;
  CALL(cuMemGetInfo_v2, __typeof__(&cuMemGetInfo_v2), "ok", &free_b, &total);
  SAY(cuMemGetInfo_v2, "free within total", "%d", total > 0 && free_b <= total);
  CALL(cuMemGetInfo_v2, __typeof__(&cuMemGetInfo_v2), "null free", NULL, &total);
  CALL(cuMemGetInfo_v2, __typeof__(&cuMemGetInfo_v2), "null total", &free_b, NULL);
}

static void pitch(void) {
  CUdeviceptr p = 0;
  size_t pitch = 0;
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "100x10 of 4", &p, &pitch, 100, 10, 4);
  SAY(cuMemAllocPitch_v2, "pitch covers a row and is aligned", "%d", pitch >= 100 && pitch % 128 == 0);
  printf("# pitch %zu\n", pitch);
  /* The whole pitched block belongs to the allocation. */
  CUdeviceptr base = 0;
  size_t size = 0;
  CALL(cuMemGetAddressRange_v2, __typeof__(&cuMemGetAddressRange_v2), "pitched block", &base, &size, p + pitch * 9);
  SAY(cuMemGetAddressRange_v2, "pitched block covers height rows", "%d", base == p && size >= pitch * 10);
  CALL(cuMemFree_v2, __typeof__(&cuMemFree_v2), "pitched block", p);
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "element size 3", &p, &pitch, 100, 10, 3);
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "element size 16", &p, &pitch, 100, 10, 16);
  CALL(cuMemFree_v2, __typeof__(&cuMemFree_v2), "element size 16 block", p);
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "width 0", &p, &pitch, 0, 10, 4);
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "height 0", &p, &pitch, 100, 0, 4);
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "null pointer", NULL, &pitch, 100, 10, 4);
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "null pitch", &p, NULL, 100, 10, 4);
  CALL(cuMemAllocPitch_v2, __typeof__(&cuMemAllocPitch_v2), "absurd size", &p, &pitch, (size_t)1 << 40, 1 << 20, 4);
}

static void pools(void) {
  CUmemPoolProps props;
  memset(&props, 0, sizeof props);
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = 0;
  CUmemoryPool pool = NULL;
  CALL(cuMemPoolCreate, __typeof__(&cuMemPoolCreate), "device 0", &pool, &props);
  CALL(cuMemPoolCreate, __typeof__(&cuMemPoolCreate), "null pool", NULL, &props);
  CUmemoryPool other;
  CALL(cuMemPoolCreate, __typeof__(&cuMemPoolCreate), "null properties", &other, NULL);
  CUmemPoolProps bad = props;
  bad.location.id = 99;
  CALL(cuMemPoolCreate, __typeof__(&cuMemPoolCreate), "device 99", &other, &bad);
  bad = props;
  bad.allocType = CU_MEM_ALLOCATION_TYPE_INVALID;
  CALL(cuMemPoolCreate, __typeof__(&cuMemPoolCreate), "invalid allocation type", &other, &bad);
  bad = props;
  bad.location.type = CU_MEM_LOCATION_TYPE_INVALID;
  CALL(cuMemPoolCreate, __typeof__(&cuMemPoolCreate), "invalid location type", &other, &bad);

  cuuint64_t v64 = 12345;
  int v32 = 12345;
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "release threshold", pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
  SAY(cuMemPoolGetAttribute, "release threshold of a new pool", "%llu", (unsigned long long)v64);
  v64 = 1 << 20;
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "release threshold", pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
  v64 = 0;
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "release threshold after set", pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
  SAY(cuMemPoolGetAttribute, "release threshold set", "%llu", (unsigned long long)v64);
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "opportunistic reuse", pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &v32);
  SAY(cuMemPoolGetAttribute, "opportunistic reuse default", "%d", v32);
  v32 = 0;
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "opportunistic reuse off", pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &v32);
  v32 = 7;
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "opportunistic reuse after set", pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &v32);
  SAY(cuMemPoolGetAttribute, "opportunistic reuse set", "%d", v32);
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "used memory", pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v64);
  SAY(cuMemPoolGetAttribute, "used memory of an unused pool", "%llu", (unsigned long long)v64);
  v64 = 1;
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "used memory (read-only)", pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v64);
  v64 = 0;
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "reset high watermark to 0", pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &v64);
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "unknown attribute", pool, (CUmemPool_attribute)999, &v64);
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "unknown attribute", pool, (CUmemPool_attribute)999, &v64);
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "null value", pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, NULL);
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "null value", pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, NULL);
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "null pool", NULL, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "null pool", NULL, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);

  CUdeviceptr p = 0;
  CALL(cuMemAllocFromPoolAsync, __typeof__(&cuMemAllocFromPoolAsync), "from the pool", &p, 1024, pool, NULL);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the pool allocation", NULL);
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "used memory with an allocation", pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v64);
  SAY(cuMemPoolGetAttribute, "used memory covers the allocation", "%d", v64 >= 1024);
  CALL(cuMemFreeAsync, __typeof__(&cuMemFreeAsync), "the pool allocation", p, NULL);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the pool free", NULL);
  CALL(cuMemPoolDestroy, __typeof__(&cuMemPoolDestroy), "ok", pool);
  CALL(cuMemPoolGetAttribute, __typeof__(&cuMemPoolGetAttribute), "destroyed pool", pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
  CALL(cuMemPoolSetAttribute, __typeof__(&cuMemPoolSetAttribute), "destroyed pool", pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
}

static void host_memory(void) {
  void *h = NULL, *h2 = NULL;
  unsigned int flags = 99;
  CALL(cuMemAllocHost_v2, __typeof__(&cuMemAllocHost_v2), "4 KiB", &h, 4096);
  SAY(cuMemAllocHost_v2, "usable", "%d", h != NULL && (memset(h, 1, 4096), 1));
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "cuMemAllocHost block", &flags, h);
  SAY(cuMemHostGetFlags, "cuMemAllocHost flags", "%u", flags);
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "inside a block", &flags, (char *)h + 100);
  CALL(cuMemAllocHost_v2, __typeof__(&cuMemAllocHost_v2), "null", NULL, 4096);
  CALL(cuMemAllocHost_v2, __typeof__(&cuMemAllocHost_v2), "0 bytes", &h2, 0);
  CALL(cuMemHostAlloc, __typeof__(&cuMemHostAlloc), "portable", &h2, 8192, CU_MEMHOSTALLOC_PORTABLE);
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "portable block", &flags, h2);
  SAY(cuMemHostGetFlags, "portable flags", "%u", flags);
  CALL(cuMemFreeHost, __typeof__(&cuMemFreeHost), "portable block", h2);
  CALL(cuMemHostAlloc, __typeof__(&cuMemHostAlloc), "write-combined", &h2, 100, CU_MEMHOSTALLOC_WRITECOMBINED);
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "write-combined block", &flags, h2);
  SAY(cuMemHostGetFlags, "write-combined flags", "%u", flags);
  CALL(cuMemFreeHost, __typeof__(&cuMemFreeHost), "write-combined block", h2);
  CALL(cuMemHostAlloc, __typeof__(&cuMemHostAlloc), "unknown flag bit", &h2, 4096, 0x100);
  CALL(cuMemHostAlloc, __typeof__(&cuMemHostAlloc), "0 bytes", &h2, 0, 0);
  CALL(cuMemHostAlloc, __typeof__(&cuMemHostAlloc), "null", NULL, 4096, 0);

  static char stack_like[8192];
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "foreign pointer", &flags, stack_like);
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "null pointer", &flags, NULL);
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "null flags", NULL, h);
  CALL(cuMemFreeHost, __typeof__(&cuMemFreeHost), "foreign pointer", stack_like);
  CALL(cuMemFreeHost, __typeof__(&cuMemFreeHost), "inside a block", (char *)h + 16);
  CALL(cuMemFreeHost, __typeof__(&cuMemFreeHost), "ok", h);
  CALL(cuMemFreeHost, __typeof__(&cuMemFreeHost), "twice", h);
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "freed block", &flags, h);

  long page = sysconf(_SC_PAGESIZE);
  char *reg = aligned_alloc((size_t)page, (size_t)page * 4);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "two pages", reg, (size_t)page * 2, 0);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "again", reg, (size_t)page * 2, 0);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "overlapping", reg + page, (size_t)page * 2, 0);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "the next pages", reg + 2 * page, (size_t)page * 2, CU_MEMHOSTREGISTER_PORTABLE);
  CALL(cuMemHostGetFlags, __typeof__(&cuMemHostGetFlags), "registered range", &flags, reg);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "0 bytes", stack_like, 0, 0);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "null", NULL, 4096, 0);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "unknown flag bit", stack_like, 4096, 0x100);
  CALL(cuMemHostUnregister, __typeof__(&cuMemHostUnregister), "inside a range", reg + page);
  CALL(cuMemHostUnregister, __typeof__(&cuMemHostUnregister), "ok", reg);
  CALL(cuMemHostUnregister, __typeof__(&cuMemHostUnregister), "twice", reg);
  CALL(cuMemHostUnregister, __typeof__(&cuMemHostUnregister), "the next pages", reg + 2 * page);
  CALL(cuMemHostUnregister, __typeof__(&cuMemHostUnregister), "never registered", stack_like);
  CALL(cuMemHostUnregister, __typeof__(&cuMemHostUnregister), "null", NULL);
  free(reg);
}

/* One host->device->host round trip per ABI form, then the error paths of each form. */
static void copies(void) {
  CUdeviceptr d = 0, freed = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&d, N));
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&freed, N));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(freed));
  CUstream s = NULL, gone = NULL;
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&s, CU_STREAM_NON_BLOCKING));
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&gone, 0));
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(gone));

  pattern(1);
  CALL(cuMemcpyHtoD_v2, htod_t, "ok", d, src, N);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "ok", dst, d, N);
  SAY(cuMemcpyDtoH_v2, "round trip", "%d", same(N));
  pattern(2);
  CALL(cuMemcpyHtoD_v2_ptds, htod_t, "ok", d, src, N);
  CALL(cuMemcpyDtoH_v2_ptds, dtoh_t, "ok", dst, d, N);
  SAY(cuMemcpyDtoH_v2_ptds, "round trip", "%d", same(N));
  pattern(3);
  CALL(cuMemcpyHtoDAsync_v2, htod_async_t, "ok", d, src, N, s);
  CALL(cuMemcpyDtoHAsync_v2, dtoh_async_t, "ok", dst, d, N, s);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after async copies", s);
  SAY(cuMemcpyDtoHAsync_v2, "round trip", "%d", same(N));
  pattern(4);
  CALL(cuMemcpyHtoDAsync_v2_ptsz, htod_async_t, "ok, per-thread stream", d, src, N, NULL);
  CALL(cuMemcpyDtoHAsync_v2_ptsz, dtoh_async_t, "ok, per-thread stream", dst, d, N, NULL);
  CALL(cuStreamSynchronize_ptsz, __typeof__(&cuStreamSynchronize), "per-thread stream", NULL);
  SAY(cuMemcpyDtoHAsync_v2_ptsz, "round trip", "%d", same(N));
  pattern(5);
  CALL(cuMemcpyHtoDAsync_v2, htod_async_t, "ok, legacy stream", d, src, 100, NULL);
  CALL(cuMemcpyDtoHAsync_v2, dtoh_async_t, "ok, legacy stream", dst, d + 50, 50, NULL);
  CALL(cuCtxSynchronize, __typeof__(&cuCtxSynchronize), "after legacy-stream copies");
  SAY(cuMemcpyDtoHAsync_v2, "offset copy", "%d", memcmp(dst, src + 50, 50) == 0);

  static const struct {
    const char *name;
    int async;
  } forms[] = {{"cuMemcpyHtoD_v2", 0}, {"cuMemcpyHtoD_v2_ptds", 0}, {"cuMemcpyHtoDAsync_v2", 1},
               {"cuMemcpyHtoDAsync_v2_ptsz", 1}},
    back[] = {{"cuMemcpyDtoH_v2", 0}, {"cuMemcpyDtoH_v2_ptds", 0}, {"cuMemcpyDtoHAsync_v2", 1},
              {"cuMemcpyDtoHAsync_v2_ptsz", 1}};
  /* Each error case is followed by a synchronisation, whose result is part of the case: a
   * synchronous copy must not leave an error behind, and a fire-and-forget one reports its own
   * either way (diff_async). */
  CUresult (*sync)(void) = (CUresult(*)(void))diff_sym("cuCtxSynchronize");
  for (int i = 0; i < 4; i++) {
    void *f = diff_sym(forms[i].name);
#define HTOD(label, ...)                                                                          \
  do {                                                                                            \
    if (forms[i].async) {                                                                         \
      CUresult r_ = ((htod_async_t)f)(__VA_ARGS__, s);                                            \
      diff_async(forms[i].name, label, r_, sync());                                               \
    } else {                                                                                      \
      CUresult r_ = ((htod_t)f)(__VA_ARGS__);                                                     \
      printf("%s %s: %d, then %d\n", forms[i].name, label, (int)r_, (int)sync());                 \
    }                                                                                             \
  } while (0)
    HTOD("0 bytes", d, src, 0);
    HTOD("0 bytes from null", d, NULL, 0);
    HTOD("0 bytes to 0", (CUdeviceptr)0, src, 0);
    HTOD("null source", d, NULL, 16);
    HTOD("to 0", (CUdeviceptr)0, src, 16);
    HTOD("to a foreign address", (CUdeviceptr)0x1000, src, 16);
    HTOD("past the end", d + N - 8, src, 16);
    HTOD("to freed memory", freed, src, 16);
#undef HTOD
    if (forms[i].async) {
      CUresult r = ((htod_async_t)f)(d, src, 16, gone);
      diff_async(forms[i].name, "destroyed stream", r, sync());
    }
    void *g = diff_sym(back[i].name);
#define DTOH(label, ...)                                                                          \
  do {                                                                                            \
    CUresult r_ = back[i].async ? ((dtoh_async_t)g)(__VA_ARGS__, s) : ((dtoh_t)g)(__VA_ARGS__);   \
    printf("%s %s: %d, then %d\n", back[i].name, label, (int)r_, (int)sync());                    \
  } while (0)
    DTOH("0 bytes", dst, d, 0);
    DTOH("0 bytes to null", NULL, d, 0);
    DTOH("null destination", NULL, d, 16);
    DTOH("from 0", dst, (CUdeviceptr)0, 16);
    DTOH("from a foreign address", dst, (CUdeviceptr)0x1000, 16);
    DTOH("past the end", dst, d + N - 8, 16);
    DTOH("from freed memory", dst, freed, 16);
    DTOH("0 bytes from 0", dst, (CUdeviceptr)0, 0);
#undef DTOH
    if (back[i].async) {
      CUresult r = ((dtoh_async_t)g)(dst, d, 16, gone);
      printf("%s destroyed stream: %d, then %d\n", back[i].name, (int)r, (int)sync());
    }
  }
  /* Still usable after all of that. */
  pattern(6);
  CALL(cuMemcpyHtoD_v2, htod_t, "after the errors", d, src, N);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "after the errors", dst, d, N);
  SAY(cuMemcpyDtoH_v2, "round trip after the errors", "%d", same(N));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(d));
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(s));
}

/* 2D and 3D copies (guest/cuda/impl/memcpy2d.c composes them from linear ones): a pitched image
 * through every ABI form and direction, then the error cases, each followed by a synchronisation. */
typedef __typeof__(&cuMemcpy2D_v2) copy2d_t;
typedef __typeof__(&cuMemcpy2DAsync_v2) copy2d_async_t;
typedef __typeof__(&cuMemcpy3D_v2) copy3d_t;
typedef __typeof__(&cuMemcpy3DAsync_v2) copy3d_async_t;

enum { W = 100, H = 12, HP = 128 }; /* a row of W bytes; host rows HP bytes apart */

static CUDA_MEMCPY2D desc2d(CUmemorytype st, const void *sh, CUdeviceptr sd, size_t sp, CUmemorytype dt, void *dh,
                            CUdeviceptr dd, size_t dp) {
  CUDA_MEMCPY2D c;
  memset(&c, 0, sizeof c);
  c.srcMemoryType = st, c.srcHost = sh, c.srcDevice = sd, c.srcPitch = sp;
  c.dstMemoryType = dt, c.dstHost = dh, c.dstDevice = dd, c.dstPitch = dp;
  c.WidthInBytes = W, c.Height = H;
  return c;
}

/* Host rows HP apart hold the pattern; the bytes between them must be left alone. */
static int image_same(void) {
  for (int r = 0; r < H; r++) {
    if (memcmp(dst + r * HP, src + r * HP, W) != 0) return 0;
    for (int i = W; i < HP && r * HP + i < N; i++)
      if (dst[r * HP + i] != 0xee) return 0;
  }
  return 1;
}

static void copies_2d(void) {
  CUdeviceptr a = 0, b = 0;
  size_t pa = 0, pb = 0;
  MUST(((__typeof__(&cuMemAllocPitch_v2))diff_sym("cuMemAllocPitch_v2"))(&a, &pa, W, H, 4));
  MUST(((__typeof__(&cuMemAllocPitch_v2))diff_sym("cuMemAllocPitch_v2"))(&b, &pb, W, H + 4, 4));
  CUstream s = NULL;
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&s, CU_STREAM_NON_BLOCKING));
  CUresult (*sync)(void) = (CUresult(*)(void))diff_sym("cuCtxSynchronize");
  static const char *const forms[] = {"cuMemcpy2D_v2", "cuMemcpy2D_v2_ptds", "cuMemcpy2DUnaligned_v2",
                                      "cuMemcpy2DUnaligned_v2_ptds", "cuMemcpy2DAsync_v2", "cuMemcpy2DAsync_v2_ptsz"};
  for (int i = 0; i < 6; i++) {
    void *f = diff_sym(forms[i]);
    int async = i >= 4;
#define C2D(label, desc)                                                                            \
  do {                                                                                              \
    CUDA_MEMCPY2D c_ = (desc);                                                                      \
    if (async) diff_async(forms[i], label, ((copy2d_async_t)f)(&c_, s), sync());                    \
    else printf("%s %s: %d, then %d\n", forms[i], label, (int)((copy2d_t)f)(&c_), (int)sync());    \
  } while (0)
    pattern((unsigned)(10 + i));
    memset(dst, 0xee, sizeof dst);
    /* host -> a, a -> b (rows 2.. of b), b -> host */
    C2D("host to device", desc2d(CU_MEMORYTYPE_HOST, src, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, pa));
    CUDA_MEMCPY2D dd = desc2d(CU_MEMORYTYPE_DEVICE, NULL, a, pa, CU_MEMORYTYPE_DEVICE, NULL, b, pb);
    dd.dstY = 2;
    C2D("device to device", dd);
    CUDA_MEMCPY2D back = desc2d(CU_MEMORYTYPE_DEVICE, NULL, b, pb, CU_MEMORYTYPE_HOST, dst, 0, HP);
    back.srcY = 2;
    C2D("device to host", back);
    printf("%s image round trip: %d\n", forms[i], image_same());
    /* a sub-rectangle: 10 bytes from x = 5 of rows 3..5 */
    CUDA_MEMCPY2D sub = desc2d(CU_MEMORYTYPE_DEVICE, NULL, a, pa, CU_MEMORYTYPE_HOST, dst, 0, 10);
    sub.srcXInBytes = 5, sub.srcY = 3, sub.WidthInBytes = 10, sub.Height = 3;
    C2D("sub-rectangle to host", sub);
    printf("%s sub-rectangle: %d\n", forms[i],
           memcmp(dst, src + 3 * HP + 5, 10) == 0 && memcmp(dst + 20, src + 5 * HP + 5, 10) == 0);
    C2D("host to host", desc2d(CU_MEMORYTYPE_HOST, src, 0, HP, CU_MEMORYTYPE_HOST, dst, 0, HP));
    /* Unified operands (cudaMemcpyDefault): the address in the device field says where it is. */
    memset(dst, 0xee, sizeof dst);
    C2D("unified: host to device", desc2d(CU_MEMORYTYPE_UNIFIED, NULL, (CUdeviceptr)(uintptr_t)src, HP,
                                         CU_MEMORYTYPE_UNIFIED, NULL, a, pa));
    C2D("unified: device to host", desc2d(CU_MEMORYTYPE_UNIFIED, NULL, a, pa, CU_MEMORYTYPE_UNIFIED, NULL,
                                         (CUdeviceptr)(uintptr_t)dst, HP));
    printf("%s unified round trip: %d\n", forms[i], image_same());
    CUDA_MEMCPY2D bad = desc2d(CU_MEMORYTYPE_HOST, src, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, W - 1);
    C2D("destination pitch below the width", bad);
    bad = desc2d(CU_MEMORYTYPE_HOST, NULL, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, pa);
    C2D("null host source", bad);
    bad = desc2d(CU_MEMORYTYPE_HOST, src, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, pa);
    bad.Height = H + 1;
    C2D("one row past the allocation", bad);
    bad = desc2d(CU_MEMORYTYPE_HOST, src, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, (CUdeviceptr)0x1000, pa);
    C2D("to a foreign address", bad);
    bad = desc2d(CU_MEMORYTYPE_UNIFIED, NULL, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, pa);
    C2D("unified null source", bad);
    bad = desc2d(CU_MEMORYTYPE_ARRAY, src, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, pa);
    C2D("from a null array", bad);
    bad = desc2d((CUmemorytype)9, src, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, pa);
    C2D("unknown memory type", bad);
    bad = desc2d(CU_MEMORYTYPE_HOST, src, 0, HP, CU_MEMORYTYPE_DEVICE, NULL, a, pa);
    bad.WidthInBytes = 0;
    C2D("0 bytes wide", bad);
#undef C2D
    CUresult r = async ? ((copy2d_async_t)f)(NULL, s) : ((copy2d_t)f)(NULL);
    printf("%s null descriptor: %d\n", forms[i], (int)r);
  }

  /* 3D: two slices of H rows, slices H + 2 rows apart on the device. */
  static const char *const forms3[] = {"cuMemcpy3D_v2", "cuMemcpy3D_v2_ptds", "cuMemcpy3DAsync_v2", "cuMemcpy3DAsync_v2_ptsz"};
  CUdeviceptr vol = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&vol, 2 * (H + 2) * 128));
  for (int i = 0; i < 4; i++) {
    void *f = diff_sym(forms3[i]);
    int async = i >= 2;
#define C3D(label, desc)                                                                            \
  do {                                                                                              \
    CUDA_MEMCPY3D c_ = (desc);                                                                      \
    if (async) diff_async(forms3[i], label, ((copy3d_async_t)f)(&c_, s), sync());                  \
    else printf("%s %s: %d, then %d\n", forms3[i], label, (int)((copy3d_t)f)(&c_), (int)sync());  \
  } while (0)
    pattern((unsigned)(30 + i));
    memset(dst, 0xee, sizeof dst);
    CUDA_MEMCPY3D up;
    memset(&up, 0, sizeof up);
    up.srcMemoryType = CU_MEMORYTYPE_HOST, up.srcHost = src, up.srcPitch = HP / 2, up.srcHeight = H;
    up.dstMemoryType = CU_MEMORYTYPE_DEVICE, up.dstDevice = vol, up.dstPitch = 128, up.dstHeight = H + 2;
    up.WidthInBytes = W / 2, up.Height = H, up.Depth = 2;
    C3D("host to device", up);
    CUDA_MEMCPY3D down = up;
    down.srcMemoryType = CU_MEMORYTYPE_DEVICE, down.srcHost = NULL, down.srcDevice = vol, down.srcPitch = 128,
    down.srcHeight = H + 2;
    down.dstMemoryType = CU_MEMORYTYPE_HOST, down.dstHost = dst, down.dstDevice = 0, down.dstPitch = HP / 2,
    down.dstHeight = H;
    C3D("device to host", down);
    int same3 = 1;
    for (int z = 0; z < 2; z++)
      for (int r = 0; r < H; r++)
        same3 = same3 && memcmp(dst + (z * H + r) * (HP / 2), src + (z * H + r) * (HP / 2), W / 2) == 0;
    printf("%s volume round trip: %d\n", forms3[i], same3);
    CUDA_MEMCPY3D bad = up;
    bad.dstHeight = H - 1;
    C3D("slice height below the height", bad);
    bad = up;
    bad.Depth = 3;
    C3D("one slice past the allocation", bad);
    bad = up;
    bad.srcLOD = 1;
    C3D("a level of detail", bad);
#undef C3D
  }
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(a));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(b));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(vol));
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(s));
}

/* ---- pointer attributes and unified addressing (docs/pointers.md) ---- */

typedef __typeof__(&cuPointerGetAttribute) get_attr_t;
typedef __typeof__(&cuPointerGetAttributes) get_attrs_t;
typedef __typeof__(&cuMemcpy) memcpy_t;
typedef __typeof__(&cuMemcpyAsync) memcpy_async_t;
typedef __typeof__(&cuMemGetAddressRange_v2) range_t;

/* Every attribute CUDA 13 defines, and one it does not. */
#define NATTR 21
static const CUpointer_attribute k_all[NATTR] = {
    CU_POINTER_ATTRIBUTE_CONTEXT, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_POINTER,
    CU_POINTER_ATTRIBUTE_HOST_POINTER, CU_POINTER_ATTRIBUTE_P2P_TOKENS, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS,
    CU_POINTER_ATTRIBUTE_BUFFER_ID, CU_POINTER_ATTRIBUTE_IS_MANAGED, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
    CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
    CU_POINTER_ATTRIBUTE_RANGE_SIZE, CU_POINTER_ATTRIBUTE_MAPPED, CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES,
    CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE, CU_POINTER_ATTRIBUTE_ACCESS_FLAGS,
    CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, CU_POINTER_ATTRIBUTE_MAPPING_SIZE, CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR,
    CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID, CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE};
#define BAD_ATTR ((CUpointer_attribute)99)

/* Attributes that describe page-locked host memory as the device sees it: a local driver maps it
 * into the device's address space, vgpu cannot (docs/pointers.md), so for host memory they are
 * notes, not compared. */
static int device_view(CUpointer_attribute a) {
  return a == CU_POINTER_ATTRIBUTE_DEVICE_POINTER || a == CU_POINTER_ATTRIBUTE_RANGE_START_ADDR ||
         a == CU_POINTER_ATTRIBUTE_RANGE_SIZE || a == CU_POINTER_ATTRIBUTE_ACCESS_FLAGS ||
         a == CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR || a == CU_POINTER_ATTRIBUTE_MAPPING_SIZE;
}

/* Each attribute alone, then the ones that do not depend on the backend's numbering. `host`: the
 * pointer is page-locked host memory. */
static void one_by_one(const char *what, CUdeviceptr p, CUcontext ctx, CUdeviceptr base, size_t size, int host) {
  uint8_t v[32];
  char label[96];
  for (int i = 0; i < NATTR; i++) {
    memset(v, 0xee, sizeof v);
    snprintf(label, sizeof label, "%s attribute %d", what, (int)k_all[i]);
    if (host && device_view(k_all[i])) {
      /* The guest's host memory is not in the device's address space behind vgpu: a note. */
      CUresult r = ((get_attr_t)diff_sym("cuPointerGetAttribute"))(v, k_all[i], p);
      printf("# cuPointerGetAttribute %s: %d\n", label, (int)r);
      continue;
    }
    if (CALL(cuPointerGetAttribute, get_attr_t, label, v, k_all[i], p) != CUDA_SUCCESS) continue;
    switch (k_all[i]) {
      case CU_POINTER_ATTRIBUTE_CONTEXT: printf("cuPointerGetAttribute %s: context is the current one %s\n", what, *(CUcontext *)v == ctx ? "yes" : "no"); break;
      case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      case CU_POINTER_ATTRIBUTE_HOST_POINTER: printf("cuPointerGetAttribute %s: pointer %d is itself: %d\n", what, (int)k_all[i], *(CUdeviceptr *)v == p); break;
      case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR: printf("cuPointerGetAttribute %s: range start is the base: %d\n", what, *(CUdeviceptr *)v == base); break;
      case CU_POINTER_ATTRIBUTE_RANGE_SIZE: printf("cuPointerGetAttribute %s: range size is the size: %d\n", what, *(size_t *)v == size); break;
      case CU_POINTER_ATTRIBUTE_BUFFER_ID:
      case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
      case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
      case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
      case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
      case CU_POINTER_ATTRIBUTE_P2P_TOKENS: break; /* numbering differs between drivers */
      default: printf("cuPointerGetAttribute %s: attribute %d = %d\n", what, (int)k_all[i], *(int *)v); break;
    }
  }
  CALL(cuPointerGetAttribute, get_attr_t, "undefined attribute", v, BAD_ATTR, p);
  CALL(cuPointerGetAttribute, get_attr_t, "null data", NULL, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p);
}

/* All attributes in one call, as cudart's cudaPointerGetAttributes asks (a subset), then all. */
static void all_at_once(const char *what, CUdeviceptr p, CUcontext ctx, int expect_tokens_refused) {
  CUpointer_attribute some[5] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                                 CU_POINTER_ATTRIBUTE_DEVICE_POINTER, CU_POINTER_ATTRIBUTE_HOST_POINTER,
                                 CU_POINTER_ATTRIBUTE_CONTEXT};
  unsigned type = 77;
  int ordinal = 77;
  CUdeviceptr dp = 77;
  void *hp = (void *)77;
  CUcontext c = (CUcontext)77;
  void *data[5] = {&type, &ordinal, &dp, &hp, &c};
  char label[96];
  snprintf(label, sizeof label, "%s as cudart asks", what);
  if (CALL(cuPointerGetAttributes, get_attrs_t, label, 5, some, data, p) == CUDA_SUCCESS) {
    printf("cuPointerGetAttributes %s: type %u ordinal %d host pointer is itself %d (null %d) context current %d (null %d)\n",
           what, type, ordinal, (CUdeviceptr)hp == p, hp == NULL, c == ctx, c == NULL);
    /* See device_view. */
    printf("# cuPointerGetAttributes %s: device pointer is itself %d (null %d)\n", what, dp == p, dp == 0);
  }
  uint8_t vals[NATTR][32];
  void *all[NATTR];
  CUpointer_attribute list[NATTR];
  int n = 0;
  for (int i = 0; i < NATTR; i++) {
    if (k_all[i] == CU_POINTER_ATTRIBUTE_P2P_TOKENS && expect_tokens_refused) continue;
    list[n] = k_all[i];
    all[n] = vals[n];
    n++;
  }
  snprintf(label, sizeof label, "%s every attribute", what);
  CALL(cuPointerGetAttributes, get_attrs_t, label, (unsigned)n, list, all, p);
  list[0] = BAD_ATTR;
  snprintf(label, sizeof label, "%s with an undefined attribute", what);
  CALL(cuPointerGetAttributes, get_attrs_t, label, (unsigned)n, list, all, p);
}

static void pointers(CUcontext ctx) {
  CUdeviceptr d = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&d, N));
  void *h = NULL;
  MUST(((__typeof__(&cuMemAllocHost_v2))diff_sym("cuMemAllocHost_v2"))(&h, N));
  long page = sysconf(_SC_PAGESIZE);
  char *reg = aligned_alloc((size_t)page, (size_t)page);
  MUST(((__typeof__(&cuMemHostRegister_v2))diff_sym("cuMemHostRegister_v2"))(reg, (size_t)page, 0));
  static char pageable[256];

  one_by_one("device", d, ctx, d, N, 0);
  one_by_one("inside device", d + 100, ctx, d, N, 0);
  one_by_one("pinned", (CUdeviceptr)h, ctx, (CUdeviceptr)h, N, 1);
  one_by_one("registered", (CUdeviceptr)reg, ctx, (CUdeviceptr)reg, (size_t)page, 1);
  one_by_one("pageable", (CUdeviceptr)pageable, ctx, 0, 0, 0);
  one_by_one("null", 0, ctx, 0, 0, 0);
  all_at_once("device", d, ctx, 1);
  all_at_once("pinned", (CUdeviceptr)h, ctx, 0);
  all_at_once("registered", (CUdeviceptr)reg, ctx, 0);
  all_at_once("pageable", (CUdeviceptr)pageable, ctx, 0);
  all_at_once("null", 0, ctx, 0);
  CUpointer_attribute t = CU_POINTER_ATTRIBUTE_MEMORY_TYPE;
  void *none[1] = {NULL};
  CALL(cuPointerGetAttributes, get_attrs_t, "no attributes", 0, &t, none, d);
  CALL(cuPointerGetAttributes, get_attrs_t, "null data slot", 1, &t, none, d);

  CUdeviceptr base = 0;
  size_t size = 0;
  CALL(cuMemGetAddressRange_v2, range_t, "inside device", &base, &size, d + 100);
  SAY(cuMemGetAddressRange_v2, "inside device", "base %d size %d", base == d, size == N);
  CALL(cuMemGetAddressRange_v2, range_t, "only the size", NULL, &size, d + 1);
  CALL(cuMemGetAddressRange_v2, range_t, "pinned", &base, &size, (CUdeviceptr)h);
  SAY(cuMemGetAddressRange_v2, "pinned", "base %d size %d", base == (CUdeviceptr)h, size == N);
  CALL(cuMemGetAddressRange_v2, range_t, "registered", &base, &size, (CUdeviceptr)reg);
  CALL(cuMemGetAddressRange_v2, range_t, "pageable", &base, &size, (CUdeviceptr)pageable);
  CALL(cuMemGetAddressRange_v2, range_t, "past the end", &base, &size, d + N);

  /* cuMemcpy and cuMemcpyAsync in every direction; host memory pinned and pageable. */
  CUdeviceptr d2 = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&d2, N));
  CUstream s = NULL;
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&s, 0));
  static const struct { const char *name; int async; } forms[] = {
      {"cuMemcpy", 0}, {"cuMemcpy_ptds", 0}, {"cuMemcpyAsync", 1}, {"cuMemcpyAsync_ptsz", 1}};
  for (int f = 0; f < 4; f++) {
    void *fn = diff_sym(forms[f].name);
#define UCOPY(label, to, from, n)                                                                      \
  diff_result(forms[f].name, label,                                                                    \
              forms[f].async ? ((memcpy_async_t)fn)((CUdeviceptr)(to), (CUdeviceptr)(from), n, s)      \
                             : ((memcpy_t)fn)((CUdeviceptr)(to), (CUdeviceptr)(from), n))
    pattern(20 + (unsigned)f);
    UCOPY("pageable to device", d, src, N);
    UCOPY("device to device", d2, d, N);
    UCOPY("device to pinned", h, d2, N);
    UCOPY("pinned to pinned", (uint8_t *)h + N / 2, h, N / 2);
    UCOPY("pinned to device", d + N / 2, (uint8_t *)h + N / 2, N / 2);
    UCOPY("device to pageable", dst, d, N);
    if (forms[f].async) MUST(((__typeof__(&cuStreamSynchronize))diff_sym("cuStreamSynchronize"))(s));
    printf("%s round trip: %d\n", forms[f].name, same(N));
    UCOPY("zero bytes", d, src, 0);
    if (forms[f].async) {
      /* A host-to-device copy is fire-and-forget through vgpu: its error may come at the sync. */
      CUresult at_call = ((memcpy_async_t)fn)(d + 16, (CUdeviceptr)src, N, s);
      CUresult at_sync = ((__typeof__(&cuStreamSynchronize))diff_sym("cuStreamSynchronize"))(s);
      diff_async(forms[f].name, "past the end of device memory", at_call, at_sync);
    } else {
      UCOPY("past the end of device memory", d + 16, src, N);
    }
    UCOPY("device past the end to pageable", dst, d + 16, N);
#undef UCOPY
  }
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(s));
  MUST(((__typeof__(&cuMemHostUnregister))diff_sym("cuMemHostUnregister"))(reg));
  free(reg);
  MUST(((__typeof__(&cuMemFreeHost))diff_sym("cuMemFreeHost"))(h));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(d));
  MUST(((__typeof__(&cuMemFree_v2))diff_sym("cuMemFree_v2"))(d2));
  one_by_one("freed device", d, ctx, 0, 0, 0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  /* Without a context first. */
  size_t f = 0, t = 0;
  void *h = NULL;
  CALL(cuMemGetInfo_v2, __typeof__(&cuMemGetInfo_v2), "no context", &f, &t);
  CALL(cuMemAllocHost_v2, __typeof__(&cuMemAllocHost_v2), "no context", &h, 4096);
  CALL(cuMemHostAlloc, __typeof__(&cuMemHostAlloc), "no context", &h, 4096, 0);
  CALL(cuMemHostRegister_v2, __typeof__(&cuMemHostRegister_v2), "no context", src, sizeof src, 0);
  CALL(cuMemcpyHtoD_v2, htod_t, "no context", (CUdeviceptr)0x1000, src, 16);
  CALL(cuMemcpyDtoH_v2, dtoh_t, "no context", dst, (CUdeviceptr)0x1000, 16);
  CUcontext ctx;
  MUST(((__typeof__(&cuDevicePrimaryCtxRetain))diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, 0));
  MUST(((__typeof__(&cuCtxSetCurrent))diff_sym("cuCtxSetCurrent"))(ctx));
  info();
  pitch();
  pools();
  host_memory();
  copies();
  copies_2d();
  pointers(ctx);
  return 0;
}
