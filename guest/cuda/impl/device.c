/*
 * Device discovery, answered from the WELCOME device table with no traffic (docs/protocol.md,
 * "Handshake"). The visible table is built once by cuInit and never changes afterwards, so the
 * readers below need no lock once g_ready is seen.
 */
#include "vgcuda.h"

#include "doctor.h"
#include "session.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_ready;
static int g_ndev;
static const vg_devrec *g_dev[VG_MAX_DEVICES];

int vg_cuda_ready(void) { return __atomic_load_n(&g_ready, __ATOMIC_ACQUIRE); }
int vg_dev_count(void) { return vg_cuda_ready() ? g_ndev : 0; }

const vg_devrec *vg_dev_rec(CUdevice d) {
  if (!vg_cuda_ready() || d < 0 || d >= g_ndev) return NULL;
  return g_dev[d];
}

int vg_driver_version(void) {
  /* Lock-free once the handshake is done: cuGetProcAddress asks this hundreds of times and must
   * not wait behind a call in flight. An unreachable host: report the version this library
   * implements, so that cudart gets as far as cuInit and reports "no CUDA-capable device"
   * rather than "driver too old". */
  const vg_welcome *w = vg_session_welcome();
  if (!w) {
    (void)vg_session_connect();
    w = vg_session_welcome();
  }
  return w && w->driver_version <= INT_MAX ? (int)w->driver_version : CUDA_VERSION;
}

static CUresult init_impl(unsigned int flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (vg_cuda_ready()) return g_ndev ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
  pthread_mutex_lock(&g_init_lock);
  CUresult r = CUDA_SUCCESS;
  if (!vg_cuda_ready()) {
    if (vg_session_init() != VG_SESS_OK) {
      r = CUDA_ERROR_NO_DEVICE;
      goto out;
    }
    const vg_welcome *w = vg_session_welcome();
    int n = w ? (int)w->count : 0;
    uint8_t(*uuids)[16] = n ? calloc((size_t)n, 16) : NULL;
    int map[VG_MAX_DEVICES];
    if (n && !uuids) {
      r = CUDA_ERROR_OUT_OF_MEMORY;
      goto out;
    }
    for (int i = 0; i < n; i++) memcpy(uuids[i], w->dev[i].uuid, 16);
    int k = vg_visible_parse(getenv("CUDA_VISIBLE_DEVICES"), n, (const uint8_t(*)[16])uuids, map,
                             VG_MAX_DEVICES);
    free(uuids);
    for (int i = 0; i < k; i++) g_dev[i] = &w->dev[map[i]];
    g_ndev = k;
    if (vg_primary_setup(k) != 0) {
      r = CUDA_ERROR_OUT_OF_MEMORY;
      goto out;
    }
    if (k == 0) vg_log(VG_LOG_WARN, "no device visible (host offers %d; CUDA_VISIBLE_DEVICES=%s)", n,
                       getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "(unset)");
    __atomic_store_n(&g_ready, 1, __ATOMIC_RELEASE);
  }
  r = g_ndev ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
out:
  pthread_mutex_unlock(&g_init_lock);
  return r;
}

/* The doctor runs after the init lock is released: its own calls go through cuInit again. */
static CUresult init_then_doctor(unsigned int flags) {
  CUresult r = init_impl(flags);
  vg_doctor_at_init();
  return r;
}

VG_EXPORT CUresult cuInit(unsigned int Flags) { VG_TRACED(init_then_doctor(Flags)); }

static CUresult driver_version_impl(int *v) {
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  *v = vg_driver_version();
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDriverGetVersion(int *driverVersion) { VG_TRACED(driver_version_impl(driverVersion)); }

/* Common entry checks: initialised, output pointer present, device visible. */
static CUresult check(const void *out, CUdevice d, const vg_devrec **rec) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (!(*rec = vg_dev_rec(d))) return CUDA_ERROR_INVALID_DEVICE;
  return CUDA_SUCCESS;
}

static CUresult device_get_impl(CUdevice *dev, int ordinal) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!dev) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal < 0 || ordinal >= g_ndev) return CUDA_ERROR_INVALID_DEVICE;
  *dev = ordinal;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) { VG_TRACED(device_get_impl(device, ordinal)); }

static CUresult count_impl(int *count) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  *count = g_ndev;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDeviceGetCount(int *count) { VG_TRACED(count_impl(count)); }

static CUresult name_impl(char *name, int len, CUdevice d) {
  const vg_devrec *rec;
  CUresult r = check(name, d, &rec);
  if (r) return r;
  if (len <= 0) return CUDA_ERROR_INVALID_VALUE;
  snprintf(name, (size_t)len, "%s", rec->name);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev) { VG_TRACED(name_impl(name, len, dev)); }

static CUresult total_mem_impl(size_t *bytes, unsigned int *bytes32, CUdevice d) {
  const vg_devrec *rec;
  CUresult r = check(bytes ? (void *)bytes : (void *)bytes32, d, &rec);
  if (r) return r;
  if (bytes) *bytes = (size_t)rec->total_mem;
  /* The 32-bit legacy ABI cannot hold more than 4 GiB; saturate rather than wrap. */
  else *bytes32 = rec->total_mem > UINT_MAX ? UINT_MAX : (unsigned int)rec->total_mem;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) { VG_TRACED(total_mem_impl(bytes, NULL, dev)); }
VG_EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev) { VG_TRACED(total_mem_impl(NULL, bytes, dev)); }

static CUresult attr_value(const vg_devrec *rec, int attrib, int *out) {
  if (attrib < 0 || (uint32_t)attrib >= rec->nattr || rec->attr[attrib] == INT32_MIN)
    return CUDA_ERROR_INVALID_VALUE;
  *out = rec->attr[attrib];
  return CUDA_SUCCESS;
}

static CUresult attribute_impl(int *pi, CUdevice_attribute attrib, CUdevice d) {
  const vg_devrec *rec;
  CUresult r = check(pi, d, &rec);
  if (r) return r;
  return attr_value(rec, (int)attrib, pi);
}

VG_EXPORT CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
  VG_TRACED(attribute_impl(pi, attrib, dev));
}

static CUresult uuid_impl(CUuuid *uuid, CUdevice d) {
  const vg_devrec *rec;
  CUresult r = check(uuid, d, &rec);
  if (r) return r;
  memcpy(uuid->bytes, rec->uuid, 16);
  return CUDA_SUCCESS;
}

/* There is no MIG in a vGPU: both ABIs report the device UUID. */
VG_EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) { VG_TRACED(uuid_impl(uuid, dev)); }
VG_EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev) { VG_TRACED(uuid_impl(uuid, dev)); }

static CUresult pci_id_impl(char *out, int len, CUdevice d) {
  const vg_devrec *rec;
  CUresult r = check(out, d, &rec);
  if (r) return r;
  if (len <= 0) return CUDA_ERROR_INVALID_VALUE;
  snprintf(out, (size_t)len, "%04x:%02x:%02x.0", rec->pci_domain, rec->pci_bus, rec->pci_device);
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev) {
  VG_TRACED(pci_id_impl(pciBusId, len, dev));
}

/* Accepts "domain:bus:device.function", "domain:bus:device" and "bus:device.function", hex. */
static int parse_pci(const char *s, unsigned *dom, unsigned *bus, unsigned *dev) {
  unsigned a, b, c, f;
  char tail;
  if (sscanf(s, "%x:%x:%x.%x%c", &a, &b, &c, &f, &tail) == 4) {
    *dom = a, *bus = b, *dev = c;
    return 0;
  }
  if (sscanf(s, "%x:%x:%x%c", &a, &b, &c, &tail) == 3) {
    *dom = a, *bus = b, *dev = c;
    return 0;
  }
  if (sscanf(s, "%x:%x.%x%c", &b, &c, &f, &tail) == 3) {
    *dom = 0, *bus = b, *dev = c;
    return 0;
  }
  return -1;
}

static CUresult by_pci_impl(CUdevice *dev, const char *id) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!dev || !id) return CUDA_ERROR_INVALID_VALUE;
  unsigned dom, bus, devn;
  if (parse_pci(id, &dom, &bus, &devn)) return CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < g_ndev; i++) {
    const vg_devrec *r = g_dev[i];
    if (r->pci_domain == dom && r->pci_bus == bus && r->pci_device == devn) {
      *dev = i;
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_DEVICE;
}

VG_EXPORT CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId) {
  VG_TRACED(by_pci_impl(dev, pciBusId));
}

static CUresult cc_impl(int *major, int *minor, CUdevice d) {
  const vg_devrec *rec;
  CUresult r = check(major, d, &rec);
  if (r) return r;
  if (!minor) return CUDA_ERROR_INVALID_VALUE;
  int ma, mi;
  if ((r = attr_value(rec, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &ma)) ||
      (r = attr_value(rec, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &mi)))
    return r;
  *major = ma;
  *minor = mi;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev) {
  VG_TRACED(cc_impl(major, minor, dev));
}

static CUresult props_impl(CUdevprop *p, CUdevice d) {
  const vg_devrec *rec;
  CUresult r = check(p, d, &rec);
  if (r) return r;
  static const int ids[] = {
      CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X,
      CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z,
      CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
      CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK,
      CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, CU_DEVICE_ATTRIBUTE_WARP_SIZE,
      CU_DEVICE_ATTRIBUTE_MAX_PITCH, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK,
      CU_DEVICE_ATTRIBUTE_CLOCK_RATE, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT};
  int v[sizeof ids / sizeof ids[0]];
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if ((r = attr_value(rec, ids[i], &v[i]))) return r;
  CUdevprop out = {.maxThreadsPerBlock = v[0],
                   .maxThreadsDim = {v[1], v[2], v[3]},
                   .maxGridSize = {v[4], v[5], v[6]},
                   .sharedMemPerBlock = v[7],
                   .totalConstantMemory = v[8],
                   .SIMDWidth = v[9],
                   .memPitch = v[10],
                   .regsPerBlock = v[11],
                   .clockRate = v[12],
                   .textureAlign = v[13]};
  *p = out;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuDeviceGetProperties(CUdevprop *prop, CUdevice dev) { VG_TRACED(props_impl(prop, dev)); }
