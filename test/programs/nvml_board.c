/*
 * The board values NVML reports for device 0, as one JSON object: each value, or the NVML error
 * number as {"err": N} when the call fails (NOT_SUPPORTED is 3). Declares the few NVML entry points
 * it uses itself, so it builds without NVIDIA's nvml.h; links the guest's libnvidia-ml.so. Used by
 * test/e2e/host-nvml.test.ts.
 *   nvml_board
 */
#include <stdio.h>

typedef struct nvmlDevice_st *nvmlDevice_t;

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetHandleByIndex_v2(unsigned int, nvmlDevice_t *);
int nvmlDeviceGetTemperature(nvmlDevice_t, int, unsigned int *);
int nvmlDeviceGetTemperatureThreshold(nvmlDevice_t, int, unsigned int *);
int nvmlDeviceGetPowerUsage(nvmlDevice_t, unsigned int *);
int nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t, unsigned int *);
int nvmlDeviceGetPowerManagementLimit(nvmlDevice_t, unsigned int *);
int nvmlDeviceGetClockInfo(nvmlDevice_t, int, unsigned int *);
int nvmlDeviceGetMaxClockInfo(nvmlDevice_t, int, unsigned int *);
int nvmlDeviceGetApplicationsClock(nvmlDevice_t, int, unsigned int *);
int nvmlDeviceGetFanSpeed(nvmlDevice_t, unsigned int *);
int nvmlDeviceGetFanSpeed_v2(nvmlDevice_t, unsigned int, unsigned int *);
int nvmlDeviceGetPerformanceState(nvmlDevice_t, int *);

static void put(const char *key, int r, unsigned v, int last) {
  if (r == 0) printf("\"%s\":%u%s", key, v, last ? "" : ",");
  else printf("\"%s\":{\"err\":%d}%s", key, r, last ? "" : ",");
}

int main(void) {
  nvmlDevice_t d;
  int r = nvmlInit_v2();
  if (r == 0) r = nvmlDeviceGetHandleByIndex_v2(0, &d);
  if (r != 0) {
    fprintf(stderr, "NVML init/handle failed: %d\n", r);
    return 1;
  }
  unsigned v = 0;
  int p = 0;
  printf("{");
  r = nvmlDeviceGetTemperature(d, 0, &v), put("temp", r, v, 0);
  r = nvmlDeviceGetTemperatureThreshold(d, 1, &v), put("slowdown", r, v, 0);
  r = nvmlDeviceGetPowerUsage(d, &v), put("power", r, v, 0);
  r = nvmlDeviceGetEnforcedPowerLimit(d, &v), put("limit", r, v, 0);
  r = nvmlDeviceGetPowerManagementLimit(d, &v), put("mgmtLimit", r, v, 0);
  r = nvmlDeviceGetClockInfo(d, 0, &v), put("gfx", r, v, 0);
  r = nvmlDeviceGetClockInfo(d, 1, &v), put("sm", r, v, 0);
  r = nvmlDeviceGetClockInfo(d, 2, &v), put("mem", r, v, 0);
  r = nvmlDeviceGetMaxClockInfo(d, 0, &v), put("gfxMax", r, v, 0);
  r = nvmlDeviceGetMaxClockInfo(d, 1, &v), put("smMax", r, v, 0);
  r = nvmlDeviceGetMaxClockInfo(d, 2, &v), put("memMax", r, v, 0);
  r = nvmlDeviceGetApplicationsClock(d, 1, &v), put("smApp", r, v, 0);
  r = nvmlDeviceGetFanSpeed(d, &v), put("fan", r, v, 0);
  r = nvmlDeviceGetFanSpeed_v2(d, 0, &v), put("fan0", r, v, 0);
  r = nvmlDeviceGetPerformanceState(d, &p), put("pstate", r, (unsigned)p, 1);
  printf("}\n");
  nvmlShutdown();
  return 0;
}
