/*
 * Library state: init counting, the session, error strings and the private export table query.
 * nvmlInit connects and handshakes (bounded by VGPU_HANDSHAKE_TIMEOUT_MS, docs/guest.md); the
 * outcome is remembered for the process, as libcuda.so.1 does.
 */
#include "vgnvml.h"

#include "log.h"
#include "session.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* vgpu's doctor tells this library from NVIDIA's by this symbol (docs/guest.md, "Checking a guest"). */
__attribute__((visibility("default"))) const char vgpu_guest_nvml_library[] = "vgpu guest libnvidia-ml.so.1";

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;

/* Below; the trace names results by it. */
VG_EXPORT const char *nvmlErrorString(nvmlReturn_t r);
static unsigned g_init_count;

nvmlReturn_t vg_nvml_trace(const char *name, nvmlReturn_t r) {
  if (vg_log_enabled(VG_LOG_DEBUG)) vg_log(VG_LOG_DEBUG, "nvml %s -> %s (%d)", name, nvmlErrorString(r), (int)r);
  return r;
}

void vg_nvml_trace_field(unsigned id, unsigned scope, nvmlReturn_t r) {
  if (vg_log_enabled(VG_LOG_DEBUG))
    vg_log(VG_LOG_DEBUG, "nvml field %u scope %u -> %s (%d)", id, scope, nvmlErrorString(r), (int)r);
}

nvmlReturn_t vg_nvml_unsupported(int *once, const char *name) {
  vg_log_once(once, VG_LOG_INFO, "nvml %s is not supported by the vgpu NVML", name);
  return vg_nvml_trace(name, NVML_ERROR_NOT_SUPPORTED);
}

nvmlReturn_t vg_nvml_ready(void) {
  pthread_mutex_lock(&g_init_lock);
  unsigned n = g_init_count;
  pthread_mutex_unlock(&g_init_lock);
  return n ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
}

const vg_welcome *vg_nvml_welcome(void) { return vg_session_welcome(); }

int vg_nvml_synthetic(void) {
  const vg_welcome *w = vg_session_welcome();
  return w && (w->host_flags & 1u);
}

nvmlReturn_t vg_nvml_copy_str(char *out, unsigned len, const char *s) {
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  size_t n = strlen(s);
  if (n >= len) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(out, s, n + 1);
  return NVML_SUCCESS;
}

static nvmlReturn_t init_impl(unsigned flags) {
  if (flags & ~(NVML_INIT_FLAG_NO_GPUS | NVML_INIT_FLAG_NO_ATTACH)) return NVML_ERROR_INVALID_ARGUMENT;
  /* A host that cannot be reached is NVIDIA's "driver not loaded": callers (PyTorch, Ollama)
   * then fall back or report no GPU instead of failing later. */
  (void)vg_session_init();
  /* A session lost after its handshake still has its device table, which is all NVML needs. */
  const vg_welcome *w = vg_session_welcome();
  if (!w) return NVML_ERROR_DRIVER_NOT_LOADED;
  if (w->count == 0 && !(flags & NVML_INIT_FLAG_NO_GPUS)) return NVML_ERROR_NOT_FOUND;
  pthread_mutex_lock(&g_init_lock);
  g_init_count++;
  pthread_mutex_unlock(&g_init_lock);
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlInit(void) { VG_NVML_TRACED(init_impl(0)); }
VG_EXPORT nvmlReturn_t nvmlInit_v2(void) { VG_NVML_TRACED(init_impl(0)); }
VG_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { VG_NVML_TRACED(init_impl(flags)); }

static nvmlReturn_t shutdown_impl(void) {
  nvmlReturn_t r = NVML_SUCCESS;
  pthread_mutex_lock(&g_init_lock);
  if (g_init_count) g_init_count--;
  else r = NVML_ERROR_UNINITIALIZED;
  pthread_mutex_unlock(&g_init_lock);
  /* The session stays open: libcuda.so.1 in the same process does not share it, and a later
   * nvmlInit reuses it without another handshake. */
  return r;
}

VG_EXPORT nvmlReturn_t nvmlShutdown(void) { VG_NVML_TRACED(shutdown_impl()); }

VG_EXPORT const char *nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
  case NVML_SUCCESS: return "Success";
  case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
  case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
  case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
  case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
  case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
  case NVML_ERROR_NOT_FOUND: return "Not Found";
  case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
  case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
  case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
  case NVML_ERROR_TIMEOUT: return "Timeout";
  case NVML_ERROR_IRQ_ISSUE: return "Interrupt request issue";
  case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
  case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
  case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
  case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
  case NVML_ERROR_RESET_REQUIRED: return "GPU requires reset";
  case NVML_ERROR_OPERATING_SYSTEM: return "GPU access blocked by the operating system";
  case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "Driver/library version mismatch";
  case NVML_ERROR_IN_USE: return "In use by another client";
  case NVML_ERROR_MEMORY: return "Insufficient Memory";
  case NVML_ERROR_NO_DATA: return "No data";
  case NVML_ERROR_VGPU_ECC_NOT_SUPPORTED: return "vGPU ECC not supported";
  case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient resources";
  case NVML_ERROR_FREQ_NOT_SUPPORTED: return "Frequency not supported";
  case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
  case NVML_ERROR_DEPRECATED: return "Deprecated";
  case NVML_ERROR_NOT_READY: return "Not ready";
  case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
  case NVML_ERROR_INVALID_STATE: return "Invalid state";
  case NVML_ERROR_UNKNOWN: return "Unknown Error";
  }
  return "Unknown Error";
}

/* NVIDIA's tools ask NVML for private tables of internal entry points: a table starts with its
 * size in bytes, and a caller uses an entry only if the size covers it and the entry is not NULL
 * (every use in nvidia-smi 535 checks both). nvidia-smi 535 treats a failed query for its table
 * (id below) as "Mismatch in versions between nvidia-smi and NVML" and quits. An entry the size
 * does not cover makes it report NVML_ERROR_UNINITIALIZED ("[Uninitialized]"), a NULL entry
 * NVML_ERROR_NOT_SUPPORTED, and for most entries it then falls back to the public API. Its process
 * lists come only through this table: the entries at byte offsets 0x6a8, 0x6b0 and 0x6b8 (compute,
 * graphics and MPS processes: device, in/out count, entries; board.c) are given, all others are
 * NULL. Every other id is "function not found". */
static const unsigned char k_smi_table_id[16] = {0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e,
                                                 0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4};
#define SMI_SLOT(offset) ((offset) / 8 - 1)
typedef nvmlReturn_t (*smi_procs_fn)(nvmlDevice_t, unsigned *, void *);
static const struct {
  uint64_t size;
  smi_procs_fn slot[SMI_SLOT(0x6b8) + 1];
} k_smi_table = {
    sizeof k_smi_table,
    {
        [SMI_SLOT(0x6a8)] = vg_nvml_smi_compute_procs,
        [SMI_SLOT(0x6b0)] = vg_nvml_smi_no_procs,
        [SMI_SLOT(0x6b8)] = vg_nvml_smi_no_procs,
    },
};

static nvmlReturn_t export_table_impl(const void **table, const void *id) {
  if (!table || !id) return NVML_ERROR_INVALID_ARGUMENT;
  if (memcmp(id, k_smi_table_id, sizeof k_smi_table_id) == 0) {
    *table = &k_smi_table;
    return NVML_SUCCESS;
  }
  *table = NULL;
  if (vg_log_enabled(VG_LOG_DEBUG)) {
    static const char dg[] = "0123456789abcdef";
    const unsigned char *b = id;
    char hex[33];
    for (int i = 0; i < 16; i++) {
      hex[2 * i] = dg[b[i] >> 4];
      hex[2 * i + 1] = dg[b[i] & 15];
    }
    hex[32] = 0;
    vg_log(VG_LOG_DEBUG, "nvml export table %s requested: not provided", hex);
  }
  return NVML_ERROR_FUNCTION_NOT_FOUND;
}

VG_EXPORT nvmlReturn_t nvmlInternalGetExportTable(const void **table, const void *id) {
  VG_NVML_TRACED(export_table_impl(table, id));
}
