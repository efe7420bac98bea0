/*
 * Values that belong to a physical board: clocks, power, temperature, fans, utilisation, PCIe,
 * ECC, modes and processes. Temperature, power, fan, performance state and current and maximum
 * clocks come from the host's own NVML when the host forwards it (STATUS_REPLY board tags,
 * status.c); without it clocks come from the device attributes in the WELCOME table, and the rest
 * is on softgpu fixed, plainly synthetic constants (docs/guest.md lists them) and on a real GPU
 * NVML_ERROR_NOT_SUPPORTED ("N/A"). A value the host's NVML could not read is N/A, never made up.
 * ECC from the attributes; utilization and processes from the host's accounting of this VM.
 */
#include "vgnvml.h"

#include <stdio.h>
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

/* A value the host's NVML reads (vg_nvml_board): the host's reading when it forwards one, else
 * `syn` on softgpu, else N/A. */
static nvmlReturn_t host_u(nvmlDevice_t h, unsigned *out, unsigned which, unsigned syn) {
  unsigned i;
  nvmlReturn_t r = vg_nvml_dev(h, NULL, &i);
  if (r) return r;
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  vg_nvml_boardvals b;
  if (vg_nvml_board(i, &b) == 0) {
    if (b.v[which] == VG_BOARD_UNKNOWN) return NVML_ERROR_NOT_SUPPORTED;
    *out = b.v[which];
    return NVML_SUCCESS;
  }
  return put_u(out, syn, h);
}

/* Whether the host forwards its NVML's board values: values it does not send (thresholds, power
 * constraints) are then N/A rather than softgpu's constants next to a real board's readings. */
static int host_board(nvmlDevice_t h) {
  unsigned i;
  vg_nvml_boardvals b;
  return vg_nvml_dev(h, NULL, &i) == NVML_SUCCESS && vg_nvml_board(i, &b) == 0;
}

/* A value only softgpu's synthetic board has (see host_board). */
static nvmlReturn_t syn_u(unsigned *out, unsigned v, nvmlDevice_t h) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, out, &rec);
  if (r) return r;
  if (host_board(h)) return NVML_ERROR_NOT_SUPPORTED;
  *out = v;
  return NVML_SUCCESS;
}

/* Which clock: the current one, the maximum, or the application clock (the attribute's rate). */
enum { CLK_CURRENT, CLK_MAX, CLK_APP };

static nvmlReturn_t clock_of(nvmlDevice_t h, int type, int which, unsigned *mhz) {
  const vg_devrec *rec;
  unsigned i;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, &i);
  if (r) return r;
  if (!mhz) return NVML_ERROR_INVALID_ARGUMENT;
  int khz;
  unsigned cur, max;
  switch (type) {
  case NVML_CLOCK_GRAPHICS:
    khz = vg_nvml_attr(rec, ATTR_CLOCK_RATE);
    cur = VG_BOARD_GFX, max = VG_BOARD_GFX_MAX;
    break;
  case NVML_CLOCK_SM:
    khz = vg_nvml_attr(rec, ATTR_CLOCK_RATE);
    cur = VG_BOARD_SM, max = VG_BOARD_SM_MAX;
    break;
  case NVML_CLOCK_MEM:
    khz = vg_nvml_attr(rec, ATTR_MEMORY_CLOCK_RATE);
    cur = VG_BOARD_MEM, max = VG_BOARD_MEM_MAX;
    break;
  case NVML_CLOCK_VIDEO: return NVML_ERROR_NOT_SUPPORTED;
  default: return NVML_ERROR_INVALID_ARGUMENT;
  }
  /* The host's NVML knows what the board runs at now and at most; a reading it lacks falls back
   * to the attribute's rate, which is what the CUDA driver reports for that domain. */
  vg_nvml_boardvals b;
  if (which != CLK_APP && vg_nvml_board(i, &b) == 0) {
    uint32_t v = b.v[which == CLK_CURRENT ? cur : max];
    if (v != VG_BOARD_UNKNOWN) {
      *mhz = v;
      return NVML_SUCCESS;
    }
  }
  if (khz <= 0) return NVML_ERROR_NOT_SUPPORTED;
  *mhz = (unsigned)khz / 1000u;
  return NVML_SUCCESS;
}

/* Without the host's NVML the device attributes give one rate per domain, so current, application
 * and maximum clocks are all that rate. */
VG_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, CLK_CURRENT, clock));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, CLK_MAX, clock));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetApplicationsClock(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, CLK_APP, clock));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetDefaultApplicationsClock(nvmlDevice_t device, int type, unsigned int *clock) {
  VG_NVML_TRACED(clock_of(device, type, CLK_APP, clock));
}

static nvmlReturn_t clock_impl(nvmlDevice_t h, int type, int id, unsigned *mhz) {
  if (id < NVML_CLOCK_ID_CURRENT || id > NVML_CLOCK_ID_CUSTOMER_BOOST_MAX) return NVML_ERROR_INVALID_ARGUMENT;
  int which = id == NVML_CLOCK_ID_CURRENT ? CLK_CURRENT : id == NVML_CLOCK_ID_CUSTOMER_BOOST_MAX ? CLK_MAX : CLK_APP;
  return clock_of(h, type, which, mhz);
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetClock(nvmlDevice_t device, int clockType, int clockId, unsigned int *mhz) {
  VG_NVML_TRACED(clock_impl(device, clockType, clockId, mhz));
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  VG_NVML_TRACED(host_u(device, power, VG_BOARD_POWER, VG_SYN_POWER_MW));
}
/* The host forwards one limit, the one its board enforces; the management and default limits
 * report it too. */
VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit) {
  VG_NVML_TRACED(host_u(device, limit, VG_BOARD_POWER_LIMIT, VG_SYN_POWER_LIMIT_MW));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device, unsigned int *limit) {
  VG_NVML_TRACED(host_u(device, limit, VG_BOARD_POWER_LIMIT, VG_SYN_POWER_LIMIT_MW));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
  VG_NVML_TRACED(host_u(device, limit, VG_BOARD_POWER_LIMIT, VG_SYN_POWER_LIMIT_MW));
}

static nvmlReturn_t constraints_impl(nvmlDevice_t h, unsigned *lo, unsigned *hi) {
  const vg_devrec *rec;
  nvmlReturn_t r = board(h, lo, &rec);
  if (r) return r;
  if (!hi) return NVML_ERROR_INVALID_ARGUMENT;
  if (host_board(h)) return NVML_ERROR_NOT_SUPPORTED;
  *lo = VG_SYN_POWER_MIN_MW;
  *hi = VG_SYN_POWER_LIMIT_MW;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned int *minLimit,
                                                                    unsigned int *maxLimit) {
  VG_NVML_TRACED(constraints_impl(device, minLimit, maxLimit));
}

/* The host board's state; on softgpu without it P0, a vGPU always being ready to run. */
static nvmlReturn_t pstate_impl(nvmlDevice_t h, int *p) {
  unsigned v;
  nvmlReturn_t r = host_u(h, p ? &v : NULL, VG_BOARD_PSTATE, NVML_PSTATE_0);
  if (!r) *p = (int)v;
  return r;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPowerState(nvmlDevice_t device, int *pState) { VG_NVML_TRACED(pstate_impl(device, pState)); }
VG_EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, int *pState) {
  VG_NVML_TRACED(pstate_impl(device, pState));
}

static nvmlReturn_t temp_impl(nvmlDevice_t h, int sensor, unsigned *t) {
  if (sensor == NVML_TEMPERATURE_GPU) return host_u(h, t, VG_BOARD_TEMP, SYN_TEMP_C);
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  return r ? r : NVML_ERROR_INVALID_ARGUMENT;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensorType, unsigned int *temp) {
  VG_NVML_TRACED(temp_impl(device, sensorType, temp));
}

static nvmlReturn_t threshold_impl(nvmlDevice_t h, int type, unsigned *t) {
  switch (type) {
  case NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: return syn_u(t, SYN_TEMP_SHUTDOWN_C, h);
  case NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: return syn_u(t, SYN_TEMP_SLOWDOWN_C, h);
  case NVML_TEMPERATURE_THRESHOLD_GPU_MAX: return syn_u(t, SYN_TEMP_GPU_MAX_C, h);
  }
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  return r ? r : NVML_ERROR_NOT_SUPPORTED;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t device, int type, unsigned int *temp) {
  VG_NVML_TRACED(threshold_impl(device, type, temp));
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed) {
  VG_NVML_TRACED(host_u(device, speed, VG_BOARD_FAN, SYN_FAN_PCT));
}

static nvmlReturn_t fan_v2_impl(nvmlDevice_t h, unsigned fan, unsigned *speed) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (fan != 0) return NVML_ERROR_INVALID_ARGUMENT;
  return host_u(h, speed, VG_BOARD_FAN, SYN_FAN_PCT);
}

/* One fan: softgpu's synthetic one, or the host's reading (NVML reports one speed per board). */
static nvmlReturn_t num_fans_impl(nvmlDevice_t h, unsigned *n) {
  unsigned pct;
  nvmlReturn_t r = host_u(h, n ? &pct : NULL, VG_BOARD_FAN, SYN_FAN_PCT);
  if (!r) *n = 1;
  return r;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t device, unsigned int fan, unsigned int *speed) {
  VG_NVML_TRACED(fan_v2_impl(device, fan, speed));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t device, unsigned int *numFans) {
  VG_NVML_TRACED(num_fans_impl(device, numFans));
}

/* Measured by the host over its last sampling window, for this VM's work only (docs/guest.md).
 * Without the host's accounting (an older host): softgpu's synthetic idle, N/A elsewhere. */
static nvmlReturn_t util_impl(nvmlDevice_t h, nvmlUtilization_t *u) {
  const vg_devrec *rec;
  unsigned i;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, &i);
  if (r) return r;
  if (!u) return NVML_ERROR_INVALID_ARGUMENT;
  vg_nvml_devstat st;
  if (vg_nvml_status(i, &st, NULL, 0) == 0) {
    u->gpu = st.gpu_pct;
    u->memory = st.mem_pct;
    return NVML_SUCCESS;
  }
  r = board(h, u, &rec);
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

/* Compute processes are the VM's guest processes attached to an executor, with the device memory
 * their sessions hold, from the host's accounting. Their pids are the guest's own (sent in the
 * HELLO), so nvidia-smi in the same guest can name them. vGPUs are not MIG devices: the instance
 * ids are NVML's "not available". Graphics and MPS lists are truly empty. */
#define NOT_AVAILABLE 0xffffffffu

static nvmlReturn_t fill_procs(nvmlDevice_t h, unsigned *count, void *infos, size_t stride, int v1) {
  unsigned i;
  nvmlReturn_t r = vg_nvml_dev(h, NULL, &i);
  if (r) return r;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  vg_status_proc procs[VG_MAX_STATUS_PROCS];
  vg_nvml_devstat st;
  if (vg_nvml_status(i, &st, procs, VG_MAX_STATUS_PROCS)) st.nproc = 0;
  unsigned n = st.nproc < VG_MAX_STATUS_PROCS ? st.nproc : VG_MAX_STATUS_PROCS;
  if (*count < n) {
    *count = n; /* a size query (infos may be NULL) or too small a buffer */
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  if (n && !infos) return NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned k = 0; k < n; k++) {
    unsigned char *slot = (unsigned char *)infos + k * stride;
    if (v1) {
      nvmlProcessInfo_v1_t p = {.pid = procs[k].pid, .usedGpuMemory = procs[k].used};
      memcpy(slot, &p, sizeof p);
    } else {
      nvmlProcessInfo_t p = {.pid = procs[k].pid, .usedGpuMemory = procs[k].used,
                             .gpuInstanceId = NOT_AVAILABLE, .computeInstanceId = NOT_AVAILABLE};
      memcpy(slot, &p, sizeof p);
    }
  }
  *count = n;
  return NVML_SUCCESS;
}

static nvmlReturn_t no_procs(nvmlDevice_t h, unsigned *count) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = 0;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                             nvmlProcessInfo_v1_t *infos) {
  VG_NVML_TRACED(fill_procs(device, infoCount, infos, sizeof *infos, 1));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                                nvmlProcessInfo_t *infos) {
  VG_NVML_TRACED(fill_procs(device, infoCount, infos, sizeof *infos, 0));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                                nvmlProcessInfo_t *infos) {
  VG_NVML_TRACED(fill_procs(device, infoCount, infos, sizeof *infos, 0));
}

#define NO_PROCS(name, type)                                                                  \
  VG_EXPORT nvmlReturn_t name(nvmlDevice_t device, unsigned int *infoCount, type *infos) {    \
    (void)infos;                                                                              \
    VG_NVML_TRACED(no_procs(device, infoCount));                                              \
  }

/* nvidia-smi's own process lists (its private export table, init.c): one entry per process, the
 * fields of the public nvmlProcessDetail_v1_t followed by the process name (NVML_SMI_NAME bytes). nvidia-smi 535
 * calls these for its process table and --query-compute-apps, and leaves a process with an empty
 * name out of its table: the name is the one nvmlSystemGetProcessName gives (the guest's pids are
 * the ones processes of this guest see), "N/A" for a process it cannot see. */
#define NVML_SMI_NAME 4096
typedef struct smi_proc {
  struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory;
  } detail;
  char name[NVML_SMI_NAME];
} smi_proc;
_Static_assert(sizeof(smi_proc) == 0x1020, "nvidia-smi 535 reads 0x1020-byte entries");

nvmlReturn_t vg_nvml_smi_compute_procs(nvmlDevice_t device, unsigned *count, void *entries) {
  unsigned cap = count ? *count : 0;
  nvmlProcessInfo_t infos[VG_MAX_STATUS_PROCS];
  unsigned n = VG_MAX_STATUS_PROCS;
  nvmlReturn_t r = fill_procs(device, &n, infos, sizeof infos[0], 0);
  if (r) return r;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = n;
  if (cap < n) return NVML_ERROR_INSUFFICIENT_SIZE;
  if (n && !entries) return NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned k = 0; k < n; k++) {
    smi_proc *e = (smi_proc *)entries + k;
    memset(e, 0, sizeof *e);
    e->detail.pid = infos[k].pid;
    e->detail.usedGpuMemory = infos[k].usedGpuMemory;
    e->detail.gpuInstanceId = infos[k].gpuInstanceId;
    e->detail.computeInstanceId = infos[k].computeInstanceId;
    if (nvmlSystemGetProcessName(infos[k].pid, e->name, sizeof e->name) != NVML_SUCCESS || !e->name[0])
      snprintf(e->name, sizeof e->name, "N/A");
  }
  return NVML_SUCCESS;
}

nvmlReturn_t vg_nvml_smi_no_procs(nvmlDevice_t device, unsigned *count, void *entries) {
  (void)entries;
  return no_procs(device, count);
}

NO_PROCS(nvmlDeviceGetGraphicsRunningProcesses, nvmlProcessInfo_v1_t)
NO_PROCS(nvmlDeviceGetGraphicsRunningProcesses_v2, nvmlProcessInfo_t)
NO_PROCS(nvmlDeviceGetGraphicsRunningProcesses_v3, nvmlProcessInfo_t)
NO_PROCS(nvmlDeviceGetMPSComputeRunningProcesses, nvmlProcessInfo_v1_t)
NO_PROCS(nvmlDeviceGetMPSComputeRunningProcesses_v2, nvmlProcessInfo_t)
NO_PROCS(nvmlDeviceGetMPSComputeRunningProcesses_v3, nvmlProcessInfo_t)
