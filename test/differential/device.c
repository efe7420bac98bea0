/*
 * Differential cases (docs/testing.md): initialisation, driver version, error names and the
 * device queries, before and after cuInit. Device properties differ between GPUs, so only facts
 * every CUDA device shares are printed; the rest go to '#' lines.
 */
#include <string.h>

#include "diff.h"

typedef CUresult (*total_mem_v1_t)(unsigned int *, CUdevice);

static void before_init(void) {
  int v = 0, n = -1;
  CUdevice d;
  CUcontext c;
  CALL(cuDriverGetVersion, __typeof__(&cuDriverGetVersion), "before cuInit", &v);
  SAY(cuDriverGetVersion, "at least 13.0", "%d", v >= 13000);
  CALL(cuDriverGetVersion, __typeof__(&cuDriverGetVersion), "null", NULL);
  CALL(cuDeviceGetCount, __typeof__(&cuDeviceGetCount), "before cuInit", &n);
  CALL(cuDeviceGet, __typeof__(&cuDeviceGet), "before cuInit", &d, 0);
  CALL(cuCtxGetCurrent, __typeof__(&cuCtxGetCurrent), "before cuInit", &c);
  CALL(cuInit, __typeof__(&cuInit), "flags 1", 1);
}

static void error_names(void) {
  const char *s = NULL;
  /* Every code cuda.h names has a name; unknown codes fail and leave no string. */
  int named = 0;
  for (int code = 0; code <= 1000; code++) {
    s = NULL;
    if (((__typeof__(&cuGetErrorName))diff_sym("cuGetErrorName"))((CUresult)code, &s) == CUDA_SUCCESS && s) {
      printf("cuGetErrorName %d: %s\n", code, s);
      named++;
    }
  }
  SAY(cuGetErrorName, "named codes", "%d", named);
  s = "untouched";
  CALL(cuGetErrorName, __typeof__(&cuGetErrorName), "unknown code 9", (CUresult)9, &s);
  SAY(cuGetErrorName, "unknown code 9 string", "%s", s ? s : "(null)");
  CALL(cuGetErrorName, __typeof__(&cuGetErrorName), "null out", CUDA_SUCCESS, NULL);
  s = NULL;
  CALL(cuGetErrorString, __typeof__(&cuGetErrorString), "invalid value", CUDA_ERROR_INVALID_VALUE, &s);
  /* One message table (spec/curesult.tsv, the real driver's strings) serves the guest and softgpu. */
  SAY(cuGetErrorString, "invalid value message", "%s", s ? s : "(null)");
  s = "untouched";
  CALL(cuGetErrorString, __typeof__(&cuGetErrorString), "unknown code 12345", (CUresult)12345, &s);
  SAY(cuGetErrorString, "unknown code string", "%s", s ? s : "(null)");
  CALL(cuGetErrorString, __typeof__(&cuGetErrorString), "null out", CUDA_SUCCESS, NULL);
}

static void devices(void) {
  int n = 0;
  CUdevice dev = -1;
  CALL(cuDeviceGetCount, __typeof__(&cuDeviceGetCount), "ok", &n);
  SAY(cuDeviceGetCount, "at least one", "%d", n >= 1);
  printf("# %d devices\n", n);
  CALL(cuDeviceGetCount, __typeof__(&cuDeviceGetCount), "null", NULL);
  CALL(cuDeviceGet, __typeof__(&cuDeviceGet), "ordinal 0", &dev, 0);
  SAY(cuDeviceGet, "ordinal 0 is device 0", "%d", dev == 0);
  CALL(cuDeviceGet, __typeof__(&cuDeviceGet), "ordinal count", &dev, n);
  CALL(cuDeviceGet, __typeof__(&cuDeviceGet), "ordinal -1", &dev, -1);
  CALL(cuDeviceGet, __typeof__(&cuDeviceGet), "null", NULL, 0);

  char name[256];
  memset(name, 'x', sizeof name);
  CALL(cuDeviceGetName, __typeof__(&cuDeviceGetName), "ok", name, (int)sizeof name, 0);
  SAY(cuDeviceGetName, "terminated and non-empty", "%d", memchr(name, 0, sizeof name) != NULL && name[0] != 0);
  printf("# device name: %s\n", name);
  char small[4];
  memset(small, 'x', sizeof small);
  CALL(cuDeviceGetName, __typeof__(&cuDeviceGetName), "4-byte buffer", small, 4, 0);
  SAY(cuDeviceGetName, "4-byte buffer terminated", "%d", memchr(small, 0, sizeof small) != NULL);
  CALL(cuDeviceGetName, __typeof__(&cuDeviceGetName), "null", NULL, 16, 0);
  CALL(cuDeviceGetName, __typeof__(&cuDeviceGetName), "bad device", name, (int)sizeof name, n);

  size_t total = 0;
  CALL(cuDeviceTotalMem_v2, __typeof__(&cuDeviceTotalMem_v2), "ok", &total, 0);
  SAY(cuDeviceTotalMem_v2, "non-zero", "%d", total > 0);
  printf("# total memory %zu MiB\n", total >> 20);
  CALL(cuDeviceTotalMem_v2, __typeof__(&cuDeviceTotalMem_v2), "null", NULL, 0);
  CALL(cuDeviceTotalMem_v2, __typeof__(&cuDeviceTotalMem_v2), "bad device", &total, n);
  unsigned int total32 = 0;
  CALL(cuDeviceTotalMem, total_mem_v1_t, "ok", &total32, 0);
  SAY(cuDeviceTotalMem, "non-zero", "%d", total32 > 0);
  CALL(cuDeviceTotalMem, total_mem_v1_t, "null", NULL, 0);
  CALL(cuDeviceTotalMem, total_mem_v1_t, "bad device", &total32, n);

  /* Limits that every device of compute capability 5.0 and later shares. */
  static const struct {
    CUdevice_attribute a;
    const char *name;
  } common[] = {
      {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "max threads per block"},
      {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, "max block x"},
      {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, "max block y"},
      {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, "max block z"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, "max grid x"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, "max grid y"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, "max grid z"},
      {CU_DEVICE_ATTRIBUTE_WARP_SIZE, "warp size"},
      {CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, "constant memory"},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, "shared memory per block"},
      {CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, "unified addressing"},
  };
  for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
    int v = -1;
    CUresult r = ((__typeof__(&cuDeviceGetAttribute))diff_sym("cuDeviceGetAttribute"))(&v, common[i].a, 0);
    printf("cuDeviceGetAttribute %s: %d = %d\n", common[i].name, (int)r, v);
  }
  int v = -1;
  CALL(cuDeviceGetAttribute, __typeof__(&cuDeviceGetAttribute), "multiprocessors", &v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0);
  SAY(cuDeviceGetAttribute, "multiprocessors positive", "%d", v > 0);
  CALL(cuDeviceGetAttribute, __typeof__(&cuDeviceGetAttribute), "unknown attribute", &v, (CUdevice_attribute)100000, 0);
  CALL(cuDeviceGetAttribute, __typeof__(&cuDeviceGetAttribute), "attribute 0", &v, (CUdevice_attribute)0, 0);
  CALL(cuDeviceGetAttribute, __typeof__(&cuDeviceGetAttribute), "null", NULL, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0);
  CALL(cuDeviceGetAttribute, __typeof__(&cuDeviceGetAttribute), "bad device", &v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, n);

  CUuuid u1, u2;
  memset(&u1, 0, sizeof u1);
  memset(&u2, 0, sizeof u2);
  CALL(cuDeviceGetUuid, __typeof__(&cuDeviceGetUuid), "ok", &u1, 0);
  CALL(cuDeviceGetUuid_v2, __typeof__(&cuDeviceGetUuid_v2), "ok", &u2, 0);
  int nonzero = 0;
  for (int i = 0; i < 16; i++) nonzero |= u1.bytes[i];
  SAY(cuDeviceGetUuid, "non-zero", "%d", nonzero != 0);
  SAY(cuDeviceGetUuid_v2, "same as v1", "%d", memcmp(&u1, &u2, sizeof u1) == 0);
  CALL(cuDeviceGetUuid, __typeof__(&cuDeviceGetUuid), "null", NULL, 0);
  CALL(cuDeviceGetUuid_v2, __typeof__(&cuDeviceGetUuid_v2), "null", NULL, 0);
  CALL(cuDeviceGetUuid, __typeof__(&cuDeviceGetUuid), "bad device", &u1, n);
  CALL(cuDeviceGetUuid_v2, __typeof__(&cuDeviceGetUuid_v2), "bad device", &u2, n);

  char bus[64];
  memset(bus, 'x', sizeof bus);
  CALL(cuDeviceGetPCIBusId, __typeof__(&cuDeviceGetPCIBusId), "ok", bus, (int)sizeof bus, 0);
  SAY(cuDeviceGetPCIBusId, "form dddd:bb:dd.f", "%d",
      strlen(bus) == 12 && bus[4] == ':' && bus[7] == ':' && bus[10] == '.');
  printf("# pci bus id %s\n", bus);
  char bus4[4];
  memset(bus4, 'x', sizeof bus4);
  CALL(cuDeviceGetPCIBusId, __typeof__(&cuDeviceGetPCIBusId), "4-byte buffer", bus4, 4, 0);
  SAY(cuDeviceGetPCIBusId, "4-byte buffer terminated", "%d", memchr(bus4, 0, sizeof bus4) != NULL);
  CALL(cuDeviceGetPCIBusId, __typeof__(&cuDeviceGetPCIBusId), "null", NULL, 16, 0);
  CALL(cuDeviceGetPCIBusId, __typeof__(&cuDeviceGetPCIBusId), "bad device", bus4, 4, n);
  CUdevice back = -1;
  CALL(cuDeviceGetByPCIBusId, __typeof__(&cuDeviceGetByPCIBusId), "own id", &back, bus);
  SAY(cuDeviceGetByPCIBusId, "own id maps back", "%d", back == 0);
  char lower[64];
  for (size_t i = 0; i <= strlen(bus); i++) lower[i] = (char)(bus[i] >= 'A' && bus[i] <= 'F' ? bus[i] + 32 : bus[i]);
  CALL(cuDeviceGetByPCIBusId, __typeof__(&cuDeviceGetByPCIBusId), "own id lower case", &back, lower);
  CALL(cuDeviceGetByPCIBusId, __typeof__(&cuDeviceGetByPCIBusId), "unknown id", &back, "ffff:ff:1f.7");
  CALL(cuDeviceGetByPCIBusId, __typeof__(&cuDeviceGetByPCIBusId), "malformed", &back, "not-a-bus-id");
  CALL(cuDeviceGetByPCIBusId, __typeof__(&cuDeviceGetByPCIBusId), "null id", &back, NULL);
  CALL(cuDeviceGetByPCIBusId, __typeof__(&cuDeviceGetByPCIBusId), "null out", NULL, bus);

  int major = -1, minor = -1, amajor = -2, aminor = -2;
  CALL(cuDeviceComputeCapability, __typeof__(&cuDeviceComputeCapability), "ok", &major, &minor, 0);
  ((__typeof__(&cuDeviceGetAttribute))diff_sym("cuDeviceGetAttribute"))(&amajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0);
  ((__typeof__(&cuDeviceGetAttribute))diff_sym("cuDeviceGetAttribute"))(&aminor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0);
  SAY(cuDeviceComputeCapability, "matches the attributes", "%d", major == amajor && minor == aminor);
  printf("# compute capability %d.%d\n", major, minor);
  CALL(cuDeviceComputeCapability, __typeof__(&cuDeviceComputeCapability), "null major", NULL, &minor, 0);
  CALL(cuDeviceComputeCapability, __typeof__(&cuDeviceComputeCapability), "null minor", &major, NULL, 0);
  CALL(cuDeviceComputeCapability, __typeof__(&cuDeviceComputeCapability), "bad device", &major, &minor, n);

  CUdevprop prop;
  memset(&prop, 0, sizeof prop);
  CALL(cuDeviceGetProperties, __typeof__(&cuDeviceGetProperties), "ok", &prop, 0);
  SAY(cuDeviceGetProperties, "threads, block, grid", "%d %d %d %d %d %d %d %d", prop.maxThreadsPerBlock,
      prop.maxThreadsDim[0], prop.maxThreadsDim[1], prop.maxThreadsDim[2], prop.maxGridSize[0], prop.maxGridSize[1],
      prop.maxGridSize[2], prop.SIMDWidth);
  SAY(cuDeviceGetProperties, "shared and constant memory", "%d %d", prop.sharedMemPerBlock, prop.totalConstantMemory);
  CALL(cuDeviceGetProperties, __typeof__(&cuDeviceGetProperties), "null", NULL, 0);
  CALL(cuDeviceGetProperties, __typeof__(&cuDeviceGetProperties), "bad device", &prop, n);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  before_init();
  error_names();
  CALL(cuInit, __typeof__(&cuInit), "ok", 0);
  CALL(cuInit, __typeof__(&cuInit), "again", 0);
  devices();
  return 0;
}
