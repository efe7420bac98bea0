// Kernels for the differential programs (test/differential/module.c), built to a fatbin by
// test/e2e/differential.test.ts. extern "C" keeps the names unmangled.
#include <cooperative_groups.h>

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

// A grid-wide barrier (cooperative launches only): each block adds its slice into partial[block],
// and after grid.sync() every block sums all the partials into out[block].
extern "C" __global__ void grid_sum(const int *in, int *partial, int *out, int n) {
  cooperative_groups::grid_group g = cooperative_groups::this_grid();
  __shared__ int acc;
  if (threadIdx.x == 0) acc = 0;
  __syncthreads();
  int mine = 0;
  for (int i = (int)g.thread_rank(); i < n; i += (int)g.size()) mine += in[i];
  atomicAdd(&acc, mine);
  __syncthreads();
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
  g.sync();
  if (threadIdx.x == 0) {
    int t = 0;
    for (unsigned b = 0; b < gridDim.x; b++) t += partial[b];
    out[blockIdx.x] = t;
  }
}
