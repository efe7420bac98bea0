/*
 * Checks for the CUDA runtime test programs in test/cuda (run by test/e2e/cudart.test.ts against
 * vgpu's libcuda.so.1). One "ok - name" or "not ok - name" line per check; main returns
 * finish(), which is non-zero if any check failed. Nothing here knows about vgpu.
 */
#ifndef VG_CUDA_TEST_CHECK_H
#define VG_CUDA_TEST_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>

static int failures;
static int checks;

#define CHECK(name, cond)                                                        \
  do {                                                                           \
    checks++;                                                                    \
    if (cond) printf("ok - %s\n", name);                                         \
    else {                                                                       \
      printf("not ok - %s (%s:%d)\n", name, __FILE__, __LINE__);                 \
      failures++;                                                                \
    }                                                                            \
  } while (0)

/* A runtime call that must return `want`. */
#define EXPECT(name, call, want)                                                 \
  do {                                                                           \
    cudaError_t e_ = (call);                                                     \
    checks++;                                                                    \
    if (e_ == (want)) printf("ok - %s\n", name);                                 \
    else {                                                                       \
      printf("not ok - %s: got %d (%s), want %d (%s:%d)\n", name, (int)e_,       \
             cudaGetErrorName(e_), (int)(want), __FILE__, __LINE__);             \
      failures++;                                                                \
    }                                                                            \
  } while (0)

#define OK(name, call) EXPECT(name, call, cudaSuccess)

static int finish(void) {
  printf("# %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}

#endif
