/*
 * Abandoning kernel work (softgpu/api/cancel.c): a kernel that would run for hours stops when the
 * watched guest connection hangs up or the control socket says so, inside one endless loop or
 * between blocks; later launches fail at once; the record says what happened. The kernels count
 * the threads that started and finished in device memory, which (a device pointer being a host
 * address) a helper thread reads while the launch runs, so that it cancels a kernel known to be
 * running. No assertion is about time.
 */
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sg_test_cu.h"

/* Each thread adds one to *started, loops n times and adds one to *finished. */
static const char LOOP_PTX[] =
    ".version 7.0\n"
    ".target sm_80\n"
    ".address_size 64\n"
    ".visible .entry loop(.param .u64 started, .param .u64 finished, .param .u32 n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<6>;\n"
    "  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [started];\n"
    "  ld.param.u64 %rd2, [finished];\n"
    "  ld.param.u32 %r1, [n];\n"
    "  cvta.to.global.u64 %rd3, %rd1;\n"
    "  cvta.to.global.u64 %rd4, %rd2;\n"
    "  atom.global.add.u32 %r2, [%rd3], 1;\n"
    "  mov.u32 %r3, 0;\n"
    "$L_top:\n"
    "  add.u32 %r3, %r3, 1;\n"
    "  setp.lt.u32 %p1, %r3, %r1;\n"
    "  @%p1 bra $L_top;\n"
    "  atom.global.add.u32 %r4, [%rd4], 1;\n"
    "  ret;\n"
    "}\n";

typedef struct counters {
  CUfunction f;
  CUdeviceptr started, finished;
} counters;

static counters load(void) {
  counters k;
  CUmodule m;
  ASSERT_CU_OK(cuModuleLoadData(&m, LOOP_PTX));
  ASSERT_CU_OK(cuModuleGetFunction(&k.f, m, "loop"));
  ASSERT_CU_OK(cuMemAlloc(&k.started, 4));
  ASSERT_CU_OK(cuMemAlloc(&k.finished, 4));
  ASSERT_CU_OK(cuMemsetD32(k.started, 0, 1));
  ASSERT_CU_OK(cuMemsetD32(k.finished, 0, 1));
  return k;
}

static CUresult run(counters *k, unsigned blocks, unsigned threads, unsigned n) {
  void *args[] = {&k->started, &k->finished, &n};
  return cuLaunchKernel(k->f, blocks, 1, 1, threads, 1, 1, 0, NULL, args, NULL);
}

static uint32_t count(CUdeviceptr p) { return __atomic_load_n((uint32_t *)(uintptr_t)p, __ATOMIC_SEQ_CST); }

/* Once `at_least` threads of the kernel have started, closes or writes to `fd`. */
typedef struct trigger {
  CUdeviceptr started;
  uint32_t at_least;
  int fd;
  int write_byte;
} trigger;

static void *fire(void *arg) {
  trigger *t = arg;
  while (count(t->started) < t->at_least) poll(NULL, 0, 1);
  if (t->write_byte) {
    char b = 'x';
    if (write(t->fd, &b, 1) != 1) FAIL("write to the control socket failed");
  } else {
    close(t->fd);
  }
  return NULL;
}

static void stats(uint64_t out[4]) { ASSERT_EQ(sg_softgpu_cancel_stats(out), 0); }

TEST(cancel_guest_hangup_stops_an_endless_loop) {
  sg_test_setup();
  counters k = load();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(sg_softgpu_watch(sv[0], -1), 0);
  close(sv[0]); /* the watcher keeps its own */
  trigger t = {k.started, 1, sv[1], 0};
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, NULL, fire, &t), 0);
  /* One block of 32 threads, each looping 2^32-1 times: hours on a CPU. */
  ASSERT_CU(run(&k, 1, 32, 0xffffffffu), CUDA_ERROR_LAUNCH_TIMEOUT);
  pthread_join(th, NULL);
  ASSERT_EQ(count(k.finished), 0);
  uint64_t s[4];
  stats(s);
  ASSERT_EQ(s[0], 1);
  ASSERT_EQ(s[1], 1);
  ASSERT_EQ(s[2], 0);
  ASSERT_GT(s[3], 0); /* it was running when asked: how long it took is recorded */
  char msg[400];
  ASSERT_GT(sg_softgpu_last_error(msg, sizeof msg), 0);
  ASSERT_NOT_NULL(strstr(msg, "abandoned"));
  /* Abandoned work leaves the context as a faulting kernel would. */
  ASSERT_CU(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_TIMEOUT);
  ASSERT_EQ(sg_softgpu_watch(-1, -1), 0);
}

TEST(cancel_control_byte_stops_a_grid_between_blocks) {
  sg_test_setup();
  counters k = load();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(sg_softgpu_watch(-1, sv[0]), 0);
  trigger t = {k.started, 64, sv[1], 1};
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, NULL, fire, &t), 0);
  /* 2^20 short blocks: none loops long, the grid as a whole would take hours. */
  const unsigned blocks = 1u << 20, threads = 32;
  ASSERT_CU(run(&k, blocks, threads, 1000), CUDA_ERROR_LAUNCH_TIMEOUT);
  pthread_join(th, NULL);
  ASSERT_LT(count(k.started), blocks * threads);
  uint64_t s[4];
  stats(s);
  ASSERT_EQ(s[0], 1);
  ASSERT_EQ(s[1], 1);
  close(sv[0]);
  close(sv[1]);
  ASSERT_EQ(sg_softgpu_watch(-1, -1), 0);
}

TEST(cancel_refuses_later_launches_until_cleared) {
  sg_test_setup();
  counters k = load();
  ASSERT_EQ(sg_softgpu_cancel(1), 0);
  ASSERT_CU(run(&k, 1, 1, 1), CUDA_ERROR_LAUNCH_TIMEOUT);
  ASSERT_EQ(count(k.started), 0); /* refused before any block ran */
  uint64_t s[4];
  stats(s);
  ASSERT_EQ(s[1], 1);
  ASSERT_EQ(s[3], 0); /* nothing was running when asked */
  /* Cleared, launches run again (in a context of their own: the refused one is poisoned). */
  ASSERT_EQ(sg_softgpu_cancel(0), 0);
  CUcontext c;
  ASSERT_CU_OK(cuCtxCreate_v2(&c, 0, 0));
  counters k2 = load();
  ASSERT_CU_OK(run(&k2, 2, 32, 10));
  ASSERT_EQ(count(k2.finished), 64);
  stats(s);
  ASSERT_EQ(s[0], 0);
  ASSERT_EQ(s[1], 0);
}

TEST(cancel_watch_stopped_or_mediator_gone) {
  sg_test_setup();
  counters k = load();
  int sv[2];
  /* A watch that was stopped cancels nothing. */
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(sg_softgpu_watch(sv[0], -1), 0);
  ASSERT_EQ(sg_softgpu_watch(-1, -1), 0);
  close(sv[1]);
  ASSERT_CU_OK(run(&k, 1, 32, 10));
  uint64_t s[4];
  stats(s);
  ASSERT_EQ(s[0], 0);
  close(sv[0]);
  /* The control socket's other end closing (the mediator gone) cancels. */
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(sg_softgpu_watch(-1, sv[0]), 0);
  close(sv[1]);
  for (int i = 0; i < 60000; i++) {
    stats(s);
    if (s[0]) break;
    poll(NULL, 0, 1);
  }
  ASSERT_EQ(s[0], 1);
  ASSERT_CU(run(&k, 1, 32, 10), CUDA_ERROR_LAUNCH_TIMEOUT);
  ASSERT_EQ(sg_softgpu_watch(-1, -1), 0);
  close(sv[0]);
  ASSERT_EQ(sg_softgpu_watch(-2, -1), 0); /* negative: nothing to watch */
  ASSERT_EQ(sg_softgpu_watch(1 << 20, -1), -1); /* not a descriptor */
}
