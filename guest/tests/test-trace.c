/* The VGPU_LOG=debug trace (guest/common/impl/log.h, trace.c): line format, argument formatting,
 * the cuGetProcAddress summary, and the shared level names with their VGPU_LOG_LEVEL alias. */
#include "vgtest.h"

#include <cuda.h>
#include <fcntl.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

/* Points the logger at a fresh file with level `level` and returns the file's path. */
static const char *log_to_file(const char *level) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/vgpu-test-trace-%d.log", (int)getpid());
  unlink(path);
  setenv("VGPU_CONFIG", "/dev/null", 1);
  unsetenv("VGPU_LOG_LEVEL");
  setenv("VGPU_LOG", level, 1);
  setenv("VGPU_LOG_FILE", path, 1);
  vg_conf_reset();
  vg_log_reset();
  return path;
}

static char *slurp(const char *path) {
  static char buf[8192];
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  buf[n < 0 ? 0 : n] = 0;
  return buf;
}

/* Nonzero when some line of text, after its `vgpu[PID] TIMESTAMP LEVEL: ` prefix, is exactly want
 * up to the duration (" N µs" at its end, N any number). */
static int has_call_line(const char *text, const char *want) {
  for (const char *l = text; *l;) {
    const char *end = strchr(l, '\n');
    size_t len = end ? (size_t)(end - l) : strlen(l);
    const char *body = strstr(l, " debug: ");
    if (body && body < l + len) {
      body += 8;
      size_t wl = strlen(want);
      const char *tail = body + wl;
      if (!strncmp(body, want, wl) && tail < l + len && *tail == ' ') {
        const char *p = tail + 1;
        while (*p >= '0' && *p <= '9') p++;
        if (p > tail + 1 && !strncmp(p, " \xc2\xb5s", 4) && p + 4 == l + len) return 1;
      }
    }
    if (!end) break;
    l = end + 1;
  }
  return 0;
}

TEST(trace_line_names_function_arguments_result_outputs_and_time) {
  const char *path = log_to_file("debug");
  vg_targs t;
  vg_targs_clear(&t);
  vg_targs_begin(&t);
  vg_targ(&t, 0, VG_TA_SIZE, "bytesize", 64ull << 20);
  vg_targ(&t, 0, VG_TA_SIZE, "odd", 1000);
  vg_targ(&t, 0, VG_TA_INT, "dev", (uint64_t)(int64_t)-1);
  vg_targ(&t, 0, VG_TA_HEX, "flags", 0x10);
  vg_targ(&t, 0, VG_TA_PTR, "hStream", 0);
  vg_targ_f32(&t, 0, "ratio", 0.5f);
  vg_targ(&t, 1, VG_TA_HEX, "dptr", 0x7f0000000000ull);
  vg_trace_call("cuMemAlloc_v2", CUDA_SUCCESS, vg_now_ns(), &t);
  vg_trace_call("cuCtxSynchronize", 2, vg_now_ns(), NULL);
  vg_trace_call("cuOdd", 123456, vg_now_ns(), NULL);
  const char *text = slurp(path);
  ASSERT_TRUE(has_call_line(text, "cuMemAlloc_v2(bytesize=64 MiB, odd=1000 B, dev=-1, flags=0x10, hStream=NULL, "
                                  "ratio=0.5) -> CUDA_SUCCESS {dptr=0x7f0000000000}"));
  ASSERT_TRUE(has_call_line(text, "cuCtxSynchronize -> CUDA_ERROR_OUT_OF_MEMORY"));
  ASSERT_TRUE(has_call_line(text, "cuOdd -> CUresult 123456"));
  unlink(path);
}

TEST(trace_lines_start_with_pid_and_a_utc_timestamp) {
  const char *path = log_to_file("info");
  vg_log(VG_LOG_INFO, "hello");
  char want[32];
  snprintf(want, sizeof want, "vgpu[%d] ", (int)getpid());
  const char *text = slurp(path);
  ASSERT_TRUE(!strncmp(text, want, strlen(want)));
  const char *ts = text + strlen(want);
  /* 2026-01-02T03:04:05.678Z */
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (size_t i = 0; i < sizeof shape - 1; i++) {
    if (shape[i] == 'd') ASSERT_TRUE(ts[i] >= '0' && ts[i] <= '9');
    else ASSERT_EQ(ts[i], shape[i]);
  }
  ASSERT_STR_EQ(ts + sizeof shape - 1, " info: hello\n");
  unlink(path);
}

TEST(trace_argument_text_is_cut_with_an_ellipsis_not_overrun) {
  vg_targs t;
  vg_targs_clear(&t);
  char name[40];
  for (int i = 0; i < 40; i++) {
    snprintf(name, sizeof name, "argument_number_%d", i);
    vg_targ(&t, 0, VG_TA_UINT, name, (uint64_t)i);
  }
  ASSERT_EQ(t.alen, sizeof t.args - 1);
  ASSERT_STR_EQ(t.args + sizeof t.args - 4, "...");
}

TEST(trace_lookups_collapse_into_one_summary_before_the_next_call) {
  const char *path = log_to_file("debug");
  for (int i = 0; i < 3; i++) vg_trace_lookup("cuGetProcAddress_v2", "cuInit", 12000, 0, 0, CUDA_SUCCESS, vg_now_ns());
  vg_trace_lookup("cuGetProcAddress_v2", "cuMemAlloc", 12000, 0, 0, CUDA_SUCCESS, vg_now_ns());
  vg_trace_lookup("cuGetProcAddress", "cuNoSuch", 12000, 0, 1, CUDA_ERROR_NOT_FOUND, vg_now_ns());
  vg_trace_lookup("cuGetProcAddress", "cuTooNew", 12000, 0, 2, CUDA_ERROR_NOT_FOUND, vg_now_ns());
  ASSERT_STR_EQ(slurp(path), ""); /* nothing yet: counted, not logged */
  vg_trace_call("cuInit", CUDA_SUCCESS, vg_now_ns(), NULL);
  vg_trace_call("cuDeviceGet", CUDA_SUCCESS, vg_now_ns(), NULL);
  const char *text = slurp(path);
  const char *sum = strstr(text, "debug: cuGetProcAddress: 6 lookups of 4 symbols in ");
  ASSERT_TRUE(sum != NULL);
  ASSERT_TRUE(strstr(sum, " \xc2\xb5s: 2 found, 1 not found (cuNoSuch), 1 version not sufficient (cuTooNew); "
                          "repeated: cuInit x3\n") != NULL);
  const char *call = strstr(text, "debug: cuInit -> CUDA_SUCCESS");
  ASSERT_TRUE(call != NULL && call > sum);
  ASSERT_TRUE(strstr(sum + strlen("debug: cuGetProcAddress:"), "cuGetProcAddress:") == NULL); /* printed once */
  unlink(path);
}

TEST(trace_level_logs_each_lookup_instead) {
  const char *path = log_to_file("TRACE");
  vg_trace_lookup("cuGetProcAddress_v2", "cuInit", 12000, 2, 0, CUDA_SUCCESS, vg_now_ns());
  vg_trace_flush();
  const char *text = slurp(path);
  ASSERT_TRUE(strstr(text, " trace: cuGetProcAddress_v2(symbol=cuInit, cudaVersion=12000, flags=0x2) -> CUDA_SUCCESS "
                           "(found) ") != NULL);
  ASSERT_TRUE(strstr(text, "lookups of") == NULL);
  unlink(path);
}

TEST(log_levels_are_the_hosts_names) {
  ASSERT_EQ(vg_log_parse_level("silent"), VG_LOG_SILENT);
  ASSERT_EQ(vg_log_parse_level("fatal"), VG_LOG_ERROR);
  ASSERT_EQ(vg_log_parse_level("error"), VG_LOG_ERROR);
  ASSERT_EQ(vg_log_parse_level("Warn"), VG_LOG_WARN);
  ASSERT_EQ(vg_log_parse_level("info"), VG_LOG_INFO);
  ASSERT_EQ(vg_log_parse_level("debug"), VG_LOG_DEBUG);
  ASSERT_EQ(vg_log_parse_level("trace"), VG_LOG_TRACE);
  ASSERT_EQ(vg_log_parse_level(""), VG_LOG_WARN);
  ASSERT_EQ(vg_log_parse_level("loud"), -2);
}

TEST(log_level_alias_VGPU_LOG_LEVEL_applies_when_VGPU_LOG_is_unset) {
  const char *path = log_to_file("debug");
  unsetenv("VGPU_LOG");
  setenv("VGPU_LOG_LEVEL", "silent", 1);
  vg_conf_reset();
  vg_log_reset();
  vg_log(VG_LOG_ERROR, "not shown");
  ASSERT_EQ(vg_log_enabled(VG_LOG_ERROR), 0);
  setenv("VGPU_LOG", "info", 1); /* VGPU_LOG wins over the alias */
  vg_conf_reset();
  vg_log_reset();
  ASSERT_EQ(vg_log_enabled(VG_LOG_INFO), 1);
  ASSERT_EQ(vg_log_enabled(VG_LOG_DEBUG), 0);
  ASSERT_STR_EQ(slurp(path), "");
  unlink(path);
}
