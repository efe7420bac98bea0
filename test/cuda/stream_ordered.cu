// Stream-ordered and pitched allocations through the CUDA runtime: cudaMallocAsync/cudaFreeAsync
// on the device's default pool, cudaMallocFromPoolAsync on a created pool, pool attributes, and
// cudaMallocPitch, each written by a kernel and checked on the host.
#include <stdint.h>
#include <string.h>

#include "check.h"

__global__ void iota(int *out, int n, int base) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = base + i;
}

__global__ void twice(const int *in, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = 2 * in[i];
}

// Row y, column x of a pitched array gets y * 1000 + x.
__global__ void fill2d(float *p, size_t pitch, int w, int h) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
  if (x < w && y < h) ((float *)((char *)p + y * pitch))[x] = (float)(y * 1000 + x);
}

int main() {
  int dev = 0, pools = 0;
  OK("cudaGetDevice", cudaGetDevice(&dev));
  OK("cudaDeviceGetAttribute(MemoryPoolsSupported)", cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev));
  CHECK("memory pools supported", pools == 1);

  const int N = 100000;
  cudaStream_t s;
  OK("cudaStreamCreate", cudaStreamCreate(&s));

  // Default pool.
  cudaMemPool_t def;
  OK("cudaDeviceGetDefaultMemPool", cudaDeviceGetDefaultMemPool(&def, dev));
  uint64_t thr = UINT64_MAX;
  OK("cudaMemPoolSetAttribute(ReleaseThreshold)", cudaMemPoolSetAttribute(def, cudaMemPoolAttrReleaseThreshold, &thr));
  uint64_t got = 0;
  OK("cudaMemPoolGetAttribute(ReleaseThreshold)", cudaMemPoolGetAttribute(def, cudaMemPoolAttrReleaseThreshold, &got));
  CHECK("release threshold kept", got == UINT64_MAX);

  int *a = NULL, *b = NULL;
  OK("cudaMallocAsync", cudaMallocAsync((void **)&a, N * sizeof(int), s));
  OK("cudaMallocAsync second", cudaMallocAsync((void **)&b, N * sizeof(int), s));
  CHECK("distinct non-null pointers", a && b && a != b);
  uint64_t used = 0;
  OK("cudaMemPoolGetAttribute(UsedMemCurrent)", cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemCurrent, &used));
  CHECK("the pool counts both allocations", used >= 2 * N * sizeof(int));
  iota<<<(N + 255) / 256, 256, 0, s>>>(a, N, 7);
  twice<<<(N + 255) / 256, 256, 0, s>>>(a, b, N);
  OK("kernels launched", cudaGetLastError());
  static int host[100000];
  OK("cudaMemcpyAsync DtoH", cudaMemcpyAsync(host, b, N * sizeof(int), cudaMemcpyDeviceToHost, s));
  OK("cudaStreamSynchronize", cudaStreamSynchronize(s));
  int ok = 1;
  for (int i = 0; i < N; i++) ok = ok && host[i] == 2 * (7 + i);
  CHECK("kernels wrote through stream-ordered allocations", ok);
  OK("cudaFreeAsync", cudaFreeAsync(a, s));
  OK("cudaFreeAsync second", cudaFreeAsync(b, s));
  OK("cudaStreamSynchronize after frees", cudaStreamSynchronize(s));

  // A pool of its own.
  cudaMemPoolProps props;
  memset(&props, 0, sizeof props);
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = dev;
  cudaMemPool_t mine;
  OK("cudaMemPoolCreate", cudaMemPoolCreate(&mine, &props));
  int *c = NULL;
  OK("cudaMallocFromPoolAsync", cudaMallocFromPoolAsync((void **)&c, N * sizeof(int), mine, s));
  OK("cudaMemPoolGetAttribute(UsedMemCurrent) of the new pool", cudaMemPoolGetAttribute(mine, cudaMemPoolAttrUsedMemCurrent, &used));
  CHECK("the new pool counts its allocation", used >= N * sizeof(int));
  iota<<<(N + 255) / 256, 256, 0, s>>>(c, N, -5);
  OK("cudaMemcpyAsync from the pool", cudaMemcpyAsync(host, c, N * sizeof(int), cudaMemcpyDeviceToHost, s));
  OK("cudaStreamSynchronize pool", cudaStreamSynchronize(s));
  ok = 1;
  for (int i = 0; i < N; i++) ok = ok && host[i] == i - 5;
  CHECK("kernel wrote through a pool allocation", ok);
  OK("cudaFreeAsync pool allocation", cudaFreeAsync(c, s));
  OK("cudaStreamSynchronize before destroying the pool", cudaStreamSynchronize(s));
  OK("cudaMemPoolGetAttribute(UsedMemCurrent) after free", cudaMemPoolGetAttribute(mine, cudaMemPoolAttrUsedMemCurrent, &used));
  CHECK("the pool holds nothing after the free", used == 0);
  OK("cudaMemPoolDestroy", cudaMemPoolDestroy(mine));

  // Pitched.
  const int W = 300, H = 40;
  float *p = NULL;
  size_t pitch = 0;
  OK("cudaMallocPitch", cudaMallocPitch((void **)&p, &pitch, W * sizeof(float), H));
  CHECK("pitch covers a row", pitch >= W * sizeof(float));
  fill2d<<<dim3((W + 127) / 128, H), 128>>>(p, pitch, W, H);
  OK("fill2d launched", cudaGetLastError());
  static float row[300];
  ok = 1;
  for (int y = 0; y < H; y += 13) {
    OK("cudaMemcpy a pitched row", cudaMemcpy(row, (char *)p + y * pitch, W * sizeof(float), cudaMemcpyDeviceToHost));
    for (int x = 0; x < W; x++) ok = ok && row[x] == (float)(y * 1000 + x);
  }
  CHECK("kernel wrote every row of the pitched array", ok);
  OK("cudaFree pitched", cudaFree(p));

  OK("cudaStreamDestroy", cudaStreamDestroy(s));
  return finish();
}
