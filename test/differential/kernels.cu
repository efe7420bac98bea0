// Kernels for the differential programs (test/differential/module.c), built to a fatbin by
// test/e2e/differential.test.ts. extern "C" keeps the names unmangled.

struct Pair {
  char c;
  double d;
};

__device__ int table[16];
__constant__ float coeff[4];

extern "C" __global__ void fill(int *out, int base, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = base + i;
}

extern "C" __global__ void nothing() {}

// Parameters of several sizes and alignments, for the parameter-layout cases.
extern "C" __global__ void layout(char c, Pair p, short s, long long *out) {
  if (threadIdx.x == 0) {
    out[0] = c;
    out[1] = (long long)p.d + p.c;
    out[2] = s;
  }
}

// Reads the module's globals, so they are kept and their sizes are the declared ones.
extern "C" __global__ void globals(float *out) {
  int i = threadIdx.x;
  if (i < 4) out[i] = coeff[i] + table[i];
}
