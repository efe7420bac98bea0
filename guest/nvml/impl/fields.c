/*
 * nvmlDeviceGetFieldValues: each field carries its own result. The call succeeds and every field
 * it cannot answer says NVML_ERROR_NOT_SUPPORTED, so callers (nvidia-smi -q reads the power limits
 * this way) print "N/A" instead of reading an unfilled value. The power fields answer as board.c
 * does: the host NVML's readings when the host forwards them (draw and enforced limit; the other
 * limits N/A), else on softgpu the same synthetic board; scopeId 0 is the GPU, 1 the module: both
 * the same.
 */
#include "vgnvml.h"

#include <time.h>

/* From the host's readings: 1 with *mw set, 0 when the field is not one it forwards. */
static int host_power_field(const vg_nvml_boardvals *b, unsigned id, unsigned *mw) {
  uint32_t v = VG_BOARD_UNKNOWN;
  switch (id) {
  case NVML_FI_DEV_POWER_AVERAGE:
  case NVML_FI_DEV_POWER_INSTANT: v = b->v[VG_BOARD_POWER]; break;
  case NVML_FI_DEV_POWER_DEFAULT_LIMIT:
  case NVML_FI_DEV_POWER_CURRENT_LIMIT:
  case NVML_FI_DEV_POWER_REQUESTED_LIMIT: v = b->v[VG_BOARD_POWER_LIMIT]; break;
  }
  if (v == VG_BOARD_UNKNOWN) return 0;
  *mw = v;
  return 1;
}

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
  unsigned index;
  nvmlReturn_t r = vg_nvml_dev(h, NULL, &index);
  if (r) return r;
  if (n < 0 || (n > 0 && !v)) return NVML_ERROR_INVALID_ARGUMENT;
  vg_nvml_boardvals b;
  int host = n > 0 && vg_nvml_board(index, &b) == 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long now_us = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
  for (int i = 0; i < n; i++) {
    unsigned mw;
    v[i].timestamp = now_us;
    v[i].latencyUsec = 0;
    int known = v[i].scopeId <= 1 &&
                (host ? host_power_field(&b, v[i].fieldId, &mw) : vg_nvml_synthetic() && power_field(v[i].fieldId, &mw));
    if (known) {
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
