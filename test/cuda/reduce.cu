// Reductions the way CUDA code writes them: shared memory with __syncthreads, warp shuffles,
// atomics on global memory, votes, and dynamic shared memory.
#include <stdlib.h>

#include "check.h"

__global__ void reduce_shared(const int *in, long long *out, int n) {
  extern __shared__ int buf[];
  int t = threadIdx.x;
  int i = blockIdx.x * blockDim.x + t;
  buf[t] = i < n ? in[i] : 0;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) buf[t] += buf[t + s];
    __syncthreads();
  }
  if (t == 0) atomicAdd((unsigned long long *)out, (unsigned long long)buf[0]);
}

__global__ void reduce_shuffle(const int *in, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? in[i] : 0;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) atomicAdd(out, v);
}

__global__ void max_and_votes(const int *in, int *mx, int *ballots, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? in[i] : 0;
  atomicMax(mx, v);
  unsigned b = __ballot_sync(0xffffffffu, i < n && v % 2 == 0);
  if ((threadIdx.x & 31) == 0) atomicAdd(ballots, __popc(b));
}

int main() {
  const int n = 100003;
  int *h = (int *)malloc(n * sizeof(int));
  long long sum = 0;
  int mx = 0, evens = 0;
  for (int i = 0; i < n; i++) {
    h[i] = (i * 7919) % 1000;
    sum += h[i];
    if (h[i] > mx) mx = h[i];
    evens += h[i] % 2 == 0;
  }
  int *d, *dsum32, *dmax, *dballots;
  long long *dsum;
  OK("malloc", cudaMalloc(&d, n * sizeof(int)));
  OK("malloc sums", cudaMalloc(&dsum, sizeof(long long)));
  OK("malloc sum32", cudaMalloc(&dsum32, sizeof(int)));
  OK("malloc max", cudaMalloc(&dmax, sizeof(int)));
  OK("malloc ballots", cudaMalloc(&dballots, sizeof(int)));
  OK("copy in", cudaMemcpy(d, h, n * sizeof(int), cudaMemcpyHostToDevice));
  OK("zero", cudaMemset(dsum, 0, sizeof(long long)));
  cudaMemset(dsum32, 0, sizeof(int));
  cudaMemset(dmax, 0, sizeof(int));
  cudaMemset(dballots, 0, sizeof(int));
  const int threads = 256, blocks = (n + threads - 1) / threads;
  reduce_shared<<<blocks, threads, threads * sizeof(int)>>>(d, dsum, n);
  reduce_shuffle<<<blocks, threads>>>(d, dsum32, n);
  max_and_votes<<<blocks, threads>>>(d, dmax, dballots, n);
  OK("launches", cudaGetLastError());
  long long got = 0;
  int got32 = 0, gotmax = 0, gotballots = 0;
  OK("copy sum", cudaMemcpy(&got, dsum, sizeof got, cudaMemcpyDeviceToHost));
  OK("copy sum32", cudaMemcpy(&got32, dsum32, sizeof got32, cudaMemcpyDeviceToHost));
  OK("copy max", cudaMemcpy(&gotmax, dmax, sizeof gotmax, cudaMemcpyDeviceToHost));
  OK("copy ballots", cudaMemcpy(&gotballots, dballots, sizeof gotballots, cudaMemcpyDeviceToHost));
  CHECK("shared-memory tree reduction with __syncthreads", got == sum);
  CHECK("warp-shuffle reduction with atomics", got32 == (int)sum);
  CHECK("atomicMax", gotmax == mx);
  CHECK("__ballot_sync + __popc count the even values", gotballots == evens);
  free(h);
  return finish();
}
