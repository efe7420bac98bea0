/*
 * The guest's doctor (docs/guest.md, "Checking a guest"): a report of this library's loader
 * setting, its symbols, configuration, host, token, a timed round trip and a kernel run, each
 * check with the fix when it fails. vgpu-doctor calls it; VGPU_DOCTOR=1 prints it at cuInit.
 */
#ifndef VG_DOCTOR_H
#define VG_DOCTOR_H

#include <stddef.h>

/* Every name NVIDIA's libcuda.so.1 exports (generated: guest/cuda/gen/nvidia_exports.c). */
extern const char *const vg_nvidia_exports[];
extern const size_t vg_nvidia_export_count;

/* Writes the report to fd; returns the number of failed checks. Exported (with the marker
 * vgpu_guest_library) so that vgpu-doctor finds it in the libcuda.so.1 the loader resolves. */
int vgpu_doctor_report(int fd) __attribute__((visibility("default")));

/* At the end of cuInit: with VGPU_DOCTOR=1, the report on stderr, once per process. */
void vg_doctor_at_init(void);

#endif
