/*
 * The PTX engine's boundary with the softgpu driver API (softgpu/api). The API layer extracts
 * PTX text from whatever the guest loaded (fatbin, raw fatbin, PTX), hands it here, and launches
 * kernels through this interface. Everything the engine touches in device memory goes through
 * sg_mem_check() (softgpu/api/sg_mem.h).
 */
#ifndef SG_PTX_H
#define SG_PTX_H

#include <stddef.h>
#include <stdint.h>

#include "../api/sg_mem.h"

typedef struct sg_ptx_module sg_ptx_module;
typedef struct sg_ptx_kernel sg_ptx_kernel;

typedef enum sg_ptx_status {
  SG_PTX_OK = 0,
  SG_PTX_ERR_PARSE,            /* -> CUDA_ERROR_INVALID_PTX */
  SG_PTX_ERR_UNSUPPORTED,      /* instruction or feature not implemented -> CUDA_ERROR_NOT_SUPPORTED */
  SG_PTX_ERR_NOT_FOUND,        /* -> CUDA_ERROR_NOT_FOUND */
  SG_PTX_ERR_ILLEGAL_ADDRESS,  /* -> CUDA_ERROR_ILLEGAL_ADDRESS (sticky) */
  SG_PTX_ERR_MISALIGNED,       /* -> CUDA_ERROR_MISALIGNED_ADDRESS (sticky) */
  SG_PTX_ERR_LAUNCH,           /* bad launch configuration -> CUDA_ERROR_INVALID_VALUE */
  SG_PTX_ERR_OUT_OF_RESOURCES, /* -> CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES */
  SG_PTX_ERR_TRAP,             /* trap / assert -> CUDA_ERROR_ASSERT (sticky) */
  SG_PTX_ERR_NOMEM,            /* -> CUDA_ERROR_OUT_OF_MEMORY */
  SG_PTX_ERR_CANCELLED,        /* abandoned through sg_ptx_cancel -> CUDA_ERROR_LAUNCH_TIMEOUT (sticky) */
  SG_PTX_ERR_DEVICE_RUNTIME    /* the module calls the CUDA device runtime (dynamic parallelism), which
                                  softgpu lacks -> CUDA_ERROR_INVALID_PTX, as a JIT with it unresolved */
} sg_ptx_status;

/* Parses, checks and pre-decodes a PTX module (text need not be NUL-terminated). Module-scope
 * .global/.const variables are allocated in device memory (sg_mem_alloc) and initialised.
 * On error, writes a message naming the line (and instruction) into err. */
sg_ptx_status sg_ptx_load(const char *ptx, size_t len, sg_ptx_module **out, char *err, size_t errlen);
void sg_ptx_unload(sg_ptx_module *m);

sg_ptx_status sg_ptx_get_kernel(sg_ptx_module *m, const char *name, sg_ptx_kernel **out);
/* The page a managed variable's allocation is rounded to (x86-64's, which vgpu's guests use). */
#define SG_PTX_MANAGED_PAGE 4096u
/* Module-scope variable lookup (cuModuleGetGlobal); *managed (when given) says whether it is a
 * __managed__ variable (`.attribute(.managed)`), which owns the whole pages from *dptr. */
sg_ptx_status sg_ptx_get_global(sg_ptx_module *m, const char *name, sg_devptr *dptr, uint64_t *size, int *managed);
/* The i-th __managed__ variable of m (0 <= i): 1 with its address and the bytes of whole pages it
 * owns, 0 past the last. */
int sg_ptx_managed_var(sg_ptx_module *m, int i, sg_devptr *dptr, uint64_t *bytes);
int sg_ptx_kernel_count(sg_ptx_module *m);
sg_ptx_kernel *sg_ptx_kernel_at(sg_ptx_module *m, int i);
const char *sg_ptx_kernel_name(const sg_ptx_kernel *k);

/* Parameter layout from the .entry signature (cuFuncGetParamInfo). */
int sg_ptx_param_count(const sg_ptx_kernel *k);
sg_ptx_status sg_ptx_param_info(const sg_ptx_kernel *k, int idx, size_t *offset, size_t *size);
size_t sg_ptx_param_bytes(const sg_ptx_kernel *k);

typedef struct sg_ptx_attrs {
  int num_regs;
  int static_shared_bytes;
  int const_bytes;
  int local_bytes;
  int max_threads_per_block; /* .maxntid product or the device limit */
  int ptx_version;           /* the PTX ISA of the file, e.g. 90 for .version 9.0 */
  int target_arch;           /* the virtual architecture it targets, e.g. 75 for .target sm_75 */
} sg_ptx_attrs;
void sg_ptx_kernel_attrs(const sg_ptx_kernel *k, sg_ptx_attrs *out);

/* Lets another thread abandon launches (softgpu/api/cancel.c). Once `requested` is non-zero, no
 * block starts, a running thread stops at its next check (every few thousand backward branches)
 * and the launch returns SG_PTX_ERR_CANCELLED. Both fields are accessed atomically. */
typedef struct sg_ptx_cancel {
  int requested;
  uint64_t blocks_after; /* blocks that still ran to their end after the request */
} sg_ptx_cancel;

/* A texture or surface object as the engine reads it: the API layer (softgpu/api/texture.c)
 * resolves the 64-bit handle a kernel names into this description. Texel addresses computed from
 * it are still checked with sg_mem_check, so a stale description can at worst read as an illegal
 * address. Formats and address modes are cuda.h's values (CUarray_format, CUaddress_mode). */
/* One mipmap level past the first (a mipmapped array's level k + 1). */
typedef struct sg_ptx_mip {
  sg_devptr base;
  uint64_t pitch, slice;
  uint32_t width, height, depth;
} sg_ptx_mip;

#define SG_PTX_MAX_MIPS 15

typedef struct sg_ptx_tex {
  sg_devptr base;       /* texel (0, 0, 0) of layer 0 */
  uint64_t pitch;       /* bytes from one row to the next */
  uint64_t slice;       /* bytes from one slice (or layer) to the next */
  uint32_t width, height, depth; /* in texels; 1 for absent dimensions */
  uint32_t layers;      /* layered arrays: the layer count; 0 otherwise */
  uint32_t format;      /* CU_AD_FORMAT_* */
  uint8_t channels;     /* 1, 2 or 4 */
  uint8_t dims;         /* 1, 2 or 3 */
  uint8_t linear;       /* a linear resource (tex1Dfetch only) */
  uint8_t read_int;     /* CU_TRSF_READ_AS_INTEGER: 8/16-bit integers stay integers */
  uint8_t norm_coords;  /* CU_TRSF_NORMALIZED_COORDINATES */
  uint8_t filter_linear;
  uint8_t addr[3];      /* CU_TR_ADDRESS_MODE_* per dimension */
  float border[4];
  /* Mipmapped arrays: levels beyond level 0 (described by the fields above), how tex.level and
   * tex.grad pick between them, and the clamps of the texture descriptor. */
  uint8_t nmips;        /* levels in mip[] (0: one level) */
  uint8_t mip_linear;   /* CU_TR_FILTER_MODE_LINEAR between levels */
  float lod_bias, min_lod, max_lod;
  sg_ptx_mip mip[SG_PTX_MAX_MIPS];
} sg_ptx_tex;

/* Resolves a texture (surface = 0) or surface (surface = 1) handle for a kernel; 0 on success. */
typedef int (*sg_ptx_tex_resolver)(void *arg, uint64_t handle, int surface, sg_ptx_tex *out);

typedef struct sg_ptx_launch {
  unsigned grid[3];
  unsigned block[3];
  unsigned dyn_shared_bytes;
  const void *params; /* packed parameter buffer laid out per sg_ptx_param_info */
  size_t params_size;
  /* Where the text of each printf (fd 1) and failed assert (fd 2) goes, one call per printf, from
   * any worker thread; NULL writes it to the process's stdout or stderr at once. */
  void (*output)(void *arg, int fd, const char *text, size_t len);
  void *output_arg;
  sg_ptx_cancel *cancel; /* NULL: the launch cannot be abandoned */
  /* Non-zero: a cooperative launch. The device address of the grid's workspace (at least 8
   * zeroed bytes), which kernels read as %envreg1 (high half) : %envreg2 (low half); cooperative
   * groups' grid.sync() counts arrivals in it. All blocks of such a grid run interleaved, so a
   * block that spins waiting for the others lets them reach the same point (ptx_sched.c). */
  sg_devptr grid_workspace;
  /* Texture and surface handles (tex, tld4, txq, suld, sust, suq); NULL: every handle is invalid. */
  sg_ptx_tex_resolver texture;
  void *texture_arg;
} sg_ptx_launch;

/* Runs the kernel to completion on the engine's thread pool, unless l->cancel abandons it. On
 * failure, err names the instruction, thread and block. */
sg_ptx_status sg_ptx_run(sg_ptx_kernel *k, const sg_ptx_launch *l, char *err, size_t errlen);

/* Extracts the best PTX for compute capability `sm` (e.g. 89) from a fatbin wrapper
 * (magic 0x466243B1), a fatbin container (0xBA55ED50) or PTX text. *ptx is malloc'ed, *ptx_len
 * excludes trailing NULs. Returns SG_PTX_ERR_NOT_FOUND when the image holds no PTX usable on
 * this device (-> CUDA_ERROR_NO_BINARY_FOR_GPU), SG_PTX_ERR_PARSE on a malformed image.
 * image_size may be 0 when unknown (wrapper and container headers carry sizes). */
sg_ptx_status sg_ptx_extract(const void *image, size_t image_size, int sm, char **ptx, size_t *ptx_len,
                             char *err, size_t errlen);

#endif
