/*
 * Instruction families, one small kernel each (ptx_test_util.h wraps the snippet in a one-thread
 * kernel; %rd1 = input, %rd2 = output), checked against values computed in C: edge cases
 * included (NaN, infinities, denormals, rounding modes, overflow, shifts by >= width).
 */
#include <math.h>

#include "ptx/ptx_test_util.h"

/* Integer arithmetic on 32 inputs pairs: add/sub/mul.lo/hi/wide, mad, div/rem, min/max, abs/neg, sat. */
TEST(ptx_ops_integer_arith) {
  int32_t in[2] = {-7, 3};
  int32_t out[20];
  ptxt_run_ok("ld.global.s32 %r1, [%rd1]; ld.global.s32 %r2, [%rd1+4];\n"
              "add.s32 %r3, %r1, %r2; st.global.s32 [%rd2], %r3;\n"
              "sub.s32 %r3, %r1, %r2; st.global.s32 [%rd2+4], %r3;\n"
              "mul.lo.s32 %r3, %r1, %r2; st.global.s32 [%rd2+8], %r3;\n"
              "mul.hi.s32 %r3, %r1, 0x40000000; st.global.s32 [%rd2+12], %r3;\n"
              "mul.hi.u32 %r3, %r1, 0x40000000; st.global.s32 [%rd2+16], %r3;\n"
              "div.s32 %r3, %r1, %r2; st.global.s32 [%rd2+20], %r3;\n"
              "rem.s32 %r3, %r1, %r2; st.global.s32 [%rd2+24], %r3;\n"
              "div.u32 %r3, %r1, %r2; st.global.s32 [%rd2+28], %r3;\n"
              "min.s32 %r3, %r1, %r2; st.global.s32 [%rd2+32], %r3;\n"
              "max.u32 %r3, %r1, %r2; st.global.s32 [%rd2+36], %r3;\n"
              "abs.s32 %r3, %r1; st.global.s32 [%rd2+40], %r3;\n"
              "neg.s32 %r3, %r1; st.global.s32 [%rd2+44], %r3;\n"
              "mad.lo.s32 %r3, %r1, %r2, 100; st.global.s32 [%rd2+48], %r3;\n"
              "add.sat.s32 %r3, 0x7ffffff0, 0x100; st.global.s32 [%rd2+52], %r3;\n"
              "sub.sat.s32 %r3, -2147483600, 1000; st.global.s32 [%rd2+56], %r3;\n"
              "mul.wide.s32 %rd3, %r1, 0x40000000; st.global.u64 [%rd2+64], %rd3;\n"
              "add.s32 %r3, 0x7fffffff, 1; st.global.s32 [%rd2+72], %r3;\n"
              "div.s32 %r3, -2147483648, -1; st.global.s32 [%rd2+76], %r3;\n",
              in, sizeof in, out, sizeof out);
  ASSERT_EQ(out[0], -4);
  ASSERT_EQ(out[1], -10);
  ASSERT_EQ(out[2], -21);
  ASSERT_EQ(out[3], (int32_t)(((int64_t)-7 * 0x40000000) >> 32));
  ASSERT_EQ((uint32_t)out[4], (uint32_t)(((uint64_t)(uint32_t)-7 * 0x40000000u) >> 32));
  ASSERT_EQ(out[5], -7 / 3);
  ASSERT_EQ(out[6], -7 % 3);
  ASSERT_EQ((uint32_t)out[7], (uint32_t)-7 / 3u);
  ASSERT_EQ(out[8], -7);
  ASSERT_EQ((uint32_t)out[9], (uint32_t)-7);
  ASSERT_EQ(out[10], 7);
  ASSERT_EQ(out[11], 7);
  ASSERT_EQ(out[12], 79);
  ASSERT_EQ(out[13], INT32_MAX);
  ASSERT_EQ(out[14], INT32_MIN);
  int64_t wide;
  memcpy(&wide, &out[16], 8);
  ASSERT_EQ(wide, (int64_t)-7 * 0x40000000);
  ASSERT_EQ(out[18], INT32_MIN); /* wraps */
  ASSERT_EQ(out[19], INT32_MIN);
}

TEST(ptx_ops_64bit_and_carry) {
  uint64_t in[2] = {0xffffffffffffffffull, 3};
  uint64_t out[6];
  ptxt_run_ok("ld.global.u64 %rd3, [%rd1]; ld.global.u64 %rd4, [%rd1+8];\n"
              "mul.hi.u64 %rd5, %rd3, %rd4; st.global.u64 [%rd2], %rd5;\n"
              "mul.hi.s64 %rd5, %rd3, %rd4; st.global.u64 [%rd2+8], %rd5;\n"
              "add.cc.u32 %r1, 0xffffffff, 2; addc.u32 %r2, 5, 0;\n"
              "st.global.u32 [%rd2+16], %r1; st.global.u32 [%rd2+20], %r2;\n"
              "sub.cc.u32 %r1, 0, 1; subc.u32 %r2, 5, 0;\n"
              "st.global.u32 [%rd2+24], %r1; st.global.u32 [%rd2+28], %r2;\n"
              "mad.lo.u64 %rd5, %rd3, %rd4, 10; st.global.u64 [%rd2+32], %rd5;\n"
              "rem.u64 %rd5, 1000000000000, 7; st.global.u64 [%rd2+40], %rd5;\n",
              in, sizeof in, out, sizeof out);
  ASSERT_EQ(out[0], 2ull);
  ASSERT_EQ(out[1], 0xffffffffffffffffull); /* -1 * 3 = -3: high word all ones */
  ASSERT_EQ(out[2], (6ull << 32) | 1ull);
  ASSERT_EQ(out[3], (4ull << 32) | 0xffffffffull);
  ASSERT_EQ(out[4], 0xffffffffffffffffull * 3 + 10);
  ASSERT_EQ(out[5], 1000000000000ull % 7);
}

TEST(ptx_ops_shifts_at_and_beyond_width) {
  uint32_t out[12];
  ptxt_run_ok("mov.u32 %r1, 32; mov.u32 %r2, 40; mov.u32 %r3, 31;\n"
              "shl.b32 %r4, 1, %r1; st.global.u32 [%rd2], %r4;\n"
              "shl.b32 %r4, 1, %r3; st.global.u32 [%rd2+4], %r4;\n"
              "shr.u32 %r4, 0x80000000, %r1; st.global.u32 [%rd2+8], %r4;\n"
              "shr.s32 %r4, 0x80000000, %r2; st.global.u32 [%rd2+12], %r4;\n"
              "shr.s32 %r4, 0x40000000, %r2; st.global.u32 [%rd2+16], %r4;\n"
              "shr.s32 %r4, -16, 2; st.global.u32 [%rd2+20], %r4;\n"
              "mov.u32 %r5, 64; shl.b64 %rd3, 1, %r5; st.global.u64 [%rd2+24], %rd3;\n"
              "shr.u64 %rd3, -1, 63; st.global.u64 [%rd2+32], %rd3;\n"
              "shl.b16 %h1, 1, 16; cvt.u32.u16 %r6, %h1; st.global.u32 [%rd2+40], %r6;\n"
              "shl.b32 %r4, 1, -1; st.global.u32 [%rd2+44], %r4;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 0u);
  ASSERT_EQ(out[1], 0x80000000u);
  ASSERT_EQ(out[2], 0u);
  ASSERT_EQ(out[3], 0xffffffffu);
  ASSERT_EQ(out[4], 0u);
  ASSERT_EQ(out[5], 0xfffffffcu);
  ASSERT_EQ(out[6] | out[7], 0u);
  ASSERT_EQ(out[8], 1u);
  ASSERT_EQ(out[10], 0u);
  ASSERT_EQ(out[11], 0u); /* shift amount is unsigned: 0xffffffff >= 32 */
}

TEST(ptx_ops_bit_manipulation) {
  uint32_t out[16];
  ptxt_run_ok("brev.b32 %r1, 0x00000001; st.global.u32 [%rd2], %r1;\n"
              "popc.b32 %r1, 0xf0f0f0f1; st.global.u32 [%rd2+4], %r1;\n"
              "clz.b32 %r1, 0x00010000; st.global.u32 [%rd2+8], %r1;\n"
              "clz.b32 %r1, 0; st.global.u32 [%rd2+12], %r1;\n"
              "bfe.u32 %r1, 0xabcd1234, 8, 12; st.global.u32 [%rd2+16], %r1;\n"
              "bfe.s32 %r1, 0x0000f000, 12, 4; st.global.u32 [%rd2+20], %r1;\n"
              "bfi.b32 %r1, 0x5, 0xffffffff, 4, 3; st.global.u32 [%rd2+24], %r1;\n"
              "prmt.b32 %r1, 0x33221100, 0x77665544, 0x7531; st.global.u32 [%rd2+28], %r1;\n"
              "prmt.b32 %r1, 0x00000080, 0, 0x8888; st.global.u32 [%rd2+32], %r1;\n"
              "bfind.u32 %r1, 0x00001000; st.global.u32 [%rd2+36], %r1;\n"
              "bfind.u32 %r1, 0; st.global.u32 [%rd2+40], %r1;\n"
              "and.b32 %r1, 0xff00ff00, 0x0ff00ff0; st.global.u32 [%rd2+44], %r1;\n"
              "or.b32 %r1, 0xff00ff00, 0x0ff00ff0; st.global.u32 [%rd2+48], %r1;\n"
              "xor.b32 %r1, 0xff00ff00, 0x0ff00ff0; st.global.u32 [%rd2+52], %r1;\n"
              "not.b32 %r1, 0xff00ff00; st.global.u32 [%rd2+56], %r1;\n"
              "cnot.b32 %r1, 0; st.global.u32 [%rd2+60], %r1;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 0x80000000u);
  ASSERT_EQ(out[1], 17u);
  ASSERT_EQ(out[2], 15u);
  ASSERT_EQ(out[3], 32u);
  ASSERT_EQ(out[4], 0xd12u);
  ASSERT_EQ(out[5], 0xffffffffu);
  ASSERT_EQ(out[6], 0xffffffdfu);
  ASSERT_EQ(out[7], 0x77553311u);
  ASSERT_EQ(out[8], 0xffffffffu);
  ASSERT_EQ(out[9], 12u);
  ASSERT_EQ(out[10], 0xffffffffu);
  ASSERT_EQ(out[11], 0x0f000f00u);
  ASSERT_EQ(out[12], 0xfff0fff0u);
  ASSERT_EQ(out[13], 0xf0f0f0f0u);
  ASSERT_EQ(out[14], 0x00ff00ffu);
  ASSERT_EQ(out[15], 1u);
}

/* setp with every comparison, ordered and unordered, on a NaN and on ordinary values. */
TEST(ptx_ops_setp_float_and_unordered) {
  static const char *const ops[] = {"eq", "ne", "lt", "le", "gt", "ge", "equ", "neu", "ltu", "leu", "gtu", "geu", "num", "nan"};
  float pairs[3][2] = {{1.0f, 2.0f}, {2.0f, 2.0f}, {NAN, 1.0f}};
  for (int pi = 0; pi < 3; pi++) {
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof body, "ld.global.f32 %%f1, [%%rd1]; ld.global.f32 %%f2, [%%rd1+4];\n");
    for (int k = 0; k < 14; k++)
      n += (size_t)snprintf(body + n, sizeof body - n,
                            "setp.%s.f32 %%p1, %%f1, %%f2; selp.u32 %%r1, 1, 0, %%p1; st.global.u32 [%%rd2+%d], %%r1;\n",
                            ops[k], 4 * k);
    uint32_t out[14];
    ptxt_run_ok(body, pairs[pi], 8, out, sizeof out);
    float a = pairs[pi][0], b = pairs[pi][1];
    int un = isnan(a) || isnan(b);
    int want[14] = {a == b, !un && a != b, a < b, a <= b, a > b, a >= b, un || a == b, un || a != b,
                    un || a < b, un || a <= b, un || a > b, un || a >= b, !un, un};
    for (int k = 0; k < 14; k++)
      if ((int)out[k] != want[k]) FAIL("setp.%s.f32 (%g, %g) = %u, want %d", ops[k], a, b, out[k], want[k]);
  }
}

TEST(ptx_ops_setp_integer_and_bool_ops) {
  uint32_t out[10];
  ptxt_run_ok("setp.lt.s32 %p1, -1, 0; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2], %r1;\n"
              "setp.lt.u32 %p1, -1, 0; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+4], %r1;\n"
              "setp.hi.u32 %p1, -1, 0; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+8], %r1;\n"
              "setp.lt.s64 %p1, -1, 0; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+12], %r1;\n"
              "setp.ne.s32 %p2, 1, 1; setp.eq.and.s32 %p1|%p3, 1, 1, %p2;\n"
              "selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+16], %r1;\n"
              "selp.u32 %r1, 1, 0, %p3; st.global.u32 [%rd2+20], %r1;\n"
              "setp.eq.or.s32 %p1, 1, 2, !%p2; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+24], %r1;\n"
              "set.lt.u32.s32 %r1, 1, 2; st.global.u32 [%rd2+28], %r1;\n"
              "set.gt.f32.s32 %r1, 3, 2; st.global.u32 [%rd2+32], %r1;\n"
              "setp.eq.s32 %p4, 0, 0; not.pred %p5, %p4; @%p5 bra SKIP; mov.u32 %r2, 9; SKIP: @!%p4 mov.u32 %r2, 7;\n"
              "st.global.u32 [%rd2+36], %r2;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 1u);
  ASSERT_EQ(out[1], 0u);
  ASSERT_EQ(out[2], 1u);
  ASSERT_EQ(out[3], 1u);
  ASSERT_EQ(out[4], 0u);
  ASSERT_EQ(out[5], 0u);
  ASSERT_EQ(out[6], 1u);
  ASSERT_EQ(out[7], 0xffffffffu);
  ASSERT_EQ(out[8], 0x3f800000u);
  ASSERT_EQ(out[9], 9u);
}

/* f32/f64 arithmetic with explicit rounding modes against the C FPU under the same mode. */
TEST(ptx_ops_float_rounding_modes) {
  float in[2] = {1.0f, 3.0f};
  uint32_t out[16];
  ptxt_run_ok("ld.global.f32 %f1, [%rd1]; ld.global.f32 %f2, [%rd1+4];\n"
              "div.rn.f32 %f3, %f1, %f2; st.global.f32 [%rd2], %f3;\n"
              "div.rz.f32 %f3, %f1, %f2; st.global.f32 [%rd2+4], %f3;\n"
              "div.rm.f32 %f3, %f1, %f2; st.global.f32 [%rd2+8], %f3;\n"
              "div.rp.f32 %f3, %f1, %f2; st.global.f32 [%rd2+12], %f3;\n"
              "neg.f32 %f4, %f1; div.rz.f32 %f3, %f4, %f2; st.global.f32 [%rd2+16], %f3;\n"
              "div.rm.f32 %f3, %f4, %f2; st.global.f32 [%rd2+20], %f3;\n"
              "add.rz.f32 %f3, 0f3F800000, 0f33800001; st.global.f32 [%rd2+24], %f3;\n"
              "add.rp.f32 %f3, 0f3F800000, 0f33800001; st.global.f32 [%rd2+28], %f3;\n"
              "mul.rm.f32 %f3, %f2, 0f3EAAAAAB; st.global.f32 [%rd2+32], %f3;\n"
              "fma.rn.f32 %f3, 0f3F800001, 0f3F800001, 0fBF800002; st.global.f32 [%rd2+36], %f3;\n"
              "sqrt.rn.f32 %f3, 0f40000000; st.global.f32 [%rd2+40], %f3;\n"
              "rcp.rn.f32 %f3, %f2; st.global.f32 [%rd2+44], %f3;\n"
              "add.sat.f32 %f3, 0f3F800000, 0f3F800000; st.global.f32 [%rd2+48], %f3;\n"
              "mul.sat.f32 %f3, 0fBF800000, 0f3F800000; st.global.f32 [%rd2+52], %f3;\n"
              "add.f32 %f3, 0f7F800000, 0fFF800000; st.global.f32 [%rd2+56], %f3;\n"
              "mul.ftz.f32 %f3, 0f00400000, 0f3F800000; st.global.f32 [%rd2+60], %f3;\n",
              in, sizeof in, out, sizeof out);
  ASSERT_EQ(out[0], ptxt_fbits(1.0f / 3.0f));
  ASSERT_EQ(out[1], 0x3eaaaaaau);
  ASSERT_EQ(out[2], 0x3eaaaaaau);
  ASSERT_EQ(out[3], 0x3eaaaaabu);
  ASSERT_EQ(out[4], 0xbeaaaaaau);
  ASSERT_EQ(out[5], 0xbeaaaaabu);
  ASSERT_EQ(out[6], 0x3f800000u);
  ASSERT_EQ(out[7], 0x3f800001u);
  ASSERT_EQ(out[8], 0x3f800000u); /* 3 * 0.33333334 rounded down */
  ASSERT_EQ(out[9], ptxt_fbits(fmaf(ptxt_bitsf(0x3f800001u), ptxt_bitsf(0x3f800001u), ptxt_bitsf(0xbf800002u))));
  ASSERT_EQ(out[10], ptxt_fbits(sqrtf(2.0f)));
  ASSERT_EQ(out[11], ptxt_fbits(1.0f / 3.0f));
  ASSERT_EQ(out[12], 0x3f800000u);
  ASSERT_EQ(out[13], 0u);
  ASSERT_TRUE(isnan(ptxt_bitsf(out[14])));
  ASSERT_EQ(out[15], 0u); /* denormal flushed */
}

TEST(ptx_ops_float_min_max_abs_neg_copysign_testp) {
  uint32_t out[12];
  ptxt_run_ok("min.f32 %f1, 0f7FC00000, 0f40000000; st.global.f32 [%rd2], %f1;\n"
              "max.f32 %f1, 0f40000000, 0f7FC00000; st.global.f32 [%rd2+4], %f1;\n"
              "min.f32 %f1, 0fBF800000, 0f3F800000; st.global.f32 [%rd2+8], %f1;\n"
              "abs.f32 %f1, 0fBF800000; st.global.f32 [%rd2+12], %f1;\n"
              "neg.f32 %f1, 0f00000000; st.global.f32 [%rd2+16], %f1;\n"
              "copysign.f32 %f1, 0fBF800000, 0f40000000; st.global.f32 [%rd2+20], %f1;\n"
              "testp.notanumber.f32 %p1, 0f7FC00000; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+24], %r1;\n"
              "testp.infinite.f32 %p1, 0fFF800000; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+28], %r1;\n"
              "testp.subnormal.f32 %p1, 0f00000001; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+32], %r1;\n"
              "testp.normal.f32 %p1, 0f00000001; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+36], %r1;\n"
              "testp.finite.f64 %p1, 0d7FF0000000000000; selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd2+40], %r1;\n"
              "max.f64 %fd1, 0d4000000000000000, 0dC000000000000000; cvt.rn.f32.f64 %f1, %fd1; st.global.f32 [%rd2+44], %f1;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 0x40000000u);
  ASSERT_EQ(out[1], 0x40000000u);
  ASSERT_EQ(out[2], 0xbf800000u);
  ASSERT_EQ(out[3], 0x3f800000u);
  ASSERT_EQ(out[4], 0x80000000u);
  ASSERT_EQ(out[5], 0xc0000000u);
  ASSERT_EQ(out[6], 1u);
  ASSERT_EQ(out[7], 1u);
  ASSERT_EQ(out[8], 1u);
  ASSERT_EQ(out[9], 0u);
  ASSERT_EQ(out[10], 0u);
  ASSERT_EQ(out[11], 0x40000000u);
}

TEST(ptx_ops_float64) {
  double in[2] = {1.0, 3.0};
  uint64_t out[6];
  ptxt_run_ok("ld.global.f64 %fd1, [%rd1]; ld.global.f64 %fd2, [%rd1+8];\n"
              "div.rn.f64 %fd3, %fd1, %fd2; st.global.f64 [%rd2], %fd3;\n"
              "div.rz.f64 %fd3, %fd1, %fd2; st.global.f64 [%rd2+8], %fd3;\n"
              "fma.rn.f64 %fd3, %fd1, %fd2, %fd2; st.global.f64 [%rd2+16], %fd3;\n"
              "sqrt.rn.f64 %fd3, %fd2; st.global.f64 [%rd2+24], %fd3;\n"
              "rcp.rn.f64 %fd3, %fd2; st.global.f64 [%rd2+32], %fd3;\n"
              "sub.f64 %fd3, %fd1, %fd2; st.global.f64 [%rd2+40], %fd3;\n",
              in, sizeof in, out, sizeof out);
  ASSERT_EQ(out[0], ptxt_dbits(1.0 / 3.0));
  ASSERT_EQ(out[1], ptxt_dbits(1.0 / 3.0) - 0); /* 1/3 rounds down under rn already */
  ASSERT_EQ(out[2], ptxt_dbits(6.0));
  ASSERT_EQ(out[3], ptxt_dbits(sqrt(3.0)));
  ASSERT_EQ(out[4], ptxt_dbits(1.0 / 3.0));
  ASSERT_EQ(out[5], ptxt_dbits(-2.0));
}

TEST(ptx_ops_approx_math) {
  float in[1] = {0.75f};
  float out[8];
  ptxt_run_ok("ld.global.f32 %f1, [%rd1];\n"
              "rcp.approx.f32 %f2, %f1; st.global.f32 [%rd2], %f2;\n"
              "sqrt.approx.f32 %f2, %f1; st.global.f32 [%rd2+4], %f2;\n"
              "rsqrt.approx.f32 %f2, %f1; st.global.f32 [%rd2+8], %f2;\n"
              "ex2.approx.f32 %f2, %f1; st.global.f32 [%rd2+12], %f2;\n"
              "lg2.approx.f32 %f2, %f1; st.global.f32 [%rd2+16], %f2;\n"
              "sin.approx.f32 %f2, %f1; st.global.f32 [%rd2+20], %f2;\n"
              "cos.approx.f32 %f2, %f1; st.global.f32 [%rd2+24], %f2;\n"
              "tanh.approx.f32 %f2, %f1; st.global.f32 [%rd2+28], %f2;\n",
              in, sizeof in, out, sizeof out);
  float x = 0.75f, want[8] = {1 / x, sqrtf(x), 1 / sqrtf(x), exp2f(x), log2f(x), sinf(x), cosf(x), tanhf(x)};
  for (int k = 0; k < 8; k++)
    if (fabsf(out[k] - want[k]) > 1e-6f * fabsf(want[k]) + 1e-7f) FAIL("approx op %d: %.9g want %.9g", k, out[k], want[k]);
  float o2[2];
  ptxt_run_ok("lg2.approx.f32 %f2, 0f00000000; st.global.f32 [%rd2], %f2;\n"
              "rcp.approx.f32 %f2, 0f80000000; st.global.f32 [%rd2+4], %f2;\n",
              NULL, 0, o2, sizeof o2);
  ASSERT_TRUE(isinf(o2[0]) && o2[0] < 0);
  ASSERT_TRUE(isinf(o2[1]) && o2[1] < 0);
}

/* cvt: float->int rounding and saturation (NaN -> 0), int->float rounding, narrowing ints. */
TEST(ptx_ops_cvt_float_int) {
  int32_t out[20];
  ptxt_run_ok("cvt.rni.s32.f32 %r1, 0f40200000; st.global.s32 [%rd2], %r1;\n"      /* 2.5 -> 2 */
              "cvt.rni.s32.f32 %r1, 0f40600000; st.global.s32 [%rd2+4], %r1;\n"    /* 3.5 -> 4 */
              "cvt.rzi.s32.f32 %r1, 0fC0600000; st.global.s32 [%rd2+8], %r1;\n"    /* -3.5 -> -3 */
              "cvt.rmi.s32.f32 %r1, 0fC0600000; st.global.s32 [%rd2+12], %r1;\n"   /* -4 */
              "cvt.rpi.s32.f32 %r1, 0fC0600000; st.global.s32 [%rd2+16], %r1;\n"   /* -3 */
              "cvt.rzi.s32.f32 %r1, 0f7F800000; st.global.s32 [%rd2+20], %r1;\n"   /* inf -> max */
              "cvt.rzi.s32.f32 %r1, 0fFF800000; st.global.s32 [%rd2+24], %r1;\n"   /* -inf -> min */
              "cvt.rzi.s32.f32 %r1, 0f7FC00000; st.global.s32 [%rd2+28], %r1;\n"   /* NaN -> 0 */
              "cvt.rzi.u32.f32 %r1, 0fBF800000; st.global.s32 [%rd2+32], %r1;\n"   /* -1 -> 0 */
              "cvt.rzi.u32.f32 %r1, 0f4F800000; st.global.s32 [%rd2+36], %r1;\n"   /* 2^32 -> max */
              "cvt.rzi.s64.f64 %rd3, 0dC3E0000000000001; st.global.s64 [%rd2+40], %rd3;\n"
              "cvt.rzi.u8.f32 %r1, 0f43800000; st.global.s32 [%rd2+48], %r1;\n"    /* 256 -> 255 */
              "cvt.s8.s32 %r1, 0x1ff; st.global.s32 [%rd2+52], %r1;\n"             /* wraps to -1 */
              "cvt.sat.s8.s32 %r1, 300; st.global.s32 [%rd2+56], %r1;\n"           /* 127 */
              "cvt.u16.u32 %r1, 0x12345; st.global.s32 [%rd2+60], %r1;\n"
              "cvt.rn.f32.s32 %f1, 16777217; st.global.f32 [%rd2+64], %f1;\n"
              "cvt.rp.f32.s32 %f1, 16777217; st.global.f32 [%rd2+68], %f1;\n"
              "cvt.rn.f32.u64 %f1, -1; st.global.f32 [%rd2+72], %f1;\n"
              "cvt.s64.s32 %rd3, -5; cvt.u32.u64 %r1, %rd3; st.global.s32 [%rd2+76], %r1;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 2);
  ASSERT_EQ(out[1], 4);
  ASSERT_EQ(out[2], -3);
  ASSERT_EQ(out[3], -4);
  ASSERT_EQ(out[4], -3);
  ASSERT_EQ(out[5], INT32_MAX);
  ASSERT_EQ(out[6], INT32_MIN);
  ASSERT_EQ(out[7], 0);
  ASSERT_EQ(out[8], 0);
  ASSERT_EQ((uint32_t)out[9], 0xffffffffu);
  int64_t s64;
  memcpy(&s64, &out[10], 8);
  ASSERT_EQ(s64, INT64_MIN);
  ASSERT_EQ(out[12] & 0xff, 255);
  ASSERT_EQ(out[13], -1);
  ASSERT_EQ(out[14], 127);
  ASSERT_EQ(out[15] & 0xffff, 0x2345);
  ASSERT_EQ(ptxt_fbits(((float *)out)[16]), 0x4b800000u);
  ASSERT_EQ(ptxt_fbits(((float *)out)[17]), 0x4b800001u);
  ASSERT_EQ(((float *)out)[18], 18446744073709551616.0f);
  ASSERT_EQ(out[19], -5);
}

/* f16/bf16 conversions with rounding, overflow, denormals, NaN; f16 arithmetic. */
TEST(ptx_ops_half_and_bfloat16) {
  uint16_t out[16];
  ptxt_run_ok("cvt.rn.f16.f32 %h1, 0f3F800000; st.global.b16 [%rd2], %h1;\n"         /* 1.0 -> 0x3c00 */
              "cvt.rn.f16.f32 %h1, 0f477FF000; st.global.b16 [%rd2+2], %h1;\n"       /* 65520 -> inf */
              "cvt.rz.f16.f32 %h1, 0f477FF000; st.global.b16 [%rd2+4], %h1;\n"       /* max finite */
              "cvt.rn.f16.f32 %h1, 0f33800000; st.global.b16 [%rd2+6], %h1;\n"       /* 2^-24 -> 0x0001 */
              "cvt.rn.f16.f32 %h1, 0f33000000; st.global.b16 [%rd2+8], %h1;\n"       /* 2^-25 -> 0 (tie to even) */
              "cvt.rp.f16.f32 %h1, 0f33000000; st.global.b16 [%rd2+10], %h1;\n"      /* -> 0x0001 */
              "cvt.rn.f16.f32 %h1, 0f7FC00000; st.global.b16 [%rd2+12], %h1;\n"      /* NaN */
              "cvt.rn.bf16.f32 %h1, 0f3F808000; st.global.b16 [%rd2+14], %h1;\n"     /* tie -> even 0x3f80 */
              "cvt.rn.bf16.f32 %h1, 0f3F818000; st.global.b16 [%rd2+16], %h1;\n"     /* tie -> even 0x3f82 */
              "cvt.rz.bf16.f32 %h1, 0f3F81FFFF; st.global.b16 [%rd2+18], %h1;\n"
              "mov.b16 %h2, 0x3C00; mov.b16 %h3, 0x4000; add.f16 %h1, %h2, %h3; st.global.b16 [%rd2+20], %h1;\n"
              "fma.rn.f16 %h1, %h3, %h3, %h2; st.global.b16 [%rd2+22], %h1;\n"
              "mov.b32 %r1, 0x40003C00; mov.b32 %r2, 0x3C003C00; add.f16x2 %r3, %r1, %r2; st.global.b32 [%rd2+24], %r3;\n"
              "neg.f16 %h1, %h2; st.global.b16 [%rd2+28], %h1;\n"
              "cvt.f32.f16 %f1, %h3; cvt.rzi.s32.f32 %r4, %f1; cvt.u16.u32 %h4, %r4; st.global.b16 [%rd2+30], %h4;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 0x3c00);
  ASSERT_EQ(out[1], 0x7c00);
  ASSERT_EQ(out[2], 0x7bff);
  ASSERT_EQ(out[3], 0x0001);
  ASSERT_EQ(out[4], 0x0000);
  ASSERT_EQ(out[5], 0x0001);
  ASSERT_EQ(out[6] & 0x7c00, 0x7c00);
  ASSERT_NE(out[6] & 0x03ff, 0);
  ASSERT_EQ(out[7], 0x3f80);
  ASSERT_EQ(out[8], 0x3f82);
  ASSERT_EQ(out[9], 0x3f81);
  ASSERT_EQ(out[10], 0x4200); /* 3.0 */
  ASSERT_EQ(out[11], 0x4500); /* 5.0 */
  ASSERT_EQ(out[12], 0x4000); /* low half 1+1 = 2.0 */
  ASSERT_EQ(out[13], 0x4200); /* high half 2+1 = 3.0 */
  ASSERT_EQ(out[14], 0xbc00);
  ASSERT_EQ(out[15], 2);
  float back[2];
  ptxt_run_ok("mov.b16 %h1, 0x0001; cvt.f32.f16 %f1, %h1; st.global.f32 [%rd2], %f1;\n"
              "mov.b16 %h1, 0x7f80; cvt.f32.bf16 %f1, %h1; st.global.f32 [%rd2+4], %f1;\n",
              NULL, 0, back, sizeof back);
  ASSERT_EQ(back[0], ldexpf(1, -24));
  ASSERT_TRUE(isinf(back[1]));
}

/* Narrowing cvt into a wider register keeps only the destination type's bits. */
TEST(ptx_ops_cvt_narrowing_into_wide_registers) {
  uint16_t out[4];
  ptxt_run_ok("mov.u32 %r1, 0x1234; cvt.u8.u32 %h1, %r1; st.global.u16 [%rd2], %h1;\n"
              "mov.u32 %r1, 0x12f4; cvt.s8.u32 %h1, %r1; st.global.u16 [%rd2+2], %h1;\n"
              "mov.u32 %r1, 0x123456; cvt.u16.u32 %h1, %r1; cvt.u32.u16 %r2, %h1; st.global.u16 [%rd2+4], %r2;\n"
              "mov.u32 %r1, 0x80; cvt.s8.s32 %h1, %r1; st.global.u16 [%rd2+6], %h1;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 0x34);
  ASSERT_EQ(out[1], 0xfff4);
  ASSERT_EQ(out[2], 0x3456);
  ASSERT_EQ(out[3], 0xff80);
}

TEST(ptx_ops_vector_memory_and_pack) {
  uint32_t in[4] = {1, 2, 3, 4};
  uint32_t out[12];
  ptxt_run_ok("ld.global.v4.u32 {%r1, %r2, %r3, %r4}, [%rd1];\n"
              "st.global.v4.u32 [%rd2], {%r4, %r3, %r2, %r1};\n"
              "ld.global.nc.v2.u32 {%r5, _}, [%rd1+8]; st.global.u32 [%rd2+16], %r5;\n"
              "mov.b64 %rd3, {%r1, %r2}; st.global.u64 [%rd2+24], %rd3;\n"
              "mov.b64 {%r6, %r7}, %rd3; st.global.v2.u32 [%rd2+32], {%r7, %r6};\n"
              "ld.global.u8 %r8, [%rd1+4]; st.global.u8 [%rd2+40], %r8;\n"
              "ld.global.s8 %r9, [%rd1]; st.global.u32 [%rd2+44], %r9;\n",
              in, sizeof in, out, sizeof out);
  ASSERT_EQ(out[0], 4u);
  ASSERT_EQ(out[3], 1u);
  ASSERT_EQ(out[4], 3u);
  ASSERT_EQ(out[6], 1u);
  ASSERT_EQ(out[7], 2u);
  ASSERT_EQ(out[8], 2u);
  ASSERT_EQ(out[9], 1u);
  ASSERT_EQ(out[10] & 0xff, 2u);
  ASSERT_EQ(out[11], 1u);
}

TEST(ptx_ops_selp_slct_mad_wide_cvta) {
  uint32_t out[8];
  ptxt_run_ok("setp.gt.s32 %p1, 5, 3; selp.b32 %r1, 10, 20, %p1; st.global.u32 [%rd2], %r1;\n"
              "slct.u32.s32 %r1, 10, 20, -1; st.global.u32 [%rd2+4], %r1;\n"
              "slct.u32.f32 %r1, 10, 20, 0f80000000; st.global.u32 [%rd2+8], %r1;\n"
              "mad.wide.u32 %rd3, 0x80000000, 4, 1; st.global.u64 [%rd2+16], %rd3;\n"
              "cvta.to.global.u64 %rd4, %rd2; cvta.global.u64 %rd5, %rd4; sub.s64 %rd6, %rd5, %rd2; cvt.u32.u64 %r2, %rd6;\n"
              "st.global.u32 [%rd2+24], %r2;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 10u);
  ASSERT_EQ(out[1], 20u);
  ASSERT_EQ(out[2], 10u);
  uint64_t w;
  memcpy(&w, &out[4], 8);
  ASSERT_EQ(w, 0x200000001ull);
  ASSERT_EQ(out[6], 0u);
}

TEST(ptx_ops_shared_generic_and_local) {
  uint32_t out[4];
  ptxt_run_ok("{ .shared .align 4 .b8 sm[16]; .local .align 4 .b8 lm[8];\n"
              "mov.u64 %rd3, sm; cvta.shared.u64 %rd4, %rd3; st.u32 [%rd4+4], 77; ld.shared.u32 %r1, [sm+4];\n"
              "st.global.u32 [%rd2], %r1;\n"
              "mov.u64 %rd5, lm; cvta.local.u64 %rd6, %rd5; st.u32 [%rd6], 55; ld.local.u32 %r2, [%rd5];\n"
              "st.global.u32 [%rd2+4], %r2;\n"
              "cvta.to.shared.u64 %rd7, %rd4; cvt.u32.u64 %r3, %rd7; ld.shared.u32 %r4, [%r3+4]; st.global.u32 [%rd2+8], %r4;\n"
              "ld.u32 %r5, [%rd2]; st.global.u32 [%rd2+12], %r5; }\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 77u);
  ASSERT_EQ(out[1], 55u);
  ASSERT_EQ(out[2], 77u);
  ASSERT_EQ(out[3], 77u);
}

TEST(ptx_ops_shared_and_local_out_of_bounds) {
  char err[512] = "";
  uint32_t out[1];
  ASSERT_EQ(ptxt_run_body("{ .shared .align 4 .b8 sm[16]; mov.u32 %r1, sm; st.shared.u32 [%r1+16], 1; }\n",
                          NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_NOT_NULL(strstr(err, "shared"));
  ASSERT_EQ(ptxt_run_body("{ .shared .align 4 .b8 sm[16]; mov.u32 %r1, sm; ld.shared.u32 %r2, [%r1+-4]; }\n",
                          NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_EQ(ptxt_run_body("{ .local .align 4 .b8 lm[8]; mov.u64 %rd3, lm; st.local.u32 [%rd3+1048576], 1; }\n",
                          NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_NOT_NULL(strstr(err, "local"));
  ASSERT_EQ(ptxt_run_body("{ .shared .align 4 .b8 sm[16]; mov.u32 %r1, sm; st.shared.u32 [%r1+2], 1; }\n",
                          NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_MISALIGNED);
  ASSERT_EQ(ptxt_run_body("ld.param.u64 %rd3, [pin+16];\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_EQ(ptxt_run_body("mov.u64 %rd3, 0; st.u32 [%rd3], 1;\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_ILLEGAL_ADDRESS);
}

TEST(ptx_ops_special_registers) {
  sg_ptx_module *m = ptxt_load_text(
      ".version 8.0\n.target sm_80\n.address_size 64\n"
      ".visible .entry k(.param .u64 out)\n{\n.reg .b32 %r<12>;\n.reg .b64 %rd<8>;\n.reg .pred %p<2>;\n"
      "ld.param.u64 %rd1, [out];\n"
      "mov.u32 %r1, %tid.x; mov.u32 %r2, %tid.y; mov.u32 %r3, %ntid.x; mov.u32 %r4, %ctaid.x;\n"
      "mov.u32 %r5, %nctaid.x; mov.u32 %r6, %laneid; mov.u32 %r7, %warpid; mov.u32 %r8, %lanemask_lt;\n"
      "mad.lo.u32 %r9, %r2, %r3, %r1; mov.u32 %r10, %ntid.y; mul.lo.u32 %r10, %r10, %r3;\n"
      "mad.lo.u32 %r9, %r4, %r10, %r9; mul.wide.u32 %rd2, %r9, 32; add.s64 %rd3, %rd1, %rd2;\n"
      "st.global.v4.u32 [%rd3], {%r1, %r2, %r3, %r4}; st.global.v4.u32 [%rd3+16], {%r5, %r6, %r7, %r8};\n"
      "mov.u64 %rd4, %clock64; mov.u64 %rd5, %clock64; setp.lt.u64 %p1, %rd5, %rd4; @%p1 trap;\n"
      "ret;\n}\n");
  sg_ptx_kernel *k = sg_ptx_kernel_at(m, 0);
  const unsigned bx = 20, by = 3, gx = 2;
  sg_devptr o = ptxt_alloc(gx * bx * by * 32);
  uint32_t *h = ptxt_host(o, gx * bx * by * 32);
  uint64_t P[1] = {o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, gx, 1, bx, by, 0, P, 8, err, sizeof err), SG_PTX_OK);
  for (unsigned b = 0; b < gx; b++)
    for (unsigned y = 0; y < by; y++)
      for (unsigned x = 0; x < bx; x++) {
        unsigned lin = y * bx + x;
        uint32_t *e = h + ((b * bx * by) + lin) * 8;
        ASSERT_EQ(e[0], x);
        ASSERT_EQ(e[1], y);
        ASSERT_EQ(e[2], bx);
        ASSERT_EQ(e[3], b);
        ASSERT_EQ(e[4], gx);
        ASSERT_EQ(e[5], lin % 32);
        ASSERT_EQ(e[6], lin / 32);
        ASSERT_EQ(e[7], (1u << (lin % 32)) - 1);
      }
  sg_ptx_unload(m);
}

/* Unsupported instructions fail the launch naming the instruction; parse errors name the line. */
TEST(ptx_ops_unsupported_and_parse_errors) {
  char err[512] = "";
  uint32_t out[1];
  ASSERT_EQ(ptxt_run_body("frobnicate.b32 %r1, %r2;\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "frobnicate.b32"));
  ASSERT_EQ(ptxt_run_body("add.relu.s32 %r1, %r2, %r3;\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "add.relu.s32"));
  /* Not reached: no error. */
  ASSERT_EQ(ptxt_run_body("bra DONE; frobnicate.b32 %r1, %r2; DONE:\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_OK);
  ASSERT_EQ(ptxt_run_body("add.s32 %r1, %zz, 1;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_NOT_NULL(strstr(err, "%zz"));
  ASSERT_NOT_NULL(strstr(err, "line 14")); /* the snippet starts on line 14 of the kernel */
  ASSERT_EQ(ptxt_run_body("bra NOWHERE;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_EQ(ptxt_run_body("add.s32 %r1, %r2\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_EQ(ptxt_run_body("trap;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_TRAP);
  sg_ptx_module *m = NULL;
  ASSERT_EQ(sg_ptx_load(".target sm_80\n", 14, &m, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_NULL(m);
  /* A call to a function without a body (vprintf, __assertfail) fails only if reached. */
  m = ptxt_load_text(".version 8.0\n.target sm_80\n.address_size 64\n"
                     ".extern .func (.param .b32 r) ext(.param .b64 a);\n"
                     ".visible .entry k(.param .u32 c)\n{\n.reg .b32 %r<3>;\n.reg .pred %p<2>;\n"
                     "ld.param.u32 %r1, [c]; setp.eq.s32 %p1, %r1, 0; @%p1 bra END;\n"
                     "{ .param .b64 a0; st.param.b64 [a0], 0; .param .b32 r0; call.uni (r0), ext, (a0); }\n"
                     "END: ret;\n}\n");
  uint32_t c = 0;
  ASSERT_EQ(ptxt_launch(sg_ptx_kernel_at(m, 0), 1, 1, 1, 1, 0, &c, 4, err, sizeof err), SG_PTX_OK);
  c = 1;
  ASSERT_EQ(ptxt_launch(sg_ptx_kernel_at(m, 0), 1, 1, 1, 1, 0, &c, 4, err, sizeof err), SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "ext"));
  sg_ptx_unload(m);
}

/* Random bytes and mutated real PTX must never crash the front end. */
TEST(ptx_ops_parser_fuzz) {
  size_t n;
  char *text = ptxt_read("calls.ptx", &n);
  unsigned seed = 777;
  char err[256];
  for (int iter = 0; iter < 300; iter++) {
    char *b = malloc(n);
    memcpy(b, text, n);
    for (int k = 0; k < 4; k++) {
      seed = seed * 1103515245u + 12345u;
      b[(seed >> 8) % n] = " ;,{}[]%.0aZ+-|@!<>\n"[(seed >> 20) % 20];
    }
    sg_ptx_module *m = NULL;
    sg_ptx_status st = sg_ptx_load(b, n - (seed % 50), &m, err, sizeof err);
    if (st == SG_PTX_OK) sg_ptx_unload(m);
    else ASSERT_NULL(m);
    free(b);
  }
  free(text);
}

/* Barriers with a thread count, bar.arrive, and divergence around a block barrier. */
TEST(ptx_ops_barriers) {
  sg_ptx_module *m = ptxt_load_text(
      ".version 8.0\n.target sm_80\n.address_size 64\n"
      ".visible .entry k(.param .u64 out)\n{\n.reg .b32 %r<12>;\n.reg .b64 %rd<8>;\n.reg .pred %p<4>;\n"
      ".shared .align 4 .b32 cnt;\n"
      "ld.param.u64 %rd1, [out]; mov.u32 %r1, %tid.x;\n"
      "setp.eq.s32 %p1, %r1, 0; @%p1 st.shared.u32 [cnt], 0; bar.sync 0;\n"
      "setp.lt.u32 %p2, %r1, 32; @%p2 bra LOW;\n"
      "atom.shared.add.u32 %r2, [cnt], 1; bar.sync 0; bra JOIN;\n"
      "LOW: atom.shared.add.u32 %r2, [cnt], 1; barrier.sync 0;\n"
      "JOIN: ld.shared.u32 %r3, [cnt]; mul.wide.u32 %rd2, %r1, 4; add.s64 %rd3, %rd1, %rd2; st.global.u32 [%rd3], %r3;\n"
      "ret;\n}\n");
  sg_devptr o = ptxt_alloc(128 * 4);
  uint32_t *h = ptxt_host(o, 128 * 4);
  uint64_t P[1] = {o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(sg_ptx_kernel_at(m, 0), 3, 1, 128, 1, 0, P, 8, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < 128; i++) ASSERT_EQ(h[i], 128u); /* every thread saw all 128 increments */
  sg_ptx_unload(m);
}

TEST(ptx_ops_deadlocked_barrier_fails) {
  char err[512] = "";
  uint32_t out[1];
  /* One thread: bar.sync with a count of 64 can never complete. */
  ASSERT_EQ(ptxt_run_body("bar.sync 1, 64;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_LAUNCH);
  ASSERT_NOT_NULL(strstr(err, "deadlock"));
}

/* 32 threads: red on global and shared, 64-bit atomics, vote.uni, match.all, fence/membar, exit. */
TEST(ptx_ops_atomics_votes_misc) {
  sg_ptx_module *m = ptxt_load_text(
      ".version 8.0\n.target sm_80\n.address_size 64\n"
      ".visible .entry k(.param .u64 out)\n{\n.reg .b32 %r<16>;\n.reg .b64 %rd<16>;\n.reg .pred %p<8>;\n"
      ".shared .align 8 .b8 sh[16];\n"
      "ld.param.u64 %rd1, [out]; mov.u32 %r1, %tid.x; cvt.u64.u32 %rd2, %r1;\n"
      "setp.eq.s32 %p1, %r1, 0; @%p1 st.shared.u32 [sh], 0; bar.sync 0;\n"
      "red.global.add.u32 [%rd1], 3; red.shared.add.u32 [sh], 1; red.global.add.f32 [%rd1+4], 0f3F000000;\n"
      "atom.global.min.s64 %rd3, [%rd1+8], %rd2; atom.global.max.u64 %rd3, [%rd1+16], %rd2;\n"
      "atom.global.exch.b64 %rd3, [%rd1+24], %rd2;\n"
      "atom.global.cas.b64 %rd4, [%rd1+32], %rd2, 1000; setp.eq.s64 %p2, %rd4, %rd2; selp.u32 %r2, 1, 0, %p2;\n"
      "atom.global.add.u32 %r3, [%rd1+40], %r2;\n"
      "membar.gl; fence.acq_rel.gpu; bar.sync 0;\n"
      "and.b32 %r4, %r1, 1; setp.eq.s32 %p3, %r4, 0; vote.sync.uni.pred %p4, %p3, 0xffffffff; selp.u32 %r5, 1, 0, %p4;\n"
      "setp.eq.s32 %p5, %r4, 7; vote.sync.uni.pred %p6, %p5, 0xffffffff; selp.u32 %r6, 1, 0, %p6;\n"
      "match.sync.all.b32 %r7|%p7, 5, 0xffffffff; selp.u32 %r8, 1, 0, %p7;\n"
      "match.sync.all.b32 %r9, %r1, 0xffffffff;\n"
      "mul.wide.u32 %rd5, %r1, 16; add.s64 %rd6, %rd1, %rd5; st.global.v4.u32 [%rd6+64], {%r5, %r6, %r7, %r9};\n"
      "setp.ne.s32 %p1, %r1, 0; @%p1 exit;\n"
      "ld.shared.u32 %r10, [sh]; st.global.u32 [%rd1+44], %r10; st.global.u32 [%rd1+48], %r8;\n"
      "ret;\n}\n");
  sg_devptr o = ptxt_alloc(64 + 32 * 16);
  uint8_t *h = ptxt_host(o, 64 + 32 * 16);
  memset(h, 0, 64 + 32 * 16);
  int64_t mn = 100;
  memcpy(h + 8, &mn, 8);
  uint64_t P[1] = {o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(sg_ptx_kernel_at(m, 0), 1, 1, 32, 1, 0, P, 8, err, sizeof err), SG_PTX_OK);
  uint32_t u32;
  float f;
  int64_t s64;
  uint64_t u64;
  memcpy(&u32, h, 4);
  ASSERT_EQ(u32, 96u);
  memcpy(&f, h + 4, 4);
  ASSERT_EQ(f, 16.0f);
  memcpy(&s64, h + 8, 8);
  ASSERT_EQ(s64, 0);
  memcpy(&u64, h + 16, 8);
  ASSERT_EQ(u64, 31u);
  memcpy(&u64, h + 24, 8);
  ASSERT_TRUE(u64 < 32);
  memcpy(&u64, h + 32, 8);
  ASSERT_EQ(u64, 1000u); /* only thread 0 matched the initial 0 */
  memcpy(&u32, h + 40, 4);
  ASSERT_EQ(u32, 1u);
  memcpy(&u32, h + 44, 4);
  ASSERT_EQ(u32, 32u);
  memcpy(&u32, h + 48, 4);
  ASSERT_EQ(u32, 1u);
  for (int t = 0; t < 32; t++) {
    uint32_t e[4];
    memcpy(e, h + 64 + 16 * t, 16);
    ASSERT_EQ(e[0], 0u);          /* odd and even lanes disagree */
    ASSERT_EQ(e[1], 1u);          /* nobody has r4 == 7 */
    ASSERT_EQ(e[2], 0xffffffffu); /* all equal: the full mask */
    ASSERT_EQ(e[3], 0u);          /* distinct values */
  }
  sg_ptx_unload(m);
}

TEST(ptx_ops_division_flavours) {
  float in[2] = {7.0f, 3.0f};
  float out[4];
  ptxt_run_ok("ld.global.f32 %f1, [%rd1]; ld.global.f32 %f2, [%rd1+4];\n"
              "div.full.f32 %f3, %f1, %f2; st.global.f32 [%rd2], %f3;\n"
              "div.approx.f32 %f3, %f1, %f2; st.global.f32 [%rd2+4], %f3;\n"
              "div.rn.f32 %f3, %f1, 0f00000000; st.global.f32 [%rd2+8], %f3;\n"
              "div.rn.f32 %f3, 0f00000000, 0f00000000; st.global.f32 [%rd2+12], %f3;\n",
              in, sizeof in, out, sizeof out);
  ASSERT_TRUE(fabsf(out[0] - 7.0f / 3.0f) <= 2e-7f);
  ASSERT_TRUE(fabsf(out[1] - 7.0f / 3.0f) <= 4e-7f);
  ASSERT_TRUE(isinf(out[2]));
  ASSERT_TRUE(isnan(out[3]));
}

/* Unbounded recursion ends the launch with a resource error instead of eating the host. */
TEST(ptx_ops_runaway_recursion) {
  sg_ptx_module *m = ptxt_load_text(
      ".version 8.0\n.target sm_80\n.address_size 64\n"
      ".func (.param .b32 r) f(.param .b32 a)\n{\n.reg .b32 %r<4>;\n.local .align 4 .b8 depot[64];\n"
      "ld.param.u32 %r1, [a]; add.s32 %r2, %r1, 1;\n"
      "{ .param .b32 p0; st.param.b32 [p0], %r2; .param .b32 r0; call.uni (r0), f, (p0); ld.param.b32 %r3, [r0]; }\n"
      "st.param.b32 [r], %r3; ret;\n}\n"
      ".visible .entry k()\n{\n.reg .b32 %r<2>;\n"
      "{ .param .b32 p0; st.param.b32 [p0], 0; .param .b32 r0; call.uni (r0), f, (p0); }\nret;\n}\n");
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(sg_ptx_kernel_at(m, 0), 2, 1, 64, 1, 0, NULL, 0, err, sizeof err), SG_PTX_ERR_OUT_OF_RESOURCES);
  ASSERT_NOT_NULL(strstr(err, "stack overflow"));
  sg_ptx_unload(m);
}

/* The checker rejects operands of the wrong register kind with the line. */
TEST(ptx_ops_checker_register_kinds) {
  char err[512] = "";
  uint32_t out[1];
  ASSERT_EQ(ptxt_run_body("@%r1 bra X; X:\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_NOT_NULL(strstr(err, ".pred"));
  ASSERT_EQ(ptxt_run_body("setp.eq.s32 %r1, 1, 2;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_EQ(ptxt_run_body("selp.b32 %r1, 1, 2, %r3;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_EQ(ptxt_run_body("ld.global.u32 %r1, [%h1];\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_NOT_NULL(strstr(err, "line 14"));
}

/* .ftz on the fast f32 paths: subnormal inputs and results flush to signed zero. */
TEST(ptx_ops_ftz_fast_paths) {
  uint32_t out[6];
  ptxt_run_ok("add.ftz.f32 %f1, 0f00400000, 0f00000000; st.global.f32 [%rd2], %f1;\n"
              "add.f32 %f1, 0f00400000, 0f00000000; st.global.f32 [%rd2+4], %f1;\n"
              "mul.ftz.f32 %f1, 0f80800000, 0f3F000000; st.global.f32 [%rd2+8], %f1;\n"
              "fma.rn.ftz.f32 %f1, 0f00400000, 0f4B000000, 0f00000000; st.global.f32 [%rd2+12], %f1;\n"
              "fma.rn.f32 %f1, 0f00400000, 0f4B000000, 0f00000000; st.global.f32 [%rd2+16], %f1;\n"
              "sub.ftz.f32 %f1, 0f3F800000, 0f00000001; st.global.f32 [%rd2+20], %f1;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 0u);
  ASSERT_EQ(out[1], 0x00400000u);
  ASSERT_EQ(out[2], 0x80000000u);
  ASSERT_EQ(out[3], 0u);
  ASSERT_EQ(out[4], ptxt_fbits(ptxt_bitsf(0x00400000u) * ptxt_bitsf(0x4b000000u)));
  ASSERT_EQ(out[5], 0x3f800000u);
}
