// cudaDeviceReset frees what the device held, so memory that did not fit twice fits again after
// it: more than half of the device is allocated, the device is reset, and the same amount is
// allocated again.
#include <stdint.h>

#include "check.h"

__device__ uint8_t marker[4096];

__global__ void touch(uint8_t *p, size_t n) {
  p[n - 1] = 1;
  marker[0] = 1;
}

int main() {
  size_t free0 = 0, total = 0;
  OK("cudaMemGetInfo", cudaMemGetInfo(&free0, &total));
  // Three fifths of the device: two of them never fit at once.
  size_t n = total / 5 * 3;
  void *a = NULL, *b = NULL;
  OK("cudaMalloc of three fifths of the device", cudaMalloc(&a, n));
  touch<<<1, 1>>>((uint8_t *)a, n);
  OK("a kernel writes it", cudaDeviceSynchronize());
  EXPECT("a second one does not fit", cudaMalloc(&b, n), cudaErrorMemoryAllocation);

  OK("cudaDeviceReset", cudaDeviceReset());
  OK("cudaMalloc of the same size after the reset", cudaMalloc(&b, n));
  touch<<<1, 1>>>((uint8_t *)b, n);
  OK("a kernel writes it", cudaDeviceSynchronize());
  OK("cudaFree", cudaFree(b));
  return finish();
}
