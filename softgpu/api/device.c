/*
 * Device queries. softgpu has one device by default (VGPU_SOFTGPU_DEVICES for more, init.c); each
 * says in its name that it is a CPU emulation and carries a UUID that no NVIDIA board has.
 */
#include "sg_api.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SG_DEVICE_NAME "vgpu softgpu (CPU emulation)"

CUresult sg_dev_check(CUdevice dev) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return dev >= 0 && dev < sg_dev_count() ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

SG_EXPORT CUresult cuDeviceGetCount(int *count) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  *count = sg_dev_count();
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal < 0 || ordinal >= sg_dev_count()) return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  snprintf(name, (size_t)len, "%s", SG_DEVICE_NAME);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!bytes) return CUDA_ERROR_INVALID_VALUE;
  *bytes = (size_t)sg_mem_total();
  return CUDA_SUCCESS;
}

/* The pre-3.2 ABI, still exported by NVIDIA's driver: a 32-bit size, saturated. */
SG_EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev) {
  size_t total = 0;
  CUresult rc = cuDeviceTotalMem_v2(bytes ? &total : NULL, dev);
  if (rc == CUDA_SUCCESS) *bytes = total > UINT_MAX ? UINT_MAX : (unsigned int)total;
  return rc;
}

SG_EXPORT CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  rc = sg_dev_attribute(attrib, pi);
  if (rc == CUDA_SUCCESS && attrib == CU_DEVICE_ATTRIBUTE_PCI_BUS_ID) *pi = SG_PCI_BUS + dev;
  return rc;
}

/* splitmix64 over a fixed seed (device 0's as it always was; others offset by the ordinal):
 * stable across runs and hosts, and marked as an RFC 9562 version-8 ("vendor specific") UUID, a
 * layout NVIDIA's board UUIDs do not use. */
static void softgpu_uuid(unsigned char out[16], CUdevice dev) {
  uint64_t x = 0x7667707553475055ull + (uint64_t)dev * 0x100000001b3ull; /* "vgpuSGPU" */
  for (int half = 0; half < 2; half++) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (int i = 0; i < 8; i++) out[half * 8 + i] = (unsigned char)(z >> (8 * i));
  }
  out[6] = (unsigned char)((out[6] & 0x0f) | 0x80);
  out[8] = (unsigned char)((out[8] & 0x3f) | 0x80);
}

SG_EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!uuid) return CUDA_ERROR_INVALID_VALUE;
  softgpu_uuid((unsigned char *)uuid->bytes, dev);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev) { return cuDeviceGetUuid(uuid, dev); }

SG_EXPORT CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!pciBusId || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.0", SG_PCI_DOMAIN, SG_PCI_BUS + dev, SG_PCI_DEVICE);
  return CUDA_SUCCESS;
}

/* Accepts "domain:bus:device.function" and "bus:device.function", in hex, any case. */
SG_EXPORT CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!dev || !pciBusId) return CUDA_ERROR_INVALID_VALUE;
  unsigned domain = 0, bus, device, function;
  int used = 0;
  if (sscanf(pciBusId, "%x:%x:%x.%x%n", &domain, &bus, &device, &function, &used) != 4 || pciBusId[used]) {
    domain = 0;
    used = 0;
    if (sscanf(pciBusId, "%x:%x.%x%n", &bus, &device, &function, &used) != 3 || pciBusId[used])
      return CUDA_ERROR_INVALID_VALUE;
  }
  if (domain != SG_PCI_DOMAIN || bus < SG_PCI_BUS || bus >= SG_PCI_BUS + (unsigned)sg_dev_count() ||
      device != SG_PCI_DEVICE || function != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *dev = (CUdevice)(bus - SG_PCI_BUS);
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
  *major = sg_dev_cc_major();
  *minor = sg_dev_cc_minor();
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuDeviceGetProperties(CUdevprop *prop, CUdevice dev) {
  CUresult rc = sg_dev_check(dev);
  if (rc) return rc;
  if (!prop) return CUDA_ERROR_INVALID_VALUE;
  memset(prop, 0, sizeof *prop);
  int v;
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &prop->maxThreadsPerBlock);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, &prop->maxThreadsDim[0]);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, &prop->maxThreadsDim[1]);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, &prop->maxThreadsDim[2]);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, &prop->maxGridSize[0]);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, &prop->maxGridSize[1]);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, &prop->maxGridSize[2]);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, &prop->sharedMemPerBlock);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, &prop->totalConstantMemory);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_WARP_SIZE, &prop->SIMDWidth);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_PITCH, &prop->memPitch);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK, &prop->regsPerBlock);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_CLOCK_RATE, &prop->clockRate);
  sg_dev_attribute(CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT, &v);
  prop->textureAlign = v;
  return CUDA_SUCCESS;
}
