/*
 * Internals shared by softgpu's driver-API files. Include this instead of <cuda.h>.
 *
 * We define __CUDA_API_VERSION_INTERNAL, as NVIDIA's own driver build does, so that cuda.h
 * declares every versioned entry point under its real name (cuMemAlloc_v2, cuMemcpyHtoD_v2_ptds,
 * cuEventElapsedTime...) instead of renaming them with macros. Each exported function is then
 * defined with exactly the name and signature the real libcuda.so.1 exports, and the compiler
 * checks it against cuda.h.
 *
 * Execution model: synchronous. Every stream operation (copy, memset, kernel launch, event
 * record) has completed when the call returns, so streams only carry ordering that is already
 * satisfied; cuStreamQuery/cuEventQuery always report completion.
 */
#ifndef SG_API_H
#define SG_API_H

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sg_mem.h"

#define SG_EXPORT __attribute__((visibility("default")))

#define SG_DRIVER_VERSION 13000
/* A CUresult the driver returns but cuda.h does not name: a launch of library code with grid or
 * block dimensions outside the device's limits (launch.c); cudart's cudaErrorInvalidConfiguration. */
#define SG_CUDA_ERROR_INVALID_CONFIGURATION ((CUresult)9)
/* Devices reported (VGPU_SOFTGPU_DEVICES, init.c); they share one memory arena and worker pool. */
#define SG_MAX_DEVICES 16
int sg_dev_count(void);

/* ---- object registry (sg_registry.c) ---------------------------------------------------------
 * Every handle we give out is registered here with its type and owning context. Handles are
 * checked against the registry before they are dereferenced, so a stale, foreign or wrong-type
 * handle yields CUDA_ERROR_INVALID_HANDLE instead of a use-after-free. */
typedef enum sg_obj_type {
  SG_OBJ_CTX = 1,
  SG_OBJ_STREAM,
  SG_OBJ_EVENT,
  SG_OBJ_MODULE,
  SG_OBJ_FUNC,
  SG_OBJ_LIBRARY,
  SG_OBJ_KERNEL,
  SG_OBJ_DEVMEM,  /* key: device pointer of a cuMemAlloc allocation */
  SG_OBJ_HOSTMEM, /* key: pointer from cuMemAllocHost/cuMemHostAlloc; value: size */
  SG_OBJ_HOSTREG, /* key: pointer given to cuMemHostRegister; value: size */
  SG_OBJ_GRAPH,   /* owner: the context; see sg_graph.h */
  SG_OBJ_GNODE,   /* owner: the graph */
  SG_OBJ_GEXEC,   /* owner: the context */
  SG_OBJ_MEMPOOL, /* key: an sg_pool (mempool.c); no owner */
  SG_OBJ_POOLMEM, /* key: device pointer allocated from a pool; owner: the pool; value: size */
  SG_OBJ_ARRAY,   /* key: an sg_array (array.c); owner: the context */
  SG_OBJ_TEXOBJ,  /* key: a texture object's handle value; owner: the context; value: its sg_texobj */
  SG_OBJ_SURFOBJ, /* key: a surface object's handle value; owner: the context; value: its sg_texobj */
  SG_OBJ_MIPMAP   /* key: an sg_mipmap (array.c); owner: the context */
} sg_obj_type;

/* 0 on success, -1 when out of memory or already present. */
int sg_reg_add(const void *key, sg_obj_type type, void *owner, uint64_t value);
/* 1 when key is registered with type; fills owner and value when non-NULL. */
int sg_reg_find(const void *key, sg_obj_type type, void **owner, uint64_t *value);
/* 1 when it was registered and is now removed. */
int sg_reg_remove(const void *key, sg_obj_type type);
/* Removes every entry of `type` owned by `owner` and returns their keys (malloc'ed array, caller
 * frees; NULL with *n == 0 when none or out of memory). */
void **sg_reg_take_owned(const void *owner, sg_obj_type type, size_t *n);
/* The first live entry of `type` for which match(key, value, arg) is nonzero: 1 with *key and
 * *value filled, else 0. A linear scan under the registry's lock (match must not call back). */
int sg_reg_search(sg_obj_type type, int (*match)(const void *key, uint64_t value, void *arg), void *arg,
                  const void **key, uint64_t *value);

/* ---- device (device.c) ----------------------------------------------------------------------- */
int sg_dev_cc_major(void);
int sg_dev_cc_minor(void);
int sg_dev_sm_count(void);
/* NOT_INITIALIZED before cuInit, INVALID_DEVICE for any ordinal but 0. */
CUresult sg_dev_check(CUdevice dev);
CUresult sg_dev_attribute(CUdevice_attribute a, int *v);
/* PCI location of the emulated device; bus 0x7f keeps it apart from typical real GPU slots. */
#define SG_PCI_DOMAIN 0
#define SG_PCI_BUS 0x7f
#define SG_PCI_DEVICE 0

/* ---- init (init.c) --------------------------------------------------------------------------- */
int sg_initialized(void);

/* ---- contexts (context.c) -------------------------------------------------------------------- */
#define SG_LIMIT_COUNT 10

/* Kernel output not yet flushed (output.c): records of u8 fd, u32 length, text. */
typedef struct sg_outbuf {
  unsigned char *p;
  size_t len, cap;
} sg_outbuf;

typedef struct sg_ctx {
  CUdevice dev;
  unsigned flags;
  int primary;
  _Atomic int sticky; /* a CUresult; 0 while the context is healthy */
  unsigned long long id;
  pthread_mutex_t lock; /* guards limits and out */
  size_t limits[SG_LIMIT_COUNT];
  sg_outbuf out;
} sg_ctx;

/* The current context of this thread, checked: NOT_INITIALIZED, INVALID_CONTEXT (none),
 * CONTEXT_IS_DESTROYED (destroyed elsewhere), or the context's sticky error. */
CUresult sg_ctx_get(sg_ctx **out);
/* The current context even when it carries a sticky error (for flushing its kernel output). */
CUresult sg_ctx_current_any(sg_ctx **out);
/* Same checks for an explicit handle; NULL means the current context. */
CUresult sg_ctx_resolve(CUcontext c, sg_ctx **out);
/* Records an error that poisons a context (illegal address, trap...); the first error wins.
 * sg_ctx_set_sticky applies to the current context, sg_ctx_poison to a given one (a kernel runs
 * in its stream's context, which need not be current). */
void sg_ctx_set_sticky(CUresult err);
void sg_ctx_poison(sg_ctx *c, CUresult err);
CUresult sg_ctx_sticky(const sg_ctx *c);

/* ---- kernel output (output.c) ----------------------------------------------------------------
 * printf and assert text of the kernels of a context, printed (or queued for the host) only at
 * the flush points listed in output.c, each of which calls sg_output_flush. */
/* The engine's output hook (sg_ptx_launch.output): appends one record to the context's FIFO. */
void sg_output_emit(void *ctx, int fd, const char *text, size_t n);
/* A flush point of context c; also frees its FIFO (so it is what a context's release calls). */
void sg_output_flush(sg_ctx *c);
/* A flush point of the calling thread's current context, if it has one. */
void sg_output_flush_current(void);

/* ---- streams (stream.c) ---------------------------------------------------------------------- */
/* Resolves a stream handle (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD or a created stream) to
 * the context it runs in, with the context's checks applied. */
CUresult sg_stream_ctx(CUstream s, sg_ctx **ctx);

/* In the per-thread-stream (_ptsz) entry points a NULL stream means the calling thread's default
 * stream, not the legacy one. Both run in the current context; the difference matters to stream
 * capture, which can capture the per-thread stream but never the legacy stream. */
#define SG_PTSZ(s) ((s) ? (s) : CU_STREAM_PER_THREAD)

/* Bodies of entry points that run `call` (a CUresult expression) once the current context, or
 * the stream's context, has passed its checks. */
#define SG_ON_CURRENT(call)             \
  do {                                  \
    sg_ctx *c_;                         \
    CUresult rc_ = sg_ctx_get(&c_);     \
    return rc_ ? rc_ : (call);          \
  } while (0)

#define SG_ON_STREAM(stream, call)                 \
  do {                                             \
    sg_ctx *c_;                                    \
    CUresult rc_ = sg_stream_ctx((stream), &c_);   \
    return rc_ ? rc_ : (call);                     \
  } while (0)

/* ---- events (event.c) -------------------------------------------------------------------------- */
/* CUDA_SUCCESS for a live event whose context is alive and healthy. */
CUresult sg_event_check(CUevent e);
/* The flags a live event was created with. */
CUresult sg_event_flags(CUevent e, unsigned *flags);

/* ---- device memory (memory.c, mempool.c) ------------------------------------------------------ */
/* Allocates from the arena and registers the allocation as owned by `owner` (NULL: by no context,
 * as stream-ordered allocations outlive the context that made them). */
CUresult sg_devmem_alloc(sg_ctx *owner, uint64_t size, CUdeviceptr *dptr);
/* Frees an allocation of any kind: INVALID_VALUE unless dptr starts one. */
CUresult sg_devmem_free(CUdeviceptr dptr);
/* An allocation is freed: it loses its CU_POINTER_ATTRIBUTE_SYNC_MEMOPS flag (pointer.c). */
void sg_sync_memops_forget(CUdeviceptr base);
/* An allocation is freed: the pool it came from, if any, stops counting it. */
void sg_pool_forget(CUdeviceptr dptr);

/* ---- managed and mapped memory (managed.c) ------------------------------------------------------ */
typedef struct sg_coherent_info {
  CUdeviceptr base;
  size_t size;
  int mapped; /* cuMemHostAlloc(DEVICEMAP); else cuMemAllocManaged */
  sg_ctx *ctx;
} sg_coherent_info;
/* 1 and *out when p lies in managed memory or mapped page-locked memory. */
int sg_coherent_lookup(CUdeviceptr p, sg_coherent_info *out);
/* Forgets what a context's destruction freed (its device memory goes through sg_mem_release_ctx). */
void sg_coherent_release_ctx(sg_ctx *c);
/* Mapped page-locked memory: arena memory the host and kernels share. */
CUresult sg_mapped_alloc(sg_ctx *c, size_t bytesize, void **pp);
/* Frees mapped memory starting at p: 1, or 0 if p is not mapped memory. */
int sg_mapped_free(void *p);
/* For cuMemFree: 1 and *rc when dptr is managed or mapped memory (freeing managed memory, refusing
 * mapped), 0 for anything else. */
int sg_managed_free(CUdeviceptr dptr, CUresult *rc);
/* A module's __managed__ variable [base, base+size) is managed memory (pointer attributes, advice)
 * that only the module's unloading frees (sg_managed_var_remove); -1 when out of memory. */
int sg_managed_var_add(CUdeviceptr base, size_t size);
void sg_managed_var_remove(CUdeviceptr base);

/* ---- peer access (peer.c) --------------------------------------------------------------------- */
/* Forgets the peer access a context had or gave (it is being destroyed). */
void sg_peer_release_ctx(sg_ctx *c);

/* ---- virtual memory management (vmm.c) -------------------------------------------------------- */
/* The mapping holding p (cuMemMap): its start, size and access flags; -1 if p is not mapped. */
int sg_vmm_range(CUdeviceptr p, CUdeviceptr *base, uint64_t *size, unsigned long long *access);

/* ---- CUDA arrays (array.c) and texture/surface objects (texture.c) ------------------------------ */
/* An array is device memory laid out row after row, slice after slice (layers of a layered array
 * are its slices); the real driver's layout is opaque, so any layout would do. */
typedef struct sg_array {
  sg_ctx *ctx;
  CUDA_ARRAY3D_DESCRIPTOR desc;
  unsigned elem;      /* bytes per element: format size * channels */
  size_t pitch;       /* bytes per row: Width * elem */
  size_t rows;        /* rows per slice: max(Height, 1) */
  size_t slices;      /* max(Depth, 1): depth or layers */
  size_t bytes;       /* pitch * rows * slices */
  sg_devptr data;
  struct sg_mipmap *mipmap; /* a level of this mipmapped array, which owns it; NULL otherwise */
} sg_array;

#define SG_MAX_MIP_LEVELS 16
/* A mipmapped array: its levels are arrays (registered as such, for copies and surfaces), each
 * half the size of the one before. */
typedef struct sg_mipmap {
  sg_ctx *ctx;
  CUDA_ARRAY3D_DESCRIPTOR desc;
  unsigned nlevels;
  sg_array *level[SG_MAX_MIP_LEVELS];
} sg_mipmap;
/* A live mipmapped array of the current context (INVALID_HANDLE otherwise, INVALID_VALUE for NULL). */
CUresult sg_mipmap_get(CUmipmappedArray m, sg_mipmap **out);
/* A live array of the current context (INVALID_HANDLE otherwise, INVALID_VALUE for NULL). */
CUresult sg_array_get(CUarray a, sg_array **out);
/* Bytes per element of a format, 0 for formats softgpu does not store. */
unsigned sg_format_size(CUarray_format f);
/* 1 for a format cuda.h names that softgpu does not store (CUDA_ERROR_NOT_SUPPORTED). */
int sg_format_known(CUarray_format f);
/* The engine's texture resolver (sg_ptx_launch.texture); arg is the launch's sg_ctx. */
struct sg_ptx_tex;
int sg_tex_resolve(void *arg, uint64_t handle, int surface, struct sg_ptx_tex *out);
/* ---- IPC (ipc.c) ------------------------------------------------------------------------------ */
/* The memory opened from another process (cuIpcOpenMemHandle) holding p; -1 if none. */
int sg_ipc_range(CUdeviceptr p, CUdeviceptr *base, uint64_t *size);
/* An event is destroyed: its export, if any, ends. */
void sg_ipc_event_gone(CUevent event);

/* ---- per-area cleanup when a context goes away ------------------------------------------------ */
void sg_mem_release_ctx(sg_ctx *c);
void sg_stream_release_ctx(sg_ctx *c);
void sg_event_release_ctx(sg_ctx *c);
void sg_module_release_ctx(sg_ctx *c);
void sg_array_release_ctx(sg_ctx *c); /* mipmapped arrays first, then arrays */
void sg_tex_release_ctx(sg_ctx *c);

#endif
