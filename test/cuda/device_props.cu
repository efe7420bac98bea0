// Device discovery through the CUDA runtime agrees with the driver API of the same library:
// count, name, memory, compute capability, PCI location and UUID.
#include <cuda.h>
#include <string.h>

#include "check.h"

int main() {
  int rt = 0, drv = 0;
  OK("cudaRuntimeGetVersion", cudaRuntimeGetVersion(&rt));
  OK("cudaDriverGetVersion", cudaDriverGetVersion(&drv));
  CHECK("driver version is at least the runtime's", drv >= rt && rt >= 13000);

  int n = -1;
  OK("cudaGetDeviceCount", cudaGetDeviceCount(&n));
  int dn = -1;
  CHECK("cuDeviceGetCount agrees", cuDeviceGetCount(&dn) == CUDA_SUCCESS && dn == n && n >= 1);

  for (int d = 0; d < n; d++) {
    cudaDeviceProp p;
    memset(&p, 0, sizeof p);
    OK("cudaGetDeviceProperties", cudaGetDeviceProperties(&p, d));
    printf("# device %d: %s, cc %d.%d, %zu MiB, pci %04x:%02x:%02x\n", d, p.name, p.major, p.minor,
           p.totalGlobalMem >> 20, p.pciDomainID, p.pciBusID, p.pciDeviceID);
    CUdevice dev;
    CHECK("cuDeviceGet", cuDeviceGet(&dev, d) == CUDA_SUCCESS);
    char name[256] = "";
    CHECK("name agrees", cuDeviceGetName(name, sizeof name, dev) == CUDA_SUCCESS && strcmp(name, p.name) == 0);
    size_t mem = 0;
    CHECK("totalGlobalMem agrees", cuDeviceTotalMem(&mem, dev) == CUDA_SUCCESS && mem == p.totalGlobalMem && mem > 0);
    int v = -1;
    CHECK("major agrees", cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev) == CUDA_SUCCESS && v == p.major);
    CHECK("minor agrees", cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev) == CUDA_SUCCESS && v == p.minor);
    CHECK("pciBusID agrees", cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, dev) == CUDA_SUCCESS && v == p.pciBusID);
    CHECK("pciDeviceID agrees", cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, dev) == CUDA_SUCCESS && v == p.pciDeviceID);
    CHECK("pciDomainID agrees", cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, dev) == CUDA_SUCCESS && v == p.pciDomainID);
    CHECK("multiProcessorCount agrees", cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev) == CUDA_SUCCESS && v == p.multiProcessorCount && v > 0);
    CHECK("warpSize is 32", p.warpSize == 32);
    CUuuid u;
    CHECK("uuid agrees", cuDeviceGetUuid(&u, dev) == CUDA_SUCCESS && memcmp(u.bytes, p.uuid.bytes, 16) == 0);
    char a[32] = "", b[32] = "";
    OK("cudaDeviceGetPCIBusId", cudaDeviceGetPCIBusId(a, sizeof a, d));
    CHECK("PCI bus id string agrees", cuDeviceGetPCIBusId(b, sizeof b, dev) == CUDA_SUCCESS && strcmp(a, b) == 0);
    int back = -1;
    CHECK("cudaDeviceGetByPCIBusId finds the device", cudaDeviceGetByPCIBusId(&back, a) == cudaSuccess && back == d);
    int attr = -1;
    OK("cudaDeviceGetAttribute", cudaDeviceGetAttribute(&attr, cudaDevAttrMaxThreadsPerBlock, d));
    CHECK("maxThreadsPerBlock agrees", attr == p.maxThreadsPerBlock && attr > 0);
  }

  cudaDeviceProp p;
  EXPECT("cudaGetDeviceProperties on a device that does not exist", cudaGetDeviceProperties(&p, n), cudaErrorInvalidDevice);
  EXPECT("cudaSetDevice on a device that does not exist", cudaSetDevice(n + 3), cudaErrorInvalidDevice);
  OK("cudaSetDevice(0)", cudaSetDevice(0));
  int cur = -1;
  CHECK("cudaGetDevice", cudaGetDevice(&cur) == cudaSuccess && cur == 0);
  return finish();
}
