/* The executor zygote's system calls (zygote.h; docs/executors.md, "Zygote"). */
#include "zygote.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int vg_zy_socketpair(int fds[2]) {
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : -errno;
}

/* V8 allocates its heap pages with MADV_DONTFORK, so a forked child would find no heap. Every
 * mapping is marked copyable again just before the fork (pages V8 maps later are marked again by
 * V8, and again by the next fork). Mappings that refuse (vsyscall, device memory) are left as
 * they are. The zygote loads no driver, so nothing here wants its pages kept from children. */
static void allow_fork_of_all_mappings(void) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[8192];
  size_t have = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
    buf[have] = '\0';
    char *line = buf;
    char *nl;
    while ((nl = strchr(line, '\n')) != NULL) {
      unsigned long lo, hi;
      if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DOFORK);
      line = nl + 1;
    }
    have = (size_t)(buf + have - line);
    memmove(buf, line, have);
    if (have == sizeof buf - 1) have = 0; /* a line longer than the buffer: not a mapping's */
  }
  close(fd);
}

typedef void *(*default_loop_fn)(void);
typedef int (*loop_fork_fn)(void *);

int vg_zy_fork(void) {
  /* Looked up before the fork: a child must do as little as it can before Node runs again. */
  default_loop_fn default_loop = (default_loop_fn)dlsym(RTLD_DEFAULT, "uv_default_loop");
  loop_fork_fn loop_fork = (loop_fork_fn)dlsym(RTLD_DEFAULT, "uv_loop_fork");
  allow_fork_of_all_mappings();
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid > 0) return (int)pid;
  (void)setsid();
  /* Outside Node (the C tests) there is no loop to re-create. */
  if (default_loop && loop_fork && loop_fork(default_loop()) != 0) _exit(121);
  return 0;
}

int vg_zy_reap(int *code, int *sig) {
  int status = 0;
  pid_t pid;
  do pid = waitpid(-1, &status, WNOHANG);
  while (pid < 0 && errno == EINTR);
  if (pid < 0) return -errno;
  if (pid == 0) return 0;
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  *sig = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
  return (int)pid;
}

int vg_zy_send_fd(int sock, int fd) {
  char byte = 'F';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space, .msg_controllen = sizeof ctl.space};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n == 1) return 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* A non-blocking socket whose buffer is full: only possible if the peer never reads. */
      struct pollfd p = {.fd = sock, .events = POLLOUT};
      if (poll(&p, 1, 1000) == 1) continue;
      return -ETIMEDOUT;
    }
    return n < 0 ? -errno : -EIO;
  }
}

int vg_zy_recv_fd(int sock, int timeout_ms) {
  struct pollfd p = {.fd = sock, .events = POLLIN};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  if (r == 0) return -ETIMEDOUT;
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(4 * sizeof(int))];
  } ctl;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space, .msg_controllen = sizeof ctl.space};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (n == 0) return -EPIPE;
  int got = -EBADMSG;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (got < 0 && byte == 'F') got = fd;
      else close(fd);
    }
  }
  /* More than four descriptors were sent: the kernel dropped the rest, and they are not ours. */
  if ((msg.msg_flags & MSG_CTRUNC) && got >= 0) {
    close(got);
    return -EBADMSG;
  }
  return got;
}

void vg_zy_exit(int code) { _exit(code); }

int vg_zy_dup(int fd) {
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return r < 0 ? -errno : r;
}

int vg_zy_close(int fd) { return close(fd) == 0 ? 0 : -errno; }

int vg_zy_getpid(void) { return (int)getpid(); }
