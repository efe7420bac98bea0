/*
 * Internals of the guest libnvidia-ml.so.1. Every device fact comes from the WELCOME table of
 * the process's session (guest/common/impl/session.c), the same table libcuda.so.1 answers from,
 * so NVML and CUDA agree on order, count, UUID, PCI id, name, memory and compute capability.
 * This library only handshakes: it never sends ATTACH, so it costs the host no executor.
 */
#ifndef VG_NVML_H
#define VG_NVML_H

#include "nvmltypes.h"
#include "wire.h"

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
/* Whether the host runs softgpu: board values (temperature, power, fan...) are then synthetic
 * constants; on a real GPU they are NOT_SUPPORTED until the host forwards them. */
int vg_nvml_synthetic(void);
/* Copies s into out[len] with its NUL, or NVML_ERROR_INSUFFICIENT_SIZE (out untouched). */
nvmlReturn_t vg_nvml_copy_str(char *out, unsigned len, const char *s);
/* The driver version string NVML reports (the WELCOME extension, else the compatible branch). */
const char *vg_nvml_driver_string(void);
/* Logs "NAME -> result" at debug level; returns r. */
nvmlReturn_t vg_nvml_trace(const char *name, nvmlReturn_t r);
/* The answer of a function this library does not implement: logged once per name. */
nvmlReturn_t vg_nvml_unsupported(int *once, const char *name);

/* Logs one field of nvmlDeviceGetFieldValues at debug level. */
void vg_nvml_trace_field(unsigned id, unsigned scope, nvmlReturn_t r);

/* softgpu's synthetic board (docs/guest.md), in NVML units; board.c and fields.c share it. */
#define VG_SYN_POWER_MW 20000u
#define VG_SYN_POWER_LIMIT_MW 100000u
#define VG_SYN_POWER_MIN_MW 50000u

#define VG_NVML_TRACED(expr) return vg_nvml_trace(__func__, (expr))

#endif
