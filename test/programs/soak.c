/*
 * One guest of `make soak` (test/soak/soak.ts): ROUNDS rounds of random work, every result
 * checked against what the host side computes: allocations of random sizes, host-to-device,
 * device-to-device and device-to-host copies, memsets, `vadd` launches, and a captured graph
 * (memset + launch) replayed. Prints one line per round,
 *   round CALLS VERIFIED CORRUPT
 * with the calls made, bytes checked and bytes found wrong in it (after calls that all succeeded).
 * A failing call ends the program: `error CALL CODE` and exit 4 (the soak kills executors, so
 * CUDA_ERROR_DEVICE_UNAVAILABLE is expected there); exit 0 after the last round.
 *   soak FATBIN SEED ROUNDS
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_prog.h"

static uint64_t rng;
static unsigned long calls;

static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

/* A call that must succeed; otherwise the program reports it and ends. */
#define GO(x)                                                                   \
  do {                                                                          \
    calls++;                                                                    \
    CUresult r_ = (x);                                                          \
    if (r_ != CUDA_SUCCESS) {                                                   \
      printf("error %s %d\n", #x, (int)r_);                                     \
      exit(4);                                                                  \
    }                                                                           \
  } while (0)

/* Bytes of `got` that differ from `want`. */
static size_t differ(const void *got, const void *want, size_t n) {
  const uint8_t *g = got, *w = want;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += g[i] != w[i];
  return bad;
}

static void fill(float *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (float)(next() % 4096);
}

/* Copies: a random buffer up, across and back. */
static void round_copies(size_t *verified, size_t *corrupt) {
  size_t n = 1024 + next() % (1u << 20); /* floats: 4 KiB to 4 MiB */
  float *h = malloc(n * 4), *back = malloc(n * 4);
  if (!h || !back) exit(5);
  fill(h, n);
  CUdeviceptr a, b;
  GO(cuMemAlloc(&a, n * 4));
  GO(cuMemAlloc(&b, n * 4));
  GO(cuMemcpyHtoD(a, h, n * 4));
  GO(cuMemcpyDtoD(b, a, n * 4));
  GO(cuMemcpyDtoH(back, b, n * 4));
  *verified += n * 4;
  *corrupt += differ(back, h, n * 4);
  uint32_t v = next();
  GO(cuMemsetD32(a, v, n));
  GO(cuMemcpyDtoH(back, a, n * 4));
  for (size_t i = 0; i < n; i++) ((uint32_t *)h)[i] = v;
  *verified += n * 4;
  *corrupt += differ(back, h, n * 4);
  GO(cuMemFree(a));
  GO(cuMemFree(b));
  free(h);
  free(back);
}

/* c = a + b on the device, a launch or a replayed graph (memset + launch). */
static void round_kernel(CUfunction vadd, CUstream s, int graph, size_t *verified, size_t *corrupt) {
  int n = 256 * (1 + (int)(next() % 256));
  size_t bytes = (size_t)n * 4;
  float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes), *want = malloc(bytes);
  if (!a || !b || !c || !want) exit(5);
  fill(a, (size_t)n);
  fill(b, (size_t)n);
  for (int i = 0; i < n; i++) want[i] = a[i] + b[i];
  CUdeviceptr da, db, dc;
  GO(cuMemAlloc(&da, bytes));
  GO(cuMemAlloc(&db, bytes));
  GO(cuMemAlloc(&dc, bytes));
  GO(cuMemcpyHtoDAsync(da, a, bytes, s));
  GO(cuMemcpyHtoDAsync(db, b, bytes, s));
  void *args[] = {&da, &db, &dc, &n};
  if (graph) {
    CUgraph g;
    CUgraphExec ge;
    GO(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    GO(cuMemsetD32Async(dc, 0, (size_t)n, s));
    GO(cuLaunchKernel(vadd, (unsigned)n / 256, 1, 1, 256, 1, 1, 0, s, args, NULL));
    GO(cuStreamEndCapture(s, &g));
    GO(cuGraphInstantiate(&ge, g, 0));
    int reps = 1 + (int)(next() % 3);
    for (int r = 0; r < reps; r++) GO(cuGraphLaunch(ge, s));
    GO(cuGraphExecDestroy(ge));
    GO(cuGraphDestroy(g));
  } else {
    GO(cuLaunchKernel(vadd, (unsigned)n / 256, 1, 1, 256, 1, 1, 0, s, args, NULL));
  }
  GO(cuMemcpyDtoHAsync(c, dc, bytes, s));
  GO(cuStreamSynchronize(s));
  *verified += bytes;
  *corrupt += differ(c, want, bytes);
  GO(cuMemFree(da));
  GO(cuMemFree(db));
  GO(cuMemFree(dc));
  free(a);
  free(b);
  free(c);
  free(want);
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  rng = strtoull(argv[2], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
  int rounds = atoi(argv[3]);
  const char *img = load_image(argv[1]);
  if (!img) return 2;
  CUdevice d;
  CUcontext ctx;
  CUmodule m;
  CUfunction vadd;
  CUstream s;
  GO(cuInit(0));
  GO(cuDeviceGet(&d, 0));
  GO(cuCtxCreate(&ctx, NULL, 0, d));
  GO(cuModuleLoadData(&m, img));
  GO(cuModuleGetFunction(&vadd, m, "vadd"));
  GO(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  for (int r = 0; r < rounds; r++) {
    size_t verified = 0, corrupt = 0;
    unsigned long before = calls;
    switch (next() % 3) {
    case 0: round_copies(&verified, &corrupt); break;
    case 1: round_kernel(vadd, s, 0, &verified, &corrupt); break;
    default: round_kernel(vadd, s, 1, &verified, &corrupt); break;
    }
    printf("round %lu %zu %zu\n", calls - before, verified, corrupt);
  }
  GO(cuStreamDestroy(s));
  GO(cuModuleUnload(m));
  GO(cuCtxDestroy(ctx));
  return 0;
}
