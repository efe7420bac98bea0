/*
 * Copies between device memory and page-locked host memory, which the guest library places in the
 * region it shares with its executor (docs/protocol.md, "Shared memory"): every byte must arrive,
 * whatever the block, offset, length or copy form. Prints "# shm-bytes IN OUT", the bytes it
 * copied from and to page-locked memory, and the synchronous pageable copies of 64 KiB or more
 * that the library stages through the region, for the test to compare with the host's counters
 * (test/e2e/shm.test.ts, test/e2e/vm-guest.test.ts). Arguments: the MiB of the largest copy
 * (default 40, more than one 16 MiB frame carries; an emulated VM takes a smaller one), then
 * optionally "hold": print "# holding" after the copies and wait for a line on stdin, keeping the
 * page-locked memory (and the process's slice of a VM's region) meanwhile.
 */
#include <cuda.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define MIB ((size_t)1 << 20)

static unsigned long long g_in, g_out;

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u + seed * 7u + (i >> 12));
}

static int same(const uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)(i * 131u + seed * 7u + (i >> 12))) return 0;
  return 1;
}

/* Pinned -> device -> pinned (another block), checked byte for byte. */
static void round_trip(const char *name, uint8_t *src, uint8_t *dst, CUdeviceptr d, size_t n, unsigned seed, CUstream s) {
  char label[128];
  fill(src, n, seed);
  memset(dst, 0, n);
  snprintf(label, sizeof label, "%s: host to device", name);
  EXPECT(label, s ? cuMemcpyHtoDAsync(d, src, n, s) : cuMemcpyHtoD(d, src, n), CUDA_SUCCESS);
  snprintf(label, sizeof label, "%s: device to host", name);
  EXPECT(label, s ? cuMemcpyDtoHAsync(dst, d, n, s) : cuMemcpyDtoH(dst, d, n), CUDA_SUCCESS);
  if (s) EXPECT("stream synchronize", cuStreamSynchronize(s), CUDA_SUCCESS);
  snprintf(label, sizeof label, "%s: every byte arrived", name);
  CHECK(label, same(dst, n, seed));
  g_in += n;
  g_out += n;
}

int main(int argc, char **argv) {
  CUcontext ctx;
  CUdevice dev;
  EXPECT("cuInit", cuInit(0), CUDA_SUCCESS);
  EXPECT("cuDeviceGet", cuDeviceGet(&dev, 0), CUDA_SUCCESS);
  EXPECT("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
  EXPECT("cuCtxSetCurrent", cuCtxSetCurrent(ctx), CUDA_SUCCESS);

  size_t big = (argc > 1 ? (size_t)atoi(argv[1]) : 40) * MIB + 123;
  if (big < 8 * MIB + 8192) big = 8 * MIB + 8192; /* room for the copies below */
  uint8_t *a = NULL, *b = NULL;
  CUdeviceptr d = 0;
  EXPECT("cuMemAllocHost", cuMemAllocHost((void **)&a, big), CUDA_SUCCESS);
  EXPECT("cuMemHostAlloc", cuMemHostAlloc((void **)&b, big, CU_MEMHOSTALLOC_PORTABLE), CUDA_SUCCESS);
  EXPECT("cuMemAlloc", cuMemAlloc(&d, big), CUDA_SUCCESS);
  round_trip("the largest copy", a, b, d, big, 1, NULL);
  round_trip("odd offsets and length", a + 4097, b + 13, d + 256, 3 * MIB + 7, 2, NULL);
  round_trip("one byte", a + big - 1, b + big - 1, d, 1, 3, NULL);
  CUstream s;
  EXPECT("cuStreamCreate", cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  round_trip("asynchronous, on a stream", a + 8192, b, d + 4096, 5 * MIB, 4, s);

  /* Blocks freed and allocated again land in the region's free space. */
  EXPECT("cuMemFreeHost", cuMemFreeHost(a), CUDA_SUCCESS);
  uint8_t *c = NULL, *e = NULL;
  EXPECT("cuMemAllocHost (small)", cuMemAllocHost((void **)&c, 5000), CUDA_SUCCESS);
  EXPECT("cuMemAllocHost (reuses the freed space)", cuMemAllocHost((void **)&e, 8 * MIB), CUDA_SUCCESS);
  round_trip("blocks carved after a free", c, e, d, 5000, 5, NULL);
  round_trip("and the other way round", e + 1, c, d + 1, 4999, 6, NULL);

  /* Synchronous copies of pageable memory from 64 KiB on are staged through a block of the region
   * (guest/cuda/impl/memory.c), in pieces of the block's 4 MiB, and mix with page-locked copies;
   * smaller ones go through the socket. Without a region all of them do. */
  size_t pn = 9 * MIB + 5 <= big ? 9 * MIB + 5 : big - 1;
  uint8_t *pageable = malloc(pn), *back = malloc(pn);
  if (!pageable || !back) return 2;
  fill(pageable, pn, 7);
  EXPECT("pageable host to device, staged in pieces", cuMemcpyHtoD(d, pageable, pn), CUDA_SUCCESS);
  memset(e, 0, 2 * MIB);
  EXPECT("device to page-locked", cuMemcpyDtoH(e, d, 2 * MIB), CUDA_SUCCESS);
  CHECK("pageable bytes arrived in page-locked memory", same(e, 2 * MIB, 7));
  memset(back, 0, pn);
  EXPECT("device to pageable, staged in pieces", cuMemcpyDtoH(back, d, pn), CUDA_SUCCESS);
  CHECK("every pageable byte came back", same(back, pn, 7));
  g_in += pn;
  g_out += 2 * MIB + pn;
  fill(pageable, 65535, 8);
  EXPECT("a pageable copy under 64 KiB, host to device", cuMemcpyHtoD(d + 3, pageable, 65535), CUDA_SUCCESS);
  memset(back, 0, 65535);
  EXPECT("and back", cuMemcpyDtoH(back, d + 3, 65535), CUDA_SUCCESS);
  CHECK("every byte of the small copy came back", same(back, 65535, 8));
  free(pageable);
  free(back);

  if (argc > 2 && !strcmp(argv[2], "hold")) {
    printf("# holding\n");
    fflush(stdout);
    char line[8];
    if (!fgets(line, sizeof line, stdin)) line[0] = 0;
  }
  EXPECT("cuMemFreeHost", cuMemFreeHost(b), CUDA_SUCCESS);
  EXPECT("cuMemFreeHost", cuMemFreeHost(c), CUDA_SUCCESS);
  EXPECT("cuMemFreeHost", cuMemFreeHost(e), CUDA_SUCCESS);
  EXPECT("cuMemFree", cuMemFree(d), CUDA_SUCCESS);
  EXPECT("cuStreamDestroy", cuStreamDestroy(s), CUDA_SUCCESS);
  printf("# shm-bytes %llu %llu\n", g_in, g_out);
  return failures ? 1 : 0;
}
