/*
 * Warp matrix instructions: mma.sync, ldmatrix, movmatrix and wmma.load/store/mma, run once all
 * 32 lanes of a warp reached them (ptx_sched.c), plus cp.async.
 *
 * mma.sync, ldmatrix and movmatrix have fragment layouts the PTX ISA specifies (which lane holds
 * which matrix element), and programs such as ggml's kernels depend on them, so they are followed
 * exactly. wmma fragments have an unspecified layout; here element e (row-major within its matrix)
 * of a fragment whose 32 lanes hold `cap` elements each sits in lane (e / cap), slot (e % cap), and
 * the slots left over repeat the matrix (a .f16 A fragment has room for each element twice, as on
 * a GPU). Only wmma.load/store/mma read these layouts, so they agree with each other.
 *
 * Products are accumulated in double and rounded once to the destination type: at least as
 * accurate as the hardware, whose accumulation order and intermediate precision are unspecified.
 */
#include <stdio.h>

#include "ptx_alu.h"

static uint64_t *regs_of(sg_thread *t) { return t->regs + t->frames[t->nframes - 1].reg_base; }

/* Elements of type t in one 32-bit register (f64: one per 64-bit register). */
static unsigned per_reg(int t) {
  switch (t) {
  case T_F16: case T_BF16: return 2;
  case T_S8: case T_U8: return 4;
  default: return 1;
  }
}

static unsigned elem_bytes(int t) { return t == T_TF32 ? 4 : sg_type_size(t); }

static uint64_t raw_get(uint64_t reg, int t, unsigned part) {
  unsigned bits = 8 * elem_bytes(t);
  return bits >= 64 ? reg : (reg >> (bits * part)) & ((1ull << bits) - 1);
}

static double value_of(uint64_t reg, int t, unsigned part) {
  uint64_t v = raw_get(reg, t, part);
  switch (t) {
  case T_F16: return sg_f16_to_f32((uint16_t)v);
  case T_BF16: return sg_bf16_to_f32((uint16_t)v);
  case T_TF32: return sg_f32(v & 0xffffe000u); /* tf32 keeps 10 of f32's 23 mantissa bits */
  case T_F32: return sg_f32(v);
  case T_F64: return sg_f64(v);
  case T_S8: return (int8_t)v;
  case T_U8: return (uint8_t)v;
  case T_S32: return (int32_t)v;
  default: return 0;
  }
}

/* Raw bits of value v as element type t (rounded to nearest; integers wrap or, with sat, clamp). */
static uint64_t bits_of(double v, int t, int sat) {
  switch (t) {
  case T_F16: return sg_f64_to_f16(v, RND_RN);
  case T_F32: return sg_bits32((float)v);
  case T_F64: return sg_bits64(v);
  case T_S32:
    if (sat) {
      if (v != v) return 0;
      if (v >= 2147483647.0) return 0x7fffffffu;
      if (v <= -2147483648.0) return 0x80000000u;
    }
    return (uint32_t)(int64_t)v;
  default: return 0;
  }
}

/* ---- which forms run ----------------------------------------------------------------------- */
static int is_int8(int t) { return t == T_S8 || t == T_U8; }

/* mma.sync: registers per operand for the supported shapes and types, from the PTX ISA. */
static int mma_regs(const sg_tc *tc, unsigned *na, unsigned *nb, unsigned *nc, unsigned *nd) {
  unsigned shape = (unsigned)tc->m << 16 | (unsigned)tc->n << 8 | tc->k;
  int ta = tc->ta;
  if (is_int8(ta) ? !is_int8(tc->tb) : ta != tc->tb) return 0;
#define SHAPE(m, n, k) ((m) << 16 | (n) << 8 | (k))
  if (ta == T_F16 || ta == T_BF16) {
    if (shape == SHAPE(16, 8, 16)) { *na = 4; *nb = 2; }
    else if (shape == SHAPE(16, 8, 8)) { *na = 2; *nb = 1; }
    else return 0;
    if (ta == T_BF16 && (tc->td != T_F32 || tc->tc != T_F32)) return 0;
    if ((tc->td != T_F16 && tc->td != T_F32) || (tc->tc != T_F16 && tc->tc != T_F32)) return 0;
  } else if (ta == T_TF32) {
    if (shape == SHAPE(16, 8, 8)) { *na = 4; *nb = 2; }
    else if (shape == SHAPE(16, 8, 4)) { *na = 2; *nb = 1; }
    else return 0;
    if (tc->td != T_F32 || tc->tc != T_F32) return 0;
  } else if (is_int8(ta)) {
    if (shape == SHAPE(16, 8, 32)) { *na = 4; *nb = 2; }
    else if (shape == SHAPE(16, 8, 16)) { *na = 2; *nb = 1; }
    else if (shape == SHAPE(8, 8, 16)) { *na = 1; *nb = 1; }
    else return 0;
    if (tc->td != T_S32 || tc->tc != T_S32) return 0;
  } else if (ta == T_F64) {
    if (shape != SHAPE(8, 8, 4) || tc->td != T_F64 || tc->tc != T_F64) return 0;
    *na = 1;
    *nb = 1;
  } else {
    return 0;
  }
#undef SHAPE
  *nc = tc->m * tc->n / 32 / (tc->tc == T_F16 ? 2 : 1);
  *nd = tc->m * tc->n / 32 / (tc->td == T_F16 ? 2 : 1);
  return 1;
}

static int wmma_shape(const sg_tc *tc) {
  return tc->k == 16 && ((tc->m == 16 && tc->n == 16) || (tc->m == 32 && tc->n == 8) || (tc->m == 8 && tc->n == 32));
}

static void wmma_dims(const sg_tc *tc, int which, unsigned *rows, unsigned *cols) {
  *rows = which == 1 ? tc->k : tc->m;
  *cols = which == 0 ? tc->k : tc->n;
}

/* A fragment of nregs registers of type t holds the whole matrix. */
static int wmma_fits(const sg_tc *tc, int which, int t, unsigned nregs) {
  unsigned rows, cols;
  wmma_dims(tc, which, &rows, &cols);
  return nregs >= 1 && nregs <= 8 && 32u * nregs * per_reg(t) >= rows * cols;
}

static int wmma_ab_type(int t) { return t == T_F16 || t == T_BF16 || is_int8(t); }
static int wmma_cd_type(int t) { return t == T_F16 || t == T_F32 || t == T_S32; }

int sg_tc_supported(const sg_tc *tc) {
  unsigned na, nb, nc, nd;
  switch (tc->kind) {
  case TC_MMA:
    return mma_regs(tc, &na, &nb, &nc, &nd) && tc->na == na && tc->nb == nb && tc->nc == nc && tc->nd == nd;
  case TC_LDMATRIX:
    return (tc->nmat == 1 || tc->nmat == 2 || tc->nmat == 4) && tc->nd == tc->nmat;
  case TC_MOVMATRIX:
    return tc->nd == 1 && tc->na == 1;
  case TC_WMMA_LOAD: case TC_WMMA_STORE:
    if (!wmma_shape(tc) || tc->which > 2 || (tc->kind == TC_WMMA_STORE && tc->which != 2)) return 0;
    if (tc->which == 2 ? !wmma_cd_type(tc->ta) : !wmma_ab_type(tc->ta)) return 0;
    return wmma_fits(tc, tc->which, tc->ta, tc->nd);
  case TC_WMMA_MMA:
    if (!wmma_shape(tc) || !wmma_ab_type(tc->ta) || (is_int8(tc->ta) ? !is_int8(tc->tb) : tc->ta != tc->tb)) return 0;
    if (is_int8(tc->ta) ? (tc->td != T_S32 || tc->tc != T_S32)
        : tc->ta == T_BF16 ? (tc->td != T_F32 || tc->tc != T_F32)
                           : ((tc->td != T_F16 && tc->td != T_F32) || (tc->tc != T_F16 && tc->tc != T_F32)))
      return 0;
    return wmma_fits(tc, 0, tc->ta, tc->na) && wmma_fits(tc, 1, tc->tb, tc->nb) && wmma_fits(tc, 2, tc->tc, tc->nc) &&
           wmma_fits(tc, 2, tc->td, tc->nd);
  default:
    return 0;
  }
}

/* ---- mma.sync ------------------------------------------------------------------------------- */
/* Row and column of element i of lane `lane`'s fragment of operand `role` (0 = A, 1 = B, 2 = C/D),
 * as the PTX ISA's "Matrix Fragments for mma" figures give them. */
static void mma_pos(const sg_tc *tc, int role, unsigned lane, unsigned i, unsigned *row, unsigned *col) {
  unsigned g = lane >> 2, q = lane & 3;
  if (role == 2) {
    if (tc->m == 16) { *row = g + 8 * (i >> 1); *col = q * 2 + (i & 1); }
    else { *row = g; *col = q * 2 + i; } /* m8n8 */
    return;
  }
  int t = tc->ta;
  if (role == 0) {
    if (t == T_F64) { *row = g; *col = q; }
    else if (t == T_TF32 && tc->k == 8) { *row = g + 8 * (i & 1); *col = q + 4 * (i >> 1); }
    else if (t == T_TF32) { *row = g + 8 * i; *col = q; }
    else if (is_int8(t) && tc->k == 32) { *row = g + 8 * ((i >> 2) & 1); *col = q * 4 + (i & 3) + 16 * (i >> 3); }
    else if (is_int8(t) && tc->m == 16) { *row = g + 8 * (i >> 2); *col = q * 4 + (i & 3); }
    else if (is_int8(t)) { *row = g; *col = q * 4 + i; }
    else if (tc->k == 16) { *row = g + 8 * ((i >> 1) & 1); *col = q * 2 + (i & 1) + 8 * (i >> 2); }
    else { *row = g + 8 * (i >> 1); *col = q * 2 + (i & 1); } /* f16/bf16 m16n8k8 */
    return;
  }
  *col = g; /* B: row is the k index */
  if (t == T_F64) *row = q;
  else if (t == T_TF32 && tc->k == 8) *row = q + 4 * i;
  else if (t == T_TF32) *row = q;
  else if (is_int8(t) && tc->k == 32) *row = q * 4 + (i & 3) + 16 * (i >> 2);
  else if (is_int8(t)) *row = q * 4 + i;
  else if (tc->k == 16) *row = q * 2 + (i & 1) + 8 * (i >> 1);
  else *row = q * 2 + i;
}

/* Gathers one operand of every lane into mat (rows x cols, row-major). */
static void mma_gather(const sg_tc *tc, sg_thread *const lanes[32], int role, const uint32_t *slots, int t,
                       unsigned cols, double *mat, unsigned nelem) {
  unsigned per = per_reg(t);
  for (unsigned lane = 0; lane < 32; lane++) {
    const uint64_t *r = regs_of(lanes[lane]);
    for (unsigned i = 0; i < nelem; i++) {
      unsigned row, col;
      mma_pos(tc, role, lane, i, &row, &col);
      mat[row * cols + col] = value_of(r[slots[i / per]], t, i % per);
    }
  }
}

static void matmul(const sg_tc *tc, const double *A, const double *B, const double *C, double *D) {
  for (unsigned i = 0; i < tc->m; i++)
    for (unsigned j = 0; j < tc->n; j++) {
      double acc = C[i * tc->n + j];
      for (unsigned x = 0; x < tc->k; x++)
        acc = tc->ta == T_F64 ? __builtin_fma(A[i * tc->k + x], B[x * tc->n + j], acc) : acc + A[i * tc->k + x] * B[x * tc->n + j];
      D[i * tc->n + j] = acc;
    }
}

static void run_mma(const sg_tc *tc, sg_thread *const lanes[32]) {
  double A[16 * 32], B[32 * 8], C[16 * 8], D[16 * 8];
  unsigned ea = tc->m * tc->k / 32, eb = tc->k * tc->n / 32, ecd = tc->m * tc->n / 32;
  mma_gather(tc, lanes, 0, tc->a, tc->ta, tc->k, A, ea);
  mma_gather(tc, lanes, 1, tc->b, tc->tb, tc->n, B, eb);
  mma_gather(tc, lanes, 2, tc->c, tc->tc, tc->n, C, ecd);
  matmul(tc, A, B, C, D);
  unsigned per = per_reg(tc->td), bits = tc->td == T_F16 ? 16 : 32;
  for (unsigned lane = 0; lane < 32; lane++) {
    uint64_t out[8] = {0};
    for (unsigned i = 0; i < ecd; i++) {
      unsigned row, col;
      mma_pos(tc, 2, lane, i, &row, &col);
      uint64_t v = bits_of(D[row * tc->n + col], tc->td, tc->satfinite);
      out[i / per] |= per > 1 ? v << (bits * (i % per)) : v;
    }
    uint64_t *r = regs_of(lanes[lane]);
    for (unsigned k = 0; k < tc->nd; k++) r[tc->d[k]] = out[k];
  }
}

/* ---- ldmatrix / movmatrix --------------------------------------------------------------------- */
/* Lane l holds row l/4, columns 2*(l%4) and 2*(l%4)+1 of each 8x8 matrix of b16 (low half first);
 * .trans hands out the transpose. */
static uint32_t frag_pair(uint16_t m[8][8], unsigned lane, int trans) {
  unsigned g = lane >> 2, q = lane & 3;
  uint16_t lo = trans ? m[2 * q][g] : m[g][2 * q], hi = trans ? m[2 * q + 1][g] : m[g][2 * q + 1];
  return (uint32_t)lo | (uint32_t)hi << 16;
}

static sg_ptx_status run_ldmatrix(sg_block_ctx *bc, const sg_tc *tc, sg_thread *const lanes[32]) {
  uint16_t mat[4][8][8];
  /* Lanes 8j..8j+7 give the row addresses of matrix j (16 bytes each, 16-byte aligned). */
  for (unsigned j = 0; j < tc->nmat; j++)
    for (unsigned row = 0; row < 8; row++) {
      sg_thread *t = lanes[j * 8 + row];
      const sg_insn *in = &bc->mod->code[t->pc];
      uint8_t *p = sg_mem_at(bc, t, in, in->space, regs_of(t)[in->a] + (uint64_t)in->imm, 16);
      if (!p) return bc->status;
      memcpy(mat[j][row], p, 16);
    }
  for (unsigned lane = 0; lane < 32; lane++) {
    uint64_t *r = regs_of(lanes[lane]);
    for (unsigned j = 0; j < tc->nmat; j++) r[tc->d[j]] = frag_pair(mat[j], lane, tc->trans);
  }
  return SG_PTX_OK;
}

static void run_movmatrix(const sg_tc *tc, sg_thread *const lanes[32]) {
  uint16_t mat[8][8];
  for (unsigned lane = 0; lane < 32; lane++) {
    uint32_t v = (uint32_t)regs_of(lanes[lane])[tc->a[0]];
    mat[lane >> 2][2 * (lane & 3)] = (uint16_t)v;
    mat[lane >> 2][2 * (lane & 3) + 1] = (uint16_t)(v >> 16);
  }
  for (unsigned lane = 0; lane < 32; lane++) regs_of(lanes[lane])[tc->d[0]] = frag_pair(mat, lane, 1);
}

/* ---- wmma ----------------------------------------------------------------------------------- */
static sg_ptx_status run_wmma_ldst(sg_block_ctx *bc, const sg_tc *tc, sg_thread *const lanes[32]) {
  unsigned rows, cols;
  wmma_dims(tc, tc->which, &rows, &cols);
  unsigned per = per_reg(tc->ta), cap = tc->nd * per, total = rows * cols, esz = elem_bytes(tc->ta);
  for (unsigned lane = 0; lane < 32; lane++) {
    sg_thread *t = lanes[lane];
    const sg_insn *in = &bc->mod->code[t->pc];
    uint64_t *r = regs_of(t);
    uint64_t base = r[in->a] + (uint64_t)in->imm;
    uint64_t stride = in->b != SG_NO_SLOT ? (uint32_t)r[in->b] : tc->col ? rows : cols;
    uint64_t out[8] = {0};
    for (unsigned j = 0; j < cap; j++) {
      unsigned e = lane * cap + j;
      if (tc->kind == TC_WMMA_STORE && e >= total) break; /* the first copy is the fragment */
      e %= total;
      unsigned row = e / cols, col = e % cols;
      uint64_t a = base + (tc->col ? col * stride + row : row * stride + col) * esz;
      uint8_t *p = sg_mem_at(bc, t, in, in->space, a, esz);
      if (!p) return bc->status;
      if (tc->kind == TC_WMMA_LOAD) {
        uint64_t v = 0;
        memcpy(&v, p, esz);
        out[j / per] |= v << (8 * esz * (j % per));
      } else {
        uint64_t v = raw_get(r[tc->d[j / per]], tc->ta, j % per);
        memcpy(p, &v, esz);
      }
    }
    if (tc->kind == TC_WMMA_LOAD)
      for (unsigned k = 0; k < tc->nd; k++) r[tc->d[k]] = out[k];
  }
  return SG_PTX_OK;
}

static void wmma_gather(sg_thread *const lanes[32], const uint32_t *slots, unsigned nregs, int t, double *mat,
                        unsigned total) {
  unsigned per = per_reg(t), cap = nregs * per;
  for (unsigned e = 0; e < total; e++) {
    unsigned lane = e / cap, j = e % cap;
    mat[e] = value_of(regs_of(lanes[lane])[slots[j / per]], t, j % per);
  }
}

static void run_wmma_mma(const sg_tc *tc, sg_thread *const lanes[32]) {
  double A[32 * 16], B[16 * 32], C[16 * 16], D[16 * 16];
  unsigned total = tc->m * tc->n;
  wmma_gather(lanes, tc->a, tc->na, tc->ta, A, tc->m * tc->k);
  wmma_gather(lanes, tc->b, tc->nb, tc->tb, B, tc->k * tc->n);
  wmma_gather(lanes, tc->c, tc->nc, tc->tc, C, total);
  matmul(tc, A, B, C, D);
  unsigned per = per_reg(tc->td), cap = tc->nd * per, bits = tc->td == T_F16 ? 16 : 32;
  for (unsigned lane = 0; lane < 32; lane++) {
    uint64_t out[8] = {0};
    for (unsigned j = 0; j < cap; j++) {
      uint64_t v = bits_of(D[(lane * cap + j) % total], tc->td, tc->satfinite);
      out[j / per] |= per > 1 ? v << (bits * (j % per)) : v;
    }
    uint64_t *r = regs_of(lanes[lane]);
    for (unsigned k = 0; k < tc->nd; k++) r[tc->d[k]] = out[k];
  }
}

sg_ptx_status sg_tensor_exec(sg_block_ctx *bc, sg_thread *const lanes[32]) {
  const sg_insn *in = &bc->mod->code[lanes[0]->pc];
  const sg_tc *tc = &bc->mod->tc[in->aux];
  switch (tc->kind) {
  case TC_MMA: run_mma(tc, lanes); return SG_PTX_OK;
  case TC_LDMATRIX: return run_ldmatrix(bc, tc, lanes);
  case TC_MOVMATRIX: run_movmatrix(tc, lanes); return SG_PTX_OK;
  case TC_WMMA_LOAD: case TC_WMMA_STORE: return run_wmma_ldst(bc, tc, lanes);
  case TC_WMMA_MMA: run_wmma_mma(tc, lanes); return SG_PTX_OK;
  default: return sg_fail(bc, lanes[0], SG_PTX_ERR_UNSUPPORTED, "unknown matrix instruction at line %u", in->line);
  }
}

/* ---- cp.async --------------------------------------------------------------------------------- */
/* in->a + imm: shared destination; in->b (+ in->c when not SG_NO_SLOT): global source; in->vec:
 * cp-size; in->e: src-size, or with SG_F_HI the ignore-src predicate (SG_F_WIDE: negated). Bytes
 * past src-size are zero-filled. */
sg_ptx_status sg_cp_async(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, const uint64_t *r) {
  unsigned n = in->vec, have = n;
  if (in->e != SG_NO_SLOT) {
    if (in->flags & SG_F_HI) have = ((r[in->e] & 1) ^ ((in->flags & SG_F_WIDE) ? 1u : 0u)) ? 0 : n;
    else have = (uint32_t)r[in->e] < n ? (uint32_t)r[in->e] : n;
  }
  uint64_t src = r[in->b] + (in->c != SG_NO_SLOT ? r[in->c] : 0);
  uint8_t tmp[16] = {0};
  if (have) {
    if (src & (n - 1)) {
      sg_fail(bc, t, SG_PTX_ERR_MISALIGNED, "misaligned %u-byte global access at 0x%llx by cp.async at line %u", n,
              (unsigned long long)src, in->line);
      return bc->status;
    }
    for (unsigned k = 0; k < have;) { /* src-size need not be a power of two */
      unsigned step = have - k >= 8 && !((src + k) & 7) ? 8 : 1;
      const uint8_t *p = sg_mem_at(bc, t, in, SP_GLOBAL, src + k, step);
      if (!p) return bc->status;
      memcpy(tmp + k, p, step);
      k += step;
    }
  }
  uint8_t *d = sg_mem_at(bc, t, in, SP_SHARED, r[in->a] + (uint64_t)in->imm, n);
  if (!d) return bc->status;
  memcpy(d, tmp, n);
  return SG_PTX_OK;
}
