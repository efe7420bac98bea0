// __managed__ variables through the CUDA runtime (docs/managed-memory.md): cudart finds them with
// cuLibraryGetManaged at start-up; the host and kernels then share their bytes at launches and
// synchronisations, as with cudaMallocManaged. Initial values come from the module; host writes
// reach kernels, kernel writes reach the host, in several rounds and through streams; the symbol
// calls see the same bytes.
#include <string.h>

#include "check.h"

__managed__ int counter = 40;     // an initialiser: the host must see it before any launch
__managed__ int table[3000];      // spans pages
__managed__ double scale_by = 2.5;

__global__ void bump(int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i == 0) counter += 1;
  if (i < n) table[i] = table[i] * 2 + (int)scale_by;
}

__global__ void read_counter(int *out) { *out = counter; }

int main() {
  CHECK("initial value is the module's", counter == 40);
  CHECK("double initial value", scale_by == 2.5);
  for (int i = 0; i < 3000; i++) table[i] = i;
  int want_counter = 40, good = 1;
  for (int round = 1; round <= 5; round++) {
    bump<<<(3000 + 255) / 256, 256>>>(3000);
    OK("launch", cudaGetLastError());
    OK("cudaDeviceSynchronize", cudaDeviceSynchronize());
    want_counter += 1;
    good = good && counter == want_counter;
    for (int i = 0; i < 3000; i++) {
      good = good && table[i] == i * 2 + 2;
      table[i] = i; /* the host resets it for the next round */
    }
    counter += 100; /* a host write the next kernel must see */
    want_counter += 100;
  }
  CHECK("five rounds of host writes, kernel increments and host reads", good);

  /* On a stream, synchronised by the stream. */
  cudaStream_t s;
  OK("cudaStreamCreate", cudaStreamCreate(&s));
  scale_by = 4.0;
  bump<<<(3000 + 255) / 256, 256, 0, s>>>(3000);
  OK("cudaStreamSynchronize", cudaStreamSynchronize(s));
  CHECK("stream: counter", counter == want_counter + 1);
  CHECK("stream: the host's new scale reached the kernel", table[0] == 4 && table[2999] == 2999 * 2 + 4);
  want_counter += 1;

  /* The symbol calls address the same bytes. */
  int v = 0;
  OK("cudaMemcpyFromSymbol", cudaMemcpyFromSymbol(&v, counter, sizeof v));
  CHECK("cudaMemcpyFromSymbol sees the counter", v == want_counter);
  v = 7;
  OK("cudaMemcpyToSymbol", cudaMemcpyToSymbol(counter, &v, sizeof v));
  OK("cudaDeviceSynchronize after the symbol copy", cudaDeviceSynchronize());
  CHECK("the host sees a value copied to the symbol", counter == 7);
  int *d_out = NULL, out = 0;
  OK("cudaMalloc", cudaMalloc((void **)&d_out, sizeof(int)));
  counter = 1234;
  read_counter<<<1, 1>>>(d_out);
  OK("cudaMemcpy", cudaMemcpy(&out, d_out, sizeof out, cudaMemcpyDeviceToHost));
  CHECK("a kernel reads the host's last write", out == 1234);

  /* The runtime knows the variable's address as managed memory. */
  void *addr = NULL;
  OK("cudaGetSymbolAddress", cudaGetSymbolAddress(&addr, counter));
  CHECK("the symbol's address is the host's", addr == (void *)&counter);
  cudaPointerAttributes pa;
  OK("cudaPointerGetAttributes", cudaPointerGetAttributes(&pa, &counter));
  CHECK("the variable is managed memory", pa.type == cudaMemoryTypeManaged);
  EXPECT("cudaFree of a managed variable fails", cudaFree(&table[0]), cudaErrorInvalidValue);
  cudaGetLastError();

  cudaFree(d_out);
  cudaStreamDestroy(s);
  return finish();
}
