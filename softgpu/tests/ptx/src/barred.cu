// nvcc -ptx -arch=sm_80 barred.cu -o ../barred.ptx
// __syncthreads_count/_and/_or (bar.red.popc/and/or) and cooperative groups' grid handle
// (%envreg1:%envreg2), compiled by nvcc into barred.ptx.
#include <cooperative_groups.h>
namespace cg = cooperative_groups;

__global__ void barred(const int *in, int *out) {
  int v = in[threadIdx.x];
  int count = __syncthreads_count(v > 10);
  int all = __syncthreads_and(v > 0);
  int any = __syncthreads_or(v == 77);
  out[threadIdx.x * 3 + 0] = count;
  out[threadIdx.x * 3 + 1] = all;
  out[threadIdx.x * 3 + 2] = any;
}

// A normal launch has no grid workspace: this_grid() is not valid.
__global__ void grid_valid(int *out) { out[threadIdx.x] = cg::this_grid().is_valid() ? 1 : 2; }
