// nvcc -ptx -arch=sm_75 reduce.cu -o ../reduce.ptx
// Warp shuffles, dynamic shared memory, a barrier and a float atomic.
extern "C" __global__ void reduce(const float *in, float *out, int n) {
  extern __shared__ float s[];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : 0.0f;
  for (int o = 16; o; o >>= 1) v += __shfl_down_sync(0xffffffff, v, o);
  if ((threadIdx.x & 31) == 0) s[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0;
    for (int k = 0; k < blockDim.x / 32; k++) t += s[k];
    atomicAdd(out, t);
  }
}
// Votes and ballots with divergence: odd lanes vote, even lanes take another path.
extern "C" __global__ void votes(const int *in, unsigned *out) {
  int lane = threadIdx.x & 31;
  int v = in[threadIdx.x];
  unsigned ballot = __ballot_sync(0xffffffff, v > 0);
  int all = __all_sync(0xffffffff, v > 0);
  int any = __any_sync(0xffffffff, v > 0);
  unsigned am = 0;
  if (lane & 1) am = __activemask();
  unsigned match = __match_any_sync(0xffffffff, v);
  int bcast = __shfl_sync(0xffffffff, v, 3);
  int up = __shfl_up_sync(0xffffffff, v, 1);
  int x = __shfl_xor_sync(0xffffffff, v, 1);
  unsigned *o = out + threadIdx.x * 8;
  o[0] = ballot; o[1] = all; o[2] = any; o[3] = am; o[4] = match; o[5] = bcast; o[6] = up; o[7] = x;
}
// Integer atomics on global and shared memory.
extern "C" __global__ void atomics(int *g, unsigned *u, unsigned long long *l) {
  __shared__ int sh;
  if (threadIdx.x == 0) sh = 0;
  __syncthreads();
  atomicAdd(&sh, 2);
  atomicAdd(&g[0], 1);
  atomicMax(&g[1], (int)threadIdx.x);
  atomicMin(&g[2], -(int)threadIdx.x);
  atomicInc(&u[0], 7u);
  atomicDec(&u[1], 100u);
  atomicOr(&u[2], 1u << (threadIdx.x & 31));
  atomicXor(&u[3], 1u);
  atomicAnd(&u[4], ~(1u << (threadIdx.x & 31)));
  atomicCAS(&g[3], (int)threadIdx.x, (int)threadIdx.x + 1);
  atomicAdd(&l[0], 1ull << 33);
  atomicExch(&g[4], 5);
  __syncthreads();
  if (threadIdx.x == 0) g[5] = sh;
}
