// CUDA IPC from cudart programs, as PyTorch's multiprocessing uses it: the parent fills device
// memory with a kernel, records an interprocess event after it, and starts itself again as a second
// process (fork and exec: CUDA cannot be used in a forked child) with both handles in hex. The child
// waits for the parent's event, opens the memory, doubles it with a kernel and checks it; the parent
// then sees the child's result. Through vgpu both processes are guests of one VM.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define N 4096

__global__ void iota_plus_one(int *p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = i + 1;
}

__global__ void twice(int *p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] *= 2;
}

static void to_hex(const void *bytes, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", ((const unsigned char *)bytes)[i]);
}

static int from_hex(const char *s, void *bytes, size_t n) {
  if (strlen(s) != 2 * n) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    ((unsigned char *)bytes)[i] = (unsigned char)v;
  }
  return 0;
}

static int all(const int *h, int mul) {
  for (int i = 0; i < N; i++)
    if (h[i] != (i + 1) * mul) return 0;
  return 1;
}

static int child(const char *mem_hex, const char *event_hex) {
  cudaIpcMemHandle_t mh;
  cudaIpcEventHandle_t eh;
  CHECK("the handles arrive", from_hex(mem_hex, &mh, sizeof mh) == 0 && from_hex(event_hex, &eh, sizeof eh) == 0);
  cudaEvent_t ev;
  OK("child: cudaIpcOpenEventHandle", cudaIpcOpenEventHandle(&ev, eh));
  OK("child: cudaStreamWaitEvent on the parent's event", cudaStreamWaitEvent(0, ev, 0));
  int *p = NULL;
  OK("child: cudaIpcOpenMemHandle", cudaIpcOpenMemHandle((void **)&p, mh, cudaIpcMemLazyEnablePeerAccess));
  twice<<<N / 256, 256>>>(p, N);
  OK("child: kernel on the opened memory", cudaGetLastError());
  static int h[N];
  OK("child: cudaMemcpy from the opened memory", cudaMemcpy(h, p, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("child: the parent's values, doubled", all(h, 2));
  OK("child: cudaIpcCloseMemHandle", cudaIpcCloseMemHandle(p));
  OK("child: cudaEventDestroy", cudaEventDestroy(ev));
  return finish();
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "child") == 0) return child(argv[2], argv[3]);
  int *p = NULL;
  OK("cudaMalloc", cudaMalloc(&p, N * sizeof(int)));
  iota_plus_one<<<N / 256, 256>>>(p, N);
  OK("kernel", cudaGetLastError());
  cudaEvent_t ev;
  OK("cudaEventCreateWithFlags(interprocess)", cudaEventCreateWithFlags(&ev, cudaEventDisableTiming | cudaEventInterprocess));
  OK("cudaEventRecord", cudaEventRecord(ev, 0));
  cudaIpcMemHandle_t mh;
  cudaIpcEventHandle_t eh;
  OK("cudaIpcGetMemHandle", cudaIpcGetMemHandle(&mh, p));
  OK("cudaIpcGetEventHandle", cudaIpcGetEventHandle(&eh, ev));
  cudaEvent_t timed;
  OK("cudaEventCreate", cudaEventCreate(&timed));
  EXPECT("cudaIpcGetEventHandle of an event with timing", cudaIpcGetEventHandle(&eh, timed), cudaErrorInvalidValue);
  OK("cudaIpcGetEventHandle again", cudaIpcGetEventHandle(&eh, ev));
  void *q = NULL;
  EXPECT("cudaIpcOpenMemHandle of its own handle", cudaIpcOpenMemHandle(&q, mh, cudaIpcMemLazyEnablePeerAccess), cudaErrorDeviceUninitialized);

  char mem_hex[2 * sizeof mh + 1], event_hex[2 * sizeof eh + 1];
  to_hex(&mh, sizeof mh, mem_hex);
  to_hex(&eh, sizeof eh, event_hex);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", argv[0], "child", mem_hex, event_hex, (char *)NULL);
    _exit(127);
  }
  int status = -1;
  CHECK("the child ran", pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK("the child's checks passed", WIFEXITED(status) && WEXITSTATUS(status) == 0);
  static int h[N];
  OK("cudaMemcpy", cudaMemcpy(h, p, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("the parent sees the child's kernel", all(h, 2));
  OK("cudaEventDestroy", cudaEventDestroy(ev));
  OK("cudaFree", cudaFree(p));
  return finish();
}
