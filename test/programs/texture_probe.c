/*
 * Texture objects across sessions, for test/e2e/texture-isolation.test.ts:
 *   texture_probe own               makes a texture over memory holding 1234.5, prints its value
 *                                   ("texture N") and holds it until stdin closes;
 *   texture_probe forge N FATBIN    samples texture value N, which this session never made
 *                                   ("forged R V": the launch's result and what was read), then
 *                                   its own texture over 42 ("own R V");
 *   texture_probe arrays MIB COUNT  makes COUNT arrays of MIB MiB each ("array K -> R").
 */
#include <stdlib.h>
#include <string.h>

#include "kernel_prog.h"

static int texture_over(float value, CUtexObject *t) {
  CUdeviceptr p;
  CK(cuMemAlloc(&p, 256));
  CK(cuMemcpyHtoD(p, &value, sizeof value));
  CUDA_RESOURCE_DESC rd;
  memset(&rd, 0, sizeof rd);
  rd.resType = CU_RESOURCE_TYPE_LINEAR;
  rd.res.linear.devPtr = p;
  rd.res.linear.format = CU_AD_FORMAT_FLOAT;
  rd.res.linear.numChannels = 1;
  rd.res.linear.sizeInBytes = 256;
  CUDA_TEXTURE_DESC td;
  memset(&td, 0, sizeof td);
  CK(cuTexObjectCreate(t, &rd, &td, NULL));
  return 0;
}

/* Launches tex_peek on value t; prints "<label> <result> <value read>". */
static int peek(CUfunction f, unsigned long long t, const char *label) {
  CUdeviceptr out;
  CK(cuMemAlloc(&out, sizeof(float)));
  CK(cuMemsetD32(out, 0, 1));
  void *args[] = {&t, &out};
  CUresult r = cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL);
  if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
  float v = 0;
  if (r == CUDA_SUCCESS) CK(cuMemcpyDtoH(&v, out, sizeof v));
  printf("%s %d %g\n", label, (int)r, v);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  CUcontext ctx;
  CK(cuInit(0));
  CK(cuCtxCreate(&ctx, NULL, 0, 0));
  if (strcmp(argv[1], "own") == 0) {
    CUtexObject t;
    if (texture_over(1234.5f, &t)) return 1;
    printf("texture %llu\n", (unsigned long long)t);
    fflush(stdout);
    while (!stdin_closed(1000)) {
    }
    return 0;
  }
  if (strcmp(argv[1], "forge") == 0 && argc == 4) {
    const char *img = load_image(argv[3]);
    if (!img) return 2;
    CUmodule m;
    CUfunction f;
    CK(cuModuleLoadData(&m, img));
    CK(cuModuleGetFunction(&f, m, "tex_peek"));
    if (peek(f, strtoull(argv[2], NULL, 10), "forged")) return 1;
    /* The forged launch may have poisoned this context: a fresh one for the session's own. */
    cuCtxDestroy(ctx);
    CK(cuCtxCreate(&ctx, NULL, 0, 0));
    CK(cuModuleLoadData(&m, img));
    CK(cuModuleGetFunction(&f, m, "tex_peek"));
    CUtexObject t;
    if (texture_over(42.0f, &t)) return 1;
    return peek(f, t, "own");
  }
  if (strcmp(argv[1], "arrays") == 0 && argc == 4) {
    int mib = atoi(argv[2]), n = atoi(argv[3]);
    for (int k = 0; k < n; k++) {
      CUarray a;
      CUDA_ARRAY_DESCRIPTOR d = {1024, (size_t)mib * 64, CU_AD_FORMAT_FLOAT, 4}; /* 16 KiB rows */
      printf("array %d -> %d\n", k, (int)cuArrayCreate(&a, &d));
    }
    fflush(stdout);
    return 0;
  }
  return 2;
}
