// nvcc-flags: -rdc=true -arch=sm_75 -lcudadevrt
// Relocatable device code (nvcc -rdc, separate compilation) linked with the device runtime but
// launching nothing from the device: a GPU runs the linked cubin, softgpu the program's PTX, which
// only the image's pre-link containers hold (the guest ships them: guest/cuda/impl/image.c). Those
// containers also carry libcudadevrt's own PTX, for every architecture up to compute_121, which
// must never be taken for the program's.
#include "../cuda/check.h"

__device__ int twice(int x) { return 2 * x; }

__global__ void scale(int *p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = twice(p[i]) + 1;
}

int main(void) {
  cudaDeviceProp prop;
  OK("device", cudaGetDeviceProperties(&prop, 0));
  printf("# compute capability %d.%d\n", prop.major, prop.minor);
  const int n = 300;
  int h[n], *d;
  for (int i = 0; i < n; i++) h[i] = i;
  OK("malloc", cudaMalloc(&d, sizeof h));
  OK("copy in", cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
  scale<<<3, 128>>>(d, n);
  OK("the relocatable kernel launches", cudaGetLastError());
  OK("copy out", cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
  int ok = 1;
  for (int i = 0; i < n; i++) ok &= h[i] == 2 * i + 1;
  CHECK("its results", ok);
  return finish();
}
