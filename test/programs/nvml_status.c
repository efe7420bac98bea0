/*
 * What NVML reports for device 0, as one JSON line: utilization, memory, and the compute
 * processes from every version of the query (v1, v2, v3 must agree). Declares the few NVML
 * entry points it uses itself, so it builds without NVIDIA's nvml.h; links the guest's
 * libnvidia-ml.so. Used by test/e2e/nvml-status.test.ts.
 *   nvml_status
 */
#include <stdio.h>
#include <string.h>

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; } nvmlProcessInfo_v1_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; unsigned int gpuInstanceId, computeInstanceId; } nvmlProcessInfo_t;

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetHandleByIndex_v2(unsigned int, nvmlDevice_t *);
int nvmlDeviceGetUtilizationRates(nvmlDevice_t, nvmlUtilization_t *);
int nvmlDeviceGetMemoryInfo(nvmlDevice_t, nvmlMemory_t *);
int nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t, unsigned int *, nvmlProcessInfo_v1_t *);
int nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *);
int nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *);

#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define MAXP 64

#define CK(x)                                                                   \
  do {                                                                          \
    int r_ = (x);                                                               \
    if (r_ != 0) {                                                              \
      fprintf(stderr, "%s failed: %d\n", #x, r_);                               \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

int main(void) {
  nvmlDevice_t dev;
  nvmlUtilization_t u;
  nvmlMemory_t mem;
  CK(nvmlInit_v2());
  CK(nvmlDeviceGetHandleByIndex_v2(0, &dev));
  CK(nvmlDeviceGetUtilizationRates(dev, &u));
  CK(nvmlDeviceGetMemoryInfo(dev, &mem));
  /* The size query first, as nvidia-smi does: a zero count answers how many there are. */
  unsigned int need = 0;
  int r = nvmlDeviceGetComputeRunningProcesses_v3(dev, &need, NULL);
  if (r != 0 && r != NVML_ERROR_INSUFFICIENT_SIZE) {
    fprintf(stderr, "size query failed: %d\n", r);
    return 1;
  }
  nvmlProcessInfo_v1_t p1[MAXP];
  nvmlProcessInfo_t p2[MAXP], p3[MAXP];
  unsigned int n1 = MAXP, n2 = MAXP, n3 = MAXP;
  CK(nvmlDeviceGetComputeRunningProcesses(dev, &n1, p1));
  CK(nvmlDeviceGetComputeRunningProcesses_v2(dev, &n2, p2));
  CK(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n3, p3));
  int agree = n1 == n2 && n2 == n3 && n3 == need;
  for (unsigned i = 0; agree && i < n3; i++)
    agree = p1[i].pid == p3[i].pid && p2[i].pid == p3[i].pid && p1[i].usedGpuMemory == p3[i].usedGpuMemory &&
            p2[i].usedGpuMemory == p3[i].usedGpuMemory;
  printf("{\"gpu\": %u, \"memory\": %u, \"total\": %llu, \"free\": %llu, \"used\": %llu, \"versionsAgree\": %s, \"processes\": [",
         u.gpu, u.memory, mem.total, mem.free, mem.used, agree ? "true" : "false");
  for (unsigned i = 0; i < n3; i++)
    printf("%s{\"pid\": %u, \"used\": %llu}", i ? ", " : "", p3[i].pid, p3[i].usedGpuMemory);
  printf("]}\n");
  CK(nvmlShutdown());
  return 0;
}
