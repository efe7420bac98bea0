/*
 * The interpreter's general arithmetic path (ptx_alu.c) and value helpers.
 */
#ifndef SG_PTX_ALU_H
#define SG_PTX_ALU_H

#include "ptx_internal.h"

#include <math.h>
#include <string.h>

static inline float sg_f32(uint64_t v) { uint32_t b = (uint32_t)v; float f; memcpy(&f, &b, 4); return f; }
static inline uint64_t sg_bits32(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static inline double sg_f64(uint64_t v) { double d; memcpy(&d, &v, 8); return d; }
static inline uint64_t sg_bits64(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }

/* Fused f32 multiply-add without a libm call: a*b is exact in double, so a*b+c rounds once to
 * double; rounding that to float is exact unless it landed on a float rounding midpoint (or in
 * the float subnormal range), where the true fma decides. */
static inline float sg_fmaf(float a, float b, float c) {
  double d = (double)a * b + c;
  uint64_t bits;
  memcpy(&bits, &d, 8);
  if ((bits & 0x1fffffffull) == 0x10000000ull || fabs(d) < 1.1754943508222875e-38) return fmaf(a, b, c);
  return (float)d;
}

/* Result of in->op on a, b, c (e: 4th source); cc is the carry register for .cc/addc/subc. */
uint64_t sg_alu(const sg_insn *in, uint64_t a, uint64_t b, uint64_t c, uint64_t e, uint64_t *cc);
/* setp/set comparison of a and b as type t. */
int sg_compare(int cmp, int t, uint64_t a, uint64_t b);

#endif
