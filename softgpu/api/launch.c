/*
 * Kernel launches: cuLaunchKernel and cuLaunchKernelEx (+ per-thread-stream forms).
 *
 * The launch is validated the way the driver does (handle, stream, dimensions, shared memory,
 * parameters), the parameters are packed into one buffer laid out per the kernel's .entry
 * signature, and the PTX engine runs the grid to completion before we return, unless the host
 * abandons the process's work meanwhile (cancel.c). Faults inside the kernel (illegal address,
 * misaligned access, trap) and abandonment become the context's sticky error.
 *
 * Cooperative launches (cuLaunchCooperativeKernel, CU_LAUNCH_ATTRIBUTE_COOPERATIVE) need every
 * block of the grid resident at once, so, as the driver does, a grid larger than the occupancy
 * calculation allows (blocks per multiprocessor × multiprocessors) is refused with
 * CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE. The kernel gets the grid workspace cooperative groups'
 * grid.sync() counts in (a zeroed device allocation for the launch), and the engine runs all
 * blocks interleaved so that the sync completes (softgpu/ptx/ptx_sched.c).
 */
#include "sg_graph.h"

#include "culimits.h"

#include <stdlib.h>
#include <string.h>

/* Faults inside a kernel, and a kernel abandoned half-way (cancel.c), leave device memory in an
 * unknown state, so, as on a GPU, they poison the context; bad launch configurations and
 * unimplemented instructions do not. */
static int is_sticky(sg_ptx_status st) {
  return st == SG_PTX_ERR_ILLEGAL_ADDRESS || st == SG_PTX_ERR_MISALIGNED || st == SG_PTX_ERR_TRAP ||
         st == SG_PTX_ERR_CANCELLED;
}

/* Grid and block dimensions outside the limits (zero included) are CUDA_ERROR_INVALID_VALUE for a
 * module's function but the undocumented CUresult 9 for library code, which is what cudart
 * launches and reports as cudaErrorInvalidConfiguration (the guest's launch.c says more). */
static CUresult check_dims(sg_func *f, const unsigned g[3], const unsigned b[3], unsigned shared) {
  CUresult bad = f->mod->ctx ? CUDA_ERROR_INVALID_VALUE : SG_CUDA_ERROR_INVALID_CONFIGURATION;
  for (int i = 0; i < 3; i++)
    if (g[i] == 0 || b[i] == 0) return bad;
  int v;
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, &v);
  if (g[0] > (unsigned)v) return bad;
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, &v);
  if (g[1] > (unsigned)v || g[2] > (unsigned)v) return bad;
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, &v);
  if (b[0] > VG_CU_MAX_BLOCK_DIM_X || b[1] > VG_CU_MAX_BLOCK_DIM_Y || b[2] > (unsigned)v) return bad;
  uint64_t threads = (uint64_t)b[0] * b[1] * b[2];
  sg_ptx_attrs a;
  sg_ptx_kernel_attrs(f->k, &a);
  if (threads > VG_CU_MAX_THREADS_PER_BLOCK || (a.max_threads_per_block > 0 && threads > (uint64_t)a.max_threads_per_block))
    return bad;
  pthread_mutex_lock(&f->lock);
  int max_dyn = f->max_dyn_shared;
  pthread_mutex_unlock(&f->lock);
  if (shared > (unsigned)max_dyn) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

/* The co-residency limit of a cooperative launch. */
static CUresult check_coop(sg_func *f, const unsigned g[3], const unsigned b[3], unsigned shared) {
  uint64_t blocks = (uint64_t)g[0] * g[1] * g[2];
  uint64_t resident = (uint64_t)sg_func_blocks_per_sm(f, (int)(b[0] * b[1] * b[2]), shared) * (uint64_t)sg_dev_sm_count();
  return blocks > resident ? CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE : CUDA_SUCCESS;
}

/* Packs kernelParams (one pointer per parameter) or extra (a buffer) into *out (malloc'ed). */
static CUresult pack_params(sg_func *f, void **kernelParams, void **extra, void **out, size_t *out_size) {
  size_t bytes = sg_ptx_param_bytes(f->k);
  int count = sg_ptx_param_count(f->k);
  *out = NULL;
  *out_size = bytes;
  if (kernelParams && extra) return CUDA_ERROR_INVALID_VALUE;
  if (bytes == 0) return CUDA_SUCCESS;
  unsigned char *buf = calloc(1, bytes);
  if (!buf) return CUDA_ERROR_OUT_OF_MEMORY;
  if (kernelParams) {
    for (int i = 0; i < count; i++) {
      size_t off, size;
      if (sg_ptx_param_info(f->k, i, &off, &size) != SG_PTX_OK || off > bytes || size > bytes - off ||
          !kernelParams[i]) {
        free(buf);
        return CUDA_ERROR_INVALID_VALUE;
      }
      memcpy(buf + off, kernelParams[i], size);
    }
  } else if (extra) {
    const void *src = NULL;
    const size_t *src_size = NULL;
    /* Pairs of (key, value) ending with CU_LAUNCH_PARAM_END or NULL; bounded against garbage. */
    int i;
    for (i = 0; i < 64 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) src = extra[i + 1];
      else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) src_size = extra[i + 1];
      else break;
    }
    if (i >= 64 || extra[i] != CU_LAUNCH_PARAM_END || !src || !src_size || *src_size < bytes) {
      free(buf);
      return CUDA_ERROR_INVALID_VALUE;
    }
    memcpy(buf, src, bytes);
  } else {
    free(buf);
    return CUDA_ERROR_INVALID_VALUE; /* the kernel takes parameters but none were given */
  }
  *out = buf;
  return CUDA_SUCCESS;
}

CUresult sg_launch_pack(CUfunction hf, sg_ctx *c, const unsigned g[3], const unsigned b[3], unsigned shared,
                        void **kernelParams, void **extra, void **params, size_t *size) {
  sg_func *f;
  CUresult rc = sg_func_lookup(hf, &f);
  if (rc) return rc;
  if (f->mod->ctx && f->mod->ctx != c) return CUDA_ERROR_INVALID_HANDLE; /* module of another context */
  if ((rc = check_dims(f, g, b, shared))) return rc;
  return pack_params(f, kernelParams, extra, params, size);
}

/* Replays re-check the handle and configuration: the module may have been unloaded, or the
 * shared-memory limit lowered, since the parameters were packed. */
CUresult sg_launch_packed(CUfunction hf, sg_ctx *c, const unsigned g[3], const unsigned b[3], unsigned shared,
                          void *params, size_t size, int coop) {
  sg_func *f;
  CUresult rc = sg_func_lookup(hf, &f);
  if (rc) return rc;
  if (f->mod->ctx && f->mod->ctx != c) return CUDA_ERROR_INVALID_HANDLE;
  if ((rc = check_dims(f, g, b, shared))) return rc;
  if (coop && (rc = check_coop(f, g, b, shared))) return rc;
  if (size != sg_ptx_param_bytes(f->k)) return CUDA_ERROR_INVALID_VALUE;
  sg_ptx_launch l = {{g[0], g[1], g[2]}, {b[0], b[1], b[2]}, shared, params, size, sg_output_emit, c, sg_cancel_state(), 0,
                     sg_tex_resolve, c};
  /* grid.sync() needs 8 zeroed bytes: a counter at offset 4 whose top bit flips at each sync. */
  if (coop && (sg_mem_init() != 0 || sg_mem_alloc(8, &l.grid_workspace) != 0)) return CUDA_ERROR_OUT_OF_MEMORY;
  char err[400] = "";
  uint64_t started = sg_cancel_clock();
  sg_ptx_status st = sg_ptx_run(f->k, &l, err, sizeof err);
  if (coop) sg_mem_free(l.grid_workspace);
  if (st == SG_PTX_ERR_CANCELLED) sg_cancel_abandoned(started);
  sg_diag_set(err);
  rc = sg_ptx_status_to_cu(st);
  if (is_sticky(st)) sg_ctx_poison(c, rc);
  return rc;
}

static CUresult launch(CUfunction hf, const unsigned g[3], const unsigned b[3], unsigned shared, CUstream s,
                       void **kernelParams, void **extra, int coop) {
  sg_func *f;
  sg_ctx *c;
  CUresult rc = sg_func_lookup(hf, &f);
  if (rc || (rc = sg_stream_ctx(s, &c))) return rc;
  if (sg_capture_on(s)) {
    sg_op op;
    if ((rc = sg_op_kernel(&op, c, hf, g, b, shared, kernelParams, extra))) return rc;
    if (coop && (rc = check_coop(f, g, b, shared))) {
      sg_op_free(&op);
      return rc;
    }
    op.u.k.coop = coop;
    return sg_capture_add(s, &op);
  }
  void *params;
  size_t params_size;
  if ((rc = sg_launch_pack(hf, c, g, b, shared, kernelParams, extra, &params, &params_size))) return rc;
  rc = sg_launch_packed(hf, c, g, b, shared, params, params_size, coop);
  free(params);
  return rc;
}

SG_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                  unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                  unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra) {
  unsigned g[3] = {gridDimX, gridDimY, gridDimZ}, b[3] = {blockDimX, blockDimY, blockDimZ};
  return launch(f, g, b, sharedMemBytes, hStream, kernelParams, extra, 0);
}

SG_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                       unsigned int by, unsigned int bz, unsigned int shared, CUstream s, void **params,
                                       void **extra) {
  return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, SG_PTSZ(s), params, extra);
}

/* Attributes that change nothing for a synchronous CPU device are accepted; those asking for
 * something softgpu cannot do (clusters, completion events) are refused. */
static CUresult check_launch_attr(const CUlaunchAttribute *a) {
  switch (a->id) {
    case CU_LAUNCH_ATTRIBUTE_IGNORE:
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
    case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
    case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      return CUDA_SUCCESS;
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION: {
      unsigned x = a->value.clusterDim.x, y = a->value.clusterDim.y, z = a->value.clusterDim.z;
      return (x <= 1 && y <= 1 && z <= 1) ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
    }
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

SG_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!config || (config->numAttrs && !config->attrs)) return CUDA_ERROR_INVALID_VALUE;
  int coop = 0;
  for (unsigned i = 0; i < config->numAttrs; i++) {
    CUresult rc = check_launch_attr(&config->attrs[i]);
    if (rc) return rc;
    if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE) coop = config->attrs[i].value.cooperative != 0;
  }
  unsigned g[3] = {config->gridDimX, config->gridDimY, config->gridDimZ};
  unsigned b[3] = {config->blockDimX, config->blockDimY, config->blockDimZ};
  return launch(f, g, b, config->sharedMemBytes, config->hStream, kernelParams, extra, coop);
}

SG_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra) {
  if (!config) return cuLaunchKernelEx(config, f, kernelParams, extra);
  CUlaunchConfig c = *config;
  c.hStream = SG_PTSZ(c.hStream);
  return cuLaunchKernelEx(&c, f, kernelParams, extra);
}

SG_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                             unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                                             CUstream s, void **kernelParams) {
  unsigned g[3] = {gx, gy, gz}, b[3] = {bx, by, bz};
  return launch(f, g, b, shared, s, kernelParams, NULL, 1);
}

SG_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                                  unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                                                  CUstream s, void **kernelParams) {
  return cuLaunchCooperativeKernel(f, gx, gy, gz, bx, by, bz, shared, SG_PTSZ(s), kernelParams);
}
