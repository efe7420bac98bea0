/*
 * The general arithmetic path: every type and modifier combination of the ALU instructions. The
 * interpreter's fast cases (ptx_exec.c) cover the hot type/modifier pairs; everything else comes
 * here, one switch on the operation and then on the type.
 */
#include <fenv.h>
#include <math.h>
#include <string.h>

#include "ptx_alu.h"

static uint64_t mask_of(unsigned sz) { return sz >= 8 ? ~0ull : (1ull << (8 * sz)) - 1; }
static int64_t sx(uint64_t v, unsigned sz) { return sz >= 8 ? (int64_t)v : (int64_t)(v << (64 - 8 * sz)) >> (64 - 8 * sz); }
static uint64_t zx(uint64_t v, unsigned sz) { return v & mask_of(sz); }


static float ftz(float f) { return fpclassify(f) == FP_SUBNORMAL ? copysignf(0.0f, f) : f; }

static int fe_mode(int rnd) {
  switch (rnd) {
  case RND_RZ: return FE_TOWARDZERO;
  case RND_RM: return FE_DOWNWARD;
  case RND_RP: return FE_UPWARD;
  default: return FE_TONEAREST;
  }
}

/* One floating operation in float or double with an explicit rounding mode. */
static double fop(int op, double a, double b, double c, int is64, int rnd) {
  int old = 0, sw = rnd == RND_RZ || rnd == RND_RM || rnd == RND_RP;
  if (sw) { old = fegetround(); fesetround(fe_mode(rnd)); }
  volatile double r;
  if (is64) {
    volatile double x = a, y = b, z = c;
    switch (op) {
    case SG_OP_ADD: r = x + y; break;
    case SG_OP_SUB: r = x - y; break;
    case SG_OP_MUL: r = x * y; break;
    case SG_OP_DIV: r = x / y; break;
    case SG_OP_RCP: r = 1.0 / x; break;
    case SG_OP_SQRT: r = sqrt(x); break;
    default: r = fma(x, y, z); break;
    }
  } else {
    volatile float x = (float)a, y = (float)b, z = (float)c;
    volatile float rf;
    switch (op) {
    case SG_OP_ADD: rf = x + y; break;
    case SG_OP_SUB: rf = x - y; break;
    case SG_OP_MUL: rf = x * y; break;
    case SG_OP_DIV: rf = x / y; break;
    case SG_OP_RCP: rf = 1.0f / x; break;
    case SG_OP_SQRT: rf = sqrtf(x); break;
    default: rf = fmaf(x, y, z); break;
    }
    r = rf;
  }
  if (sw) fesetround(old);
  return r;
}

static float fmin_ptx(float a, float b) {
  if (isnan(a) && isnan(b)) return NAN;
  if (a == 0 && b == 0) return signbit(a) ? a : b;
  return fminf(a, b);
}
static float fmax_ptx(float a, float b) {
  if (isnan(a) && isnan(b)) return NAN;
  if (a == 0 && b == 0) return signbit(a) ? b : a;
  return fmaxf(a, b);
}

/* A float-family operation on one lane, computed in double (f64) or float (f32/f16/bf16). */
static double flane(const sg_insn *in, int op, double a, double b, double c, int is64) {
  int rnd = in->mod;
  switch (op) {
  case SG_OP_ADD: case SG_OP_SUB: case SG_OP_MUL: case SG_OP_DIV: case SG_OP_FMA: case SG_OP_MAD:
    return fop(op == SG_OP_MAD ? SG_OP_FMA : op, a, b, c, is64, rnd);
  case SG_OP_MIN: return is64 ? (isnan(a) && isnan(b) ? NAN : fmin(a, b)) : fmin_ptx((float)a, (float)b);
  case SG_OP_MAX: return is64 ? (isnan(a) && isnan(b) ? NAN : fmax(a, b)) : fmax_ptx((float)a, (float)b);
  case SG_OP_ABS: return fabs(a);
  case SG_OP_NEG: return -a;
  case SG_OP_COPYSIGN: return copysign(b, a);
  case SG_OP_RCP: return (in->flags & SG_F_APPROX) ? (is64 ? 1.0 / a : 1.0f / (float)a) : fop(op, a, 0, 0, is64, rnd);
  case SG_OP_SQRT: return (in->flags & SG_F_APPROX) ? (is64 ? sqrt(a) : sqrtf((float)a)) : fop(op, a, 0, 0, is64, rnd);
  case SG_OP_RSQRT: return is64 ? 1.0 / sqrt(a) : 1.0f / sqrtf((float)a);
  case SG_OP_EX2: return is64 ? exp2(a) : exp2f((float)a);
  case SG_OP_LG2: return is64 ? log2(a) : log2f((float)a);
  case SG_OP_SIN: return is64 ? sin(a) : sinf((float)a);
  case SG_OP_COS: return is64 ? cos(a) : cosf((float)a);
  case SG_OP_TANH: return is64 ? tanh(a) : tanhf((float)a);
  default: return NAN;
  }
}

static double h2d(uint16_t h, int bf) { return bf ? sg_bf16_to_f32(h) : sg_f16_to_f32(h); }
static uint16_t d2h(double d, int bf, int rnd) {
  int r = rnd ? rnd : RND_RN;
  return bf ? sg_f32_to_bf16((float)d, r) : sg_f64_to_f16(d, r);
}

static uint64_t falu(const sg_insn *in, int op, uint64_t a, uint64_t b, uint64_t c) {
  int t = in->t;
  int sat = in->flags & SG_F_SAT, fz = in->flags & SG_F_FTZ;
  if (t == T_F64) {
    double r = flane(in, op, sg_f64(a), sg_f64(b), sg_f64(c), 1);
    if (sat) r = isnan(r) ? 0 : r < 0 ? 0 : r > 1 ? 1 : r;
    return sg_bits64(r);
  }
  if (t == T_F32) {
    float x = sg_f32(a), y = sg_f32(b), z = sg_f32(c);
    if (fz) { x = ftz(x); y = ftz(y); z = ftz(z); }
    float r = (float)flane(in, op, x, y, z, 0);
    if (sat) r = isnan(r) ? 0 : r < 0 ? 0 : r > 1 ? 1 : r;
    if (fz) r = ftz(r);
    return sg_bits32(r);
  }
  int bf = t == T_BF16 || t == T_BF16X2;
  int lanes = (t == T_F16X2 || t == T_BF16X2) ? 2 : 1;
  uint64_t out = 0;
  for (int l = 0; l < lanes; l++) {
    int sh = 16 * l;
    double x = h2d((uint16_t)(a >> sh), bf), y = h2d((uint16_t)(b >> sh), bf), z = h2d((uint16_t)(c >> sh), bf);
    double r;
    if (op == SG_OP_FMA || op == SG_OP_MAD) r = fma(x, y, z); /* exact in double for 11-bit inputs */
    else if (op == SG_OP_ADD) r = x + y;
    else if (op == SG_OP_SUB) r = x - y;
    else if (op == SG_OP_MUL) r = x * y;
    else r = flane(in, op, x, y, z, 0);
    if (sat) r = isnan(r) ? 0 : r < 0 ? 0 : r > 1 ? 1 : r;
    uint16_t h;
    if (op == SG_OP_ABS || op == SG_OP_NEG) {
      uint16_t hv = (uint16_t)(a >> sh);
      h = op == SG_OP_ABS ? hv & 0x7fff : hv ^ 0x8000; /* bit operations: NaN payloads survive */
    } else {
      h = d2h(r, bf, in->mod);
    }
    out |= (uint64_t)h << sh;
  }
  return out;
}

static uint32_t brev32(uint32_t x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
}

static uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel, int mode) {
  uint8_t bytes[8];
  uint64_t ab = (uint64_t)b << 32 | a;
  for (int k = 0; k < 8; k++) bytes[k] = (uint8_t)(ab >> (8 * k));
  uint32_t r = 0;
  if (mode == 0) {
    for (int k = 0; k < 4; k++) {
      unsigned s = (sel >> (4 * k)) & 0xf;
      uint8_t v = bytes[s & 7];
      if (s & 8) v = (v & 0x80) ? 0xff : 0;
      r |= (uint32_t)v << (8 * k);
    }
    return r;
  }
  unsigned s = sel & 3;
  static const uint8_t f4e[4][4] = {{0, 1, 2, 3}, {1, 2, 3, 4}, {2, 3, 4, 5}, {3, 4, 5, 6}};
  static const uint8_t b4e[4][4] = {{0, 7, 6, 5}, {1, 0, 7, 6}, {2, 1, 0, 7}, {3, 2, 1, 0}};
  static const uint8_t rc8[4][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3}};
  static const uint8_t ecl[4][4] = {{0, 1, 2, 3}, {1, 1, 2, 3}, {2, 2, 2, 3}, {3, 3, 3, 3}};
  static const uint8_t ecr[4][4] = {{0, 0, 0, 0}, {0, 1, 1, 1}, {0, 1, 2, 2}, {0, 1, 2, 3}};
  static const uint8_t rc16[4][4] = {{0, 1, 0, 1}, {2, 3, 2, 3}, {0, 1, 0, 1}, {2, 3, 2, 3}};
  const uint8_t(*tab)[4] = mode == 1 ? f4e : mode == 2 ? b4e : mode == 3 ? rc8 : mode == 4 ? ecl : mode == 5 ? ecr : rc16;
  for (int k = 0; k < 4; k++) r |= (uint32_t)bytes[tab[s][k]] << (8 * k);
  return r;
}

static int cmp_f(int cmp, double a, double b) {
  int un = isnan(a) || isnan(b);
  switch (cmp) {
  case CMP_EQ: return !un && a == b;
  case CMP_NE: return !un && a != b;
  case CMP_LT: case CMP_LO: return !un && a < b;
  case CMP_LE: case CMP_LS: return !un && a <= b;
  case CMP_GT: case CMP_HI: return !un && a > b;
  case CMP_GE: case CMP_HS: return !un && a >= b;
  case CMP_EQU: return un || a == b;
  case CMP_NEU: return un || a != b;
  case CMP_LTU: return un || a < b;
  case CMP_LEU: return un || a <= b;
  case CMP_GTU: return un || a > b;
  case CMP_GEU: return un || a >= b;
  case CMP_NUM: return !un;
  case CMP_NAN: return un;
  default: return 0;
  }
}

int sg_compare(int cmp, int t, uint64_t a, uint64_t b) {
  unsigned sz = sg_type_size(t);
  if (t == T_F32) return cmp_f(cmp, sg_f32(a), sg_f32(b));
  if (t == T_F64) return cmp_f(cmp, sg_f64(a), sg_f64(b));
  if (t == T_F16 || t == T_BF16) return cmp_f(cmp, h2d((uint16_t)a, t == T_BF16), h2d((uint16_t)b, t == T_BF16));
  if (sg_type_is_signed(t) && cmp != CMP_LO && cmp != CMP_LS && cmp != CMP_HI && cmp != CMP_HS) {
    int64_t x = sx(a, sz), y = sx(b, sz);
    switch (cmp) {
    case CMP_EQ: return x == y;
    case CMP_NE: return x != y;
    case CMP_LT: return x < y;
    case CMP_LE: return x <= y;
    case CMP_GT: return x > y;
    case CMP_GE: return x >= y;
    default: return 0;
    }
  }
  uint64_t x = zx(a, sz), y = zx(b, sz);
  switch (cmp) {
  case CMP_EQ: return x == y;
  case CMP_NE: return x != y;
  case CMP_LT: case CMP_LO: return x < y;
  case CMP_LE: case CMP_LS: return x <= y;
  case CMP_GT: case CMP_HI: return x > y;
  case CMP_GE: case CMP_HS: return x >= y;
  default: return 0;
  }
}

static int testp(int mode, int t, uint64_t a) {
  double d = t == T_F64 ? sg_f64(a) : sg_f32(a);
  int cls = t == T_F64 ? fpclassify(d) : fpclassify((float)d);
  switch (mode) {
  case 1: return isfinite(d);
  case 2: return isinf(d);
  case 3: return !isnan(d);
  case 4: return isnan(d);
  case 5: return cls == FP_NORMAL;
  case 6: return cls == FP_SUBNORMAL;
  default: return 0;
  }
}

uint64_t sg_alu(const sg_insn *in, uint64_t a, uint64_t b, uint64_t c, uint64_t e, uint64_t *cc) {
  int t = in->t;
  unsigned sz = sg_type_size(t);
  int sgn = sg_type_is_signed(t);
  int op = in->op;
  if (sg_type_is_float(t) && op != SG_OP_TESTP && op != SG_OP_SET && op != SG_OP_SLCT && op != SG_OP_CVT)
    return falu(in, op, a, b, c);
  uint64_t m = mask_of(sz);
  switch (op) {
  case SG_OP_ADD: case SG_OP_SUB: case SG_OP_ADDC: case SG_OP_SUBC: {
    int sub = op == SG_OP_SUB || op == SG_OP_SUBC;
    if (in->flags & SG_F_SAT) { /* only .s32 */
      int64_t r = sub ? (int64_t)(int32_t)a - (int32_t)b : (int64_t)(int32_t)a + (int32_t)b;
      if (r > INT32_MAX) r = INT32_MAX;
      if (r < INT32_MIN) r = INT32_MIN;
      return (uint32_t)r;
    }
    uint64_t x = zx(a, sz), y = zx(b, sz);
    uint64_t cin = (op == SG_OP_ADDC || op == SG_OP_SUBC) && cc ? (*cc & 1) : 0;
    unsigned __int128 r;
    if (!sub) r = (unsigned __int128)x + y + cin;
    else r = (unsigned __int128)x - y - cin;
    if (cc && (in->flags & SG_F_CC)) {
      /* carry out of the add; for subtraction the flag is the borrow */
      *cc = sz >= 8 ? (uint64_t)(r >> 64) & 1 : (uint64_t)(r >> (8 * sz)) & 1;
    }
    return (uint64_t)r & m;
  }
  case SG_OP_MUL: case SG_OP_MAD: {
    uint64_t r;
    if (in->flags & SG_F_WIDE) {
      unsigned dsz = sz * 2;
      if (sgn) r = (uint64_t)(sx(a, sz) * sx(b, sz));
      else r = zx(a, sz) * zx(b, sz);
      if (op == SG_OP_MAD) r += c;
      return r & mask_of(dsz);
    }
    if (in->flags & SG_F_HI) {
      if (sz == 8) {
        if (sgn) r = (uint64_t)(((__int128)(int64_t)a * (int64_t)b) >> 64);
        else r = (uint64_t)(((unsigned __int128)a * b) >> 64);
      } else if (sgn) {
        r = (uint64_t)((sx(a, sz) * sx(b, sz)) >> (8 * sz));
      } else {
        r = (zx(a, sz) * zx(b, sz)) >> (8 * sz);
      }
    } else {
      r = a * b;
    }
    if (op == SG_OP_MAD) {
      if (in->flags & SG_F_SAT) {
        int64_t s = (int64_t)(int32_t)r + (int32_t)c;
        return (uint32_t)(s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : s);
      }
      r += c;
    }
    return r & m;
  }
  case SG_OP_MUL24: case SG_OP_MAD24: {
    int64_t x = sgn ? sx(a, 3) : (int64_t)zx(a, 3), y = sgn ? sx(b, 3) : (int64_t)zx(b, 3);
    uint64_t p = (uint64_t)(x * y);
    uint64_t r = (in->flags & SG_F_HI) ? (p >> 16) & 0xffffffffu : p & 0xffffffffu;
    if (op == SG_OP_MAD24) r += c;
    return r & 0xffffffffu;
  }
  case SG_OP_SAD: {
    uint64_t d = sgn ? (uint64_t)(sx(a, sz) > sx(b, sz) ? sx(a, sz) - sx(b, sz) : sx(b, sz) - sx(a, sz))
                     : (zx(a, sz) > zx(b, sz) ? zx(a, sz) - zx(b, sz) : zx(b, sz) - zx(a, sz));
    return (c + d) & m;
  }
  case SG_OP_DIV: case SG_OP_REM: {
    /* PTX leaves division by zero undefined; hardware yields all ones for div and the dividend for rem. */
    if (zx(b, sz) == 0) return op == SG_OP_DIV ? m : zx(a, sz);
    if (sgn) {
      int64_t x = sx(a, sz), y = sx(b, sz);
      if (y == -1) return op == SG_OP_DIV ? (uint64_t)(0 - (uint64_t)x) & m : 0;
      return (uint64_t)(op == SG_OP_DIV ? x / y : x % y) & m;
    }
    return op == SG_OP_DIV ? zx(a, sz) / zx(b, sz) : zx(a, sz) % zx(b, sz);
  }
  case SG_OP_MIN: case SG_OP_MAX: {
    int lt = sgn ? sx(a, sz) < sx(b, sz) : zx(a, sz) < zx(b, sz);
    return (op == SG_OP_MIN ? (lt ? a : b) : (lt ? b : a)) & m;
  }
  case SG_OP_ABS: { int64_t x = sx(a, sz); return (uint64_t)(x < 0 ? -x : x) & m; }
  case SG_OP_NEG: return (0 - a) & m;
  case SG_OP_AND: return t == T_PRED ? (a & b & 1) : a & b & m;
  case SG_OP_OR: return t == T_PRED ? ((a | b) & 1) : (a | b) & m;
  case SG_OP_XOR: return t == T_PRED ? ((a ^ b) & 1) : (a ^ b) & m;
  case SG_OP_NOT: return t == T_PRED ? (~a & 1) : ~a & m;
  case SG_OP_CNOT: return zx(a, sz) == 0;
  case SG_OP_SHL: { uint32_t s = (uint32_t)b; return s >= 8 * sz ? 0 : (a << s) & m; }
  case SG_OP_SHR: {
    uint32_t s = (uint32_t)b;
    if (sgn) { int64_t x = sx(a, sz); return (uint64_t)(s >= 8 * sz ? (x < 0 ? -1 : 0) : x >> s) & m; }
    return s >= 8 * sz ? 0 : zx(a, sz) >> s;
  }
  case SG_OP_BREV: {
    if (sz == 8) return (uint64_t)brev32((uint32_t)a) << 32 | brev32((uint32_t)(a >> 32));
    return brev32((uint32_t)a);
  }
  case SG_OP_POPC: return (uint64_t)__builtin_popcountll(zx(a, sz));
  case SG_OP_CLZ: { uint64_t x = zx(a, sz); return x == 0 ? 8 * sz : (uint64_t)(__builtin_clzll(x) - (64 - 8 * (int)sz)); }
  case SG_OP_BFIND: {
    uint64_t x = zx(a, sz);
    if (sgn && sx(a, sz) < 0) x = ~x & m;
    if (x == 0) return 0xffffffffu;
    uint32_t pos = 63u - (uint32_t)__builtin_clzll(x);
    return (in->flags & SG_F_HI) ? (8 * sz - 1 - pos) : pos;
  }
  case SG_OP_BFE: {
    uint32_t pos = (uint32_t)b & 0xff, len = (uint32_t)c & 0xff, bits = 8 * sz;
    uint64_t x = zx(a, sz);
    int sbit;
    if (sgn) {
      uint32_t top = pos + len - 1;
      sbit = len == 0 ? 0 : (int)((top >= bits ? x >> (bits - 1) : x >> top) & 1);
    } else {
      sbit = 0;
    }
    uint64_t r = 0;
    for (uint32_t i = 0; i < bits; i++) {
      uint64_t bit = (i < len && pos + i < bits) ? (x >> (pos + i)) & 1 : (uint64_t)sbit;
      r |= bit << i;
    }
    return r;
  }
  case SG_OP_BFI: {
    uint32_t pos = (uint32_t)c & 0xff, len = (uint32_t)e & 0xff, bits = 8 * sz;
    uint64_t r = zx(b, sz);
    for (uint32_t i = 0; i < len && pos + i < bits; i++) {
      uint64_t bit = (a >> i) & 1;
      r = (r & ~(1ull << (pos + i))) | (bit << (pos + i));
    }
    return r;
  }
  case SG_OP_PRMT: return prmt((uint32_t)a, (uint32_t)b, (uint32_t)c, in->mod);
  case SG_OP_SHF_L: case SG_OP_SHF_R: {
    uint32_t n = (uint32_t)c;
    n = (in->flags & SG_F_HI) ? (n > 32 ? 32 : n) : (n & 31);
    uint64_t v = (uint64_t)(uint32_t)b << 32 | (uint32_t)a;
    if (op == SG_OP_SHF_L) return (uint32_t)((v << n) >> 32);
    return (uint32_t)(v >> n);
  }
  case SG_OP_FNS: {
    uint32_t mask = (uint32_t)a, base = (uint32_t)b;
    int32_t off = (int32_t)c;
    if (base > 31) return 0xffffffffu;
    if (off == 0) return base;
    if (off > 0) {
      for (uint32_t i = base; i < 32; i++)
        if ((mask >> i) & 1 && --off == 0) return i;
    } else {
      for (int i = (int)base; i >= 0; i--)
        if ((mask >> i) & 1 && ++off == 0) return (uint64_t)i;
    }
    return 0xffffffffu;
  }
  case SG_OP_DP4A: {
    int as = sg_type_is_signed(in->t), bs = sg_type_is_signed(in->t2);
    int32_t acc = (int32_t)c;
    for (int k = 0; k < 4; k++) {
      int32_t x = as ? (int8_t)(a >> (8 * k)) : (int32_t)(uint8_t)(a >> (8 * k));
      int32_t y = bs ? (int8_t)(b >> (8 * k)) : (int32_t)(uint8_t)(b >> (8 * k));
      acc += x * y;
    }
    return (uint32_t)acc;
  }
  case SG_OP_DP2A: {
    int as = sg_type_is_signed(in->t), bs = sg_type_is_signed(in->t2);
    int32_t acc = (int32_t)c;
    int hi = (in->flags & SG_F_HI) != 0;
    for (int k = 0; k < 2; k++) {
      int32_t x = as ? (int16_t)(a >> (16 * k)) : (int32_t)(uint16_t)(a >> (16 * k));
      int32_t y = bs ? (int8_t)(b >> (8 * (k + 2 * hi))) : (int32_t)(uint8_t)(b >> (8 * (k + 2 * hi)));
      acc += x * y;
    }
    return (uint32_t)acc;
  }
  case SG_OP_BMSK: { /* bits [a, a+b) set; .clamp saturates at 32, .wrap takes both mod 32 */
    uint32_t pos = (uint32_t)a, len = (uint32_t)b;
    if (!(in->flags & SG_F_HI)) { pos &= 31; len &= 31; }
    if (pos >= 32) return 0;
    if (len > 32 - pos) len = 32 - pos;
    return len == 32 ? 0xffffffffu : (((1u << len) - 1u) << pos);
  }
  case SG_OP_SZEXT: { /* extend from bit position b: signed for .s32, zero for .u32 */
    uint32_t pos = (uint32_t)b;
    if (in->flags & SG_F_HI) pos = pos > 32 ? 32 : pos;
    else pos &= 31;
    uint32_t x = (uint32_t)a;
    if (pos == 0) return 0;
    if (pos >= 32) return x;
    if (sgn) return (uint32_t)((int32_t)(x << (32 - pos)) >> (32 - pos));
    return x & ((1u << pos) - 1u);
  }
  case SG_OP_TESTP: return (uint64_t)testp(in->mod, t, a);
  case SG_OP_SLCT: {
    int ge = in->t2 == T_F32 ? sg_f32(c) >= 0.0f : (int32_t)c >= 0;
    return ge ? a : b;
  }
  default:
    return 0;
  }
}
