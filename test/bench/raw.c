/*
 * Baselines for `make bench`, measured in the same run as the vgpu figures:
 *   raw pingpong-pair           the C<->C floor of a synchronous call: a 24-byte request and a
 *                               20-byte answer (the sizes of a cuCtxSynchronize CALL and its
 *                               REPLY) over a Unix socketpair between two C processes, with the
 *                               socket buffers vgpu asks for on both ends, 1,000 warm-up round
 *                               trips, then the mean of 50,000
 *   raw pingpong-connect PATH   16-byte ping-pong with a server listening on PATH (the Node echo
 *                               server in test/bench/main.ts: the same runtime as the executor)
 *   raw bandwidth-pair MIB      bulk transfer over a Unix socketpair, 4 MiB writes, one cold pass
 *                               with default socket buffers (kept for comparison with old figures)
 *   raw bandwidth-warm KIND MIB N   the socket floor vgpu is measured against: KIND unix (a
 *                               socketpair) or tcp (loopback), the 4 MiB socket buffers and 4 MiB
 *                               pieces vgpu uses (guest/common/impl/conn.c, CHUNK), one warm-up pass
 *                               and then the best of N passes of MIB, on one connection
 *   raw memcpy MIB              memcpy bandwidth
 * Each prints one JSON object.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* A frame header and a context id out, a frame header and a result back. */
#define CALL_LEN 24
#define REPLY_LEN 20

static double pingpong(int fd, int iters, size_t out, size_t back)
{
  uint8_t msg[CALL_LEN] = {1};
  for (int i = 0; i < 1000; i++) /* warm-up */
    if (full_io(fd, msg, out, 1) || full_io(fd, msg, back, 0)) return -1;
  double t0 = now_s();
  for (int i = 0; i < iters; i++)
    if (full_io(fd, msg, out, 1) || full_io(fd, msg, back, 0)) return -1;
  return (now_s() - t0) / iters * 1e6;
}

/* The buffers vgpu asks for on both ends of a guest connection. */
static void deepen(int fd)
{
  int sz = 4 << 20, one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A connected pair of the given kind: sv[0] stays here, sv[1] goes to the child. */
static int pair_of(const char *kind, int sv[2])
{
  if (!strcmp(kind, "unix")) return socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  if (strcmp(kind, "tcp")) return -1;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int sz = 4 << 20;
  /* The receive buffer must be set before the connection exists for TCP's window to use it. */
  (void)setsockopt(l, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al)) return -1;
  sv[1] = socket(AF_INET, SOCK_STREAM, 0);
  (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  if (sv[1] < 0 || connect(sv[1], (struct sockaddr *)&a, sizeof a)) return -1;
  sv[0] = accept(l, NULL, NULL);
  close(l);
  return sv[0] < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) return 2;
  const char *mode = argv[1];
  if (!strcmp(mode, "pingpong-pair")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
    deepen(sv[0]);
    deepen(sv[1]);
    pid_t pid = fork();
    if (pid == 0) {
      uint8_t m[CALL_LEN];
      close(sv[0]);
      while (full_io(sv[1], m, CALL_LEN, 0) == 0 && full_io(sv[1], m, REPLY_LEN, 1) == 0) {}
      _exit(0);
    }
    close(sv[1]);
    double us = pingpong(sv[0], 50000, CALL_LEN, REPLY_LEN);
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
    printf("{\"rtt_us\": %.3f}\n", pingpong(fd, 20000, 16, 16));
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
  if (!strcmp(mode, "bandwidth-warm") && argc > 4) {
    size_t total = (size_t)atoi(argv[3]) << 20, chunk = 4u << 20;
    int passes = atoi(argv[4]);
    int sv[2];
    if (passes < 1 || pair_of(argv[2], sv)) return 1;
    deepen(sv[0]);
    deepen(sv[1]);
    pid_t pid = fork();
    if (pid == 0) {
      uint8_t *b = malloc(chunk);
      memset(b, 1, chunk);
      close(sv[0]);
      for (int p = 0; p <= passes; p++)
        for (size_t s = 0; s < total; s += chunk) full_io(sv[1], b, chunk, 1);
      _exit(0);
    }
    close(sv[1]);
    uint8_t *b = malloc(total);
    memset(b, 0, total);
    double best = 1e9;
    for (int p = 0; p <= passes; p++) { /* pass 0 warms the socket, the pages and the caches */
      double t0 = now_s();
      if (full_io(sv[0], b, total, 0)) return 1;
      double dt = now_s() - t0;
      if (p > 0 && dt < best) best = dt;
    }
    waitpid(pid, NULL, 0);
    printf("{\"gbps\": %.3f}\n", total / best / 1e9);
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
