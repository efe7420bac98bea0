/* See relay.h. One poll loop over both directions; nothing is allocated but the two buffers. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct dir {
  int from, to;
  char *buf;
  size_t len, off;
  int eof;  /* `from` reached EOF */
  int done; /* eof, everything written, `to` shut down for writing */
};

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Moves what can be moved now in one direction; 0, or -errno. */
static int pump(struct dir *d, short revents_from, short revents_to) {
  if (d->len == 0 && !d->eof && (revents_from & (POLLIN | POLLHUP | POLLERR))) {
    ssize_t n = read(d->from, d->buf, VG_RELAY_BUF);
    if (n > 0) {
      d->len = (size_t)n;
      d->off = 0;
    } else if (n == 0) {
      d->eof = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return -errno;
    }
  }
  if (d->len > 0 && (revents_to & (POLLOUT | POLLERR | POLLHUP))) {
    ssize_t n = send(d->to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
    if (n > 0) {
      d->off += (size_t)n;
      if (d->off == d->len) d->len = d->off = 0;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return -errno;
    }
  }
  if (d->eof && d->len == 0 && !d->done) {
    (void)shutdown(d->to, SHUT_WR);
    d->done = 1;
  }
  return 0;
}

int vg_relay(int a, int b) {
  int r = set_nonblock(a);
  if (r == 0) r = set_nonblock(b);
  if (r) return r;
  struct dir d[2] = {{.from = a, .to = b}, {.from = b, .to = a}};
  d[0].buf = malloc(VG_RELAY_BUF);
  d[1].buf = malloc(VG_RELAY_BUF);
  if (!d[0].buf || !d[1].buf) {
    free(d[0].buf);
    free(d[1].buf);
    return -ENOMEM;
  }
  r = 0;
  while (!(d[0].done && d[1].done)) {
    /* pfd[0] = a, pfd[1] = b; each direction reads its `from` when its buffer is empty and
     * writes its `to` when it holds bytes. */
    struct pollfd pfd[2] = {{.fd = a}, {.fd = b}};
    for (int i = 0; i < 2; i++) {
      int from = i, to = 1 - i;
      if (d[i].len == 0 && !d[i].eof) pfd[from].events |= POLLIN;
      if (d[i].len > 0) pfd[to].events |= POLLOUT;
    }
    /* A descriptor nobody waits on is left out: poll reports POLLHUP unasked, and a hung-up
     * side whose bytes wait for the other side to drain would otherwise spin the loop. */
    for (int i = 0; i < 2; i++)
      if (!pfd[i].events) pfd[i].fd = -1;
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      r = -errno;
      break;
    }
    r = pump(&d[0], pfd[0].revents, pfd[1].revents);
    if (r == 0) r = pump(&d[1], pfd[1].revents, pfd[0].revents);
    if (r) break;
  }
  free(d[0].buf);
  free(d[1].buf);
  return r;
}
