// Kernel printf: what kernels print reaches this program's own stdout at CUDA's flush points
// (synchronization, a blocking copy, the context's reset), in order with the program's own
// output and never before them. The kernels are extern "C" so that test/programs/printf.c runs
// the very same ones through the driver API; test/e2e/printf.test.ts checks the text of both.
#include <assert.h>

#include "check.h"

extern "C" __global__ void say(int n) { printf("kernel %d: thread %d of %d\n", n, (int)threadIdx.x, (int)blockDim.x); }
extern "C" __global__ void insist(int n) { assert(n < 100); }

int main() {
  int *d, h = 0;
  OK("cudaMalloc", cudaMalloc(&d, sizeof(int)));
  printf("# before the launch\n");
  say<<<1, 3>>>(1);
  printf("# launched, not synchronized\n");
  OK("synchronize", cudaDeviceSynchronize());
  say<<<1, 2>>>(2);
  OK("blocking copy", cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost));
  say<<<1, 1>>>(3);
  OK("stream synchronize", cudaStreamSynchronize(0));
  say<<<1, 1>>>(4);
  OK("device reset", cudaDeviceReset());
  return finish();
}
