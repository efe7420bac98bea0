/* The call runtime (rpc.h) directly: encodings, multi-frame replies, handles, latched errors,
 * and concurrent callers. */
#include "vgcuda.h"

#include "fakehost.h"
#include "handles.h"
#include "rpc.h"
#include "vgtest.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

static fakehost fh;

TEST(rpc_echo_across_reply_frames) {
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  void *stream = vg_handle_new(VG_H_STREAM, 0x4242, NULL);
  vg_call c;
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_SUCCESS);
  vg_put_u32(&c, 0xdeadbeef);
  vg_put_i32(&c, -5);
  vg_put_u64(&c, 0x0102030405060708ull);
  vg_put_f32(&c, 1.5f);
  vg_put_u8(&c, 7);
  vg_put_str(&c, "hello");
  vg_put_bytes(&c, "xyz", 3);
  vg_put_handle(&c, VG_H_STREAM, NULL, 1);
  vg_put_handle(&c, VG_H_STREAM, CU_STREAM_LEGACY, 0);
  vg_put_handle(&c, VG_H_STREAM, CU_STREAM_PER_THREAD, 0);
  vg_put_handle(&c, VG_H_STREAM, stream, 0);
  vg_put_u64(&c, 0x5000); /* read back as a new handle */
  vg_put_u64(&c, 0x5000); /* and again: the same handle */
  ASSERT_EQ(vg_call_invoke(&c), CUDA_SUCCESS);
  ASSERT_U64_EQ(vg_get_u32(&c), 0xdeadbeef);
  ASSERT_EQ(vg_get_i32(&c), -5);
  ASSERT_U64_EQ(vg_get_u64(&c), 0x0102030405060708ull);
  ASSERT_TRUE(vg_get_f32(&c) == 1.5f);
  ASSERT_EQ(vg_get_u8(&c), 7);
  char s[4];
  vg_get_str(&c, s, sizeof s);
  ASSERT_STR_EQ(s, "hel"); /* truncated to the buffer */
  char b[8];
  vg_get_bytes(&c, b, sizeof b);
  ASSERT_TRUE(!memcmp(b, "xyz", 3));
  ASSERT_U64_EQ(vg_get_u64(&c), 0);
  ASSERT_U64_EQ(vg_get_u64(&c), 1);
  ASSERT_U64_EQ(vg_get_u64(&c), 2);
  ASSERT_U64_EQ(vg_get_u64(&c), 0x4242);
  void *h1 = vg_get_new_handle(&c, VG_H_EVENT);
  void *h2 = vg_get_new_handle(&c, VG_H_EVENT);
  ASSERT_TRUE(h1 != NULL);
  ASSERT_PTR_EQ(h1, h2);
  ASSERT_EQ(vg_call_end(&c, CUDA_SUCCESS), CUDA_SUCCESS);
  uint64_t rid;
  ASSERT_EQ(vg_handle_get(h1, VG_H_EVENT, &rid, NULL), 0);
  ASSERT_U64_EQ(rid, 0x5000);
}

TEST(rpc_bad_handle_latched_nothing_sent) {
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  void *ev = vg_handle_new(VG_H_EVENT, 0x6000, NULL);
  vg_call c;
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_SUCCESS);
  vg_put_handle(&c, VG_H_STREAM, ev, 0); /* wrong kind */
  ASSERT_EQ(vg_call_end(&c, vg_call_invoke(&c)), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_SUCCESS);
  vg_put_handle(&c, VG_H_CONTEXT, NULL, 0);
  ASSERT_EQ(vg_call_end(&c, vg_call_invoke(&c)), CUDA_ERROR_INVALID_CONTEXT);
  char big[5000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_SUCCESS);
  vg_put_str(&c, big);
  ASSERT_EQ(vg_call_end(&c, vg_call_invoke(&c)), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(fh_get(&fh, 0).frames, 0);
}

TEST(rpc_outputs_beyond_reply_fail_session) {
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  vg_call c;
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_SUCCESS);
  vg_put_u32(&c, 1);
  ASSERT_EQ(vg_call_invoke(&c), CUDA_SUCCESS);
  (void)vg_get_u64(&c); /* only 4 bytes came back */
  ASSERT_EQ(vg_call_end(&c, CUDA_SUCCESS), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_ERROR_DEVICE_UNAVAILABLE);
}

TEST(rpc_unread_outputs_fail_session) {
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  vg_call c;
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_SUCCESS);
  vg_put_u32(&c, 1);
  ASSERT_EQ(vg_call_end(&c, vg_call_invoke(&c)), CUDA_ERROR_DEVICE_UNAVAILABLE);
}

static void *copier(void *arg) {
  uintptr_t k = (uintptr_t)arg;
  uint8_t src[3000], dst[3000];
  for (int round = 0; round < 50; round++) {
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i + k * 31 + (uintptr_t)round);
    CUdeviceptr at = FH_MEM_BASE + k * 4096;
    if (cuMemcpyHtoDAsync_v2(at, src, 1000, NULL) != CUDA_SUCCESS) return (void *)1;
    if (cuMemcpyHtoD_v2(at + 1000, src + 1000, 2000) != CUDA_SUCCESS) return (void *)2;
    if (cuMemcpyDtoH_v2(dst, at, sizeof dst) != CUDA_SUCCESS) return (void *)3;
    if (memcmp(src, dst, sizeof dst)) return (void *)4;
  }
  return NULL;
}

TEST(rpc_concurrent_callers_never_interleave) {
  fh_start(&fh, FH_NORMAL);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  pthread_t t[6];
  for (uintptr_t i = 0; i < 6; i++) pthread_create(&t[i], NULL, copier, (void *)i);
  for (int i = 0; i < 6; i++) {
    void *r;
    pthread_join(t[i], &r);
    ASSERT_PTR_EQ(r, NULL);
  }
  ASSERT_EQ(fh_get(&fh, 0).frames, 6 * 50 * 3);
  ASSERT_TRUE(fh_get(&fh, 0).ids_increasing);
}

/* Reads what is waiting in a non-blocking pipe (NUL-terminated). */
static const char *drain_pipe(int fd, char *buf, size_t cap) {
  ssize_t n = read(fd, buf, cap - 1);
  buf[n > 0 ? n : 0] = 0;
  return buf;
}

/* Notices (protocol minor 3): kernel output reaches this process's stdout and stderr before the
 * call returns, also from between the frames of a reply; unknown notices are skipped; a shutdown
 * notice that came before ATTACHED is logged with the grace time in seconds, rounded up. */
TEST(rpc_notices_reach_stdout_stderr_and_the_log) {
  fh_start(&fh, FH_NOTICES);
  int out[2], err[2];
  ASSERT_EQ(pipe(out), 0);
  ASSERT_EQ(pipe(err), 0);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  fflush(stdout);
  fflush(stderr);
  dup2(out[1], 1);
  dup2(err[1], 2);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  vg_call c;
  ASSERT_EQ(vg_call_begin(&c, FH_OP_ECHO_SPLIT, 0), CUDA_SUCCESS);
  vg_put_u64(&c, 0x0102030405060708ull);
  ASSERT_EQ(vg_call_invoke(&c), CUDA_SUCCESS);
  ASSERT_U64_EQ(vg_get_u64(&c), 0x0102030405060708ull);
  ASSERT_EQ(vg_call_end(&c, CUDA_SUCCESS), CUDA_SUCCESS);
  char o[256], e[1024];
  ASSERT_STR_EQ(drain_pipe(out[0], o, sizeof o), "kernel says hi\n");
  drain_pipe(err[0], e, sizeof e);
  ASSERT_TRUE(strstr(e, "the host is shutting down; 5 s to finish (maintenance)") != NULL);
  ASSERT_TRUE(strstr(e, "oops\n") != NULL);
  ASSERT_TRUE(strstr(e, "ignored") == NULL);
}
