// Kernels for the differential programs (test/differential/module.c), built to a fatbin by
// test/e2e/differential.test.ts. extern "C" keeps the names unmangled.
#include <cooperative_groups.h>

struct Pair {
  char c;
  double d;
};

__device__ int table[16];
__constant__ float coeff[4];
__managed__ int managed_counter = 5; /* test/differential/managed.c */
__managed__ int managed_table[3000];

extern "C" __global__ void managed_bump(int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i == 0) managed_counter += 1;
  if (i < n) managed_table[i] += i;
}

extern "C" __global__ void fill(int *out, int base, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = base + i;
}

extern "C" __global__ void nothing() {}

/* Reads `in`, which may be a peer device's memory (test/differential/peer.c). */
extern "C" __global__ void copy_ints(const int *in, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i];
}

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

// Textures and surfaces (test/differential/texture.c): each thread samples at its coordinates.
extern "C" __global__ void tex2d_sample(cudaTextureObject_t t, const float *xy, float4 *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex2D<float4>(t, xy[2 * i], xy[2 * i + 1]);
}

extern "C" __global__ void tex2d_sample_int(cudaTextureObject_t t, const float *xy, int4 *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex2D<int4>(t, xy[2 * i], xy[2 * i + 1]);
}

extern "C" __global__ void tex3d_sample(cudaTextureObject_t t, const float *xyz, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex3D<float>(t, xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
}

extern "C" __global__ void tex1d_fetch(cudaTextureObject_t t, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = tex1Dfetch<float>(t, i - 2);
}

extern "C" __global__ void tex2d_gather(cudaTextureObject_t t, const float *xy, float4 *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    out[2 * i] = tex2Dgather<float4>(t, xy[2 * i], xy[2 * i + 1], 0);
    out[2 * i + 1] = tex2Dgather<float4>(t, xy[2 * i], xy[2 * i + 1], 1);
  }
}

// Adds one to every float of a w x h surface, reading with clamping and writing with trapping.
extern "C" __global__ void surf2d_inc(cudaSurfaceObject_t s, int w, int h) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
  if (x < w && y < h) {
    float v = surf2Dread<float>(s, x * 4, y, cudaBoundaryModeClamp);
    surf2Dwrite(v + 1.0f, s, x * 4, y);
  }
}

// Reads at x (bytes) with the clamping and zeroing boundary modes.
extern "C" __global__ void surf2d_edge(cudaSurfaceObject_t s, int x, int y, float *out) {
  out[0] = surf2Dread<float>(s, x, y, cudaBoundaryModeClamp);
  out[1] = surf2Dread<float>(s, x, y, cudaBoundaryModeZero);
}

// Reads at x (bytes) with the trapping boundary mode.
extern "C" __global__ void surf2d_trap(cudaSurfaceObject_t s, int x, int y, float *out) {
  out[0] = surf2Dread<float>(s, x, y, cudaBoundaryModeTrap);
}

extern "C" __global__ void tex_query(cudaTextureObject_t t, cudaSurfaceObject_t s, int *out) {
  int a, b, c, d;
  asm("txq.width.b32 %0, [%1];" : "=r"(a) : "l"(t));
  asm("txq.height.b32 %0, [%1];" : "=r"(b) : "l"(t));
  asm("suq.width.b32 %0, [%1];" : "=r"(c) : "l"(s));
  asm("suq.height.b32 %0, [%1];" : "=r"(d) : "l"(s));
  out[0] = a, out[1] = b, out[2] = c, out[3] = d;
}

// Mipmapped textures: the centre of the texture at each level of detail, then along a gradient.
extern "C" __global__ void tex2d_lod(cudaTextureObject_t t, const float *lod, const float *grad, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    out[2 * i] = tex2DLod<float>(t, 0.5f, 0.5f, lod[i]);
    out[2 * i + 1] = tex2DGrad<float>(t, 0.5f, 0.5f, make_float2(grad[i], 0.0f), make_float2(0.0f, grad[i] / 2));
  }
}
