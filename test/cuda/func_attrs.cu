// Function attributes and the occupancy API through the runtime: what cub, thrust and frameworks
// size their launches from. The numbers are the device's to choose (a register count is an
// estimate off a GPU), so the checks are the invariants a real driver keeps between them: the
// register count within ptxas's budget (255, __maxnreg__, the launch bounds), the largest block
// the registers allow, occupancy from registers, threads, blocks and shared memory, the best block
// size among the sizes the occupancy API itself rates, and the sizes of shared and constant memory.
#include "check.h"

__constant__ float coeff[16];

__global__ void plain(float *x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] * 2.0f + 1.0f;
}

// Many values live at once: each thread keeps 48 partial sums in registers.
#define HEAVY_BODY                                                        \
  float acc[48];                                                          \
  for (int k = 0; k < 48; k++) acc[k] = x[(threadIdx.x + k * 7) % n];     \
  for (int r = 0; r < 8; r++)                                             \
    for (int k = 0; k < 48; k++) acc[k] = acc[k] * acc[(k + r) % 48] + coeff[k % 16]; \
  float s = 0.0f;                                                         \
  for (int k = 0; k < 48; k++) s += acc[k];                               \
  x[blockIdx.x * blockDim.x + threadIdx.x] = s;

__global__ void __launch_bounds__(256) bounded(float *x, int n) { HEAVY_BODY }
__global__ void __launch_bounds__(128, 4) bounded_min_blocks(float *x, int n) { HEAVY_BODY }
__global__ void __maxnreg__(128) capped(float *x, int n) { HEAVY_BODY }

__global__ void with_shared(float *x) {
  __shared__ float tile[512];
  tile[threadIdx.x] = x[threadIdx.x] + coeff[threadIdx.x % 16];
  __syncthreads();
  x[threadIdx.x] = tile[511 - threadIdx.x];
}

static int round8(int r) { return (r + 7) / 8 * 8; }

// The device's limits, read one attribute at a time: cudaDeviceProp's layout changed in CUDA 13,
// and this program also runs on cudart 12 (test/e2e/guest-tree.test.ts).
static struct {
  int major, minor, regsPerBlock, regsPerMultiprocessor, maxBlocksPerMultiProcessor, maxThreadsPerMultiProcessor,
      multiProcessorCount;
  size_t sharedMemPerMultiprocessor;
} prop;

static int attr(cudaDeviceAttr a) {
  int v = -1;
  OK("device attribute", cudaDeviceGetAttribute(&v, a, 0));
  return v;
}

// What the occupancy calculator must answer for a block of `bs` threads.
static int expected_blocks(const cudaFuncAttributes &a, int bs, size_t dyn) {
  if (bs > a.maxThreadsPerBlock) return 0;
  int warps = (bs + 31) / 32;
  int n = prop.maxBlocksPerMultiProcessor;
  int by_threads = prop.maxThreadsPerMultiProcessor / (warps * 32);
  if (by_threads < n) n = by_threads;
  int by_regs = prop.regsPerMultiprocessor / (round8(a.numRegs) * 32) / warps;
  if (by_regs < n) n = by_regs;
  size_t smem = a.sharedSizeBytes + dyn;
  if (smem > 0 && (int)(prop.sharedMemPerMultiprocessor / smem) < n) n = (int)(prop.sharedMemPerMultiprocessor / smem);
  return n;
}

static void check_kernel(const char *name, const void *k, int bound, int regs_cap) {
  char what[160];
  cudaFuncAttributes a;
  snprintf(what, sizeof what, "%s: attributes", name);
  OK(what, cudaFuncGetAttributes(&a, k));
  printf("# %s: %d registers, %d threads per block, ptx %d, binary %d, local %zu, shared %zu, const %zu\n", name,
         a.numRegs, a.maxThreadsPerBlock, a.ptxVersion, a.binaryVersion, a.localSizeBytes, a.sharedSizeBytes,
         a.constSizeBytes);
  snprintf(what, sizeof what, "%s: registers within ptxas's budget", name);
  CHECK(what, a.numRegs >= 1 && a.numRegs <= regs_cap);
  int by_regs = prop.regsPerBlock / (round8(a.numRegs) * 32) * 32;
  int want = by_regs < 1024 ? by_regs : 1024;
  if (bound && bound < want) want = bound;
  snprintf(what, sizeof what, "%s: largest block from registers and bounds", name);
  CHECK(what, a.maxThreadsPerBlock == want);
  snprintf(what, sizeof what, "%s: the launch bounds' block fits", name);
  CHECK(what, !bound || a.maxThreadsPerBlock == bound);
  snprintf(what, sizeof what, "%s: binary for this device", name);
  CHECK(what, a.binaryVersion == prop.major * 10 + prop.minor);
  snprintf(what, sizeof what, "%s: PTX for a virtual architecture the device runs", name);
  CHECK(what, a.ptxVersion >= 50 && a.ptxVersion <= prop.major * 10 + prop.minor);

  int best = -1;
  for (int bs = 32; bs <= 1024; bs *= 2) {
    int n = -1;
    snprintf(what, sizeof what, "%s: occupancy of %d threads", name, bs);
    OK(what, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, k, bs, 0));
    snprintf(what, sizeof what, "%s: %d threads: registers, threads, blocks and shared memory", name, bs);
    CHECK(what, n == expected_blocks(a, bs, 0));
    if (n * bs > best) best = n * bs;
  }
  int grid = 0, block = 0;
  snprintf(what, sizeof what, "%s: potential block size", name);
  OK(what, cudaOccupancyMaxPotentialBlockSize(&grid, &block, k, 0, 0));
  snprintf(what, sizeof what, "%s: best block is launchable and as good as any power of two", name);
  CHECK(what, block > 0 && block <= a.maxThreadsPerBlock && expected_blocks(a, block, 0) * block >= best);
  snprintf(what, sizeof what, "%s: the grid fills every multiprocessor", name);
  CHECK(what, grid == expected_blocks(a, block, 0) * prop.multiProcessorCount);
}

int main() {
  prop.major = attr(cudaDevAttrComputeCapabilityMajor);
  prop.minor = attr(cudaDevAttrComputeCapabilityMinor);
  prop.regsPerBlock = attr(cudaDevAttrMaxRegistersPerBlock);
  prop.regsPerMultiprocessor = attr(cudaDevAttrMaxRegistersPerMultiprocessor);
  prop.maxBlocksPerMultiProcessor = attr(cudaDevAttrMaxBlocksPerMultiprocessor);
  prop.maxThreadsPerMultiProcessor = attr(cudaDevAttrMaxThreadsPerMultiProcessor);
  prop.multiProcessorCount = attr(cudaDevAttrMultiProcessorCount);
  prop.sharedMemPerMultiprocessor = (size_t)attr(cudaDevAttrMaxSharedMemoryPerMultiprocessor);
  CHECK("64K registers per block and multiprocessor", prop.regsPerBlock == 65536 && prop.regsPerMultiprocessor == 65536);
  check_kernel("plain", (const void *)plain, 0, 255);
  check_kernel("bounded", (const void *)bounded, 256, 255);
  check_kernel("bounded_min_blocks", (const void *)bounded_min_blocks, 128, 128);
  check_kernel("capped", (const void *)capped, 0, 128);
  check_kernel("with_shared", (const void *)with_shared, 0, 255);
  cudaFuncAttributes a;
  OK("with_shared: attributes", cudaFuncGetAttributes(&a, (const void *)with_shared));
  CHECK("static shared memory is the tile", a.sharedSizeBytes == 512 * sizeof(float));
  CHECK("constant memory holds the coefficients", a.constSizeBytes >= 16 * sizeof(float));

  // A block the registers allow runs, and computes.
  float *x;
  OK("malloc", cudaMalloc(&x, 1024 * sizeof(float)));
  OK("memset", cudaMemset(x, 0, 1024 * sizeof(float)));
  plain<<<1, 1024>>>(x, 1024);
  OK("1024 threads of a kernel without bounds", cudaDeviceSynchronize());
  bounded<<<4, 256>>>(x, 1024);
  OK("the bounded kernel at its bound", cudaDeviceSynchronize());
  return finish();
}
