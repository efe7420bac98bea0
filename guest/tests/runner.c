/*
 * Runs every registered test in a forked child (so global library state starts fresh and a
 * crash fails one test, not the run), with a time limit per test.
 */
#include "vgtest.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 512
#define TEST_TIMEOUT_S 30

static struct {
  const char *name, *file;
  vgt_fn fn;
} g_tests[MAX_TESTS];
static int g_n;

void vgt_register(const char *name, vgt_fn fn, const char *file) {
  if (g_n == MAX_TESTS) {
    fprintf(stderr, "too many tests\n");
    abort();
  }
  g_tests[g_n].name = name;
  g_tests[g_n].fn = fn;
  g_tests[g_n].file = file;
  g_n++;
}

static int cmp(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  return strcmp(x, y);
}

int main(void) {
  const char *filter = getenv("VGPU_TEST_FILTER");
  int run = 0, failed = 0;
  qsort(g_tests, (size_t)g_n, sizeof g_tests[0], cmp);
  for (int i = 0; i < g_n; i++) {
    if (filter && *filter && !strstr(g_tests[i].name, filter)) continue;
    run++;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) {
      alarm(TEST_TIMEOUT_S);
      g_tests[i].fn();
      fflush(NULL);
      _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      printf("ok   %s\n", g_tests[i].name);
    } else {
      failed++;
      if (WIFSIGNALED(st))
        printf("FAIL %s (%s, signal %d)\n", g_tests[i].name, g_tests[i].file, WTERMSIG(st));
      else
        printf("FAIL %s (%s, exit %d)\n", g_tests[i].name, g_tests[i].file, WEXITSTATUS(st));
    }
  }
  printf("%d passed, %d failed\n", run - failed, failed);
  return failed ? 1 : 0;
}
