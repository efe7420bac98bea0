/*
 * INTEGRITY_CHECK (docs/reference/cudart-driver-interface.md §2.3): cudart proves to itself
 * that it talks to a genuine driver by asking for a MAC over values both sides know. A wrong
 * answer makes every runtime call fail with cudaErrorSoftwareValidityNotEstablished (103).
 *
 * The MAC is HMAC-MD2 with a fixed key over {driver version, the caller's version argument, pid,
 * thread id, the addresses of the CUDART_INTERFACE and INTEGRITY_CHECK tables and of this
 * function, the caller's clock} followed by {UUID, PCI domain, bus, device} of every visible
 * device. It must be computed here, from exactly what this library reports to the application:
 * the host's driver would see other addresses, another pid and other devices.
 */
#include "vgcuda.h"

#include "darkapi.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static const uint8_t KEY[16] = {0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f};

/* Host byte order, as the driver hashes its in-memory structs (every CUDA host is little-endian). */
static void put32(vg_hmac_md2 *h, uint32_t v) { vg_hmac_md2_update(h, &v, 4); }
static void put64(vg_hmac_md2 *h, uint64_t v) { vg_hmac_md2_update(h, &v, 8); }

void vg_integrity_mac(const vg_integrity_head *m, const vg_integrity_dev *devs, int ndev, uint8_t out[16]) {
  vg_hmac_md2 h;
  vg_hmac_md2_init(&h, KEY, sizeof KEY);
  put32(&h, m->driver_version);
  put32(&h, m->version);
  put32(&h, m->pid);
  put32(&h, m->tid);
  put64(&h, m->cudart_table);
  put64(&h, m->integrity_table);
  put64(&h, m->integrity_fn);
  put64(&h, m->unix_seconds);
  for (int i = 0; i < ndev; i++) {
    vg_hmac_md2_update(&h, devs[i].uuid, 16);
    put32(&h, (uint32_t)devs[i].pci_domain);
    put32(&h, (uint32_t)devs[i].pci_bus);
    put32(&h, (uint32_t)devs[i].pci_device);
  }
  vg_hmac_md2_final(&h, out);
}

/* The value cuDeviceGetAttribute reports, else the handshake's PCI field (the same number). */
static int32_t pci_attr(const vg_devrec *rec, int attr, uint32_t fallback) {
  if (attr >= 0 && (uint32_t)attr < rec->nattr && rec->attr[attr] != INT32_MIN) return rec->attr[attr];
  return (int32_t)fallback;
}

int vg_integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t result[2]) {
  if (!result) return CUDA_ERROR_INVALID_VALUE;
  /* The driver answers the first two calls of each triple (versions ending in 0 and 1) with
   * fixed values; cudart checks only the third. */
  if (version % 10 == 0) {
    result[0] = 0x3341181C03CB675Cull;
    result[1] = 0x8ED383AA1F4CD1E8ull;
    return CUDA_SUCCESS;
  }
  if (version % 10 == 1) {
    result[0] = 0x1841181C03CB675Cull;
    result[1] = 0x8ED383AA1F4CD1E8ull;
    return CUDA_SUCCESS;
  }
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  const void *const *cudart = vg_dark_table(VG_DARK_CUDART_INTERFACE);
  const void *const *self = vg_dark_table(VG_DARK_INTEGRITY_CHECK);
  int n = vg_dev_count();
  vg_integrity_dev devs[VG_MAX_DEVICES];
  if (n < 0 || n > (int)VG_MAX_DEVICES) return CUDA_ERROR_INVALID_DEVICE;
  for (int d = 0; d < n; d++) {
    const vg_devrec *rec = vg_dev_rec(d);
    if (!rec) return CUDA_ERROR_INVALID_DEVICE;
    memcpy(devs[d].uuid, rec->uuid, 16);
    devs[d].pci_domain = pci_attr(rec, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, rec->pci_domain);
    devs[d].pci_bus = pci_attr(rec, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, rec->pci_bus);
    devs[d].pci_device = pci_attr(rec, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, rec->pci_device);
  }
  int dv = vg_driver_version();
  vg_integrity_head m = {
      .driver_version = (uint32_t)dv,
      .version = version,
      .pid = (uint32_t)getpid(),
      .tid = (uint32_t)(uintptr_t)pthread_self(),
      .cudart_table = (uint64_t)(uintptr_t)cudart,
      .integrity_table = (uint64_t)(uintptr_t)self,
      .integrity_fn = (uint64_t)(uintptr_t)self[1],
      .unix_seconds = unix_seconds,
  };
  uint8_t mac[16];
  vg_integrity_mac(&m, devs, n, mac);
  memcpy(result, mac, 16);
  return CUDA_SUCCESS;
}

static CUresult integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t result[2]) {
  VG_TRACED((CUresult)vg_integrity_check(version, unix_seconds, result));
}

static const vg_dark_slot integrity_slots[] = {
    {1, "integrity_check", (vg_dark_fn)integrity_check},
};

const vg_dark_desc vg_dark_integrity_desc = {
    .name = "INTEGRITY_CHECK",
    .id = {0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2},
    .size_slot = 1,
    .nslots = 3,
    .known = integrity_slots,
    .nknown = sizeof integrity_slots / sizeof integrity_slots[0],
};
