/*
 * libnvidia-ml.so.1's answers from the host's accounting (STATUS, protocol minor 2) against the
 * fake host in FH_STATUS mode: utilization, used memory and the process lists come from the
 * reply, one reply serves a burst of queries, and the size query of the process list behaves as
 * NVIDIA's does. The library is loaded with dlopen, as nvidia-smi does.
 */
#include "fakehost.h"
#include "vgtest.h"

#include "../nvml/impl/nvmltypes.h"

#include <dlfcn.h>
#include <unistd.h>

typedef nvmlReturn_t (*f_void)(void);
typedef nvmlReturn_t (*f_by_index)(unsigned, nvmlDevice_t *);
typedef nvmlReturn_t (*f_dev_ptr)(nvmlDevice_t, void *);
typedef nvmlReturn_t (*f_procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);
typedef nvmlReturn_t (*f_procs1)(nvmlDevice_t, unsigned *, nvmlProcessInfo_v1_t *);

static void *lib;

static void *nsym(const char *name) {
  if (!lib) {
    const char *env = getenv("VGPU_NVML_LIB");
    const char *paths[] = {env, "build/asan/libnvidia-ml.so.1", "build/guest/libnvidia-ml.so.1"};
    for (size_t i = 0; i < 3 && !lib; i++)
      if (paths[i] && access(paths[i], R_OK) == 0) lib = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) VGT_FAIL("libnvidia-ml.so.1 not built (%s)", dlerror());
  }
  void *p = dlsym(lib, name);
  if (!p) VGT_FAIL("libnvidia-ml.so.1 does not export %s", name);
  return p;
}

#define N(type, name) ((type)nsym(#name))

static nvmlDevice_t dev(unsigned i) {
  nvmlDevice_t d = NULL;
  ASSERT_EQ(N(f_by_index, nvmlDeviceGetHandleByIndex_v2)(i, &d), NVML_SUCCESS);
  return d;
}

TEST(nvml_status_answers_come_from_one_reply) {
  static fakehost fh;
  fh_start(&fh, FH_STATUS);
  ASSERT_EQ(N(f_void, nvmlInit_v2)(), NVML_SUCCESS);
  nvmlUtilization_t u = {99, 99};
  ASSERT_EQ(N(f_dev_ptr, nvmlDeviceGetUtilizationRates)(dev(0), &u), NVML_SUCCESS);
  ASSERT_EQ(u.gpu, 42);
  ASSERT_EQ(u.memory, 7);
  nvmlMemory_t m;
  ASSERT_EQ(N(f_dev_ptr, nvmlDeviceGetMemoryInfo)(dev(0), &m), NVML_SUCCESS);
  ASSERT_U64_EQ(m.used, 96ull << 20);
  ASSERT_U64_EQ(m.free, (8ull << 30) - (96ull << 20));
  nvmlMemory_v2_t m2 = {.version = (unsigned)sizeof m2 | 2u << 24};
  ASSERT_EQ(N(f_dev_ptr, nvmlDeviceGetMemoryInfo_v2)(dev(0), &m2), NVML_SUCCESS);
  ASSERT_U64_EQ(m2.used, 96ull << 20);
  ASSERT_EQ(N(f_dev_ptr, nvmlDeviceGetMemoryInfo)(dev(1), &m), NVML_SUCCESS);
  ASSERT_U64_EQ(m.used, 0);
  /* Size query: a zero count answers INSUFFICIENT_SIZE with the number needed. */
  unsigned n = 0;
  ASSERT_EQ(N(f_procs, nvmlDeviceGetComputeRunningProcesses_v3)(dev(0), &n, NULL), NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(n, 2);
  nvmlProcessInfo_t p[4];
  memset(p, 0x5a, sizeof p);
  n = 1;
  ASSERT_EQ(N(f_procs, nvmlDeviceGetComputeRunningProcesses_v3)(dev(0), &n, p), NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(((unsigned char *)p)[0], 0x5a); /* nothing written on a short buffer */
  n = 4;
  ASSERT_EQ(N(f_procs, nvmlDeviceGetComputeRunningProcesses_v2)(dev(0), &n, p), NVML_SUCCESS);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(p[0].pid, FH_STATUS_PID0);
  ASSERT_U64_EQ(p[0].usedGpuMemory, 64ull << 20);
  ASSERT_EQ(p[1].pid, FH_STATUS_PID1);
  ASSERT_EQ(p[1].gpuInstanceId, 0xffffffffu);
  nvmlProcessInfo_v1_t p1[4];
  n = 4;
  ASSERT_EQ(N(f_procs1, nvmlDeviceGetComputeRunningProcesses)(dev(0), &n, p1), NVML_SUCCESS);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(p1[1].pid, FH_STATUS_PID1);
  ASSERT_U64_EQ(p1[1].usedGpuMemory, 32ull << 20);
  n = 4;
  ASSERT_EQ(N(f_procs, nvmlDeviceGetComputeRunningProcesses_v3)(dev(1), &n, p), NVML_SUCCESS);
  ASSERT_EQ(n, 0);
  n = 4;
  ASSERT_EQ(N(f_procs, nvmlDeviceGetGraphicsRunningProcesses_v3)(dev(0), &n, p), NVML_SUCCESS);
  ASSERT_EQ(n, 0);
  /* nvidia-smi's private lists (its export table): the same processes, in 0x1020-byte entries of
   * pid, memory and instance ids, then a name it requires (N/A for a pid this process cannot see). */
  static const unsigned char smi_id[16] = {0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e,
                                           0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4};
  typedef nvmlReturn_t (*f_table)(const void **, const void *);
  typedef nvmlReturn_t (*f_smi)(nvmlDevice_t, unsigned *, void *);
  const void *t = NULL;
  ASSERT_EQ(N(f_table, nvmlInternalGetExportTable)(&t, smi_id), NVML_SUCCESS);
  f_smi smi_compute = ((const f_smi *)t)[0x6a8 / 8], smi_graphics = ((const f_smi *)t)[0x6b0 / 8];
  unsigned char *e = calloc(4, 0x1020);
  ASSERT_TRUE(e != NULL);
  n = 1;
  ASSERT_EQ(smi_compute(dev(0), &n, e), NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(n, 2);
  n = 4;
  ASSERT_EQ(smi_compute(dev(0), &n, e), NVML_SUCCESS);
  ASSERT_EQ(n, 2);
  unsigned pid;
  unsigned long long used;
  memcpy(&pid, e + 0x1020, sizeof pid);
  memcpy(&used, e + 0x1020 + 8, sizeof used);
  ASSERT_EQ(pid, FH_STATUS_PID1);
  ASSERT_U64_EQ(used, 32ull << 20);
  ASSERT_TRUE(e[0x1020 + 32] != 0);
  n = 4;
  ASSERT_EQ(smi_graphics(dev(0), &n, e), NVML_SUCCESS);
  ASSERT_EQ(n, 0);
  free(e);
  /* All of that within the cache's lifetime: one round trip (a loaded machine may be slower). */
  int st = fh_get(&fh, 0).statuses;
  ASSERT_TRUE(st >= 1 && st <= 3);
  ASSERT_EQ(fh_get(&fh, 0).attaches, 0);
  /* Past the lifetime the next query asks again. */
  usleep(200 * 1000);
  ASSERT_EQ(N(f_dev_ptr, nvmlDeviceGetUtilizationRates)(dev(0), &u), NVML_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).statuses, st + 1);
}

TEST(nvml_status_not_asked_of_a_minor0_host) {
  static fakehost fh;
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(N(f_void, nvmlInit_v2)(), NVML_SUCCESS);
  nvmlMemory_t m;
  ASSERT_EQ(N(f_dev_ptr, nvmlDeviceGetMemoryInfo)(dev(0), &m), NVML_SUCCESS);
  ASSERT_U64_EQ(m.used, 0);
  unsigned n = 4;
  nvmlProcessInfo_t p[4];
  ASSERT_EQ(N(f_procs, nvmlDeviceGetComputeRunningProcesses_v3)(dev(0), &n, p), NVML_SUCCESS);
  ASSERT_EQ(n, 0);
  /* softgpu's synthetic idle board, as before minor 2 */
  nvmlUtilization_t u = {99, 99};
  ASSERT_EQ(N(f_dev_ptr, nvmlDeviceGetUtilizationRates)(dev(0), &u), NVML_SUCCESS);
  ASSERT_EQ(u.gpu + u.memory, 0);
  ASSERT_EQ(fh_get(&fh, 0).statuses, 0);
}
