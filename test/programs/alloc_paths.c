/*
 * Every allocation path under a VM's memory quota. Runs the steps given as arguments and prints
 * one line per step:
 *   info          "info free=<MiB> total=<MiB>" (cuMemGetInfo)
 *   alloc:MIB     "alloc <MIB> -> <CUresult>" (cuMemAlloc; its last byte is set, so the memory is
 *                 real)
 *   global:MIB    "global <MIB> -> <CUresult>" (cuModuleLoadData of a PTX module whose one
 *                 .global array takes MIB MiB of device memory; its last byte is set through
 *                 cuModuleGetGlobal)
 *   lib:MIB       "lib <MIB> -> <CUresult>" (cuLibraryLoadData of the same PTX while no context
 *                 is current, as a library needs none; then, in the primary context, its last
 *                 byte is set through cuLibraryGetGlobal)
 *   unload        "unload <n> -> <CUresult>" (cuModuleUnload of every module and cuLibraryUnload
 *                 of every library loaded)
 *   reset         "reset -> <CUresult>": cuDevicePrimaryCtxReset, then the primary context is
 *                 retained again and made current and the stream made anew (the reset destroyed
 *                 it); what was allocated in the context (not stream-ordered memory) is forgotten
 *   ctx:MIB:GMIB  "ctx <MIB> <GMIB> -> <alloc>,<global>,<destroy>": in a context of its own
 *                 (cuCtxCreate), cuMemAlloc of MIB MiB and a module with a GMIB MiB global, then
 *                 cuCtxDestroy and the primary context is current again
 *   hold          prints "holding" and waits for a line on stdin (keeps what it holds meanwhile)
 *   pitch:W:H     "pitch W H -> <CUresult> pitch=<bytes>" (cuMemAllocPitch, 4-byte elements; rows
 *                 are filled with cuMemsetD32 and the last one read back, so the memory is real)
 *   async:MIB     "async <MIB> -> <CUresult>" (cuMemAllocAsync on a stream: the default pool)
 *   pool:MIB      "pool <MIB> -> <CUresult>" (cuMemAllocFromPoolAsync from a pool it created)
 *   poolused      "poolused default=<MiB> created=<MiB>" (CU_MEMPOOL_ATTR_USED_MEM_CURRENT)
 *   freeall       "freeall <n> -> <CUresult>": cuMemFree for pitched, cuMemFreeAsync for the rest,
 *                 then the stream is synchronised
 *   reserve:MIB   "reserve <MIB> -> <CUresult>" (cuMemAddressReserve only: address space, kept)
 *   vmm:MIB       "vmm <MIB> -> <CUresult>" (the virtual memory API: cuMemAddressReserve,
 *                 cuMemCreate of MIB MiB, cuMemMap, cuMemSetAccess; its last byte is set)
 *   vmmfree       "vmmfree <n> -> <CUresult>": cuMemUnmap, cuMemRelease and cuMemAddressFree of
 *                 every vmm step's memory
 *   managed:MIB   "managed <MIB> -> <CUresult>" (cuMemAllocManaged; the host writes its last byte
 *                 and a memset on the device reads it back, so both copies are real); freeall
 *                 frees it with cuMemFree
 *   mapped:MIB    "mapped <MIB> -> <CUresult>" (cuMemHostAlloc with DEVICEMAP; its last byte set
 *                 through the device pointer); freeall frees it with cuMemFreeHost
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HELD 64

static CUdeviceptr held[MAX_HELD];
static int held_async[MAX_HELD];
static int nheld;
static void *mapped_held[MAX_HELD];
static int nmapped;
static CUmodule modules[MAX_HELD];
static int nmodules;
static CUlibrary libraries[MAX_HELD];
static int nlibraries;

/* What each vmm step holds. */
static struct {
  CUdeviceptr va;
  size_t size;
  CUmemGenericAllocationHandle h;
} vmm_held[MAX_HELD];
static int nvmm;

static CUresult vmm_alloc(CUdevice d, size_t size) {
  CUmemAllocationProp prop;
  memset(&prop, 0, sizeof prop);
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = d;
  CUdeviceptr va = 0;
  CUmemGenericAllocationHandle h = 0;
  CUresult r = cuMemAddressReserve(&va, size, 0, 0, 0);
  if (r) return r;
  r = cuMemCreate(&h, size, &prop, 0);
  if (r) {
    cuMemAddressFree(va, size);
    return r;
  }
  CUmemAccessDesc rw = {{CU_MEM_LOCATION_TYPE_DEVICE, d}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  r = cuMemMap(va, size, 0, h, 0);
  if (r == CUDA_SUCCESS) r = cuMemSetAccess(va, size, &rw, 1);
  if (r == CUDA_SUCCESS) r = cuMemsetD8(va + size - 1, 7, 1);
  if (r == CUDA_SUCCESS && nvmm < MAX_HELD) {
    vmm_held[nvmm].va = va;
    vmm_held[nvmm].size = size;
    vmm_held[nvmm++].h = h;
  }
  return r;
}

static void keep(CUdeviceptr p, int async) {
  if (nheld < MAX_HELD) {
    held[nheld] = p;
    held_async[nheld++] = async;
  }
}

/* softgpu follows every block of device memory with one 256-byte guard granule: a global this
 * much smaller than MIB MiB takes exactly MIB MiB of the device. */
#define GUARD 256

/* Loads PTX with one .global array, "big", taking `mib` MiB: as a module into the current context,
 * or as a library (into `lib`) while no context is current, as a library needs none. Then sets
 * the global's last byte, for a library in context `c`. */
static CUresult load_global(size_t mib, CUmodule *mod, CUlibrary *lib, CUcontext c) {
  char ptx[512];
  snprintf(ptx, sizeof ptx,
           ".version 7.0\n.target sm_52\n.address_size 64\n"
           ".visible .global .align 256 .b32 big[%zu];\n", ((mib << 20) - GUARD) / 4);
  CUresult r;
  if (lib) {
    CUcontext popped;
    r = cuCtxPopCurrent(&popped);
    if (r == CUDA_SUCCESS) r = cuLibraryLoadData(lib, ptx, NULL, NULL, 0, NULL, NULL, 0);
    if (cuCtxSetCurrent(c)) return CUDA_ERROR_UNKNOWN;
  } else {
    r = cuModuleLoadData(mod, ptx);
  }
  if (r) return r;
  CUdeviceptr p = 0;
  size_t n = 0;
  r = lib ? cuLibraryGetGlobal(&p, &n, *lib, "big") : cuModuleGetGlobal(&p, &n, *mod, "big");
  if (r == CUDA_SUCCESS) r = cuMemsetD8(p + n - 1, 7, 1);
  if (r && lib) cuLibraryUnload(*lib);
  else if (r) cuModuleUnload(*mod);
  return r;
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
    } else if (!strncmp(argv[i], "alloc:", 6)) {
      size_t mib = strtoul(argv[i] + 6, NULL, 10);
      CUdeviceptr p = 0;
      CUresult r = cuMemAlloc(&p, mib << 20);
      if (r == CUDA_SUCCESS) {
        keep(p, 0);
        r = cuMemsetD8(p + (mib << 20) - 1, 7, 1);
      }
      printf("alloc %zu -> %d\n", mib, (int)r);
    } else if (!strncmp(argv[i], "global:", 7)) {
      size_t mib = strtoul(argv[i] + 7, NULL, 10);
      CUmodule m;
      CUresult r = load_global(mib, &m, NULL, NULL);
      if (r == CUDA_SUCCESS && nmodules < MAX_HELD) modules[nmodules++] = m;
      printf("global %zu -> %d\n", mib, (int)r);
    } else if (!strncmp(argv[i], "lib:", 4)) {
      size_t mib = strtoul(argv[i] + 4, NULL, 10);
      CUlibrary l;
      CUresult r = load_global(mib, NULL, &l, c);
      if (r == CUDA_SUCCESS && nlibraries < MAX_HELD) libraries[nlibraries++] = l;
      printf("lib %zu -> %d\n", mib, (int)r);
    } else if (!strcmp(argv[i], "unload")) {
      CUresult r = CUDA_SUCCESS;
      int n = nmodules + nlibraries;
      for (int k = 0; k < nmodules && r == CUDA_SUCCESS; k++) r = cuModuleUnload(modules[k]);
      for (int k = 0; k < nlibraries && r == CUDA_SUCCESS; k++) r = cuLibraryUnload(libraries[k]);
      nmodules = nlibraries = 0;
      printf("unload %d -> %d\n", n, (int)r);
    } else if (!strcmp(argv[i], "reset")) {
      CUresult r = cuDevicePrimaryCtxReset(d);
      if (r == CUDA_SUCCESS) r = cuDevicePrimaryCtxRetain(&c, d);
      if (r == CUDA_SUCCESS) r = cuCtxSetCurrent(c);
      if (r == CUDA_SUCCESS) r = cuStreamCreate(&s, CU_STREAM_NON_BLOCKING);
      /* The reset freed the context's allocations and modules; stream-ordered ones stay. */
      int k = 0;
      for (int j = 0; j < nheld; j++) {
        if (held_async[j]) {
          held[k] = held[j];
          held_async[k++] = 1;
        }
      }
      nheld = k;
      nmodules = 0;
      printf("reset -> %d\n", (int)r);
    } else if (!strncmp(argv[i], "ctx:", 4)) {
      char *end;
      size_t mib = strtoull(argv[i] + 4, &end, 10), gmib = strtoull(end + 1, NULL, 10);
      CUcontext k;
      CUdeviceptr p = 0;
      CUmodule m;
      CUresult ra = CUDA_ERROR_UNKNOWN, rg = CUDA_ERROR_UNKNOWN, rd = cuCtxCreate(&k, NULL, 0, d);
      if (rd == CUDA_SUCCESS) {
        ra = cuMemAlloc(&p, mib << 20);
        if (ra == CUDA_SUCCESS) ra = cuMemsetD8(p + (mib << 20) - 1, 7, 1);
        rg = load_global(gmib, &m, NULL, NULL);
        rd = cuCtxDestroy(k);
      }
      if (cuCtxSetCurrent(c)) return 5;
      printf("ctx %zu %zu -> %d,%d,%d\n", mib, gmib, (int)ra, (int)rg, (int)rd);
    } else if (!strcmp(argv[i], "hold")) {
      printf("holding\n");
      char line[16];
      if (!fgets(line, sizeof line, stdin)) break;
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
    } else if (!strncmp(argv[i], "reserve:", 8)) {
      size_t mib = strtoul(argv[i] + 8, NULL, 10);
      CUdeviceptr va = 0;
      printf("reserve %zu -> %d\n", mib, (int)cuMemAddressReserve(&va, mib << 20, 0, 0, 0));
    } else if (!strncmp(argv[i], "vmm:", 4)) {
      size_t mib = strtoul(argv[i] + 4, NULL, 10);
      printf("vmm %zu -> %d\n", mib, (int)vmm_alloc(d, mib << 20));
    } else if (!strcmp(argv[i], "vmmfree")) {
      CUresult r = CUDA_SUCCESS;
      int n = nvmm;
      for (int k = 0; k < nvmm && r == CUDA_SUCCESS; k++) {
        r = cuMemUnmap(vmm_held[k].va, vmm_held[k].size);
        if (r == CUDA_SUCCESS) r = cuMemRelease(vmm_held[k].h);
        if (r == CUDA_SUCCESS) r = cuMemAddressFree(vmm_held[k].va, vmm_held[k].size);
      }
      nvmm = 0;
      printf("vmmfree %d -> %d\n", n, (int)r);
    } else if (!strncmp(argv[i], "managed:", 8)) {
      size_t n = strtoul(argv[i] + 8, NULL, 10) << 20;
      CUdeviceptr p = 0;
      CUresult r = cuMemAllocManaged(&p, n, CU_MEM_ATTACH_GLOBAL);
      if (r == CUDA_SUCCESS) {
        unsigned char back = 0;
        keep(p, 0);
        ((unsigned char *)(uintptr_t)p)[n - 1] = 7;
        r = cuMemcpyDtoH(&back, p + n - 1, 1);
        if (r == CUDA_SUCCESS && back != 7) r = CUDA_ERROR_UNKNOWN;
      }
      printf("managed %zu -> %d\n", n >> 20, (int)r);
    } else if (!strncmp(argv[i], "mapped:", 7)) {
      size_t n = strtoul(argv[i] + 7, NULL, 10) << 20;
      void *h = NULL;
      CUdeviceptr p = 0;
      CUresult r = cuMemHostAlloc(&h, n, CU_MEMHOSTALLOC_DEVICEMAP);
      if (r == CUDA_SUCCESS) {
        if (nmapped < MAX_HELD) mapped_held[nmapped++] = h;
        r = cuMemHostGetDevicePointer(&p, h, 0);
        if (r == CUDA_SUCCESS) r = cuMemsetD8(p + n - 1, 7, 1);
        if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
        if (r == CUDA_SUCCESS && ((unsigned char *)h)[n - 1] != 7) r = CUDA_ERROR_UNKNOWN;
      }
      printf("mapped %zu -> %d\n", n >> 20, (int)r);
    } else if (!strcmp(argv[i], "poolused")) {
      printf("poolused default=%llu created=%llu\n", mib_used(def), mib_used(mine));
    } else if (!strcmp(argv[i], "freeall")) {
      CUresult r = CUDA_SUCCESS;
      int n = nheld;
      for (int k = 0; k < nheld && r == CUDA_SUCCESS; k++) r = held_async[k] ? cuMemFreeAsync(held[k], s) : cuMemFree(held[k]);
      for (int k = 0; k < nmapped && r == CUDA_SUCCESS; k++) r = cuMemFreeHost(mapped_held[k]);
      if (r == CUDA_SUCCESS) r = cuStreamSynchronize(s);
      n += nmapped;
      nheld = nmapped = 0;
      printf("freeall %d -> %d\n", n, (int)r);
    }
  }
  return 0;
}
