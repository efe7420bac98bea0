/*
 * cuGetErrorName / cuGetErrorString of the guest library against softgpu's (its sanitizer build,
 * loaded privately): both come from spec/curesult.tsv, so they must agree on every code, and the
 * strings must be NVIDIA's driver's own, typos included.
 */
#include "vgcuda.h"

#include <dlfcn.h>

#include "curesult.h"
#include "vgtest.h"

typedef CUresult (*err_fn)(CUresult, const char **);

typedef struct lib_errs {
  const char *who;
  err_fn name, string;
} lib_errs;

/* The guest's own functions, and softgpu's under the same names. */
static void both_libraries(lib_errs out[2]) {
  void *h = dlopen(VG_TEST_SOFTGPU, RTLD_NOW | RTLD_LOCAL);
  if (!h) VGT_FAIL("dlopen %s: %s", VG_TEST_SOFTGPU, dlerror());
  out[0] = (lib_errs){"guest", cuGetErrorName, cuGetErrorString};
  out[1] = (lib_errs){"softgpu", (err_fn)dlsym(h, "cuGetErrorName"), (err_fn)dlsym(h, "cuGetErrorString")};
  ASSERT_TRUE(out[1].name && out[1].string);
  ASSERT_TRUE(out[1].name != cuGetErrorName); /* really softgpu's copy, not ours */
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* Asks both libraries about e; returns 1 when it is a known code. */
static int agree_on(const lib_errs l[2], CUresult e) {
  const char *gn = "x", *gs = "x", *sn = "y", *ss = "y";
  CUresult rgn = l[0].name(e, &gn), rgs = l[0].string(e, &gs);
  CUresult rsn = l[1].name(e, &sn), rss = l[1].string(e, &ss);
  if (rgn != rsn || rgs != rss || rgn != rgs || !same_str(gn, sn) || !same_str(gs, ss))
    VGT_FAIL("code %d: guest %d %s / %d %s, softgpu %d %s / %d %s", (int)e, rgn, gn ? gn : "(null)", rgs,
             gs ? gs : "(null)", rsn, sn ? sn : "(null)", rss, ss ? ss : "(null)");
  if (rgn != CUDA_SUCCESS) {
    ASSERT_EQ(rgn, CUDA_ERROR_INVALID_VALUE);
    ASSERT_PTR_EQ(gn, NULL);
    ASSERT_PTR_EQ(gs, NULL);
    return 0;
  }
  ASSERT_TRUE(!strncmp(gn, "CUDA_", 5) && *gs);
  return 1;
}

TEST(curesult_guest_and_softgpu_agree_on_every_code) {
  lib_errs l[2];
  both_libraries(l);
  int known = 0;
  for (int e = -3; e < 1100; e++) known += agree_on(l, (CUresult)e); /* the largest CUresult is 999 */
  static const int far[] = {12345, 0x7fffffff, -0x7fffffff - 1};
  for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) ASSERT_EQ(agree_on(l, (CUresult)far[i]), 0);
  ASSERT_EQ(known, VG_CURESULT_COUNT);
  ASSERT_TRUE(known >= 101); /* the CUresult enumerators of CUDA 13.0 */
}

TEST(curesult_strings_are_the_real_drivers) {
  static const struct {
    CUresult e;
    const char *name, *message;
  } real[] = {
      /* libcuda.so.550.163.01, spelling and all */
      {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
      {CUDA_ERROR_EXTERNAL_DEVICE, "CUDA_ERROR_EXTERNAL_DEVICE", "an async error has occured in external entity outside of CUDA"},
      {CUDA_ERROR_LOSSY_QUERY, "CUDA_ERROR_LOSSY_QUERY", "attempted introspection would be semantically lossy"},
      {CUDA_ERROR_DEVICE_UNAVAILABLE, "CUDA_ERROR_DEVICE_UNAVAILABLE", "CUDA-capable device(s) is/are busy or unavailable"},
      {CUDA_ERROR_PROFILER_NOT_INITIALIZED, "CUDA_ERROR_PROFILER_NOT_INITIALIZED",
       "profiler not initialized: call cudaProfilerInitialize()"},
      {CUDA_ERROR_MPS_SERVER_NOT_READY, "CUDA_ERROR_MPS_SERVER_NOT_READY", "MPS server is not ready to accept new MPS client requests"},
      {CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
      /* newer than driver 550: CUDA 13.0's cudart */
      {CUDA_ERROR_TENSOR_MEMORY_LEAK, "CUDA_ERROR_TENSOR_MEMORY_LEAK", "tensor memory not completely freed"},
  };
  lib_errs l[2];
  both_libraries(l);
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
      const char *n = NULL, *s = NULL;
      ASSERT_EQ(l[k].name(real[i].e, &n), CUDA_SUCCESS);
      ASSERT_EQ(l[k].string(real[i].e, &s), CUDA_SUCCESS);
      ASSERT_STR_EQ(n, real[i].name);
      ASSERT_STR_EQ(s, real[i].message);
    }
}

TEST(curesult_null_output_is_refused) {
  lib_errs l[2];
  both_libraries(l);
  for (int k = 0; k < 2; k++) {
    ASSERT_EQ(l[k].name(CUDA_SUCCESS, NULL), CUDA_ERROR_INVALID_VALUE);
    ASSERT_EQ(l[k].string(CUDA_ERROR_OUT_OF_MEMORY, NULL), CUDA_ERROR_INVALID_VALUE);
  }
}
