/*
 * Numeric helpers: half/bfloat16 encodings with every PTX rounding mode, and cvt between all
 * scalar types. Rounding to f32/f64 in a non-default mode switches the FPU rounding mode around
 * one volatile operation (the engine runs each thread on one OS thread, so the switch is local).
 */
#include <fenv.h>
#include <math.h>
#include <string.h>

#include "ptx_internal.h"

static int fe_mode(int rnd) {
  switch (rnd) {
  case RND_RZ: case RND_RZI: return FE_TOWARDZERO;
  case RND_RM: case RND_RMI: return FE_DOWNWARD;
  case RND_RP: case RND_RPI: return FE_UPWARD;
  default: return FE_TONEAREST;
  }
}

/* Rounds |m| (a finite double >= 0) to a binary format with `mant` fraction bits and exponent
 * range [emin, emax]; returns the magnitude bits (exponent|fraction) of the result. */
static uint64_t round_fmt(double m, int neg, int mant, int emin, int emax, int rnd) {
  uint64_t maxexp = (uint64_t)(emax - emin + 2); /* biased exponent of inf (normal e biases to e - emin + 1) */
  if (m == 0) return 0;
  int ex;
  frexp(m, &ex);
  int e = ex - 1;
  if (e < emin) e = emin;
  double q = ldexp(m, mant - e); /* exact: a power-of-two scaling */
  double fl = floor(q);
  double fr = q - fl;
  int up;
  switch (rnd) {
  case RND_RZ: case RND_RZI: up = 0; break;
  case RND_RM: case RND_RMI: up = neg && fr > 0; break;
  case RND_RP: case RND_RPI: up = !neg && fr > 0; break;
  case RND_RNA: up = fr >= 0.5; break;
  default: up = fr > 0.5 || (fr == 0.5 && fmod(fl, 2.0) != 0); break;
  }
  uint64_t qi = (uint64_t)fl + (uint64_t)up;
  uint64_t one = 1ull << mant;
  if (qi >= 2 * one) { qi >>= 1; e++; }
  if (e > emax) {
    int to_inf = (rnd == RND_RN || rnd == RND_NONE || rnd == RND_RNI || rnd == RND_RNA) ||
                 ((rnd == RND_RM || rnd == RND_RMI) && neg) || ((rnd == RND_RP || rnd == RND_RPI) && !neg);
    return to_inf ? maxexp << mant : ((maxexp - 1) << mant) | (one - 1);
  }
  if (qi < one) return qi; /* subnormal (e == emin) */
  return ((uint64_t)(e - emin + 1) << mant) | (qi - one);
}

uint16_t sg_f64_to_f16(double d, int rnd) {
  if (isnan(d)) return 0x7fff;
  int neg = signbit(d) != 0;
  uint16_t s = neg ? 0x8000 : 0;
  if (isinf(d)) return s | 0x7c00;
  return s | (uint16_t)round_fmt(fabs(d), neg, 10, -14, 15, rnd);
}
uint16_t sg_f32_to_f16(float f, int rnd) { return sg_f64_to_f16(f, rnd); }

static uint16_t f64_to_bf16(double d, int rnd) {
  if (isnan(d)) return 0x7fff;
  int neg = signbit(d) != 0;
  uint16_t s = neg ? 0x8000 : 0;
  if (isinf(d)) return s | 0x7f80;
  return s | (uint16_t)round_fmt(fabs(d), neg, 7, -126, 127, rnd);
}
uint16_t sg_f32_to_bf16(float f, int rnd) { return f64_to_bf16(f, rnd); }

float sg_f16_to_f32(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  float v;
  if (e == 31) v = m ? NAN : INFINITY;
  else if (e == 0) v = ldexpf((float)m, -24);
  else v = ldexpf((float)(m | 1024), e - 25);
  return s ? -v : v;
}

float sg_bf16_to_f32(uint16_t h) {
  uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

float sg_round_f32(double v, int rnd) {
  if (rnd == RND_NONE || rnd == RND_RN) return (float)v;
  int old = fegetround();
  fesetround(fe_mode(rnd));
  volatile double vv = v;
  volatile float r = (float)vv;
  fesetround(old);
  return r;
}

static double round_int_f64(int64_t v, int is_signed, uint64_t u, int rnd) {
  int old = fegetround();
  fesetround(fe_mode(rnd));
  volatile int64_t vi = v;
  volatile uint64_t vu = u;
  volatile double r = is_signed ? (double)vi : (double)vu;
  fesetround(old);
  return r;
}

static float round_int_f32(int64_t v, int is_signed, uint64_t u, int rnd) {
  int old = fegetround();
  fesetround(fe_mode(rnd));
  volatile int64_t vi = v;
  volatile uint64_t vu = u;
  volatile float r = is_signed ? (float)vi : (float)vu;
  fesetround(old);
  return r;
}

static float ftz32(float f) { return fpclassify(f) == FP_SUBNORMAL ? copysignf(0.0f, f) : f; }

/* Integral rounding of a floating value (cvt.rni & co and float->int). */
static double round_integral(double v, int rnd) {
  switch (rnd) {
  case RND_RZI: case RND_RZ: return trunc(v);
  case RND_RMI: case RND_RM: return floor(v);
  case RND_RPI: case RND_RP: return ceil(v);
  default: return nearbyint(v); /* default environment: ties to even */
  }
}

static uint64_t trunc_bits(uint64_t v, unsigned sz) { return sz >= 8 ? v : v & ((1ull << (8 * sz)) - 1); }

uint64_t sg_cvt(uint64_t v, int dt, int st, int rnd, int sat, int ftz) {
  unsigned dsz = sg_type_size(dt), ssz = sg_type_size(st);
  if (!sg_type_is_float(st)) {
    int ss = sg_type_is_signed(st);
    uint64_t u = trunc_bits(v, ssz);
    int64_t s = (int64_t)u;
    if (ss && ssz < 8) s = (int64_t)(u << (64 - 8 * ssz)) >> (64 - 8 * ssz);
    if (ss) u = (uint64_t)s;
    if (!sg_type_is_float(dt)) {
      if (!sat) { /* narrowing keeps the low bits, widened back by the destination type's sign */
        if (sg_type_is_signed(dt) && dsz < 8) return (uint64_t)((int64_t)(u << (64 - 8 * dsz)) >> (64 - 8 * dsz));
        return trunc_bits(u, dsz);
      }
      int ds = sg_type_is_signed(dt);
      if (ds) {
        int64_t lo = dsz >= 8 ? INT64_MIN : -(1ll << (8 * dsz - 1)), hi = dsz >= 8 ? INT64_MAX : (1ll << (8 * dsz - 1)) - 1;
        if (!ss && u > (uint64_t)hi) return (uint64_t)hi;
        if (ss) { if (s < lo) s = lo; if (s > hi) s = hi; }
        return (uint64_t)s;
      }
      uint64_t hi = dsz >= 8 ? UINT64_MAX : (1ull << (8 * dsz)) - 1;
      if (ss && s < 0) return 0;
      return u > hi ? hi : u;
    }
    double d;
    uint64_t out;
    if (dt == T_F32) {
      float f = round_int_f32(s, ss, u, rnd);
      if (sat) f = f < 0 ? 0 : f > 1 ? 1 : f;
      uint32_t b;
      memcpy(&b, &f, 4);
      return b;
    }
    d = round_int_f64(s, ss, u, dt == T_F64 ? rnd : RND_RN);
    if (sat) d = d < 0 ? 0 : d > 1 ? 1 : d;
    if (dt == T_F64) { memcpy(&out, &d, 8); return out; }
    if (dt == T_F16) return sg_f64_to_f16(d, rnd);
    if (dt == T_BF16) return f64_to_bf16(d, rnd);
    return 0;
  }
  /* Floating source. */
  double d;
  if (st == T_F32) {
    float f;
    uint32_t b = (uint32_t)v;
    memcpy(&f, &b, 4);
    if (ftz) f = ftz32(f);
    d = f;
  } else if (st == T_F64) {
    memcpy(&d, &v, 8);
  } else if (st == T_F16) {
    d = sg_f16_to_f32((uint16_t)v);
  } else if (st == T_BF16) {
    d = sg_bf16_to_f32((uint16_t)v);
  } else {
    return 0;
  }
  if (!sg_type_is_float(dt)) {
    if (isnan(d)) return 0;
    double r = round_integral(d, rnd);
    int ds = sg_type_is_signed(dt);
    if (ds) {
      double lo = dsz >= 8 ? -9223372036854775808.0 : -ldexp(1, 8 * (int)dsz - 1);
      double hi = dsz >= 8 ? 9223372036854775808.0 : ldexp(1, 8 * (int)dsz - 1); /* exclusive */
      if (r <= lo) return trunc_bits((uint64_t)(dsz >= 8 ? INT64_MIN : (int64_t)lo), 8);
      if (r >= hi) return dsz >= 8 ? (uint64_t)INT64_MAX : (uint64_t)((1ll << (8 * dsz - 1)) - 1);
      return (uint64_t)(int64_t)r;
    }
    if (r <= 0) return 0;
    double hi = ldexp(1, 8 * (int)dsz);
    if (r >= hi) return dsz >= 8 ? UINT64_MAX : (1ull << (8 * dsz)) - 1;
    return (uint64_t)r;
  }
  /* float -> float */
  int integral = rnd == RND_RNI || rnd == RND_RZI || rnd == RND_RMI || rnd == RND_RPI;
  if (integral && !isnan(d) && !isinf(d)) d = round_integral(d, rnd);
  if (sat) d = isnan(d) ? 0 : d < 0 ? 0 : d > 1 ? 1 : d;
  int r2 = integral ? RND_RN : rnd;
  uint64_t out;
  if (dt == T_F64) { memcpy(&out, &d, 8); return out; }
  if (dt == T_F32) {
    float f = isnan(d) ? NAN : sg_round_f32(d, r2);
    if (ftz) f = ftz32(f);
    uint32_t b;
    memcpy(&b, &f, 4);
    if (isnan(d)) b = 0x7fffffff;
    return b;
  }
  if (dt == T_F16) return sg_f64_to_f16(d, r2);
  if (dt == T_BF16) return f64_to_bf16(d, r2);
  return 0;
}
