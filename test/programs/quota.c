/*
 * Memory as a VM sees it. Runs the steps given as arguments and prints one line per step:
 *   info        "info free=<MiB> total=<MiB> devtotal=<MiB>" (cuMemGetInfo, cuDeviceTotalMem)
 *   alloc:MIB   "alloc <MIB> -> <CUresult>"
 *   hold        prints "holding" and waits for a line on stdin (keeps its allocations meanwhile)
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  CUdevice d;
  CUcontext c;
  if (cuInit(0) || cuDeviceGet(&d, 0) || cuDevicePrimaryCtxRetain(&c, d) || cuCtxSetCurrent(c)) return 2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "info")) {
      size_t f = 0, t = 0, dt = 0;
      CUresult r1 = cuMemGetInfo(&f, &t), r2 = cuDeviceTotalMem(&dt, d);
      printf("info free=%zu total=%zu devtotal=%zu r=%d,%d\n", f >> 20, t >> 20, dt >> 20, (int)r1, (int)r2);
    } else if (!strncmp(argv[i], "alloc:", 6)) {
      size_t mib = strtoul(argv[i] + 6, NULL, 10);
      CUdeviceptr p;
      printf("alloc %zu -> %d\n", mib, (int)cuMemAlloc(&p, mib << 20));
    } else if (!strcmp(argv[i], "hold")) {
      printf("holding\n");
      char line[16];
      if (!fgets(line, sizeof line, stdin)) break;
    }
  }
  return 0;
}
