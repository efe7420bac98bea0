/*
 * One write(2) per line so lines of concurrent threads and processes sharing a log file do not
 * interleave mid-line.
 */
#include "log.h"

#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_log_ready;
static int g_level = VG_LOG_WARN;
static int g_fd = 2;
static int g_own_fd;

int vg_log_parse_level(const char *s) {
  if (!s || !*s) return VG_LOG_WARN;
  if (!strcasecmp(s, "silent")) return VG_LOG_SILENT;
  if (!strcasecmp(s, "fatal") || !strcasecmp(s, "error")) return VG_LOG_ERROR;
  if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning")) return VG_LOG_WARN;
  if (!strcasecmp(s, "info")) return VG_LOG_INFO;
  if (!strcasecmp(s, "debug")) return VG_LOG_DEBUG;
  if (!strcasecmp(s, "trace")) return VG_LOG_TRACE;
  return -2;
}

static void setup(void) {
  pthread_mutex_lock(&g_log_lock);
  if (!g_log_ready) {
    const vg_conf *c = vg_conf_get();
    int lv = vg_log_parse_level(c->log);
    g_level = lv == -2 ? VG_LOG_WARN : lv;
    g_fd = 2;
    if (c->log_file[0]) {
      int fd = open(c->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) {
        g_fd = fd;
        g_own_fd = 1;
      }
    }
    __atomic_store_n(&g_log_ready, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g_log_lock);
    /* Report configuration problems once, through the logger just configured. */
    if (lv == -2)
      vg_log(VG_LOG_WARN, "unknown log level VGPU_LOG=%s (use silent, fatal, error, warn, info, debug or trace)", c->log);
    if (c->problem[0]) vg_log(VG_LOG_WARN, "configuration: %s", c->problem);
    if (c->log_file[0] && g_fd == 2)
      vg_log(VG_LOG_WARN, "cannot open log file %s; logging to stderr", c->log_file);
    return;
  }
  pthread_mutex_unlock(&g_log_lock);
}

static inline void ensure(void) {
  if (!__atomic_load_n(&g_log_ready, __ATOMIC_ACQUIRE)) setup();
}

int vg_log_enabled(int level) {
  ensure();
  return level <= g_level;
}

static const char *level_name(int level) {
  static const char *names[] = {"error", "warn", "info", "debug", "trace"};
  return level >= 0 && level <= VG_LOG_TRACE ? names[level] : "?";
}

/* `vgpu[PID] 2026-01-02T03:04:05.678Z LEVEL: `; UTC, as the host's logs and the CLI's tables. */
static int line_prefix(char *line, size_t cap, int level) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  return snprintf(line, cap, "vgpu[%d] %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", (int)getpid(), tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, level_name(level));
}

static void vlog(int level, const char *fmt, va_list ap) {
  char line[1024];
  int n = line_prefix(line, sizeof line, level);
  if (n < 0 || (size_t)n >= sizeof line) return;
  int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  for (size_t off = 0; off < len;) {
    ssize_t w = write(g_fd, line + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
}

void vg_log(int level, const char *fmt, ...) {
  if (!vg_log_enabled(level)) return;
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

void vg_log_once(int *once, int level, const char *fmt, ...) {
  if (__atomic_exchange_n(once, 1, __ATOMIC_ACQ_REL)) return;
  if (!vg_log_enabled(level)) return;
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

uint64_t vg_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vg_log_reset(void) {
  pthread_mutex_lock(&g_log_lock);
  if (g_own_fd) close(g_fd);
  g_fd = 2;
  g_own_fd = 0;
  __atomic_store_n(&g_log_ready, 0, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&g_log_lock);
}
