// Cooperative launches and grid-wide synchronisation (cooperative_groups::this_grid().sync()),
// through cudaLaunchCooperativeKernel and cudaLaunchKernelEx's cooperative attribute: a reduction
// whose phases read what other blocks wrote before the grid barrier, and the refusal of a grid
// larger than can be resident at once (the occupancy calculation times the multiprocessors).
#include <cooperative_groups.h>

#include "check.h"

namespace cg = cooperative_groups;

// Phase 1: per-block partial sums; phase 2: thread 0 of the grid sums the partials; phase 3:
// every thread reads the total back. Without a real grid barrier phases 2 and 3 see stale data.
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

// Whether the launch was cooperative, as the kernel sees it.
__global__ void grid_valid(int *out) { out[blockIdx.x] = cg::this_grid().is_valid() ? 1 : 2; }

static const int N = 20000, MAX_GRID = 12, BLOCK = 128;

static bool all_equal(const int *d, int count, int want) {
  static int h[1 + MAX_GRID * BLOCK];
  if (cudaMemcpy(h, d, count * sizeof(int), cudaMemcpyDeviceToHost) != cudaSuccess) return false;
  for (int i = 0; i < count; i++)
    if (h[i] != want) {
      printf("# element %d: %d, want %d\n", i, h[i], want);
      return false;
    }
  return true;
}

int main() {
  int coop = 0, sms = 0;
  OK("cooperative attribute", cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, 0));
  CHECK("the device runs cooperative launches", coop == 1);
  OK("sm count", cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  // The grid must fit at once: as many blocks as the occupancy calculation allows, at most 12.
  int per_sm = 0;
  OK("occupancy", cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, grid_reduce, BLOCK, 0));
  CHECK("occupancy is positive", per_sm > 0);
  printf("# %d blocks per multiprocessor, %d multiprocessors\n", per_sm, sms);
  const int GRID = per_sm * sms < MAX_GRID ? per_sm * sms : MAX_GRID;
  CHECK("more than one block", GRID > 1);

  static int h[N];
  int want = 0;
  for (int i = 0; i < N; i++) want += h[i] = (i * 7) % 23 - 5;
  int *in, *partial, *out, *valid;
  OK("malloc in", cudaMalloc(&in, sizeof h));
  OK("malloc partial", cudaMalloc(&partial, MAX_GRID * sizeof(int)));
  OK("malloc out", cudaMalloc(&out, (1 + MAX_GRID * BLOCK) * sizeof(int)));
  OK("malloc valid", cudaMalloc(&valid, 4 * sizeof(int)));
  OK("copy in", cudaMemcpy(in, h, sizeof h, cudaMemcpyHostToDevice));

  int n = N;
  void *args[] = {&in, &partial, &out, &n};
  OK("memset out", cudaMemset(out, 0, (1 + GRID * BLOCK) * sizeof(int)));
  OK("cudaLaunchCooperativeKernel", cudaLaunchCooperativeKernel((void *)grid_reduce, GRID, BLOCK, args, 0, 0));
  OK("sync", cudaDeviceSynchronize());
  CHECK("grid reduction: every thread saw the total after grid.sync()", all_equal(out, 1 + GRID * BLOCK, want));

  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeCooperative;
  attr.val.cooperative = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(GRID);
  cfg.blockDim = dim3(BLOCK);
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  OK("memset out 2", cudaMemset(out, 0, (1 + GRID * BLOCK) * sizeof(int)));
  OK("cudaLaunchKernelEx cooperative", cudaLaunchKernelEx(&cfg, grid_reduce, (const int *)in, partial, out, n));
  OK("sync 2", cudaDeviceSynchronize());
  CHECK("cooperative attribute: the same total everywhere", all_equal(out, 1 + GRID * BLOCK, want));

  // The grid handle is valid only in a cooperative launch.
  void *vargs[] = {&valid};
  OK("cooperative grid_valid", cudaLaunchCooperativeKernel((void *)grid_valid, 2, 32, vargs, 0, 0));
  grid_valid<<<2, 32>>>(valid + 2);
  OK("sync 3", cudaDeviceSynchronize());
  int v[4] = {0, 0, 0, 0};
  OK("copy valid", cudaMemcpy(v, valid, sizeof v, cudaMemcpyDeviceToHost));
  CHECK("this_grid() is valid in a cooperative launch only", v[0] == 1 && v[1] == 1 && v[2] == 2 && v[3] == 2);

  // One block more than can be resident at once is refused at the call, and nothing runs.
  unsigned too_many = (unsigned)(per_sm * sms + 1);
  EXPECT("too large grid", cudaLaunchCooperativeKernel((void *)grid_reduce, too_many, BLOCK, args, 0, 0),
         cudaErrorCooperativeLaunchTooLarge);
  EXPECT("last error is the refusal", cudaGetLastError(), cudaErrorCooperativeLaunchTooLarge);
  cfg.gridDim = dim3(too_many);
  EXPECT("too large grid (attribute)", cudaLaunchKernelEx(&cfg, grid_reduce, (const int *)in, partial, out, n),
         cudaErrorCooperativeLaunchTooLarge);
  EXPECT("last error", cudaGetLastError(), cudaErrorCooperativeLaunchTooLarge);
  OK("sync after refusals", cudaDeviceSynchronize());

  OK("free", cudaFree(in));
  OK("free partial", cudaFree(partial));
  OK("free out", cudaFree(out));
  OK("free valid", cudaFree(valid));
  return finish();
}
