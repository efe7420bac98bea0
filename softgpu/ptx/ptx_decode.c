/*
 * Instruction decoder: turns one parsed PTX instruction (opcode with modifiers, resolved operands)
 * into an sg_insn. All string handling ends here; the interpreter sees only enums and slots.
 * Anything not understood becomes SG_OP_UNSUPPORTED carrying the line, so a launch that reaches
 * it fails naming the instruction instead of computing something wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_front.h"

#define FAIL(...) do { sg_errf(p->e, __VA_ARGS__); return SG_PTX_ERR_PARSE; } while (0)

typedef struct mods {
  int n;
  const char *s[16];
  uint8_t l[16];
  uint8_t used[16];
  int types[4];
  int ntypes;
} mods;

static int take(mods *m, const char *name) {
  size_t n = strlen(name);
  for (int k = 0; k < m->n; k++)
    if (!m->used[k] && m->l[k] == n && memcmp(m->s[k], name, n) == 0) { m->used[k] = 1; return 1; }
  return 0;
}

static int take_any(mods *m, const char *const *names, int count) {
  for (int k = 0; k < count; k++)
    if (take(m, names[k])) return k + 1;
  return 0;
}

static const char *const ignorable[] = {"uni", "nc", "volatile", "relaxed", "acquire", "release", "acq_rel", "sc",
                                        "weak", "cta", "gpu", "sys", "cluster", "sync", "aligned", "ca", "cg", "cs",
                                        "lu", "cv", "wb", "wt", "full", "noftz", "mmio"};

static int leftover(mods *m) {
  for (int k = 0; k < m->n; k++) {
    if (m->used[k]) continue;
    int ok = 0;
    for (size_t j = 0; j < sizeof ignorable / sizeof *ignorable; j++)
      if (strlen(ignorable[j]) == m->l[k] && memcmp(ignorable[j], m->s[k], m->l[k]) == 0) ok = 1;
    if (!ok) return 1;
  }
  return 0;
}

static int rnd_of(mods *m) {
  static const char *const r[] = {"rn", "rz", "rm", "rp", "rni", "rzi", "rmi", "rpi", "rna"};
  return take_any(m, r, 9);
}

static int cmp_of(mods *m) {
  static const char *const c[] = {"eq", "ne", "lt", "le", "gt", "ge", "lo", "ls", "hi", "hs",
                                  "equ", "neu", "ltu", "leu", "gtu", "geu", "num", "nan"};
  return take_any(m, c, 18);
}

static int space_of(mods *m) {
  if (take(m, "global")) return SP_GLOBAL;
  if (take(m, "shared") || take(m, "shared::cta")) return SP_SHARED;
  if (take(m, "local")) return SP_LOCAL;
  if (take(m, "const")) return SP_CONST;
  if (take(m, "param")) return SP_PARAM;
  return SP_GENERIC;
}

/* ---- operands --------------------------------------------------------------------------------- */
static uint64_t lit_as(const sg_lit *l, int t) {
  if (t == T_F32) {
    float f;
    if (l->is_f32bits) return (uint32_t)l->bits;
    if (l->is_f64bits) { double d; memcpy(&d, &l->bits, 8); f = (float)d; }
    else if (l->is_float) f = (float)l->dv;
    else f = (float)(int64_t)l->bits;
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
  }
  if (t == T_F64) {
    double d;
    if (l->is_f64bits) return l->bits;
    if (l->is_f32bits) { float f; uint32_t b = (uint32_t)l->bits; memcpy(&f, &b, 4); d = f; }
    else if (l->is_float) d = l->dv;
    else d = (double)(int64_t)l->bits;
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
  }
  if ((t == T_F16 || t == T_BF16) && (l->is_float || l->is_f32bits)) {
    float f;
    if (l->is_float) f = (float)l->dv;
    else { uint32_t b = (uint32_t)l->bits; memcpy(&f, &b, 4); }
    return t == T_F16 ? sg_f32_to_f16(f, RND_RN) : sg_f32_to_bf16(f, RND_RN);
  }
  uint64_t v = l->is_float ? (uint64_t)(int64_t)l->dv : l->bits;
  unsigned sz = sg_type_size(t);
  /* A 32-bit register holds 32 bits: `mov.u32 %r, -1` must not leave ones above them. */
  return sz && sz < 8 && t != T_PRED ? v & ((1ull << (8 * sz)) - 1) : v;
}

typedef struct dctx {
  sg_parser *p;
  uint32_t line;
  const sg_tok *opc;
  uint32_t pc0; /* pc of the instruction being decoded (helpers are rotated in front later) */
} dctx;

static sg_ptx_status add_dyn_patch(sg_parser *p, uint32_t idx, int is_const);

/* A source operand of type t as a slot (emitting helper instructions for special registers and
 * run-time symbol addresses). */
static sg_ptx_status src(dctx *c, const sg_opd *o, int t, uint32_t *slot) {
  sg_parser *p = c->p;
  switch (o->kind) {
  case OPD_REG:
    *slot = o->slot;
    return SG_PTX_OK;
  case OPD_IMM:
    *slot = sg_parser_const(p, lit_as(&o->lit, t));
    return *slot == SG_NO_SLOT ? SG_PTX_ERR_NOMEM : SG_PTX_OK;
  case OPD_SREG: {
    uint32_t r = sg_parser_newreg(p);
    sg_insn *in = sg_parser_emit(p, c->line);
    if (!in) return SG_PTX_ERR_NOMEM;
    in->op = SG_OP_SREG;
    in->aux = o->slot;
    in->d = r;
    *slot = r;
    return SG_PTX_OK;
  }
  case OPD_SYM: {
    uint32_t s;
    const sg_sym *y = sg_parser_lookup(p, o->sym->s, o->sym->len, &s);
    if (y && y->kind == SYM_LOCAL) {
      uint32_t r = sg_parser_newreg(p);
      sg_insn *in = sg_parser_emit(p, c->line);
      if (!in) return SG_PTX_ERR_NOMEM;
      in->op = SG_OP_MOV_DEPOT;
      in->imm = s;
      in->d = r;
      *slot = r;
      return SG_PTX_OK;
    }
    if (y && (y->kind == SYM_KPARAM || y->kind == SYM_FPARAM)) {
      *slot = sg_parser_const(p, s);
      return SG_PTX_OK;
    }
    const sg_gvar *v = y && y->kind == SYM_SHARED ? &p->m->vars[s] : sg_parser_gvar(p, o->sym->s, o->sym->len);
    int fi = v || y ? -1 : sg_parser_func(p, o->sym->s, o->sym->len);
    if (fi >= 0) { /* function pointer */
      *slot = sg_parser_const(p, SG_FUNC_BASE + 16ull * (unsigned)fi);
      return SG_PTX_OK;
    }
    if (v) {
      if (v->space == SP_SHARED && !v->is_extern &&
          sg_u32_set_add(&p->fn->shared_refs, &p->fn->nshared_refs, &p->fn->capshared_refs, (uint32_t)(v - p->m->vars)))
        return SG_PTX_ERR_NOMEM;
      if (v->is_extern) {
        /* Dynamic shared memory starts after all static shared memory, known at module end: a
         * private constant patched then. */
        uint32_t k = sg_parser_const_private(p, 0);
        if (k == SG_NO_SLOT) return SG_PTX_ERR_NOMEM;
        if (add_dyn_patch(p, k & ~SG_CONST_FLAG, 1)) return SG_PTX_ERR_NOMEM;
        *slot = k;
        return SG_PTX_OK;
      }
      *slot = sg_parser_const(p, v->addr);
      return SG_PTX_OK;
    }
    FAIL("line %u: unknown symbol '%.*s' in '%.*s'", c->line, (int)o->sym->len, o->sym->s, (int)c->opc->len, c->opc->s);
  }
  default:
    FAIL("line %u: bad operand for '%.*s'", c->line, (int)c->opc->len, c->opc->s);
  }
}

static sg_ptx_status dst(dctx *c, const sg_opd *o, uint32_t *slot) {
  sg_parser *p = c->p;
  if (o->kind != OPD_REG) FAIL("line %u: destination of '%.*s' must be a register", c->line, (int)c->opc->len, c->opc->s);
  *slot = o->slot;
  return SG_PTX_OK;
}

/* The checker's rule for predicate operands: a register there must be declared .pred, and a
 * .pred register may appear only where a predicate is expected. */
static sg_ptx_status want_pred(dctx *c, const sg_opd *o, int yes) {
  sg_parser *p = c->p;
  if (o->kind != OPD_REG) return SG_PTX_OK;
  if ((o->rtype == T_PRED) != (yes != 0))
    FAIL("line %u: operand of '%.*s' must %sbe a .pred register", c->line, (int)c->opc->len, c->opc->s, yes ? "" : "not ");
  return SG_PTX_OK;
}

/* Address operand -> base slot, offset and, for symbol bases, the space the symbol lives in. */
static sg_ptx_status addr(dctx *c, const sg_opd *o, sg_insn *in, int *sym_space) {
  sg_parser *p = c->p;
  *sym_space = -1;
  if (o->kind != OPD_ADDR) FAIL("line %u: '%.*s' needs an address operand", c->line, (int)c->opc->len, c->opc->s);
  if (o->addr_complex) in->op = SG_OP_UNSUPPORTED;
  in->imm = o->off;
  if (o->addr_has_reg) {
    if (o->rtype == T_PRED || sg_type_size(o->rtype) < 4)
      FAIL("line %u: address register of '%.*s' must be 32 or 64 bits wide", c->line, (int)c->opc->len, c->opc->s);
    in->a = o->slot;
    return SG_PTX_OK;
  }
  in->a = SG_CONST_FLAG | 0; /* constant 0 */
  if (!o->sym) return SG_PTX_OK;
  uint32_t s;
  const sg_sym *y = sg_parser_lookup(p, o->sym->s, o->sym->len, &s);
  if (y && y->kind == SYM_KPARAM) { *sym_space = SP_KPARAM; in->imm += s; return SG_PTX_OK; }
  if (y && y->kind == SYM_FPARAM) { *sym_space = SP_PARAM; in->imm += s; return SG_PTX_OK; }
  if (y && y->kind == SYM_LOCAL) { *sym_space = SP_LOCAL; in->flags |= SG_F_AHI; in->imm += s; return SG_PTX_OK; }
  const sg_gvar *v = y && y->kind == SYM_SHARED ? &p->m->vars[s] : sg_parser_gvar(p, o->sym->s, o->sym->len);
  if (!v) FAIL("line %u: unknown symbol '%.*s' in address", c->line, (int)o->sym->len, o->sym->s);
  *sym_space = v->space;
  if (v->space == SP_SHARED && !v->is_extern &&
      sg_u32_set_add(&p->fn->shared_refs, &p->fn->nshared_refs, &p->fn->capshared_refs, (uint32_t)(v - p->m->vars)))
    return SG_PTX_ERR_NOMEM;
  if (v->is_extern) {
    if (add_dyn_patch(p, c->pc0, 0)) return SG_PTX_ERR_NOMEM;
    return SG_PTX_OK;
  }
  in->imm += (int64_t)v->addr;
  return SG_PTX_OK;
}

static sg_ptx_status add_dyn_patch(sg_parser *p, uint32_t idx, int is_const) {
  sg_ptx_module *m = p->m;
  if (m->npatch == m->cappatch) {
    uint32_t nc = m->cappatch ? m->cappatch * 2 : 16;
    void *n = realloc(m->patches, nc * sizeof *m->patches);
    if (!n) return SG_PTX_ERR_NOMEM;
    m->patches = n;
    m->cappatch = nc;
  }
  m->patches[m->npatch].idx = idx;
  m->patches[m->npatch].is_const = is_const;
  uint32_t fi = 0;
  while ((int)fi < m->nfuncs && m->funcs[fi] != p->fn) fi++;
  m->patches[m->npatch].fn = fi;
  m->npatch++;
  return SG_PTX_OK;
}

/* ---- per-family decoders ---------------------------------------------------------------------- */
/* A form with an operand count we do not know (e.g. cvt.rn.f16x2.f32 d, a, b) is a real PTX
 * instruction we do not implement, not a syntax error. */
#define NEED(N_)                                                 \
  do {                                                           \
    if (nops != (N_)) {                                          \
      in->op = SG_OP_UNSUPPORTED;                                \
      for (int k_ = 0; k_ < m->n; k_++) m->used[k_] = 1;         \
      return SG_PTX_OK;                                          \
    }                                                            \
  } while (0)
#define TRY(x) do { sg_ptx_status st_ = (x); if (st_ != SG_PTX_OK) return st_; } while (0)
/* A real PTX form the engine does not implement: fails the launch that reaches it. */
#define UNSUP()                                                  \
  do {                                                           \
    in->op = SG_OP_UNSUPPORTED;                                  \
    for (int k_ = 0; k_ < m->n; k_++) m->used[k_] = 1;           \
    return SG_PTX_OK;                                            \
  } while (0)

static int fast_int_op(int base, int t) {
  int sz = (int)sg_type_size(t);
  if (sg_type_is_float(t) || (sz != 4 && sz != 8)) return -1;
  switch (base) {
  case SG_OP_ADD: return sz == 4 ? SG_OP_ADD_I32 : SG_OP_ADD_I64;
  case SG_OP_SUB: return sz == 4 ? SG_OP_SUB_I32 : SG_OP_SUB_I64;
  default: return -1;
  }
}

static int base_op(const char *s, size_t n) {
  static const struct { const char *name; int op; } tab[] = {
    {"mov", SG_OP_MOV}, {"add", SG_OP_ADD}, {"sub", SG_OP_SUB}, {"mul", SG_OP_MUL}, {"mad", SG_OP_MAD},
    {"fma", SG_OP_FMA}, {"div", SG_OP_DIV}, {"rem", SG_OP_REM}, {"min", SG_OP_MIN}, {"max", SG_OP_MAX},
    {"abs", SG_OP_ABS}, {"neg", SG_OP_NEG}, {"and", SG_OP_AND}, {"or", SG_OP_OR}, {"xor", SG_OP_XOR},
    {"not", SG_OP_NOT}, {"cnot", SG_OP_CNOT}, {"shl", SG_OP_SHL}, {"shr", SG_OP_SHR}, {"sad", SG_OP_SAD},
    {"mul24", SG_OP_MUL24}, {"mad24", SG_OP_MAD24}, {"addc", SG_OP_ADDC}, {"subc", SG_OP_SUBC},
    {"setp", SG_OP_SETP}, {"set", SG_OP_SET}, {"selp", SG_OP_SELP}, {"slct", SG_OP_SLCT}, {"cvt", SG_OP_CVT},
    {"cvta", SG_OP_CVTA}, {"rcp", SG_OP_RCP}, {"sqrt", SG_OP_SQRT}, {"rsqrt", SG_OP_RSQRT}, {"ex2", SG_OP_EX2},
    {"lg2", SG_OP_LG2}, {"sin", SG_OP_SIN}, {"cos", SG_OP_COS}, {"tanh", SG_OP_TANH},
    {"copysign", SG_OP_COPYSIGN}, {"testp", SG_OP_TESTP}, {"brev", SG_OP_BREV}, {"popc", SG_OP_POPC},
    {"clz", SG_OP_CLZ}, {"bfe", SG_OP_BFE}, {"bfi", SG_OP_BFI}, {"prmt", SG_OP_PRMT}, {"bfind", SG_OP_BFIND},
    {"fns", SG_OP_FNS}, {"shf", SG_OP_SHF_L}, {"dp4a", SG_OP_DP4A}, {"dp2a", SG_OP_DP2A}, {"ld", SG_OP_LD},
    {"ldu", SG_OP_LD}, {"st", SG_OP_ST}, {"atom", SG_OP_ATOM}, {"red", SG_OP_RED}, {"bra", SG_OP_BRA},
    {"call", SG_OP_CALL}, {"ret", SG_OP_RET}, {"exit", SG_OP_EXIT}, {"trap", SG_OP_TRAP}, {"bar", SG_OP_BAR},
    {"barrier", SG_OP_BAR}, {"membar", SG_OP_MEMBAR}, {"fence", SG_OP_MEMBAR}, {"shfl", SG_OP_SHFL},
    {"vote", SG_OP_VOTE}, {"match", SG_OP_MATCH}, {"activemask", SG_OP_ACTIVEMASK}, {"redux", SG_OP_REDUX},
    {"bmsk", SG_OP_BMSK}, {"szext", SG_OP_SZEXT}, {"isspacep", SG_OP_ISSPACEP},
    {"nanosleep", SG_OP_NANOSLEEP}, {"prefetch", SG_OP_PREFETCH}, {"prefetchu", SG_OP_PREFETCH},
    {"pmevent", SG_OP_NOP}, {"griddepcontrol", SG_OP_NOP}, {"discard", SG_OP_NOP},
    {"mma", SG_OP_TENSOR}, {"wmma", SG_OP_TENSOR}, {"ldmatrix", SG_OP_TENSOR}, {"movmatrix", SG_OP_TENSOR},
    {"cp", SG_OP_CP_ASYNC}, {"tex", SG_OP_TEX}, {"tld4", SG_OP_TEX}, {"suld", SG_OP_TEX}, {"sust", SG_OP_TEX},
    {"txq", SG_OP_TEX}, {"suq", SG_OP_TEX},
  };
  for (size_t k = 0; k < sizeof tab / sizeof *tab; k++)
    if (strlen(tab[k].name) == n && memcmp(tab[k].name, s, n) == 0) return tab[k].op;
  return -1;
}

/* ---- warp matrix instructions and cp.async ------------------------------------------------------ */
/* An operand vector of a matrix instruction (a lone register counts as a vector of one). */
static sg_ptx_status tc_regs(dctx *c, const sg_opd *o, uint32_t *out, uint8_t *n, int is_dst) {
  sg_parser *p = c->p;
  if (o->kind == OPD_REG) {
    out[0] = o->slot;
    *n = 1;
    return SG_PTX_OK;
  }
  if (o->kind != OPD_VEC) FAIL("line %u: '%.*s' expects register vectors", c->line, (int)c->opc->len, c->opc->s);
  for (int k = 0; k < o->nvec; k++) {
    if (o->vec[k] == SG_NO_SLOT) FAIL("line %u: '_' in a matrix operand", c->line);
    if (is_dst && (o->vec[k] & SG_CONST_FLAG)) FAIL("line %u: constant as a destination", c->line);
    out[k] = o->vec[k];
  }
  *n = (uint8_t)o->nvec;
  return SG_PTX_OK;
}

/* The .mMnNkK modifier. */
static int take_shape(mods *m, sg_tc *tc) {
  for (int k = 0; k < m->n; k++) {
    unsigned a, b, d;
    char tail;
    char buf[32];
    if (m->used[k] || m->l[k] >= sizeof buf || m->s[k][0] != 'm') continue;
    memcpy(buf, m->s[k], m->l[k]);
    buf[m->l[k]] = 0;
    if (sscanf(buf, "m%un%uk%u%c", &a, &b, &d, &tail) == 3 && a <= 64 && b <= 64 && d <= 255) {
      m->used[k] = 1;
      tc->m = (uint8_t)a;
      tc->n = (uint8_t)b;
      tc->k = (uint8_t)d;
      return 1;
    }
  }
  return 0;
}

static int opc_has(const dctx *c, const char *seq) {
  size_t n = strlen(seq);
  for (size_t i = 0; i + n <= c->opc->len; i++)
    if (memcmp(c->opc->s + i, seq, n) == 0) return 1;
  return 0;
}

static int mem_space(mods *m) {
  if (take(m, "shared") || take(m, "shared::cta")) return SP_SHARED;
  if (take(m, "global")) return SP_GLOBAL;
  return SP_GENERIC;
}

static sg_ptx_status decode_tensor(dctx *c, sg_insn *in, mods *m, sg_opd *ops, int nops) {
  sg_parser *p = c->p;
  sg_tc tc;
  memset(&tc, 0, sizeof tc);
  for (int k = 0; k < 8; k++) tc.d[k] = tc.a[k] = tc.b[k] = tc.c[k] = SG_NO_SLOT;
  int t = m->ntypes ? m->types[m->ntypes - 1] : T_NONE;
  int ok = take(m, "sync");
  int symsp = -1;
  if (opc_has(c, "mma.") && !opc_has(c, "wmma.")) { /* mma.sync.aligned.shape.row.col.dtype.atype.btype.ctype */
    tc.kind = TC_MMA;
    ok = ok && take_shape(m, &tc) && opc_has(c, ".row.col.") && take(m, "row") && take(m, "col");
    tc.satfinite = (uint8_t)take(m, "satfinite");
    if (m->ntypes == 4) {
      tc.td = (uint8_t)m->types[0]; tc.ta = (uint8_t)m->types[1]; tc.tb = (uint8_t)m->types[2]; tc.tc = (uint8_t)m->types[3];
    } else if (m->ntypes == 2 && take(m, "tf32") && take(m, "tf32")) {
      tc.td = (uint8_t)m->types[0]; tc.ta = tc.tb = T_TF32; tc.tc = (uint8_t)m->types[1];
    } else ok = 0;
    NEED(4);
    TRY(tc_regs(c, &ops[0], tc.d, &tc.nd, 1));
    TRY(tc_regs(c, &ops[1], tc.a, &tc.na, 0));
    TRY(tc_regs(c, &ops[2], tc.b, &tc.nb, 0));
    TRY(tc_regs(c, &ops[3], tc.c, &tc.nc, 0));
  } else if (opc_has(c, "ldmatrix.")) { /* ldmatrix.sync.aligned.m8n8.x4{.trans}{.shared}.b16 d, [a] */
    tc.kind = TC_LDMATRIX;
    ok = ok && take(m, "m8n8") && m->ntypes == 1 && t == T_B16;
    tc.nmat = take(m, "x1") ? 1 : take(m, "x2") ? 2 : take(m, "x4") ? 4 : 0;
    tc.trans = (uint8_t)take(m, "trans");
    in->space = (uint8_t)mem_space(m);
    if (in->space == SP_GLOBAL) ok = 0;
    NEED(2);
    TRY(tc_regs(c, &ops[0], tc.d, &tc.nd, 1));
    TRY(addr(c, &ops[1], in, &symsp));
  } else if (opc_has(c, "movmatrix.")) { /* movmatrix.sync.aligned.m8n8.trans.b16 d, a */
    tc.kind = TC_MOVMATRIX;
    ok = ok && take(m, "m8n8") && take(m, "trans") && m->ntypes == 1 && t == T_B16;
    NEED(2);
    TRY(tc_regs(c, &ops[0], tc.d, &tc.nd, 1));
    TRY(tc_regs(c, &ops[1], tc.a, &tc.na, 0));
  } else if (take(m, "load") || take(m, "store")) {
    /* wmma.load.{a,b,c}.sync.aligned.layout.shape{.ss}.type r, [p]{, stride}
     * wmma.store.d.sync.aligned.layout.shape{.ss}.type [p], r{, stride} */
    int load = opc_has(c, "wmma.load.");
    tc.kind = load ? TC_WMMA_LOAD : TC_WMMA_STORE;
    tc.which = load ? (take(m, "a") ? 0 : take(m, "b") ? 1 : take(m, "c") ? 2 : 3) : (take(m, "d") ? 2 : 3);
    tc.col = (uint8_t)take(m, "col");
    ok = ok && (tc.col || take(m, "row")) && take_shape(m, &tc) && m->ntypes == 1;
    tc.ta = (uint8_t)t;
    in->space = (uint8_t)mem_space(m);
    if (nops != 2 && nops != 3) NEED(2);
    TRY(tc_regs(c, &ops[load ? 0 : 1], tc.d, &tc.nd, load));
    TRY(addr(c, &ops[load ? 1 : 0], in, &symsp));
    if (nops == 3) TRY(src(c, &ops[2], T_U32, &in->b));
  } else if (take(m, "mma")) {
    /* wmma.mma.sync.aligned.alayout.blayout.shape.dtype.ctype d, a, b, c (f16), or
     * .shape.dtype.atype.btype.ctype{.satfinite} (bf16, s8, u8). Fragments here do not depend on the
     * memory layout they were loaded with, so the layouts only have to be there. */
    tc.kind = TC_WMMA_MMA;
    for (int k = 0; k < 2; k++) ok = ok && (take(m, "row") || take(m, "col"));
    ok = ok && take_shape(m, &tc);
    tc.satfinite = (uint8_t)take(m, "satfinite");
    if (m->ntypes == 2) {
      tc.td = (uint8_t)m->types[0]; tc.ta = tc.tb = T_F16; tc.tc = (uint8_t)m->types[1];
    } else if (m->ntypes == 4) {
      tc.td = (uint8_t)m->types[0]; tc.ta = (uint8_t)m->types[1]; tc.tb = (uint8_t)m->types[2]; tc.tc = (uint8_t)m->types[3];
    } else ok = 0;
    NEED(4);
    TRY(tc_regs(c, &ops[0], tc.d, &tc.nd, 1));
    TRY(tc_regs(c, &ops[1], tc.a, &tc.na, 0));
    TRY(tc_regs(c, &ops[2], tc.b, &tc.nb, 0));
    TRY(tc_regs(c, &ops[3], tc.c, &tc.nc, 0));
  } else {
    ok = 0;
  }
  if (in->space == SP_GENERIC && symsp == SP_SHARED) in->space = SP_SHARED;
  if (!ok || !sg_tc_supported(&tc)) {
    in->op = SG_OP_UNSUPPORTED;
    return SG_PTX_OK;
  }
  sg_ptx_module *mm = p->m;
  if (mm->ntc == mm->captc) {
    uint32_t nc = mm->captc ? mm->captc * 2 : 16;
    void *nv = realloc(mm->tc, nc * sizeof *mm->tc);
    if (!nv) return SG_PTX_ERR_NOMEM;
    mm->tc = nv;
    mm->captc = nc;
  }
  mm->tc[mm->ntc] = tc;
  in->aux = mm->ntc++;
  /* A collective of the whole warp: every live lane must arrive (the member mask of resolve_warps). */
  in->e = sg_parser_const(p, 0xffffffffu);
  return in->e == SG_NO_SLOT ? SG_PTX_ERR_NOMEM : SG_PTX_OK;
}

/* ---- textures and surfaces ---------------------------------------------------------------------- */
/* Registers of a data or coordinate vector (a lone register is a vector of one). */
static sg_ptx_status tx_regs(dctx *c, const uint32_t *vec, int n, uint32_t *out, int is_dst) {
  sg_parser *p = c->p;
  for (int k = 0; k < n; k++) {
    if (vec[k] == SG_NO_SLOT || (is_dst && (vec[k] & SG_CONST_FLAG)))
      FAIL("line %u: bad register in '%.*s'", c->line, (int)c->opc->len, c->opc->s);
    out[k] = vec[k];
  }
  return SG_PTX_OK;
}

static int tx_geom(mods *m) {
  static const char *const g[] = {"1d", "2d", "3d", "a1d", "a2d"};
  return take_any(m, g, 5);
}

/* The [handle, {coordinates}] operand; nc: the coordinate count the geometry needs (PTX pads 3D
 * and layered 2D coordinates to four registers). */
static sg_ptx_status tx_addr(dctx *c, const sg_opd *o, sg_tx *tx, int nc, int *ok) {
  if (o->kind != OPD_ADDR || !o->addr_has_reg || o->addr_complex != 1 || o->off != 0 || o->nvec < nc) {
    *ok = 0;
    return SG_PTX_OK;
  }
  tx->handle = o->slot;
  tx->nc = (uint8_t)nc;
  return tx_regs(c, o->vec, nc, tx->crd, 0);
}

static sg_ptx_status tx_data(dctx *c, const sg_opd *o, sg_tx *tx, int want, int is_dst, int *ok) {
  if (o->kind == OPD_REG && want == 1) {
    tx->d[0] = o->slot;
    tx->nd = 1;
    return SG_PTX_OK;
  }
  if (o->kind != OPD_VEC || o->nvec != want) {
    *ok = 0;
    return SG_PTX_OK;
  }
  tx->nd = (uint8_t)want;
  return tx_regs(c, o->vec, want, tx->d, is_dst);
}

static const uint8_t tx_ncoord[] = {0, 1, 2, 4, 2, 4}; /* by TG_* */

static sg_ptx_status decode_texture(dctx *c, sg_insn *in, mods *m, sg_opd *ops, int nops) {
  sg_parser *p = c->p;
  sg_tx tx;
  memset(&tx, 0, sizeof tx);
  for (int k = 0; k < 4; k++) tx.d[k] = tx.crd[k] = tx.gx[k] = tx.gy[k] = SG_NO_SLOT;
  tx.lod = tx.pred = SG_NO_SLOT;
  int ok = 1;
  size_t bl = 0;
  while (bl < c->opc->len && c->opc->s[bl] != '.') bl++;
  const char *b = c->opc->s;
  if ((bl == 3 && memcmp(b, "tex", 3) == 0) || (bl == 4 && memcmp(b, "tld4", 4) == 0)) {
    /* tex{.level,.grad}.geom.v4.dtype.ctype d, [t, {c}]{, lod | , dPdx, dPdy};
     * tld4.comp.2d.v4.dtype.f32 d, [t, {c}] */
    int gather = bl == 4;
    tx.kind = gather ? TX_TLD4 : TX_TEX;
    if (gather) {
      static const char *const comps[] = {"r", "g", "b", "a"};
      int k = take_any(m, comps, 4);
      ok = k > 0;
      tx.comp = (uint8_t)(k ? k - 1 : 0);
    }
    int extra = take(m, "level") ? 1 : take(m, "grad") ? 2 : 0;
    tx.geom = (uint8_t)tx_geom(m);
    ok = ok && tx.geom && take(m, "v4") && m->ntypes == 2 && (!gather || tx.geom == TG_2D);
    int dt = m->types[0];
    tx.ct = (uint8_t)m->types[1];
    ok = ok && (dt == T_F32 || dt == T_S32 || dt == T_U32) && (tx.ct == T_F32 || tx.ct == T_S32);
    if (!ok || nops != 2 + extra) UNSUP();
    TRY(tx_data(c, &ops[0], &tx, 4, 1, &ok));
    TRY(tx_addr(c, &ops[1], &tx, tx_ncoord[tx.geom], &ok));
    if (ops[0].slot2 != SG_NO_SLOT) {
      if (ops[0].rtype != T_PRED) FAIL("line %u: the residency operand of '%.*s' must be a .pred register", c->line,
                                       (int)c->opc->len, c->opc->s);
      tx.pred = ops[0].slot2;
    }
    tx.mipmode = (uint8_t)(extra == 1 ? TM_LEVEL : extra == 2 ? TM_GRAD : TM_BASE);
    if (extra == 1) {
      TRY(src(c, &ops[2], T_F32, &tx.lod));
    } else if (extra == 2) {
      /* one gradient component per dimension (1D: a lone register; 3D: padded to four) */
      int want = tx.geom == TG_1D || tx.geom == TG_A1D ? 1 : tx.geom == TG_3D ? 4 : 2;
      for (int k = 0; k < 2; k++) {
        const sg_opd *o = &ops[2 + k];
        uint32_t *g = k ? tx.gy : tx.gx;
        if (o->kind == OPD_REG && want == 1) g[0] = o->slot;
        else if (o->kind == OPD_VEC && o->nvec == want) TRY(tx_regs(c, o->vec, want, g, 0));
        else ok = 0;
      }
      tx.ng = (uint8_t)want;
    }
  } else if (bl == 4 && (memcmp(b, "suld", 4) == 0 || memcmp(b, "sust", 4) == 0)) {
    /* suld.b.geom{.v2,.v4}.bN{.trap,.clamp,.zero} d, [s, {x, y..}]; sust.b... [s, {..}], d */
    int load = b[2] == 'l';
    tx.kind = load ? TX_SULD : TX_SUST;
    ok = take(m, "b"); /* sust.p (formatted stores) is not implemented */
    tx.geom = (uint8_t)tx_geom(m);
    int vec = take(m, "v2") ? 2 : take(m, "v4") ? 4 : 1;
    tx.clamp = take(m, "clamp") ? SC_CLAMP : take(m, "zero") ? SC_ZERO : SC_TRAP;
    (void)take(m, "trap");
    int t = m->ntypes == 1 ? m->types[0] : T_NONE;
    tx.bsize = (uint8_t)(t == T_B8 ? 1 : t == T_B16 ? 2 : t == T_B32 ? 4 : t == T_B64 ? 8 : 0);
    ok = ok && tx.geom && tx.bsize;
    if (!ok) UNSUP();
    NEED(2);
    TRY(tx_data(c, &ops[load ? 0 : 1], &tx, vec, load, &ok));
    TRY(tx_addr(c, &ops[load ? 1 : 0], &tx, tx_ncoord[tx.geom], &ok));
  } else if (bl == 3 && (memcmp(b, "txq", 3) == 0 || memcmp(b, "suq", 3) == 0)) {
    /* txq.query.b32 d, [t]; suq.query.b32 d, [s] */
    int surf = b[0] == 's';
    tx.kind = surf ? TX_SUQ : TX_TXQ;
    static const char *const q[] = {"width", "height", "depth", "array_size", "num_mipmap_levels", "num_samples",
                                    "normalized_coords"};
    tx.query = (uint8_t)take_any(m, q, surf ? 4 : 7);
    ok = tx.query && m->ntypes == 1 && m->types[0] == T_B32;
    if (!ok) UNSUP();
    NEED(2);
    TRY(dst(c, &ops[0], &tx.d[0]));
    tx.nd = 1;
    if (ops[1].kind != OPD_ADDR || !ops[1].addr_has_reg || ops[1].addr_complex || ops[1].off != 0) UNSUP();
    tx.handle = ops[1].slot;
  } else {
    ok = 0;
  }
  if (!ok) UNSUP();
  sg_ptx_module *mm = p->m;
  if (mm->ntx == mm->captx) {
    uint32_t nc = mm->captx ? mm->captx * 2 : 16;
    void *nv = realloc(mm->tx, nc * sizeof *mm->tx);
    if (!nv) return SG_PTX_ERR_NOMEM;
    mm->tx = nv;
    mm->captx = nc;
  }
  mm->tx[mm->ntx] = tx;
  in->aux = mm->ntx++;
  return SG_PTX_OK;
}

/* cp.async.{ca,cg}.shared{::cta}.global{.L2::cache_hint}{.L2::NB} [dst], [src], cp-size{, src-size |
 * ignore-src}{, cache-policy}; commit_group, wait_group and wait_all. The copy is done when it is
 * issued, so the group operations have nothing to wait for. */
static sg_ptx_status decode_cp_async(dctx *c, sg_insn *in, mods *m, sg_opd *ops, int nops) {
  sg_parser *p = c->p;
  if (!take(m, "async")) UNSUP();
  if (take(m, "commit_group") || take(m, "wait_all")) { in->op = SG_OP_NOP; NEED(0); return SG_PTX_OK; }
  if (take(m, "wait_group")) { in->op = SG_OP_NOP; NEED(1); return SG_PTX_OK; }
  int sh = take(m, "shared") || take(m, "shared::cta"), gl = take(m, "global");
  (void)(take(m, "L2::64B") || take(m, "L2::128B") || take(m, "L2::256B")); /* prefetch-size hints */
  if (take(m, "L2::cache_hint")) {
    if (nops < 4) UNSUP();
    uint32_t policy;
    TRY(src(c, &ops[nops - 1], T_B64, &policy));
    nops--;
  }
  if (!sh || !gl || (nops != 3 && nops != 4) || ops[2].kind != OPD_IMM) UNSUP();
  uint64_t size = ops[2].lit.bits;
  if (size != 4 && size != 8 && size != 16) UNSUP();
  in->vec = (uint8_t)size;
  in->space = SP_SHARED;
  int symsp;
  TRY(addr(c, &ops[0], in, &symsp));
  sg_insn s2;
  memset(&s2, 0, sizeof s2);
  int sp2;
  TRY(addr(c, &ops[1], &s2, &sp2));
  if ((s2.flags & SG_F_AHI) || sp2 == SP_SHARED || sp2 == SP_LOCAL || sp2 == SP_KPARAM || sp2 == SP_PARAM) UNSUP();
  in->b = s2.a;
  if (s2.imm) {
    in->c = sg_parser_const(p, (uint64_t)s2.imm);
    if (in->c == SG_NO_SLOT) return SG_PTX_ERR_NOMEM;
  }
  if (nops == 4) {
    if (ops[3].kind == OPD_REG && ops[3].rtype == T_PRED) { /* ignore-src */
      in->flags |= SG_F_HI;
      if (ops[3].neg) in->flags |= SG_F_WIDE;
      in->e = ops[3].slot;
    } else {
      TRY(src(c, &ops[3], T_U32, &in->e));
    }
  }
  return SG_PTX_OK;
}

static sg_ptx_status decode(dctx *c, sg_insn *in, int op, mods *m, sg_opd *ops, int nops) {
  sg_parser *p = c->p;
  int t = m->ntypes ? m->types[m->ntypes - 1] : T_NONE;
  in->t = (uint8_t)t;
  in->op = (uint16_t)op;
  if (take(m, "sat")) in->flags |= SG_F_SAT;
  if (take(m, "ftz")) in->flags |= SG_F_FTZ;
  if (take(m, "approx")) in->flags |= SG_F_APPROX;
  switch (op) {
  case SG_OP_NOP: case SG_OP_MEMBAR: case SG_OP_NANOSLEEP: case SG_OP_PREFETCH:
    for (int k = 0; k < m->n; k++) m->used[k] = 1; /* scopes, proxies, cache levels: all no-ops here */
    return SG_PTX_OK;
  case SG_OP_MOV: {
    NEED(2);
    if (ops[0].kind == OPD_VEC) { /* unpack a wide register into parts */
      for (int k = 0; k < ops[0].nvec; k++)
        if (ops[0].vec[k] != SG_NO_SLOT && (ops[0].vec[k] & SG_CONST_FLAG)) FAIL("line %u: constant as a destination", c->line);
      in->op = SG_OP_UNPACK;
      in->vec = (uint8_t)ops[0].nvec;
      memcpy(in->v, ops[0].vec, sizeof in->v);
      return src(c, &ops[1], t, &in->a);
    }
    TRY(dst(c, &ops[0], &in->d));
    if (ops[1].kind == OPD_VEC) {
      in->op = SG_OP_PACK;
      in->vec = (uint8_t)ops[1].nvec;
      for (int k = 0; k < ops[1].nvec; k++)
        if (ops[1].vec[k] == SG_NO_SLOT) FAIL("line %u: '_' in a packed source", c->line);
      memcpy(in->v, ops[1].vec, sizeof in->v);
      return SG_PTX_OK;
    }
    if (ops[1].kind == OPD_SREG) { in->op = SG_OP_SREG; in->aux = ops[1].slot; return SG_PTX_OK; }
    return src(c, &ops[1], t, &in->a);
  }
  case SG_OP_ADD: case SG_OP_SUB: case SG_OP_MUL: case SG_OP_DIV: case SG_OP_REM: case SG_OP_MIN:
  case SG_OP_MAX: case SG_OP_AND: case SG_OP_OR: case SG_OP_XOR: case SG_OP_SHL: case SG_OP_SHR:
  case SG_OP_COPYSIGN: case SG_OP_MUL24: case SG_OP_ADDC: case SG_OP_SUBC: {
    NEED(3);
    in->mod = (uint8_t)rnd_of(m);
    if (take(m, "hi")) in->flags |= SG_F_HI;
    if (take(m, "wide")) in->flags |= SG_F_WIDE;
    take(m, "lo");
    if (take(m, "cc")) in->flags |= SG_F_CC;
    if (take(m, "relu") || take(m, "NaN") || take(m, "xorsign") || take(m, "abs")) in->op = SG_OP_UNSUPPORTED;
    int st = (op == SG_OP_SHL || op == SG_OP_SHR) ? T_U32 : t;
    TRY(dst(c, &ops[0], &in->d));
    TRY(src(c, &ops[1], t, &in->a));
    TRY(src(c, &ops[2], st, &in->b));
    if ((in->flags & SG_F_CC) || op == SG_OP_ADDC || op == SG_OP_SUBC) {
      if (p->cc_slot == SG_NO_SLOT) p->cc_slot = sg_parser_newreg(p);
      in->c = p->cc_slot;
    }
    int sz = (int)sg_type_size(t);
    /* .ftz stays on the fast f32 paths (they flush); everything else unusual goes generic */
    if (in->op != op || in->flags & (SG_F_SAT | SG_F_CC) || in->mod > RND_RN) return SG_PTX_OK;
    if ((in->flags & SG_F_FTZ) && t != T_F32) return SG_PTX_OK;
    int f = fast_int_op(op, t);
    if (f >= 0) { in->op = (uint16_t)f; return SG_PTX_OK; }
    if (op == SG_OP_ADD && t == T_F32) in->op = SG_OP_ADD_F32;
    else if (op == SG_OP_ADD && t == T_F64) in->op = SG_OP_ADD_F64;
    else if (op == SG_OP_SUB && t == T_F32) in->op = SG_OP_SUB_F32;
    else if (op == SG_OP_SUB && t == T_F64) in->op = SG_OP_SUB_F64;
    else if (op == SG_OP_MUL && t == T_F32) in->op = SG_OP_MUL_F32;
    else if (op == SG_OP_MUL && t == T_F64) in->op = SG_OP_MUL_F64;
    else if (op == SG_OP_MUL && !sg_type_is_float(t) && !(in->flags & (SG_F_HI | SG_F_WIDE)) && (sz == 4 || sz == 8))
      in->op = sz == 4 ? SG_OP_MULLO_I32 : SG_OP_MULLO_I64;
    else if (op == SG_OP_MUL && (in->flags & SG_F_WIDE) && t == T_S32) in->op = SG_OP_MULWIDE_S32;
    else if (op == SG_OP_MUL && (in->flags & SG_F_WIDE) && t == T_U32) in->op = SG_OP_MULWIDE_U32;
    else if (op == SG_OP_SHL && sz == 4) in->op = SG_OP_SHL_B32;
    else if (op == SG_OP_SHL && sz == 8) in->op = SG_OP_SHL_B64;
    return SG_PTX_OK;
  }
  case SG_OP_MAD: case SG_OP_FMA: case SG_OP_MAD24: case SG_OP_SAD: {
    NEED(4);
    in->mod = (uint8_t)rnd_of(m);
    if (take(m, "hi")) in->flags |= SG_F_HI;
    if (take(m, "wide")) in->flags |= SG_F_WIDE;
    take(m, "lo");
    if (take(m, "cc")) in->op = SG_OP_UNSUPPORTED;
    if (take(m, "relu")) in->op = SG_OP_UNSUPPORTED;
    TRY(dst(c, &ops[0], &in->d));
    TRY(src(c, &ops[1], t, &in->a));
    TRY(src(c, &ops[2], t, &in->b));
    int ct = (in->flags & SG_F_WIDE) ? (t == T_S32 ? T_S64 : t == T_U32 ? T_U64 : t == T_S16 ? T_S32 : T_U32) : t;
    TRY(src(c, &ops[3], ct, &in->c));
    if (in->op != op || (in->flags & SG_F_SAT) || in->mod > RND_RN) return SG_PTX_OK;
    if ((in->flags & SG_F_FTZ) && t != T_F32) return SG_PTX_OK;
    if (sg_type_is_float(t) && op != SG_OP_SAD && op != SG_OP_MAD24) {
      if (op == SG_OP_MAD && !in->mod && t == T_F32) return SG_PTX_OK; /* mad.f32 without rounding: generic */
      in->op = t == T_F32 ? SG_OP_FMA_F32 : t == T_F64 ? SG_OP_FMA_F64 : in->op;
    } else if (op == SG_OP_MAD && !(in->flags & (SG_F_HI | SG_F_WIDE)) && sg_type_size(t) == 4) {
      in->op = SG_OP_MADLO_I32;
    } else if (op == SG_OP_MAD && !(in->flags & (SG_F_HI | SG_F_WIDE)) && sg_type_size(t) == 8) {
      in->op = SG_OP_MADLO_I64;
    }
    return SG_PTX_OK;
  }
  case SG_OP_ABS: case SG_OP_NEG: case SG_OP_NOT: case SG_OP_CNOT: case SG_OP_RCP: case SG_OP_SQRT:
  case SG_OP_RSQRT: case SG_OP_EX2: case SG_OP_LG2: case SG_OP_SIN: case SG_OP_COS: case SG_OP_TANH:
  case SG_OP_BREV: case SG_OP_POPC: case SG_OP_CLZ: case SG_OP_BFIND: {
    NEED(2);
    in->mod = (uint8_t)rnd_of(m);
    if (op == SG_OP_BFIND && take(m, "shiftamt")) in->flags |= SG_F_HI;
    if (take(m, "relu")) in->op = SG_OP_UNSUPPORTED;
    TRY(dst(c, &ops[0], &in->d));
    return src(c, &ops[1], t, &in->a);
  }
  case SG_OP_TESTP: {
    NEED(2);
    static const char *const tp[] = {"finite", "infinite", "number", "notanumber", "normal", "subnormal"};
    in->mod = (uint8_t)take_any(m, tp, 6);
    if (!in->mod) in->op = SG_OP_UNSUPPORTED;
    TRY(dst(c, &ops[0], &in->d));
    return src(c, &ops[1], t, &in->a);
  }
  case SG_OP_SETP: case SG_OP_SET: {
    in->mod = (uint8_t)cmp_of(m);
    static const char *const bops[] = {"and", "or", "xor"};
    int bop = take_any(m, bops, 3);
    in->vec = (uint8_t)bop; /* boolean combiner */
    if (!in->mod) in->op = SG_OP_UNSUPPORTED;
    /* set.cmp.dtype.stype: compare in stype, produce dtype. */
    if (op == SG_OP_SET) {
      if (m->ntypes != 2) FAIL("line %u: set needs two types", c->line);
      in->t = (uint8_t)m->types[1];
      in->t2 = (uint8_t)m->types[0];
    }
    if (nops != 3 + (bop != 0)) FAIL("line %u: '%.*s' has %d operands", c->line, (int)c->opc->len, c->opc->s, nops);
    TRY(dst(c, &ops[0], &in->d));
    if (op == SG_OP_SETP) TRY(want_pred(c, &ops[0], 1));
    in->d2 = ops[0].slot2;
    TRY(src(c, &ops[1], in->t, &in->a));
    TRY(src(c, &ops[2], in->t, &in->b));
    if (bop) {
      TRY(want_pred(c, &ops[3], 1));
      TRY(src(c, &ops[3], T_PRED, &in->c));
      if (ops[3].neg) in->flags |= SG_F_HI; /* negated c */
    }
    if (in->t == T_F16X2 || in->t == T_BF16X2) in->op = SG_OP_UNSUPPORTED; /* per-half predicates */
    if (op == SG_OP_SETP && !bop && in->op == op && sg_type_size(in->t) == 4 && !sg_type_is_float(in->t) &&
        in->d2 == SG_NO_SLOT)
      in->op = SG_OP_SETP_I32;
    return SG_PTX_OK;
  }
  case SG_OP_SELP: case SG_OP_SLCT: {
    NEED(4);
    if (op == SG_OP_SLCT) {
      if (m->ntypes != 2) FAIL("line %u: slct needs two types", c->line);
      in->t = (uint8_t)m->types[0];
      in->t2 = (uint8_t)m->types[1];
    }
    TRY(dst(c, &ops[0], &in->d));
    TRY(src(c, &ops[1], in->t, &in->a));
    TRY(src(c, &ops[2], in->t, &in->b));
    if (op == SG_OP_SELP) TRY(want_pred(c, &ops[3], 1));
    return src(c, &ops[3], op == SG_OP_SELP ? T_PRED : in->t2, &in->c);
  }
  case SG_OP_CVT: {
    in->mod = (uint8_t)rnd_of(m);
    if (m->ntypes == 1 && m->types[0] == T_F32 && take(m, "tf32")) {
      /* cvt.{rna,rn,rz}{.relu}{.satfinite}.tf32.f32 d, a: an f32 bit pattern with 10 mantissa bits */
      in->op = SG_OP_CVT_TF32;
      if (in->mod != RND_RNA && in->mod != RND_RN && in->mod != RND_RZ) in->op = SG_OP_UNSUPPORTED;
      if (take(m, "satfinite")) in->flags |= SG_F_SAT;
      if (take(m, "relu")) in->flags |= SG_F_WIDE;
      NEED(2);
      TRY(dst(c, &ops[0], &in->d));
      return src(c, &ops[1], T_F32, &in->a);
    }
    if (m->ntypes != 2) {
      /* A type the engine does not know (e4m3x2, e5m2x2, ...) is real PTX it does not implement. */
      for (int k = 0; k < m->n; k++)
        if (!m->used[k]) { in->op = SG_OP_UNSUPPORTED; m->used[k] = 1; return SG_PTX_OK; }
      FAIL("line %u: cvt needs two types", c->line);
    }
    in->t = (uint8_t)m->types[0];
    in->t2 = (uint8_t)m->types[1];
    if ((in->t == T_F16X2 || in->t == T_BF16X2) && in->t2 == T_F32 && nops == 3) {
      /* cvt.rn.f16x2.f32 d, a, b: a into the upper half, b into the lower */
      if (take(m, "relu") || take(m, "satfinite")) in->op = SG_OP_UNSUPPORTED;
      TRY(dst(c, &ops[0], &in->d));
      TRY(src(c, &ops[1], T_F32, &in->a));
      return src(c, &ops[2], T_F32, &in->b);
    }
    NEED(2);
    if (take(m, "relu") || take(m, "satfinite")) in->op = SG_OP_UNSUPPORTED;
    if (in->t == T_F16X2 || in->t == T_BF16X2 || in->t2 == T_F16X2 || in->t2 == T_BF16X2) in->op = SG_OP_UNSUPPORTED;
    TRY(dst(c, &ops[0], &in->d));
    return src(c, &ops[1], in->t2, &in->a);
  }
  case SG_OP_CVTA: {
    NEED(2);
    if (take(m, "to")) in->flags |= SG_F_HI;
    in->space = (uint8_t)space_of(m);
    if (in->space == SP_PARAM || in->space == SP_GENERIC) in->op = SG_OP_UNSUPPORTED;
    if (sg_type_size(t) != 8 && (in->space == SP_SHARED || in->space == SP_LOCAL))
      in->op = SG_OP_UNSUPPORTED; /* 32-bit generic addresses */
    TRY(dst(c, &ops[0], &in->d));
    return src(c, &ops[1], T_U64, &in->a);
  }
  case SG_OP_BFE: case SG_OP_BFI: case SG_OP_PRMT: case SG_OP_SHF_L: case SG_OP_DP4A: case SG_OP_DP2A: {
    int n = op == SG_OP_BFI ? 5 : 4;
    NEED(n);
    if (op == SG_OP_PRMT) {
      static const char *const pm[] = {"f4e", "b4e", "rc8", "ecl", "ecr", "rc16"};
      in->mod = (uint8_t)take_any(m, pm, 6);
    }
    if (op == SG_OP_SHF_L) {
      if (take(m, "r")) in->op = SG_OP_SHF_R;
      else if (!take(m, "l")) in->op = SG_OP_UNSUPPORTED;
      if (take(m, "clamp")) in->flags |= SG_F_HI;
      else take(m, "wrap");
    }
    if (op == SG_OP_DP2A) {
      if (take(m, "hi")) in->flags |= SG_F_HI;
      else take(m, "lo");
    }
    if ((op == SG_OP_DP4A || op == SG_OP_DP2A) && m->ntypes == 2) {
      in->t = (uint8_t)m->types[0];
      in->t2 = (uint8_t)m->types[1];
    }
    TRY(dst(c, &ops[0], &in->d));
    int at = op == SG_OP_PRMT || op == SG_OP_SHF_L ? T_B32 : in->t;
    TRY(src(c, &ops[1], at, &in->a));
    TRY(src(c, &ops[2], op == SG_OP_BFE ? T_U32 : at, &in->b));
    int ct = (op == SG_OP_BFE || op == SG_OP_SHF_L || op == SG_OP_BFI) ? T_U32
             : (op == SG_OP_DP4A || op == SG_OP_DP2A)                   ? T_S32
                                                                        : at;
    TRY(src(c, &ops[3], ct, &in->c));
    if (n == 5) TRY(src(c, &ops[4], T_U32, &in->e));
    return SG_PTX_OK;
  }
  case SG_OP_BMSK: case SG_OP_SZEXT:
    if (take(m, "clamp")) in->flags |= SG_F_HI;
    else if (!take(m, "wrap")) in->op = SG_OP_UNSUPPORTED;
    NEED(3);
    TRY(dst(c, &ops[0], &in->d));
    TRY(src(c, &ops[1], T_U32, &in->a));
    return src(c, &ops[2], T_U32, &in->b);
  case SG_OP_FNS:
    NEED(4);
    TRY(dst(c, &ops[0], &in->d));
    TRY(src(c, &ops[1], T_B32, &in->a));
    TRY(src(c, &ops[2], T_U32, &in->b));
    return src(c, &ops[3], T_S32, &in->c);
  case SG_OP_LD: case SG_OP_ST: {
    /* ld/st.L2::cache_hint take a cache-policy operand last: a hint, with no effect here. */
    if (take(m, "L2::cache_hint") && nops == 3) {
      uint32_t policy;
      TRY(src(c, &ops[2], T_B64, &policy));
      nops = 2;
    }
    NEED(2);
    in->space = (uint8_t)space_of(m);
    if (take(m, "v2")) in->vec = 2;
    else if (take(m, "v4")) in->vec = 4;
    else if (take(m, "v8")) in->op = SG_OP_UNSUPPORTED;
    for (int k = 0; k < m->n; k++) /* L1::evict_last, L2::64B, L2::cache_hint ... */
      if (!m->used[k] && (m->l[k] >= 2 && (memcmp(m->s[k], "L1", 2) == 0 || memcmp(m->s[k], "L2", 2) == 0))) m->used[k] = 1;
    const sg_opd *val = op == SG_OP_LD ? &ops[0] : &ops[1];
    const sg_opd *ad = op == SG_OP_LD ? &ops[1] : &ops[0];
    int symsp;
    TRY(addr(c, ad, in, &symsp));
    if (in->op == SG_OP_UNSUPPORTED) return SG_PTX_OK;
    if (in->space == SP_PARAM) {
      if (symsp == SP_KPARAM || (symsp < 0 && p->fn->is_entry && op == SG_OP_LD)) in->space = SP_KPARAM;
      if (in->space == SP_KPARAM && op == SG_OP_ST) FAIL("line %u: st.param to a kernel parameter", c->line);
    }
    if (in->vec > 1) {
      if (val->kind != OPD_VEC || val->nvec != in->vec) FAIL("line %u: vector operand size mismatch", c->line);
      for (int k = 0; k < in->vec; k++) {
        if (val->vec[k] == SG_NO_SLOT && op == SG_OP_ST) FAIL("line %u: '_' in a store", c->line);
        if (val->vec[k] != SG_NO_SLOT && (val->vec[k] & SG_CONST_FLAG) && op == SG_OP_LD)
          FAIL("line %u: constant as a load destination", c->line);
        in->v[k] = val->vec[k];
      }
    } else if (op == SG_OP_LD) {
      TRY(dst(c, val, &in->d));
    } else {
      TRY(src(c, val, t, &in->b));
    }
    int dst32 = op == SG_OP_ST || val->kind != OPD_REG || sg_type_size(val->rtype) == 4;
    if (in->vec == 1 && !(in->flags & SG_F_AHI) && sg_type_size(t) == 4 && dst32) {
      if (in->space == SP_GLOBAL) in->op = op == SG_OP_LD ? SG_OP_LD_GLOBAL_32 : SG_OP_ST_GLOBAL_32;
      else if (in->space == SP_SHARED) in->op = op == SG_OP_LD ? SG_OP_LD_SHARED_32 : SG_OP_ST_SHARED_32;
    }
    if (in->vec == 1 && in->space == SP_KPARAM && op == SG_OP_LD && in->a == (SG_CONST_FLAG | 0)) in->op = SG_OP_LD_KPARAM;
    return SG_PTX_OK;
  }
  case SG_OP_ATOM: case SG_OP_RED: {
    static const char *const aops[] = {"add", "min", "max", "inc", "dec", "and", "or", "xor", "exch", "cas"};
    in->space = (uint8_t)space_of(m);
    in->mod = (uint8_t)take_any(m, aops, 10);
    if (!in->mod || m->ntypes != 1 || (in->space != SP_GLOBAL && in->space != SP_SHARED && in->space != SP_GENERIC))
      in->op = SG_OP_UNSUPPORTED;
    int sz = (int)sg_type_size(t);
    int half = t == T_F16 || t == T_BF16 || t == T_F16X2 || t == T_BF16X2;
    if (sz != 4 && sz != 8 && !(sz == 2 && (in->mod == AT_CAS || half))) in->op = SG_OP_UNSUPPORTED;
    if (sg_type_is_float(t) && in->mod != AT_ADD && in->mod != AT_EXCH && in->mod != AT_MIN && in->mod != AT_MAX)
      in->op = SG_OP_UNSUPPORTED;
    if (half && in->mod != AT_ADD) in->op = SG_OP_UNSUPPORTED;
    int base = op == SG_OP_ATOM ? 1 : 0;
    NEED(base + 2 + (in->mod == AT_CAS));
    if (base) TRY(dst(c, &ops[0], &in->d));
    int symsp;
    TRY(addr(c, &ops[base], in, &symsp));
    if (in->space == SP_GENERIC && (symsp == SP_SHARED || symsp == SP_GLOBAL)) in->space = (uint8_t)symsp;
    TRY(src(c, &ops[base + 1], t, &in->b));
    if (in->mod == AT_CAS) TRY(src(c, &ops[base + 2], t, &in->c));
    return SG_PTX_OK;
  }
  case SG_OP_BRA: {
    NEED(1);
    if (ops[0].kind != OPD_SYM) FAIL("line %u: indirect branches are not supported", c->line);
    sg_fixup fx = {c->pc0, ops[0].sym, 0};
    if (p->nbrfix == p->capbrfix) {
      size_t nc = p->capbrfix ? p->capbrfix * 2 : 32;
      void *n = realloc(p->brfix, nc * sizeof *p->brfix);
      if (!n) return SG_PTX_ERR_NOMEM;
      p->brfix = n;
      p->capbrfix = nc;
    }
    p->brfix[p->nbrfix++] = fx;
    return SG_PTX_OK;
  }
  case SG_OP_CALL: {
    const sg_opd *rets = NULL, *fnop, *args = NULL;
    int k = 0;
    if (k < nops && ops[k].kind == OPD_LIST) rets = &ops[k++];
    int indirect = k < nops && ops[k].kind == OPD_REG;
    if (k >= nops || (ops[k].kind != OPD_SYM && !indirect)) { in->op = SG_OP_UNSUPPORTED; return SG_PTX_OK; }
    fnop = &ops[k++];
    if (k < nops && ops[k].kind == OPD_LIST) args = &ops[k++];
    if (indirect && k < nops && ops[k].kind == OPD_SYM) k++; /* the prototype: shape checked at run time */
    if (k != nops) { in->op = SG_OP_UNSUPPORTED; return SG_PTX_OK; }
    if (indirect) {
      in->op = SG_OP_CALL_IND;
      in->a = fnop->slot;
    }
    sg_ptx_module *mm = p->m;
    if (mm->ncalls == mm->capcalls) {
      uint32_t nc = mm->capcalls ? mm->capcalls * 2 : 16;
      void *n = realloc(mm->calls, nc * sizeof *mm->calls);
      if (!n) return SG_PTX_ERR_NOMEM;
      mm->calls = n;
      mm->capcalls = nc;
    }
    sg_callsite *cs = &mm->calls[mm->ncalls];
    memset(cs, 0, sizeof *cs);
    cs->nargs = args ? (uint32_t)args->nlist : 0;
    cs->nrets = rets ? (uint32_t)rets->nlist : 0;
    cs->arg_off = calloc(cs->nargs + 1, sizeof *cs->arg_off);
    cs->ret_off = calloc(cs->nrets + 1, sizeof *cs->ret_off);
    if (!cs->arg_off || !cs->ret_off) { free(cs->arg_off); free(cs->ret_off); return SG_PTX_ERR_NOMEM; }
    mm->ncalls++;
    for (int j = 0; j < (int)cs->nargs + (int)cs->nrets; j++) {
      const sg_tok *nm = j < (int)cs->nargs ? args->list[j] : rets->list[j - (int)cs->nargs];
      uint32_t s;
      const sg_sym *y = sg_parser_lookup(p, nm->s, nm->len, &s);
      if (!y || y->kind != SYM_FPARAM)
        FAIL("line %u: call argument '%.*s' is not a .param variable", c->line, (int)nm->len, nm->s);
      if (j < (int)cs->nargs) cs->arg_off[j] = s;
      else cs->ret_off[j - (int)cs->nargs] = s;
    }
    in->imm = mm->ncalls - 1;
    if (p->ncallfix == p->capcallfix) {
      size_t nc = p->capcallfix ? p->capcallfix * 2 : 16;
      void *n = realloc(p->callfix, nc * sizeof *p->callfix);
      if (!n) return SG_PTX_ERR_NOMEM;
      p->callfix = n;
      p->capcallfix = nc;
    }
    uint32_t self = 0;
    while ((int)self < p->m->nfuncs && p->m->funcs[self] != p->fn) self++;
    p->callfix[p->ncallfix++] = (sg_fixup){c->pc0, indirect ? NULL : fnop->sym, self};
    return SG_PTX_OK;
  }
  case SG_OP_RET: case SG_OP_EXIT: case SG_OP_TRAP:
    NEED(0);
    return SG_PTX_OK;
  case SG_OP_BAR: {
    if (take(m, "warp")) { /* __syncwarp: a warp collective over the mask */
      take(m, "sync");
      in->op = SG_OP_WARPSYNC;
      NEED(1);
      return src(c, &ops[0], T_U32, &in->e);
    }
    if (take(m, "arrive")) in->op = SG_OP_BAR_ARRIVE;
    else if (take(m, "red")) {
      /* bar.red.popc.u32 d, a{, b}, {!}c  /  bar.red.{and,or}.pred p, a{, b}, {!}c */
      static const char *const rm[] = {"popc", "and", "or"};
      in->mod = (uint8_t)take_any(m, rm, 3);
      if (!in->mod || m->ntypes != 1 || t != (in->mod == BR_POPC ? T_U32 : T_PRED)) in->op = SG_OP_UNSUPPORTED;
      if (nops < 3 || nops > 4) FAIL("line %u: bar.red expects 3 or 4 operands", c->line);
      TRY(dst(c, &ops[0], &in->d));
      if (in->op != SG_OP_UNSUPPORTED) TRY(want_pred(c, &ops[0], in->mod != BR_POPC));
      TRY(want_pred(c, &ops[nops - 1], 1));
      TRY(src(c, &ops[1], T_U32, &in->a));
      if (nops == 4) TRY(src(c, &ops[2], T_U32, &in->b));
      TRY(src(c, &ops[nops - 1], T_PRED, &in->c));
      if (ops[nops - 1].neg) in->flags |= SG_F_HI;
      return SG_PTX_OK;
    } else take(m, "sync");
    if (nops < 1 || nops > 2) FAIL("line %u: bar expects 1 or 2 operands", c->line);
    TRY(src(c, &ops[0], T_U32, &in->a));
    if (nops == 2) TRY(src(c, &ops[1], T_U32, &in->b));
    return SG_PTX_OK;
  }
  case SG_OP_SHFL: {
    static const char *const sm[] = {"up", "down", "bfly", "idx"};
    in->mod = (uint8_t)take_any(m, sm, 4);
    if (!take(m, "sync")) in->op = SG_OP_UNSUPPORTED; /* pre-Volta shfl has no mask */
    if (!in->mod) in->op = SG_OP_UNSUPPORTED;
    NEED(5);
    TRY(dst(c, &ops[0], &in->d));
    in->d2 = ops[0].slot2;
    TRY(src(c, &ops[1], T_B32, &in->a));
    TRY(src(c, &ops[2], T_U32, &in->b));
    TRY(src(c, &ops[3], T_U32, &in->c));
    return src(c, &ops[4], T_U32, &in->e);
  }
  case SG_OP_VOTE: {
    static const char *const vm[] = {"all", "any", "uni", "ballot"};
    in->mod = (uint8_t)take_any(m, vm, 4);
    if (!take(m, "sync") || !in->mod) in->op = SG_OP_UNSUPPORTED;
    NEED(3);
    TRY(dst(c, &ops[0], &in->d));
    TRY(want_pred(c, &ops[0], in->mod != VO_BALLOT));
    TRY(want_pred(c, &ops[1], 1));
    TRY(src(c, &ops[1], T_PRED, &in->a));
    if (ops[1].neg) in->flags |= SG_F_HI;
    return src(c, &ops[2], T_U32, &in->e);
  }
  case SG_OP_MATCH: {
    if (take(m, "any")) in->mod = 1;
    else if (take(m, "all")) in->mod = 2;
    if (!take(m, "sync") || !in->mod) in->op = SG_OP_UNSUPPORTED;
    NEED(3);
    TRY(dst(c, &ops[0], &in->d));
    in->d2 = ops[0].slot2;
    TRY(src(c, &ops[1], t, &in->a));
    return src(c, &ops[2], T_U32, &in->e);
  }
  case SG_OP_ACTIVEMASK:
    NEED(1);
    return dst(c, &ops[0], &in->d);
  case SG_OP_REDUX: {
    static const char *const rm[] = {"add", "min", "max", "inc", "dec", "and", "or", "xor"};
    in->mod = (uint8_t)take_any(m, rm, 8);
    if (!take(m, "sync") || !in->mod || in->mod == AT_INC || in->mod == AT_DEC || sg_type_size(t) != 4)
      in->op = SG_OP_UNSUPPORTED;
    NEED(3);
    TRY(dst(c, &ops[0], &in->d));
    TRY(src(c, &ops[1], t, &in->a));
    return src(c, &ops[2], T_U32, &in->e);
  }
  case SG_OP_TENSOR:
    return decode_tensor(c, in, m, ops, nops);
  case SG_OP_CP_ASYNC:
    return decode_cp_async(c, in, m, ops, nops);
  case SG_OP_TEX:
    return decode_texture(c, in, m, ops, nops);
  case SG_OP_ISSPACEP:
    in->space = (uint8_t)space_of(m);
    NEED(2);
    TRY(dst(c, &ops[0], &in->d));
    return src(c, &ops[1], T_U64, &in->a);
  default:
    in->op = SG_OP_UNSUPPORTED;
    return SG_PTX_OK;
  }
}

sg_ptx_status sg_decode_insn(sg_parser *p, const sg_tok *guard, int gneg, const sg_tok *opc, sg_opd *ops, int nops) {
  dctx c = {p, opc->line, opc, p->m->ncode};
  mods m;
  memset(&m, 0, sizeof m);
  size_t i = 0;
  while (i < opc->len && opc->s[i] != '.') i++;
  size_t blen = i;
  while (i < opc->len) {
    size_t st = ++i;
    while (i < opc->len && opc->s[i] != '.') i++;
    if (m.n == 16) FAIL("line %u: too many modifiers in '%.*s'", opc->line, (int)opc->len, opc->s);
    m.s[m.n] = opc->s + st;
    m.l[m.n] = (uint8_t)(i - st > 255 ? 255 : i - st);
    int t = sg_type_from_name(m.s[m.n], m.l[m.n]);
    if (t != T_NONE) {
      m.used[m.n] = 1;
      if (m.ntypes < 4) m.types[m.ntypes++] = t;
    }
    m.n++;
  }
  uint32_t g = SG_CONST_FLAG | 1, gx = 1;
  if (guard) {
    uint32_t s;
    const sg_sym *y = sg_parser_lookup(p, guard->s, guard->len, &s);
    if (!y || (y->kind != SYM_REG && y->kind != SYM_REGRANGE))
      FAIL("line %u: unknown guard predicate '%.*s'", guard->line, (int)guard->len, guard->s);
    if (y->type != T_PRED) FAIL("line %u: guard '%.*s' is not a .pred register", guard->line, (int)guard->len, guard->s);
    g = s;
    gx = gneg ? 0 : 1;
  }
  /* Source operands may emit helper instructions first (special registers); the real instruction
   * is emitted into a scratch copy and appended after them. */
  int op = base_op(opc->s, blen);
  sg_insn tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.d = tmp.a = tmp.b = tmp.c = tmp.e = tmp.d2 = SG_NO_SLOT;
  for (int k = 0; k < 4; k++) tmp.v[k] = SG_NO_SLOT;
  tmp.vec = 1;
  tmp.line = opc->line;
  /* Branch/call fixups and address patches refer to the pc of the final instruction, which is
   * emitted just before decoding so those pcs are right; helper instructions go in front of it. */
  uint32_t pc0 = p->m->ncode;
  if (!sg_parser_emit(p, opc->line)) return SG_PTX_ERR_NOMEM; /* placeholder at pc0 */
  sg_ptx_status st = SG_PTX_OK;
  if (op < 0) tmp.op = SG_OP_UNSUPPORTED;
  else st = decode(&c, &tmp, op, &m, ops, nops);
  if (st) return st;
  if (tmp.op != SG_OP_UNSUPPORTED && leftover(&m)) tmp.op = SG_OP_UNSUPPORTED;
  if (tmp.op == SG_OP_UNSUPPORTED) {
    int k = sg_module_add_name(p->m, opc->s, opc->len);
    if (k < 0) return SG_PTX_ERR_NOMEM;
    tmp.aux = (uint32_t)k;
  }
  tmp.g = g;
  tmp.gx = (uint8_t)gx;
  if (nops > 0 && ops[0].kind == OPD_REG) tmp.dsz = (uint8_t)sg_type_size(ops[0].rtype);
  uint32_t nhelp = p->m->ncode - pc0 - 1;
  if (nhelp) {
    /* Helpers were appended after the placeholder: rotate so they run first and the real
     * instruction sits last. Fixups recorded during decode used pc0; move them with it. */
    sg_insn *code = p->m->code;
    memmove(&code[pc0], &code[pc0 + 1], nhelp * sizeof *code);
    uint32_t final_pc = pc0 + nhelp;
    for (size_t k = 0; k < p->nbrfix; k++) if (p->brfix[k].pc == pc0) p->brfix[k].pc = final_pc;
    for (size_t k = 0; k < p->ncallfix; k++) if (p->callfix[k].pc == pc0) p->callfix[k].pc = final_pc;
    for (uint32_t k = 0; k < p->m->npatch; k++)
      if (!p->m->patches[k].is_const && p->m->patches[k].idx == pc0) p->m->patches[k].idx = final_pc;
    /* A guarded instruction's helpers are side-effect free, so they need no guard. */
    code[final_pc] = tmp;
  } else {
    p->m->code[pc0] = tmp;
  }
  return SG_PTX_OK;
}
