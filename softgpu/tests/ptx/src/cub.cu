// nvcc -ptx -arch=sm_80 cub.cu -o ../cub.ptx
// CUB block collectives (scan, reduce, radix sort): library code with heavy shuffles, barriers
// and bit tricks.
#include <cub/cub.cuh>
extern "C" __global__ void blockscan(const int *in, int *out) {
  typedef cub::BlockScan<int, 128> S;
  typedef cub::BlockReduce<float, 128> R;
  __shared__ typename S::TempStorage ts;
  __shared__ typename R::TempStorage tr;
  int v = in[threadIdx.x + blockIdx.x * 128];
  int x;
  S(ts).ExclusiveSum(v, x);
  out[threadIdx.x + blockIdx.x * 128] = x;
  __syncthreads();
  float s = R(tr).Sum((float)v);
  if (threadIdx.x == 0) out[1024 + blockIdx.x] = (int)s;
}
extern "C" __global__ void sortk(int *keys) {
  typedef cub::BlockRadixSort<int, 64, 4> Sort;
  __shared__ typename Sort::TempStorage t;
  int k[4];
  for (int i = 0; i < 4; i++) k[i] = keys[threadIdx.x * 4 + i];
  Sort(t).Sort(k);
  for (int i = 0; i < 4; i++) keys[threadIdx.x * 4 + i] = k[i];
}
