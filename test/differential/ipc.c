/*
 * Differential cases (docs/testing.md): CUDA IPC between two processes. The parent allocates,
 * fills and exports device memory and an interprocess event, then starts itself again as the
 * child (fork and exec: a forked process cannot use the parent's CUDA) with both handles in hex on
 * its command line. The child opens them, checks what the parent wrote, writes its own pattern and
 * exits; the parent then sees the child's bytes. Errors of each call: null arguments, foreign and
 * freed pointers, forged handles, a process opening its own handle, events without the
 * interprocess flag, bad flags, closing what was not opened. Through vgpu both processes are
 * guests of one VM, each with its own session.
 *   ipc            (the parent)
 *   ipc child MEM EVENT
 */
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"

typedef __typeof__(&cuInit) init_t;
typedef __typeof__(&cuDeviceGet) device_get_t;
typedef __typeof__(&cuDevicePrimaryCtxRetain) retain_t;
typedef __typeof__(&cuCtxSetCurrent) set_current_t;
typedef __typeof__(&cuMemAlloc_v2) alloc_t;
typedef __typeof__(&cuMemFree_v2) free_t;
typedef __typeof__(&cuMemsetD32_v2) memset32_t;
typedef __typeof__(&cuMemcpyDtoH_v2) dtoh_t;
typedef __typeof__(&cuMemGetAddressRange_v2) range_t;
typedef __typeof__(&cuIpcGetMemHandle) get_mem_t;
typedef __typeof__(&cuIpcOpenMemHandle_v2) open_mem_t;
typedef __typeof__(&cuIpcCloseMemHandle) close_mem_t;
typedef __typeof__(&cuIpcGetEventHandle) get_event_t;
typedef __typeof__(&cuIpcOpenEventHandle) open_event_t;
typedef __typeof__(&cuEventCreate) event_create_t;
typedef __typeof__(&cuEventRecord) event_record_t;
typedef __typeof__(&cuEventSynchronize) event_sync_t;
typedef __typeof__(&cuEventQuery) event_query_t;
typedef __typeof__(&cuEventDestroy_v2) event_destroy_t;
typedef __typeof__(&cuStreamWaitEvent) wait_event_t;
typedef __typeof__(&cuCtxSynchronize) sync_t;

/* Not a multiple of a page or a granule: the importer sees exactly the allocation. */
#define BYTES ((size_t)(1 << 20) + 100)
#define WORDS (BYTES / 4)
#define PARENT_WORD 0x11223344u
#define CHILD_WORD 0x55667788u

static void to_hex(const char *bytes, char *out) {
  for (int i = 0; i < CU_IPC_HANDLE_SIZE; i++) sprintf(out + 2 * i, "%02x", (unsigned char)bytes[i]);
}

static int from_hex(const char *s, char *bytes) {
  if (strlen(s) != 2 * CU_IPC_HANDLE_SIZE) return -1;
  for (int i = 0; i < CU_IPC_HANDLE_SIZE; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    bytes[i] = (char)v;
  }
  return 0;
}

static void context(void) {
  CUdevice dev;
  CUcontext ctx;
  MUST(((init_t)diff_sym("cuInit"))(0));
  MUST(((device_get_t)diff_sym("cuDeviceGet"))(&dev, 0));
  MUST(((retain_t)diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, dev));
  MUST(((set_current_t)diff_sym("cuCtxSetCurrent"))(ctx));
}

/* Whether every word of [p, p+4*n) is `word`. */
static int words_are(CUdeviceptr p, size_t n, uint32_t word) {
  uint32_t *h = malloc(4 * n);
  MUST(((dtoh_t)diff_sym("cuMemcpyDtoH_v2"))(h, p, 4 * n));
  int ok = 1;
  for (size_t i = 0; i < n; i++) ok &= h[i] == word;
  free(h);
  return ok;
}

static int all_words(CUdeviceptr p, uint32_t word) { return words_are(p, WORDS, word); }

static int child(const char *mem_hex, const char *event_hex) {
  CUipcMemHandle mh;
  CUipcEventHandle eh;
  if (from_hex(mem_hex, mh.reserved) != 0 || from_hex(event_hex, eh.reserved) != 0) return 2;
  CUdeviceptr p = 0, again = 0;
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "before cuInit", &p, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  context();
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "null pdptr", NULL, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "bad flags", &p, mh, 0x80);
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "exported by the parent", &p, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  SAY(cuIpcOpenMemHandle_v2, "sees the parent's words", "%d", all_words(p, PARENT_WORD));
  CUdeviceptr base = 0;
  size_t size = 0;
  CALL(cuMemGetAddressRange_v2, range_t, "opened memory", &base, &size, p);
  SAY(cuMemGetAddressRange_v2, "opened memory is the allocation", "%d", base == p && size == BYTES);
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "opened again", &again, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  SAY(cuIpcOpenMemHandle_v2, "opened again is the same pointer", "%d", again == p);
  again = 0;
  CALL(cuIpcOpenMemHandle, open_mem_t, "opened by its first name", &again, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  SAY(cuIpcOpenMemHandle, "opened by its first name is the same pointer", "%d", again == p);
  CALL(cuMemsetD32_v2, memset32_t, "opened memory", p, CHILD_WORD, WORDS);
  CALL(cuMemsetD32_v2, memset32_t, "past the opened memory", p, CHILD_WORD, WORDS + 64);
  CALL(cuCtxSynchronize, sync_t, "after writing", );

  CUevent ev = NULL;
  CUipcEventHandle forged_ev;
  memset(&forged_ev, 0x5a, sizeof forged_ev);
  CALL(cuIpcOpenEventHandle, open_event_t, "null event", NULL, eh);
  CALL(cuIpcOpenEventHandle, open_event_t, "forged", &ev, forged_ev);
  CALL(cuIpcOpenEventHandle, open_event_t, "exported by the parent", &ev, eh);
  CALL(cuEventSynchronize, event_sync_t, "opened event", ev);
  CALL(cuEventQuery, event_query_t, "opened event", ev);
  CALL(cuStreamWaitEvent, wait_event_t, "opened event", NULL, ev, 0);
  CALL(cuEventDestroy_v2, event_destroy_t, "opened event", ev);

  CALL(cuIpcCloseMemHandle, close_mem_t, "first of three opens", p);
  CALL(cuIpcCloseMemHandle, close_mem_t, "second of three opens", p);
  CALL(cuIpcCloseMemHandle, close_mem_t, "third of three opens", p);
  CALL(cuIpcCloseMemHandle, close_mem_t, "closed already", p);
  CALL(cuIpcCloseMemHandle, close_mem_t, "never opened", (CUdeviceptr)0x1000);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "child") == 0) return child(argv[2], argv[3]);
  if (argc != 1) {
    fprintf(stderr, "usage: ipc\n");
    return 2;
  }
  CUipcMemHandle mh;
  CUipcEventHandle eh;
  CALL(cuIpcGetMemHandle, get_mem_t, "before cuInit", &mh, 0);
  context();
  CUdeviceptr p = 0, other = 0;
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&p, BYTES));
  MUST(((alloc_t)diff_sym("cuMemAlloc_v2"))(&other, 4096));
  MUST(((memset32_t)diff_sym("cuMemsetD32_v2"))(p, PARENT_WORD, WORDS));
  MUST(((memset32_t)diff_sym("cuMemsetD32_v2"))(other, 0xdeadbeefu, 1024));

  CALL(cuIpcGetMemHandle, get_mem_t, "null handle", NULL, p);
  CALL(cuIpcGetMemHandle, get_mem_t, "not device memory", &mh, (CUdeviceptr)(uintptr_t)&mh);
  CALL(cuIpcGetMemHandle, get_mem_t, "allocation", &mh, p);
  CUipcMemHandle twice;
  CALL(cuIpcGetMemHandle, get_mem_t, "allocation again", &twice, p);

  CUdeviceptr q = 0;
  CUipcMemHandle forged;
  memset(&forged, 0, sizeof forged);
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "zero handle", &q, forged, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  memset(&forged, 0x5a, sizeof forged);
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "forged handle", &q, forged, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  CALL(cuIpcOpenMemHandle_v2, open_mem_t, "own handle", &q, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  CALL(cuIpcCloseMemHandle, close_mem_t, "own allocation", p);

  CUevent timed = NULL, ipc_ev = NULL;
  MUST(((event_create_t)diff_sym("cuEventCreate"))(&timed, CU_EVENT_DEFAULT));
  MUST(((event_create_t)diff_sym("cuEventCreate"))(&ipc_ev, CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS));
  CALL(cuIpcGetEventHandle, get_event_t, "null handle", NULL, ipc_ev);
  CALL(cuIpcGetEventHandle, get_event_t, "not interprocess", &eh, timed);
  CALL(cuIpcGetEventHandle, get_event_t, "interprocess", &eh, ipc_ev);
  CALL(cuEventRecord, event_record_t, "interprocess", ipc_ev, NULL);
  CALL(cuIpcOpenEventHandle, open_event_t, "own handle", &timed, eh);

  char mem_hex[2 * CU_IPC_HANDLE_SIZE + 1], event_hex[2 * CU_IPC_HANDLE_SIZE + 1];
  to_hex(mh.reserved, mem_hex);
  to_hex(eh.reserved, event_hex);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", argv[0], "child", mem_hex, event_hex, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) {
    printf("setup failed: no child\n");
    return 4;
  }
  SAY(cuIpcOpenMemHandle_v2, "child exit status", "%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  SAY(cuIpcOpenMemHandle_v2, "the parent sees the child's words", "%d", all_words(p, CHILD_WORD));
  SAY(cuIpcOpenMemHandle_v2, "the allocation next to it is untouched", "%d", words_are(other, 1024, 0xdeadbeefu));

  CALL(cuEventDestroy_v2, event_destroy_t, "exported event", ipc_ev);
  CALL(cuMemFree_v2, free_t, "exported allocation", p);
  CALL(cuIpcGetMemHandle, get_mem_t, "freed allocation", &mh, p);
  return 0;
}
