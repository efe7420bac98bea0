/*
 * The tables through which profiling tools (CUPTI) hook the runtime:
 * TOOLS_RUNTIME_CALLBACK_HOOKS and TOOLS_TLS (docs/reference/cudart-driver-interface.md §2.3).
 *
 * The hooks table hands cudart two process-wide buffers of per-callback switches that a tool
 * attached to the driver would set. No tool attaches to vgpu's driver, so the switches stay zero
 * (every callback off) for the life of the process; cudart only needs them to exist and be large
 * enough (at least 523 and 14 entries for cudart 13.0).
 */
#include "vgcuda.h"

#include "ctxstack.h"
#include "darkapi.h"

#define HOOKS_API_COUNT 1024
#define HOOKS_FN6_COUNT 14

/* Entries are reported as counts; the buffers are sized at 8 bytes per entry with a margin, as
 * the entry width is not documented. */
static uint64_t g_api_switches[HOOKS_API_COUNT];
static uint64_t g_fn6_switches[64];

static void api_callback_switches(void **buf, size_t *count) {
  if (buf) *buf = g_api_switches;
  if (count) *count = HOOKS_API_COUNT;
}

static void fn6_callback_switches(void **buf, size_t *count) {
  if (buf) *buf = g_fn6_switches;
  if (count) *count = HOOKS_FN6_COUNT;
}

static const vg_dark_slot hooks_slots[] = {
    {2, "api_callback_switches", (vg_dark_fn)api_callback_switches},
    {6, "fn6_callback_switches", (vg_dark_fn)fn6_callback_switches},
};

const vg_dark_desc vg_dark_hooks_desc = {
    .name = "TOOLS_RUNTIME_CALLBACK_HOOKS",
    .id = {0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66},
    .size_slot = 1,
    .nslots = 7,
    .known = hooks_slots,
    .nknown = sizeof hooks_slots / sizeof hooks_slots[0],
};

/* TOOLS_TLS[2]: cuBLASLt asks for the calling thread's context as the tools layer sees it (an
 * output pointer first). The answer is the thread's current context, NULL when it has none. */
static CUresult thread_context(CUcontext *out) {
  if (out) *out = vg_ctx_current();
  return CUDA_SUCCESS;
}

static CUresult tools_thread_context(CUcontext *out) { VG_TRACED(thread_context(out)); }

static const vg_dark_slot tools_tls_slots[] = {
    {2, "thread_context", (vg_dark_fn)tools_thread_context},
};

const vg_dark_desc vg_dark_tools_tls_desc = {
    .name = "TOOLS_TLS",
    .id = {0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47, 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc},
    .size_slot = 1,
    .nslots = 4,
    .known = tools_tls_slots,
    .nknown = sizeof tools_tls_slots / sizeof tools_tls_slots[0],
};
