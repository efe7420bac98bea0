/*
 * src/native/relay.c over Unix socketpairs (the AF_VSOCK side of vgpu-vsock-listen is never
 * opened on the machines that run the tests): both directions at once without deadlock, the bytes
 * intact, a half-close passed on, and a broken side ending the relay with an error.
 */
#include "relay.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#define BULK (8u * 1024u * 1024u)

struct relay_arg { int a, b, result; };
static void *relay_main(void *p) {
  struct relay_arg *r = p;
  r->result = vg_relay(r->a, r->b);
  return NULL;
}

struct writer { int fd; unsigned seed; size_t n; int ok; };
static void *write_main(void *p) {
  struct writer *w = p;
  unsigned char buf[65536];
  size_t done = 0;
  w->ok = 1;
  while (done < w->n) {
    size_t k = w->n - done < sizeof buf ? w->n - done : sizeof buf;
    for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)((done + i) * 131u + w->seed);
    ssize_t n = write(w->fd, buf, k);
    if (n <= 0) {
      w->ok = 0;
      return NULL;
    }
    done += (size_t)n;
  }
  shutdown(w->fd, SHUT_WR);
  return NULL;
}

/* Reads until EOF; 1 if exactly n bytes of the writer's pattern came. */
static int read_all(int fd, unsigned seed, size_t n) {
  unsigned char buf[65536];
  size_t got = 0;
  int good = 1;
  for (;;) {
    ssize_t k = read(fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    for (ssize_t i = 0; i < k; i++)
      if (buf[i] != (unsigned char)((got + (size_t)i) * 131u + seed)) good = 0;
    got += (size_t)k;
  }
  return good && got == n;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* the broken-side case writes into a closed relay */
  int x[2], y[2];
  /* x[0] and y[0] are the outside ends (guest, mediator); x[1] and y[1] are relayed. */
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, x) || socketpair(AF_UNIX, SOCK_STREAM, 0, y)) return 1;
  struct relay_arg r = {.a = x[1], .b = y[1]};
  pthread_t rt, w1, w2;
  pthread_create(&rt, NULL, relay_main, &r);
  struct writer wx = {.fd = x[0], .seed = 7, .n = BULK}, wy = {.fd = y[0], .seed = 11, .n = BULK / 2 + 12345};
  /* Both directions at once: each side writes far more than the socket buffers hold before it reads. */
  pthread_create(&w1, NULL, write_main, &wx);
  pthread_create(&w2, NULL, write_main, &wy);
  CHECK("guest -> mediator bytes intact, then EOF", read_all(y[0], 7, BULK));
  CHECK("mediator -> guest bytes intact, then EOF", read_all(x[0], 11, BULK / 2 + 12345));
  pthread_join(w1, NULL);
  pthread_join(w2, NULL);
  CHECK("writers finished", wx.ok && wy.ok);
  pthread_join(rt, NULL);
  CHECK("relay ends with 0 once both sides closed for writing", r.result == 0);
  for (int i = 0; i < 2; i++) close(x[i]), close(y[i]);

  /* Half-close: the guest stops writing and still reads the answer. */
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, x) || socketpair(AF_UNIX, SOCK_STREAM, 0, y)) return 1;
  r = (struct relay_arg){.a = x[1], .b = y[1]};
  pthread_create(&rt, NULL, relay_main, &r);
  CHECK("request written", write(x[0], "ping", 4) == 4);
  shutdown(x[0], SHUT_WR);
  char buf[8] = {0};
  ssize_t n = 0, k;
  while (n < 4 && (k = read(y[0], buf + n, 4 - (size_t)n)) > 0) n += k;
  CHECK("request relayed", n == 4 && !memcmp(buf, "ping", 4));
  CHECK("EOF passed on", read(y[0], buf, 1) == 0);
  CHECK("answer written after the guest's half-close", write(y[0], "pong", 4) == 4);
  n = 0;
  while (n < 4 && (k = read(x[0], buf + n, 4 - (size_t)n)) > 0) n += k;
  CHECK("answer relayed to the half-closed guest", n == 4 && !memcmp(buf, "pong", 4));
  shutdown(y[0], SHUT_WR);
  pthread_join(rt, NULL);
  CHECK("relay ends with 0", r.result == 0);
  for (int i = 0; i < 2; i++) close(x[i]), close(y[i]);

  /* A side that goes away while bytes are owed to it ends the relay with an error. */
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, x) || socketpair(AF_UNIX, SOCK_STREAM, 0, y)) return 1;
  r = (struct relay_arg){.a = x[1], .b = y[1]};
  close(y[0]);
  pthread_create(&rt, NULL, relay_main, &r);
  wx = (struct writer){.fd = x[0], .seed = 1, .n = BULK};
  pthread_create(&w1, NULL, write_main, &wx);
  pthread_join(rt, NULL);
  CHECK("relay reports the broken side", r.result == -EPIPE || r.result == -ECONNRESET);
  close(x[1]);
  close(y[1]);
  pthread_join(w1, NULL);
  close(x[0]);
  printf("%d failed\n", failures);
  return failures != 0;
}
