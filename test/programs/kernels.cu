// Kernels for test/programs/launch.c, compiled by the test to a fatbin, a PTX file and an ELF-only
// cubin (nvcc -fatbin / -ptx / -cubin). extern "C" keeps the names unmangled.
#include <cstdint>

struct Blob {
  double d[5];
  int i;
};

__device__ int counter;
__constant__ float scale;

extern "C" __global__ void vadd(const float *a, const float *b, float *c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

extern "C" __global__ void mixed(char c, short s, Blob blob, double d, long long *out, float f) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    out[0] = c;
    out[1] = s;
    out[2] = (long long)(blob.d[0] + blob.d[4]);
    out[3] = blob.i;
    out[4] = (long long)d;
    out[5] = (long long)f;
  }
}

extern "C" __global__ void count(float *out) {
  atomicAdd(&counter, 1);
  out[threadIdx.x] = scale * threadIdx.x;
}

extern "C" __global__ void empty() {}

extern "C" __global__ void poke(int *p) { *p = 42; }

// Compute-bound work for the scheduling tests: iters dependent FMAs per thread.
extern "C" __global__ void spin(float *out, int iters) {
  float x = threadIdx.x * 0.001f, y = 1.0f;
  for (int i = 0; i < iters; i++) y = fmaf(y, 0.9999f, x);
  out[blockIdx.x * blockDim.x + threadIdx.x] = y;
}

// Reads texel 0 of texture object t (test/programs/texture_probe.c).
extern "C" __global__ void tex_peek(unsigned long long t, float *out) {
  out[0] = tex1Dfetch<float>((cudaTextureObject_t)t, 0);
}
