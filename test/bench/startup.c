/*
 * Session start for `make bench` (test/bench/main.ts, figure "startup"), linked against vgpu's
 * libcuda.so.1 and, for the baseline, straight against softgpu:
 *   startup T0_NS [hold]
 * T0_NS is the CLOCK_MONOTONIC time (ns) at which the bench spawned this process (Node's
 * process.hrtime is the same clock on Linux). The program does cuInit, cuDeviceGet, cuCtxCreate and
 * a 1 MiB cuMemAlloc (its first GPU work: through vgpu, waiting for its session's executor
 * included) and prints {"first_call_ms": MS}, MS from T0_NS to that allocation's completion. With
 * `hold` it then keeps its session open, idle, until the end of stdin, so that the bench can read
 * the memory of idle sessions' executors.
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(x)                                                                   \
  do {                                                                          \
    CUresult r_ = (x);                                                          \
    if (r_ != CUDA_SUCCESS) {                                                   \
      fprintf(stderr, "%s failed: %d\n", #x, (int)r_);                          \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: startup T0_NS [hold]\n");
    return 2;
  }
  char *end;
  unsigned long long t0 = strtoull(argv[1], &end, 10);
  if (*end != '\0') {
    fprintf(stderr, "T0_NS must be an integer: %s\n", argv[1]);
    return 2;
  }
  CUdevice d;
  CUcontext ctx;
  CUdeviceptr p;
  CK(cuInit(0));
  CK(cuDeviceGet(&d, 0));
  CK(cuCtxCreate(&ctx, NULL, 0, d));
  CK(cuMemAlloc(&p, 1 << 20));
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  unsigned long long now = (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
  printf("{\"first_call_ms\": %.3f}\n", (double)(now - t0) / 1e6);
  fflush(stdout);
  if (argc > 2 && strcmp(argv[2], "hold") == 0) {
    char buf[256];
    while (fgets(buf, sizeof buf, stdin)) {
    }
  }
  CK(cuMemFree(p));
  CK(cuCtxDestroy(ctx));
  return 0;
}
