// nvcc -ptx -arch=sm_80 coop.cu -o ../coop.ptx
// Cooperative groups (tiles, reduce, ballot/any/shfl), __ldg, clock64, __nanosleep, bf16, and
// printf/assert, whose external calls fail only when reached.
#include <cstdio>
#include <cassert>
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
#include <cuda_bf16.h>
namespace cg = cooperative_groups;
extern "C" __global__ void cgk(const float *in, float *out, long long *t) {
  cg::thread_block b = cg::this_thread_block();
  cg::thread_block_tile<16> tile = cg::tiled_partition<16>(b);
  float v = __ldg(in + b.thread_rank());
  float s = cg::reduce(tile, v, cg::plus<float>());
  b.sync();
  if (tile.thread_rank() == 0) atomicAdd(out, s);
  long long c0 = clock64();
  __nanosleep(10);
  t[b.thread_rank()] = clock64() - c0 >= 0;
  __nv_bfloat16 h = __float2bfloat16(v);
  out[1 + b.thread_rank()] = __bfloat162float(__hmul(h, h));
  unsigned m = tile.ballot(v > 2.0f);
  out[200 + b.thread_rank()] = (float)__popc(m) + (float)tile.any(v > 100.0f) + tile.shfl(v, 3);
}
extern "C" __global__ void pk(int n) { if (n > 5) printf("hello %d\n", n); assert(n < 100); }
