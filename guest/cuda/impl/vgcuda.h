/*
 * Private header of the hand-written libcuda functions. Include it first in every file of
 * guest/cuda/impl: it asks cuda.h for the driver's own view (__CUDA_API_VERSION_INTERNAL), in
 * which the compatibility macros (cuCtxCreate -> cuCtxCreate_v4, cuMemcpyHtoD -> ..._v2, ...) are
 * undefined and every historical ABI is declared under its real ELF name. Our definitions are
 * therefore checked against NVIDIA's prototypes and exported under exactly those names.
 */
#ifndef VG_CUDA_IMPL_H
#define VG_CUDA_IMPL_H

#ifdef CUDA_VERSION
#error "include vgcuda.h before cuda.h (directly or through rpc.h)"
#endif
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <stdint.h>

#include "log.h"
#include "wire.h"

#define VG_EXPORT __attribute__((visibility("default")))

/* A CUresult the driver returns but cuda.h does not name: a launch of library code with grid or
 * block dimensions outside the device's limits (launch.c). cudart reports it as
 * cudaErrorInvalidConfiguration. */
#define VG_CUDA_ERROR_INVALID_CONFIGURATION ((CUresult)9)

/* Body of an exported local function: evaluates the implementation and, at VGPU_LOG=debug,
 * traces the call under the exported name (__func__ is the real CUDA name), unless a forwarded
 * call inside traced it under that name already (with its arguments). */
#define VG_TRACED(expr)                                                                  \
  do {                                                                                   \
    uint64_t t0_ = 0;                                                                    \
    if (vg_log_enabled(VG_LOG_DEBUG)) {                                                  \
      vg_trace_nested_begin();                                                           \
      t0_ = vg_now_ns();                                                                 \
    }                                                                                    \
    CUresult r_ = (expr);                                                                \
    if (t0_ && !vg_trace_nested_end(__func__)) vg_trace_call(__func__, (int)r_, t0_, NULL); \
    return r_;                                                                           \
  } while (0)

/* Wire ids (VG_OP_<name>), hand-written (VG_CUSTOM) calls included: generated from the spec. */
#include "ops.h"

/* ---- device.c: the visible device table (WELCOME filtered by CUDA_VISIBLE_DEVICES) ---- */

/* Nonzero once cuInit has succeeded (device table and primary contexts are in place). */
int vg_cuda_ready(void);
/* A 2D or 3D copy with a CUDA array on one side or both (array.c); st NULL: the default stream,
 * ptsz: the per-thread forms. */
CUresult vg_memcpy_array_box(const CUDA_MEMCPY3D *p, const CUstream *st, int ptsz);
int vg_dev_count(void);
/* The device record of ordinal d, or NULL when d is not a visible device. */
const vg_devrec *vg_dev_rec(CUdevice d);
/* The driver version to report: from the WELCOME (connecting lazily), else CUDA_VERSION. */
int vg_driver_version(void);

/* ---- visible.c: CUDA_VISIBLE_DEVICES ---- */

/* Parses spec like the real driver: comma-separated device indices or GPU-<uuid prefix> tokens;
 * parsing stops at the first invalid, unknown, ambiguous or repeated token. Writes the host
 * indices of the visible devices, in order, to map (capacity cap) and returns how many.
 * spec NULL means every device. */
int vg_visible_parse(const char *spec, int ndev, const uint8_t (*uuids)[16], int *map, int cap);
/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (41 bytes with the NUL). */
void vg_uuid_format(const uint8_t uuid[16], char out[41]);

/* ---- context.c ---- */

/* Creates the primary context handles (one per visible device, not retained). 0 or -1. */
int vg_primary_setup(int ndev);
/* Resolves ctx (NULL = the calling thread's current context) to its device and flags. */
CUresult vg_ctx_info(CUcontext ctx, CUdevice *dev, unsigned int *flags);

/* ---- hostmem.c: the guest's page-locked host memory ---- */

typedef struct vg_hostmem_info {
  uintptr_t base;
  size_t size;
  unsigned int flags;     /* cuMemHostAlloc or cuMemHostRegister flags */
  int registered;         /* 1: cuMemHostRegister; 0: cuMemAllocHost/cuMemHostAlloc */
  CUcontext ctx;          /* current when it was allocated or registered */
  unsigned long long id;  /* its buffer id */
} vg_hostmem_info;

/* 1 and *out filled when p lies inside page-locked host memory of this process; else 0. */
int vg_hostmem_lookup(uintptr_t p, vg_hostmem_info *out);

/* ---- shm.c: the region shared with the executor (docs/protocol.md, "Shared memory") ---- */

/* A page-aligned block of n bytes (a page multiple) of the shared region, made on first use; NULL
 * when there is no region or no room (the caller then maps ordinary memory). */
void *vg_shm_alloc(size_t n);
/* Gives back a block of vg_shm_alloc (n as allocated); a block of a region this process no longer
 * has (inherited over fork) is ignored. */
void vg_shm_free(void *p, size_t n);
/* 1 and *off set when [p, p + n) lies in the shared region the executor maps (n > 0); else 0. */
int vg_shm_range(const void *p, size_t n, uint64_t *off);
/* One copy through the region: op is VG_OP_vgShmHtoD, vgShmHtoDAsync, vgShmDtoH or vgShmDtoHAsync
 * (stream given for the async ones), dev the device address, off the region offset. */
CUresult vg_shm_copy(uint32_t op, CUdeviceptr dev, uint64_t off, size_t n, const CUstream *stream, int ptds);
/* The staging block for copies of pageable memory (memory.c), taken by one thread at a time: its
 * address, size and offset in the region, or NULL (no region, or another thread has it; the copy
 * then goes through the socket). Given back with vg_shm_stage_give. */
uint8_t *vg_shm_stage_take(size_t *len, uint64_t *off);
void vg_shm_stage_give(void);

/* ---- pointer.c ---- */

/* *is_device = 1 when p lies in the session's device memory (asking the executor unless p is the
 * guest's own page-locked memory or NULL), 0 for any host memory. */
CUresult vg_ptr_is_device(CUdeviceptr p, int *is_device);

#endif
