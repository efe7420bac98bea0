/*
 * Values that belong to a physical board: clocks, power, temperature, fans, utilisation, PCIe,
 * ECC, modes and processes. Clocks and ECC come from the device attributes in the WELCOME table.
 * The rest the host does not forward yet: on softgpu they are fixed, plainly synthetic constants
 * (docs/guest.md lists them); on a real GPU they are NVML_ERROR_NOT_SUPPORTED ("N/A").
 */
#include "vgnvml.h"

#include <string.h>

/* CUdevice_attribute numbers used here. */
#define ATTR_CLOCK_RATE 13u        /* kHz */
#define ATTR_ECC_ENABLED 32u
#define ATTR_MEMORY_CLOCK_RATE 36u /* kHz */

/* softgpu's synthetic board, in NVML units. */
#define SYN_TEMP_C 35u
#define SYN_TEMP_SLOWDOWN_C 90u
#define SYN_TEMP_SHUTDOWN_C 95u
#define SYN_TEMP_GPU_MAX_C 87u
#define SYN_FAN_PCT 30u
#define SYN_PCIE_GEN 4u
#define SYN_PCIE_WIDTH 16u
#define SYN_BAR1_BYTES (256ull << 20)

/* Resolves the handle and the output pointer, and says whether a board value can be given. */
static nvmlReturn_t board(nvmlDevice_t h, const void *out, const vg_devrec **rec) {
  nvmlReturn_t r = vg_nvml_dev(h, rec, NULL);
  if (r) return r;
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  return vg_nvml_synthetic() ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

static nvmlReturn_t put_u(unsigned *out, unsigned v, nvmlDevice_t h) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, out, &rec);
  if (!r) *out = v;
  return r;
}

static nvmlReturn_t clock_of(nvmlDevice_t h, int type, unsigned *mhz) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!mhz) return NVML_ERROR_INVALID_ARGUMENT;
  int khz;
  switch (type) {
  case NVML_CLOCK_GRAPHICS:
  case NVML_CLOCK_SM: khz = vg_nvml_attr(rec, ATTR_CLOCK_RATE); break;
  case NVML_CLOCK_MEM: khz = vg_nvml_attr(rec, ATTR_MEMORY_CLOCK_RATE); break;
  case NVML_CLOCK_VIDEO: return NVML_ERROR_NOT_SUPPORTED;
  default: return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (khz <= 0) return NVML_ERROR_NOT_SUPPORTED;
  *mhz = (unsigned)khz / 1000u;
  return NVML_SUCCESS;
}

/* The device attributes give one rate per domain, so current, application and maximum clocks
 * are all that rate. */
VG_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, clock));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, clock));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetApplicationsClock(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, clock));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetDefaultApplicationsClock(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, clock));
}

static nvmlReturn_t clock_impl(nvmlDevice_t h, int type, int id, unsigned *mhz) {
  if (id < NVML_CLOCK_ID_CURRENT || id > NVML_CLOCK_ID_CUSTOMER_BOOST_MAX) return NVML_ERROR_INVALID_ARGUMENT;
  return clock_of(h, type, mhz);
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetClock(nvmlDevice_t device, int clockType, int clockId, unsigned int *mhz) {
  VG_NVML_TRACED(clock_impl(device, clockType, clockId, mhz));
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  VG_NVML_TRACED(put_u(power, VG_SYN_POWER_MW, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit) {
  VG_NVML_TRACED(put_u(limit, VG_SYN_POWER_LIMIT_MW, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device, unsigned int *limit) {
  VG_NVML_TRACED(put_u(limit, VG_SYN_POWER_LIMIT_MW, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
  VG_NVML_TRACED(put_u(limit, VG_SYN_POWER_LIMIT_MW, device));
}

static nvmlReturn_t constraints_impl(nvmlDevice_t h, unsigned *lo, unsigned *hi) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, lo, &rec);
  if (r) return r;
  if (!hi) return NVML_ERROR_INVALID_ARGUMENT;
  *lo = VG_SYN_POWER_MIN_MW;
  *hi = VG_SYN_POWER_LIMIT_MW;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned int *minLimit,
                                                                    unsigned int *maxLimit) {
  VG_NVML_TRACED(constraints_impl(device, minLimit, maxLimit));
}

/* P0: a vGPU is always ready to run. */
static nvmlReturn_t pstate_impl(nvmlDevice_t h, int *p) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, p, &rec);
  if (!r) *p = NVML_PSTATE_0;
  return r;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerState(nvmlDevice_t device, int *pState) { VG_NVML_TRACED(pstate_impl(device, pState)); }
VG_EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, int *pState) {
  VG_NVML_TRACED(pstate_impl(device, pState));
}

static nvmlReturn_t temp_impl(nvmlDevice_t h, int sensor, unsigned *t) {
  if (sensor == NVML_TEMPERATURE_GPU) return put_u(t, SYN_TEMP_C, h);
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  return r ? r : NVML_ERROR_INVALID_ARGUMENT;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensorType, unsigned int *temp) {
  VG_NVML_TRACED(temp_impl(device, sensorType, temp));
}

static nvmlReturn_t threshold_impl(nvmlDevice_t h, int type, unsigned *t) {
  switch (type) {
  case NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: return put_u(t, SYN_TEMP_SHUTDOWN_C, h);
  case NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: return put_u(t, SYN_TEMP_SLOWDOWN_C, h);
  case NVML_TEMPERATURE_THRESHOLD_GPU_MAX: return put_u(t, SYN_TEMP_GPU_MAX_C, h);
  }
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  return r ? r : NVML_ERROR_NOT_SUPPORTED;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t device, int type, unsigned int *temp) {
  VG_NVML_TRACED(threshold_impl(device, type, temp));
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed) {
  VG_NVML_TRACED(put_u(speed, SYN_FAN_PCT, device));
}

static nvmlReturn_t fan_v2_impl(nvmlDevice_t h, unsigned fan, unsigned *speed) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (fan != 0) return NVML_ERROR_INVALID_ARGUMENT;
  return put_u(speed, SYN_FAN_PCT, h);
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t device, unsigned int fan, unsigned int *speed) {
  VG_NVML_TRACED(fan_v2_impl(device, fan, speed));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t device, unsigned int *numFans) {
  VG_NVML_TRACED(put_u(numFans, 1, device));
}

static nvmlReturn_t util_impl(nvmlDevice_t h, nvmlUtilization_t *u) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, u, &rec);
  if (!r) u->gpu = u->memory = 0;
  return r;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
  VG_NVML_TRACED(util_impl(device, utilization));
}

static nvmlReturn_t codec_util_impl(nvmlDevice_t h, unsigned *util, unsigned *period_us) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, util, &rec);
  if (r) return r;
  if (!period_us) return NVML_ERROR_INVALID_ARGUMENT;
  *util = 0;
  *period_us = 1000000;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                       unsigned int *samplingPeriodUs) {
  VG_NVML_TRACED(codec_util_impl(device, utilization, samplingPeriodUs));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                       unsigned int *samplingPeriodUs) {
  VG_NVML_TRACED(codec_util_impl(device, utilization, samplingPeriodUs));
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t device, unsigned int *gen) {
  VG_NVML_TRACED(put_u(gen, SYN_PCIE_GEN, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t device, unsigned int *gen) {
  VG_NVML_TRACED(put_u(gen, SYN_PCIE_GEN, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetGpuMaxPcieLinkGeneration(nvmlDevice_t device, unsigned int *gen) {
  VG_NVML_TRACED(put_u(gen, SYN_PCIE_GEN, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t device, unsigned int *width) {
  VG_NVML_TRACED(put_u(width, SYN_PCIE_WIDTH, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t device, unsigned int *width) {
  VG_NVML_TRACED(put_u(width, SYN_PCIE_WIDTH, device));
}

static nvmlReturn_t pcie_tput_impl(nvmlDevice_t h, int counter, unsigned *v) {
  if (counter == NVML_PCIE_UTIL_TX_BYTES || counter == NVML_PCIE_UTIL_RX_BYTES) return put_u(v, 0, h);
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  return r ? r : NVML_ERROR_INVALID_ARGUMENT;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device, int counter, unsigned int *value) {
  VG_NVML_TRACED(pcie_tput_impl(device, counter, value));
}

static nvmlReturn_t bar1_impl(nvmlDevice_t h, nvmlBAR1Memory_t *m) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, m, &rec);
  if (r) return r;
  m->bar1Total = SYN_BAR1_BYTES;
  m->bar1Free = SYN_BAR1_BYTES;
  m->bar1Used = 0;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t device, nvmlBAR1Memory_t *bar1Memory) {
  VG_NVML_TRACED(bar1_impl(device, bar1Memory));
}

/* ---- modes: facts about a vGPU, the same on every backend ---- */

static nvmlReturn_t mode_impl(nvmlDevice_t h, int *out, int v) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  *out = v;
  return NVML_SUCCESS;
}

/* Every process of the VM may use the vGPU; there is no display; the host keeps the GPU up. */
VG_EXPORT nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t device, int *mode) {
  VG_NVML_TRACED(mode_impl(device, mode, NVML_COMPUTEMODE_DEFAULT));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetDisplayMode(nvmlDevice_t device, int *display) {
  VG_NVML_TRACED(mode_impl(device, display, NVML_FEATURE_DISABLED));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetDisplayActive(nvmlDevice_t device, int *isActive) {
  VG_NVML_TRACED(mode_impl(device, isActive, NVML_FEATURE_DISABLED));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, int *mode) {
  VG_NVML_TRACED(mode_impl(device, mode, NVML_FEATURE_ENABLED));
}

static nvmlReturn_t mig_impl(nvmlDevice_t h, unsigned *cur, unsigned *pending) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (!cur || !pending) return NVML_ERROR_INVALID_ARGUMENT;
  *cur = *pending = NVML_DEVICE_MIG_DISABLE;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode) {
  VG_NVML_TRACED(mig_impl(device, currentMode, pendingMode));
}

static nvmlReturn_t ecc_mode_impl(nvmlDevice_t h, int *cur, int *pending) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!cur || !pending) return NVML_ERROR_INVALID_ARGUMENT;
  int e = vg_nvml_attr(rec, ATTR_ECC_ENABLED);
  if (e < 0) return NVML_ERROR_NOT_SUPPORTED;
  *cur = *pending = e ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, int *current, int *pending) {
  VG_NVML_TRACED(ecc_mode_impl(device, current, pending));
}

/* Error counts are a board fact the host does not forward: known (zero) only on softgpu, whose
 * memory has no ECC errors to count. */
static nvmlReturn_t ecc_errors_impl(nvmlDevice_t h, int type, int counter, unsigned long long *n) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!n || type < 0 || type > 1 || counter < 0 || counter > 1) return NVML_ERROR_INVALID_ARGUMENT;
  if (vg_nvml_attr(rec, ATTR_ECC_ENABLED) <= 0 || !vg_nvml_synthetic()) return NVML_ERROR_NOT_SUPPORTED;
  *n = 0;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType,
                                                   unsigned long long *eccCounts) {
  VG_NVML_TRACED(ecc_errors_impl(device, errorType, counterType, eccCounts));
}

/* ---- processes ---- */

/* The host keeps no per-process accounting for the guest yet, and NVML here never attaches, so
 * the lists are empty (docs/guest.md). An empty list is a true statement about the *graphics*
 * and MPS lists; for compute it under-reports, which nvidia-smi shows as "No running processes". */
static nvmlReturn_t procs_impl(nvmlDevice_t h, unsigned *count, void *infos) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  (void)infos; /* may be NULL when *count is 0: a size query */
  *count = 0;
  return NVML_SUCCESS;
}

#define PROC_QUERY(name, type)                                                                \
  VG_EXPORT nvmlReturn_t name(nvmlDevice_t device, unsigned int *infoCount, type *infos) {    \
    VG_NVML_TRACED(procs_impl(device, infoCount, infos));                                     \
  }

PROC_QUERY(nvmlDeviceGetComputeRunningProcesses, nvmlProcessInfo_v1_t)
PROC_QUERY(nvmlDeviceGetComputeRunningProcesses_v2, nvmlProcessInfo_t)
PROC_QUERY(nvmlDeviceGetComputeRunningProcesses_v3, nvmlProcessInfo_t)
PROC_QUERY(nvmlDeviceGetGraphicsRunningProcesses, nvmlProcessInfo_v1_t)
PROC_QUERY(nvmlDeviceGetGraphicsRunningProcesses_v2, nvmlProcessInfo_t)
PROC_QUERY(nvmlDeviceGetGraphicsRunningProcesses_v3, nvmlProcessInfo_t)
PROC_QUERY(nvmlDeviceGetMPSComputeRunningProcesses, nvmlProcessInfo_v1_t)
PROC_QUERY(nvmlDeviceGetMPSComputeRunningProcesses_v2, nvmlProcessInfo_t)
PROC_QUERY(nvmlDeviceGetMPSComputeRunningProcesses_v3, nvmlProcessInfo_t)
