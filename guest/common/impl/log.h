/*
 * Guest logging. VGPU_LOG=error|warn|info|debug (default warn), to stderr or VGPU_LOG_FILE, every
 * line prefixed `vgpu[pid]`. At debug every driver call is traced with name, result and duration.
 * Configured lazily on first use (never from a constructor).
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdint.h>

enum vg_log_level { VG_LOG_ERROR = 0, VG_LOG_WARN = 1, VG_LOG_INFO = 2, VG_LOG_DEBUG = 3 };

void vg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs only the first time `once` (a static int of the caller) is seen; thread-safe. */
void vg_log_once(int *once, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vg_log_enabled(int level);
uint64_t vg_now_ns(void);
/* Trace line for one driver call: "call NAME -> RESULT (N us)". `result` is a CUresult. */
void vg_trace_call(const char *name, int result, uint64_t t_start_ns);
/* Forget the configuration (tests, fork child): the next line re-reads it. */
void vg_log_reset(void);

/* Name of an op for tracing; generated in guest/cuda/gen (ops.h). */
const char *vg_op_name(uint32_t op);

#endif
