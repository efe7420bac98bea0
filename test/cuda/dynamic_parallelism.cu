// nvcc-flags: -rdc=true -arch=sm_80 -lcudadevrt
/*
 * Dynamic parallelism (a kernel that launches a kernel) built as nvcc builds it: relocatable
 * device code linked with the device runtime. softgpu has no device runtime, so the module is
 * refused when the runtime first loads it, with the error a driver's JIT gives for PTX whose
 * device-runtime calls are unresolved (cudaErrorInvalidPtx), and the context stays usable.
 * Built for sm_80 so the image's PTX is usable at every compute capability softgpu offers; the
 * image also carries libcudadevrt's PTX (up to compute_121), which is not the program's, and
 * test/e2e/cuda-cc.test.ts runs this at every capability.
 */
#include "check.h"

__global__ void child(int *p) { p[threadIdx.x] += 1; }
__global__ void parent(int *p) {
  if (threadIdx.x == 0) child<<<1, 4>>>(p);
}

int main(void) {
  cudaDeviceProp prop;
  OK("device", cudaGetDeviceProperties(&prop, 0));
  printf("# compute capability %d.%d\n", prop.major, prop.minor);
  int *d = NULL;
  OK("cudaMalloc", cudaMalloc(&d, 16));
  OK("cudaMemset", cudaMemset(d, 0, 16));
  parent<<<1, 1>>>(d);
  EXPECT("a launch of a module that launches from the device is refused", cudaGetLastError(), cudaErrorInvalidPtx);
  EXPECT("the refusal is not sticky", cudaDeviceSynchronize(), cudaSuccess);
  int h[4] = {9, 9, 9, 9};
  OK("the device still copies", cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("no child kernel ran", h[0] == 0 && h[3] == 0);
  OK("cudaFree", cudaFree(d));
  return finish();
}
