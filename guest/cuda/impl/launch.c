/*
 * Kernel launches, fire-and-forget (docs/protocol.md): the parameters are packed here per the
 * layout that came with the function or kernel lookup, the configuration is checked against the
 * device's limits (so a bad configuration fails at the call, as on a GPU), and one NOREPLY frame
 * carries everything. Errors of the launch itself surface at the next synchronising call.
 */
#include "vgcuda.h"

#include <stdlib.h>
#include <string.h>

#include "culimits.h"
#include "layout.h"
#include "rpc.h"

#define MAX_PARAM_BYTES VG_MAX_PARAM_BYTES

vg_layout *vg_layout_read(vg_call *c) {
  uint32_t n = vg_get_u32(c);
  if (n > MAX_PARAM_BYTES) return NULL;
  vg_layout *l = malloc(sizeof *l + (size_t)n * sizeof l->p[0]);
  if (!l) return NULL;
  l->n = n;
  l->bytes = 0;
  l->library = 0;
  for (uint32_t i = 0; i < n; i++) {
    l->p[i].offset = vg_get_u32(c);
    l->p[i].size = vg_get_u32(c);
    uint64_t end = (uint64_t)l->p[i].offset + l->p[i].size;
    if (end > MAX_PARAM_BYTES) {
      free(l);
      return NULL;
    }
    if (end > l->bytes) l->bytes = (uint32_t)end;
  }
  return l;
}

const vg_layout *vg_layout_of(const void *h) {
  vg_hkind k = vg_handle_kind(h);
  if (k != VG_H_FUNCTION && k != VG_H_KERNEL) return NULL;
  uint64_t rid;
  void *data = NULL;
  if (vg_handle_get(h, k, &rid, &data) != 0) return NULL;
  return data;
}

long vg_layout_pack(const vg_layout *l, void **kernelParams, void **extra, uint8_t *buf) {
  if (kernelParams && extra) return -1;
  if (extra) {
    const void *p = NULL;
    size_t n = 0;
    int have_size = 0;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) p = extra[i + 1];
      else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) {
        if (!extra[i + 1]) return -1;
        n = *(const size_t *)extra[i + 1];
        have_size = 1;
      } else {
        return -1; /* the only keys cuda.h defines for `extra` are the two above */
      }
      if (i > 64) return -1;
    }
    if (!have_size || (n && !p) || n > MAX_PARAM_BYTES) return -1;
    if (n) memcpy(buf, p, n);
    return (long)n;
  }
  if (l->n && !kernelParams) return -1;
  memset(buf, 0, l->bytes);
  for (uint32_t i = 0; i < l->n; i++) {
    if (!kernelParams[i]) return -1;
    memcpy(buf + l->p[i].offset, kernelParams[i], l->p[i].size);
  }
  return (long)l->bytes;
}

/* The device attribute a of the calling thread's device, or dflt when unknown. */
static int32_t dev_attr(CUdevice dev, int a, int32_t dflt) {
  const vg_devrec *d = vg_dev_rec(dev);
  if (!d || (uint32_t)a >= d->nattr || d->attr[a] == INT32_MIN) return dflt;
  return d->attr[a];
}

/*
 * Grid and block dimensions outside the device's limits (zero included). The driver answers them
 * differently by how the code was loaded: CUDA_ERROR_INVALID_VALUE for a module's CUfunction, as
 * cuda.h documents, but the undocumented CUresult 9 for code of a CUlibrary, which is what
 * cudart 12+ launches (every kernel<<<>>> is a CUkernel passed as a CUfunction). cudart hands
 * CUresults through unchanged, and 9 is cudaErrorInvalidConfiguration: the error a real GPU gives
 * kernel<<<1, 2048>>>. Shared memory beyond the device's opt-in limit is INVALID_VALUE for both.
 */
static CUresult check_config(const vg_layout *l, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                             unsigned bz, unsigned shmem) {
  CUresult bad_dims = l->library ? VG_CUDA_ERROR_INVALID_CONFIGURATION : CUDA_ERROR_INVALID_VALUE;
  CUdevice dev;
  CUresult r = vg_ctx_info(NULL, &dev, NULL);
  if (r) return r;
  if (!gx || !gy || !gz || !bx || !by || !bz) return bad_dims;
  if (bx > (unsigned)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, VG_CU_MAX_BLOCK_DIM_X) ||
      by > (unsigned)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, VG_CU_MAX_BLOCK_DIM_Y) ||
      bz > (unsigned)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, VG_CU_MAX_BLOCK_DIM_Z) ||
      (uint64_t)bx * by * bz > (uint64_t)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, VG_CU_MAX_THREADS_PER_BLOCK))
    return bad_dims;
  if (gx > (unsigned)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, VG_CU_MAX_GRID_DIM_X) ||
      gy > (unsigned)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, VG_CU_MAX_GRID_DIM_Y) ||
      gz > (unsigned)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, VG_CU_MAX_GRID_DIM_Z))
    return bad_dims;
  if (shmem > (unsigned)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, VG_CU_MAX_SHARED_PER_BLOCK))
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

static CUresult launch(uint32_t op, CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                       unsigned bz, unsigned shmem, CUstream stream, void **kernelParams, void **extra) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  const vg_layout *l = vg_layout_of(f);
  if (!l) return CUDA_ERROR_INVALID_HANDLE;
  CUresult r = check_config(l, gx, gy, gz, bx, by, bz, shmem);
  if (r) return r;
  uint8_t buf[MAX_PARAM_BYTES];
  long n = vg_layout_pack(l, kernelParams, extra, buf);
  if (n < 0) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  if ((r = vg_call_begin(&c, op, VG_CALL_ASYNC))) return r;
  if (vg_call_tracing(&c)) {
    vg_targ(&c.trace, 0, VG_TA_PTR, "f", (uint64_t)(uintptr_t)f);
    vg_targ(&c.trace, 0, VG_TA_UINT, "gridDimX", gx), vg_targ(&c.trace, 0, VG_TA_UINT, "gridDimY", gy);
    vg_targ(&c.trace, 0, VG_TA_UINT, "gridDimZ", gz), vg_targ(&c.trace, 0, VG_TA_UINT, "blockDimX", bx);
    vg_targ(&c.trace, 0, VG_TA_UINT, "blockDimY", by), vg_targ(&c.trace, 0, VG_TA_UINT, "blockDimZ", bz);
    vg_targ(&c.trace, 0, VG_TA_SIZE, "sharedMemBytes", shmem);
    vg_targ(&c.trace, 0, VG_TA_PTR, "hStream", (uint64_t)(uintptr_t)stream);
  }
  vg_put_handle(&c, VG_H_FUNCTION, f, 0);
  vg_put_u32(&c, gx); vg_put_u32(&c, gy); vg_put_u32(&c, gz);
  vg_put_u32(&c, bx); vg_put_u32(&c, by); vg_put_u32(&c, bz);
  vg_put_u32(&c, shmem);
  vg_put_handle(&c, VG_H_STREAM, stream, 1);
  vg_put_bytes(&c, buf, (uint64_t)n);
  return vg_call_end(&c, vg_call_invoke(&c));
}

VG_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                  unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                  unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra) {
  VG_TRACED(launch(VG_OP_cuLaunchKernel, f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes,
                   hStream, kernelParams, extra));
}

VG_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                       unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                       unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra) {
  VG_TRACED(launch(VG_OP_cuLaunchKernel_ptsz, f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                   sharedMemBytes, hStream, kernelParams, extra));
}

/*
 * A cooperative grid must be resident at once. The launch itself is fire-and-forget, so the guest
 * refuses, at the call as the driver does, a device that cannot run cooperative grids
 * (NOT_SUPPORTED) and a grid past the occupancy limit, blocks per multiprocessor (asked of the
 * host: it depends on the kernel's registers and shared memory) times multiprocessors
 * (COOPERATIVE_LAUNCH_TOO_LARGE). Cooperative launches are rare, so the round trip costs little.
 */
static CUresult check_cooperative(CUfunction f, const CUlaunchConfig *cfg) {
  CUdevice dev;
  CUresult r = vg_ctx_info(NULL, &dev, NULL);
  if (r) return r;
  if (dev_attr(dev, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, 0) != 1) return CUDA_ERROR_NOT_SUPPORTED;
  int per_sm = 0;
  int threads = (int)(cfg->blockDimX * cfg->blockDimY * cfg->blockDimZ); /* check_config bounded it */
  if ((r = cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, f, threads, cfg->sharedMemBytes))) return r;
  uint64_t resident = (uint64_t)(per_sm > 0 ? per_sm : 0) *
                      (uint64_t)dev_attr(dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0);
  uint64_t blocks = (uint64_t)cfg->gridDimX * cfg->gridDimY * cfg->gridDimZ;
  return blocks > resident ? CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE : CUDA_SUCCESS;
}

static CUresult launch_ex(uint32_t op, const CUlaunchConfig *cfg, CUfunction f, void **kernelParams, void **extra) {
  if (!cfg || (cfg->numAttrs && !cfg->attrs) || cfg->numAttrs > 32) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  const vg_layout *l = vg_layout_of(f);
  if (!l) return CUDA_ERROR_INVALID_HANDLE;
  CUresult r = check_config(l, cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ, cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ,
                            cfg->sharedMemBytes);
  if (r) return r;
  for (unsigned i = 0; i < cfg->numAttrs; i++)
    if (cfg->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE && cfg->attrs[i].value.cooperative &&
        (r = check_cooperative(f, cfg)))
      return r;
  uint8_t buf[MAX_PARAM_BYTES];
  long n = vg_layout_pack(l, kernelParams, extra, buf);
  if (n < 0) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  if ((r = vg_call_begin(&c, op, VG_CALL_ASYNC))) return r;
  vg_put_handle(&c, VG_H_FUNCTION, f, 0);
  vg_put_u32(&c, cfg->gridDimX); vg_put_u32(&c, cfg->gridDimY); vg_put_u32(&c, cfg->gridDimZ);
  vg_put_u32(&c, cfg->blockDimX); vg_put_u32(&c, cfg->blockDimY); vg_put_u32(&c, cfg->blockDimZ);
  vg_put_u32(&c, cfg->sharedMemBytes);
  vg_put_handle(&c, VG_H_STREAM, cfg->hStream, 1);
  vg_put_u32(&c, cfg->numAttrs);
  for (unsigned i = 0; i < cfg->numAttrs; i++) {
    vg_put_u32(&c, (uint32_t)cfg->attrs[i].id);
    _Static_assert(sizeof cfg->attrs[i].value == 64, "CUlaunchAttributeValue is 64 bytes");
    vg_put_raw(&c, &cfg->attrs[i].value, 64);
  }
  vg_put_bytes(&c, buf, (uint64_t)n);
  return vg_call_end(&c, vg_call_invoke(&c));
}

VG_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra) {
  VG_TRACED(launch_ex(VG_OP_cuLaunchKernelEx, config, f, kernelParams, extra));
}

VG_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra) {
  VG_TRACED(launch_ex(VG_OP_cuLaunchKernelEx_ptsz, config, f, kernelParams, extra));
}

/*
 * A cooperative launch is cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_COOPERATIVE set (CUDA documents
 * the two as equivalent), so it travels as one, checked as one (check_cooperative), and the host
 * runs it on every block at once (cudart's cudaLaunchCooperativeKernel lands here; llama.cpp's
 * soft_max uses it).
 */
static CUresult launch_cooperative(uint32_t op, CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                   unsigned by, unsigned bz, unsigned shmem, CUstream stream, void **kernelParams) {
  CUlaunchAttribute attr;
  memset(&attr, 0, sizeof attr);
  attr.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
  attr.value.cooperative = 1;
  CUlaunchConfig cfg = {.gridDimX = gx, .gridDimY = gy, .gridDimZ = gz, .blockDimX = bx, .blockDimY = by,
                        .blockDimZ = bz, .sharedMemBytes = shmem, .hStream = stream, .attrs = &attr, .numAttrs = 1};
  return launch_ex(op, &cfg, f, kernelParams, NULL);
}

VG_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                             unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                             unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                             void **kernelParams) {
  VG_TRACED(launch_cooperative(VG_OP_cuLaunchKernelEx, f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                               sharedMemBytes, hStream, kernelParams));
}

VG_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                                  unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                                  unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                                  void **kernelParams) {
  VG_TRACED(launch_cooperative(VG_OP_cuLaunchKernelEx_ptsz, f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY,
                               blockDimZ, sharedMemBytes, hStream, kernelParams));
}

/* The configuration is sent as for cuLaunchKernelEx, without parameters. */
static CUresult max_active_clusters(int *num, CUfunction f, const CUlaunchConfig *cfg) {
  if (!num || !cfg || (cfg->numAttrs && !cfg->attrs) || cfg->numAttrs > 32) return CUDA_ERROR_INVALID_VALUE;
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuOccupancyMaxActiveClusters, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_FUNCTION, f, 0);
  vg_put_u32(&c, cfg->gridDimX); vg_put_u32(&c, cfg->gridDimY); vg_put_u32(&c, cfg->gridDimZ);
  vg_put_u32(&c, cfg->blockDimX); vg_put_u32(&c, cfg->blockDimY); vg_put_u32(&c, cfg->blockDimZ);
  vg_put_u32(&c, cfg->sharedMemBytes);
  vg_put_handle(&c, VG_H_STREAM, cfg->hStream, 1);
  vg_put_u32(&c, cfg->numAttrs);
  for (unsigned i = 0; i < cfg->numAttrs; i++) {
    vg_put_u32(&c, (uint32_t)cfg->attrs[i].id);
    vg_put_raw(&c, &cfg->attrs[i].value, 64);
  }
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) *num = vg_get_i32(&c);
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func, const CUlaunchConfig *config) {
  VG_TRACED(max_active_clusters(numClusters, func, config));
}
