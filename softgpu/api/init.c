/*
 * cuInit and driver version. Configuration is read once, at cuInit, from the environment:
 *   VGPU_SOFTGPU_MEMORY  device memory size (sg_mem.c), e.g. 8G, 512M; default 8 GiB
 *   VGPU_SOFTGPU_CC      compute capability reported, "major.minor"; default 12.0 (why: below)
 *   VGPU_SOFTGPU_DEVICES number of devices, 1 to 16; default 1. They are views of one CPU: they
 *                        share the memory arena (each reports its full size) and the workers,
 *                        and differ in ordinal, UUID, PCI bus and primary context. For testing
 *                        multi-GPU hosts (placement, vGPU maps) without GPUs.
 * A malformed value makes cuInit fail rather than silently run a different device.
 */
#include "sg_api.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CUresult g_init_rc = CUDA_ERROR_NOT_INITIALIZED;
static _Atomic int g_ready;
/* The default identity is the newest architecture CUDA 13 targets, because NVIDIA's libraries
 * choose what to run by compute capability and softgpu runs only PTX: cuBLAS/cuBLASLt 12.4
 * (Debian's, under llama.cpp and PyTorch) ship machine code up to sm_90 and take their
 * compute_90 PTX kernels only on a newer device (at 8.9 cublasCreate fails, at 9.0 cublasSgemm),
 * and cuBLAS 13.1 ships PTX for sm_120 only. Programs built for older targets run as before:
 * their PTX is JIT-compatible with any newer device. docs/operations.md, softgpu. */
static int g_cc_major = 12, g_cc_minor = 0, g_sm_count = 1, g_dev_count = 1;

/* "8.9" -> 8, 9. Majors 5..12 are the architectures CUDA 13's PTX can target; minor one digit. */
static int parse_cc(const char *s, int *major, int *minor) {
  int ma = 0, mi = 0, n = 0;
  while (*s >= '0' && *s <= '9' && n < 3) ma = ma * 10 + (*s++ - '0'), n++;
  if (n == 0 || *s++ != '.') return -1;
  if (*s < '0' || *s > '9') return -1;
  mi = *s++ - '0';
  if (*s || ma < 5 || ma > 12) return -1;
  *major = ma;
  *minor = mi;
  return 0;
}

/* "1".."16" -> the count; anything else -1. */
static int parse_devices(const char *s) {
  int n = 0, digits = 0;
  while (*s >= '0' && *s <= '9' && digits < 3) n = n * 10 + (*s++ - '0'), digits++;
  return digits == 0 || *s || n < 1 || n > SG_MAX_DEVICES ? -1 : n;
}

static void do_init(void) {
  const char *cc = getenv("VGPU_SOFTGPU_CC");
  if (cc && *cc && parse_cc(cc, &g_cc_major, &g_cc_minor) != 0) {
    g_init_rc = CUDA_ERROR_INVALID_VALUE;
    return;
  }
  const char *devs = getenv("VGPU_SOFTGPU_DEVICES");
  if (devs && *devs && (g_dev_count = parse_devices(devs)) < 0) {
    g_init_rc = CUDA_ERROR_INVALID_VALUE;
    return;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  g_sm_count = cpus < 1 ? 1 : cpus > 1024 ? 1024 : (int)cpus;
  if (sg_mem_init() != 0) {
    g_init_rc = CUDA_ERROR_OUT_OF_MEMORY;
    return;
  }
  g_init_rc = CUDA_SUCCESS;
  atomic_store(&g_ready, 1);
}

int sg_initialized(void) { return atomic_load_explicit(&g_ready, memory_order_acquire); }
int sg_dev_cc_major(void) { return g_cc_major; }
int sg_dev_cc_minor(void) { return g_cc_minor; }
int sg_dev_sm_count(void) { return g_sm_count; }
int sg_dev_count(void) { return g_dev_count; }

SG_EXPORT CUresult cuInit(unsigned int Flags) {
  if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_once(&g_once, do_init);
  return g_init_rc;
}

SG_EXPORT CUresult cuDriverGetVersion(int *driverVersion) {
  if (!driverVersion) return CUDA_ERROR_INVALID_VALUE;
  *driverVersion = SG_DRIVER_VERSION;
  return CUDA_SUCCESS;
}

/* A softgpu-specific query for the host: device memory in use and total, in bytes. */
SG_EXPORT int sg_softgpu_memory(uint64_t *used, uint64_t *total) {
  if (!sg_initialized()) return -1;
  if (used) *used = sg_mem_used();
  if (total) *total = sg_mem_total();
  return 0;
}
