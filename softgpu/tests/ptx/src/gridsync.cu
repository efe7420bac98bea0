// nvcc -ptx -arch=sm_80 gridsync.cu -o ../gridsync.ptx
// Cooperative groups' grid-wide barrier (grid.sync()): nvcc 13 compiles it to barrier.sync, an
// atom.add.release.gpu on the counter at %envreg1:%envreg2 + 4 and an ld.acquire.gpu spin until
// the counter's top bit flips. Only a cooperative launch has that workspace.
#include <cooperative_groups.h>
namespace cg = cooperative_groups;

// Three phases separated by grid syncs: per-block partial sums, one block sums the partials,
// every thread reads the total back (each phase reads what other blocks wrote in the last).
__global__ void grid_reduce(const int *in, int *partial, int *out, int n) {
  cg::grid_group g = cg::this_grid();
  __shared__ int s[256];
  int sum = 0;
  for (int i = (int)g.thread_rank(); i < n; i += (int)g.size()) sum += in[i];
  s[threadIdx.x] = sum;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if ((int)threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
  g.sync();
  if (g.thread_rank() == 0) {
    int t = 0;
    for (unsigned b = 0; b < gridDim.x; b++) t += partial[b];
    out[0] = t;
  }
  g.sync();
  out[1 + g.thread_rank()] = out[0];
}
