/*
 * Internals of the guest libnvidia-ml.so.1. Every device fact comes from the WELCOME table of
 * the process's session (guest/common/impl/session.c), the same table libcuda.so.1 answers from,
 * so NVML and CUDA agree on order, count, UUID, PCI id, name, memory and compute capability.
 * Utilization, memory used and processes come from the host's accounting of the VM (status.c).
 * This library only handshakes and asks STATUS: it never sends ATTACH, so it costs the host no
 * executor.
 */
#ifndef VG_NVML_H
#define VG_NVML_H

#include "nvmltypes.h"
#include "status.h"
#include "wire.h"

#include <stdint.h>

#define VG_EXPORT __attribute__((visibility("default")))

struct vg_nvml_dev {
  unsigned index;
};

/* NVML_SUCCESS when nvmlInit has succeeded more often than nvmlShutdown was called, else
 * NVML_ERROR_UNINITIALIZED. */
nvmlReturn_t vg_nvml_ready(void);
/* The WELCOME table (non-NULL once nvmlInit succeeded). */
const vg_welcome *vg_nvml_welcome(void);
/* Resolves a handle: NVML_ERROR_UNINITIALIZED before init, NVML_ERROR_INVALID_ARGUMENT for a
 * handle that is not one of ours. */
nvmlReturn_t vg_nvml_dev(nvmlDevice_t h, const vg_devrec **rec, unsigned *index);
nvmlDevice_t vg_nvml_handle(unsigned index);
/* A device attribute (CUdevice_attribute), or -1 when the device does not report it. */
int vg_nvml_attr(const vg_devrec *rec, unsigned attr);
/* Whether the host runs softgpu: board values (temperature, power, fan...) the host does not
 * forward from its NVML (vg_nvml_board) are then synthetic constants; on a real GPU NOT_SUPPORTED. */
int vg_nvml_synthetic(void);
/* Copies s into out[len] with its NUL, or NVML_ERROR_INSUFFICIENT_SIZE (out untouched). */
nvmlReturn_t vg_nvml_copy_str(char *out, unsigned len, const char *s);
/* The driver version string NVML reports (the WELCOME extension, else the compatible branch). */
const char *vg_nvml_driver_string(void);
/* Logs "NAME -> result" at debug level; returns r. */
nvmlReturn_t vg_nvml_trace(const char *name, nvmlReturn_t r);
/* The answer of a function this library does not implement: logged once per name. */
nvmlReturn_t vg_nvml_unsupported(int *once, const char *name);

/* nvidia-smi's private process lists (board.c): compute processes, and the empty graphics and
 * MPS lists; `entries` holds *count entries of nvidia-smi's layout. */
nvmlReturn_t vg_nvml_smi_compute_procs(nvmlDevice_t device, unsigned *count, void *entries);
nvmlReturn_t vg_nvml_smi_no_procs(nvmlDevice_t device, unsigned *count, void *entries);
/* The public function (system.c), which board.c names nvidia-smi's processes by. */
nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length);

/* One vGPU's entry of the host's accounting (status.c). */
typedef struct vg_nvml_devstat {
  unsigned gpu_pct, mem_pct; /* over the last window_ms */
  unsigned window_ms;
  uint64_t mem_used;         /* the VM's memory in use: what cuMemGetInfo reports as used */
  unsigned nproc;            /* the VM's attached processes on this vGPU */
} vg_nvml_devstat;

/* Fills *out for vGPU `index` from a STATUS_REPLY at most 150 ms old, and copies up to `cap` of
 * its processes into procs. Returns 0, or -1 when the host gives no accounting (a host older than
 * protocol minor 2, or a lost session): callers then answer as before (docs/guest.md). */
int vg_nvml_status(unsigned index, vg_nvml_devstat *out, vg_status_proc *procs, unsigned cap);

/* The physical board's readings for one vGPU, as the host's NVML gave them (STATUS_REPLY tags 1
 * and 2); each VG_BOARD_UNKNOWN where the host could not read it. */
enum {
  VG_BOARD_TEMP, VG_BOARD_POWER, VG_BOARD_POWER_LIMIT, VG_BOARD_SM, VG_BOARD_MEM, VG_BOARD_FAN,
  VG_BOARD_GFX, VG_BOARD_SM_MAX, VG_BOARD_MEM_MAX, VG_BOARD_GFX_MAX, VG_BOARD_PSTATE, VG_BOARD_NVALS
};
typedef struct vg_nvml_boardvals {
  uint32_t v[VG_BOARD_NVALS];
} vg_nvml_boardvals;

/* Fills *out for vGPU `index` when the host forwards its NVML's board values (same cache as
 * vg_nvml_status). Returns 0, or -1 when it does not: callers then answer from softgpu's synthetic
 * board, or NVML_ERROR_NOT_SUPPORTED on a real GPU (docs/guest.md). */
int vg_nvml_board(unsigned index, vg_nvml_boardvals *out);

/* Logs one field of nvmlDeviceGetFieldValues at debug level. */
void vg_nvml_trace_field(unsigned id, unsigned scope, nvmlReturn_t r);

/* softgpu's synthetic board (docs/guest.md), in NVML units; board.c and fields.c share it. */
#define VG_SYN_POWER_MW 20000u
#define VG_SYN_POWER_LIMIT_MW 100000u
#define VG_SYN_POWER_MIN_MW 50000u

#define VG_NVML_TRACED(expr) return vg_nvml_trace(__func__, (expr))

#endif
