/* Local functions that need no host: proc addresses, export tables, host memory (error strings:
 * test-curesult.c). */
#include "vgcuda.h"

#include "fakehost.h"
#include "rpc.h"
#include "vgtest.h"

#include <unistd.h>

TEST(local_proc_address_versions) {
  fh_point_at_dead_socket(); /* the driver version then comes from the library */
  void *fn = NULL;
  CUdriverProcAddressQueryResult st;
  ASSERT_EQ(cuGetProcAddress_v2("cuInit", &fn, 2000, 0, &st), CUDA_SUCCESS);
  ASSERT_PTR_EQ(fn, (void *)cuInit);
  ASSERT_EQ(st, CU_GET_PROC_ADDRESS_SUCCESS);
  ASSERT_EQ(cuGetProcAddress_v2("cuCtxGetDevice", &fn, 2000, 0, &st), CUDA_SUCCESS);
  ASSERT_PTR_EQ(fn, (void *)cuCtxGetDevice);
  ASSERT_EQ(cuGetProcAddress_v2("cuCtxGetDevice", &fn, 13000, 0, &st), CUDA_SUCCESS);
  ASSERT_PTR_EQ(fn, (void *)cuCtxGetDevice_v2);
  ASSERT_EQ(cuGetProcAddress("cuDeviceTotalMem", &fn, 12000, 0), CUDA_SUCCESS);
  ASSERT_PTR_EQ(fn, (void *)cuDeviceTotalMem_v2);
  ASSERT_EQ(cuGetProcAddress_v2("cuMemcpyHtoD", &fn, 7000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st),
            CUDA_SUCCESS);
  ASSERT_PTR_EQ(fn, (void *)cuMemcpyHtoD_v2_ptds);
  ASSERT_EQ(cuGetProcAddress_v2("cuCtxGetDevice", &fn, 1000, 0, &st), CUDA_ERROR_NOT_FOUND);
  ASSERT_EQ(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
  ASSERT_PTR_EQ(fn, NULL);
  ASSERT_EQ(cuGetProcAddress_v2("cuNoSuchFunction", &fn, 12000, 0, &st), CUDA_ERROR_NOT_FOUND);
  ASSERT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  ASSERT_EQ(cuGetProcAddress_v2("", &fn, 0, 0, NULL), CUDA_ERROR_NOT_FOUND);
  ASSERT_EQ(cuGetProcAddress_v2("cuInit", &fn, CUDA_VERSION + 10, 0, &st), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuGetProcAddress_v2(NULL, &fn, 2000, 0, &st), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuGetProcAddress_v2("cuInit", NULL, 2000, 0, &st), CUDA_ERROR_INVALID_VALUE);
}

TEST(local_export_table_refused) {
  CUuuid id;
  memset(&id, 0x6b, sizeof id);
  const void *t = (const void *)1;
  ASSERT_EQ(cuGetExportTable(&t, &id), CUDA_ERROR_INVALID_VALUE);
  ASSERT_PTR_EQ(t, NULL);
  ASSERT_EQ(cuGetExportTable(NULL, &id), CUDA_ERROR_INVALID_VALUE);
}

TEST(local_module_loading_mode_lazy) {
  CUmoduleLoadingMode m;
  ASSERT_EQ(cuModuleGetLoadingMode(&m), CUDA_SUCCESS);
  ASSERT_EQ(m, CU_MODULE_LAZY_LOADING);
  ASSERT_EQ(cuModuleGetLoadingMode(NULL), CUDA_ERROR_INVALID_VALUE);
}

TEST(local_host_memory) {
  fakehost fh;
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  void *p = NULL;
  ASSERT_EQ(cuMemAllocHost_v2(&p, 100), CUDA_ERROR_INVALID_CONTEXT); /* needs a context */
  CUcontext c;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&c, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSetCurrent(c), CUDA_SUCCESS);
  ASSERT_EQ(cuMemAllocHost_v2(&p, 100), CUDA_SUCCESS);
  ASSERT_EQ((uintptr_t)p % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
  memset(p, 1, 100);
  void *q = NULL;
  ASSERT_EQ(cuMemHostAlloc(&q, 5000, CU_MEMHOSTALLOC_WRITECOMBINED | CU_MEMHOSTALLOC_PORTABLE), CUDA_SUCCESS);
  unsigned int fl = 0;
  ASSERT_EQ(cuMemHostGetFlags(&fl, (char *)q + 4999), CUDA_SUCCESS);
  ASSERT_EQ(fl, CU_MEMHOSTALLOC_WRITECOMBINED | CU_MEMHOSTALLOC_PORTABLE);
  ASSERT_EQ(cuMemHostGetFlags(&fl, (char *)q + 5000), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuMemHostAlloc(&q, 10, 0x80), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuMemHostAlloc(&q, 0, 0), CUDA_ERROR_INVALID_VALUE);
  int local;
  ASSERT_EQ(cuMemFreeHost(&local), CUDA_ERROR_INVALID_VALUE); /* foreign pointer */
  ASSERT_EQ(cuMemFreeHost((char *)p + 1), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuMemFreeHost(p), CUDA_SUCCESS);
  ASSERT_EQ(cuMemFreeHost(p), CUDA_ERROR_INVALID_VALUE); /* double free */
  char *buf = malloc(8192);
  ASSERT_EQ(cuMemHostRegister_v2(buf, 4096, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuMemHostRegister_v2(buf + 100, 10, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
  ASSERT_EQ(cuMemHostRegister_v2(buf + 4096, 4096, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuMemHostRegister_v2(buf, 10, CU_MEMHOSTREGISTER_IOMEMORY), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(cuMemFreeHost(buf), CUDA_ERROR_INVALID_VALUE); /* registered, not allocated */
  ASSERT_EQ(cuMemHostUnregister(buf + 1), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
  ASSERT_EQ(cuMemHostUnregister(buf), CUDA_SUCCESS);
  ASSERT_EQ(cuMemHostUnregister(buf), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
  ASSERT_EQ(cuMemHostUnregister(buf + 4096), CUDA_SUCCESS);
  ASSERT_EQ(cuMemFreeHost(q), CUDA_SUCCESS);
  free(buf);
}

/* Page-locked memory is answered from the guest's table, interior pointers included, and copies
 * between two such pointers stay in the guest (docs/pointers.md). */
TEST(local_pointer_attributes_of_host_memory) {
  fakehost fh;
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  CUcontext c;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&c, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSetCurrent(c), CUDA_SUCCESS);
  char *p = NULL;
  ASSERT_EQ(cuMemAllocHost_v2((void **)&p, 8192), CUDA_SUCCESS);
  CUdeviceptr inside = (CUdeviceptr)(uintptr_t)(p + 5000);
  unsigned type = 0;
  ASSERT_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, inside), CUDA_SUCCESS);
  ASSERT_EQ(type, CU_MEMORYTYPE_HOST);
  void *host = NULL;
  ASSERT_EQ(cuPointerGetAttribute(&host, CU_POINTER_ATTRIBUTE_HOST_POINTER, inside), CUDA_SUCCESS);
  ASSERT_PTR_EQ(host, p + 5000);
  CUcontext owner = NULL;
  ASSERT_EQ(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, inside), CUDA_SUCCESS);
  ASSERT_PTR_EQ(owner, c);
  CUdeviceptr dp = 1;
  ASSERT_EQ(cuPointerGetAttribute(&dp, CU_POINTER_ATTRIBUTE_DEVICE_POINTER, inside), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuPointerGetAttribute(&type, (CUpointer_attribute)99, inside), CUDA_ERROR_INVALID_VALUE);
  unsigned long long id1 = 0, id2 = 0;
  ASSERT_EQ(cuPointerGetAttribute(&id1, CU_POINTER_ATTRIBUTE_BUFFER_ID, (CUdeviceptr)(uintptr_t)p), CUDA_SUCCESS);
  ASSERT_EQ(cuPointerGetAttribute(&id2, CU_POINTER_ATTRIBUTE_BUFFER_ID, inside), CUDA_SUCCESS);
  ASSERT_EQ(id1, id2);
  ASSERT_EQ(id1 >= (1ull << 62), 1);

  CUpointer_attribute attrs[4] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_POINTER,
                                  CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, CU_POINTER_ATTRIBUTE_MAPPED};
  int ordinal = 7, mapped = 0;
  void *data[4] = {&type, &dp, &ordinal, &mapped};
  ASSERT_EQ(cuPointerGetAttributes(4, attrs, data, inside), CUDA_SUCCESS);
  ASSERT_EQ(type, CU_MEMORYTYPE_HOST);
  ASSERT_EQ(dp, 0);
  ASSERT_EQ(ordinal, 0);
  ASSERT_EQ(mapped, 1);
  /* NULL is unknown memory: defaults, with the driver's ordinal -2. */
  ASSERT_EQ(cuPointerGetAttributes(4, attrs, data, 0), CUDA_SUCCESS);
  ASSERT_EQ(type, 0);
  ASSERT_EQ(ordinal, -2);
  ASSERT_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, 0), CUDA_ERROR_INVALID_VALUE);

  CUdeviceptr base = 0;
  size_t size = 0;
  ASSERT_EQ(cuMemGetAddressRange_v2(&base, &size, inside), CUDA_SUCCESS);
  ASSERT_EQ(base, (CUdeviceptr)(uintptr_t)p);
  ASSERT_EQ(size, 8192);

  /* Pinned to pinned: a host copy, no device involved. */
  memset(p, 0x5a, 100);
  ASSERT_EQ(cuMemcpy((CUdeviceptr)(uintptr_t)(p + 4096), (CUdeviceptr)(uintptr_t)p, 100), CUDA_SUCCESS);
  ASSERT_EQ((unsigned char)p[4096 + 99], 0x5a);
  ASSERT_EQ(cuMemFreeHost(p), CUDA_SUCCESS);
}

TEST(local_debug_trace_names_calls) {
  char path[] = "/tmp/vgpu-log-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  setenv("VGPU_LOG", "debug", 1);
  setenv("VGPU_LOG_FILE", path, 1);
  fakehost fh;
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  int n;
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_SUCCESS);
  CUcontext c;
  ASSERT_EQ(cuCtxCreate_v2(&c, 0, 0), CUDA_SUCCESS);
  char text[8192];
  ASSERT_TRUE(vgt_take_file(path, text, sizeof text));
  ASSERT_TRUE(strstr(text, " debug: cuDeviceGetCount -> CUDA_SUCCESS ") != NULL);
  ASSERT_TRUE(strstr(text, " debug: cuInit -> CUDA_SUCCESS ") != NULL);
  ASSERT_TRUE(strstr(text, " debug: cuCtxCreate_v2 -> CUDA_SUCCESS ") != NULL);
  char prefix[32];
  snprintf(prefix, sizeof prefix, "vgpu[%d]", (int)getpid());
  ASSERT_TRUE(strstr(text, prefix) == text);
}

TEST(local_unsupported_logs_once) {
  char path[] = "/tmp/vgpu-log-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  setenv("VGPU_LOG_FILE", path, 1);
  unsetenv("VGPU_LOG");
  ASSERT_EQ(vg_unsupported("cuFancyThing"), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(vg_unsupported("cuFancyThing"), CUDA_ERROR_NOT_SUPPORTED);
  char text[4096];
  ASSERT_TRUE(vgt_take_file(path, text, sizeof text));
  const char *first = strstr(text, "cuFancyThing");
  ASSERT_TRUE(first != NULL);
  ASSERT_TRUE(strstr(first + 1, "cuFancyThing") == NULL);
}
