/*
 * The kernels of test/cuda/printf.cu (its fatbin in argv[1]) through the driver API, so that
 * test/e2e/printf.test.ts can run this program both in-process on softgpu and through vgpu and
 * compare what each prints: kernel printf at the same flush points, in the same order, with the
 * same text, and a failed assert's message on stderr. Prints only "#" lines of its own, so its
 * output is the same wherever the kernels run.
 */
#include <cuda.h>
#include <stdio.h>

static int failures;

static void expect(const char *what, CUresult got, CUresult want) {
  if (got == want) return;
  printf("# %s: got %d, want %d\n", what, (int)got, (int)want);
  failures++;
}

static void say(CUfunction f, int n, unsigned threads, CUstream s) {
  void *args[] = {&n};
  expect("launch say", cuLaunchKernel(f, 1, 1, 1, threads, 1, 1, 0, s, args, NULL), CUDA_SUCCESS);
}

/* Loads the image into the current context and looks its two kernels up. */
static CUmodule load(const char *img, CUfunction *fsay, CUfunction *finsist) {
  CUmodule mod = NULL;
  expect("load", cuModuleLoadData(&mod, img), CUDA_SUCCESS);
  expect("say", cuModuleGetFunction(fsay, mod, "say"), CUDA_SUCCESS);
  expect("insist", cuModuleGetFunction(finsist, mod, "insist"), CUDA_SUCCESS);
  return mod;
}

int main(int argc, char **argv) {
  static char img[1 << 20];
  FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
  if (!f || fread(img, 1, sizeof img, f) == 0) return 2;
  fclose(f);
  CUcontext ctx, own;
  CUmodule mod;
  CUfunction fsay, finsist;
  CUdeviceptr d;
  CUstream s;
  int h = 0;
  expect("cuInit", cuInit(0), CUDA_SUCCESS);
  expect("retain", cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS);
  expect("set current", cuCtxSetCurrent(ctx), CUDA_SUCCESS);
  mod = load(img, &fsay, &finsist);
  expect("alloc", cuMemAlloc(&d, sizeof h), CUDA_SUCCESS);
  expect("stream", cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);

  printf("# before the launch\n");
  say(fsay, 1, 3, NULL);
  printf("# launched; an asynchronous copy and a query do not print\n");
  expect("async copy", cuMemcpyHtoDAsync(d, &h, sizeof h, NULL), CUDA_SUCCESS);
  expect("query", cuStreamQuery(NULL), CUDA_SUCCESS);
  printf("# cuCtxSynchronize\n");
  expect("synchronize", cuCtxSynchronize(), CUDA_SUCCESS);
  say(fsay, 2, 2, s);
  printf("# cuStreamSynchronize\n");
  expect("stream synchronize", cuStreamSynchronize(s), CUDA_SUCCESS);
  say(fsay, 3, 1, NULL);
  printf("# cuMemcpyDtoH\n");
  expect("blocking copy", cuMemcpyDtoH(&h, d, sizeof h), CUDA_SUCCESS);
  say(fsay, 4, 1, NULL);
  printf("# cuModuleUnload\n");
  expect("unload", cuModuleUnload(mod), CUDA_SUCCESS);

  /* A context of its own: its destruction prints what it still holds, and a failed assert's
   * message goes to stderr at the synchronization that reports the fault. */
  expect("create", cuCtxCreate(&own, NULL, 0, 0), CUDA_SUCCESS);
  load(img, &fsay, &finsist);
  say(fsay, 5, 1, NULL);
  printf("# cuCtxDestroy\n");
  expect("destroy", cuCtxDestroy(own), CUDA_SUCCESS);
  expect("create another", cuCtxCreate(&own, NULL, 0, 0), CUDA_SUCCESS);
  load(img, &fsay, &finsist);
  say(fsay, 6, 1, NULL);
  int big = 100;
  void *args[] = {&big};
  /* softgpu runs the kernel at once and reports the fault from the launch; vgpu's launches are
   * fire-and-forget, so it comes with the next synchronization: only that one is checked. */
  (void)cuLaunchKernel(finsist, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL);
  printf("# cuCtxSynchronize after a failed assert\n");
  expect("synchronize after the assert", cuCtxSynchronize(), CUDA_ERROR_ASSERT);
  printf("# done, %d failures\n", failures);
  return failures ? 1 : 0;
}
