/* Device handles and identity: everything here is read from the WELCOME table. */
#include "vgnvml.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Handles point into this table; an index never changes for the life of the process. */
static struct vg_nvml_dev g_devs[VG_MAX_DEVICES];
static pthread_once_t g_devs_once = PTHREAD_ONCE_INIT;

static void fill_devs(void) {
  for (unsigned i = 0; i < VG_MAX_DEVICES; i++) g_devs[i].index = i;
}

nvmlDevice_t vg_nvml_handle(unsigned index) {
  pthread_once(&g_devs_once, fill_devs);
  return &g_devs[index];
}

nvmlReturn_t vg_nvml_dev(nvmlDevice_t h, const vg_devrec **rec, unsigned *index) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  /* Compare addresses as integers: the handle may be any pointer the caller made up. */
  uintptr_t p = (uintptr_t)h, base = (uintptr_t)g_devs;
  if (p < base || (p - base) % sizeof g_devs[0] != 0) return NVML_ERROR_INVALID_ARGUMENT;
  size_t i = (p - base) / sizeof g_devs[0];
  const vg_welcome *w = vg_nvml_welcome();
  if (i >= w->count) return NVML_ERROR_INVALID_ARGUMENT;
  if (rec) *rec = &w->dev[i];
  if (index) *index = (unsigned)i;
  return NVML_SUCCESS;
}

int vg_nvml_attr(const vg_devrec *rec, unsigned attr) {
  if (attr >= rec->nattr || rec->attr[attr] == INT32_MIN) return -1;
  return rec->attr[attr];
}

static nvmlReturn_t count_impl(unsigned *count) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = vg_nvml_welcome()->count;
  return NVML_SUCCESS;
}

/* NVML ignores CUDA_VISIBLE_DEVICES, as NVIDIA's does: it lists the VM's whole table. */
VG_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { VG_NVML_TRACED(count_impl(count)); }
VG_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) { VG_NVML_TRACED(count_impl(count)); }

static nvmlReturn_t by_index_impl(unsigned index, nvmlDevice_t *dev) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!dev || index >= vg_nvml_welcome()->count) return NVML_ERROR_INVALID_ARGUMENT;
  *dev = vg_nvml_handle(index);
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
  VG_NVML_TRACED(by_index_impl(index, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  VG_NVML_TRACED(by_index_impl(index, device));
}

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx": cuDeviceGetUuid's 16 bytes, as NVIDIA prints them. */
static void format_uuid(const uint8_t u[16], char out[41]) {
  snprintf(out, 41, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
           u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static nvmlReturn_t by_uuid_impl(const char *uuid, nvmlDevice_t *dev) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!uuid || !dev) return NVML_ERROR_INVALID_ARGUMENT;
  const vg_welcome *w = vg_nvml_welcome();
  char s[41];
  for (unsigned i = 0; i < w->count; i++) {
    format_uuid(w->dev[i].uuid, s);
    if (strncasecmp(uuid, s, sizeof s) == 0) {
      *dev = vg_nvml_handle(i);
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
  VG_NVML_TRACED(by_uuid_impl(uuid, device));
}

/* Accepts "domain:bus:device.function", "domain:bus:device" and "bus:device.function", in hex,
 * as cuDeviceGetByPCIBusId does. */
static int parse_pci(const char *s, unsigned *dom, unsigned *bus, unsigned *dev) {
  unsigned a, b, c, f;
  char tail;
  if (sscanf(s, "%x:%x:%x.%x%c", &a, &b, &c, &f, &tail) == 4 || sscanf(s, "%x:%x:%x%c", &a, &b, &c, &tail) == 3) {
    *dom = a, *bus = b, *dev = c;
    return 0;
  }
  if (sscanf(s, "%x:%x.%x%c", &b, &c, &f, &tail) == 3) {
    *dom = 0, *bus = b, *dev = c;
    return 0;
  }
  return -1;
}

static nvmlReturn_t by_pci_impl(const char *id, nvmlDevice_t *dev) {
  nvmlReturn_t r = vg_nvml_ready();
  if (r) return r;
  if (!id || !dev || strnlen(id, NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE) >= NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE)
    return NVML_ERROR_INVALID_ARGUMENT;
  unsigned d, b, s;
  if (parse_pci(id, &d, &b, &s)) return NVML_ERROR_INVALID_ARGUMENT;
  const vg_welcome *w = vg_nvml_welcome();
  for (unsigned i = 0; i < w->count; i++) {
    if (w->dev[i].pci_domain == d && w->dev[i].pci_bus == b && w->dev[i].pci_device == s) {
      *dev = vg_nvml_handle(i);
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *id, nvmlDevice_t *device) {
  VG_NVML_TRACED(by_pci_impl(id, device));
}
VG_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *id, nvmlDevice_t *device) {
  VG_NVML_TRACED(by_pci_impl(id, device));
}

static nvmlReturn_t name_impl(nvmlDevice_t h, char *name, unsigned len) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  return r ? r : vg_nvml_copy_str(name, len, rec->name);
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  VG_NVML_TRACED(name_impl(device, name, length));
}

static nvmlReturn_t uuid_impl(nvmlDevice_t h, char *out, unsigned len) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  char s[41];
  format_uuid(rec->uuid, s);
  return vg_nvml_copy_str(out, len, s);
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  VG_NVML_TRACED(uuid_impl(device, uuid, length));
}

/* A vGPU has no board serial; this one is derived from the vGPU UUID so that it is stable and
 * unique per VM slot, like the UUID itself. */
static nvmlReturn_t serial_impl(nvmlDevice_t h, char *out, unsigned len) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  char s[16];
  snprintf(s, sizeof s, "V%02X%02X%02X%02X%02X%02X", rec->uuid[10], rec->uuid[11], rec->uuid[12],
           rec->uuid[13], rec->uuid[14], rec->uuid[15]);
  return vg_nvml_copy_str(out, len, s);
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length) {
  VG_NVML_TRACED(serial_impl(device, serial, length));
}

/* NVIDIA's vendor id; the device id is unknown to the guest (the host does not send it yet). */
#define PCI_VENDOR_NVIDIA 0x10deu

static nvmlReturn_t pci_impl(nvmlDevice_t h, nvmlPciInfo_t *pci, int version) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlPciInfo_t p;
  memset(&p, 0, sizeof p);
  p.domain = rec->pci_domain;
  p.bus = rec->pci_bus;
  p.device = rec->pci_device;
  p.pciDeviceId = PCI_VENDOR_NVIDIA;
  snprintf(p.busIdLegacy, sizeof p.busIdLegacy, "%04X:%02X:%02X.0", p.domain & 0xffffu, p.bus & 0xffu, p.device & 0xffu);
  /* _v3 prints the 32-bit domain in full; _v2 kept the legacy form in busId. */
  if (version >= 3)
    snprintf(p.busId, sizeof p.busId, "%08X:%02X:%02X.0", p.domain, p.bus & 0xffu, p.device & 0xffu);
  else
    memcpy(p.busId, p.busIdLegacy, sizeof p.busIdLegacy);
  /* The v1 struct is 52 bytes: the shared head, then 16 reserved bytes (zero). */
  memcpy(pci, &p, version == 1 ? NVML_PCI_INFO_V1_SIZE : sizeof p);
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *pci) { VG_NVML_TRACED(pci_impl(device, pci, 1)); }
VG_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci) { VG_NVML_TRACED(pci_impl(device, pci, 2)); }
VG_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) { VG_NVML_TRACED(pci_impl(device, pci, 3)); }

/* PCI class of NVIDIA's compute boards: 0x03 display controller, 0x02 3D controller. */
#define PCI_CLASS_DISPLAY 0x03u
#define PCI_SUBCLASS_3D 0x02u

static nvmlReturn_t pci_ext_impl(nvmlDevice_t h, nvmlPciInfoExt_t *pci) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
  if (pci->version != nvmlPciInfoExt_v1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  nvmlPciInfoExt_t p;
  memset(&p, 0, sizeof p);
  p.version = nvmlPciInfoExt_v1;
  p.domain = rec->pci_domain;
  p.bus = rec->pci_bus;
  p.device = rec->pci_device;
  p.pciDeviceId = PCI_VENDOR_NVIDIA;
  p.baseClass = PCI_CLASS_DISPLAY;
  p.subClass = PCI_SUBCLASS_3D;
  snprintf(p.busId, sizeof p.busId, "%08X:%02X:%02X.0", p.domain, p.bus & 0xffu, p.device & 0xffu);
  *pci = p;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetPciInfoExt(nvmlDevice_t device, nvmlPciInfoExt_t *pci) {
  VG_NVML_TRACED(pci_ext_impl(device, pci));
}

/* Memory is the VM's quota; used is what the host's accounting says the VM holds, the figure
 * cuMemGetInfo reports as used in the same VM (docs/guest.md). A host older than protocol minor 2
 * gives no accounting: nothing is reported used then. */
static uint64_t vm_used(unsigned index, uint64_t total) {
  vg_nvml_devstat st;
  if (vg_nvml_status(index, &st, NULL, 0)) return 0;
  return st.mem_used < total ? st.mem_used : total;
}

static nvmlReturn_t memory_impl(nvmlDevice_t h, nvmlMemory_t *m) {
  const vg_devrec *rec;
  unsigned i;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, &i);
  if (r) return r;
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  uint64_t used = vm_used(i, rec->total_mem);
  m->total = rec->total_mem;
  m->free = rec->total_mem - used;
  m->used = used;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
  VG_NVML_TRACED(memory_impl(device, memory));
}

static nvmlReturn_t memory_v2_impl(nvmlDevice_t h, nvmlMemory_v2_t *m) {
  const vg_devrec *rec;
  unsigned i;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, &i);
  if (r) return r;
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  if (m->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  uint64_t used = vm_used(i, rec->total_mem);
  m->total = rec->total_mem;
  m->reserved = 0; /* the host keeps its own overhead outside the VM's quota */
  m->free = rec->total_mem - used;
  m->used = used;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
  VG_NVML_TRACED(memory_v2_impl(device, memory));
}

/* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR */
#define ATTR_CC_MAJOR 75u
#define ATTR_CC_MINOR 76u

static nvmlReturn_t cc_impl(nvmlDevice_t h, int *major, int *minor) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!major || !minor) return NVML_ERROR_INVALID_ARGUMENT;
  int ma = vg_nvml_attr(rec, ATTR_CC_MAJOR), mi = vg_nvml_attr(rec, ATTR_CC_MINOR);
  if (ma < 0 || mi < 0) return NVML_ERROR_NOT_SUPPORTED;
  *major = ma;
  *minor = mi;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
  VG_NVML_TRACED(cc_impl(device, major, minor));
}

static nvmlReturn_t index_impl(nvmlDevice_t h, unsigned *out) {
  unsigned i;
  nvmlReturn_t r = vg_nvml_dev(h, NULL, &i);
  if (r) return r;
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  *out = i;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) { VG_NVML_TRACED(index_impl(device, index)); }
/* The guest has no /dev/nvidiaN; the minor number is the table index, as on a one-board-per-node host. */
VG_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor) { VG_NVML_TRACED(index_impl(device, minor)); }

static nvmlReturn_t board_id_impl(nvmlDevice_t h, unsigned *id) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!id) return NVML_ERROR_INVALID_ARGUMENT;
  /* Unique per vGPU: its PCI location. */
  *id = (rec->pci_domain & 0xffffu) << 16 | (rec->pci_bus & 0xffu) << 8 | (rec->pci_device & 0xffu);
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetBoardId(nvmlDevice_t device, unsigned int *boardId) {
  VG_NVML_TRACED(board_id_impl(device, boardId));
}

static nvmlReturn_t brand_impl(nvmlDevice_t h, int *brand) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (!brand) return NVML_ERROR_INVALID_ARGUMENT;
  *brand = NVML_BRAND_NVIDIA;
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, int *type) { VG_NVML_TRACED(brand_impl(device, type)); }

static unsigned arch_of(int ma, int mi) {
  switch (ma) {
  case 3: return NVML_DEVICE_ARCH_KEPLER;
  case 5: return NVML_DEVICE_ARCH_MAXWELL;
  case 6: return NVML_DEVICE_ARCH_PASCAL;
  case 7: return mi >= 5 ? NVML_DEVICE_ARCH_TURING : NVML_DEVICE_ARCH_VOLTA;
  case 8: return mi == 9 ? NVML_DEVICE_ARCH_ADA : NVML_DEVICE_ARCH_AMPERE;
  case 9: return NVML_DEVICE_ARCH_HOPPER;
  case 10: case 11: case 12: return NVML_DEVICE_ARCH_BLACKWELL;
  }
  return NVML_DEVICE_ARCH_UNKNOWN;
}

static nvmlReturn_t arch_impl(nvmlDevice_t h, unsigned *arch) {
  const vg_devrec *rec;
  nvmlReturn_t r = vg_nvml_dev(h, &rec, NULL);
  if (r) return r;
  if (!arch) return NVML_ERROR_INVALID_ARGUMENT;
  *arch = arch_of(vg_nvml_attr(rec, ATTR_CC_MAJOR), vg_nvml_attr(rec, ATTR_CC_MINOR));
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, unsigned int *arch) {
  VG_NVML_TRACED(arch_impl(device, arch));
}

static nvmlReturn_t is_mig_impl(nvmlDevice_t h, unsigned *is_mig) {
  nvmlReturn_t r = vg_nvml_dev(h, NULL, NULL);
  if (r) return r;
  if (!is_mig) return NVML_ERROR_INVALID_ARGUMENT;
  *is_mig = 0; /* a vGPU is never a MIG device */
  return NVML_SUCCESS;
}

VG_EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice) {
  VG_NVML_TRACED(is_mig_impl(device, isMigDevice));
}
