/*
 * A host-to-device copy from pageable memory, then the data read back and compared: every byte
 * must arrive, however long the host held it before the copy ran and however it travelled
 * (compressed or not); then the same as an asynchronous copy. Prints "# ready" once its context and allocation exist; with "wait", waits
 * for a line on stdin then (test/e2e/staging.test.ts makes another VM hold the GPU meanwhile).
 * KIND: "pattern" (compresses well) or "random" (does not; test/e2e/compression.test.ts). With
 * "warm", a 64 KiB copy before "# ready" sets up the staging block of the shared region where the
 * guest has one (guest/cuda/impl/shm.c): setting it up takes calls that wait for the GPU slice.
 *   stage_copy MIB [pattern|random] [wait] [warm]
 */
#include <cuda.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  size_t n = (size_t)atoi(argv[1]) << 20;
  uint8_t *h = malloc(n), *back = malloc(n);
  if (!h || !back) return 2;
  if (argc > 2 && !strcmp(argv[2], "random")) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      h[i] = (uint8_t)x;
    }
  } else {
    for (size_t i = 0; i < n; i++) h[i] = (uint8_t)(i * 131u + (i >> 12));
  }
  CUdevice dev;
  CUcontext ctx;
  CUdeviceptr d;
  if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev) || cuCtxSetCurrent(ctx) || cuMemAlloc(&d, n)) {
    printf("not ok - setup\n");
    return 1;
  }
  if (argc > 4 && !strcmp(argv[4], "warm") && cuMemcpyHtoD(d, h, (size_t)64 << 10)) {
    printf("not ok - warm-up copy\n");
    return 1;
  }
  printf("# ready\n");
  char line[8];
  if (argc > 3 && !strcmp(argv[3], "wait") && !fgets(line, sizeof line, stdin)) return 2;
  EXPECT("HtoD from pageable memory", cuMemcpyHtoD(d, h, n), CUDA_SUCCESS);
  memset(back, 0, n);
  EXPECT("DtoH", cuMemcpyDtoH(back, d, n), CUDA_SUCCESS);
  CHECK("every byte arrived", memcmp(h, back, n) == 0);
  /* The same again as fire-and-forget pieces (cuMemcpyHtoDAsync on the null stream). */
  EXPECT("memset", cuMemsetD8(d, 0, n), CUDA_SUCCESS);
  EXPECT("HtoDAsync from pageable memory", cuMemcpyHtoDAsync(d, h, n, 0), CUDA_SUCCESS);
  EXPECT("synchronize", cuCtxSynchronize(), CUDA_SUCCESS);
  memset(back, 0, n);
  EXPECT("DtoH after HtoDAsync", cuMemcpyDtoH(back, d, n), CUDA_SUCCESS);
  CHECK("every byte arrived asynchronously", memcmp(h, back, n) == 0);
  return failures ? 1 : 0;
}
