/*
 * A CUDA driver-API program written against CUDA 13's cuda.h, linked against vgpu's
 * libcuda.so.1, run through a real mediator by test/e2e/driver-api.test.ts. It checks its own
 * results and prints one "ok - name" or "not ok - name" line per check; exit status 0 only if all
 * passed. Nothing here knows about vgpu: it is the kind of program a user would write.
 */
#include <cuda.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"


#define MIB (1024u * 1024u)

static void fill(uint8_t *p, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u + seed);
}

static void *thread_main(void *arg)
{
  CUcontext ctx = (CUcontext)arg, cur = NULL;
  int *ok = malloc(sizeof *ok);
  *ok = cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur == NULL; /* new thread: no current context */
  *ok = *ok && cuCtxSetCurrent(ctx) == CUDA_SUCCESS;
  CUdeviceptr d;
  uint32_t host[256], back[256];
  for (int i = 0; i < 256; i++) host[i] = (uint32_t)(i * 7 + (uintptr_t)&host);
  for (int iter = 0; iter < 20 && *ok; iter++) {
    *ok = cuMemAlloc(&d, sizeof host) == CUDA_SUCCESS &&
          cuMemcpyHtoD(d, host, sizeof host) == CUDA_SUCCESS &&
          cuMemcpyDtoH(back, d, sizeof back) == CUDA_SUCCESS &&
          memcmp(host, back, sizeof host) == 0 && cuMemFree(d) == CUDA_SUCCESS;
  }
  return ok;
}

int main(void)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* ---- device queries ---------------------------------------------------------------------- */
  int ver = 0, count = 0;
  EXPECT("cuInit", cuInit(0), CUDA_SUCCESS);
  EXPECT("cuDriverGetVersion", cuDriverGetVersion(&ver), CUDA_SUCCESS);
  CHECK("driver version >= 13000", ver >= 13000);
  EXPECT("cuDeviceGetCount", cuDeviceGetCount(&count), CUDA_SUCCESS);
  CHECK("one device or more", count >= 1);
  CUdevice dev;
  EXPECT("cuDeviceGet", cuDeviceGet(&dev, 0), CUDA_SUCCESS);
  EXPECT("cuDeviceGet out of range", cuDeviceGet(&dev, count), CUDA_ERROR_INVALID_DEVICE);
  EXPECT("cuDeviceGet 0", cuDeviceGet(&dev, 0), CUDA_SUCCESS);
  char name[256] = {0};
  EXPECT("cuDeviceGetName", cuDeviceGetName(name, sizeof name, dev), CUDA_SUCCESS);
  CHECK("device name is set", strlen(name) > 0);
  printf("# device: %s\n", name);
  size_t total = 0;
  EXPECT("cuDeviceTotalMem", cuDeviceTotalMem(&total, dev), CUDA_SUCCESS);
  CHECK("total memory >= 256 MiB", total >= 256u * MIB);
  int major = 0, minor = 0, warp = 0, maxthreads = 0;
  EXPECT("attr CC major", cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), CUDA_SUCCESS);
  EXPECT("attr CC minor", cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), CUDA_SUCCESS);
  EXPECT("attr warp size", cuDeviceGetAttribute(&warp, CU_DEVICE_ATTRIBUTE_WARP_SIZE, dev), CUDA_SUCCESS);
  EXPECT("attr max threads", cuDeviceGetAttribute(&maxthreads, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, dev), CUDA_SUCCESS);
  CHECK("compute capability >= 5.0", major >= 5);
  CHECK("warp size 32", warp == 32);
  CHECK("max threads per block 1024", maxthreads == 1024);
  int bogus;
  EXPECT("unknown attribute", cuDeviceGetAttribute(&bogus, (CUdevice_attribute)100000, dev), CUDA_ERROR_INVALID_VALUE);
  printf("# compute capability %d.%d, %zu MiB\n", major, minor, total / MIB);
  CUuuid uuid;
  memset(&uuid, 0, sizeof uuid);
  EXPECT("cuDeviceGetUuid", cuDeviceGetUuid(&uuid, dev), CUDA_SUCCESS);
  int nonzero = 0;
  for (int i = 0; i < 16; i++) nonzero |= uuid.bytes[i];
  CHECK("uuid is set", nonzero != 0);
  char bus[32] = {0};
  EXPECT("cuDeviceGetPCIBusId", cuDeviceGetPCIBusId(bus, sizeof bus, dev), CUDA_SUCCESS);
  CHECK("pci bus id looks like dddd:bb:dd.f", strlen(bus) == 12 && bus[4] == ':' && bus[7] == ':' && bus[10] == '.');
  CUdevice dev2 = -1;
  EXPECT("cuDeviceGetByPCIBusId", cuDeviceGetByPCIBusId(&dev2, bus), CUDA_SUCCESS);
  CHECK("bus id maps back to the device", dev2 == dev);
  printf("# pci %s\n", bus);

  /* ---- primary context ---------------------------------------------------------------------- */
  CUcontext ctx = NULL, cur = NULL;
  EXPECT("cuCtxGetCurrent before any context", cuCtxGetCurrent(&cur), CUDA_SUCCESS);
  CHECK("no current context yet", cur == NULL);
  CUdeviceptr none;
  EXPECT("cuMemAlloc without a context", cuMemAlloc(&none, 16), CUDA_ERROR_INVALID_CONTEXT);
  EXPECT("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
  EXPECT("cuCtxSetCurrent", cuCtxSetCurrent(ctx), CUDA_SUCCESS);
  EXPECT("cuCtxGetCurrent", cuCtxGetCurrent(&cur), CUDA_SUCCESS);
  CHECK("current context is the primary one", cur == ctx);
  CUdevice cdev = -1;
  EXPECT("cuCtxGetDevice", cuCtxGetDevice(&cdev), CUDA_SUCCESS);
  CHECK("context device", cdev == dev);
  unsigned pflags = 0;
  int active = 0;
  EXPECT("cuDevicePrimaryCtxGetState", cuDevicePrimaryCtxGetState(dev, &pflags, &active), CUDA_SUCCESS);
  CHECK("primary context is active", active == 1);

  /* ---- memory --------------------------------------------------------------------------------- */
  size_t free0 = 0, total0 = 0;
  EXPECT("cuMemGetInfo", cuMemGetInfo(&free0, &total0), CUDA_SUCCESS);
  CHECK("free <= total", free0 <= total0 && total0 > 0);
  const size_t N = 64u * MIB;
  CUdeviceptr a = 0, b = 0;
  EXPECT("cuMemAlloc 64 MiB", cuMemAlloc(&a, N), CUDA_SUCCESS);
  EXPECT("cuMemAlloc 64 MiB again", cuMemAlloc(&b, N), CUDA_SUCCESS);
  CHECK("allocations are 256-byte aligned", a % 256 == 0 && b % 256 == 0);
  size_t free1 = 0, total1 = 0;
  EXPECT("cuMemGetInfo after alloc", cuMemGetInfo(&free1, &total1), CUDA_SUCCESS);
  CHECK("free memory went down by >= 128 MiB", free0 - free1 >= 2 * N);
  CUdeviceptr base = 0;
  size_t asize = 0;
  EXPECT("cuMemGetAddressRange", cuMemGetAddressRange(&base, &asize, a + 1000), CUDA_SUCCESS);
  CHECK("address range", base == a && asize == N);

  uint8_t *h1 = malloc(N), *h2 = malloc(N);
  fill(h1, N, 3);
  memset(h2, 0, N);
  EXPECT("cuMemcpyHtoD 64 MiB", cuMemcpyHtoD(a, h1, N), CUDA_SUCCESS);
  EXPECT("cuMemcpyDtoD 64 MiB", cuMemcpyDtoD(b, a, N), CUDA_SUCCESS);
  EXPECT("cuMemcpyDtoH 64 MiB", cuMemcpyDtoH(h2, b, N), CUDA_SUCCESS);
  CHECK("HtoD -> DtoD -> DtoH bytes match", memcmp(h1, h2, N) == 0);

  EXPECT("cuMemsetD8", cuMemsetD8(a, 0xab, N), CUDA_SUCCESS);
  EXPECT("cuMemsetD16", cuMemsetD16(a + 2, 0x1234, 100), CUDA_SUCCESS);
  EXPECT("cuMemsetD32", cuMemsetD32(a + 1024, 0xdeadbeef, 100), CUDA_SUCCESS);
  EXPECT("DtoH after memsets", cuMemcpyDtoH(h2, a, 4096), CUDA_SUCCESS);
  int mem_ok = h2[0] == 0xab && h2[1] == 0xab && h2[2] == 0x34 && h2[3] == 0x12 && h2[201] == 0x12 && h2[202] == 0xab;
  uint32_t w32;
  memcpy(&w32, h2 + 1024, 4);
  mem_ok = mem_ok && w32 == 0xdeadbeef;
  memcpy(&w32, h2 + 1024 + 99 * 4, 4);
  mem_ok = mem_ok && w32 == 0xdeadbeef && h2[1024 + 400] == 0xab;
  CHECK("memset values", mem_ok);

  /* ---- pinned host memory, streams, async copies, events ---------------------------------- */
  void *pin1 = NULL, *pin2 = NULL;
  EXPECT("cuMemHostAlloc", cuMemHostAlloc(&pin1, 8 * MIB, CU_MEMHOSTALLOC_PORTABLE), CUDA_SUCCESS);
  EXPECT("cuMemAllocHost", cuMemAllocHost(&pin2, 8 * MIB), CUDA_SUCCESS);
  unsigned hflags = 0;
  EXPECT("cuMemHostGetFlags", cuMemHostGetFlags(&hflags, pin1), CUDA_SUCCESS);
  CUstream s1, s2;
  EXPECT("cuStreamCreate", cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  int lo = 0, hi = 0;
  EXPECT("cuCtxGetStreamPriorityRange", cuCtxGetStreamPriorityRange(&lo, &hi), CUDA_SUCCESS);
  EXPECT("cuStreamCreateWithPriority", cuStreamCreateWithPriority(&s2, CU_STREAM_NON_BLOCKING, hi), CUDA_SUCCESS);
  int prio = 12345;
  EXPECT("cuStreamGetPriority", cuStreamGetPriority(s2, &prio), CUDA_SUCCESS);
  CHECK("stream priority", prio == hi);
  CUevent e0, e1;
  EXPECT("cuEventCreate", cuEventCreate(&e0, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  EXPECT("cuEventCreate 2", cuEventCreate(&e1, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  fill(pin1, 8 * MIB, 9);
  memset(pin2, 0, 8 * MIB);
  EXPECT("cuEventRecord start", cuEventRecord(e0, s1), CUDA_SUCCESS);
  EXPECT("cuMemcpyHtoDAsync", cuMemcpyHtoDAsync(a, pin1, 8 * MIB, s1), CUDA_SUCCESS);
  EXPECT("cuMemsetD32Async", cuMemsetD32Async(b, 7, 1024, s1), CUDA_SUCCESS);
  EXPECT("cuMemcpyDtoDAsync", cuMemcpyDtoDAsync(b + 4096, a, 8 * MIB, s1), CUDA_SUCCESS);
  EXPECT("cuEventRecord end", cuEventRecord(e1, s1), CUDA_SUCCESS);
  EXPECT("cuStreamWaitEvent", cuStreamWaitEvent(s2, e1, 0), CUDA_SUCCESS);
  EXPECT("cuMemcpyDtoHAsync", cuMemcpyDtoHAsync(pin2, b + 4096, 8 * MIB, s2), CUDA_SUCCESS);
  EXPECT("cuStreamSynchronize s2", cuStreamSynchronize(s2), CUDA_SUCCESS);
  EXPECT("cuEventSynchronize", cuEventSynchronize(e1), CUDA_SUCCESS);
  EXPECT("cuEventQuery", cuEventQuery(e1), CUDA_SUCCESS);
  EXPECT("cuStreamQuery", cuStreamQuery(s1), CUDA_SUCCESS);
  CHECK("async copies round-trip through pinned memory", memcmp(pin1, pin2, 8 * MIB) == 0);
  float ms = -1.0f;
  EXPECT("cuEventElapsedTime", cuEventElapsedTime(&ms, e0, e1), CUDA_SUCCESS);
  CHECK("elapsed time >= 0", ms >= 0.0f);
  printf("# elapsed %.3f ms\n", ms);
  EXPECT("cuMemcpyDtoH memsetD32Async result", cuMemcpyDtoH(h2, b, 4096), CUDA_SUCCESS);
  memcpy(&w32, h2 + 4092, 4);
  CHECK("memsetD32Async wrote 1024 words", w32 == 7);

  /* ---- errors are errors, and the session stays usable --------------------------------------- */
  EXPECT("copy to a pointer the session does not own", cuMemcpyHtoD((CUdeviceptr)0x1000, h1, 16), CUDA_ERROR_INVALID_VALUE);
  EXPECT("copy past the end of an allocation", cuMemcpyHtoD(a + N - 8, h1, 16), CUDA_ERROR_INVALID_VALUE);
  EXPECT("read past the end of an allocation", cuMemcpyDtoH(h2, a + N - 8, 16), CUDA_ERROR_INVALID_VALUE);
  EXPECT("memset past the end", cuMemsetD32(b + N - 4, 0, 2), CUDA_ERROR_INVALID_VALUE);
  EXPECT("unknown stream", cuStreamSynchronize((CUstream)(uintptr_t)0x5151515151ull), CUDA_ERROR_INVALID_HANDLE);
  EXPECT("absurd allocation", cuMemAlloc(&none, (size_t)1 << 50), CUDA_ERROR_OUT_OF_MEMORY);
  EXPECT("cuMemFree", cuMemFree(b), CUDA_SUCCESS);
  EXPECT("double free", cuMemFree(b), CUDA_ERROR_INVALID_VALUE);
  EXPECT("cuStreamDestroy", cuStreamDestroy(s2), CUDA_SUCCESS);
  EXPECT("destroyed stream", cuStreamSynchronize(s2), CUDA_ERROR_INVALID_HANDLE);
  EXPECT("still usable: DtoH", cuMemcpyDtoH(h2, a, 64), CUDA_SUCCESS);
  CHECK("still usable: data intact", memcmp(h2, pin1, 64) == 0); /* a now holds pin1's bytes */
  EXPECT("cuCtxSynchronize", cuCtxSynchronize(), CUDA_SUCCESS);

  /* ---- threads share the context; each thread has its own current context ---------------- */
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread_main, ctx);
  int threads_ok = 1;
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(th[i], &r);
    threads_ok = threads_ok && *(int *)r;
    free(r);
  }
  CHECK("4 threads copy concurrently", threads_ok);

  /* ---- fork: the child opens its own session ---------------------------------------------- */
  pid_t pid = fork();
  if (pid == 0) {
    CUcontext c2;
    CUdevice d2;
    CUdeviceptr p2;
    uint64_t v = 0x1122334455667788ull, back = 0;
    int ok = cuInit(0) == CUDA_SUCCESS && cuDeviceGet(&d2, 0) == CUDA_SUCCESS &&
             cuDevicePrimaryCtxRetain(&c2, d2) == CUDA_SUCCESS && cuCtxSetCurrent(c2) == CUDA_SUCCESS &&
             cuMemAlloc(&p2, 8) == CUDA_SUCCESS && cuMemcpyHtoD(p2, &v, 8) == CUDA_SUCCESS &&
             cuMemcpyDtoH(&back, p2, 8) == CUDA_SUCCESS && back == v;
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK("a forked child gets its own working session", WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT("parent still works after fork", cuMemcpyDtoH(h2, a, 64), CUDA_SUCCESS);

  EXPECT("cuEventDestroy", cuEventDestroy(e0), CUDA_SUCCESS);
  EXPECT("cuMemFreeHost", cuMemFreeHost(pin1), CUDA_SUCCESS);
  EXPECT("cuMemFreeHost foreign pointer", cuMemFreeHost(h1), CUDA_ERROR_INVALID_VALUE);
  EXPECT("cuMemFree a", cuMemFree(a), CUDA_SUCCESS);
  EXPECT("cuDevicePrimaryCtxRelease", cuDevicePrimaryCtxRelease(dev), CUDA_SUCCESS);
  free(h1);
  free(h2);
  printf("# %d failure(s)\n", failures);
  return failures ? 1 : 0;
}
