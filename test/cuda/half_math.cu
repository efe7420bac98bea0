// cuda_fp16.h's math functions, whose inline assembly declares registers as `.reg.b32 f;` (no
// space): softgpu once refused such a module as a whole. Results checked against the CPU's.
#include <cuda_fp16.h>
#include <math.h>

#include "check.h"

__global__ void half_math(const __half *in, float *out, int n) {
  int i = threadIdx.x;
  if (i >= n) return;
  out[4 * i] = __half2float(hsqrt(in[i]));
  out[4 * i + 1] = __half2float(hexp(in[i]));
  out[4 * i + 2] = __half2float(hlog(in[i]));
  __half2 two = h2sqrt(__halves2half2(in[i], in[i]));
  out[4 * i + 3] = __low2float(two) + __high2float(two);
}

int main() {
  const int n = 8;
  __half h[n];
  float r[4 * n];
  for (int i = 0; i < n; i++) h[i] = __float2half(0.5f + i);
  __half *d;
  float *o;
  OK("malloc in", cudaMalloc(&d, sizeof h));
  OK("malloc out", cudaMalloc(&o, sizeof r));
  OK("copy in", cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
  half_math<<<1, n>>>(d, o, n);
  OK("the module loads and the kernel runs", cudaGetLastError());
  OK("copy out", cudaMemcpy(r, o, sizeof r, cudaMemcpyDeviceToHost));
  bool sq = true, ex = true, lg = true, sq2 = true;
  for (int i = 0; i < n; i++) {
    float x = __half2float(h[i]);
    // half precision: 11 significant bits.
    sq = sq && fabsf(r[4 * i] - sqrtf(x)) <= 2e-3f * sqrtf(x);
    ex = ex && fabsf(r[4 * i + 1] - expf(x)) <= 2e-3f * expf(x);
    lg = lg && fabsf(r[4 * i + 2] - logf(x)) <= 2e-3f;
    sq2 = sq2 && fabsf(r[4 * i + 3] - 2 * sqrtf(x)) <= 4e-3f * sqrtf(x);
  }
  CHECK("hsqrt", sq);
  CHECK("hexp", ex);
  CHECK("hlog", lg);
  CHECK("h2sqrt", sq2);
  return finish();
}
