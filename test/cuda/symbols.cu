// __constant__ and __device__ symbols, written and read with cudaMemcpyToSymbol/FromSymbol and
// used by kernels.
#include "check.h"

__constant__ float coeffs[4];
__device__ int hits;
__device__ float table[256];

__global__ void poly(float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = i * 0.01f;
  out[i] = coeffs[0] + x * (coeffs[1] + x * (coeffs[2] + x * coeffs[3]));
  table[i % 256] = coeffs[0];
  atomicAdd(&hits, 1);
}

int main() {
  const int n = 1000;
  float c[4] = {1.0f, 2.0f, 0.5f, 0.25f};
  OK("cudaMemcpyToSymbol __constant__", cudaMemcpyToSymbol(coeffs, c, sizeof c));
  int zero = 0;
  OK("cudaMemcpyToSymbol __device__", cudaMemcpyToSymbol(hits, &zero, sizeof zero));
  float *d;
  OK("malloc", cudaMalloc(&d, n * sizeof(float)));
  poly<<<(n + 127) / 128, 128>>>(d, n);
  OK("launch", cudaGetLastError());
  float h[n];
  OK("copy", cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
  int ok = 1;
  for (int i = 0; i < n; i++) {
    float x = i * 0.01f;
    float want = c[0] + x * (c[1] + x * (c[2] + x * c[3]));
    ok &= h[i] > want - 1e-3f && h[i] < want + 1e-3f;
  }
  CHECK("kernel read the __constant__ coefficients", ok);
  int got = 0;
  OK("cudaMemcpyFromSymbol __device__", cudaMemcpyFromSymbol(&got, hits, sizeof got));
  CHECK("every thread counted once", got == n);
  float t[256];
  OK("cudaMemcpyFromSymbol array", cudaMemcpyFromSymbol(t, table, sizeof t));
  CHECK("kernel wrote the __device__ array", t[0] == 1.0f && t[255] == 1.0f);
  void *addr = NULL;
  OK("cudaGetSymbolAddress", cudaGetSymbolAddress(&addr, table));
  size_t size = 0;
  OK("cudaGetSymbolSize", cudaGetSymbolSize(&size, table));
  CHECK("symbol size", size == sizeof t);
  OK("cudaMemset on a symbol's address", cudaMemset(addr, 0, size));
  OK("read back", cudaMemcpyFromSymbol(t, table, sizeof t));
  CHECK("zeroed through its address", t[7] == 0.0f);
  return finish();
}
