// nvcc-flags: -gencode=arch=compute_75,code=compute_75 -gencode=arch=compute_80,code=compute_80 -gencode=arch=compute_90,code=compute_90 -gencode=arch=compute_100,code=compute_100 -gencode=arch=compute_120,code=compute_120
// cuda_fp16.h and cuda_bf16.h as each virtual architecture lowers them (emulated through f32 on
// older ones, native f16/bf16 instructions on newer: which PTX runs depends on the compute
// capability the test runs this at). Exact operations on exactly representable inputs must give
// the CPU's values bit for bit; the approximate functions (hsqrt, hexp, hlog, hrcp) must be
// within two units in the last place of the CPU's value rounded to the type.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "../cuda/check.h"

#define N 64

struct Out {
  float sqrt_, exp_, log_, rcp_;       // half approximations
  float fma2_lo, fma2_hi, mul2_lo;     // __hfma2, __hmul2
  float h2f, i2h;                      // conversions
  int h2i;
  float b_add, b_mul, b_fma, b_sqrt;   // bf16
  float b2f, f2b;
  int lt, maxv;
};

__global__ void math(const float *in, Out *out) {
  int i = threadIdx.x;
  float x = in[i];
  __half h = __float2half_rn(x);
  Out o;
  o.sqrt_ = __half2float(hsqrt(h));
  o.exp_ = __half2float(hexp(__float2half_rn(x / 16.0f)));
  o.log_ = __half2float(hlog(h));
  o.rcp_ = __half2float(hrcp(h));
  __half2 a = __halves2half2(h, __float2half_rn(x / 2.0f));
  __half2 b = __halves2half2(__float2half_rn(0.25f), __float2half_rn(-1.5f));
  __half2 c = __halves2half2(__float2half_rn(1.0f), __float2half_rn(0.125f));
  __half2 f = __hfma2(a, b, c);
  o.fma2_lo = __low2float(f);
  o.fma2_hi = __high2float(f);
  o.mul2_lo = __low2float(__hmul2(a, b));
  o.h2f = __half2float(h);
  o.h2i = __half2int_rn(__float2half_rn(x * 3.0f));
  o.i2h = __half2float(__int2half_rn(i * 37 - 900));
  __nv_bfloat16 bx = __float2bfloat16_rn(x), by = __float2bfloat16_rn(0.75f);
  o.b_add = __bfloat162float(__hadd(bx, by));
  o.b_mul = __bfloat162float(__hmul(bx, by));
#if __CUDA_ARCH__ >= 800
  o.b_fma = __bfloat162float(__hfma(bx, by, __float2bfloat16_rn(-2.0f)));
  o.b_sqrt = __bfloat162float(hsqrt(bx));
#else // cuda_bf16.h has bf16 fma and math from compute_80 on only
  o.b_fma = __bfloat162float(__float2bfloat16_rn(__bfloat162float(bx) * 0.75f - 2.0f));
  o.b_sqrt = sqrtf(__bfloat162float(bx));
#endif
  o.b2f = __bfloat162float(bx);
  o.f2b = __bfloat162float(__float2bfloat16_rn(x + 1.0f / 1024.0f));
  o.lt = __hlt(h, __float2half_rn(4.0f));
  o.maxv = (int)__half2float(__hmax(h, __float2half_rn(8.0f)));
  out[i] = o;
}

static float to_half(float v) { return __half2float(__float2half_rn(v)); }
static float to_bf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

// Within two units in the last place of `want` (the CPU's value rounded to the type).
static int close_to(float got, float want, int mantissa_bits) {
  if (isinf(want)) return got == want;
  float ulp = ldexpf(1.0f, (want == 0 ? -14 : ilogbf(want)) - mantissa_bits);
  return fabsf(got - want) <= 2 * ulp;
}

int main() {
  cudaDeviceProp prop;
  OK("device", cudaGetDeviceProperties(&prop, 0));
  printf("# compute capability %d.%d\n", prop.major, prop.minor);
  float in[N];
  for (int i = 0; i < N; i++) in[i] = 0.125f * (i + 1); // 0.125 .. 8: exact in half and bf16
  float *din;
  Out *dout, out[N];
  OK("malloc in", cudaMalloc(&din, sizeof in));
  OK("malloc out", cudaMalloc(&dout, sizeof out));
  OK("copy in", cudaMemcpy(din, in, sizeof in, cudaMemcpyHostToDevice));
  math<<<1, N>>>(din, dout);
  OK("kernel", cudaGetLastError());
  OK("copy out", cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost));
  int approx = 1, exact = 1, conv = 1, bf = 1, cmp = 1;
  for (int i = 0; i < N; i++) {
    float x = in[i];
    const Out &o = out[i];
    approx &= close_to(o.sqrt_, to_half(sqrtf(x)), 10) && close_to(o.exp_, to_half(expf(x / 16.0f)), 10) &&
              close_to(o.log_, to_half(logf(x)), 10) && close_to(o.rcp_, to_half(1.0f / x), 10);
    exact &= o.fma2_lo == to_half(x * 0.25f + 1.0f) && o.fma2_hi == to_half(x / 2.0f * -1.5f + 0.125f) &&
             o.mul2_lo == to_half(x * 0.25f);
    conv &= o.h2f == x && o.h2i == (int)rintf(x * 3.0f) && o.i2h == to_half((float)(i * 37 - 900)) &&
            o.b2f == x && o.f2b == to_bf16(x + 1.0f / 1024.0f);
    bf &= o.b_add == to_bf16(x + 0.75f) && o.b_mul == to_bf16(x * 0.75f) && o.b_fma == to_bf16(x * 0.75f - 2.0f) &&
          close_to(o.b_sqrt, to_bf16(sqrtf(x)), 7);
    cmp &= o.lt == (x < 4.0f) && o.maxv == (int)(x > 8.0f ? x : 8.0f);
    if (!(approx && exact && conv && bf && cmp)) {
      printf("# first difference at %g: sqrt %g exp %g log %g rcp %g fma2 %g %g b_add %g b_mul %g b_fma %g b_sqrt %g\n",
             x, o.sqrt_, o.exp_, o.log_, o.rcp_, o.fma2_lo, o.fma2_hi, o.b_add, o.b_mul, o.b_fma, o.b_sqrt);
      break;
    }
  }
  CHECK("hsqrt, hexp, hlog, hrcp within two units in the last place", approx);
  CHECK("__hfma2 and __hmul2 exact", exact);
  CHECK("half and bf16 conversions", conv);
  CHECK("bf16 add, mul, fma exact, sqrt close", bf);
  CHECK("comparisons and max", cmp);
  return finish();
}
