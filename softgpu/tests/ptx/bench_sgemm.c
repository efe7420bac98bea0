/*
 * Speed check for the PTX engine: the tiled shared-memory SGEMM from sgemm.ptx (256x256, 16x16
 * tiles) against a naive single-thread C loop, with the result compared exactly. `make bench-ptx`
 * builds it optimised (no sanitizers) and runs it; VGPU_SOFTGPU_THREADS=1 measures one core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptx.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "softgpu/tests/ptx/sgemm.ptx";
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); return 2; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *text = malloc((size_t)n);
  if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) { fclose(f); return 2; }
  fclose(f);
  char err[512] = "";
  sg_ptx_module *m;
  sg_ptx_kernel *k;
  if (sg_ptx_load(text, (size_t)n, &m, err, sizeof err) || sg_ptx_get_kernel(m, "sgemm", &k)) {
    fprintf(stderr, "load: %s\n", err);
    return 1;
  }
  enum { N = 256 };
  sg_devptr A, B, C;
  if (sg_mem_init() || sg_mem_alloc(N * N * 4, &A) || sg_mem_alloc(N * N * 4, &B) || sg_mem_alloc(N * N * 4, &C)) return 1;
  float *ha = sg_mem_check(A, N * N * 4), *hb = sg_mem_check(B, N * N * 4), *hc = sg_mem_check(C, N * N * 4);
  for (int i = 0; i < N * N; i++) { ha[i] = (float)(i % 7) * 0.5f; hb[i] = (float)(i % 5) * 0.25f; }
  struct { unsigned long long a, b, c; int n; } P = {A, B, C, N};
  sg_ptx_launch l = {{N / 16, N / 16, 1}, {16, 16, 1}, 0, &P, 28, NULL, NULL, NULL, 0};
  double t0 = now();
  sg_ptx_status st = sg_ptx_run(k, &l, err, sizeof err);
  double t1 = now();
  static float ref[N * N];
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      float s = 0;
      for (int q = 0; q < N; q++) s += ha[i * N + q] * hb[q * N + j];
      ref[i * N + j] = s;
    }
  double t2 = now();
  int bad = 0;
  for (int i = 0; i < N * N; i++) bad += ref[i] != hc[i];
  printf("sgemm %dx%d: engine %.1f ms, naive C %.1f ms, ratio %.1fx, status %d, mismatches %d\n", N, N,
         (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t1 - t0) / (t2 - t1), (int)st, bad);
  sg_ptx_unload(m);
  free(text);
  return st != SG_PTX_OK || bad;
}
