/*
 * nvmlDeviceGetFieldValues: each field carries its own result. The call succeeds and every field
 * it cannot answer says NVML_ERROR_NOT_SUPPORTED, so callers (nvidia-smi -q reads the power limits
 * this way) print "N/A" instead of reading an unfilled value. The power fields answer on softgpu
 * with the same synthetic board as board.c; scopeId 0 is the GPU, 1 the module: both the same.
 */
#include "vgnvml.h"

#include <time.h>

static int power_field(unsigned id, unsigned *mw) {
  switch (id) {
  case NVML_FI_DEV_POWER_AVERAGE:
  case NVML_FI_DEV_POWER_INSTANT: *mw = VG_SYN_POWER_MW; return 1;
  case NVML_FI_DEV_POWER_MIN_LIMIT: *mw = VG_SYN_POWER_MIN_MW; return 1;
  case NVML_FI_DEV_POWER_MAX_LIMIT:
  case NVML_FI_DEV_POWER_DEFAULT_LIMIT:
  case NVML_FI_DEV_POWER_CURRENT_LIMIT:
  case NVML_FI_DEV_POWER_REQUESTED_LIMIT: *mw = VG_SYN_POWER_LIMIT_MW; return 1;
  }
  return 0;
}

static nvmlReturn_t fields_impl(nvmlDevice_t h, int n, nvmlFieldValue_t *v) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (n < 0 || (n > 0 && !v)) return NVML_ERROR_INVALID_ARGUMENT;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long now_us = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
  for (int i = 0; i < n; i++) {
    unsigned mw;
    v[i].timestamp = now_us;
    v[i].latencyUsec = 0;
    if (vg_nvml_synthetic() && v[i].scopeId <= 1 && power_field(v[i].fieldId, &mw)) {
      v[i].valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
      v[i].value.ullVal = 0;
      v[i].value.uiVal = mw;
      v[i].nvmlReturn = NVML_SUCCESS;
    } else {
      v[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
    }
    vg_nvml_trace_field(v[i].fieldId, v[i].scopeId, v[i].nvmlReturn);
  }
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount, nvmlFieldValue_t *values) {
  VG_NVML_TRACED(fields_impl(device, valuesCount, values));
}
