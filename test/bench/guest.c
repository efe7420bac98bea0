/*
 * The vgpu side of `make bench`, linked against vgpu's libcuda.so.1:
 *   guest sync N        N synchronous small calls (cuCtxSynchronize): mean round trip in us
 *   guest copy MIB [pageable]   HtoD and DtoH bandwidth of one MIB-sized copy (best of 5), GB/s,
 *                       of page-locked memory (cuMemAllocHost), or with "pageable" of malloc'd
 *                       memory
 *   guest stream DIR MIB PASSES   PASSES copies of MIB from pageable memory, DIR htod or dtoh,
 *                       after one warm-up pass; waits until the CLOCK_REALTIME second in
 *                       VGPU_BENCH_START_AT (when set) so that several guests copy together, and
 *                       prints when its passes began and ended (CLOCK_REALTIME seconds)
 *   guest htod-data MIB KIND   HtoD bandwidth of one MIB-sized copy from pageable memory holding
 *                       KIND data: "text" (repetitive, compresses well) or "random" (does not);
 *                       best of 3, read back and checked once, GB/s
 *   guest discover      cuInit + device count + name/memory/attributes (what a discovery-only
 *                       process does); the caller times the whole process
 *   guest launches N FATBIN   N launches of an empty kernel, then one synchronize: launches/s;
 *                       like stream, waits for VGPU_BENCH_START_AT (when set) after its warm-up
 *                       and prints when its launches began and ended (CLOCK_REALTIME seconds)
 *   guest sgemm N PTX   N x N tiled shared-memory SGEMM (softgpu/tests/ptx/sgemm.ptx) on the device,
 *                       checked against, and timed next to, a naive single-thread C loop
 * The same source is also linked straight against softgpu (no vgpu in between) for the baseline.
 * Each prints one JSON object.
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

#define CK(x)                                                                   \
  do {                                                                          \
    CUresult r_ = (x);                                                          \
    if (r_ != CUDA_SUCCESS) {                                                   \
      fprintf(stderr, "%s failed: %d\n", #x, (int)r_);                          \
      exit(1);                                                                  \
    }                                                                           \
  } while (0)

static double realtime_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Sleeps until the CLOCK_REALTIME second in VGPU_BENCH_START_AT, when set: several guests that
 * set up at their own pace then start their measured work together. */
static void wait_start_at(void)
{
  const char *at = getenv("VGPU_BENCH_START_AT");
  if (!at) return;
  double start = atof(at);
  for (;;) {
    double left = start - realtime_s();
    if (left <= 0) break;
    struct timespec w = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
    nanosleep(&w, NULL);
  }
}

static void setup(void)
{
  CUdevice d;
  CUcontext c;
  CK(cuInit(0));
  CK(cuDeviceGet(&d, 0));
  CK(cuDevicePrimaryCtxRetain(&c, d));
  CK(cuCtxSetCurrent(c));
}

int main(int argc, char **argv)
{
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "discover")) {
    int n = 0, v = 0;
    CK(cuInit(0));
    CK(cuDeviceGetCount(&n));
    for (int i = 0; i < n; i++) {
      CUdevice d;
      char name[256];
      size_t mem;
      int a;
      CK(cuDeviceGet(&d, i));
      CK(cuDeviceGetName(name, sizeof name, d));
      CK(cuDeviceTotalMem(&mem, d));
      CK(cuDeviceGetAttribute(&a, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d));
      CK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d));
      CK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_INTEGRATED, d));
    }
    printf("{\"devices\": %d}\n", n);
    return 0;
  }
  setup();
  if (!strcmp(argv[1], "sync") && argc > 2) {
    int n = atoi(argv[2]);
    for (int i = 0; i < 1000; i++) CK(cuCtxSynchronize());
    double t0 = now_s();
    for (int i = 0; i < n; i++) CK(cuCtxSynchronize());
    printf("{\"rtt_us\": %.3f}\n", (now_s() - t0) / n * 1e6);
    return 0;
  }
  if (!strcmp(argv[1], "launches") && argc > 3) {
    int n = atoi(argv[2]);
    FILE *f = fopen(argv[3], "rb");
    if (!f) return 2;
    static char img[1 << 20];
    size_t len = fread(img, 1, sizeof img, f);
    fclose(f);
    if (len == 0) return 2;
    CUmodule m;
    CUfunction k;
    CK(cuModuleLoadData(&m, img));
    CK(cuModuleGetFunction(&k, m, "empty"));
    for (int i = 0; i < 1000; i++) CK(cuLaunchKernel(k, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    CK(cuCtxSynchronize());
    wait_start_at();
    double r0 = realtime_s(), t0 = now_s();
    for (int i = 0; i < n; i++) CK(cuLaunchKernel(k, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    CK(cuCtxSynchronize());
    double t1 = now_s(), r1 = realtime_s();
    printf("{\"launches_per_s\": %.0f, \"t0\": %.6f, \"t1\": %.6f}\n", n / (t1 - t0), r0, r1);
    return 0;
  }
  if (!strcmp(argv[1], "sgemm") && argc > 3) {
    int n = atoi(argv[2]);
    if (n <= 0 || n % 16) return 2;
    FILE *f = fopen(argv[3], "rb");
    if (!f) return 2;
    static char ptx[1 << 20];
    size_t len = fread(ptx, 1, sizeof ptx - 1, f);
    fclose(f);
    ptx[len] = 0;
    size_t bytes = (size_t)n * n * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes), *ref = malloc(bytes);
    for (int i = 0; i < n * n; i++) { a[i] = (float)((i * 7) % 13) / 13.0f; b[i] = (float)((i * 5) % 11) / 11.0f; }
    double t0 = now_s();
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        float acc = 0;
        for (int k = 0; k < n; k++) acc += a[i * n + k] * b[k * n + j];
        ref[i * n + j] = acc;
      }
    double naive = now_s() - t0;
    CUmodule m;
    CUfunction k;
    CUdeviceptr da, db, dc;
    CK(cuModuleLoadData(&m, ptx));
    CK(cuModuleGetFunction(&k, m, "sgemm"));
    CK(cuMemAlloc(&da, bytes)); CK(cuMemAlloc(&db, bytes)); CK(cuMemAlloc(&dc, bytes));
    CK(cuMemcpyHtoD(da, a, bytes)); CK(cuMemcpyHtoD(db, b, bytes));
    void *args[] = {&da, &db, &dc, &n};
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
      double t1 = now_s();
      CK(cuLaunchKernel(k, n / 16, n / 16, 1, 16, 16, 1, 0, NULL, args, NULL));
      CK(cuCtxSynchronize());
      double dt = now_s() - t1;
      if (dt < best) best = dt;
    }
    CK(cuMemcpyDtoH(c, dc, bytes));
    double maxerr = 0;
    for (int i = 0; i < n * n; i++) {
      double e = c[i] - ref[i];
      if (e < 0) e = -e;
      if (e > maxerr) maxerr = e;
    }
    printf("{\"device_ms\": %.2f, \"naive_ms\": %.2f, \"max_err\": %g}\n", best * 1e3, naive * 1e3, maxerr);
    return maxerr < 1e-2 ? 0 : 3;
  }
  if (!strcmp(argv[1], "stream") && argc > 4) {
    int htod = !strcmp(argv[2], "htod");
    size_t n = (size_t)atoi(argv[3]) << 20;
    int passes = atoi(argv[4]);
    unsigned char *h = malloc(n);
    CUdeviceptr d;
    if (!h || passes < 1) return 2;
    memset(h, 5, n);
    CK(cuMemAlloc(&d, n));
    CK(htod ? cuMemcpyHtoD(d, h, n) : cuMemcpyDtoH(h, d, n));
    wait_start_at();
    double t0 = realtime_s();
    for (int p = 0; p < passes; p++) CK(htod ? cuMemcpyHtoD(d, h, n) : cuMemcpyDtoH(h, d, n));
    printf("{\"t0\": %.6f, \"t1\": %.6f}\n", t0, realtime_s());
    return 0;
  }
  if (!strcmp(argv[1], "htod-data") && argc > 3) {
    size_t n = (size_t)atoi(argv[2]) << 20;
    unsigned char *h = malloc(n), *back = malloc(n);
    CUdeviceptr d;
    if (!h || !back) return 2;
    if (!strcmp(argv[3], "random")) {
      uint64_t x = 0x9e3779b97f4a7c15ull;
      for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h[i] = (unsigned char)x;
      }
    } else {
      static const char words[] = "the quick brown fox jumps over the lazy dog; tensors, weights and activations. ";
      for (size_t i = 0; i < n; i++) h[i] = (unsigned char)words[(i * 7 / 5 + i / 4096) % (sizeof words - 1)];
    }
    CK(cuMemAlloc(&d, n));
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
      double t0 = now_s();
      CK(cuMemcpyHtoD(d, h, n));
      double dt = now_s() - t0;
      if (dt < best) best = dt;
    }
    CK(cuMemcpyDtoH(back, d, n));
    if (memcmp(h, back, n)) {
      fprintf(stderr, "data read back differs\n");
      return 3;
    }
    printf("{\"htod_gbps\": %.3f}\n", n / best / 1e9);
    return 0;
  }
  if (!strcmp(argv[1], "copy") && argc > 2) {
    size_t n = (size_t)atoi(argv[2]) << 20;
    void *h;
    CUdeviceptr d;
    if (argc > 3 && !strcmp(argv[3], "pageable")) {
      if (!(h = malloc(n))) return 2;
    } else {
      CK(cuMemAllocHost(&h, n));
    }
    memset(h, 3, n);
    CK(cuMemAlloc(&d, n));
    double best_h2d = 1e9, best_d2h = 1e9;
    for (int r = 0; r < 5; r++) {
      double t0 = now_s();
      CK(cuMemcpyHtoD(d, h, n));
      double t1 = now_s();
      CK(cuMemcpyDtoH(h, d, n));
      double t2 = now_s();
      if (t1 - t0 < best_h2d) best_h2d = t1 - t0;
      if (t2 - t1 < best_d2h) best_d2h = t2 - t1;
    }
    printf("{\"htod_gbps\": %.3f, \"dtoh_gbps\": %.3f}\n", n / best_h2d / 1e9, n / best_d2h / 1e9);
    return 0;
  }
  return 2;
}
