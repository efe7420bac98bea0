/*
 * Guest logging. VGPU_LOG (or its alias VGPU_LOG_LEVEL, the host's older name) takes the host's
 * values: silent, fatal, error, warn, info, debug, trace (default warn; docs/guest.md). Lines go to
 * stderr or VGPU_LOG_FILE as `vgpu[PID] 2026-01-02T03:04:05.678Z LEVEL: text` (UTC).
 *
 * At debug every driver call is traced as `NAME(ARGS) -> CUDA_SUCCESS {OUTPUTS} 12 µs`, and
 * cuGetProcAddress lookups are counted and summarised in one line before the next other call (or at
 * exit); trace also logs each lookup. Configured lazily on first use (never from a constructor).
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdint.h>

enum vg_log_level {
  VG_LOG_SILENT = -1,
  VG_LOG_ERROR = 0,
  VG_LOG_WARN = 1,
  VG_LOG_INFO = 2,
  VG_LOG_DEBUG = 3,
  VG_LOG_TRACE = 4
};

void vg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs only the first time `once` (a static int of the caller) is seen; thread-safe. */
void vg_log_once(int *once, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vg_log_enabled(int level);
uint64_t vg_now_ns(void);
/* Level of a VGPU_LOG value (case-insensitive), or -2 when it is none. */
int vg_log_parse_level(const char *s);

/* ---- call tracing ---- */

/* How an argument is shown. */
enum vg_targ_kind {
  VG_TA_INT,  /* signed decimal */
  VG_TA_UINT, /* unsigned decimal */
  VG_TA_HEX,  /* 0x..., flags and device pointers */
  VG_TA_SIZE, /* bytes: 64 MiB when an exact multiple of a unit, else 1000 B */
  VG_TA_PTR   /* a handle or host pointer: 0x... or NULL */
};

/* The arguments and outputs of one traced call, as text. Filled only while tracing, so a call
 * without tracing pays one branch. */
typedef struct vg_targs {
  uint16_t alen, olen;
  uint8_t has_args; /* 1: show NAME(ARGS) even when ARGS is empty */
  char args[160];
  char outs[96];
} vg_targs;

static inline void vg_targs_clear(vg_targs *t) { t->alen = t->olen = 0, t->has_args = 0; }
static inline void vg_targs_begin(vg_targs *t) { t->has_args = 1; }
/* Appends `name=value` to the arguments (out 0) or the outputs (out 1). */
void vg_targ(vg_targs *t, int out, int kind, const char *name, uint64_t v);
void vg_targ_f32(vg_targs *t, int out, const char *name, float v);

/* Trace line for one driver call (`result` is a CUresult; t may be NULL). Prints the pending
 * cuGetProcAddress summary first. */
void vg_trace_call(const char *name, int result, uint64_t t_start_ns, const vg_targs *t);
/* Around a hand-written function's body (VG_TRACED): begin forgets the last traced name of this
 * thread; end says whether a call inside already traced a line under `name` (a forwarded call
 * names its op after the function), in which case the function's own line would only repeat it. */
void vg_trace_nested_begin(void);
int vg_trace_nested_end(const char *name);
/* Records one cuGetProcAddress lookup of `symbol` (status: 0 found, 1 not found, 2 version not
 * sufficient, 3 invalid) for the summary; at trace level also logs it. */
void vg_trace_lookup(const char *fn, const char *symbol, int cuda_version, uint64_t flags, int status, int result,
                     uint64_t t_start_ns);
/* Prints the pending lookup summary now, if any. */
void vg_trace_flush(void);

/* Forget the configuration (tests, fork child): the next line re-reads it. */
void vg_log_reset(void);

/* Name of an op for tracing; generated in guest/cuda/gen (ops.h). */
const char *vg_op_name(uint32_t op);

#endif
