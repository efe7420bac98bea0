/*
 * Sockets for the guest session. MSG_NOSIGNAL keeps a dead peer from killing the application with
 * SIGPIPE; SOCK_CLOEXEC keeps the connection out of exec'd children.
 */
#include "conn.h"

#include "log.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define ADDR_FORMS "unix:PATH, tcp:HOST:PORT, tls:HOST:PORT, vsock:PORT or vsock:CID:PORT"

/* A decimal number of at most 10 digits that fits 32 bits, ending at `end` (exclusive). */
static int parse_u32(const char *s, const char *end, uint32_t *out) {
  if (s == end || end - s > 10) return -1;
  uint64_t v = 0;
  for (const char *q = s; q < end; q++) {
    if (*q < '0' || *q > '9') return -1;
    v = v * 10 + (uint64_t)(*q - '0');
  }
  if (v > 0xffffffffu) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* "PORT" or "CID:PORT" after "vsock:". VMADDR_PORT_ANY / VMADDR_CID_ANY (-1U) are not addresses
 * one can connect to; a port or CID of 0 is a mistake more often than meant (CID 0 is the
 * hypervisor). */
static int parse_vsock(const char *p, vg_addr *a) {
  const char *colon = strchr(p, ':');
  const char *end = p + strlen(p);
  a->cid = VG_VSOCK_CID_HOST;
  if (colon) {
    if (strchr(colon + 1, ':') || parse_u32(p, colon, &a->cid)) return -1;
    p = colon + 1;
  }
  if (parse_u32(p, end, &a->vport)) return -1;
  if (a->vport == 0 || a->vport == 0xffffffffu || a->cid == 0 || a->cid == 0xffffffffu) return -1;
  a->is_vsock = 1;
  return 0;
}

int vg_addr_parse(const char *spec, vg_addr *a, char *err, size_t errcap) {
  memset(a, 0, sizeof *a);
  if (!spec || !*spec) {
    snprintf(err, errcap, "no server configured (set VGPU_SERVER or 'server' in guest.conf)");
    return -1;
  }
  if (!strncmp(spec, "unix:", 5)) {
    const char *p = spec + 5;
    size_t n = strlen(p);
    if (n == 0 || n >= sizeof a->path) {
      snprintf(err, errcap, "bad unix socket path in '%s'", spec);
      return -1;
    }
    a->is_unix = 1;
    memcpy(a->path, p, n + 1);
    return 0;
  }
  int tls = !strncmp(spec, "tls:", 4);
  if (tls || !strncmp(spec, "tcp:", 4)) {
    const char *p = spec + 4, *hs, *he, *colon;
    if (*p == '[') {
      hs = p + 1;
      he = strchr(hs, ']');
      if (!he || he[1] != ':') goto bad;
      colon = he + 1;
    } else {
      colon = strrchr(p, ':');
      if (!colon) goto bad;
      hs = p;
      he = colon;
    }
    size_t hl = (size_t)(he - hs), pl = strlen(colon + 1);
    if (hl == 0 || hl >= sizeof a->host || pl == 0 || pl >= sizeof a->port) goto bad;
    for (const char *q = colon + 1; *q; q++)
      if (*q < '0' || *q > '9') goto bad;
    memcpy(a->host, hs, hl);
    memcpy(a->port, colon + 1, pl + 1);
    a->is_tls = tls;
    return 0;
  }
  if (!strncmp(spec, "vsock:", 6)) {
    if (parse_vsock(spec + 6, a) == 0) return 0;
    memset(a, 0, sizeof *a);
  }
bad:
  snprintf(err, errcap, "bad server address '%s' (expected " ADDR_FORMS ")", spec);
  return -1;
}

static int remaining_ms(uint64_t deadline_ns) {
  if (!deadline_ns) return -1;
  uint64_t now = vg_now_ns();
  if (now >= deadline_ns) return 0;
  uint64_t ms = (deadline_ns - now + 999999) / 1000000;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* Waits for fd to be ready; 0, or a negative errno. */
int vg_conn_poll(int fd, short events, uint64_t deadline_ns) {
  for (;;) {
    int ms = remaining_ms(deadline_ns);
    if (ms == 0) return -ETIMEDOUT;
    struct pollfd pfd = {.fd = fd, .events = events};
    int r = poll(&pfd, 1, ms);
    if (r > 0) return 0;
    if (r == 0) return -ETIMEDOUT;
    if (errno != EINTR) return -errno;
  }
}

/* Bulk copies move megabytes per call while the host reads in 64 KiB steps: a deep socket buffer
 * lets the guest queue a whole piece without waiting for each read. The kernel caps the request
 * at net.core.wmem_max/rmem_max; failure is harmless. */
static void deepen_buffers(int fd) {
  int sz = 4 << 20;
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

static int connect_one(int family, int type, const struct sockaddr *sa, socklen_t salen,
                       uint64_t deadline_ns, int *out_errno) {
  int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *out_errno = errno;
    return -1;
  }
  deepen_buffers(fd);
  if (connect(fd, sa, salen) == 0) return fd;
  if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) {
    *out_errno = errno;
    close(fd);
    return -1;
  }
  int r = vg_conn_poll(fd, POLLOUT, deadline_ns);
  if (r == 0) {
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
    if (soerr == 0) return fd;
    r = -soerr;
  }
  *out_errno = -r;
  close(fd);
  return -1;
}

/* A guest waiting for a reply sends nothing: without probes it would wait forever on a host that
 * rebooted or a network that went away. Probes after VG_KEEPALIVE_IDLE_S of silence, every
 * VG_KEEPALIVE_INTVL_S, VG_KEEPALIVE_CNT unanswered ones end the connection; data unacknowledged
 * for VG_USER_TIMEOUT_MS does too. A host that is merely busy answers them. */
static void keep_alive(int fd) {
  int one = 1, idle = VG_KEEPALIVE_IDLE_S, intvl = VG_KEEPALIVE_INTVL_S, cnt = VG_KEEPALIVE_CNT;
  unsigned user = VG_USER_TIMEOUT_MS;
  (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof user);
}

int vg_conn_open(const vg_addr *a, uint64_t deadline_ns, char *err, size_t errcap) {
  int e = 0, fd;
  if (a->is_unix) {
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    size_t n = strlen(a->path);
    memcpy(sun.sun_path, a->path, n);
    if (a->path[0] == '@') sun.sun_path[0] = 0; /* abstract namespace */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (a->path[0] != '@'));
    fd = connect_one(AF_UNIX, SOCK_STREAM, (struct sockaddr *)&sun, len, deadline_ns, &e);
    if (fd < 0) snprintf(err, errcap, "cannot connect to unix:%s: %s", a->path, strerror(e));
    return fd;
  }
  if (a->is_vsock) {
    /* Inside a VM: the hypervisor's vsock device (virtio-vsock, vhost-user-vsock, Firecracker's
     * hybrid vsock) carries it to the host. No keepalive options exist for vsock; the transport
     * resets the connection when the VM's device or the host side goes away. */
    struct sockaddr_vm svm;
    memset(&svm, 0, sizeof svm);
    svm.svm_family = AF_VSOCK;
    svm.svm_cid = a->cid;
    svm.svm_port = a->vport;
    fd = connect_one(AF_VSOCK, SOCK_STREAM, (struct sockaddr *)&svm, sizeof svm, deadline_ns, &e);
    if (fd < 0) snprintf(err, errcap, "cannot connect to vsock:%u:%u: %s", a->cid, a->vport, strerror(e));
    return fd;
  }
  if (a->is_tls && vg_tls_check_config(&a->tls, err, errcap)) return -1;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int gr = getaddrinfo(a->host, a->port, &hints, &res);
  if (gr != 0) {
    snprintf(err, errcap, "cannot resolve %s: %s", a->host, gai_strerror(gr));
    return -1;
  }
  fd = -1;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = connect_one(ai->ai_family, ai->ai_socktype, ai->ai_addr, ai->ai_addrlen, deadline_ns, &e);
    if (e == ETIMEDOUT) break;
  }
  freeaddrinfo(res);
  const char *scheme = a->is_tls ? "tls" : "tcp";
  if (fd < 0) {
    snprintf(err, errcap, "cannot connect to %s:%s:%s: %s", scheme, a->host, a->port, strerror(e));
    return -1;
  }
  int one = 1;
  /* Calls are small request/response frames: Nagle would add a delay to each. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  keep_alive(fd);
  /* The server is verified here, before the caller writes anything (the HELLO has the token). */
  if (a->is_tls && vg_tls_start(fd, a->host, &a->tls, deadline_ns, err, errcap) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void vg_conn_close(int fd) {
  if (fd < 0) return;
  vg_tls_forget(fd);
  close(fd);
}

int vg_conn_writev(int fd, struct iovec *iov, int iovcnt, uint64_t deadline_ns) {
  if (vg_tls_active(fd)) return vg_tls_writev(fd, iov, iovcnt, deadline_ns);
  while (iovcnt > 0) {
    if (iov->iov_len == 0) {
      iov++;
      iovcnt--;
      continue;
    }
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)iovcnt;
    ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        int r = vg_conn_poll(fd, POLLOUT, deadline_ns);
        if (r) return r;
        continue;
      }
      return -errno;
    }
    size_t left = (size_t)w;
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (char *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

int vg_conn_write(int fd, const void *p, size_t n, uint64_t deadline_ns) {
  struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
  return vg_conn_writev(fd, &iov, 1, deadline_ns);
}

int vg_conn_wait_readable(int fd, uint64_t deadline_ns) {
  if (vg_tls_active(fd)) return vg_tls_wait_readable(fd, deadline_ns);
  return vg_conn_poll(fd, POLLIN, deadline_ns);
}

int vg_conn_read(int fd, void *p, size_t n, uint64_t deadline_ns) {
  long r = vg_conn_read_some(fd, p, n, n, deadline_ns, 0);
  return r < 0 ? (int)r : 0;
}

/* The socket stays non-blocking even where no deadline applies: a thread blocked in recv on a Unix
 * socket is woken each time the host reads what it sent (the write-space wake-up shares the
 * socket's wait queue), so every call would cost an extra pair of context switches; poll waits
 * for POLLIN only. */
long vg_conn_read_some(int fd, void *p, size_t min, size_t cap, uint64_t deadline_ns, int wait_first) {
  if (vg_tls_active(fd)) return vg_tls_read_some(fd, p, min, cap, deadline_ns);
  if (wait_first) {
    int w = vg_conn_poll(fd, POLLIN, deadline_ns);
    if (w) return w;
  }
  size_t got = 0;
  while (got < min) {
    ssize_t r = recv(fd, (char *)p + got, cap - got, 0);
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    if (r == 0) return -EPIPE;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int w = vg_conn_poll(fd, POLLIN, deadline_ns);
      if (w) return w;
      continue;
    }
    return -errno;
  }
  return (long)got;
}
