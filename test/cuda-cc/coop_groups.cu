// nvcc-flags: -gencode=arch=compute_75,code=compute_75 -gencode=arch=compute_80,code=compute_80 -gencode=arch=compute_90,code=compute_90 -gencode=arch=compute_100,code=compute_100 -gencode=arch=compute_120,code=compute_120
// Cooperative groups below the grid, as each virtual architecture lowers them (cg::reduce uses
// redux.sync from compute_80 on, shuffles before): tiled partitions of 32, 16 and 4 threads,
// reduce and inclusive scan over tiles, shuffles, ballots, and coalesced groups of the threads
// a branch keeps. Every result against the CPU's.
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
#include <cooperative_groups/scan.h>

#include "../cuda/check.h"

namespace cg = cooperative_groups;

#define THREADS 128

struct Out {
  int sum32, max16, sum4, scan16, down8, xor1, ballot, coalesced_size, coalesced_rank, any4;
};

__global__ void groups(const int *in, Out *out) {
  cg::thread_block block = cg::this_thread_block();
  int v = in[block.thread_rank()];
  cg::thread_block_tile<32> warp = cg::tiled_partition<32>(block);
  cg::thread_block_tile<16> t16 = cg::tiled_partition<16>(block);
  cg::thread_block_tile<4> t4 = cg::tiled_partition<4>(warp);
  Out o;
  o.sum32 = cg::reduce(warp, v, cg::plus<int>());
  o.max16 = cg::reduce(t16, v, cg::greater<int>());
  o.sum4 = cg::reduce(t4, v, cg::plus<int>());
  o.scan16 = cg::inclusive_scan(t16, v);
  o.down8 = warp.shfl_down(v, 8);
  o.xor1 = t16.shfl_xor(v, 1);
  o.ballot = (int)warp.ballot(v % 3 == 0);
  o.any4 = t4.any(v > 90);
  o.coalesced_size = -1;
  o.coalesced_rank = -1;
  if (v % 2 == 0) {
    cg::coalesced_group even = cg::coalesced_threads();
    o.coalesced_size = (int)even.size();
    o.coalesced_rank = (int)even.thread_rank();
  }
  out[block.thread_rank()] = o;
}

int main() {
  cudaDeviceProp prop;
  OK("device", cudaGetDeviceProperties(&prop, 0));
  printf("# compute capability %d.%d\n", prop.major, prop.minor);
  int in[THREADS];
  unsigned s = 7;
  for (int i = 0; i < THREADS; i++) {
    s = s * 1103515245u + 12345u;
    in[i] = (int)((s >> 16) % 100);
  }
  int *din;
  Out *dout, out[THREADS];
  OK("malloc in", cudaMalloc(&din, sizeof in));
  OK("malloc out", cudaMalloc(&dout, sizeof out));
  OK("copy in", cudaMemcpy(din, in, sizeof in, cudaMemcpyHostToDevice));
  groups<<<1, THREADS>>>(din, dout);
  OK("kernel", cudaGetLastError());
  OK("copy out", cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost));
  int red = 1, scan = 1, shfl = 1, vote = 1, coal = 1;
  for (int i = 0; i < THREADS; i++) {
    int w = i / 32 * 32, h = i / 16 * 16, q = i / 4 * 4, lane = i % 32;
    int sum32 = 0, max16 = 0, sum4 = 0, scan16 = 0, ballot = 0, any4 = 0, csize = 0, crank = 0;
    for (int j = w; j < w + 32; j++) {
      sum32 += in[j];
      if (in[j] % 3 == 0) ballot |= 1 << (j - w);
      if (in[j] % 2 == 0) {
        csize++;
        if (j < i) crank++;
      }
    }
    for (int j = h; j < h + 16; j++) {
      if (in[j] > max16) max16 = in[j];
      if (j <= i) scan16 += in[j];
    }
    for (int j = q; j < q + 4; j++) {
      sum4 += in[j];
      any4 |= in[j] > 90;
    }
    const Out &o = out[i];
    red &= o.sum32 == sum32 && o.max16 == max16 && o.sum4 == sum4;
    scan &= o.scan16 == scan16;
    shfl &= o.down8 == (lane + 8 < 32 ? in[i + 8] : in[i]) && o.xor1 == in[i ^ 1];
    vote &= o.ballot == ballot && (o.any4 != 0) == (any4 != 0);
    coal &= in[i] % 2 ? o.coalesced_size == -1 : o.coalesced_size == csize && o.coalesced_rank == crank;
  }
  CHECK("reduce over tiles of 32, 16 and 4", red);
  CHECK("inclusive scan over tiles of 16", scan);
  CHECK("shfl_down and shfl_xor", shfl);
  CHECK("ballot and any", vote);
  CHECK("coalesced groups of a branch", coal);
  return finish();
}
