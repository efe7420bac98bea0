// Launch configurations past the device's limits through the CUDA runtime, with the errors a GPU
// gives: cudaErrorInvalidConfiguration for grid and block dimensions (cudart launches CUkernels,
// and the driver's CUresult for them is what cudart reports), cudaErrorInvalidValue for shared
// memory beyond the device. Run by test/e2e/cudart.test.ts and compared across backends by
// test/e2e/differential.test.ts (docs/testing.md), so it prints only device-independent results.
#include "check.h"

__global__ void fill(int *p, int v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v + i;
}

// cudaGetLastError after a launch, printed and checked.
static void launched(const char *name, cudaError_t want) {
  cudaError_t e = cudaGetLastError();
  printf("%s: %d\n", name, (int)e);
  EXPECT(name, e, want);
}

int main() {
  int *d;
  OK("malloc", cudaMalloc(&d, 1024 * sizeof(int)));
  fill<<<1, 2048>>>(d, 0, 1024);
  launched("<<<1, 2048>>>", cudaErrorInvalidConfiguration);
  fill<<<1, 1025>>>(d, 0, 1024);
  launched("<<<1, 1025>>>", cudaErrorInvalidConfiguration);
  fill<<<1, dim3(32, 32, 2)>>>(d, 0, 1024);
  launched("<<<1, 32x32x2>>>", cudaErrorInvalidConfiguration);
  fill<<<1, dim3(1, 1, 65)>>>(d, 0, 1024);
  launched("<<<1, block z 65>>>", cudaErrorInvalidConfiguration);
  fill<<<0, 32>>>(d, 0, 1024);
  launched("<<<0, 32>>>", cudaErrorInvalidConfiguration);
  fill<<<dim3(1, 65536), 32>>>(d, 0, 1024);
  launched("<<<grid y 65536, 32>>>", cudaErrorInvalidConfiguration);
  fill<<<dim3(1, 1, 65536), 32>>>(d, 0, 1024);
  launched("<<<grid z 65536, 32>>>", cudaErrorInvalidConfiguration);
  fill<<<1, 32, 64 << 20>>>(d, 0, 1024);
  launched("<<<1, 32, 64 MiB shared>>>", cudaErrorInvalidValue);

  // The errors are not sticky: the next launch works, and nothing is left for the next sync.
  fill<<<1, 1024>>>(d, 5, 1024);
  launched("<<<1, 1024>>>", cudaSuccess);
  OK("synchronize after the refused launches", cudaDeviceSynchronize());
  int h[1024];
  OK("copy back", cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("the valid launch ran", h[0] == 5 && h[1023] == 1028);

  // cudaLaunchKernel returns the error itself, and it is also the last error.
  int v = 1, n = 1024;
  void *args[] = {&d, &v, &n};
  cudaError_t e = cudaLaunchKernel((const void *)fill, dim3(1), dim3(4096), args, 0, nullptr);
  printf("cudaLaunchKernel block 4096: %d\n", (int)e);
  EXPECT("cudaLaunchKernel block 4096", e, cudaErrorInvalidConfiguration);
  launched("last error after cudaLaunchKernel", cudaErrorInvalidConfiguration);
  launched("last error is cleared", cudaSuccess);
  e = cudaLaunchKernel((const void *)fill, dim3(4), dim3(256), args, 0, nullptr);
  printf("cudaLaunchKernel 4x256: %d\n", (int)e);
  OK("cudaLaunchKernel 4x256", e);
  OK("synchronize", cudaDeviceSynchronize());
  return finish();
}
