/* The zygote's system calls (src/native/zygote.c), outside Node: fork and reap, descriptor
 * passing and every way a receive can fail. */
#include "check.h"
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits (briefly) for one child to be reaped. */
static int reap_one(int *code, int *sig) {
  for (int i = 0; i < 500; i++) {
    int pid = vg_zy_reap(code, sig);
    if (pid != 0) return pid;
    usleep(10000);
  }
  return 0;
}

int main(void) {
  int sp[2];
  CHECK("socketpair", vg_zy_socketpair(sp) == 0);
  CHECK("socketpair is close-on-exec", (fcntl(sp[0], F_GETFD) & FD_CLOEXEC) != 0);

  /* A child receives a pipe's write end over the socketpair and writes through it. */
  int pipefd[2];
  CHECK("pipe", pipe(pipefd) == 0);
  int pid = vg_zy_fork();
  if (pid == 0) {
    close(sp[0]);
    int fd = vg_zy_recv_fd(sp[1], 5000);
    if (fd < 0) _exit(10);
    if (getsid(0) != getpid()) _exit(11);
    const char msg[] = "via passed fd";
    _exit(write(fd, msg, sizeof msg) == (ssize_t)sizeof msg ? 7 : 12);
  }
  CHECK("fork returns the child's pid", pid > 0);
  CHECK("send the pipe's write end", vg_zy_send_fd(sp[0], pipefd[1]) == 0);
  close(pipefd[1]);
  char got[32] = {0};
  CHECK("the child wrote through the passed descriptor", read(pipefd[0], got, sizeof got) > 0 && strcmp(got, "via passed fd") == 0);
  int code = 0, sig = 0;
  CHECK("reap returns the child", reap_one(&code, &sig) == pid);
  CHECK("its exit code, and no signal", code == 7 && sig == -1);
  CHECK("nothing more to reap", vg_zy_reap(&code, &sig) == -ECHILD);
  close(pipefd[0]);

  /* A child ended by a signal. */
  pid = vg_zy_fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  kill(pid, SIGKILL);
  CHECK("reap a killed child", reap_one(&code, &sig) == pid && code == -1 && sig == SIGKILL);

  /* Receiving: nothing sent, a byte without a descriptor, the peer gone. */
  CHECK("recv times out", vg_zy_recv_fd(sp[1], 10) == -ETIMEDOUT);
  CHECK("a plain byte", send(sp[0], "x", 1, 0) == 1);
  CHECK("recv refuses a byte without a descriptor", vg_zy_recv_fd(sp[1], 100) == -EBADMSG);
  CHECK("send to a closed descriptor fails", vg_zy_send_fd(sp[0], 987) == -EBADF);
  close(sp[0]);
  CHECK("recv reports the peer's close", vg_zy_recv_fd(sp[1], 100) == -EPIPE);
  close(sp[1]);
  CHECK("getpid", vg_zy_getpid() == (int)getpid());
  int d = vg_zy_dup(1);
  CHECK("dup", d > 2 && (fcntl(d, F_GETFD) & FD_CLOEXEC) != 0);
  close(d);
  CHECK("dup of a closed descriptor", vg_zy_dup(sp[1]) == -EBADF);
  CHECK("close of a closed descriptor", vg_zy_close(sp[1]) == -EBADF);
  return failures ? 1 : 0;
}
