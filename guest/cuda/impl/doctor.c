/*
 * The guest's doctor (doctor.h). Everything it checks is checked the way a program meets it: the
 * configuration as the library resolved it, the connection this process made (or failed to
 * make), and a kernel launched through the exported driver API.
 */
#include "vgcuda.h"

#include "conf.h"
#include "doctor.h"
#include "session.h"
#include "wire_status.h"

#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* vgpu-doctor and the report tell this library from NVIDIA's (or another) by this symbol. */
__attribute__((visibility("default"))) const char vgpu_guest_library[] = "vgpu guest libcuda.so.1";

#define KERNEL_THREADS 32u
#define KERNEL_ADD 1000u
#define ROUND_TRIPS 5

/* out[i] = i + 1000 for the 32 threads of one block; PTX so that any backend can run it. */
static const char k_ptx[] =
    ".version 6.0\n"
    ".target sm_52\n"
    ".address_size 64\n"
    ".visible .entry vgpu_doctor_fill(.param .u64 out)\n"
    "{\n"
    "  .reg .b32 %r<3>;\n"
    "  .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n"
    "  mov.u32 %r1, %tid.x;\n"
    "  add.u32 %r2, %r1, 1000;\n"
    "  mul.wide.u32 %rd3, %r1, 4;\n"
    "  add.u64 %rd2, %rd2, %rd3;\n"
    "  st.global.u32 [%rd2], %r2;\n"
    "  ret;\n"
    "}\n";

typedef struct report {
  int fd;
  int failed;
} report;

static void line(report *r, const char *state, const char *name, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void line(report *r, const char *state, const char *name, const char *fix, const char *fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  dprintf(r->fd, "%-4s  %-12s  %s\n", state, name, detail);
  if (fix) dprintf(r->fd, "%-4s  %-12s  fix: %s\n", "", "", fix);
  if (!strcmp(state, "fail")) r->failed++;
}

static const char *path_of(void *handle) {
  struct link_map *lm = NULL;
  if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm) return "?";
  return lm->l_name && *lm->l_name ? lm->l_name : "(the program itself)";
}

#define LOADER_FIX                                                                                   \
  "put vgpu's guest libraries first: LD_LIBRARY_PATH=DIR (vgpu-run does it), or guest/install.sh, " \
  "which registers PREFIX/lib/vgpu ahead of every other directory (ld.so.conf.d/00-vgpu.conf) and runs ldconfig"

static void check_loader(report *r) {
  Dl_info self;
  if (dladdr((void *)&vgpu_doctor_report, &self) && self.dli_fname)
    line(r, "ok", "libcuda", NULL, "%s (vgpu's)", self.dli_fname);
  void *h = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    line(r, "warn", "libnvidia-ml", LOADER_FIX, "the loader finds no libnvidia-ml.so.1 (%s): NVML users (nvidia-smi, PyTorch) see no GPU",
         e ? e : "?");
    return;
  }
  if (dlsym(h, "vgpu_guest_nvml_library"))
    line(r, "ok", "libnvidia-ml", NULL, "%s (vgpu's)", path_of(h));
  else
    line(r, "fail", "libnvidia-ml", LOADER_FIX, "the loader resolves libnvidia-ml.so.1 to %s, which is not vgpu's", path_of(h));
  dlclose(h);
}

static void check_symbols(report *r) {
  Dl_info self;
  void *h = NULL;
  if (dladdr((void *)&vgpu_doctor_report, &self) && self.dli_fname) h = dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (!h) {
    line(r, "fail", "symbols", "reinstall the guest libraries", "cannot open this library again to look its symbols up");
    return;
  }
  size_t missing = 0;
  char names[256] = "";
  for (size_t i = 0; i < vg_nvidia_export_count; i++) {
    if (dlsym(h, vg_nvidia_exports[i])) continue;
    if (missing++ < 4) {
      size_t n = strlen(names);
      snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", vg_nvidia_exports[i]);
    }
  }
  dlclose(h);
  if (missing == 0)
    line(r, "ok", "symbols", NULL, "all %zu functions NVIDIA's libcuda.so.1 exports are present", vg_nvidia_export_count);
  else
    line(r, "fail", "symbols", "install guest libraries built from one vgpu release ('make', then guest/install.sh)",
         "%zu of NVIDIA's %zu exports are missing: %s%s", missing, vg_nvidia_export_count, names, missing > 4 ? ", ..." : "");
}

#define SERVER_FIX                                                                                       \
  "set VGPU_SERVER (unix:/PATH, tcp:HOST:PORT, tls:HOST:PORT or vsock:PORT) or 'server = ...' in "      \
  "/etc/vgpu/guest.conf ($VGPU_CONFIG); guest/install.sh --server ADDR writes it"

/* Returns nonzero when a server is configured. */
static int check_config(report *r, const vg_conf *c) {
  const char *file = getenv("VGPU_CONFIG");
  if (!file || !*file) file = "/etc/vgpu/guest.conf";
  int readable = access(file, R_OK) == 0;
  if (c->problem[0])
    line(r, "warn", "config",
         readable ? "correct that line (docs/guest.md lists the keys)"
                  : "point VGPU_CONFIG at a readable guest.conf, or unset it (the environment variables alone will do)",
         "%s: %s", file, c->problem);
  if (!c->server[0]) {
    line(r, "fail", "config", SERVER_FIX, "no server configured (VGPU_SERVER unset; %s %s)", file,
         readable ? "names none" : "not readable or absent");
    return 0;
  }
  const char *env = getenv("VGPU_SERVER");
  line(r, "ok", "config", NULL, "server %s from %s; %s", c->server,
       env && !strcmp(env, c->server) ? "VGPU_SERVER" : file,
       c->token[0] ? "a token is set" : "no token (a Unix socket's default VM, or a vsock-bound VM)");
  return 1;
}

#define TOKEN_FIX                                                                                     \
  "set VGPU_TOKEN (or 'token = ...' in guest.conf) to the VM's token; on the host 'vgpu-admin vm "   \
  "token NAME --rotate' issues a new one (tokenless Unix-socket programs need the mediator's --default-vm)"

/* Returns nonzero when a session is up. */
static int check_session(report *r, const vg_conf *c) {
  vg_sess_status s = vg_session_connect();
  char why[512];
  uint32_t code = 0;
  vg_fail_stage st = vg_session_failure(why, sizeof why, &code);
  if (s == VG_SESS_OK || (s == VG_SESS_LOST && st == VG_FAIL_NONE)) {
    const vg_welcome *w = vg_session_welcome();
    line(r, "ok", "server", NULL, "%s answers (protocol %u.%u, %u device(s), driver %u)", c->server, w ? w->major : 0,
         w ? w->minor : 0, w ? w->count : 0, w ? w->driver_version : 0);
    line(r, "ok", "token", NULL, "accepted (session %llu)", w ? (unsigned long long)w->session : 0ull);
    if (s == VG_SESS_LOST)
      line(r, "fail", "session", "see the mediator's log for this session ('vgpu-admin session list' on the host)",
           "the connection was lost since");
    return s == VG_SESS_OK;
  }
  switch (st) {
  case VG_FAIL_CONFIG:
    line(r, "fail", "server", SERVER_FIX, "%s", why);
    break;
  case VG_FAIL_CONNECT:
    line(r, "fail", "server",
         "start the mediator on the host and make it listen there (--listen); check the address, and for tls: "
         "VGPU_TLS_PIN or VGPU_TLS_CA; VGPU_CONNECT_TIMEOUT_MS for a slow network",
         "cannot reach %s: %s", c->server, why);
    break;
  case VG_FAIL_HANDSHAKE:
    line(r, "ok", "server", NULL, "%s accepts connections", c->server);
    line(r, "fail", "handshake",
         "see the mediator's log; an overloaded host may need a longer VGPU_HANDSHAKE_TIMEOUT_MS; guest and host "
         "must come from compatible vgpu releases",
         "%s", why);
    break;
  case VG_FAIL_REFUSED:
    line(r, "ok", "server", NULL, "%s answers", c->server);
    if (code == VG_WIRE_STATUS_AUTH)
      line(r, "fail", "token", TOKEN_FIX, "%s", why);
    else
      line(r, "fail", "admission",
           "see 'vgpu-admin vm show NAME' and 'vgpu-admin pool list' on the host (pool full or without GPUs, VM disabled)",
           "token accepted, session refused: %s", why);
    break;
  case VG_FAIL_NONE:
  default:
    line(r, "fail", "server", "see the log with VGPU_LOG=debug", "no session (%s)", why[0] ? why : "reason unknown");
    break;
  }
  return 0;
}

static const char *err_name(CUresult e) {
  const char *n = NULL;
  return cuGetErrorName(e, &n) == CUDA_SUCCESS && n ? n : "unknown CUresult";
}

#define KERNEL_FIX "see the mediator's log for this session ('vgpu-admin session list' on the host); VGPU_LOG=debug traces each call"

static void check_kernel(report *r) {
  CUresult e;
  CUdevice dev;
  CUcontext ctx = NULL;
  CUmodule mod = NULL;
  CUfunction fn;
  CUdeviceptr buf = 0;
  const char *step = "cuInit";
  if ((e = cuInit(0)) != CUDA_SUCCESS) goto failed;
  step = "cuDeviceGet(0)";
  if ((e = cuDeviceGet(&dev, 0)) != CUDA_SUCCESS) {
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    line(r, "fail", "kernel", "unset CUDA_VISIBLE_DEVICES, or give the VM vGPUs on the host ('vgpu-admin vm show NAME')",
         "no visible device (%s; CUDA_VISIBLE_DEVICES=%s)", err_name(e), cvd ? cvd : "(unset)");
    return;
  }
  step = "cuCtxCreate";
  if ((e = cuCtxCreate_v2(&ctx, 0, dev)) != CUDA_SUCCESS) goto failed;
  step = "cuModuleLoadData";
  if ((e = cuModuleLoadData(&mod, k_ptx)) != CUDA_SUCCESS) goto failed;
  step = "cuModuleGetFunction";
  if ((e = cuModuleGetFunction(&fn, mod, "vgpu_doctor_fill")) != CUDA_SUCCESS) goto failed;
  step = "cuMemAlloc";
  if ((e = cuMemAlloc_v2(&buf, KERNEL_THREADS * sizeof(unsigned))) != CUDA_SUCCESS) goto failed;
  void *args[] = {&buf};
  step = "cuLaunchKernel";
  if ((e = cuLaunchKernel(fn, 1, 1, 1, KERNEL_THREADS, 1, 1, 0, NULL, args, NULL)) != CUDA_SUCCESS) goto failed;
  unsigned out[KERNEL_THREADS];
  step = "cuMemcpyDtoH";
  if ((e = cuMemcpyDtoH_v2(out, buf, sizeof out)) != CUDA_SUCCESS) goto failed;
  for (unsigned i = 0; i < KERNEL_THREADS; i++) {
    if (out[i] != i + KERNEL_ADD) {
      line(r, "fail", "kernel", KERNEL_FIX, "a kernel ran but wrote %u at %u (expected %u)", out[i], i, i + KERNEL_ADD);
      goto cleanup;
    }
  }
  line(r, "ok", "kernel", NULL, "a PTX kernel loaded, ran on device 0 and wrote the expected %u values", KERNEL_THREADS);
  /* The fastest of a few synchronous calls: the network and the host's dispatch, without queueing. */
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < ROUND_TRIPS; i++) {
    uint64_t t0 = vg_now_ns();
    step = "cuCtxSynchronize";
    if ((e = cuCtxSynchronize()) != CUDA_SUCCESS) goto failed;
    uint64_t dt = vg_now_ns() - t0;
    if (dt < best) best = dt;
  }
  line(r, "ok", "round trip", NULL, "%.0f us (the fastest of %d synchronous calls)", (double)best / 1e3, ROUND_TRIPS);
  goto cleanup;
failed:
  line(r, "fail", "kernel", KERNEL_FIX, "%s failed: %s", step, err_name(e));
cleanup:
  if (buf) (void)cuMemFree_v2(buf);
  if (mod) (void)cuModuleUnload(mod);
  if (ctx) (void)cuCtxDestroy_v2(ctx);
}

VG_EXPORT int vgpu_doctor_report(int fd) {
  report r = {.fd = fd, .failed = 0};
  check_loader(&r);
  check_symbols(&r);
  const vg_conf *c = vg_conf_get();
  if (check_config(&r, c) && check_session(&r, c)) check_kernel(&r);
  dprintf(fd, "%s\n", r.failed ? "vgpu guest check: problems found (each 'fail' line above has its fix)" : "vgpu guest check: no problem found");
  return r.failed;
}

void vg_doctor_at_init(void) {
  static int started;
  const char *v = getenv("VGPU_DOCTOR");
  if (!v || strcmp(v, "1") != 0) return;
  /* Once per process; the report's own cuInit comes back here and returns at once. */
  if (__atomic_exchange_n(&started, 1, __ATOMIC_ACQ_REL)) return;
  dprintf(STDERR_FILENO, "vgpu guest check (VGPU_DOCTOR=1), process %ld:\n", (long)getpid());
  (void)vgpu_doctor_report(STDERR_FILENO);
}
