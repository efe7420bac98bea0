/*
 * A parent and a forked child each use the vGPU: the parent opens its session, forks, the child
 * opens its own (on whatever channel: over tls: it makes its own TLS connection and never touches
 * the parent's), and the parent's session still works after the child exited. Prints
 * "parent ok", "child ok", "parent again ok" and exits 0, or names the failing step.
 */
#include <cuda.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Allocates, copies a pattern in and out; 0 when it came back. */
static int round_trip(const char *who, unsigned char pattern) {
  CUdevice d;
  CUcontext c;
  CUdeviceptr p;
  unsigned char in[4096], out[4096];
  memset(in, pattern, sizeof in);
  CUresult r;
  if ((r = cuInit(0)) || (r = cuDeviceGet(&d, 0)) || (r = cuDevicePrimaryCtxRetain(&c, d)) || (r = cuCtxSetCurrent(c)) ||
      (r = cuMemAlloc(&p, sizeof in)) || (r = cuMemcpyHtoD(p, in, sizeof in)) || (r = cuMemcpyDtoH(out, p, sizeof out))) {
    printf("%s failed: CUresult %d\n", who, (int)r);
    return 1;
  }
  if (memcmp(in, out, sizeof in)) {
    printf("%s: the copy came back different\n", who);
    return 1;
  }
  cuMemFree(p);
  printf("%s ok\n", who);
  return 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (round_trip("parent", 0x5a)) return 1;
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) _exit(round_trip("child", 0xa5));
  int st = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    printf("the child failed\n");
    return 1;
  }
  return round_trip("parent again", 0x3c);
}
