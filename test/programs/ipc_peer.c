/*
 * One side of CUDA IPC between guest processes (test/e2e/ipc.test.ts). Runs the steps given as
 * arguments and prints one line per step:
 *   alloc:MIB   "alloc <MIB> -> <CUresult>"; the memory is filled with the word a5a5a5a5
 *   export      "export -> <CUresult> <handle in hex>" (cuIpcGetMemHandle of that allocation)
 *   open:HEX    "open -> <CUresult>", then on success "word <hex>" (the first word it sees) and the
 *               memory is filled with 5a5a5a5a
 *   close       "close -> <CUresult>" (of what open opened)
 *   peek        "word <hex>": the first word of what open opened
 *   check       "word <hex>": the first word of its own allocation
 *   free        "free -> <CUresult>" (cuMemFree of its own allocation)
 *   vmm:MIB     "vmm <MIB> -> <CUresult>": a physical allocation that may be exported as a file
 *               descriptor (cuMemCreate), mapped and filled with a5a5a5a5
 *   vmmexport   "vmmexport -> <CUresult> <path>": cuMemExportToShareableHandle of it; the path
 *               (/proc/<pid>/fd/<fd>) lets a process of the test open the same descriptor, as one
 *               passed over a Unix socket
 *   vmmimport:PATH  "vmmimport -> <CUresult>", then on success "word <hex>" (the first word of
 *               its mapping) and the memory is filled with 5a5a5a5a
 *   vmmcheck    "word <hex>": the first word of its own vmm allocation
 *   info        "info free=<MiB> total=<MiB>" (cuMemGetInfo)
 *   hold        prints "holding" and waits for a line on stdin
 */
#include <cuda.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reserves and maps h (size bytes) read-write; 0 on failure. */
static CUdeviceptr map_physical(CUmemGenericAllocationHandle h, size_t size) {
  CUdeviceptr va = 0;
  CUmemAccessDesc a = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  if (cuMemAddressReserve(&va, size, 0, 0, 0) || cuMemMap(va, size, 0, h, 0) || cuMemSetAccess(va, size, &a, 1)) return 0;
  return va;
}

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
  CUdeviceptr mine = 0, theirs = 0, vmm = 0;
  CUmemGenericAllocationHandle phys = 0;
  size_t bytes = 0, vmm_bytes = 0;
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
    } else if (!strcmp(argv[i], "peek")) {
      printf("word %08x\n", first_word(theirs));
    } else if (!strcmp(argv[i], "close")) {
      printf("close -> %d\n", (int)cuIpcCloseMemHandle(theirs));
    } else if (!strncmp(argv[i], "vmm:", 4)) {
      vmm_bytes = strtoul(argv[i] + 4, NULL, 10) << 20;
      CUmemAllocationProp p = {0};
      p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
      p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      p.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
      CUresult r = cuMemCreate(&phys, vmm_bytes, &p, 0);
      if (!r && !(vmm = map_physical(phys, vmm_bytes))) r = CUDA_ERROR_UNKNOWN;
      if (!r) r = cuMemsetD32(vmm, 0xa5a5a5a5u, vmm_bytes / 4);
      printf("vmm %zu -> %d\n", vmm_bytes >> 20, (int)r);
    } else if (!strcmp(argv[i], "vmmexport")) {
      int fd = -1;
      CUresult r = cuMemExportToShareableHandle(&fd, phys, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
      printf("vmmexport -> %d /proc/%d/fd/%d\n", (int)r, (int)getpid(), fd);
    } else if (!strncmp(argv[i], "vmmimport:", 10)) {
      int fd = open(argv[i] + 10, O_RDONLY | O_CLOEXEC);
      if (fd < 0) return 3;
      CUmemGenericAllocationHandle h = 0;
      CUresult r = cuMemImportFromShareableHandle(&h, (void *)(intptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
      close(fd);
      printf("vmmimport -> %d\n", (int)r);
      if (!r) {
        size_t gran = 0;
        CUmemAllocationProp p = {0};
        p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
        p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        if (cuMemGetAllocationGranularity(&gran, &p, CU_MEM_ALLOC_GRANULARITY_MINIMUM)) return 4;
        CUdeviceptr va = map_physical(h, gran);
        if (!va) return 4;
        printf("word %08x\n", first_word(va));
        if (cuMemsetD32(va, 0x5a5a5a5au, gran / 4)) return 4;
      }
    } else if (!strcmp(argv[i], "vmmcheck")) {
      printf("word %08x\n", first_word(vmm));
    } else if (!strcmp(argv[i], "free")) {
      printf("free -> %d\n", (int)cuMemFree(mine));
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
