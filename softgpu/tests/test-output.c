/* Kernel output (softgpu/api/output.c): device printf and assert text wait in their context's
 * FIFO until a flush point, are bounded by CU_LIMIT_PRINTF_FIFO_SIZE, and, once a host captures
 * them, wait for sg_softgpu_output_take instead of reaching the process's stdout. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sg_test_cu.h"

/* say(n): every thread prints "hi <n>\n"; with n >= 9 it then fails `assert(n < 9)` (k.cu:12). */
static const char SAY_PTX[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".extern .func (.param .b32 func_retval0) vprintf (.param .b64 vprintf_param_0, .param .b64 vprintf_param_1);\n"
    ".extern .func __assertfail (.param .b64 a0, .param .b64 a1, .param .b32 a2, .param .b64 a3, .param .b64 a4);\n"
    ".global .align 1 .b8 fmt[7] = {104, 105, 32, 37, 100, 10, 0};\n"
    ".global .align 1 .b8 cond[6] = {110, 32, 60, 32, 57, 0};\n"
    ".global .align 1 .b8 file[5] = {107, 46, 99, 117, 0};\n"
    ".global .align 1 .b8 func[4] = {115, 97, 121, 0};\n"
    ".visible .entry say(.param .u32 say_n)\n{\n"
    ".local .align 8 .b8 depot[8];\n.reg .pred %p<2>;\n.reg .b32 %r<4>;\n.reg .b64 %rd<9>;\n"
    "ld.param.u32 %r1, [say_n];\nmov.u64 %rd1, depot;\ncvta.local.u64 %rd2, %rd1;\nst.local.u32 [%rd1], %r1;\n"
    "mov.u64 %rd3, fmt;\ncvta.global.u64 %rd4, %rd3;\n"
    "{\n.param .b64 param0;\nst.param.b64 [param0+0], %rd4;\n.param .b64 param1;\nst.param.b64 [param1+0], %rd2;\n"
    ".param .b32 retval0;\ncall.uni (retval0), vprintf, (param0, param1);\nld.param.b32 %r2, [retval0+0];\n}\n"
    "setp.lt.s32 %p1, %r1, 9;\n@%p1 bra $DONE;\n"
    "mov.u64 %rd5, cond;\ncvta.global.u64 %rd5, %rd5;\nmov.u64 %rd6, file;\ncvta.global.u64 %rd6, %rd6;\n"
    "mov.u64 %rd7, func;\ncvta.global.u64 %rd7, %rd7;\nmov.u32 %r3, 12;\nmov.u64 %rd8, 1;\n"
    "{\n.param .b64 param0;\nst.param.b64 [param0+0], %rd5;\n.param .b64 param1;\nst.param.b64 [param1+0], %rd6;\n"
    ".param .b32 param2;\nst.param.b32 [param2+0], %r3;\n.param .b64 param3;\nst.param.b64 [param3+0], %rd7;\n"
    ".param .b64 param4;\nst.param.b64 [param4+0], %rd8;\n"
    "call.uni __assertfail, (param0, param1, param2, param3, param4);\n}\n"
    "$DONE:\nret;\n}\n";

static const char ASSERT_TEXT[] = "k.cu:12: say: block [0,0,0], thread [0,0,0] Assertion `n < 9` failed.\n";

/* The test's stdout, redirected into a pipe that can be read without blocking. */
typedef struct stdout_pipe {
  int saved, rd;
} stdout_pipe;

static stdout_pipe pipe_stdout(void) {
  int p[2];
  fflush(stdout);
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  stdout_pipe s = {dup(1), p[0]};
  dup2(p[1], 1);
  close(p[1]);
  return s;
}

/* What reached stdout since the last read (NUL-terminated in buf). */
static const char *printed(const stdout_pipe *s, char *buf, size_t cap) {
  fflush(stdout);
  ssize_t n = read(s->rd, buf, cap - 1);
  buf[n > 0 ? n : 0] = 0;
  return buf;
}

static void restore_stdout(stdout_pipe *s) {
  fflush(stdout);
  dup2(s->saved, 1);
  close(s->saved);
  close(s->rd);
}

static CUfunction say_fn(CUmodule *mod) {
  CUfunction f;
  ASSERT_CU_OK(cuModuleLoadData(mod, SAY_PTX));
  ASSERT_CU_OK(cuModuleGetFunction(&f, *mod, "say"));
  return f;
}

static CUresult say(CUfunction f, int n, unsigned threads, CUstream s) {
  void *args[] = {&n};
  return cuLaunchKernel(f, 1, 1, 1, threads, 1, 1, 0, s, args, NULL);
}

TEST(output_printed_at_synchronize_not_at_launch) {
  sg_test_setup();
  CUmodule m;
  CUfunction f = say_fn(&m);
  stdout_pipe out = pipe_stdout();
  char buf[256];
  ASSERT_CU_OK(say(f, 7, 3, NULL));
  ASSERT_CU_OK(say(f, 8, 1, NULL));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "");
  ASSERT_CU_OK(cuCtxSynchronize());
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 7\nhi 7\nhi 7\nhi 8\n");
  ASSERT_CU_OK(cuCtxSynchronize());
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "");
  restore_stdout(&out);
}

/* Each of CUDA's flush points prints; asynchronous calls and queries do not. */
TEST(output_flush_points) {
  CUcontext ctx = sg_test_setup();
  CUmodule m;
  CUfunction f = say_fn(&m);
  CUstream s;
  CUevent e;
  CUdeviceptr d;
  int h = 0;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuEventCreate(&e, 0));
  ASSERT_CU_OK(cuMemAlloc(&d, 4));
  stdout_pipe out = pipe_stdout();
  char buf[256];

  ASSERT_CU_OK(say(f, 1, 1, s));
  ASSERT_CU_OK(cuStreamQuery(s));
  ASSERT_CU_OK(cuMemcpyDtoHAsync(&h, d, 4, s));
  ASSERT_CU_OK(cuEventRecord(e, s));
  ASSERT_CU_OK(cuEventQuery(e));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "");
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 1\n");

  ASSERT_CU_OK(say(f, 2, 1, s));
  ASSERT_CU_OK(cuEventRecord(e, s));
  ASSERT_CU_OK(cuEventSynchronize(e));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 2\n");

  ASSERT_CU_OK(say(f, 3, 1, NULL));
  ASSERT_CU_OK(cuMemcpyDtoH(&h, d, 4));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 3\n");

  ASSERT_CU_OK(say(f, 4, 1, NULL));
  CUmodule m2;
  say_fn(&m2);
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 4\n");
  ASSERT_CU_OK(say(f, 5, 1, NULL));
  ASSERT_CU_OK(cuModuleUnload(m2));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 5\n");

  /* The primary context's reset destroys it: its last output is printed, not lost. */
  ASSERT_CU_OK(say(f, 6, 1, NULL));
  ASSERT_CU_OK(cuDevicePrimaryCtxReset(0));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 6\n");

  CUcontext own;
  ASSERT_CU_OK(cuCtxCreate_v2(&own, 0, 0));
  f = say_fn(&m);
  ASSERT_CU_OK(say(f, 7, 1, NULL));
  ASSERT_CU_OK(cuCtxDestroy(own));
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 7\n");
  restore_stdout(&out);
  (void)ctx;
}

/* A FIFO of 25 bytes holds two records of "hi 7\n" (5 bytes of header each): the rest of the
 * launch's output is dropped whole, and the next synchronisation starts an empty FIFO. */
TEST(output_fifo_limit_drops_whole_records) {
  sg_test_setup();
  ASSERT_CU_OK(cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, 25));
  CUmodule m;
  CUfunction f = say_fn(&m);
  stdout_pipe out = pipe_stdout();
  char buf[256];
  ASSERT_CU_OK(say(f, 7, 5, NULL));
  ASSERT_CU_OK(cuCtxSynchronize());
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 7\nhi 7\n");
  ASSERT_CU_OK(say(f, 8, 1, NULL));
  ASSERT_CU_OK(cuCtxSynchronize());
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "hi 8\n");
  restore_stdout(&out);
}

/* Captured output never reaches stdout: it waits for take, stream by stream, in order, in pieces
 * of the caller's size; a fault's assert message (stderr) follows what the kernel printed before,
 * and the synchronisation that reports the fault flushes both. */
TEST(output_capture_queues_for_take) {
  sg_test_setup();
  sg_softgpu_output_capture(1);
  CUmodule m;
  CUfunction f = say_fn(&m);
  stdout_pipe out = pipe_stdout();
  char buf[256];
  int fd = 0;
  ASSERT_CU_OK(say(f, 3, 2, NULL));
  ASSERT_EQ(sg_softgpu_output_take(&fd, buf, sizeof buf), (size_t)0);
  ASSERT_CU_OK(cuCtxSynchronize());
  size_t n = sg_softgpu_output_take(&fd, buf, sizeof buf);
  ASSERT_EQ(fd, 1);
  ASSERT_MEM_EQ(buf, "hi 3\nhi 3\n", 10);
  ASSERT_EQ(n, (size_t)10);
  ASSERT_EQ(sg_softgpu_output_take(&fd, buf, sizeof buf), (size_t)0);

  ASSERT_CU_OK(say(f, 5, 1, NULL));
  ASSERT_CU_OK(cuCtxSynchronize());
  ASSERT_EQ(sg_softgpu_output_take(&fd, buf, 2), (size_t)2);
  ASSERT_MEM_EQ(buf, "hi", 2);
  ASSERT_EQ(sg_softgpu_output_take(&fd, buf, sizeof buf), (size_t)3);
  ASSERT_MEM_EQ(buf, " 5\n", 3);

  ASSERT_CU(say(f, 9, 1, NULL), CUDA_ERROR_ASSERT);
  ASSERT_CU(cuCtxSynchronize(), CUDA_ERROR_ASSERT);
  ASSERT_EQ(sg_softgpu_output_take(&fd, buf, sizeof buf), (size_t)5);
  ASSERT_EQ(fd, 1);
  ASSERT_MEM_EQ(buf, "hi 9\n", 5);
  n = sg_softgpu_output_take(&fd, buf, sizeof buf);
  ASSERT_EQ(fd, 2);
  ASSERT_EQ(n, strlen(ASSERT_TEXT));
  ASSERT_MEM_EQ(buf, ASSERT_TEXT, n);
  ASSERT_EQ(sg_softgpu_output_take(&fd, buf, sizeof buf), (size_t)0);
  ASSERT_STR_EQ(printed(&out, buf, sizeof buf), "");
  restore_stdout(&out);
}
