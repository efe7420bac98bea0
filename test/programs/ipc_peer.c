/*
 * One side of CUDA IPC between guest processes (test/e2e/ipc.test.ts). Runs the steps given as
 * arguments and prints one line per step:
 *   alloc:MIB   "alloc <MIB> -> <CUresult>"; the memory is filled with the word a5a5a5a5
 *   export      "export -> <CUresult> <handle in hex>" (cuIpcGetMemHandle of that allocation)
 *   open:HEX    "open -> <CUresult>", then on success "word <hex>" (the first word it sees) and the
 *               memory is filled with 5a5a5a5a
 *   close       "close -> <CUresult>" (of what open opened)
 *   check       "word <hex>": the first word of its own allocation
 *   info        "info free=<MiB> total=<MiB>" (cuMemGetInfo)
 *   hold        prints "holding" and waits for a line on stdin
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t first_word(CUdeviceptr p) {
  uint32_t w = 0;
  if (cuMemcpyDtoH(&w, p, sizeof w)) return 0;
  return w;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CUdevice d;
  CUcontext c;
  if (cuInit(0) || cuDeviceGet(&d, 0) || cuDevicePrimaryCtxRetain(&c, d) || cuCtxSetCurrent(c)) return 2;
  CUdeviceptr mine = 0, theirs = 0;
  size_t bytes = 0;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "alloc:", 6)) {
      bytes = strtoul(argv[i] + 6, NULL, 10) << 20;
      CUresult r = cuMemAlloc(&mine, bytes);
      if (!r) r = cuMemsetD32(mine, 0xa5a5a5a5u, bytes / 4);
      printf("alloc %zu -> %d\n", bytes >> 20, (int)r);
    } else if (!strcmp(argv[i], "export")) {
      CUipcMemHandle h;
      memset(&h, 0, sizeof h);
      CUresult r = cuIpcGetMemHandle(&h, mine);
      printf("export -> %d ", (int)r);
      for (int k = 0; k < CU_IPC_HANDLE_SIZE; k++) printf("%02x", (unsigned char)h.reserved[k]);
      printf("\n");
    } else if (!strncmp(argv[i], "open:", 5)) {
      CUipcMemHandle h;
      const char *hex = argv[i] + 5;
      if (strlen(hex) != 2 * CU_IPC_HANDLE_SIZE) return 3;
      for (int k = 0; k < CU_IPC_HANDLE_SIZE; k++) {
        unsigned v;
        if (sscanf(hex + 2 * k, "%2x", &v) != 1) return 3;
        h.reserved[k] = (char)v;
      }
      CUresult r = cuIpcOpenMemHandle(&theirs, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
      printf("open -> %d\n", (int)r);
      if (!r) {
        printf("word %08x\n", first_word(theirs));
        size_t size = 0;
        if (cuMemGetAddressRange(NULL, &size, theirs) || cuMemsetD32(theirs, 0x5a5a5a5au, size / 4)) return 4;
      }
    } else if (!strcmp(argv[i], "close")) {
      printf("close -> %d\n", (int)cuIpcCloseMemHandle(theirs));
    } else if (!strcmp(argv[i], "check")) {
      printf("word %08x\n", first_word(mine));
    } else if (!strcmp(argv[i], "info")) {
      size_t f = 0, t = 0;
      CUresult r = cuMemGetInfo(&f, &t);
      printf("info free=%zu total=%zu r=%d\n", f >> 20, t >> 20, (int)r);
    } else if (!strcmp(argv[i], "hold")) {
      printf("holding\n");
      char line[16];
      if (!fgets(line, sizeof line, stdin)) break;
    }
  }
  return 0;
}
