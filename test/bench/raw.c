/*
 * Baselines for `make bench`, measured in the same run as the vgpu figures:
 *   raw pingpong-pair           16-byte ping-pong over a Unix socketpair between two C processes
 *   raw pingpong-connect PATH   16-byte ping-pong with a server listening on PATH (the Node echo
 *                               server in test/bench/main.ts: the same runtime as the executor)
 *   raw bandwidth-pair MIB      bulk transfer over a Unix socketpair, 4 MiB writes
 *   raw memcpy MIB              memcpy bandwidth
 * Each prints one JSON object.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int full_io(int fd, void *p, size_t n, int wr)
{
  uint8_t *b = p;
  while (n) {
    ssize_t k = wr ? write(fd, b, n) : read(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

static double pingpong(int fd, int iters)
{
  uint8_t msg[16] = {1};
  for (int i = 0; i < 1000; i++) /* warm-up */
    if (full_io(fd, msg, 16, 1) || full_io(fd, msg, 16, 0)) return -1;
  double t0 = now_s();
  for (int i = 0; i < iters; i++)
    if (full_io(fd, msg, 16, 1) || full_io(fd, msg, 16, 0)) return -1;
  return (now_s() - t0) / iters * 1e6;
}

int main(int argc, char **argv)
{
  if (argc < 2) return 2;
  const char *mode = argv[1];
  if (!strcmp(mode, "pingpong-pair")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      uint8_t m[16];
      close(sv[0]);
      while (full_io(sv[1], m, 16, 0) == 0 && full_io(sv[1], m, 16, 1) == 0) {}
      _exit(0);
    }
    close(sv[1]);
    double us = pingpong(sv[0], 50000);
    close(sv[0]);
    waitpid(pid, NULL, 0);
    printf("{\"rtt_us\": %.3f}\n", us);
    return 0;
  }
  if (!strcmp(mode, "pingpong-connect") && argc > 2) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[2]);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) return 1;
    printf("{\"rtt_us\": %.3f}\n", pingpong(fd, 20000));
    return 0;
  }
  if (!strcmp(mode, "bandwidth-pair") && argc > 2) {
    size_t total = (size_t)atoi(argv[2]) << 20, chunk = 4u << 20;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      uint8_t *b = malloc(chunk);
      memset(b, 1, chunk);
      close(sv[0]);
      for (size_t s = 0; s < total; s += chunk) full_io(sv[1], b, chunk, 1);
      _exit(0);
    }
    close(sv[1]);
    uint8_t *b = malloc(chunk);
    double t0 = now_s();
    for (size_t s = 0; s < total; s += chunk) full_io(sv[0], b, chunk, 0);
    double dt = now_s() - t0;
    waitpid(pid, NULL, 0);
    printf("{\"gbps\": %.3f}\n", total / dt / 1e9);
    return 0;
  }
  if (!strcmp(mode, "memcpy") && argc > 2) {
    size_t n = (size_t)atoi(argv[2]) << 20;
    uint8_t *a = malloc(n), *b = malloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
      double t0 = now_s();
      memcpy(b, a, n);
      double dt = now_s() - t0;
      if (dt < best) best = dt;
    }
    printf("{\"gbps\": %.3f, \"check\": %d}\n", n / best / 1e9, b[n - 1]);
    return 0;
  }
  fprintf(stderr, "raw: unknown mode %s\n", mode);
  return 2;
}
