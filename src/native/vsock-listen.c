/*
 * vgpu-vsock-listen PORT SOCKET: the mediator's AF_VSOCK listener (docs/virtual-machines.md).
 *
 * Node cannot hold an AF_VSOCK socket (libuv wraps only Unix, TCP and UDP descriptors), so the
 * mediator runs this helper for `--listen vsock:PORT`. It listens on AF_VSOCK port PORT for
 * every CID, and for each guest connection connects to the mediator's private Unix socket
 * SOCKET, sends a header naming the guest's CID and port, and relays bytes both ways (a child
 * process per connection, relay.c). The header is what lets the mediator bind the connection to
 * a VM by its CID: the guest cannot choose its CID, the hypervisor gives it.
 *
 * Header (little-endian): u32 magic 0x4B535647 ("VGSK"), u32 version 1, u32 peer CID,
 * u32 peer port.
 *
 * Prints "listening" on stdout once it listens; ends when its stdin (a pipe from the mediator)
 * closes, so it never outlives the mediator. Exit status 2: bad arguments (nothing was opened);
 * 1: the listener could not be opened (the reason on stderr).
 */
#include "relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define HEADER_MAGIC 0x4B535647u
#define HEADER_VERSION 1u

static int usage(const char *why) {
  fprintf(stderr, "vgpu-vsock-listen: %s\nusage: vgpu-vsock-listen PORT SOCKET\n"
                  "  PORT    AF_VSOCK port, 1 to 4294967294\n"
                  "  SOCKET  the mediator's Unix socket to hand connections to (absolute path)\n", why);
  return 2;
}

static int parse_port(const char *s, uint32_t *out) {
  if (!*s || strlen(s) > 10) return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v == 0 || v >= 0xffffffffu) return -1;
  *out = (uint32_t)v;
  return 0;
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

/* The child's work: hand one guest connection to the mediator and relay it. */
static int serve(int guest, const struct sockaddr_vm *peer, const char *path) {
  /* A relay without its mediator has nobody to talk to. */
  (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
  int up = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  memcpy(sun.sun_path, path, strlen(path) + 1);
  if (up < 0 || connect(up, (struct sockaddr *)&sun, sizeof sun) < 0) {
    fprintf(stderr, "vgpu-vsock-listen: cannot reach the mediator at %s: %s\n", path, strerror(errno));
    return 1;
  }
  unsigned char h[16];
  put_u32(h, HEADER_MAGIC);
  put_u32(h + 4, HEADER_VERSION);
  put_u32(h + 8, peer->svm_cid);
  put_u32(h + 12, peer->svm_port);
  if (send(up, h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h) {
    fprintf(stderr, "vgpu-vsock-listen: cannot write to the mediator: %s\n", strerror(errno));
    return 1;
  }
  int r = vg_relay(guest, up);
  if (r && r != -ECONNRESET && r != -EPIPE)
    fprintf(stderr, "vgpu-vsock-listen: connection from CID %u: %s\n", peer->svm_cid, strerror(-r));
  return 0;
}

int main(int argc, char **argv) {
  uint32_t port;
  if (argc != 3) return usage("expected two arguments");
  if (parse_port(argv[1], &port)) return usage("PORT must be a whole number from 1 to 4294967294");
  const char *path = argv[2];
  if (path[0] != '/') return usage("SOCKET must be an absolute path");
  if (strlen(path) >= sizeof ((struct sockaddr_un *)0)->sun_path) return usage("SOCKET is longer than a Unix socket path may be");

  /* Children are reaped by the kernel; a relay's end is its own business. */
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) {
    fprintf(stderr, "vgpu-vsock-listen: cannot create an AF_VSOCK socket: %s (is the vsock module loaded?)\n", strerror(errno));
    return 1;
  }
  struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 128) < 0) {
    fprintf(stderr, "vgpu-vsock-listen: cannot listen on vsock port %u: %s\n", port, strerror(errno));
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  for (;;) {
    struct pollfd pfd[2] = {{.fd = ls, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "vgpu-vsock-listen: poll: %s\n", strerror(errno));
      return 1;
    }
    if (pfd[1].revents) {
      char c;
      if (read(0, &c, 1) <= 0) return 0; /* the mediator is gone or stops the listener */
    }
    if (!(pfd[0].revents & POLLIN)) continue;
    struct sockaddr_vm peer;
    socklen_t len = sizeof peer;
    int g = accept4(ls, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
    if (g < 0) {
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
        fprintf(stderr, "vgpu-vsock-listen: accept: %s\n", strerror(errno));
      if (errno == EMFILE || errno == ENFILE) sleep(1);
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(ls);
      _exit(serve(g, &peer, path));
    }
    if (pid < 0) fprintf(stderr, "vgpu-vsock-listen: fork: %s\n", strerror(errno));
    close(g);
  }
}
