// Vector add with <<<>>> launches: the most ordinary CUDA program.
#include <stdlib.h>

#include "check.h"

__global__ void vadd(const float *a, const float *b, float *c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

int main() {
  const int n = 1 << 16;
  float *a = (float *)malloc(n * sizeof(float)), *b = (float *)malloc(n * sizeof(float)), *c = (float *)malloc(n * sizeof(float));
  for (int i = 0; i < n; i++) { a[i] = i * 0.5f; b[i] = i * 2.0f; }
  float *da, *db, *dc;
  OK("cudaMalloc a", cudaMalloc(&da, n * sizeof(float)));
  OK("cudaMalloc b", cudaMalloc(&db, n * sizeof(float)));
  OK("cudaMalloc c", cudaMalloc(&dc, n * sizeof(float)));
  OK("copy a", cudaMemcpy(da, a, n * sizeof(float), cudaMemcpyHostToDevice));
  OK("copy b", cudaMemcpy(db, b, n * sizeof(float), cudaMemcpyHostToDevice));
  vadd<<<(n + 255) / 256, 256>>>(da, db, dc, n);
  OK("launch", cudaGetLastError());
  OK("synchronize", cudaDeviceSynchronize());
  OK("copy back", cudaMemcpy(c, dc, n * sizeof(float), cudaMemcpyDeviceToHost));
  int ok = 1;
  for (int i = 0; i < n; i++) ok &= c[i] == a[i] + b[i];
  CHECK("c = a + b", ok);
  // A second launch reusing the cached kernel, with another configuration.
  vadd<<<n / 64, 64>>>(dc, dc, dc, n);
  OK("copy back twice", cudaMemcpy(c, dc, n * sizeof(float), cudaMemcpyDeviceToHost));
  ok = 1;
  for (int i = 0; i < n; i++) ok &= c[i] == 2.0f * (a[i] + b[i]);
  CHECK("c = 2c", ok);
  cudaFuncAttributes attr;
  OK("cudaFuncGetAttributes", cudaFuncGetAttributes(&attr, vadd));
  CHECK("max threads per block reported", attr.maxThreadsPerBlock > 0);
  cudaFree(da); cudaFree(db); cudaFree(dc);
  free(a); free(b); free(c);
  return finish();
}
