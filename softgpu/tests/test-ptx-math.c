/*
 * Ordinary CUDA C++ math as nvcc 13 lowers it (softgpu/tests/ptx/math.ptx from ptx/src/math.cu,
 * sm_80): libdevice sequences for expf/logf/sinf/powf/erff and doubles, integer intrinsics,
 * half precision, __syncwarp, __reduce_*_sync and double atomicAdd, against C.
 */
#include <math.h>

#include "ptx/ptx_test_util.h"

static int close_to(double got, double want, double rel) {
  if (isnan(want)) return isnan(got);
  return fabs(got - want) <= rel * fabs(want) + 1e-6;
}

TEST(ptx_math_float_functions) {
  sg_ptx_module *m = ptxt_load_file("math.ptx");
  const int T = 64;
  sg_devptr x = ptxt_alloc(T * 4), o = ptxt_alloc(T * 12 * 4);
  float *hx = ptxt_host(x, T * 4), *ho = ptxt_host(o, T * 48);
  for (int i = 0; i < T; i++) hx[i] = (float)(i - 32) * 0.37f + 0.01f;
  uint64_t P[2] = {x, o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "fmath"), 1, 1, T, 1, 0, P, 16, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < T; i++) {
    float v = hx[i];
    double want[12] = {expf(v), logf(fabsf(v) + 1), sinf(v), cosf(v), powf(fabsf(v), 1.5f), sqrtf(fabsf(v)),
                       tanhf(v), atan2f(v, 1.5f), fmodf(v, 0.7f), (float)exp((double)v),
                       (float)log1p((double)fabsf(v)), erff(v)};
    for (int k = 0; k < 12; k++)
      if (!close_to(ho[i * 12 + k], want[k], 4e-6))
        FAIL("fmath[%d] f%d(%g) = %.9g, want %.9g", i, k, v, ho[i * 12 + k], want[k]);
  }
  sg_ptx_unload(m);
}

static uint32_t brev(uint32_t x) {
  uint32_t r = 0;
  for (int k = 0; k < 32; k++) r |= ((x >> k) & 1u) << (31 - k);
  return r;
}

TEST(ptx_math_integer_intrinsics) {
  sg_ptx_module *m = ptxt_load_file("math.ptx");
  const int T = 64;
  sg_devptr x = ptxt_alloc(T * 4), o = ptxt_alloc(T * 12 * 4);
  int *hx = ptxt_host(x, T * 4);
  uint32_t *ho = ptxt_host(o, T * 48);
  for (int i = 0; i < T; i++) hx[i] = (int)((uint32_t)i * 2654435761u) >> (i % 5);
  hx[0] = 0;
  hx[1] = -1;
  hx[2] = INT32_MIN;
  uint64_t P[2] = {x, o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "imath"), 1, 1, T, 1, 0, P, 16, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < T; i++) {
    int v = hx[i];
    uint32_t u = (uint32_t)v;
    uint32_t *r = ho + i * 12;
    ASSERT_EQ(r[0], brev(u));
    ASSERT_EQ(r[1], (uint32_t)__builtin_popcount(u));
    ASSERT_EQ(r[2], u ? (uint32_t)__builtin_clz(u) : 32u);
    ASSERT_EQ(r[3], (uint32_t)__builtin_ffs(v));
    ASSERT_EQ(r[4], (uint32_t)(v / 7));
    ASSERT_EQ(r[5], (uint32_t)(v % 7));
    ASSERT_EQ(r[6], u / 13u);
    ASSERT_EQ(r[7], (uint32_t)(((long long)v * 1000003LL) >> 7));
    uint32_t sel = 0x3210 ^ ((uint32_t)i & 0x7777), bp = 0;
    uint64_t src = ((uint64_t)0x12345678u << 32) | u;
    for (int b = 0; b < 4; b++) bp |= (uint32_t)((src >> (8 * ((sel >> (4 * b)) & 7))) & 0xff) << (8 * b);
    ASSERT_EQ(r[8], bp);
    uint64_t fs = ((uint64_t)0xdeadbeefu << 32) | u;
    ASSERT_EQ(r[9], (uint32_t)((fs << (i & 31)) >> 32));
    ASSERT_EQ(r[10], (u > 100u ? u - 100u : 100u - u) + 5u);
    ASSERT_EQ(r[11], (uint32_t)(((long long)v * 0x12345) >> 32));
  }
  sg_ptx_unload(m);
}

TEST(ptx_math_half_precision) {
  sg_ptx_module *m = ptxt_load_file("math.ptx");
  const int T = 32;
  sg_devptr x = ptxt_alloc(T * 4), o = ptxt_alloc(T * 16);
  float *hx = ptxt_host(x, T * 4), *ho = ptxt_host(o, T * 16);
  for (int i = 0; i < T; i++) hx[i] = (float)i * 0.25f - 3.0f; /* exactly representable in half */
  uint64_t P[2] = {x, o};
  char err[512] = "";
  if (ptxt_launch(ptxt_kernel(m, "hmath"), 1, 1, T, 1, 0, P, 16, err, sizeof err) != SG_PTX_OK) FAIL("%s", err);
  for (int i = 0; i < T; i++) {
    float a = hx[i];
    ASSERT_EQ(ho[i * 4], a + 0.5f);
    ASSERT_EQ(ho[i * 4 + 1], a * a); /* small exact products */
    ASSERT_EQ(ho[i * 4 + 2], a * 0.5f + a);
    ASSERT_EQ(ho[i * 4 + 3], a * a + 2.0f);
  }
  sg_ptx_unload(m);
}

TEST(ptx_math_warp_reductions_and_double_atomics) {
  sg_ptx_module *m = ptxt_load_file("math.ptx");
  const int T = 64;
  sg_devptr x = ptxt_alloc(T * 4), o = ptxt_alloc(1024);
  int *hx = ptxt_host(x, T * 4), *ho = ptxt_host(o, 1024);
  memset(ho, 0, 1024);
  for (int i = 0; i < T; i++) hx[i] = (i * 37) % 101 - 50;
  uint64_t P[2] = {x, o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "warp"), 3, 1, T, 1, 0, P, 16, err, sizeof err), SG_PTX_OK);
  double total = 0;
  for (int w = 0; w < 2; w++) {
    int s = 0, mx = INT32_MIN;
    unsigned orv = 0;
    for (int l = 0; l < 32; l++) {
      int v = hx[w * 32 + l];
      s += v;
      mx = v > mx ? v : mx;
      orv |= (unsigned)v;
      total += v;
    }
    for (int l = 0; l < 32; l++) {
      int t = w * 32 + l;
      ASSERT_EQ(ho[t * 3], s);
      ASSERT_EQ(ho[t * 3 + 1], mx);
      ASSERT_EQ((unsigned)ho[t * 3 + 2], orv);
    }
  }
  double got;
  memcpy(&got, ho + 200, 8);
  ASSERT_EQ(got, 3 * total);
  sg_ptx_unload(m);
}
