// Device and pinned memory through the CUDA runtime: allocation, copies in every direction,
// memset, memory info, and an invalid copy that fails without spoiling what follows.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u + seed);
}

int main() {
  const size_t N = 3u << 20; /* spans several transfer frames */
  uint8_t *h = (uint8_t *)malloc(N), *back = (uint8_t *)malloc(N);
  fill(h, N, 7);

  size_t free0 = 0, total = 0;
  OK("cudaMemGetInfo", cudaMemGetInfo(&free0, &total));
  CHECK("free <= total, both non-zero", free0 > 0 && total > 0 && free0 <= total);

  uint8_t *d = NULL, *d2 = NULL;
  OK("cudaMalloc", cudaMalloc((void **)&d, N));
  OK("cudaMalloc second", cudaMalloc((void **)&d2, N));
  CHECK("distinct non-null pointers", d && d2 && d != d2);
  size_t free1 = 0;
  OK("cudaMemGetInfo after allocating", cudaMemGetInfo(&free1, &total));
  CHECK("free memory went down", free1 < free0);

  OK("cudaMemcpy HtoD", cudaMemcpy(d, h, N, cudaMemcpyHostToDevice));
  OK("cudaMemcpy DtoD", cudaMemcpy(d2, d, N, cudaMemcpyDeviceToDevice));
  memset(back, 0, N);
  OK("cudaMemcpy DtoH", cudaMemcpy(back, d2, N, cudaMemcpyDeviceToHost));
  CHECK("round trip through two buffers", memcmp(h, back, N) == 0);

  OK("cudaMemset", cudaMemset(d + 100, 0xab, 1000));
  OK("cudaMemcpy after memset", cudaMemcpy(back, d, 2000, cudaMemcpyDeviceToHost));
  int memset_ok = memcmp(back, h, 100) == 0 && memcmp(back + 1100, h + 1100, 900) == 0;
  for (int i = 100; i < 1100; i++) memset_ok = memset_ok && back[i] == 0xab;
  CHECK("memset wrote exactly its range", memset_ok);
  OK("cudaDeviceSynchronize", cudaDeviceSynchronize());

  /* Pinned memory, both ways of getting it. */
  uint8_t *ph = NULL, *ph2 = NULL;
  OK("cudaMallocHost", cudaMallocHost((void **)&ph, N));
  OK("cudaHostAlloc", cudaHostAlloc((void **)&ph2, N, cudaHostAllocPortable));
  fill(ph, N, 99);
  OK("cudaMemcpy pinned HtoD", cudaMemcpy(d, ph, N, cudaMemcpyHostToDevice));
  OK("cudaMemcpy pinned DtoH", cudaMemcpy(ph2, d, N, cudaMemcpyDeviceToHost));
  CHECK("pinned round trip", memcmp(ph, ph2, N) == 0);
  unsigned int flags = 0;
  OK("cudaHostGetFlags", cudaHostGetFlags(&flags, ph2));
  CHECK("portable flag kept", (flags & cudaHostAllocPortable) != 0);
  OK("cudaFreeHost", cudaFreeHost(ph));
  OK("cudaFreeHost second", cudaFreeHost(ph2));

  /* Errors: the call fails, the program carries on. */
  EXPECT("copy from an address that is not device memory", cudaMemcpy(back, (void *)(uintptr_t)0x10, 64, cudaMemcpyDeviceToHost),
         cudaErrorInvalidValue);
  cudaGetLastError(); /* clear the sticky-free last error */
  void *huge = NULL;
  EXPECT("allocation larger than the device", cudaMalloc(&huge, total * 4), cudaErrorMemoryAllocation);
  cudaGetLastError();
  OK("copies still work after errors", cudaMemcpy(back, d2, N, cudaMemcpyDeviceToHost));
  CHECK("and still copy the right bytes", memcmp(h, back, N) == 0);

  OK("cudaFree", cudaFree(d));
  OK("cudaFree second", cudaFree(d2));
  OK("cudaFree(NULL) is a no-op", cudaFree(NULL));
  size_t free2 = 0;
  OK("cudaMemGetInfo after freeing", cudaMemGetInfo(&free2, &total));
  CHECK("memory came back", free2 > free1);
  free(h);
  free(back);
  return finish();
}
