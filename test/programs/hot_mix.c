/*
 * Calls the executor's native hot path serves (launches, event records and queries, stream and
 * context synchronization) mixed with ones it leaves to TypeScript (allocations, copies, module
 * lookups), for test/e2e/hot-path.test.ts, which runs it with the hot path on and off and compares
 * what it prints. The kernels are test/programs/kernels.cu's (fatbin in argv[1]). Prints every
 * result, so a difference in any of them shows.
 */
#include <cuda.h>
#include <stdio.h>

static void show(const char *what, long v) { printf("%s: %ld\n", what, v); }

int main(int argc, char **argv) {
  static char img[1 << 21];
  FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
  if (!f || fread(img, 1, sizeof img, f) == 0) return 2;
  fclose(f);
  CUcontext ctx;
  CUmodule mod;
  CUfunction fempty, fcount, fpoke;
  CUdeviceptr out, p, counter;
  size_t counter_size;
  CUstream s;
  CUevent e1, e2;
  show("init", cuInit(0));
  show("retain", cuDevicePrimaryCtxRetain(&ctx, 0));
  show("set current", cuCtxSetCurrent(ctx));
  show("load", cuModuleLoadData(&mod, img));
  show("empty", cuModuleGetFunction(&fempty, mod, "empty"));
  show("count", cuModuleGetFunction(&fcount, mod, "count"));
  show("poke", cuModuleGetFunction(&fpoke, mod, "poke"));
  show("counter", cuModuleGetGlobal(&counter, &counter_size, mod, "counter"));
  show("alloc out", cuMemAlloc(&out, 64 * sizeof(float)));
  show("alloc p", cuMemAlloc(&p, sizeof(int)));
  show("stream", cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  show("event 1", cuEventCreate(&e1, 0));
  show("event 2", cuEventCreate(&e2, CU_EVENT_DISABLE_TIMING));

  /* A launch storm on a stream, then its event and the stream. */
  long failed = 0;
  for (int i = 0; i < 20000; i++) failed += cuLaunchKernel(fempty, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL) != CUDA_SUCCESS;
  show("storm launches failed", failed);
  show("record", cuEventRecord(e1, s));
  show("event synchronize", cuEventSynchronize(e1));
  show("event query", cuEventQuery(e1));
  show("stream query", cuStreamQuery(s));
  show("stream synchronize", cuStreamSynchronize(s));

  /* Counting launches with cold calls among them. */
  failed = 0;
  for (int i = 0; i < 1000; i++) {
    void *args[] = {&out};
    failed += cuLaunchKernel(fcount, 1, 1, 1, 32, 1, 1, 0, i % 2 ? s : NULL, args, NULL) != CUDA_SUCCESS;
    if (i % 100 == 0) {
      CUdeviceptr tmp;
      failed += cuMemAlloc(&tmp, 256) != CUDA_SUCCESS;
      failed += cuMemFree(tmp) != CUDA_SUCCESS;
    }
  }
  show("counted launches failed", failed);
  show("record with flags", cuEventRecordWithFlags(e2, s, 0));
  show("context synchronize", cuCtxSynchronize());
  int n = 0;
  show("read counter", cuMemcpyDtoH(&n, counter, sizeof n));
  show("counter", n);
  float o[64];
  show("read out", cuMemcpyDtoH(o, out, sizeof o));
  show("out[5] x 1000", (long)(o[5] * 1000));

  /* cuLaunchKernelEx, then a copy that sees what it did. */
  void *pargs[] = {&p};
  CUlaunchConfig cfg = {1, 1, 1, 1, 1, 1, 0, s, NULL, 0};
  show("launch ex", cuLaunchKernelEx(&cfg, fpoke, pargs, NULL));
  show("stream synchronize", cuStreamSynchronize(s));
  int v = 0;
  show("read p", cuMemcpyDtoH(&v, p, sizeof v));
  show("poked", v);

  /* A failing fire-and-forget launch: its error comes with the next synchronization, once. */
  /* (An attribute the driver does not know: the guest library passes attributes on unread.) */
  CUlaunchAttribute bad_attr = {.id = (CUlaunchAttributeID)0x7fff};
  CUlaunchConfig bad = {1, 1, 1, 1, 1, 1, 0, s, &bad_attr, 1};
  show("bad launch", cuLaunchKernelEx(&bad, fempty, NULL, NULL));
  show("synchronize after the bad launch", cuStreamSynchronize(s));
  show("synchronize again", cuStreamSynchronize(s));
  show("event query after", cuEventQuery(e2));

  /* Memsets, in range and past the end of an allocation. */
  show("memset d32 async", cuMemsetD32Async(out, 0x3f800000u, 64, s));
  show("memset d8", cuMemsetD8(p, 7, sizeof(int)));
  show("memset d16 inside", cuMemsetD16(out + 4, 0x1234, 8));
  show("memset d32 past the end", cuMemsetD32(out, 0, 65));
  show("memset d8 async past the end", cuMemsetD8Async(p + 3, 0, 2, s));
  show("stream synchronize", cuStreamSynchronize(s));
  show("read out", cuMemcpyDtoH(o, out, sizeof o));
  show("out[0] x 1000", (long)(o[0] * 1000));
  show("out[63] x 1000", (long)(o[63] * 1000));
  show("read p", cuMemcpyDtoH(&v, p, sizeof v));
  show("p", v);

  /* Handles the session no longer has: the executor's errors, whichever path saw them. */
  show("destroy event 2", cuEventDestroy(e2));
  show("query a destroyed event", cuEventQuery(e2));
  show("destroy stream", cuStreamDestroy(s));
  show("synchronize a destroyed stream", cuStreamSynchronize(s));
  show("launch on a destroyed stream", cuLaunchKernel(fempty, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL));
  show("context synchronize", cuCtxSynchronize());
  show("unload", cuModuleUnload(mod));
  show("release", cuDevicePrimaryCtxRelease(0));
  return 0;
}
