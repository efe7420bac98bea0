/* Prints what cuInit returns and how long it took: used to show that an unreachable server gives
 * CUDA_ERROR_NO_DEVICE after a short, bounded wait instead of a hang. */
#include <cuda.h>
#include <stdio.h>
#include <time.h>

int main(void)
{
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  CUresult r = cuInit(0);
  int n = -1;
  CUresult rc = cuDeviceGetCount(&n);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  printf("cuInit=%d cuDeviceGetCount=%d count=%d ms=%.1f\n", (int)r, (int)rc, n, ms);
  return 0;
}
