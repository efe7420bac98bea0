/*
 * The interpreter: runs one thread over the pre-decoded instruction array until it exits, parks
 * at a collective (bar.sync, shfl/vote/match/activemask), or fails. Hot type/modifier pairs have
 * their own cases; the rest goes through sg_alu. Every memory access is bounds-checked here:
 * global through the arena's granule map, shared/local/param against their own buffers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptx_alu.h"

/* Per-thread limits (a GPU's default stack is 1 KiB); they bound what runaway recursion can take
 * from the host: 1024 threads x (256 KiB registers + 128 KiB local) per worker at most. */
#define MAX_LOCAL (128u << 10)  /* local memory (call frames), bytes */
#define MAX_REGS (32u << 10)    /* register stack, 64-bit slots */
#define MAX_DEPTH 1024
#define SPIN_CHECK (1u << 14)  /* backward branches between two looks at the cancel flag */
#define SPIN_ROUNDS (1u << 6)  /* checks before a thread yields to its block (2^20 branches) */
/* In a cooperative grid a block spinning in grid.sync() waits for blocks that may share its
 * worker thread, so its threads yield much sooner (ptx_sched.c switches blocks at yields). */
#define COOP_SPIN (1u << 10)

sg_ptx_status sg_fail(sg_block_ctx *bc, const sg_thread *t, sg_ptx_status st, const char *fmt, ...) {
  if (bc->status != SG_PTX_OK) return bc->status;
  bc->status = st;
  if (bc->err && bc->errlen) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t)
      snprintf(bc->err, bc->errlen, "kernel %s: %s; thread (%u,%u,%u) block (%u,%u,%u)", bc->entry->name, msg, t->tid[0],
               t->tid[1], t->tid[2], bc->ctaid[0], bc->ctaid[1], bc->ctaid[2]);
    else
      snprintf(bc->err, bc->errlen, "kernel %s: %s; block (%u,%u,%u)", bc->entry->name, msg, bc->ctaid[0], bc->ctaid[1],
               bc->ctaid[2]);
  }
  return st;
}

static const char *space_name(int sp) {
  static const char *const n[] = {"generic", "global", "shared", "local", "const", "param", "param"};
  return sp >= 0 && sp <= SP_KPARAM ? n[sp] : "?";
}

/* Host pointer for n bytes at `a` in `space`, or NULL after recording the error. */
uint8_t *sg_mem_at(sg_block_ctx *bc, sg_thread *t, const sg_insn *in, int space, uint64_t a, unsigned n) {
  if (n > 1 && (a & (n - 1))) {
    sg_fail(bc, t, SG_PTX_ERR_MISALIGNED, "misaligned %u-byte %s access at 0x%llx by %s at line %u", n,
            space_name(space), (unsigned long long)a, sg_op_names[in->op], in->line);
    return NULL;
  }
  uint64_t off;
  switch (space) {
  case SP_GENERIC:
    if ((off = a - SG_WIN_SHARED) < SG_WIN_SIZE) { space = SP_SHARED; a = off; goto shared; }
    if ((off = a - SG_WIN_LOCAL) < SG_WIN_SIZE) { space = SP_LOCAL; a = off; goto local; }
    /* fall through */
  case SP_GLOBAL: case SP_CONST: {
    void *h = sg_mem_check(a, n);
    if (h) return h;
    break;
  }
  case SP_SHARED:
  shared:
    if (a <= bc->shared_size && n <= bc->shared_size - a) return bc->shared + a;
    break;
  case SP_LOCAL:
  local:
    if (a <= t->localcap && n <= t->localcap - a) return t->local + a;
    break;
  case SP_PARAM:
    off = a + t->frames[t->nframes - 1].local_base;
    if (a < MAX_LOCAL && off <= t->localcap && n <= t->localcap - off) return t->local + off;
    break;
  case SP_KPARAM:
    if (a <= bc->launch->params_size && n <= bc->launch->params_size - a) return (uint8_t *)bc->launch->params + a;
    break;
  }
  sg_fail(bc, t, SG_PTX_ERR_ILLEGAL_ADDRESS, "out-of-bounds %u-byte %s access at 0x%llx by %s at line %u", n,
          space_name(space), (unsigned long long)a, sg_op_names[in->op], in->line);
  return NULL;
}

static uint64_t load_val(const uint8_t *p, int t) {
  switch (sg_type_size(t)) {
  case 1: return sg_type_is_signed(t) ? (uint64_t)(int64_t)(int8_t)p[0] : p[0];
  case 2: { uint16_t v; memcpy(&v, p, 2); return t == T_S16 ? (uint64_t)(int64_t)(int16_t)v : v; }
  case 4: { uint32_t v; memcpy(&v, p, 4); return t == T_S32 ? (uint64_t)(int64_t)(int32_t)v : v; }
  default: { uint64_t v; memcpy(&v, p, 8); return v; }
  }
}

/* A sign-extended value fills its destination register and nothing above it. */
static inline uint64_t fit(uint64_t v, unsigned dsz) { return dsz && dsz < 8 ? v & ((1ull << (8 * dsz)) - 1) : v; }

static void store_val(uint8_t *p, int t, uint64_t v) {
  unsigned sz = sg_type_size(t);
  memcpy(p, &v, sz > 8 ? 8 : sz);
}

static uint64_t sreg(sg_block_ctx *bc, sg_thread *t, unsigned which) {
  const sg_ptx_launch *l = bc->launch;
  struct timespec ts;
  switch (which) {
  case SR_TID_X: return t->tid[0];
  case SR_TID_Y: return t->tid[1];
  case SR_TID_Z: return t->tid[2];
  case SR_NTID_X: return l->block[0];
  case SR_NTID_Y: return l->block[1];
  case SR_NTID_Z: return l->block[2];
  case SR_CTAID_X: return bc->ctaid[0];
  case SR_CTAID_Y: return bc->ctaid[1];
  case SR_CTAID_Z: return bc->ctaid[2];
  case SR_NCTAID_X: return l->grid[0];
  case SR_NCTAID_Y: return l->grid[1];
  case SR_NCTAID_Z: return l->grid[2];
  case SR_LANEID: return t->lane;
  case SR_WARPID: return t->warp;
  case SR_NWARPID: return bc->nwarps;
  case SR_SMID: return 0;
  case SR_NSMID: return 1;
  case SR_GRIDID: return 1;
  case SR_CLOCK: case SR_CLOCK64: case SR_GLOBALTIMER:
    clock_gettime(which == SR_GLOBALTIMER ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    {
      uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
      return which == SR_CLOCK ? (uint32_t)ns : ns;
    }
  case SR_LANEMASK_EQ: return 1u << t->lane;
  case SR_LANEMASK_LT: return (1u << t->lane) - 1;
  case SR_LANEMASK_LE: return t->lane == 31 ? 0xffffffffu : (2u << t->lane) - 1;
  case SR_LANEMASK_GT: return t->lane == 31 ? 0 : ~((2u << t->lane) - 1);
  case SR_LANEMASK_GE: return ~((1u << t->lane) - 1);
  case SR_DYNSMEM: return l->dyn_shared_bytes;
  case SR_TOTALSMEM: return bc->shared_size;
  case SR_WARPSZ: return 32;
  case SR_ENVREG1: return l->grid_workspace >> 32;
  case SR_ENVREG2: return (uint32_t)l->grid_workspace;
  default: return 0;
  }
}

/* Pushes a frame for callee f: registers (constants copied in) and local memory. */
static sg_ptx_status push_frame(sg_block_ctx *bc, sg_thread *t, const sg_func *f, uint32_t fi, uint32_t ret_pc,
                                uint32_t callsite) {
  uint32_t reg_base = 0, local_base = 0;
  if (t->nframes) {
    const sg_frame *cur = &t->frames[t->nframes - 1];
    const sg_func *cf = bc->mod->funcs[cur->fn];
    reg_base = cur->reg_base + cf->nslots;
    local_base = cur->local_base + cf->frame_bytes;
  }
  if (t->nframes >= MAX_DEPTH || (uint64_t)reg_base + f->nslots > MAX_REGS ||
      (uint64_t)local_base + f->frame_bytes > MAX_LOCAL)
    return sg_fail(bc, t, SG_PTX_ERR_OUT_OF_RESOURCES, "call stack overflow calling %s (depth %u)", f->name, t->nframes);
  if (t->nframes == t->capframes) {
    uint32_t nc = t->capframes ? t->capframes * 2 : 4;
    sg_frame *n = realloc(t->frames, nc * sizeof *n);
    if (!n) return sg_fail(bc, t, SG_PTX_ERR_NOMEM, "out of host memory for call frames");
    t->frames = n;
    t->capframes = nc;
  }
  if (reg_base + f->nslots > t->regcap) {
    uint32_t nc = t->regcap ? t->regcap : 64;
    while (nc < reg_base + f->nslots) nc *= 2;
    uint64_t *n = realloc(t->regs, (size_t)nc * sizeof *n);
    if (!n) return sg_fail(bc, t, SG_PTX_ERR_NOMEM, "out of host memory for registers");
    t->regs = n;
    t->regcap = nc;
  }
  if (local_base + f->frame_bytes > t->localcap) {
    uint32_t nc = t->localcap ? t->localcap : 256;
    while (nc < local_base + f->frame_bytes) nc *= 2;
    uint8_t *n = realloc(t->local, nc);
    if (!n) return sg_fail(bc, t, SG_PTX_ERR_NOMEM, "out of host memory for local memory");
    memset(n + t->localcap, 0, nc - t->localcap);
    t->local = n;
    t->localcap = nc;
  }
  uint64_t *r = t->regs + reg_base;
  memcpy(r, f->consts, f->nconst * sizeof *r);
  memset(r + f->nconst, 0, (size_t)(f->nslots - f->nconst) * sizeof *r);
  t->frames[t->nframes++] = (sg_frame){ret_pc, fi, reg_base, local_base, callsite};
  return SG_PTX_OK;
}

sg_ptx_status sg_thread_start(sg_block_ctx *bc, sg_thread *t) {
  t->nframes = 0;
  uint32_t fi = 0;
  while ((int)fi < bc->mod->nfuncs && bc->mod->funcs[fi] != bc->entry) fi++;
  t->pc = bc->entry->pc;
  t->state = TS_RUN;
  return push_frame(bc, t, bc->entry, fi, 0, 0);
}

static int atom_apply(int mod, int t, uint64_t old, uint64_t b, uint64_t c, uint64_t *out) {
  unsigned sz = sg_type_size(t);
  uint64_t m = sz >= 8 ? ~0ull : (1ull << (8 * sz)) - 1;
  int sgn = sg_type_is_signed(t);
  switch (mod) {
  case AT_ADD:
    if (t == T_F16 || t == T_BF16 || t == T_F16X2 || t == T_BF16X2) { /* per 16-bit lane, rounded to nearest */
      int bf = t == T_BF16 || t == T_BF16X2, lanes = (t == T_F16X2 || t == T_BF16X2) ? 2 : 1;
      uint64_t r = 0;
      for (int l = 0; l < lanes; l++) {
        uint16_t x = (uint16_t)(old >> (16 * l)), y = (uint16_t)(b >> (16 * l));
        float sum = bf ? sg_bf16_to_f32(x) + sg_bf16_to_f32(y) : sg_f16_to_f32(x) + sg_f16_to_f32(y);
        r |= (uint64_t)(bf ? sg_f32_to_bf16(sum, RND_RN) : sg_f32_to_f16(sum, RND_RN)) << (16 * l);
      }
      *out = r;
    } else if (t == T_F32) *out = sg_bits32(sg_f32(old) + sg_f32(b));
    else if (t == T_F64) *out = sg_bits64(sg_f64(old) + sg_f64(b));
    else *out = (old + b) & m;
    return 1;
  case AT_MIN: case AT_MAX: {
    int lt;
    if (t == T_F32) lt = sg_f32(b) < sg_f32(old);
    else if (t == T_F64) lt = sg_f64(b) < sg_f64(old);
    else if (sgn) lt = sz == 4 ? (int32_t)b < (int32_t)old : (int64_t)b < (int64_t)old;
    else lt = (b & m) < (old & m);
    *out = (mod == AT_MIN) == lt ? b & m : old & m;
    return 1;
  }
  case AT_INC: *out = (old & m) >= (b & m) ? 0 : (old + 1) & m; return 1;
  case AT_DEC: *out = ((old & m) == 0 || (old & m) > (b & m)) ? b & m : (old - 1) & m; return 1;
  case AT_AND: *out = old & b & m; return 1;
  case AT_OR: *out = (old | b) & m; return 1;
  case AT_XOR: *out = (old ^ b) & m; return 1;
  case AT_EXCH: *out = b & m; return 1;
  case AT_CAS: *out = (old & m) == (b & m) ? c & m : old & m; return 1; /* b: compare, c: new */
  default: return 0;
  }
}

/* Atomic read-modify-write on host memory p; returns the old value. */
static uint64_t atomic_rmw(uint8_t *p, int mod, int t, uint64_t b, uint64_t c) {
  unsigned sz = sg_type_size(t);
  if (sz == 4) {
    uint32_t *q = (uint32_t *)(void *)p;
    uint32_t old = __atomic_load_n(q, __ATOMIC_RELAXED);
    for (;;) {
      uint64_t nv;
      atom_apply(mod, t, old, b, c, &nv);
      if (__atomic_compare_exchange_n(q, &old, (uint32_t)nv, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old;
    }
  }
  if (sz == 8) {
    uint64_t *q = (uint64_t *)(void *)p;
    uint64_t old = __atomic_load_n(q, __ATOMIC_RELAXED);
    for (;;) {
      uint64_t nv;
      atom_apply(mod, t, old, b, c, &nv);
      if (__atomic_compare_exchange_n(q, &old, nv, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old;
    }
  }
  uint16_t *q = (uint16_t *)(void *)p; /* 16-bit cas */
  uint16_t old = __atomic_load_n(q, __ATOMIC_RELAXED);
  for (;;) {
    uint64_t nv;
    atom_apply(mod, t, old, b, c, &nv);
    if (__atomic_compare_exchange_n(q, &old, (uint16_t)nv, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old;
  }
}

/* .ftz: subnormal f32 inputs and results become zero of the same sign. */
static inline float ftz32(float f) { return fabsf(f) < 1.17549435e-38f ? copysignf(0.0f, f) : f; }

#define F32(x) sg_f32(r[x])
#define FBIN(expr)                                                          \
  do {                                                                      \
    float a = F32(in->a), b = F32(in->b);                                   \
    if (__builtin_expect(in->flags & SG_F_FTZ, 0)) {                         \
      a = ftz32(a);                                                         \
      b = ftz32(b);                                                         \
      r[in->d] = sg_bits32(ftz32(expr));                                    \
    } else {                                                                \
      r[in->d] = sg_bits32(expr);                                           \
    }                                                                       \
    NEXT();                                                                 \
  } while (0)
#define F64(x) sg_f64(r[x])
#define NEXT() do { pc++; goto dispatch; } while (0)

sg_ptx_status sg_exec_thread(sg_block_ctx *bc, sg_thread *t) {
  const sg_ptx_module *mod = bc->mod;
  const sg_insn *code = mod->code;
  uint32_t pc = t->pc;
  uint64_t *r = t->regs + t->frames[t->nframes - 1].reg_base;
  uint8_t *shared = bc->shared;
  uint64_t shared_size = bc->shared_size;
  uint32_t spin = bc->coop ? COOP_SPIN : SPIN_CHECK, rounds = bc->coop ? 1 : SPIN_ROUNDS;
  const sg_insn *in;
dispatch:
  in = &code[pc];
  if ((r[in->g] ^ in->gx) & 1) NEXT();
  switch (in->op) {
  case SG_OP_NOP: case SG_OP_MEMBAR: case SG_OP_PREFETCH:
    if (in->op == SG_OP_MEMBAR) __atomic_thread_fence(__ATOMIC_SEQ_CST);
    NEXT();
  case SG_OP_NANOSLEEP: /* a thread that sleeps is usually waiting for another: let it run */
    t->pc = pc + 1;
    return SG_PTX_OK;
  case SG_OP_MOV: r[in->d] = r[in->a]; NEXT();
  case SG_OP_MOV_DEPOT: r[in->d] = t->frames[t->nframes - 1].local_base + (uint64_t)in->imm; NEXT();
  case SG_OP_SREG: r[in->d] = sreg(bc, t, in->aux); NEXT();
  case SG_OP_UNPACK: {
    unsigned part = sg_type_size(in->t) / in->vec;
    uint64_t v = r[in->a];
    for (int k = 0; k < in->vec; k++)
      if (in->v[k] != SG_NO_SLOT) r[in->v[k]] = part >= 8 ? v : (v >> (8 * part * (unsigned)k)) & ((1ull << (8 * part)) - 1);
    NEXT();
  }
  case SG_OP_PACK: {
    unsigned part = sg_type_size(in->t) / in->vec;
    uint64_t v = 0;
    uint64_t pm = part >= 8 ? ~0ull : (1ull << (8 * part)) - 1;
    for (int k = in->vec - 1; k >= 0; k--) v = (part >= 8 ? 0 : v << (8 * part)) | (r[in->v[k]] & pm);
    r[in->d] = v;
    NEXT();
  }
  case SG_OP_ADD_I32: r[in->d] = (uint32_t)(r[in->a] + r[in->b]); NEXT();
  case SG_OP_ADD_I64: r[in->d] = r[in->a] + r[in->b]; NEXT();
  case SG_OP_SUB_I32: r[in->d] = (uint32_t)(r[in->a] - r[in->b]); NEXT();
  case SG_OP_SUB_I64: r[in->d] = r[in->a] - r[in->b]; NEXT();
  case SG_OP_ADD_F32: FBIN(a + b);
  case SG_OP_SUB_F32: FBIN(a - b);
  case SG_OP_MUL_F32: FBIN(a * b);
  case SG_OP_FMA_F32: {
    float a = F32(in->a), b = F32(in->b), c = F32(in->c);
    if (__builtin_expect(in->flags & SG_F_FTZ, 0)) {
      r[in->d] = sg_bits32(ftz32(sg_fmaf(ftz32(a), ftz32(b), ftz32(c))));
      NEXT();
    }
    r[in->d] = sg_bits32(sg_fmaf(a, b, c));
    NEXT();
  }
  case SG_OP_ADD_F64: r[in->d] = sg_bits64(F64(in->a) + F64(in->b)); NEXT();
  case SG_OP_SUB_F64: r[in->d] = sg_bits64(F64(in->a) - F64(in->b)); NEXT();
  case SG_OP_MUL_F64: r[in->d] = sg_bits64(F64(in->a) * F64(in->b)); NEXT();
  case SG_OP_FMA_F64: r[in->d] = sg_bits64(__builtin_fma(F64(in->a), F64(in->b), F64(in->c))); NEXT();
  case SG_OP_MULLO_I32: r[in->d] = (uint32_t)((uint32_t)r[in->a] * (uint32_t)r[in->b]); NEXT();
  case SG_OP_MULLO_I64: r[in->d] = r[in->a] * r[in->b]; NEXT();
  case SG_OP_MULWIDE_S32: r[in->d] = (uint64_t)((int64_t)(int32_t)r[in->a] * (int64_t)(int32_t)r[in->b]); NEXT();
  case SG_OP_MULWIDE_U32: r[in->d] = (uint64_t)(uint32_t)r[in->a] * (uint32_t)r[in->b]; NEXT();
  case SG_OP_MADLO_I32: r[in->d] = (uint32_t)((uint32_t)r[in->a] * (uint32_t)r[in->b] + (uint32_t)r[in->c]); NEXT();
  case SG_OP_MADLO_I64: r[in->d] = r[in->a] * r[in->b] + r[in->c]; NEXT();
  case SG_OP_SHL_B32: { uint32_t s = (uint32_t)r[in->b]; r[in->d] = s >= 32 ? 0 : (uint32_t)((uint32_t)r[in->a] << s); NEXT(); }
  case SG_OP_SHL_B64: { uint32_t s = (uint32_t)r[in->b]; r[in->d] = s >= 64 ? 0 : r[in->a] << s; NEXT(); }
  case SG_OP_SETP_I32: {
    uint32_t a = (uint32_t)r[in->a], b = (uint32_t)r[in->b];
    int v;
    if (in->t == T_S32) {
      int32_t x = (int32_t)a, y = (int32_t)b;
      switch (in->mod) {
      case CMP_EQ: v = x == y; break;
      case CMP_NE: v = x != y; break;
      case CMP_LT: v = x < y; break;
      case CMP_LE: v = x <= y; break;
      case CMP_GT: v = x > y; break;
      case CMP_GE: v = x >= y; break;
      default: v = sg_compare(in->mod, in->t, a, b); break;
      }
    } else {
      switch (in->mod) {
      case CMP_EQ: v = a == b; break;
      case CMP_NE: v = a != b; break;
      case CMP_LT: case CMP_LO: v = a < b; break;
      case CMP_LE: case CMP_LS: v = a <= b; break;
      case CMP_GT: case CMP_HI: v = a > b; break;
      case CMP_GE: case CMP_HS: v = a >= b; break;
      default: v = 0; break;
      }
    }
    r[in->d] = (uint64_t)v;
    NEXT();
  }
  case SG_OP_SETP: case SG_OP_SET: {
    uint64_t a = r[in->a], b = r[in->b];
    if ((in->flags & SG_F_FTZ) && in->t == T_F32) { /* subnormal inputs compare as signed zero */
      if ((a & 0x7f800000u) == 0) a &= 0x80000000u;
      if ((b & 0x7f800000u) == 0) b &= 0x80000000u;
    }
    int v = sg_compare(in->mod, in->t, a, b);
    int w = !v;
    if (in->vec) { /* boolean combiner with predicate c */
      int c = (int)(r[in->c] & 1) ^ ((in->flags & SG_F_HI) ? 1 : 0);
      switch (in->vec) {
      case BOP_AND: v = v && c; w = w && c; break;
      case BOP_OR: v = v || c; w = w || c; break;
      default: v = v ^ c; w = w ^ c; break;
      }
    }
    if (in->op == SG_OP_SETP) {
      r[in->d] = (uint64_t)v;
      if (in->d2 != SG_NO_SLOT) r[in->d2] = (uint64_t)w;
    } else if (in->t2 == T_F32) {
      r[in->d] = v ? 0x3f800000u : 0;
    } else {
      r[in->d] = v ? (sg_type_size(in->t2) >= 8 ? ~0ull : (1ull << (8 * sg_type_size(in->t2))) - 1) : 0;
    }
    NEXT();
  }
  case SG_OP_SELP: r[in->d] = (r[in->c] & 1) ? r[in->a] : r[in->b]; NEXT();
  case SG_OP_CVT:
    if (in->b != SG_NO_SLOT) { /* packed pair */
      int ht = in->t == T_F16X2 ? T_F16 : T_BF16;
      uint64_t hi = sg_cvt(r[in->a], ht, T_F32, in->mod, in->flags & SG_F_SAT, 0);
      uint64_t lo = sg_cvt(r[in->b], ht, T_F32, in->mod, in->flags & SG_F_SAT, 0);
      r[in->d] = (hi & 0xffff) << 16 | (lo & 0xffff);
      NEXT();
    }
    r[in->d] = fit(sg_cvt(r[in->a], in->t, in->t2, in->mod, in->flags & SG_F_SAT, in->flags & SG_F_FTZ), in->dsz);
    NEXT();
  case SG_OP_CVT_TF32: { /* keep 10 mantissa bits; the 13 below are zero */
    uint32_t x = (uint32_t)r[in->a], sign = x & 0x80000000u;
    if ((x & 0x7fffffffu) > 0x7f800000u) { r[in->d] = 0x7fffffffu; NEXT(); } /* NaN */
    if (in->mod == RND_RNA) x += 0x1000u; /* the magnitude carries into the exponent, up to inf */
    else if (in->mod == RND_RN) x += 0xfffu + ((x >> 13) & 1u);
    x &= ~0x1fffu;
    if ((in->flags & SG_F_SAT) && (x & 0x7fffffffu) == 0x7f800000u) x = sign | 0x7f7fe000u; /* largest finite */
    if ((in->flags & SG_F_WIDE) && sign) x = 0; /* .relu */
    r[in->d] = x;
    NEXT();
  }
  case SG_OP_CVTA: {
    uint64_t a = r[in->a];
    uint64_t base = in->space == SP_SHARED ? SG_WIN_SHARED : in->space == SP_LOCAL ? SG_WIN_LOCAL : 0;
    r[in->d] = (in->flags & SG_F_HI) ? a - base : a + base;
    if (sg_type_size(in->t) == 4) r[in->d] &= 0xffffffffu;
    NEXT();
  }
  case SG_OP_ADD: case SG_OP_SUB: case SG_OP_MUL: case SG_OP_MAD: case SG_OP_FMA: case SG_OP_DIV:
  case SG_OP_REM: case SG_OP_MIN: case SG_OP_MAX: case SG_OP_ABS: case SG_OP_NEG: case SG_OP_AND:
  case SG_OP_OR: case SG_OP_XOR: case SG_OP_NOT: case SG_OP_CNOT: case SG_OP_SHL: case SG_OP_SHR:
  case SG_OP_SAD: case SG_OP_MUL24: case SG_OP_MAD24: case SG_OP_ADDC: case SG_OP_SUBC:
  case SG_OP_RCP: case SG_OP_SQRT: case SG_OP_RSQRT: case SG_OP_EX2: case SG_OP_LG2: case SG_OP_SIN:
  case SG_OP_COS: case SG_OP_TANH: case SG_OP_COPYSIGN: case SG_OP_TESTP: case SG_OP_BREV: case SG_OP_POPC:
  case SG_OP_CLZ: case SG_OP_BFE: case SG_OP_BFI: case SG_OP_PRMT: case SG_OP_BFIND: case SG_OP_FNS:
  case SG_OP_SHF_L: case SG_OP_SHF_R: case SG_OP_DP4A: case SG_OP_DP2A: case SG_OP_SLCT: case SG_OP_BMSK:
  case SG_OP_SZEXT: {
    uint64_t b = in->b != SG_NO_SLOT ? r[in->b] : 0;
    uint64_t c = in->c != SG_NO_SLOT ? r[in->c] : 0;
    uint64_t e = in->e != SG_NO_SLOT ? r[in->e] : 0;
    uint64_t *cc = in->c != SG_NO_SLOT && (in->op == SG_OP_ADD || in->op == SG_OP_SUB || in->op == SG_OP_ADDC ||
                                           in->op == SG_OP_SUBC) ? &r[in->c] : NULL;
    uint64_t v = sg_alu(in, r[in->a], b, c, e, cc);
    r[in->d] = v;
    NEXT();
  }
  case SG_OP_LD_KPARAM: {
    uint64_t a = (uint64_t)in->imm;
    unsigned n = sg_type_size(in->t);
    if (a > bc->launch->params_size || n > bc->launch->params_size - a || (a & (n - 1))) {
      if (!sg_mem_at(bc, t, in, SP_KPARAM, a, n)) goto fail;
    }
    r[in->d] = fit(load_val((const uint8_t *)bc->launch->params + a, in->t), in->dsz);
    NEXT();
  }
  case SG_OP_LD_SHARED_32: {
    uint64_t a = r[in->a] + (uint64_t)in->imm;
    if ((a & 3) || (a | 3) >= shared_size) { if (!sg_mem_at(bc, t, in, SP_SHARED, a, 4)) goto fail; }
    uint32_t v;
    memcpy(&v, shared + a, 4);
    r[in->d] = v;
    NEXT();
  }
  case SG_OP_ST_SHARED_32: {
    uint64_t a = r[in->a] + (uint64_t)in->imm;
    if ((a & 3) || (a | 3) >= shared_size) { if (!sg_mem_at(bc, t, in, SP_SHARED, a, 4)) goto fail; }
    uint32_t v = (uint32_t)r[in->b];
    memcpy(shared + a, &v, 4);
    NEXT();
  }
  case SG_OP_LD_GLOBAL_32: {
    uint8_t *p = sg_mem_at(bc, t, in, SP_GLOBAL, r[in->a] + (uint64_t)in->imm, 4);
    if (!p) goto fail;
    uint32_t v;
    memcpy(&v, p, 4);
    r[in->d] = v;
    NEXT();
  }
  case SG_OP_ST_GLOBAL_32: {
    uint8_t *p = sg_mem_at(bc, t, in, SP_GLOBAL, r[in->a] + (uint64_t)in->imm, 4);
    if (!p) goto fail;
    uint32_t v = (uint32_t)r[in->b];
    memcpy(p, &v, 4);
    NEXT();
  }
  case SG_OP_LD: case SG_OP_ST: {
    unsigned es = sg_type_size(in->t);
    uint64_t a = r[in->a] + (uint64_t)in->imm;
    if (in->flags & SG_F_AHI) a += t->frames[t->nframes - 1].local_base;
    uint8_t *p = sg_mem_at(bc, t, in, in->space, a, es * in->vec);
    if (!p) goto fail;
    if (in->vec == 1) {
      if (in->op == SG_OP_LD) r[in->d] = fit(load_val(p, in->t), in->dsz);
      else store_val(p, in->t, r[in->b]);
    } else {
      for (int k = 0; k < in->vec; k++) {
        if (in->op == SG_OP_LD) { if (in->v[k] != SG_NO_SLOT) r[in->v[k]] = fit(load_val(p + k * es, in->t), es <= 4 ? 4 : 0); }
        else store_val(p + k * es, in->t, r[in->v[k]]);
      }
    }
    NEXT();
  }
  case SG_OP_ATOM: case SG_OP_RED: {
    unsigned n = sg_type_size(in->t);
    uint8_t *p = sg_mem_at(bc, t, in, in->space, r[in->a] + (uint64_t)in->imm, n);
    if (!p) goto fail;
    uint64_t old = atomic_rmw(p, in->mod, in->t, r[in->b], in->c != SG_NO_SLOT ? r[in->c] : 0);
    if (in->op == SG_OP_ATOM) r[in->d] = old;
    NEXT();
  }
  case SG_OP_BRA:
    /* Threads of a block take turns only at collectives; a loop that spins on memory another
     * thread writes would never end, so long-running loops yield now and then. */
    if (in->aux <= pc && --spin == 0) {
      /* An abandoned launch must stop within milliseconds even inside one endless loop: the
       * thread yields, and its block (block_run in ptx_sched.c) sees the flag before running anyone again. */
      if (--rounds == 0 || sg_cancelled(bc->launch)) {
        t->pc = in->aux;
        return SG_PTX_OK;
      }
      spin = SPIN_CHECK;
    }
    pc = in->aux;
    goto dispatch;
  case SG_OP_CALL: case SG_OP_CALL_IND: {
    const sg_callsite *cs = &mod->calls[in->imm];
    uint32_t fi = cs->callee;
    if (in->op == SG_OP_CALL_IND) {
      uint64_t a = r[in->a] - SG_FUNC_BASE;
      fi = (uint32_t)(a / 16);
      if ((a & 15) || a / 16 >= (uint64_t)mod->nfuncs || !mod->funcs[fi]->defined ||
          mod->funcs[fi]->nparams != (int)cs->nargs || mod->funcs[fi]->nrets != (int)cs->nrets) {
        t->pc = pc;
        sg_fail(bc, t, SG_PTX_ERR_ILLEGAL_ADDRESS, "indirect call through 0x%llx at line %u is not a matching function",
                (unsigned long long)r[in->a], in->line);
        goto fail;
      }
    }
    const sg_func *f = mod->funcs[fi];
    uint32_t caller_local = t->frames[t->nframes - 1].local_base;
    if (push_frame(bc, t, f, fi, pc + 1, (uint32_t)in->imm) != SG_PTX_OK) goto fail;
    uint32_t callee_local = t->frames[t->nframes - 1].local_base;
    for (uint32_t k = 0; k < cs->nargs; k++)
      memmove(t->local + callee_local + f->params[k].offset, t->local + caller_local + cs->arg_off[k], f->params[k].size);
    r = t->regs + t->frames[t->nframes - 1].reg_base;
    pc = f->pc;
    goto dispatch;
  }
  case SG_OP_RET: {
    if (t->nframes <= 1) goto do_exit;
    const sg_frame *fr = &t->frames[t->nframes - 1];
    const sg_func *f = mod->funcs[fr->fn];
    const sg_callsite *cs = &mod->calls[fr->callsite];
    const sg_frame *caller = &t->frames[t->nframes - 2];
    for (uint32_t k = 0; k < cs->nrets; k++)
      memmove(t->local + caller->local_base + cs->ret_off[k], t->local + fr->local_base + f->rets[k].offset, f->rets[k].size);
    pc = fr->ret_pc;
    t->nframes--;
    r = t->regs + t->frames[t->nframes - 1].reg_base;
    goto dispatch;
  }
  case SG_OP_EXIT:
  do_exit:
    t->state = TS_EXIT;
    t->pc = pc;
    return SG_PTX_OK;
  case SG_OP_TRAP:
    t->pc = pc;
    return sg_fail(bc, t, SG_PTX_ERR_TRAP, "trap at line %u", in->line);
  case SG_OP_BAR: case SG_OP_BAR_ARRIVE:
    t->state = TS_BAR;
    t->pc = pc;
    return SG_PTX_OK;
  case SG_OP_ISSPACEP: {
    uint64_t a = r[in->a];
    int v;
    if (in->space == SP_SHARED) v = a - SG_WIN_SHARED < SG_WIN_SIZE;
    else if (in->space == SP_LOCAL) v = a - SG_WIN_LOCAL < SG_WIN_SIZE;
    else if (in->space == SP_GLOBAL || in->space == SP_CONST) v = a - (uint64_t)(uintptr_t)bc->mem_base < bc->mem_size;
    else v = 0;
    r[in->d] = (uint64_t)v;
    NEXT();
  }
  case SG_OP_CP_ASYNC:
    if (sg_cp_async(bc, t, in, r) != SG_PTX_OK) goto fail;
    NEXT();
  case SG_OP_TEX:
    if (sg_tex_exec(bc, t, in, r) != SG_PTX_OK) goto fail;
    NEXT();
  case SG_OP_SHFL: case SG_OP_VOTE: case SG_OP_MATCH: case SG_OP_ACTIVEMASK: case SG_OP_WARPSYNC: case SG_OP_REDUX:
  case SG_OP_TENSOR:
    t->state = TS_WARP;
    t->pc = pc;
    return SG_PTX_OK;
  case SG_OP_BUILTIN:
    if (sg_builtin_call(bc, t, in) != SG_PTX_OK) goto fail;
    NEXT();
  case SG_OP_UNSUPPORTED:
  default:
    t->pc = pc;
    return sg_fail(bc, t, SG_PTX_ERR_UNSUPPORTED, "unsupported instruction '%s' at line %u",
                   in->aux < mod->nnames ? mod->names[in->aux] : sg_op_names[in->op], in->line);
  }
fail:
  t->pc = pc;
  return bc->status;
}
