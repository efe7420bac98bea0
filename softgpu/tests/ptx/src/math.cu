// nvcc -ptx -arch=sm_80 math.cu -o ../math.ptx
// Ordinary CUDA C++ math as nvcc 13 lowers it: libdevice sequences for expf/logf/sinf/powf,
// double precision, integer intrinsics, half precision, __syncwarp and warp reductions.
#include <cuda_fp16.h>
extern "C" __global__ void fmath(const float *x, float *o) {
  int i = threadIdx.x;
  float v = x[i];
  float *r = o + i * 12;
  r[0] = expf(v);
  r[1] = logf(fabsf(v) + 1.0f);
  r[2] = sinf(v);
  r[3] = cosf(v);
  r[4] = powf(fabsf(v), 1.5f);
  r[5] = sqrtf(fabsf(v));
  r[6] = tanhf(v);
  r[7] = atan2f(v, 1.5f);
  r[8] = fmodf(v, 0.7f);
  r[9] = (float)exp((double)v);
  r[10] = (float)log1p((double)fabsf(v));
  r[11] = erff(v);
}
extern "C" __global__ void imath(const int *x, unsigned *o) {
  int i = threadIdx.x;
  int v = x[i];
  unsigned *r = o + i * 12;
  r[0] = __brev(v);
  r[1] = __popc(v);
  r[2] = __clz(v);
  r[3] = __ffs(v);
  r[4] = v / 7;
  r[5] = v % 7;
  r[6] = (unsigned)v / 13u;
  r[7] = (unsigned)(((long long)v * 1000003LL) >> 7);
  r[8] = __byte_perm(v, 0x12345678, 0x3210 ^ (i & 0x7777));
  r[9] = __funnelshift_l(v, 0xdeadbeef, i);
  r[10] = __usad(v, 100, 5);
  r[11] = __mulhi(v, 0x12345);
}
extern "C" __global__ void hmath(const float *x, float *o) {
  int i = threadIdx.x;
  __half a = __float2half(x[i]), b = __float2half(0.5f);
  __half2 h2 = __floats2half2_rn(x[i], 2.0f);
  float *r = o + i * 4;
  r[0] = __half2float(__hadd(a, b));
  r[1] = __half2float(__hmul(a, a));
  r[2] = __half2float(__hfma(a, b, a));
  r[3] = __low2float(__hmul2(h2, h2)) + __high2float(h2);
}
extern "C" __global__ void warp(const int *x, int *o) {
  int i = threadIdx.x;
  int v = x[i];
  __syncwarp();
  int s = __reduce_add_sync(0xffffffff, v);
  int m = __reduce_max_sync(0xffffffff, v);
  unsigned a = __reduce_or_sync(0xffffffff, (unsigned)v);
  o[i * 3] = s;
  o[i * 3 + 1] = m;
  o[i * 3 + 2] = (int)a;
  __syncwarp();
  atomicAdd((double *)(o + 200), (double)v);
}
