// cudaDeviceReset destroys the device's state and the runtime starts again on the next call;
// other threads get the same device without any setup of their own.
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

static int roundtrip(size_t n, unsigned seed) {
  uint8_t h[4096], b[4096];
  if (n > sizeof h) return 0;
  for (size_t i = 0; i < n; i++) h[i] = (uint8_t)(i + seed);
  void *d = NULL;
  if (cudaMalloc(&d, n) != cudaSuccess) return 0;
  int ok = cudaMemcpy(d, h, n, cudaMemcpyHostToDevice) == cudaSuccess &&
           cudaMemcpy(b, d, n, cudaMemcpyDeviceToHost) == cudaSuccess && memcmp(h, b, n) == 0;
  return cudaFree(d) == cudaSuccess && ok;
}

static void *worker(void *arg) {
  int ok = 1;
  for (int i = 0; i < 10 && ok; i++) ok = roundtrip(4096, (unsigned)(uintptr_t)arg + (unsigned)i);
  int dev = -1;
  ok = ok && cudaGetDevice(&dev) == cudaSuccess && dev == 0;
  return (void *)(uintptr_t)ok;
}

int main() {
  CHECK("work before the reset", roundtrip(4096, 1));
  void *kept = NULL;
  OK("allocation that the reset will free", cudaMalloc(&kept, 1 << 20));
  size_t free_before = 0, free_after = 0, total = 0;
  OK("cudaMemGetInfo", cudaMemGetInfo(&free_before, &total));

  OK("cudaDeviceReset", cudaDeviceReset());
  CHECK("work after the reset", roundtrip(4096, 2));
  OK("cudaMemGetInfo after the reset", cudaMemGetInfo(&free_after, &total));
  CHECK("the reset freed the allocation", free_after > free_before);

  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i * 10));
  int all = 1;
  for (int i = 0; i < 4; i++) {
    void *r = NULL;
    pthread_join(t[i], &r);
    all = all && r != NULL;
  }
  CHECK("four threads use the device concurrently", all);

  OK("second cudaDeviceReset", cudaDeviceReset());
  OK("cudaDeviceSynchronize after the second reset", cudaDeviceSynchronize());
  CHECK("work after the second reset", roundtrip(1000, 3));
  return finish();
}
