/* Device queries: init, count, name, memory, attributes, UUID and PCI identity. */
#include <stdlib.h>
#include <string.h>

#include "sg_test_cu.h"

TEST(device_calls_before_init_fail) {
  int n = -1;
  CUdevice d;
  ASSERT_CU(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
  ASSERT_CU(cuDeviceGet(&d, 0), CUDA_ERROR_NOT_INITIALIZED);
  int v = 0;
  ASSERT_CU_OK(cuDriverGetVersion(&v)); /* works before cuInit, as in the driver */
  ASSERT_EQ(v, 13000);
}

TEST(device_init_rejects_flags_and_bad_config) {
  ASSERT_CU(cuInit(1), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDriverGetVersion(NULL), CUDA_ERROR_INVALID_VALUE);
  setenv("VGPU_SOFTGPU_CC", "eight", 1);
  ASSERT_CU(cuInit(0), CUDA_ERROR_INVALID_VALUE);
}

TEST(device_count_and_get) {
  int n = 0;
  CUdevice d = -1;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceGetCount(&n));
  ASSERT_EQ(n, 1);
  ASSERT_CU_OK(cuDeviceGet(&d, 0));
  ASSERT_EQ(d, 0);
  ASSERT_CU(cuDeviceGet(&d, 1), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_CU(cuDeviceGet(&d, -1), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_CU(cuDeviceGet(NULL, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetCount(NULL), CUDA_ERROR_INVALID_VALUE);
}

TEST(device_count_follows_env) {
  setenv("VGPU_SOFTGPU_DEVICES", "3", 1);
  int n = 0;
  CUdevice d = -1;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceGetCount(&n));
  ASSERT_EQ(n, 3);
  ASSERT_CU_OK(cuDeviceGet(&d, 2));
  ASSERT_EQ(d, 2);
  ASSERT_CU(cuDeviceGet(&d, 3), CUDA_ERROR_INVALID_DEVICE);
  /* Each device has its own UUID and PCI bus, and is found by that bus. */
  CUuuid u0, u1;
  ASSERT_CU_OK(cuDeviceGetUuid(&u0, 0));
  ASSERT_CU_OK(cuDeviceGetUuid(&u1, 1));
  ASSERT_TRUE(memcmp(u0.bytes, u1.bytes, 16) != 0);
  char bus[32];
  ASSERT_CU_OK(cuDeviceGetPCIBusId(bus, sizeof bus, 1));
  ASSERT_EQ(strcmp(bus, "0000:80:00.0"), 0);
  int attr = 0;
  ASSERT_CU_OK(cuDeviceGetAttribute(&attr, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 2));
  ASSERT_EQ(attr, 0x81);
  ASSERT_CU_OK(cuDeviceGetByPCIBusId(&d, "0000:81:00.0"));
  ASSERT_EQ(d, 2);
  ASSERT_CU(cuDeviceGetByPCIBusId(&d, "0000:82:00.0"), CUDA_ERROR_INVALID_DEVICE);
  /* One primary context per device, current on its own device. */
  CUcontext p0, p1, again;
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&p0, 0));
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&p1, 1));
  ASSERT_TRUE(p0 != p1);
  ASSERT_CU_OK(cuDevicePrimaryCtxRetain(&again, 1));
  ASSERT_TRUE(again == p1);
  ASSERT_CU_OK(cuCtxSetCurrent(p1));
  ASSERT_CU_OK(cuCtxGetDevice(&d));
  ASSERT_EQ(d, 1);
  unsigned flags = 0;
  int active = 0;
  ASSERT_CU_OK(cuDevicePrimaryCtxRelease(0));
  ASSERT_CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  ASSERT_EQ(active, 0);
  ASSERT_CU_OK(cuDevicePrimaryCtxGetState(1, &flags, &active));
  ASSERT_EQ(active, 1);
  ASSERT_CU(cuCtxDestroy(p1), CUDA_ERROR_INVALID_CONTEXT);
}

TEST(device_count_rejects_bad_env) {
  setenv("VGPU_SOFTGPU_DEVICES", "17", 1);
  ASSERT_CU(cuInit(0), CUDA_ERROR_INVALID_VALUE);
}

TEST(device_name_says_emulation_and_truncates) {
  char name[256], small[5];
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceGetName(name, sizeof name, 0));
  ASSERT_NOT_NULL(strstr(name, "CPU emulation"));
  ASSERT_CU_OK(cuDeviceGetName(small, sizeof small, 0));
  ASSERT_EQ(strlen(small), 4);
  ASSERT_CU(cuDeviceGetName(name, 0, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetName(name, sizeof name, 3), CUDA_ERROR_INVALID_DEVICE);
}

TEST(device_total_mem_follows_env) {
  setenv("VGPU_SOFTGPU_MEMORY", "512M", 1);
  size_t total = 0;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceTotalMem(&total, 0));
  ASSERT_EQ(total, 512ull << 20);
  ASSERT_CU(cuDeviceTotalMem(NULL, 0), CUDA_ERROR_INVALID_VALUE);
}

TEST(device_total_mem_default_8g) {
  size_t total = 0;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceTotalMem(&total, 0));
  ASSERT_EQ(total, 8ull << 30);
}

TEST(device_bad_memory_env_fails_init) {
  setenv("VGPU_SOFTGPU_MEMORY", "lots", 1);
  ASSERT_CU(cuInit(0), CUDA_ERROR_OUT_OF_MEMORY);
}

TEST(device_attributes_defaults) {
  int v = -1;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0));
  ASSERT_EQ(v, 32);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 0));
  ASSERT_EQ(v, 1024);
  /* 12.0 by default, so NVIDIA's libraries take their PTX kernels (softgpu/api/init.c). */
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
  ASSERT_EQ(v, 12);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0));
  ASSERT_EQ(v, 0);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 0));
  ASSERT_EQ(v, 48 * 1024);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 0));
  ASSERT_EQ(v, 99 * 1024);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 0));
  ASSERT_EQ(v, 1);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0));
  ASSERT_EQ(v, 1);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  ASSERT_GE(v, 1);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 0));
  ASSERT_EQ(v, 0x7f);
}

TEST(device_every_attribute_answers_unknown_rejected) {
  int v;
  ASSERT_CU_OK(cuInit(0));
  /* CUDA 13.0 defines 1..147; cudart's start-up needs every one of them, 139 included. */
  for (int a = 1; a <= 147; a++) {
    CUresult r = cuDeviceGetAttribute(&v, (CUdevice_attribute)a, 0);
    if (r != CUDA_SUCCESS) FAIL("attribute %d returned %d", a, (int)r);
  }
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID, 0));
  ASSERT_EQ(v & 0xffff, 0x1af4); /* an emulated device's vendor id, never NVIDIA's */
  ASSERT_CU(cuDeviceGetAttribute(&v, (CUdevice_attribute)0, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetAttribute(&v, (CUdevice_attribute)100000, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetAttribute(NULL, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 1), CUDA_ERROR_INVALID_DEVICE);
}

TEST(device_cc_from_env) {
  setenv("VGPU_SOFTGPU_CC", "9.0", 1);
  int major = 0, minor = -1, v = 0;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceComputeCapability(&major, &minor, 0));
  ASSERT_EQ(major, 9);
  ASSERT_EQ(minor, 0);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 0));
  ASSERT_EQ(v, 227 * 1024);
  ASSERT_CU(cuDeviceComputeCapability(NULL, &minor, 0), CUDA_ERROR_INVALID_VALUE);
}

TEST(device_uuid_stable_and_versions_agree) {
  CUuuid a, b;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceGetUuid(&a, 0));
  ASSERT_CU_OK(cuDeviceGetUuid_v2(&b, 0));
  ASSERT_MEM_EQ(a.bytes, b.bytes, 16);
  ASSERT_EQ((unsigned char)a.bytes[6] >> 4, 8); /* RFC 9562 version 8 */
  static const char zero[16];
  ASSERT_NE(memcmp(a.bytes, zero, 16), 0);
  ASSERT_CU(cuDeviceGetUuid(NULL, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetUuid(&a, 2), CUDA_ERROR_INVALID_DEVICE);
}

TEST(device_pci_bus_id_round_trip) {
  char id[32];
  CUdevice d = -1;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceGetPCIBusId(id, sizeof id, 0));
  ASSERT_STR_EQ(id, "0000:7f:00.0");
  ASSERT_CU_OK(cuDeviceGetByPCIBusId(&d, id));
  ASSERT_EQ(d, 0);
  d = -1;
  ASSERT_CU_OK(cuDeviceGetByPCIBusId(&d, "7F:00.0"));
  ASSERT_EQ(d, 0);
  ASSERT_CU(cuDeviceGetByPCIBusId(&d, "0000:01:00.0"), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_CU(cuDeviceGetByPCIBusId(&d, "not a bus id"), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetByPCIBusId(&d, "0000:7f:00.0trailing"), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuDeviceGetByPCIBusId(NULL, id), CUDA_ERROR_INVALID_VALUE);
}

TEST(device_properties_match_attributes) {
  CUdevprop p;
  int v;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuDeviceGetProperties(&p, 0));
  ASSERT_EQ(p.maxThreadsPerBlock, 1024);
  ASSERT_EQ(p.SIMDWidth, 32);
  ASSERT_CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 0));
  ASSERT_EQ(p.maxGridSize[0], v);
  ASSERT_EQ(p.maxThreadsDim[2], 64);
}
