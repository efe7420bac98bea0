// Error paths after which the program carries on: an invalid launch configuration, copies with
// bad pointers, and an illegal address inside a kernel (sticky until cudaDeviceReset).
#include "check.h"

__global__ void fill(int *p, int v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}

__global__ void write_null(int *p) { p[threadIdx.x] = 1; }

int main() {
  int *d;
  OK("malloc", cudaMalloc(&d, 1024 * sizeof(int)));
  fill<<<1, 2048>>>(d, 1, 1024);
  // As on a GPU: the launch of a CUkernel (what cudart launches) past the device's limits is
  // refused with the CUresult that cudart passes on as cudaErrorInvalidConfiguration.
  EXPECT("too many threads per block is refused at launch", cudaGetLastError(), cudaErrorInvalidConfiguration);
  fill<<<4, 256>>>(d, 7, 1024);
  OK("a valid launch after it", cudaGetLastError());
  int h[1024];
  OK("copy back", cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("the valid launch ran", h[0] == 7 && h[1023] == 7);
  EXPECT("copy from a pointer the program does not own", cudaMemcpy(h, (void *)0x1000, 16, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  cudaGetLastError();
  EXPECT("copy past the end of an allocation", cudaMemcpy(h, d + 1000, 1024, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  cudaGetLastError();
  OK("still works", cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
  write_null<<<1, 32>>>(nullptr);
  EXPECT("an illegal address is reported at the next synchronisation", cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  EXPECT("and sticks", cudaMemcpy(h, d, 16, cudaMemcpyDeviceToHost), cudaErrorIllegalAddress);
  OK("cudaDeviceReset recovers", cudaDeviceReset());
  int *d2;
  OK("malloc after reset", cudaMalloc(&d2, 1024 * sizeof(int)));
  fill<<<4, 256>>>(d2, 9, 1024);
  OK("copy after reset", cudaMemcpy(h, d2, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("kernels run after reset", h[5] == 9);
  return finish();
}
