/*
 * libnvidia-ml.so.1 against the fake host, loaded with dlopen and resolved with dlsym as
 * nvidia-smi does, so what is tested is the exported ABI of the built library. It is the
 * sanitizer build (build/asan/libnvidia-ml.so.1, guest/nvml/nvml.mk), else the plain one, else
 * $VGPU_NVML_LIB; the tests run from the repository root.
 */
#include "fakehost.h"
#include "vgtest.h"
#include "wire.h"

#include "../nvml/impl/nvmltypes.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef nvmlReturn_t (*f_void)(void);
typedef nvmlReturn_t (*f_pu)(unsigned *);
typedef nvmlReturn_t (*f_pi)(int *);
typedef nvmlReturn_t (*f_str)(char *, unsigned);
typedef nvmlReturn_t (*f_by_index)(unsigned, nvmlDevice_t *);
typedef nvmlReturn_t (*f_by_str)(const char *, nvmlDevice_t *);
typedef nvmlReturn_t (*f_dev_str)(nvmlDevice_t, char *, unsigned);
typedef nvmlReturn_t (*f_dev_pu)(nvmlDevice_t, unsigned *);
typedef nvmlReturn_t (*f_dev_pi)(nvmlDevice_t, int *);
typedef nvmlReturn_t (*f_dev_pi2)(nvmlDevice_t, int *, int *);
typedef nvmlReturn_t (*f_dev_pu2)(nvmlDevice_t, unsigned *, unsigned *);
typedef nvmlReturn_t (*f_dev_int_pu)(nvmlDevice_t, int, unsigned *);
typedef nvmlReturn_t (*f_dev_ptr)(nvmlDevice_t, void *);
typedef nvmlReturn_t (*f_procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);
typedef nvmlReturn_t (*f_fields)(nvmlDevice_t, int, nvmlFieldValue_t *);
typedef nvmlReturn_t (*f_export)(const void **, const void *);
typedef nvmlReturn_t (*f_pname)(unsigned, char *, unsigned);
typedef const char *(*f_errstr)(nvmlReturn_t);

static void *lib;

static void *sym(const char *name) {
  if (!lib) {
    const char *env = getenv("VGPU_NVML_LIB");
    const char *paths[] = {env, "build/asan/libnvidia-ml.so.1", "build/guest/libnvidia-ml.so.1"};
    for (size_t i = 0; i < 3 && !lib; i++)
      if (paths[i] && access(paths[i], R_OK) == 0) lib = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) VGT_FAIL("libnvidia-ml.so.1 not built: run make -f Makefile -f guest/nvml/nvml.mk nvml (%s)", dlerror());
  }
  void *p = dlsym(lib, name);
  if (!p) VGT_FAIL("libnvidia-ml.so.1 does not export %s", name);
  return p;
}

#define F(type, name) ((type)sym(#name))

static fakehost fh;

static nvmlDevice_t dev_at(unsigned i) {
  nvmlDevice_t d = NULL;
  ASSERT_EQ(F(f_by_index, nvmlDeviceGetHandleByIndex_v2)(i, &d), NVML_SUCCESS);
  return d;
}

static void start(void) {
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(F(f_void, nvmlInit_v2)(), NVML_SUCCESS);
}

TEST(nvml_init_is_counted) {
  fh_start(&fh, FH_NORMAL);
  unsigned n = 99;
  ASSERT_EQ(F(f_pu, nvmlDeviceGetCount_v2)(&n), NVML_ERROR_UNINITIALIZED);
  ASSERT_EQ(F(f_void, nvmlInit)(), NVML_SUCCESS);
  ASSERT_EQ(((nvmlReturn_t(*)(unsigned))sym("nvmlInitWithFlags"))(0), NVML_SUCCESS);
  ASSERT_EQ(((nvmlReturn_t(*)(unsigned))sym("nvmlInitWithFlags"))(0x80), NVML_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(F(f_void, nvmlShutdown)(), NVML_SUCCESS);
  ASSERT_EQ(F(f_pu, nvmlDeviceGetCount)(&n), NVML_SUCCESS); /* one init still open */
  ASSERT_EQ(n, 2);
  ASSERT_EQ(F(f_void, nvmlShutdown)(), NVML_SUCCESS);
  ASSERT_EQ(F(f_pu, nvmlDeviceGetCount_v2)(&n), NVML_ERROR_UNINITIALIZED);
  ASSERT_EQ(F(f_void, nvmlShutdown)(), NVML_ERROR_UNINITIALIZED);
  ASSERT_EQ(F(f_void, nvmlInit_v2)(), NVML_SUCCESS); /* the session is reused */
  ASSERT_EQ(fh_nconn(&fh), 1);
}

TEST(nvml_debug_trace_names_results) {
  char path[] = "/tmp/vgpu-nvml-log-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  setenv("VGPU_LOG", "debug", 1);
  setenv("VGPU_LOG_FILE", path, 1);
  fh_start(&fh, FH_NORMAL);
  unsigned n = 99;
  ASSERT_EQ(F(f_pu, nvmlDeviceGetCount_v2)(&n), NVML_ERROR_UNINITIALIZED);
  char text[4096];
  ASSERT_TRUE(vgt_take_file(path, text, sizeof text));
  ASSERT_TRUE(strstr(text, " debug: nvml nvmlDeviceGetCount_v2 -> Uninitialized (1)\n") != NULL);
}

TEST(nvml_unreachable_host_is_driver_not_loaded) {
  fh_point_at_dead_socket();
  char v[80];
  /* The library's own version is known before (and without) a host. */
  ASSERT_EQ(F(f_str, nvmlSystemGetNVMLVersion)(v, sizeof v), NVML_SUCCESS);
  ASSERT_STR_EQ(v, "13.580.65.06");
  ASSERT_EQ(F(f_void, nvmlInit_v2)(), NVML_ERROR_DRIVER_NOT_LOADED);
  ASSERT_STR_EQ(F(f_errstr, nvmlErrorString)(NVML_ERROR_DRIVER_NOT_LOADED), "Driver Not Loaded");
  ASSERT_STR_EQ(F(f_errstr, nvmlErrorString)((nvmlReturn_t)12345), "Unknown Error");
}

TEST(nvml_identity_is_the_welcome_table) {
  start();
  unsigned n = 0;
  ASSERT_EQ(F(f_pu, nvmlDeviceGetCount_v2)(&n), NVML_SUCCESS);
  ASSERT_EQ(n, 2);
  char s[96];
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetName)(dev_at(1), s, sizeof s), NVML_SUCCESS);
  ASSERT_STR_EQ(s, "vgpu test device 1");
  /* The UUID is GPU- and the same 16 bytes cuDeviceGetUuid reports (fakehost: 0x10 + i). */
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetUUID)(dev_at(0), s, sizeof s), NVML_SUCCESS);
  ASSERT_STR_EQ(s, "GPU-10111213-1415-1617-1819-1a1b1c1d1e1f");
  nvmlDevice_t d = NULL;
  ASSERT_EQ(F(f_by_str, nvmlDeviceGetHandleByUUID)("GPU-20212223-2425-2627-2829-2A2B2C2D2E2F", &d), NVML_SUCCESS);
  ASSERT_PTR_EQ(d, dev_at(1));
  ASSERT_EQ(F(f_by_str, nvmlDeviceGetHandleByUUID)("GPU-20212223", &d), NVML_ERROR_NOT_FOUND);
  nvmlPciInfo_t p;
  memset(&p, 0x5a, sizeof p);
  ASSERT_EQ(F(f_dev_ptr, nvmlDeviceGetPciInfo_v3)(dev_at(1), &p), NVML_SUCCESS);
  ASSERT_STR_EQ(p.busId, "00000000:66:00.0");
  ASSERT_STR_EQ(p.busIdLegacy, "0000:66:00.0");
  ASSERT_EQ(p.bus, 0x66);
  ASSERT_EQ(p.pciDeviceId & 0xffff, 0x10de);
  /* The v1 struct is 52 bytes: nothing past it is written. */
  memset(&p, 0x5a, sizeof p);
  ASSERT_EQ(F(f_dev_ptr, nvmlDeviceGetPciInfo)(dev_at(0), &p), NVML_SUCCESS);
  ASSERT_EQ(((unsigned char *)&p)[NVML_PCI_INFO_V1_SIZE], 0x5a);
  ASSERT_STR_EQ(p.busIdLegacy, "0000:65:00.0");
  ASSERT_EQ(F(f_by_str, nvmlDeviceGetHandleByPciBusId_v2)("00000000:66:00.0", &d), NVML_SUCCESS);
  ASSERT_PTR_EQ(d, dev_at(1));
  ASSERT_EQ(F(f_by_str, nvmlDeviceGetHandleByPciBusId)("65:00.0", &d), NVML_SUCCESS);
  ASSERT_PTR_EQ(d, dev_at(0));
  ASSERT_EQ(F(f_by_str, nvmlDeviceGetHandleByPciBusId_v2)("0000:99:00.0", &d), NVML_ERROR_NOT_FOUND);
  ASSERT_EQ(F(f_by_str, nvmlDeviceGetHandleByPciBusId_v2)("nonsense", &d), NVML_ERROR_INVALID_ARGUMENT);
  nvmlMemory_t m;
  ASSERT_EQ(F(f_dev_ptr, nvmlDeviceGetMemoryInfo)(dev_at(1), &m), NVML_SUCCESS);
  ASSERT_U64_EQ(m.total, 16ull << 30);
  ASSERT_U64_EQ(m.free + m.used, m.total);
  nvmlMemory_v2_t m2 = {.version = 1};
  ASSERT_EQ(F(f_dev_ptr, nvmlDeviceGetMemoryInfo_v2)(dev_at(0), &m2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  m2.version = (unsigned)sizeof m2 | 2u << 24;
  ASSERT_EQ(F(f_dev_ptr, nvmlDeviceGetMemoryInfo_v2)(dev_at(0), &m2), NVML_SUCCESS);
  ASSERT_U64_EQ(m2.total, 8ull << 30);
  int ma = 0, mi = 0;
  ASSERT_EQ(F(f_dev_pi2, nvmlDeviceGetCudaComputeCapability)(dev_at(0), &ma, &mi), NVML_SUCCESS);
  ASSERT_EQ(ma * 10 + mi, 86);
  unsigned u = 0;
  ASSERT_EQ(F(f_dev_pu, nvmlDeviceGetArchitecture)(dev_at(0), &u), NVML_SUCCESS);
  ASSERT_EQ(u, NVML_DEVICE_ARCH_AMPERE);
  ASSERT_EQ(F(f_dev_pu, nvmlDeviceGetIndex)(dev_at(1), &u), NVML_SUCCESS);
  ASSERT_EQ(u, 1);
  unsigned cur = 9, pend = 9;
  ASSERT_EQ(F(f_dev_pu2, nvmlDeviceGetMigMode)(dev_at(0), &cur, &pend), NVML_SUCCESS);
  ASSERT_EQ(cur + pend, 0);
}

TEST(nvml_checks_handles_and_sizes) {
  start();
  char s[64];
  int local;
  nvmlDevice_t d;
  ASSERT_EQ(F(f_by_index, nvmlDeviceGetHandleByIndex_v2)(2, &d), NVML_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(F(f_by_index, nvmlDeviceGetHandleByIndex_v2)(0, NULL), NVML_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetName)((nvmlDevice_t)&local, s, sizeof s), NVML_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetName)(NULL, s, sizeof s), NVML_ERROR_INVALID_ARGUMENT);
  /* One past the last device, and a pointer into the middle of a handle. */
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetName)((nvmlDevice_t)((char *)dev_at(1) + 1), s, 64),
            NVML_ERROR_INVALID_ARGUMENT);
  char *one_past = (char *)dev_at(1) + ((char *)dev_at(1) - (char *)dev_at(0));
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetName)((nvmlDevice_t)one_past, s, sizeof s), NVML_ERROR_INVALID_ARGUMENT);
  memset(s, 'x', sizeof s);
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetName)(dev_at(0), s, 18), NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(s[0], 'x'); /* untouched */
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetName)(dev_at(0), s, 19), NVML_SUCCESS);
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetUUID)(dev_at(0), s, 40), NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetUUID)(dev_at(0), s, 41), NVML_SUCCESS);
  ASSERT_EQ(F(f_str, nvmlSystemGetDriverVersion)(s, 5), NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(F(f_dev_ptr, nvmlDeviceGetMemoryInfo)(dev_at(0), NULL), NVML_ERROR_INVALID_ARGUMENT);
}

TEST(nvml_versions_without_extension_use_the_compatible_branch) {
  start(); /* the fake host answers minor 0: no driver string */
  char s[80];
  ASSERT_EQ(F(f_str, nvmlSystemGetDriverVersion)(s, sizeof s), NVML_SUCCESS);
  ASSERT_STR_EQ(s, "580.65.06");
  ASSERT_EQ(F(f_str, nvmlSystemGetNVMLVersion)(s, sizeof s), NVML_SUCCESS);
  ASSERT_STR_EQ(s, "13.580.65.06");
  int v = 0;
  ASSERT_EQ(F(f_pi, nvmlSystemGetCudaDriverVersion_v2)(&v), NVML_SUCCESS);
  ASSERT_EQ(v, 13000);
  ASSERT_EQ(F(f_pname, nvmlSystemGetProcessName)((unsigned)getpid(), s, sizeof s), NVML_SUCCESS);
  ASSERT_TRUE(strstr(s, "guest-tests") != NULL);
  ASSERT_EQ(F(f_pname, nvmlSystemGetProcessName)((unsigned)getpid(), s, 4), NVML_SUCCESS);
  ASSERT_EQ(strlen(s), 3);
}

TEST(nvml_discovery_never_attaches) {
  start();
  char s[96];
  unsigned n, u;
  nvmlProcessInfo_t procs[4];
  F(f_pu, nvmlDeviceGetCount_v2)(&n);
  for (unsigned i = 0; i < n; i++) {
    F(f_dev_str, nvmlDeviceGetName)(dev_at(i), s, sizeof s);
    F(f_dev_pu, nvmlDeviceGetTemperature)(dev_at(i), &u);
    unsigned c = 4;
    ASSERT_EQ(F(f_procs, nvmlDeviceGetComputeRunningProcesses_v3)(dev_at(i), &c, procs), NVML_SUCCESS);
    ASSERT_EQ(c, 0);
  }
  F(f_void, nvmlShutdown)();
  usleep(50000);
  ASSERT_EQ(fh_nconn(&fh), 1);
  fh_conn_stats st = fh_get(&fh, 0);
  ASSERT_EQ(st.attaches, 0);
  ASSERT_EQ(st.frames, 0);
}

TEST(nvml_export_table_only_for_nvidia_smi) {
  start();
  static const unsigned char smi[16] = {0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e,
                                        0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4};
  unsigned char other[16];
  memcpy(other, smi, 16);
  other[15] ^= 1;
  const void *t = (const void *)1;
  f_export get = F(f_export, nvmlInternalGetExportTable);
  ASSERT_EQ(get(&t, other), NVML_ERROR_FUNCTION_NOT_FOUND);
  ASSERT_PTR_EQ(t, NULL);
  ASSERT_EQ(get(&t, smi), NVML_SUCCESS);
  /* The table's size covers nvidia-smi's three process lists (byte offsets 0x6a8, 0x6b0, 0x6b8,
   * board.c), its only entries: every other one is NULL, which nvidia-smi checks. */
  const void *const *slot = t;
  ASSERT_U64_EQ(*(const uint64_t *)t, 0x6c0);
  for (unsigned off = 8; off < 0x6c0; off += 8) ASSERT_EQ(slot[off / 8] != NULL, off >= 0x6a8);
  ASSERT_EQ(get(NULL, smi), NVML_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(get(&t, NULL), NVML_ERROR_INVALID_ARGUMENT);
}

TEST(nvml_softgpu_board_is_synthetic_and_fields_say_per_value) {
  start(); /* the fake host says softgpu (host flag 0) */
  unsigned u = 0, lo = 0, hi = 0;
  ASSERT_EQ(((nvmlReturn_t(*)(nvmlDevice_t, int, unsigned *))sym("nvmlDeviceGetTemperature"))(dev_at(0), 0, &u), NVML_SUCCESS);
  ASSERT_EQ(u, 35);
  ASSERT_EQ(((nvmlReturn_t(*)(nvmlDevice_t, int, unsigned *))sym("nvmlDeviceGetTemperature"))(dev_at(0), 7, &u),
            NVML_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(F(f_dev_pu, nvmlDeviceGetPowerUsage)(dev_at(0), &u), NVML_SUCCESS);
  ASSERT_EQ(u, 20000);
  ASSERT_EQ(F(f_dev_pu2, nvmlDeviceGetPowerManagementLimitConstraints)(dev_at(0), &lo, &hi), NVML_SUCCESS);
  ASSERT_TRUE(lo < hi);
  nvmlFieldValue_t fv[2] = {{.fieldId = 186}, {.fieldId = 1}};
  ASSERT_EQ(F(f_fields, nvmlDeviceGetFieldValues)(dev_at(0), 2, fv), NVML_SUCCESS);
  ASSERT_EQ(fv[0].nvmlReturn, NVML_SUCCESS);
  ASSERT_EQ(fv[0].value.uiVal, 20000);
  ASSERT_EQ(fv[1].nvmlReturn, NVML_ERROR_NOT_SUPPORTED);
  ASSERT_TRUE(fv[1].timestamp > 0);
  ASSERT_EQ(F(f_fields, nvmlDeviceGetFieldValues)(dev_at(0), 1, NULL), NVML_ERROR_INVALID_ARGUMENT);
  /* Functions this library does not implement say so. */
  ASSERT_EQ(F(f_dev_str, nvmlDeviceGetVbiosVersion)(dev_at(0), (char[32]){0}, 32), NVML_ERROR_NOT_SUPPORTED);
}

TEST(nvml_event_sets_time_out) {
  start();
  typedef nvmlReturn_t (*f_create)(void **);
  typedef nvmlReturn_t (*f_reg)(nvmlDevice_t, unsigned long long, void *);
  typedef nvmlReturn_t (*f_wait)(void *, void *, unsigned);
  typedef nvmlReturn_t (*f_free)(void *);
  void *set = NULL;
  unsigned long long types = 99;
  char data[64];
  ASSERT_EQ(F(f_create, nvmlEventSetCreate)(&set), NVML_SUCCESS);
  ASSERT_EQ(((nvmlReturn_t(*)(nvmlDevice_t, unsigned long long *))sym("nvmlDeviceGetSupportedEventTypes"))(dev_at(0), &types),
            NVML_SUCCESS);
  ASSERT_EQ(types, 0);
  ASSERT_EQ(F(f_reg, nvmlDeviceRegisterEvents)(dev_at(0), 8, set), NVML_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(F(f_wait, nvmlEventSetWait_v2)(set, data, 20), NVML_ERROR_TIMEOUT);
  ASSERT_EQ(F(f_free, nvmlEventSetFree)(set), NVML_SUCCESS);
  ASSERT_EQ(F(f_free, nvmlEventSetFree)(NULL), NVML_ERROR_INVALID_ARGUMENT);
}

/* ---- a host of protocol minor 1 on a real GPU: driver string extension, no softgpu flag ---- */

static char g_ext_path[108];

static void *ext_host(void *arg) {
  int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
  uint8_t hb[VG_FRAME_HDR_LEN], buf[4096];
  vg_frame_hdr h;
  if (fd < 0 || read(fd, hb, sizeof hb) != (ssize_t)sizeof hb || vg_wire_get_hdr(hb, &h) || h.len > sizeof buf ||
      read(fd, buf, h.len) != (ssize_t)h.len)
    return NULL;
  vg_hello hello;
  if (vg_hello_decode(buf, h.len, &hello) || hello.minor < 1) return NULL; /* the guest must say minor 1 */
  static int32_t attrs[80];
  for (int i = 0; i < 80; i++) attrs[i] = INT32_MIN;
  attrs[13] = 1980000; /* clock rate, kHz */
  attrs[75] = 9, attrs[76] = 0;
  vg_devrec d = {.name = "NVIDIA H100 80GB HBM3", .total_mem = 80ull << 30, .pci_bus = 0x1b, .nattr = 80, .attr = attrs};
  vg_welcome w = {.major = 1, .minor = 1, .host_flags = 0, .session = 5, .driver_version = 12080, .vm_name = "vm",
                  .count = 1, .dev = &d, .driver_string = "570.133.20"};
  vg_wr b;
  vg_wr_init(&b, VG_MAX_PAYLOAD);
  vg_wr_raw(&b, hb, sizeof hb);
  vg_welcome_encode(&b, &w);
  /* An entry of a later minor goes first: the guest must skip it. */
  /* The block is the last 20 bytes: u32 count, then tag 1 (u16), len 10 (u32), the string. */
  b.p[b.len - 20] = 2;
  b.len -= 16;
  vg_wr_u16(&b, 0x7f01), vg_wr_u32(&b, 2), vg_wr_raw(&b, "zz", 2);
  vg_wr_u16(&b, 1), vg_wr_u32(&b, 10), vg_wr_raw(&b, "570.133.20", 10);
  h = (vg_frame_hdr){.len = (uint32_t)(b.len - VG_FRAME_HDR_LEN), .type = VG_FT_WELCOME};
  vg_wire_put_hdr(b.p, &h);
  if (write(fd, b.p, b.len) != (ssize_t)b.len) return NULL;
  vg_wr_free(&b);
  while (read(fd, buf, sizeof buf) > 0) {
  }
  close(fd);
  return NULL;
}

static void start_ext_host(void) {
  snprintf(g_ext_path, sizeof g_ext_path, "/tmp/vgpu-nvml-test-%d.sock", (int)getpid());
  unlink(g_ext_path);
  static int lfd;
  lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  strcpy(sun.sun_path, g_ext_path);
  if (bind(lfd, (struct sockaddr *)&sun, sizeof sun) || listen(lfd, 1)) VGT_FAIL("cannot listen");
  char spec[128];
  snprintf(spec, sizeof spec, "unix:%s", g_ext_path);
  setenv("VGPU_SERVER", spec, 1);
  setenv("VGPU_CONFIG", "/dev/null", 1);
  pthread_t t;
  pthread_create(&t, NULL, ext_host, &lfd);
  pthread_detach(t);
}

TEST(nvml_real_gpu_host_with_driver_string_extension) {
  start_ext_host();
  ASSERT_EQ(F(f_void, nvmlInit_v2)(), NVML_SUCCESS);
  char s[80];
  ASSERT_EQ(F(f_str, nvmlSystemGetDriverVersion)(s, sizeof s), NVML_SUCCESS);
  ASSERT_STR_EQ(s, "570.133.20");
  ASSERT_EQ(F(f_str, nvmlSystemGetNVMLVersion)(s, sizeof s), NVML_SUCCESS);
  ASSERT_STR_EQ(s, "12.570.133.20");
  unsigned u = 0;
  /* Off softgpu, board values the host does not forward are "not supported", not invented... */
  ASSERT_EQ(((nvmlReturn_t(*)(nvmlDevice_t, int, unsigned *))sym("nvmlDeviceGetTemperature"))(dev_at(0), 0, &u),
            NVML_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(F(f_dev_pu, nvmlDeviceGetPowerUsage)(dev_at(0), &u), NVML_ERROR_NOT_SUPPORTED);
  nvmlFieldValue_t fv = {.fieldId = 186};
  ASSERT_EQ(F(f_fields, nvmlDeviceGetFieldValues)(dev_at(0), 1, &fv), NVML_SUCCESS);
  ASSERT_EQ(fv.nvmlReturn, NVML_ERROR_NOT_SUPPORTED);
  /* ...while what the device table knows is answered. */
  ASSERT_EQ(((f_dev_int_pu)sym("nvmlDeviceGetClockInfo"))(dev_at(0), NVML_CLOCK_SM, &u), NVML_SUCCESS);
  ASSERT_EQ(u, 1980);
  ASSERT_EQ(((f_dev_int_pu)sym("nvmlDeviceGetMaxClockInfo"))(dev_at(0), NVML_CLOCK_MEM, &u), NVML_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(F(f_dev_pu, nvmlDeviceGetArchitecture)(dev_at(0), &u), NVML_SUCCESS);
  ASSERT_EQ(u, NVML_DEVICE_ARCH_HOPPER);
  int cur, pend;
  ASSERT_EQ(F(f_dev_pi2, nvmlDeviceGetEccMode)(dev_at(0), &cur, &pend), NVML_ERROR_NOT_SUPPORTED);
  unlink(g_ext_path);
}
