/* Makes the calls whose VGPU_LOG=debug trace test/e2e/trace.test.ts reads: cuGetProcAddress
 * lookups as cudart makes them (one symbol three times, one that does not exist), then work with
 * arguments to show (a 64 MiB allocation, a memset, copies both ways, a free). Prints one line of results. */
#include <cuda.h>
#include <stdio.h>

int main(void)
{
  void *fn = NULL;
  CUdriverProcAddressQueryResult st;
  int lookups = 0;
  for (int i = 0; i < 3; i++) lookups += cuGetProcAddress("cuInit", &fn, 12000, 0, &st) == CUDA_SUCCESS;
  lookups += cuGetProcAddress("cuMemAlloc", &fn, 12000, 0, &st) == CUDA_SUCCESS;
  CUresult missing = cuGetProcAddress("cuNoSuchFunction", &fn, 12000, 0, &st);
  CUresult init = cuInit(0);
  CUdevice dev;
  CUcontext ctx;
  CUdeviceptr d = 0;
  CUresult r = cuDeviceGet(&dev, 0);
  if (r == CUDA_SUCCESS) r = cuCtxCreate(&ctx, NULL, 0, dev);
  if (r == CUDA_SUCCESS) r = cuMemAlloc(&d, 64u << 20);
  if (r == CUDA_SUCCESS) r = cuMemsetD8(d, 7, 4096);
  static unsigned char host[4096];
  if (r == CUDA_SUCCESS) r = cuMemcpyDtoH(host, d, sizeof host);
  if (r == CUDA_SUCCESS && host[4095] != 7) r = CUDA_ERROR_UNKNOWN;
  if (r == CUDA_SUCCESS) r = cuMemcpyHtoD(d, host, sizeof host);
  if (r == CUDA_SUCCESS) r = cuMemFree(d);
  printf("lookups=%d missing=%d init=%d work=%d\n", lookups, (int)missing, (int)init, (int)r);
  return 0;
}
