/* The guest runtime against a fake host over a real unix socket: handshake, discovery from the
 * device table, hand-written calls, batching, failure modes and fork. */
#include "vgcuda.h"

#include "fakehost.h"
#include "log.h"
#include "vgtest.h"

#include <sys/wait.h>
#include <unistd.h>

static fakehost fh;

static void start(enum fh_mode mode) {
  fh_start(&fh, mode);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
}

TEST(session_dead_socket_no_device_fast) {
  fh_point_at_dead_socket();
  uint64_t t0 = vg_now_ns();
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE); /* remembered, no second attempt */
  ASSERT_TRUE(vg_now_ns() - t0 < 1000000000ull);
  int n = -1;
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
  int v = 0;
  ASSERT_EQ(cuDriverGetVersion(&v), CUDA_SUCCESS); /* still answers, from the library */
  ASSERT_EQ(v, CUDA_VERSION);
}

TEST(session_no_server_configured) {
  unsetenv("VGPU_SERVER");
  setenv("VGPU_CONFIG", "/dev/null", 1);
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
}

TEST(session_silent_host_times_out) {
  fh_start(&fh, FH_SILENT);
  setenv("VGPU_HANDSHAKE_TIMEOUT_MS", "300", 1);
  uint64_t t0 = vg_now_ns();
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  uint64_t dt = vg_now_ns() - t0;
  ASSERT_TRUE(dt >= 250000000ull && dt < 2000000000ull);
}

TEST(session_refused_handshake) {
  fh_start(&fh, FH_REFUSE);
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
}

TEST(session_discovery_from_welcome) {
  start(FH_NORMAL);
  ASSERT_EQ(cuInit(1), CUDA_ERROR_INVALID_VALUE);
  int n = 0, v = 0;
  ASSERT_EQ(cuDriverGetVersion(&v), CUDA_SUCCESS);
  ASSERT_EQ(v, 13000);
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_SUCCESS);
  ASSERT_EQ(n, 2);
  CUdevice d;
  ASSERT_EQ(cuDeviceGet(&d, 1), CUDA_SUCCESS);
  ASSERT_EQ(d, 1);
  ASSERT_EQ(cuDeviceGet(&d, 2), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_EQ(cuDeviceGet(NULL, 0), CUDA_ERROR_INVALID_VALUE);
  char name[64];
  ASSERT_EQ(cuDeviceGetName(name, sizeof name, 1), CUDA_SUCCESS);
  ASSERT_STR_EQ(name, "vgpu test device 1");
  ASSERT_EQ(cuDeviceGetName(name, 5, 0), CUDA_SUCCESS);
  ASSERT_STR_EQ(name, "vgpu");
  size_t mem = 0;
  ASSERT_EQ(cuDeviceTotalMem_v2(&mem, 1), CUDA_SUCCESS);
  ASSERT_U64_EQ(mem, 16ull << 30);
  unsigned int mem32 = 0;
  ASSERT_EQ(cuDeviceTotalMem(&mem32, 0), CUDA_SUCCESS);
  ASSERT_U64_EQ(mem32, 0xFFFFFFFFu);
  int a = 0;
  ASSERT_EQ(cuDeviceGetAttribute(&a, (CUdevice_attribute)10, 1), CUDA_SUCCESS);
  ASSERT_EQ(a, 71);
  ASSERT_EQ(cuDeviceGetAttribute(&a, (CUdevice_attribute)100, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuDeviceGetAttribute(&a, (CUdevice_attribute)150, 0), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuDeviceGetAttribute(&a, (CUdevice_attribute)1, 5), CUDA_ERROR_INVALID_DEVICE);
  int ma, mi;
  ASSERT_EQ(cuDeviceComputeCapability(&ma, &mi, 0), CUDA_SUCCESS);
  ASSERT_EQ(ma * 10 + mi, 86);
  CUuuid u;
  ASSERT_EQ(cuDeviceGetUuid_v2(&u, 1), CUDA_SUCCESS);
  ASSERT_EQ((unsigned char)u.bytes[0], 0x20);
  ASSERT_EQ(cuDeviceGetUuid(&u, 0), CUDA_SUCCESS);
  ASSERT_EQ((unsigned char)u.bytes[15], 0x1f);
  char bus[32];
  ASSERT_EQ(cuDeviceGetPCIBusId(bus, sizeof bus, 1), CUDA_SUCCESS);
  ASSERT_STR_EQ(bus, "0000:66:00.0");
  ASSERT_EQ(cuDeviceGetByPCIBusId(&d, "0000:66:00.0"), CUDA_SUCCESS);
  ASSERT_EQ(d, 1);
  ASSERT_EQ(cuDeviceGetByPCIBusId(&d, "65:00.0"), CUDA_SUCCESS);
  ASSERT_EQ(d, 0);
  ASSERT_EQ(cuDeviceGetByPCIBusId(&d, "0000:99:00.0"), CUDA_ERROR_INVALID_DEVICE);
  ASSERT_EQ(cuDeviceGetByPCIBusId(&d, "garbage"), CUDA_ERROR_INVALID_VALUE);
  CUdevprop p;
  ASSERT_EQ(cuDeviceGetProperties(&p, 0), CUDA_SUCCESS);
  ASSERT_EQ(p.maxThreadsPerBlock, 7);
  ASSERT_EQ(p.SIMDWidth, 70);
  ASSERT_EQ(fh_get(&fh, 0).frames, 0); /* discovery sent no CALL */
  ASSERT_EQ(fh_get(&fh, 0).attaches, 0); /* and asked for no executor */
}

TEST(session_visible_devices_renumber) {
  fh_start(&fh, FH_NORMAL);
  setenv("CUDA_VISIBLE_DEVICES", "1", 1);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  int n = 0;
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_SUCCESS);
  ASSERT_EQ(n, 1);
  char name[64];
  ASSERT_EQ(cuDeviceGetName(name, sizeof name, 0), CUDA_SUCCESS);
  ASSERT_STR_EQ(name, "vgpu test device 1");
}

TEST(session_visible_devices_none) {
  fh_start(&fh, FH_NORMAL);
  setenv("CUDA_VISIBLE_DEVICES", "-1", 1);
  ASSERT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
}

TEST(session_primary_context_lifecycle) {
  start(FH_NORMAL);
  CUcontext cur = (CUcontext)1, p1, p2;
  ASSERT_EQ(cuCtxGetCurrent(&cur), CUDA_SUCCESS);
  ASSERT_PTR_EQ(cur, NULL);
  CUdevice d;
  ASSERT_EQ(cuCtxGetDevice(&d), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&p1, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&p2, 0), CUDA_SUCCESS);
  ASSERT_PTR_EQ(p1, p2);
  ASSERT_EQ(fh_get(&fh, 0).retains, 1); /* only 0 -> 1 is sent */
  unsigned int fl;
  int active;
  ASSERT_EQ(cuDevicePrimaryCtxGetState(0, &fl, &active), CUDA_SUCCESS);
  ASSERT_EQ(active, 1);
  ASSERT_EQ(cuCtxSetCurrent(p1), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxGetDevice(&d), CUDA_SUCCESS);
  ASSERT_EQ(d, 0);
  ASSERT_EQ(cuCtxGetDevice_v2(&d, NULL), CUDA_SUCCESS);
  unsigned int ver = 0;
  ASSERT_EQ(cuCtxGetApiVersion(NULL, &ver), CUDA_SUCCESS);
  ASSERT_EQ(ver, 3020);
  /* CALLs now carry the primary context's remote id. */
  char buf[16] = "0123456789abcdef";
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, buf, 16), CUDA_SUCCESS);
  ASSERT_U64_EQ(fh_get(&fh, 0).last_ctx, 0x1001);
  ASSERT_EQ(cuDevicePrimaryCtxRelease_v2(0), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).releases, 0);
  ASSERT_EQ(cuDevicePrimaryCtxRelease(0), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).releases, 1);
  ASSERT_EQ(cuDevicePrimaryCtxRelease(0), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(cuDevicePrimaryCtxGetState(0, &fl, &active), CUDA_SUCCESS);
  ASSERT_EQ(active, 0);
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&p1, 7), CUDA_ERROR_INVALID_DEVICE);
}

TEST(session_primary_current_before_retain_and_reset) {
  start(FH_NORMAL);
  CUcontext p;
  /* cudart makes the primary context current before retaining it: the handle must already be
   * valid, and calls made meanwhile say that the current context is an inactive primary one. */
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&p, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuDevicePrimaryCtxReset_v2(1), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).resets, 1);
  ASSERT_EQ(cuCtxSetCurrent(p), CUDA_SUCCESS);
  char b[4] = {1, 2, 3, 4};
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, b, 4), CUDA_SUCCESS);
  ASSERT_U64_EQ(fh_get(&fh, 0).last_ctx, VG_CTX_INACTIVE_PRIMARY);
  CUcontext p2;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&p2, 1), CUDA_SUCCESS); /* reactivated after the reset */
  ASSERT_PTR_EQ(p2, p);
  ASSERT_EQ(fh_get(&fh, 0).retains, 2);
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, b, 4), CUDA_SUCCESS);
  ASSERT_U64_EQ(fh_get(&fh, 0).last_ctx, 0x1002);
  ASSERT_EQ(cuDevicePrimaryCtxSetFlags_v2(1, CU_CTX_SCHED_BLOCKING_SYNC), CUDA_SUCCESS);
  unsigned int fl = 0;
  ASSERT_EQ(cuCtxGetFlags(&fl), CUDA_SUCCESS);
  ASSERT_EQ(fl, CU_CTX_SCHED_BLOCKING_SYNC);
}

TEST(session_context_create_push_pop_destroy) {
  start(FH_NORMAL);
  CUcontext c1, c2, out;
  ASSERT_EQ(cuCtxCreate_v2(&c1, 0, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxGetCurrent(&out), CUDA_SUCCESS);
  ASSERT_PTR_EQ(out, c1);
  CUctxCreateParams params;
  memset(&params, 0, sizeof params);
  ASSERT_EQ(cuCtxCreate_v4(&c2, &params, CU_CTX_SCHED_SPIN, 1), CUDA_SUCCESS);
  CUdevice d;
  ASSERT_EQ(cuCtxGetDevice(&d), CUDA_SUCCESS);
  ASSERT_EQ(d, 1);
  unsigned int fl;
  ASSERT_EQ(cuCtxGetFlags(&fl), CUDA_SUCCESS);
  ASSERT_EQ(fl, CU_CTX_SCHED_SPIN);
  params.numExecAffinityParams = 1;
  ASSERT_EQ(cuCtxCreate_v4(&out, &params, 0, 0), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(cuCtxCreate_v3(&out, NULL, 0, 0, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxPopCurrent_v2(&out), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxPopCurrent_v2(&out), CUDA_SUCCESS);
  ASSERT_PTR_EQ(out, c2);
  ASSERT_EQ(cuCtxPopCurrent(&out), CUDA_SUCCESS);
  ASSERT_PTR_EQ(out, c1);
  ASSERT_EQ(cuCtxPopCurrent(&out), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(cuCtxPushCurrent_v2(c2), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxDestroy_v2(c2), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).destroys, 1);
  ASSERT_EQ(cuCtxGetCurrent(&out), CUDA_SUCCESS);
  ASSERT_PTR_EQ(out, NULL); /* destroyed context left the stack */
  ASSERT_EQ(cuCtxDestroy_v2(c2), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(cuCtxSetCurrent(c2), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(cuCtxPushCurrent(NULL), CUDA_ERROR_INVALID_CONTEXT);
  CUcontext prim;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&prim, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxDestroy(prim), CUDA_ERROR_INVALID_CONTEXT);
  ASSERT_EQ(fh_get(&fh, 0).creates, 3);
}

TEST(session_copy_data_sent_in_place_keeps_order_and_framing) {
  /* A piece's data of 64 KiB or more goes to the socket from the caller's memory, after the frame's
   * encoded head and after whatever fire-and-forget calls wait in the batch; a smaller last piece
   * is copied into the request as before. */
  start(FH_NORMAL);
  size_t n = 4u * 1024 * 1024 + 100;
  uint8_t *src = malloc(n), *dst = malloc(n), early[64];
  for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(i * 7 + 3);
  memset(early, 0xee, sizeof early);
  /* Queued in the batch (no reply), then overwritten by the in-place copy that follows it. */
  ASSERT_EQ(cuMemcpyHtoDAsync_v2(FH_MEM_BASE, early, sizeof early, NULL), CUDA_SUCCESS);
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, src, n), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).noreply_frames, 1);
  ASSERT_EQ(fh_get(&fh, 0).more_frames, 1); /* 4 MiB in place, then 100 bytes copied */
  memset(dst, 0, n);
  ASSERT_EQ(cuMemcpyDtoH_v2(dst, FH_MEM_BASE, n), CUDA_SUCCESS);
  ASSERT_TRUE(memcmp(src, dst, n) == 0);
  free(src);
  free(dst);
}

TEST(session_copies_chunked_and_streamed) {
  start(FH_NORMAL);
  __atomic_store_n(&fh.dtoh_frame_max, 100000u, __ATOMIC_RELAXED); /* force many MORE frames */
  size_t n = 10u * 1024 * 1024 + 123;
  uint8_t *src = malloc(n), *dst = malloc(n);
  for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(i * 131 + 7);
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE + 5, src, n), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).frames, 3);      /* 4 + 4 + 2 MiB */
  ASSERT_EQ(fh_get(&fh, 0).more_frames, 2);
  memset(dst, 0, n);
  ASSERT_EQ(cuMemcpyDtoH_v2(dst, FH_MEM_BASE + 5, n), CUDA_SUCCESS);
  ASSERT_TRUE(memcmp(src, dst, n) == 0);
  ASSERT_EQ(cuMemcpyDtoH_v2_ptds(dst, FH_MEM_BASE + FH_MEM_SIZE - 1, 2), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, NULL, 4), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuMemcpyDtoH_v2(dst, FH_MEM_BASE, 0), CUDA_SUCCESS);
  ASSERT_TRUE(fh_get(&fh, 0).ids_increasing);
  free(src);
  free(dst);
}

TEST(session_async_copies_batched_until_sync) {
  start(FH_NORMAL);
  uint8_t a[100], b[100];
  for (int i = 0; i < 100; i++) a[i] = (uint8_t)i;
  for (int i = 0; i < 10; i++) ASSERT_EQ(cuMemcpyHtoDAsync_v2(FH_MEM_BASE + 10u * (unsigned)i, a + 10 * i, 10, NULL), CUDA_SUCCESS);
  usleep(100000);
  ASSERT_EQ(fh_get(&fh, 0).frames, 0); /* still in the batch */
  ASSERT_EQ(cuMemcpyDtoHAsync_v2_ptsz(b, FH_MEM_BASE, 100, CU_STREAM_PER_THREAD), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).frames, 11);
  ASSERT_EQ(fh_get(&fh, 0).noreply_frames, 10);
  ASSERT_TRUE(memcmp(a, b, 100) == 0);
  ASSERT_EQ(cuMemcpyHtoDAsync_v2(FH_MEM_BASE, a, 10, (CUstream)(uintptr_t)0x0200000100000000ull),
            CUDA_ERROR_INVALID_HANDLE);
}

TEST(session_strict_sync_waits_for_every_call) {
  setenv("VGPU_STRICT_SYNC", "1", 1);
  start(FH_NORMAL);
  uint8_t a[10] = {0};
  ASSERT_EQ(cuMemcpyHtoDAsync_v2_ptsz(FH_MEM_BASE, a, 10, NULL), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).frames, 1);
  ASSERT_EQ(fh_get(&fh, 0).noreply_frames, 0);
  ASSERT_EQ(cuMemcpyHtoDAsync_v2(FH_MEM_BASE + FH_MEM_SIZE, a, 10, NULL), CUDA_ERROR_INVALID_VALUE);
}

TEST(session_lost_connection_is_sticky) {
  start(FH_DROP_ON_CALL);
  uint8_t a[4] = {0};
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_EQ(cuMemcpyDtoH_v2(a, FH_MEM_BASE, 4), CUDA_ERROR_DEVICE_UNAVAILABLE);
  int n = 0;
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_SUCCESS); /* local answers keep working */
  ASSERT_EQ(n, 2);
  ASSERT_EQ(fh_nconn(&fh), 1); /* no reconnection */
}

/* The host goes away in the middle of a reply: the call fails, the session is lost for good. */
TEST(session_reply_cut_by_the_host_is_device_unavailable) {
  start(FH_CUT_REPLY);
  CUcontext c;
  ASSERT_EQ(cuCtxCreate_v2(&c, 0, 0), CUDA_ERROR_DEVICE_UNAVAILABLE);
  uint8_t a[4] = {0};
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_EQ(fh_nconn(&fh), 1);
  ASSERT_EQ(fh_get(&fh, 0).frames, 1);
}

/* A host that stops answering, bounded by the limit `var`: the call fails, the session is lost
 * (no second ATTACH, no reconnection). */
static void host_stops_answering(const char *var, enum fh_mode mode) {
  setenv(var, "200", 1);
  start(mode);
  uint8_t a[4] = {0};
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_EQ(cuMemcpyDtoH_v2(a, FH_MEM_BASE, 4), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_EQ(fh_nconn(&fh), 1);
  ASSERT_EQ(fh_get(&fh, 0).attaches, 1);
}

TEST(session_host_silent_on_attach_times_out) {
  host_stops_answering("VGPU_ATTACH_TIMEOUT_MS", FH_HANG_ON_ATTACH);
  ASSERT_EQ(fh_get(&fh, 0).frames, 0);
}

TEST(session_host_silent_on_call_times_out_when_asked) {
  host_stops_answering("VGPU_CALL_TIMEOUT_MS", FH_HANG_ON_CALL);
  ASSERT_EQ(fh_get(&fh, 0).frames, 1);
}

TEST(session_call_timeout_spares_a_host_that_answers) {
  /* Far below the test's own run time: only a wait with no answer may trip it. */
  setenv("VGPU_CALL_TIMEOUT_MS", "1000", 1);
  start(FH_NORMAL);
  static uint8_t big[8u << 20], back[8u << 20];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 31);
  for (int k = 0; k < 4; k++) {
    ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, big, sizeof big), CUDA_SUCCESS);
    ASSERT_EQ(cuMemcpyDtoH_v2(back, FH_MEM_BASE, sizeof back), CUDA_SUCCESS);
  }
  ASSERT_EQ(memcmp(big, back, sizeof big), 0);
}

TEST(session_attach_once_before_first_call) {
  start(FH_NORMAL);
  uint8_t a[4] = {1, 2, 3, 4};
  ASSERT_EQ(fh_get(&fh, 0).attaches, 0);
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_SUCCESS);
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).attaches, 1);
  ASSERT_EQ(fh_get(&fh, 0).frames, 2);
}

TEST(session_attach_refused_is_device_unavailable) {
  start(FH_REFUSE_ATTACH);
  uint8_t a[4] = {0};
  CUcontext c;
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&c, 0), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_EQ(fh_get(&fh, 0).attaches, 1);
  int n = 0;
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_SUCCESS);
  ASSERT_EQ(n, 2);
}

TEST(session_malformed_reply_fails_session) {
  start(FH_BAD_REPLY_ID);
  uint8_t a[4] = {0};
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_ERROR_DEVICE_UNAVAILABLE);
  CUcontext c;
  ASSERT_EQ(cuCtxCreate_v2(&c, 0, 0), CUDA_ERROR_DEVICE_UNAVAILABLE);
}

TEST(session_fork_child_opens_its_own_session) {
  start(FH_NORMAL);
  uint8_t a[4] = {9, 9, 9, 9};
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_SUCCESS);
  /* Queue a fire-and-forget call so the child inherits a non-empty batch. */
  ASSERT_EQ(cuMemcpyHtoDAsync_v2(FH_MEM_BASE, a, 4, NULL), CUDA_SUCCESS);
  int parent_frames = fh_get(&fh, 0).frames;
  pid_t pid = fork();
  if (pid == 0) {
    uint8_t b[4] = {0};
    int ok = cuMemcpyDtoH_v2(b, FH_MEM_BASE, 4) == CUDA_SUCCESS && b[0] == 9;
    _exit(ok ? 0 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ASSERT_EQ(fh_nconn(&fh), 2);
  ASSERT_EQ(fh_get(&fh, 1).hello_pid, pid);
  ASSERT_EQ(fh_get(&fh, 1).frames, 1);              /* the child's batch was dropped */
  ASSERT_EQ(fh_get(&fh, 0).frames, parent_frames);  /* nothing written on the parent's socket */
  ASSERT_EQ(cuMemcpyDtoH_v2(a, FH_MEM_BASE, 4), CUDA_SUCCESS);
  ASSERT_EQ(fh_get(&fh, 0).frames, parent_frames + 2);
}

TEST(session_not_initialized_before_cuinit) {
  fh_start(&fh, FH_NORMAL);
  int n;
  CUcontext c;
  ASSERT_EQ(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
  ASSERT_EQ(cuCtxGetCurrent(&c), CUDA_ERROR_NOT_INITIALIZED);
  uint8_t a[4];
  ASSERT_EQ(cuMemcpyHtoD_v2(FH_MEM_BASE, a, 4), CUDA_ERROR_NOT_INITIALIZED);
  int v = 0;
  ASSERT_EQ(cuDriverGetVersion(&v), CUDA_SUCCESS); /* connects lazily, before cuInit */
  ASSERT_EQ(v, 13000);
  ASSERT_EQ(fh_nconn(&fh), 1);
}
