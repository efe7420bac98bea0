/*
 * Every allocation path under a VM's memory quota. Runs the steps given as arguments and prints
 * one line per step:
 *   info          "info free=<MiB> total=<MiB>" (cuMemGetInfo)
 *   pitch:W:H     "pitch W H -> <CUresult> pitch=<bytes>" (cuMemAllocPitch, 4-byte elements; rows
 *                 are filled with cuMemsetD32 and the last one read back, so the memory is real)
 *   async:MIB     "async <MIB> -> <CUresult>" (cuMemAllocAsync on a stream: the default pool)
 *   pool:MIB      "pool <MIB> -> <CUresult>" (cuMemAllocFromPoolAsync from a pool it created)
 *   poolused      "poolused default=<MiB> created=<MiB>" (CU_MEMPOOL_ATTR_USED_MEM_CURRENT)
 *   freeall       "freeall <n> -> <CUresult>": cuMemFree for pitched, cuMemFreeAsync for the rest,
 *                 then the stream is synchronised
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HELD 64

static CUdeviceptr held[MAX_HELD];
static int held_async[MAX_HELD];
static int nheld;

static void keep(CUdeviceptr p, int async) {
  if (nheld < MAX_HELD) {
    held[nheld] = p;
    held_async[nheld++] = async;
  }
}

static unsigned long long mib_used(CUmemoryPool pool) {
  cuuint64_t v = ~0ull;
  if (cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v)) return ~0ull;
  return (unsigned long long)(v >> 20);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CUdevice d;
  CUcontext c;
  CUstream s;
  CUmemoryPool def, mine;
  if (cuInit(0) || cuDeviceGet(&d, 0) || cuDevicePrimaryCtxRetain(&c, d) || cuCtxSetCurrent(c)) return 2;
  int pools = 0;
  if (cuDeviceGetAttribute(&pools, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, d) || !pools) return 3;
  CUmemPoolProps props;
  memset(&props, 0, sizeof props);
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = d;
  if (cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) || cuDeviceGetDefaultMemPool(&def, d) || cuMemPoolCreate(&mine, &props)) return 4;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "info")) {
      size_t f = 0, t = 0;
      CUresult r = cuMemGetInfo(&f, &t);
      printf("info free=%zu total=%zu r=%d\n", f >> 20, t >> 20, (int)r);
    } else if (!strncmp(argv[i], "pitch:", 6)) {
      char *end;
      size_t w = strtoull(argv[i] + 6, &end, 10), h = strtoull(end + 1, NULL, 10);
      CUdeviceptr p = 0;
      size_t pitch = 0;
      CUresult r = cuMemAllocPitch(&p, &pitch, w, h, 4);
      if (r == CUDA_SUCCESS) {
        unsigned last = 0;
        keep(p, 0);
        r = cuMemsetD32(p, 0x5eed5eedu, pitch / 4 * h);
        if (r == CUDA_SUCCESS) r = cuMemcpyDtoH(&last, p + pitch * (h - 1) + (w / 4 - 1) * 4, 4);
        if (r == CUDA_SUCCESS && last != 0x5eed5eedu) r = CUDA_ERROR_UNKNOWN;
      }
      printf("pitch %zu %zu -> %d pitch=%zu\n", w, h, (int)r, pitch);
    } else if (!strncmp(argv[i], "async:", 6) || !strncmp(argv[i], "pool:", 5)) {
      int from_pool = argv[i][0] == 'p';
      size_t mib = strtoul(strchr(argv[i], ':') + 1, NULL, 10);
      CUdeviceptr p = 0;
      CUresult r = from_pool ? cuMemAllocFromPoolAsync(&p, mib << 20, mine, s) : cuMemAllocAsync(&p, mib << 20, s);
      if (r == CUDA_SUCCESS) {
        keep(p, 1);
        r = cuMemsetD8Async(p + (mib << 20) - 1, 7, 1, s);
        if (r == CUDA_SUCCESS) r = cuStreamSynchronize(s);
      }
      printf("%s %zu -> %d\n", from_pool ? "pool" : "async", mib, (int)r);
    } else if (!strcmp(argv[i], "poolused")) {
      printf("poolused default=%llu created=%llu\n", mib_used(def), mib_used(mine));
    } else if (!strcmp(argv[i], "freeall")) {
      CUresult r = CUDA_SUCCESS;
      int n = nheld;
      for (int k = 0; k < nheld && r == CUDA_SUCCESS; k++) r = held_async[k] ? cuMemFreeAsync(held[k], s) : cuMemFree(held[k]);
      if (r == CUDA_SUCCESS) r = cuStreamSynchronize(s);
      nheld = 0;
      printf("freeall %d -> %d\n", n, (int)r);
    }
  }
  return 0;
}
