/*
 * Copies MIB MiB of pageable memory to the device COUNT times, and nothing else: a tenant that
 * only moves data. Once set up (context and allocation) it prints `ready` and waits for a line
 * or the end of stdin; at the end it prints {"copies": COUNT}. Used by test/e2e/scheduling.test.ts
 * against a compute tenant of higher priority (the copy lane's budget, docs/executors.md).
 *   copier MIB COUNT
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  size_t n = (size_t)atoi(argv[1]) << 20;
  long count = atol(argv[2]);
  unsigned char *h = malloc(n);
  if (!h || count < 1) return 2;
  memset(h, 0x5a, n);
  CUdevice dev;
  CUcontext ctx;
  CUdeviceptr d;
  if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev) || cuCtxSetCurrent(ctx) || cuMemAlloc(&d, n)) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  int ch;
  while ((ch = getchar()) != EOF && ch != '\n') {
  }
  for (long i = 0; i < count; i++) {
    CUresult r = cuMemcpyHtoD(d, h, n);
    if (r) {
      fprintf(stderr, "copy %ld: CUresult %d\n", i, (int)r);
      return 1;
    }
  }
  printf("{\"copies\": %ld}\n", count);
  return 0;
}
