/*
 * Test runner for the registry in task.h. Each test runs in its own forked process so that a
 * crash, an abort from a sanitizer, a CUDA sticky error or any global state (current context,
 * allocations) stays inside that test. The parent only counts and reports.
 *
 * Environment: VGPU_TEST_FILTER=substr runs the tests whose name (or file) contains substr;
 * VGPU_TEST_TIMEOUT=seconds bounds each test (default 120). Arguments `-l` list the tests.
 * Output: one `ok`/`FAIL` line per test, then exactly `N passed, M failed`; exit 1 on any failure.
 */
#include "task.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct vg_test {
  const char *name;
  const char *file;
  int line;
  vg_test_fn fn;
} vg_test;

static vg_test *g_tests;
static size_t g_ntests, g_cap;

void vg_test_register(const char *name, const char *file, int line, vg_test_fn fn) {
  if (g_ntests == g_cap) {
    size_t cap = g_cap ? g_cap * 2 : 64;
    vg_test *t = realloc(g_tests, cap * sizeof *t);
    if (!t) {
      fputs("test registry: out of memory\n", stderr);
      abort();
    }
    g_tests = t;
    g_cap = cap;
  }
  g_tests[g_ntests++] = (vg_test){name, file, line, fn};
}

/* ---- assertion reporting (runs in the test's child process) ------------------------------- */

static const char *op_text(vg_op op) {
  switch (op) {
    case VG_OP_EQ: return "==";
    case VG_OP_NE: return "!=";
    case VG_OP_LT: return "<";
    case VG_OP_LE: return "<=";
    case VG_OP_GT: return ">";
    case VG_OP_GE: return ">=";
  }
  return "?";
}

static void print_val(FILE *f, vg_val v) {
  switch (v.kind) {
    case VG_VAL_SIGNED: fprintf(f, "%lld", v.i); break;
    case VG_VAL_UNSIGNED: fprintf(f, "%llu (0x%llx)", v.u, v.u); break;
    case VG_VAL_FLOAT: fprintf(f, "%.17Lg", v.f); break;
    case VG_VAL_POINTER: fprintf(f, "%p", v.p); break;
  }
}

/* -1, 0, 1 like memcmp; integers compare mathematically whatever their signedness. */
static int cmp_vals(vg_val a, vg_val b, int *comparable) {
  *comparable = 1;
  if (a.kind == VG_VAL_POINTER || b.kind == VG_VAL_POINTER) {
    uintptr_t x = a.kind == VG_VAL_POINTER ? (uintptr_t)a.p : (uintptr_t)(a.kind == VG_VAL_SIGNED ? (unsigned long long)a.i : a.u);
    uintptr_t y = b.kind == VG_VAL_POINTER ? (uintptr_t)b.p : (uintptr_t)(b.kind == VG_VAL_SIGNED ? (unsigned long long)b.i : b.u);
    return x < y ? -1 : x > y;
  }
  if (a.kind == VG_VAL_FLOAT || b.kind == VG_VAL_FLOAT) {
    long double x = a.kind == VG_VAL_FLOAT ? a.f : a.kind == VG_VAL_SIGNED ? (long double)a.i : (long double)a.u;
    long double y = b.kind == VG_VAL_FLOAT ? b.f : b.kind == VG_VAL_SIGNED ? (long double)b.i : (long double)b.u;
    if (x != x || y != y) *comparable = 0; /* NaN: every ordered comparison fails */
    return x < y ? -1 : x > y;
  }
  if (a.kind == VG_VAL_SIGNED && b.kind == VG_VAL_SIGNED) return a.i < b.i ? -1 : a.i > b.i;
  if (a.kind == VG_VAL_UNSIGNED && b.kind == VG_VAL_UNSIGNED) return a.u < b.u ? -1 : a.u > b.u;
  if (a.kind == VG_VAL_SIGNED) return a.i < 0 ? -1 : ((unsigned long long)a.i < b.u ? -1 : (unsigned long long)a.i > b.u);
  return b.i < 0 ? 1 : (a.u < (unsigned long long)b.i ? -1 : a.u > (unsigned long long)b.i);
}

__attribute__((noreturn)) static void fail_exit(void) {
  fflush(stdout);
  fflush(stderr);
  _exit(1);
}

void vg_test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "  %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fail_exit();
}

void vg_test_cmp(const char *file, int line, const char *ea, const char *eb, vg_op op, vg_val a, vg_val b) {
  int comparable;
  int c = cmp_vals(a, b, &comparable);
  int ok = 0;
  switch (op) {
    case VG_OP_EQ: ok = comparable && c == 0; break;
    case VG_OP_NE: ok = !comparable || c != 0; break;
    case VG_OP_LT: ok = comparable && c < 0; break;
    case VG_OP_LE: ok = comparable && c <= 0; break;
    case VG_OP_GT: ok = comparable && c > 0; break;
    case VG_OP_GE: ok = comparable && c >= 0; break;
  }
  if (ok) return;
  fprintf(stderr, "  %s:%d: assertion failed: %s %s %s\n    left:  ", file, line, ea, op_text(op), eb);
  print_val(stderr, a);
  fputs("\n    right: ", stderr);
  print_val(stderr, b);
  fputc('\n', stderr);
  fail_exit();
}

void vg_test_true(const char *file, int line, const char *expr, int value, int expected) {
  if (value == expected) return;
  fprintf(stderr, "  %s:%d: expected %s to be %s\n", file, line, expr, expected ? "true" : "false");
  fail_exit();
}

void vg_test_str_eq(const char *file, int line, const char *ea, const char *eb, const char *a, const char *b) {
  if (a && b && strcmp(a, b) == 0) return;
  if (!a && !b) return;
  fprintf(stderr, "  %s:%d: assertion failed: %s == %s\n    left:  %s%s%s\n    right: %s%s%s\n", file, line, ea, eb,
          a ? "\"" : "", a ? a : "NULL", a ? "\"" : "", b ? "\"" : "", b ? b : "NULL", b ? "\"" : "");
  fail_exit();
}

static void hex_window(const unsigned char *p, size_t n, size_t at) {
  size_t from = at > 8 ? at - 8 : 0;
  size_t to = at + 8 < n ? at + 8 : n;
  for (size_t i = from; i < to; i++) fprintf(stderr, i == at ? "[%02x]" : " %02x", p[i]);
  fputc('\n', stderr);
}

void vg_test_mem_eq(const char *file, int line, const char *ea, const char *eb, const void *a, const void *b,
                    size_t n) {
  if (!a || !b) {
    if (a == b) return;
    vg_test_fail(file, line, "assertion failed: %s == %s over %zu bytes: %s is NULL", ea, eb, n, a ? eb : ea);
  }
  const unsigned char *x = a, *y = b;
  size_t i = 0;
  while (i < n && x[i] == y[i]) i++;
  if (i == n) return;
  fprintf(stderr, "  %s:%d: assertion failed: %s == %s over %zu bytes; first difference at offset %zu\n    left: ",
          file, line, ea, eb, n, i);
  hex_window(x, n, i);
  fputs("    right:", stderr);
  hex_window(y, n, i);
  fail_exit();
}

/* ---- running -------------------------------------------------------------------------------- */

static int by_file_then_line(const void *pa, const void *pb) {
  const vg_test *a = pa, *b = pb;
  int c = strcmp(a->file, b->file);
  return c ? c : (a->line > b->line) - (a->line < b->line);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned timeout_seconds(void) {
  const char *s = getenv("VGPU_TEST_TIMEOUT");
  if (!s || !*s) return 120;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v == 0 || v > 86400) return 120;
  return (unsigned)v;
}

/* Returns 1 when the test passed; describes the failure in why otherwise. */
static int run_one(const vg_test *t, unsigned timeout, char *why, size_t whylen) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(why, whylen, "fork: %s", strerror(errno));
    return 0;
  }
  if (pid == 0) {
    alarm(timeout);
    t->fn();
    fflush(stdout);
    fflush(stderr);
    _exit(0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) {
      snprintf(why, whylen, "waitpid: %s", strerror(errno));
      return 0;
    }
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 1;
  if (WIFEXITED(st))
    snprintf(why, whylen, "exit status %d", WEXITSTATUS(st));
  else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
    snprintf(why, whylen, "timed out after %us", timeout);
  else if (WIFSIGNALED(st))
    snprintf(why, whylen, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    snprintf(why, whylen, "unexpected wait status 0x%x", st);
  return 0;
}

int main(int argc, char **argv) {
  int list_only = argc > 1 && strcmp(argv[1], "-l") == 0;
  const char *filter = getenv("VGPU_TEST_FILTER");
  if (filter && !*filter) filter = NULL;
  unsigned timeout = timeout_seconds();

  if (g_ntests) qsort(g_tests, g_ntests, sizeof *g_tests, by_file_then_line);
  setvbuf(stdout, NULL, _IOLBF, 0);

  unsigned passed = 0, failed = 0;
  for (size_t i = 0; i < g_ntests; i++) {
    const vg_test *t = &g_tests[i];
    if (filter && !strstr(t->name, filter) && !strstr(t->file, filter)) continue;
    if (list_only) {
      printf("%s (%s:%d)\n", t->name, t->file, t->line);
      continue;
    }
    char why[160];
    double t0 = now_ms();
    if (run_one(t, timeout, why, sizeof why)) {
      passed++;
      printf("ok   %s (%.0f ms)\n", t->name, now_ms() - t0);
    } else {
      failed++;
      printf("FAIL %s (%s:%d): %s\n", t->name, t->file, t->line, why);
    }
  }
  if (list_only) return 0;
  printf("%u passed, %u failed\n", passed, failed);
  return failed ? 1 : 0;
}
