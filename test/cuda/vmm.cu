// The virtual memory management API from a cudart program, as PyTorch's expandable segments and
// llama.cpp's VMM pool use it: the runtime makes the context, the driver API reserves address
// space, creates physical memory, maps it and grants access; then runtime kernels and copies use
// the mapping, which grows by a second mapping right after the first (one contiguous range);
// finally everything is unmapped, released and the reservation freed.
#include <cuda.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define DRV(name, call) CHECK(name, (call) == CUDA_SUCCESS)

__global__ void iota(int *out, size_t n, int base) {
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = base + (int)i;
}

__global__ void add_one(int *p, size_t n) {
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1;
}

int main() {
  int dev = 0, vmm = 0;
  OK("cudaSetDevice", cudaSetDevice(dev));
  OK("cudaFree(0) makes the context", cudaFree(0));
  CUdevice cu_dev;
  DRV("cuCtxGetDevice", cuCtxGetDevice(&cu_dev));
  DRV("cuDeviceGetAttribute(VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED)",
      cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, cu_dev));
  CHECK("virtual memory management supported", vmm == 1);

  CUmemAllocationProp prop;
  memset(&prop, 0, sizeof prop);
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = cu_dev;
  size_t g = 0;
  DRV("cuMemGetAllocationGranularity", cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  CHECK("granularity is a power of two", g && (g & (g - 1)) == 0);

  // Reserve room for four granules, map two side by side.
  CUdeviceptr va = 0;
  DRV("cuMemAddressReserve", cuMemAddressReserve(&va, 4 * g, 0, 0, 0));
  CUmemGenericAllocationHandle h[2];
  DRV("cuMemCreate first", cuMemCreate(&h[0], g, &prop, 0));
  DRV("cuMemCreate second", cuMemCreate(&h[1], g, &prop, 0));
  CUmemAccessDesc rw;
  memset(&rw, 0, sizeof rw);
  rw.location = prop.location;
  rw.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  DRV("cuMemMap first", cuMemMap(va, g, 0, h[0], 0));
  DRV("cuMemSetAccess first", cuMemSetAccess(va, g, &rw, 1));
  unsigned long long flags = 0;
  DRV("cuMemGetAccess", cuMemGetAccess(&flags, &prop.location, va));
  CHECK("read-write access", flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);

  const size_t n1 = g / sizeof(int);
  int *p = (int *)(uintptr_t)va;
  iota<<<(unsigned)((n1 + 255) / 256), 256>>>(p, n1, 3);
  OK("iota on the first mapping", cudaGetLastError());
  OK("cudaDeviceSynchronize", cudaDeviceSynchronize());

  // Grow: the second granule right behind the first, then one kernel over both.
  DRV("cuMemMap second", cuMemMap(va + g, g, 0, h[1], 0));
  DRV("cuMemSetAccess second", cuMemSetAccess(va + g, g, &rw, 1));
  OK("cudaMemset the second mapping", cudaMemset(p + n1, 0, g));
  add_one<<<(unsigned)((2 * n1 + 255) / 256), 256>>>(p, 2 * n1);
  OK("add_one across both mappings", cudaGetLastError());
  int *host = (int *)malloc(2 * g);
  OK("cudaMemcpy across both mappings", cudaMemcpy(host, p, 2 * g, cudaMemcpyDeviceToHost));
  int ok = 1;
  for (size_t i = 0; i < n1; i++) ok = ok && host[i] == 3 + (int)i + 1 && host[n1 + i] == 1;
  CHECK("kernels wrote through the mappings", ok);

  cudaPointerAttributes attr;
  OK("cudaPointerGetAttributes", cudaPointerGetAttributes(&attr, p + n1 + 5));
  CHECK("a mapping is device memory", attr.type == cudaMemoryTypeDevice && attr.device == dev);
  CUdeviceptr base = 0;
  size_t size = 0;
  DRV("cuMemGetAddressRange", cuMemGetAddressRange(&base, &size, va + g + 8));
  CHECK("its range is the mapping", base == va + g && size == g);
  CUmemGenericAllocationHandle r = 0;
  DRV("cuMemRetainAllocationHandle", cuMemRetainAllocationHandle(&r, (void *)(uintptr_t)(va + g + 100)));
  CHECK("the retained handle is the one mapped", r == h[1]);
  DRV("cuMemRelease retained", cuMemRelease(r));
  CUmemAllocationProp got;
  DRV("cuMemGetAllocationPropertiesFromHandle", cuMemGetAllocationPropertiesFromHandle(&got, h[0]));
  CHECK("its properties", got.type == CU_MEM_ALLOCATION_TYPE_PINNED && got.location.id == cu_dev);

  DRV("cuMemUnmap", cuMemUnmap(va, 2 * g));
  DRV("cuMemRelease first", cuMemRelease(h[0]));
  DRV("cuMemRelease second", cuMemRelease(h[1]));
  DRV("cuMemAddressFree", cuMemAddressFree(va, 4 * g));
  free(host);
  OK("the runtime still works", cudaDeviceSynchronize());
  return finish();
}
