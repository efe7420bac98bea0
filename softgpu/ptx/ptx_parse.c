/*
 * PTX parser: module directives, variables, function signatures and bodies. Declarations are
 * resolved while parsing (with brace scopes, since nvcc redeclares `param0` in every call block),
 * and each instruction is handed to ptx_decode.c with its operands already resolved to slots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_front.h"

#define MAX_FRAME (1u << 20)
#define MAX_SHARED (1u << 30)

static const sg_tok *peek(sg_parser *p) { return &p->t[p->i]; }
static const sg_tok *next(sg_parser *p) { const sg_tok *t = &p->t[p->i]; if (t->kind != TK_EOF) p->i++; return t; }
static int is_punct(const sg_tok *t, char c) { return t->kind == TK_PUNCT && t->ch == c; }
static int accept(sg_parser *p, char c) {
  if (is_punct(peek(p), c)) { p->i++; return 1; }
  return 0;
}

#define FAIL(...) do { sg_errf(p->e, __VA_ARGS__); return SG_PTX_ERR_PARSE; } while (0)
#define TRY(x) do { sg_ptx_status st_ = (x); if (st_ != SG_PTX_OK) return st_; } while (0)

static sg_ptx_status expect(sg_parser *p, char c) {
  const sg_tok *t = peek(p);
  if (!is_punct(t, c)) FAIL("line %u: expected '%c' near '%.*s'", t->line, c, (int)(t->len > 40 ? 40 : t->len), t->s);
  p->i++;
  return SG_PTX_OK;
}

static char *tokdup(const sg_tok *t) {
  char *s = malloc(t->len + 1);
  if (s) { memcpy(s, t->s, t->len); s[t->len] = 0; }
  return s;
}

static int grow(void **arr, size_t elem, size_t need, size_t *cap) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *n = realloc(*arr, nc * elem);
  if (!n) return -1;
  *arr = n;
  *cap = nc;
  return 0;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return a ? (v + a - 1) / a * a : v; }

/* ---- symbols ---------------------------------------------------------------------------------- */
uint32_t sg_parser_newreg(sg_parser *p) { return p->nregs++; }

static uint32_t const_hash(uint64_t v, uint32_t cap) {
  v ^= v >> 33;
  v *= 0xff51afd7ed558ccdull;
  v ^= v >> 29;
  return (uint32_t)v & (cap - 1);
}

/* Rebuilds the index at twice the constant count (power of two), for O(1) dedupe in bodies with
 * thousands of immediates. */
static int const_rehash(sg_parser *p) {
  uint32_t cap = 64;
  while (cap < 2 * (p->nconst + 1)) cap *= 2;
  uint32_t *h = calloc(cap, sizeof *h);
  if (!h) return -1;
  for (uint32_t i = 0; i < p->nconst; i++) {
    uint32_t k = const_hash(p->consts[i], cap);
    while (h[k]) k = (k + 1) & (cap - 1);
    h[k] = i + 1;
  }
  free(p->chash);
  p->chash = h;
  p->chcap = cap;
  return 0;
}

uint32_t sg_parser_const(sg_parser *p, uint64_t v) {
  if (p->chcap < 2 * (p->nconst + 1) && const_rehash(p)) return SG_NO_SLOT;
  uint32_t k = const_hash(v, p->chcap);
  for (; p->chash[k]; k = (k + 1) & (p->chcap - 1))
    if (p->consts[p->chash[k] - 1] == v) return (p->chash[k] - 1) | SG_CONST_FLAG;
  uint32_t slot = sg_parser_const_private(p, v);
  if (slot != SG_NO_SLOT) p->chash[k] = (slot & ~SG_CONST_FLAG) + 1;
  return slot;
}

uint32_t sg_parser_const_private(sg_parser *p, uint64_t v) {
  size_t cap = p->capconst;
  if (grow((void **)&p->consts, sizeof *p->consts, p->nconst + 1, &cap)) return SG_NO_SLOT;
  p->capconst = (uint32_t)cap;
  p->consts[p->nconst] = v;
  return p->nconst++ | SG_CONST_FLAG;
}

sg_insn *sg_parser_emit(sg_parser *p, uint32_t line) {
  sg_ptx_module *m = p->m;
  size_t cap = m->capcode;
  if (m->ncode >= 1u << 28 || grow((void **)&m->code, sizeof *m->code, m->ncode + 1, &cap)) return NULL;
  m->capcode = (uint32_t)cap;
  sg_insn *in = &m->code[m->ncode++];
  memset(in, 0, sizeof *in);
  in->g = SG_CONST_FLAG | 1; /* constant true: unguarded */
  in->gx = 1;
  in->d = in->a = in->b = in->c = in->e = in->d2 = SG_NO_SLOT;
  for (int i = 0; i < 4; i++) in->v[i] = SG_NO_SLOT;
  in->vec = 1;
  in->line = line;
  return in;
}

static sg_ptx_status add_sym(sg_parser *p, const sg_tok *name, uint8_t kind, uint8_t type, uint32_t slot,
                             uint32_t count, uint32_t size) {
  if (grow((void **)&p->syms, sizeof *p->syms, p->nsyms + 1, &p->capsyms)) return SG_PTX_ERR_NOMEM;
  p->syms[p->nsyms++] = (sg_sym){name->s, name->len, kind, type, slot, count, size};
  return SG_PTX_OK;
}

const sg_sym *sg_parser_lookup(sg_parser *p, const char *s, size_t n, uint32_t *slot) {
  for (size_t k = p->nsyms; k-- > 0;) {
    const sg_sym *y = &p->syms[k];
    if (y->kind == SYM_REGRANGE) {
      if (n > y->nlen && memcmp(s, y->name, y->nlen) == 0) {
        uint64_t idx = 0;
        size_t j = y->nlen;
        if (s[j] == '0' && n > j + 1) continue;
        for (; j < n && s[j] >= '0' && s[j] <= '9' && idx < (1u << 30); j++) idx = idx * 10 + (uint64_t)(s[j] - '0');
        if (j == n && idx < y->count) {
          *slot = y->slot + (uint32_t)idx;
          return y;
        }
      }
    } else if (y->nlen == n && memcmp(y->name, s, n) == 0) {
      *slot = y->slot;
      return y;
    }
  }
  return NULL;
}

const sg_gvar *sg_parser_gvar(sg_parser *p, const char *s, size_t n) {
  for (int k = 0; k < p->m->nvars; k++) {
    const sg_gvar *v = &p->m->vars[k];
    if (strlen(v->name) == n && memcmp(v->name, s, n) == 0) return v;
  }
  return NULL;
}

int sg_parser_func(sg_parser *p, const char *s, size_t n) {
  for (int k = 0; k < p->m->nfuncs; k++)
    if (strlen(p->m->funcs[k]->name) == n && memcmp(p->m->funcs[k]->name, s, n) == 0) return k;
  return -1;
}

/* ---- types and declarations ------------------------------------------------------------------- */
static int tok_type(const sg_tok *t) {
  if (t->kind != TK_ID || t->len < 2 || t->s[0] != '.') return T_NONE;
  return sg_type_from_name(t->s + 1, t->len - 1);
}

static sg_ptx_status parse_uint(sg_parser *p, uint64_t *out) {
  const sg_tok *t = next(p);
  sg_lit l;
  if (t->kind != TK_NUM || sg_parse_lit(t->s, t->len, 0, &l) || l.is_float || l.is_f32bits || l.is_f64bits)
    FAIL("line %u: expected an integer near '%.*s'", t->line, (int)(t->len > 40 ? 40 : t->len), t->s);
  *out = l.bits;
  return SG_PTX_OK;
}

/* `[.align N] [.vN] .type [.ptr ...] name [ '[' N? ']' ]*`, the common tail of variable and parameter
 * declarations. dims: total element count, or 0 for `[]`. */
typedef struct decl {
  uint32_t align;
  int type;
  int vec;
  const sg_tok *name;
  uint64_t count;
  int unsized;
  int managed; /* `.attribute(.managed)`: a __managed__ variable */
} decl;

static sg_ptx_status parse_decl(sg_parser *p, decl *d) {
  memset(d, 0, sizeof *d);
  d->vec = 1;
  d->count = 1;
  /* After .ptr, a state space and .align describe what the parameter points to, not the parameter
   * (`.param .u64 .ptr .align 1 p`, as nvcc 13 writes pointers for compute_100 and later): such a
   * parameter keeps its natural alignment. */
  int pointee = 0;
  for (;;) {
    const sg_tok *t = peek(p);
    if (sg_tok_is(t, ".align")) {
      next(p);
      uint64_t a;
      TRY(parse_uint(p, &a));
      if (a == 0 || a > 4096 || (a & (a - 1))) FAIL("line %u: bad alignment %llu", t->line, (unsigned long long)a);
      if (!pointee) d->align = (uint32_t)a;
    } else if (sg_tok_is(t, ".v2") || sg_tok_is(t, ".v4") || sg_tok_is(t, ".v8")) {
      d->vec = t->s[2] - '0';
      next(p);
    } else if (sg_tok_is(t, ".attribute")) {
      /* `.attribute(.managed)` is the only variable attribute softgpu knows; others (`.unified`)
       * describe placement softgpu cannot honour, so they fail the load rather than be ignored. */
      next(p);
      TRY(expect(p, '('));
      const sg_tok *a = next(p);
      if (!sg_tok_is(a, ".managed")) {
        sg_errf(p->e, "line %u: unsupported variable attribute '%.*s'", a->line, (int)(a->len > 40 ? 40 : a->len), a->s);
        return SG_PTX_ERR_UNSUPPORTED;
      }
      d->managed = 1;
      TRY(expect(p, ')'));
    } else if (sg_tok_is(t, ".ptr") || sg_tok_is(t, ".global") || sg_tok_is(t, ".shared") || sg_tok_is(t, ".local") ||
               sg_tok_is(t, ".const")) {
      if (sg_tok_is(t, ".ptr")) pointee = 1;
      next(p); /* pointer attributes of a kernel parameter: informational */
    } else if (tok_type(t) != T_NONE && d->type == T_NONE) {
      d->type = tok_type(t);
      next(p);
    } else {
      break;
    }
  }
  if (d->type == T_NONE) FAIL("line %u: declaration without a type near '%.*s'", peek(p)->line, (int)peek(p)->len, peek(p)->s);
  const sg_tok *nm = next(p);
  if (nm->kind != TK_ID) FAIL("line %u: expected a name in declaration", nm->line);
  d->name = nm;
  while (accept(p, '[')) {
    if (accept(p, ']')) { d->unsized = 1; d->count = 0; continue; }
    uint64_t n;
    TRY(parse_uint(p, &n));
    TRY(expect(p, ']'));
    if (n > MAX_SHARED || d->count * n > MAX_SHARED) FAIL("line %u: array too large", nm->line);
    d->count *= n;
  }
  if (!d->align) d->align = sg_type_size(d->type) * (unsigned)d->vec;
  if (!d->align) d->align = 1;
  return SG_PTX_OK;
}

static uint64_t decl_bytes(const decl *d) { return (uint64_t)sg_type_size(d->type) * (unsigned)d->vec * d->count; }

/* Encodes one initialiser element of type t into dst. */
static sg_ptx_status put_init(sg_parser *p, int t, const sg_tok *tk, int neg, uint8_t *dst) {
  sg_lit l;
  if (tk->kind == TK_ID && sg_type_size(t) == 8 && !neg) {
    /* Addresses: vtables hold functions, pointer tables hold global variables. */
    uint64_t v;
    int fi = sg_parser_func(p, tk->s, tk->len);
    const sg_gvar *g = fi < 0 ? sg_parser_gvar(p, tk->s, tk->len) : NULL;
    if (fi >= 0) v = SG_FUNC_BASE + 16ull * (unsigned)fi;
    else if (g && (g->space == SP_GLOBAL || g->space == SP_CONST)) v = g->addr;
    else FAIL("line %u: unsupported initialiser '%.*s'", tk->line, (int)(tk->len > 40 ? 40 : tk->len), tk->s);
    memcpy(dst, &v, 8);
    return SG_PTX_OK;
  }
  if (tk->kind != TK_NUM || sg_parse_lit(tk->s, tk->len, neg, &l))
    FAIL("line %u: unsupported initialiser '%.*s'", tk->line, (int)(tk->len > 40 ? 40 : tk->len), tk->s);
  unsigned sz = sg_type_size(t);
  uint64_t bits = l.bits;
  if (t == T_F32) {
    float f;
    if (l.is_float) f = (float)l.dv;
    else if (l.is_f64bits) { double dd; memcpy(&dd, &l.bits, 8); f = (float)dd; }
    else if (!l.is_f32bits) f = (float)(int64_t)l.bits;
    else { uint32_t b = (uint32_t)l.bits; memcpy(&f, &b, 4); }
    uint32_t b;
    memcpy(&b, &f, 4);
    bits = b;
  } else if (t == T_F64) {
    double dd;
    if (l.is_float) dd = l.dv;
    else if (l.is_f32bits) { float f; uint32_t b = (uint32_t)l.bits; memcpy(&f, &b, 4); dd = f; }
    else if (!l.is_f64bits) dd = (double)(int64_t)l.bits;
    else memcpy(&dd, &l.bits, 8);
    memcpy(&bits, &dd, 8);
  }
  memcpy(dst, &bits, sz > 8 ? 8 : sz); /* little endian host */
  return SG_PTX_OK;
}

static sg_ptx_status parse_init(sg_parser *p, const decl *d, uint8_t **out, uint64_t *count) {
  unsigned esz = sg_type_size(d->type);
  size_t cap = d->unsized ? 64 : d->count * (unsigned)d->vec;
  size_t n = 0;
  uint8_t *buf = calloc(cap ? cap : 1, esz);
  if (!buf) return SG_PTX_ERR_NOMEM;
  int depth = 0;
  sg_ptx_status st = SG_PTX_OK;
  do {
    const sg_tok *t = next(p);
    if (is_punct(t, '{')) { depth++; continue; }
    if (is_punct(t, '}')) { depth--; continue; }
    if (is_punct(t, ',')) continue;
    if (sg_tok_is(t, "generic") && is_punct(peek(p), '(')) { /* generic(var): the same address here */
      next(p);
      t = next(p);
      if (!is_punct(peek(p), ')')) { st = SG_PTX_ERR_PARSE; sg_errf(p->e, "line %u: bad generic()", t->line); break; }
      next(p);
    }
    int neg = 0;
    if (is_punct(t, '-')) { neg = 1; t = next(p); }
    if (t->kind == TK_EOF || is_punct(t, ';')) {
      st = SG_PTX_ERR_PARSE;
      sg_errf(p->e, "line %u: truncated initialiser", t->line);
      break;
    }
    if (n >= cap) {
      if (!d->unsized) { st = SG_PTX_ERR_PARSE; sg_errf(p->e, "line %u: too many initialisers", t->line); break; }
      size_t nc = cap * 2;
      uint8_t *nb = realloc(buf, nc * esz);
      if (!nb || nc > MAX_SHARED) { free(nb ? nb : buf); buf = NULL; st = SG_PTX_ERR_NOMEM; break; }
      memset(nb + cap * esz, 0, (nc - cap) * esz);
      buf = nb;
      cap = nc;
    }
    st = put_init(p, d->type, t, neg, buf + n * esz);
    if (st) break;
    n++;
  } while (depth > 0);
  if (st) { free(buf); return st; }
  *out = buf;
  *count = d->unsized ? (n + (unsigned)d->vec - 1) / (unsigned)d->vec : d->count;
  return SG_PTX_OK;
}

static sg_ptx_status add_gvar(sg_parser *p, int space, int is_extern, const sg_tok *stmt_tok) {
  decl d;
  TRY(parse_decl(p, &d));
  uint8_t *init = NULL;
  uint64_t count = d.count;
  if (accept(p, '=')) TRY(parse_init(p, &d, &init, &count));
  sg_ptx_status est = expect(p, ';');
  if (est) { free(init); return est; }
  sg_ptx_module *m = p->m;
  size_t cap = m->capvars;
  if (grow((void **)&m->vars, sizeof *m->vars, m->nvars + 1, &cap)) { free(init); return SG_PTX_ERR_NOMEM; }
  m->capvars = (int)cap;
  sg_gvar *v = &m->vars[m->nvars];
  memset(v, 0, sizeof *v);
  v->name = tokdup(d.name);
  if (!v->name) { free(init); return SG_PTX_ERR_NOMEM; }
  m->nvars++;
  v->space = space;
  v->align = d.align;
  v->size = (uint64_t)sg_type_size(d.type) * (unsigned)d.vec * count;
  if (space == SP_SHARED) {
    free(init);
    if (is_extern || d.unsized) {
      v->is_extern = 1;
      if (d.align > m->dyn_shared_align) m->dyn_shared_align = d.align;
      return SG_PTX_OK;
    }
    uint64_t off = align_up(m->module_shared_bytes, d.align);
    if (off + v->size > MAX_SHARED) FAIL("line %u: shared memory too large", stmt_tok->line);
    v->addr = off;
    m->module_shared_bytes = (uint32_t)(off + v->size);
    return SG_PTX_OK;
  }
  if (space == SP_LOCAL) { free(init); FAIL("line %u: module-scope .local variables are not supported", stmt_tok->line); }
  if (is_extern) {
    free(init);
    FAIL("line %u: .extern %s variable '%s' cannot be resolved (no linker)", stmt_tok->line,
         space == SP_CONST ? ".const" : ".global", v->name);
  }
  if (d.managed && space != SP_GLOBAL) { free(init); FAIL("line %u: only .global variables can be managed", stmt_tok->line); }
  if (v->size == 0) v->size = 1;
  v->managed = d.managed;
  sg_devptr a;
  /* A managed variable gets whole pages of its own: the host shares them (in-process) or keeps a
   * copy mapped at the same address (vgpu, docs/managed-memory.md), page by page. */
  uint64_t alloc_size = d.managed ? (v->size + SG_PTX_MANAGED_PAGE - 1) / SG_PTX_MANAGED_PAGE * SG_PTX_MANAGED_PAGE : v->size;
  if (sg_mem_init() != 0 || sg_mem_alloc(alloc_size, &a) != 0) { free(init); return SG_PTX_ERR_NOMEM; }
  v->addr = a;
  if (init) {
    uint64_t n = (uint64_t)sg_type_size(d.type) * (unsigned)d.vec * count;
    void *h = sg_mem_check(a, n);
    if (h) memcpy(h, init, n);
    free(init);
  }
  return SG_PTX_OK;
}

/* ---- functions -------------------------------------------------------------------------------- */
static sg_ptx_status get_func(sg_parser *p, const sg_tok *name, int is_entry, sg_func **out) {
  int k = sg_parser_func(p, name->s, name->len);
  if (k >= 0) {
    sg_func *f = p->m->funcs[k];
    if (f->is_entry != is_entry) FAIL("line %u: '%.*s' redeclared with a different kind", name->line, (int)name->len, name->s);
    *out = f;
    return SG_PTX_OK;
  }
  sg_ptx_module *m = p->m;
  size_t cap = m->capfuncs;
  if (grow((void **)&m->funcs, sizeof *m->funcs, m->nfuncs + 1, &cap)) return SG_PTX_ERR_NOMEM;
  m->capfuncs = (int)cap;
  sg_func *f = calloc(1, sizeof *f);
  if (!f) return SG_PTX_ERR_NOMEM;
  f->name = tokdup(name);
  if (!f->name) { free(f); return SG_PTX_ERR_NOMEM; }
  f->is_entry = is_entry;
  m->funcs[m->nfuncs++] = f;
  *out = f;
  return SG_PTX_OK;
}

static void free_params(sg_param *ps, int n) {
  for (int k = 0; k < n; k++) free(ps[k].name);
  free(ps);
}

/* `( .param ... , ... )`: lays the parameters out C-style from *cursor. */
static sg_ptx_status parse_params(sg_parser *p, sg_param **out, int *nout, uint32_t *cursor) {
  sg_param *ps = NULL;
  size_t n = 0, cap = 0;
  sg_ptx_status st = expect(p, '(');
  if (st) return st;
  if (!accept(p, ')')) {
    do {
      const sg_tok *t = next(p);
      if (!sg_tok_is(t, ".param")) {
        sg_errf(p->e, "line %u: only .param parameters are supported", t->line);
        st = SG_PTX_ERR_PARSE;
        break;
      }
      decl d;
      if ((st = parse_decl(p, &d)) != SG_PTX_OK) break;
      if (grow((void **)&ps, sizeof *ps, n + 1, &cap)) { st = SG_PTX_ERR_NOMEM; break; }
      uint64_t off = align_up(*cursor, d.align);
      uint64_t sz = decl_bytes(&d);
      if (off + sz > MAX_FRAME) { sg_errf(p->e, "line %u: parameters too large", t->line); st = SG_PTX_ERR_PARSE; break; }
      ps[n].name = tokdup(d.name);
      if (!ps[n].name) { st = SG_PTX_ERR_NOMEM; break; }
      ps[n].offset = (uint32_t)off;
      ps[n].size = (uint32_t)sz;
      ps[n].align = d.align;
      n++;
      *cursor = (uint32_t)(off + sz);
    } while (accept(p, ','));
    if (st == SG_PTX_OK) st = expect(p, ')');
    if (st) { free_params(ps, (int)n); return st; }
  }
  *out = ps;
  *nout = (int)n;
  return SG_PTX_OK;
}

static sg_ptx_status skip_to(sg_parser *p, char c) {
  while (peek(p)->kind != TK_EOF && !is_punct(peek(p), c)) next(p);
  return expect(p, c);
}

static sg_ptx_status parse_operand(sg_parser *p, sg_opd *o);
static sg_ptx_status parse_body(sg_parser *p);

static int label_cmp(const void *a, const void *b) {
  const sg_tok *x = ((const sg_fixup *)a)->name, *y = ((const sg_fixup *)b)->name;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return memcmp(x->s, y->s, x->len);
}

static sg_ptx_status parse_function(sg_parser *p, int is_entry) {
  sg_func *f;
  sg_param *rets = NULL;
  int nrets = 0;
  uint32_t cursor = 0;
  if (!is_entry && is_punct(peek(p), '(')) TRY(parse_params(p, &rets, &nrets, &cursor));
  const sg_tok *name = next(p);
  if (name->kind != TK_ID) { free_params(rets, nrets); FAIL("line %u: expected a function name", name->line); }
  sg_ptx_status st = get_func(p, name, is_entry, &f);
  if (st) { free_params(rets, nrets); return st; }
  sg_param *params = NULL;
  int nparams = 0;
  if (is_punct(peek(p), '(')) {
    if (is_entry) cursor = 0;
    st = parse_params(p, &params, &nparams, &cursor);
    if (st) { free_params(rets, nrets); return st; }
  }
  free_params(f->params, f->nparams);
  free_params(f->rets, f->nrets);
  f->params = params;
  f->nparams = nparams;
  f->rets = rets;
  f->nrets = nrets;
  if (is_entry) f->param_bytes = cursor;
  /* Performance directives up to the body or ';'. */
  for (;;) {
    const sg_tok *t = peek(p);
    if (is_punct(t, '{') || is_punct(t, ';') || t->kind == TK_EOF) break;
    next(p);
    if (sg_tok_is(t, ".maxnreg") || sg_tok_is(t, ".minnctapersm")) {
      uint64_t v;
      TRY(parse_uint(p, &v));
      *(sg_tok_is(t, ".maxnreg") ? &f->maxnreg : &f->minnctapersm) = v > 65536 ? 65536 : (uint32_t)v;
    } else if (sg_tok_is(t, ".maxntid") || sg_tok_is(t, ".reqntid")) {
      uint32_t *dst = sg_tok_is(t, ".maxntid") ? f->maxntid : f->reqntid;
      dst[0] = dst[1] = dst[2] = 1;
      for (int k = 0; k < 3; k++) {
        uint64_t v;
        TRY(parse_uint(p, &v));
        dst[k] = v > 1024 ? 1024 : (uint32_t)v;
        if (!accept(p, ',')) break;
      }
    }
  }
  if (accept(p, ';')) return SG_PTX_OK;
  if (f->defined) FAIL("line %u: function '%s' defined twice", name->line, f->name);
  f->defined = 1;
  /* Function state. */
  p->fn = f;
  p->nsyms = 0;
  p->nregs = 0;
  if (p->regunits) memset(p->regunits, 0, p->capregunits);
  p->nconst = 0;
  free(p->chash);
  p->chash = NULL;
  p->chcap = 0;
  p->nlabels = 0;
  p->nbrfix = 0;
  p->cc_slot = SG_NO_SLOT;
  sg_parser_const(p, 0);
  sg_parser_const(p, 1);
  f->frame_bytes = is_entry ? 0 : cursor;
  for (int k = 0; k < f->nparams; k++) {
    const sg_param *pa = &f->params[k];
    sg_tok fake = {TK_ID, 0, (uint32_t)strlen(pa->name), name->line, pa->name};
    TRY(add_sym(p, &fake, is_entry ? SYM_KPARAM : SYM_FPARAM, T_B8, pa->offset, 0, pa->size));
  }
  for (int k = 0; k < f->nrets; k++) {
    const sg_param *pa = &f->rets[k];
    sg_tok fake = {TK_ID, 0, (uint32_t)strlen(pa->name), name->line, pa->name};
    TRY(add_sym(p, &fake, SYM_FPARAM, T_B8, pa->offset, 0, pa->size));
  }
  /* Symbol names point into the module's own strings from here on; they must stay valid while the
   * function is parsed, which they do (f->params lives as long as the module). */
  f->pc = p->m->ncode;
  p->fn_pc0 = p->m->ncode;
  TRY(expect(p, '{'));
  TRY(parse_body(p));
  /* Resolve branch labels: sorted once, so huge unrolled bodies stay n log n. */
  if (p->nlabels) qsort(p->labels, p->nlabels, sizeof *p->labels, label_cmp);
  for (size_t k = 0; k < p->nbrfix; k++) {
    const sg_tok *lb = p->brfix[k].name;
    sg_fixup key = {0, lb, 0};
    const sg_fixup *hit = p->nlabels ? bsearch(&key, p->labels, p->nlabels, sizeof *p->labels, label_cmp) : NULL;
    if (!hit) FAIL("line %u: undefined label '%.*s'", lb->line, (int)lb->len, lb->s);
    p->m->code[p->brfix[k].pc].aux = hit->pc;
  }
  /* Final slot numbering: constants first, then registers. */
  uint32_t nc = p->nconst;
  if ((uint64_t)nc + p->nregs > (1u << 24)) FAIL("function '%s': too many registers", f->name);
  for (uint32_t pc = f->pc; pc < p->m->ncode; pc++) {
    sg_insn *in = &p->m->code[pc];
    uint32_t *fields[] = {&in->g, &in->d, &in->a, &in->b, &in->c, &in->e, &in->d2, &in->v[0], &in->v[1], &in->v[2], &in->v[3]};
    for (size_t q = 0; q < sizeof fields / sizeof *fields; q++) {
      uint32_t s = *fields[q];
      if (s == SG_NO_SLOT) continue;
      *fields[q] = (s & SG_CONST_FLAG) ? (s & ~SG_CONST_FLAG) : s + nc;
    }
    if (in->op == SG_OP_TENSOR) {
      sg_tc *tc = &p->m->tc[in->aux];
      uint32_t *vecs[] = {tc->d, tc->a, tc->b, tc->c};
      for (int v = 0; v < 4; v++)
        for (int q = 0; q < 8; q++) {
          uint32_t s = vecs[v][q];
          if (s != SG_NO_SLOT) vecs[v][q] = (s & SG_CONST_FLAG) ? (s & ~SG_CONST_FLAG) : s + nc;
        }
    }
    if (in->op == SG_OP_TEX) {
      sg_tx *tx = &p->m->tx[in->aux];
      uint32_t *slots[] = {&tx->handle, &tx->d[0],  &tx->d[1],  &tx->d[2],  &tx->d[3],  &tx->crd[0], &tx->crd[1],
                           &tx->crd[2], &tx->crd[3], &tx->lod,   &tx->gx[0], &tx->gx[1], &tx->gx[2], &tx->gx[3],
                           &tx->gy[0],  &tx->gy[1],  &tx->gy[2], &tx->gy[3], &tx->pred};
      for (size_t q = 0; q < sizeof slots / sizeof *slots; q++) {
        uint32_t s = *slots[q];
        if (s != SG_NO_SLOT) *slots[q] = (s & SG_CONST_FLAG) ? (s & ~SG_CONST_FLAG) : s + nc;
      }
    }
  }
  f->nconst = nc;
  f->nregs_declared = p->nregs;
  f->regs_live = sg_regs_live_max(p->m, f->pc, p->m->ncode, nc, p->nregs, p->regunits,
                                  p->nregs < p->capregunits ? p->nregs : p->capregunits);
  f->nslots = nc + p->nregs;
  f->consts = malloc(nc * sizeof *f->consts);
  if (!f->consts) return SG_PTX_ERR_NOMEM;
  memcpy(f->consts, p->consts, nc * sizeof *f->consts);
  f->frame_bytes = (uint32_t)align_up(f->frame_bytes, 16);
  /* A body that can fall off its end returns. */
  sg_insn *in = sg_parser_emit(p, peek(p)->line);
  if (!in) return SG_PTX_ERR_NOMEM;
  in->op = SG_OP_RET;
  p->fn = NULL;
  return SG_PTX_OK;
}

/* One qualifier of a register declaration (.b32, or a vector width, which softgpu lacks). */
static sg_ptx_status reg_qualifier(sg_parser *p, const sg_tok *t, int *type) {
  if (sg_tok_is(t, ".v2") || sg_tok_is(t, ".v4")) FAIL("line %u: vector registers are not supported", t->line);
  *type = tok_type(t);
  if (*type == T_NONE) FAIL("line %u: unknown register type '%.*s'", t->line, (int)t->len, t->s);
  return SG_PTX_OK;
}

/* Records the register units of registers [first, first + n) for the register estimate. */
static sg_ptx_status set_units(sg_parser *p, uint32_t first, uint32_t n, int type) {
  uint32_t end = first + n;
  if (end > p->capregunits) {
    uint32_t cap = p->capregunits ? p->capregunits : 256;
    while (cap < end) cap *= 2;
    uint8_t *grown = realloc(p->regunits, cap);
    if (!grown) return SG_PTX_ERR_NOMEM;
    memset(grown + p->capregunits, 0, cap - p->capregunits);
    p->regunits = grown;
    p->capregunits = cap;
  }
  memset(p->regunits + first, (int)sg_regs_units(type), n);
  return SG_PTX_OK;
}

static sg_ptx_status declare_in_body(sg_parser *p, const sg_tok *dir) {
  /* `.reg.b32 f;` with no space (cuda_fp16.h's hsqrt and hexp write it in inline asm) lexes as one
   * token, because '.' continues an identifier; its qualifiers are the parts after ".reg". */
  int joined = dir->len > 4 && memcmp(dir->s, ".reg.", 5) == 0;
  if (joined || sg_tok_is(dir, ".reg")) {
    int type = T_NONE;
    for (uint32_t at = 4; joined && at < dir->len;) {
      uint32_t end = at + 1;
      while (end < dir->len && dir->s[end] != '.') end++;
      sg_tok part = {TK_ID, 0, end - at, dir->line, dir->s + at};
      TRY(reg_qualifier(p, &part, &type));
      at = end;
    }
    while (peek(p)->kind == TK_ID && peek(p)->s[0] == '.') TRY(reg_qualifier(p, next(p), &type));
    if (type == T_NONE) FAIL("line %u: .reg without a type", dir->line);
    do {
      const sg_tok *nm = next(p);
      if (nm->kind != TK_ID) FAIL("line %u: expected a register name", nm->line);
      if (accept(p, '<')) {
        uint64_t n;
        TRY(parse_uint(p, &n));
        TRY(expect(p, '>'));
        if (n > (1u << 20)) FAIL("line %u: register range too large", nm->line);
        TRY(add_sym(p, nm, SYM_REGRANGE, (uint8_t)type, p->nregs, (uint32_t)n, 0));
        TRY(set_units(p, p->nregs, (uint32_t)n, type));
        p->nregs += (uint32_t)n;
      } else {
        TRY(add_sym(p, nm, SYM_REG, (uint8_t)type, p->nregs, 1, 0));
        TRY(set_units(p, p->nregs++, 1, type));
      }
      if (p->nregs > (1u << 22)) FAIL("line %u: too many registers", nm->line);
    } while (accept(p, ','));
    return expect(p, ';');
  }
  if (sg_tok_is(dir, ".param") || sg_tok_is(dir, ".local")) {
    decl d;
    TRY(parse_decl(p, &d));
    if (is_punct(peek(p), '=')) FAIL("line %u: initialised %.*s variables are not supported", dir->line, (int)dir->len, dir->s);
    TRY(expect(p, ';'));
    uint64_t off = align_up(p->fn->frame_bytes, d.align);
    uint64_t sz = decl_bytes(&d);
    if (off + sz > MAX_FRAME) FAIL("line %u: frame too large", dir->line);
    p->fn->frame_bytes = (uint32_t)(off + sz);
    return add_sym(p, d.name, sg_tok_is(dir, ".param") ? SYM_FPARAM : SYM_LOCAL, (uint8_t)d.type, (uint32_t)off, 0,
                   (uint32_t)sz);
  }
  if (sg_tok_is(dir, ".shared")) {
    /* Function-scope shared variables share the module's static layout (see ptx_internal.h). */
    size_t before = (size_t)p->m->nvars;
    TRY(add_gvar(p, SP_SHARED, 0, dir));
    if ((size_t)p->m->nvars != before + 1) return SG_PTX_OK;
    sg_gvar *v = &p->m->vars[p->m->nvars - 1];
    sg_tok fake = {TK_ID, 0, (uint32_t)strlen(v->name), dir->line, v->name};
    return add_sym(p, &fake, SYM_SHARED, T_B8, (uint32_t)(p->m->nvars - 1), 0, 0);
  }
  if (sg_tok_is(dir, ".pragma") || sg_tok_is(dir, ".loc") || sg_tok_is(dir, ".file") || sg_tok_is(dir, ".callprototype") ||
      sg_tok_is(dir, ".maxnreg") || sg_tok_is(dir, ".section")) {
    if (sg_tok_is(dir, ".loc") || sg_tok_is(dir, ".file")) {
      uint32_t line = dir->line;
      while (peek(p)->kind != TK_EOF && peek(p)->line == line && !is_punct(peek(p), ';')) next(p);
      accept(p, ';');
      return SG_PTX_OK;
    }
    return skip_to(p, ';');
  }
  FAIL("line %u: unsupported directive '%.*s' in function body", dir->line, (int)dir->len, dir->s);
}

static sg_ptx_status parse_body(sg_parser *p) {
  size_t scope[64];
  int depth = 0;
  for (;;) {
    const sg_tok *t = peek(p);
    if (t->kind == TK_EOF) FAIL("line %u: unexpected end of file in function body", t->line);
    if (is_punct(t, '}')) {
      next(p);
      if (depth == 0) return SG_PTX_OK;
      p->nsyms = scope[--depth];
      continue;
    }
    if (is_punct(t, '{')) {
      next(p);
      if (depth == 64) FAIL("line %u: blocks nested too deeply", t->line);
      scope[depth++] = p->nsyms;
      continue;
    }
    if (t->kind == TK_ID && is_punct(&p->t[p->i + 1], ':')) {
      if (grow((void **)&p->labels, sizeof *p->labels, p->nlabels + 1, &p->caplabels)) return SG_PTX_ERR_NOMEM;
      p->labels[p->nlabels++] = (sg_fixup){p->m->ncode, t, 0};
      p->i += 2;
      continue;
    }
    if (t->kind == TK_ID && t->s[0] == '.') {
      next(p);
      TRY(declare_in_body(p, t));
      continue;
    }
    /* Instruction. */
    const sg_tok *guard = NULL;
    int gneg = 0;
    if (accept(p, '@')) {
      if (accept(p, '!')) gneg = 1;
      guard = next(p);
      if (guard->kind != TK_ID) FAIL("line %u: expected a predicate after '@'", guard->line);
    }
    const sg_tok *opc = next(p);
    if (opc->kind != TK_ID)
      FAIL("line %u: expected an instruction near '%.*s'", opc->line, (int)(opc->len > 40 ? 40 : opc->len), opc->s);
    sg_opd ops[8];
    int nops = 0;
    if (!is_punct(peek(p), ';')) {
      do {
        if (nops == 8) FAIL("line %u: too many operands", opc->line);
        TRY(parse_operand(p, &ops[nops]));
        nops++;
      } while (accept(p, ','));
    }
    TRY(expect(p, ';'));
    TRY(sg_decode_insn(p, guard, gneg, opc, ops, nops));
  }
}

/* ---- operands --------------------------------------------------------------------------------- */
static const struct { const char *name; int sr; } sregs[] = {
  {"%tid.x", SR_TID_X}, {"%tid.y", SR_TID_Y}, {"%tid.z", SR_TID_Z}, {"%ntid.x", SR_NTID_X},
  {"%ntid.y", SR_NTID_Y}, {"%ntid.z", SR_NTID_Z}, {"%ctaid.x", SR_CTAID_X}, {"%ctaid.y", SR_CTAID_Y},
  {"%ctaid.z", SR_CTAID_Z}, {"%nctaid.x", SR_NCTAID_X}, {"%nctaid.y", SR_NCTAID_Y}, {"%nctaid.z", SR_NCTAID_Z},
  {"%laneid", SR_LANEID}, {"%warpid", SR_WARPID}, {"%nwarpid", SR_NWARPID}, {"%smid", SR_SMID},
  {"%nsmid", SR_NSMID}, {"%gridid", SR_GRIDID}, {"%clock", SR_CLOCK}, {"%clock64", SR_CLOCK64},
  {"%globaltimer", SR_GLOBALTIMER}, {"%globaltimer_lo", SR_GLOBALTIMER}, {"%lanemask_eq", SR_LANEMASK_EQ},
  {"%lanemask_lt", SR_LANEMASK_LT}, {"%lanemask_le", SR_LANEMASK_LE}, {"%lanemask_gt", SR_LANEMASK_GT},
  {"%lanemask_ge", SR_LANEMASK_GE}, {"%dynamic_smem_size", SR_DYNSMEM}, {"%total_smem_size", SR_TOTALSMEM},
  {"WARP_SZ", SR_WARPSZ},
};

/* %envreg0 .. %envreg31: their number, or -1 for any other name. */
static int envreg_number(const sg_tok *t) {
  if (t->len < 8 || t->len > 9 || memcmp(t->s, "%envreg", 7) != 0) return -1;
  unsigned n = 0;
  for (uint32_t k = 7; k < t->len; k++) {
    if (t->s[k] < '0' || t->s[k] > '9') return -1;
    n = n * 10 + (unsigned)(t->s[k] - '0');
  }
  return n < 32 && !(t->len == 9 && t->s[7] == '0') ? (int)n : -1;
}

static sg_ptx_status resolve_reg(sg_parser *p, const sg_tok *t, sg_opd *o) {
  uint32_t slot;
  const sg_sym *y = sg_parser_lookup(p, t->s, t->len, &slot);
  if (y && (y->kind == SYM_REG || y->kind == SYM_REGRANGE)) {
    o->kind = OPD_REG;
    o->slot = slot;
    o->rtype = y->type;
    return SG_PTX_OK;
  }
  for (size_t k = 0; k < sizeof sregs / sizeof *sregs; k++)
    if (sg_tok_is(t, sregs[k].name)) {
      o->kind = OPD_SREG;
      o->slot = (uint32_t)sregs[k].sr;
      return SG_PTX_OK;
    }
  int env = envreg_number(t);
  if (env >= 0) {
    /* Driver-defined. The only known use is cooperative groups' grid workspace pointer in
     * %envreg1 (high half) : %envreg2 (low half), which the driver sets for cooperative launches
     * only (NULL otherwise, so this_grid().is_valid() is false); the others read 0. */
    o->kind = OPD_SREG;
    o->slot = env == 1 ? SR_ENVREG1 : env == 2 ? SR_ENVREG2 : SR_ZERO;
    return SG_PTX_OK;
  }
  if (t->s[0] == '%') FAIL("line %u: undeclared register '%.*s'", t->line, (int)t->len, t->s);
  o->kind = OPD_SYM;
  o->sym = t;
  return SG_PTX_OK;
}

static sg_ptx_status parse_operand(sg_parser *p, sg_opd *o) {
  memset(o, 0, sizeof *o);
  o->slot2 = SG_NO_SLOT;
  const sg_tok *t = next(p);
  if (is_punct(t, '!')) {
    o->neg = 1;
    t = next(p);
  }
  if (is_punct(t, '-') || t->kind == TK_NUM) {
    int neg = 0;
    if (is_punct(t, '-')) { neg = 1; t = next(p); }
    if (t->kind != TK_NUM || sg_parse_lit(t->s, t->len, neg, &o->lit))
      FAIL("line %u: bad number '%.*s'", t->line, (int)t->len, t->s);
    o->kind = OPD_IMM;
    return SG_PTX_OK;
  }
  if (is_punct(t, '{')) {
    o->kind = OPD_VEC;
    do {
      const sg_tok *r = next(p);
      if (o->nvec == 8) FAIL("line %u: vector too long", r->line);
      if (sg_tok_is(r, "_")) { o->vec[o->nvec++] = SG_NO_SLOT; continue; }
      if (r->kind == TK_NUM || is_punct(r, '-')) { /* immediate element: {0, %rs2} */
        int neg = is_punct(r, '-');
        if (neg) r = next(p);
        sg_lit l;
        if (r->kind != TK_NUM || sg_parse_lit(r->s, r->len, neg, &l) || l.is_float)
          FAIL("line %u: bad number in vector", r->line);
        uint32_t k = sg_parser_const(p, l.bits);
        if (k == SG_NO_SLOT) return SG_PTX_ERR_NOMEM;
        o->vec[o->nvec++] = k;
        continue;
      }
      sg_opd tmp;
      memset(&tmp, 0, sizeof tmp);
      if (r->kind != TK_ID) FAIL("line %u: expected a register in vector", r->line);
      TRY(resolve_reg(p, r, &tmp));
      if (tmp.kind != OPD_REG) FAIL("line %u: vector elements must be registers", r->line);
      o->vec[o->nvec++] = tmp.slot;
    } while (accept(p, ','));
    TRY(expect(p, '}'));
    if (accept(p, '|')) { /* {d..}|%p: a sparse texture fetch's residency predicate */
      const sg_tok *r = next(p);
      sg_opd tmp;
      memset(&tmp, 0, sizeof tmp);
      if (r->kind != TK_ID) FAIL("line %u: expected a register after '|'", r->line);
      TRY(resolve_reg(p, r, &tmp));
      if (tmp.kind != OPD_REG) FAIL("line %u: '|' needs a register", r->line);
      o->slot2 = tmp.slot;
      o->rtype = tmp.rtype;
    }
    return SG_PTX_OK;
  }
  if (is_punct(t, '(')) {
    o->kind = OPD_LIST;
    if (accept(p, ')')) return SG_PTX_OK;
    do {
      const sg_tok *r = next(p);
      if (r->kind != TK_ID) FAIL("line %u: expected a name in call list", r->line);
      if (o->nlist == 64) FAIL("line %u: too many call arguments", r->line);
      o->list[o->nlist++] = r;
    } while (accept(p, ','));
    return expect(p, ')');
  }
  if (is_punct(t, '[')) {
    o->kind = OPD_ADDR;
    const sg_tok *b = next(p);
    if (b->kind == TK_ID) {
      sg_opd tmp;
      memset(&tmp, 0, sizeof tmp);
      TRY(resolve_reg(p, b, &tmp));
      if (tmp.kind == OPD_REG) { o->addr_has_reg = 1; o->slot = tmp.slot; o->rtype = tmp.rtype; }
      else if (tmp.kind == OPD_SYM) o->sym = b;
      else FAIL("line %u: special register in address", b->line);
    } else if (b->kind == TK_NUM) {
      sg_lit l;
      if (sg_parse_lit(b->s, b->len, 0, &l) || l.is_float) FAIL("line %u: bad address", b->line);
      o->off = (int64_t)l.bits;
    } else {
      FAIL("line %u: bad address", b->line);
    }
    while (is_punct(peek(p), '+') || is_punct(peek(p), '-')) {
      int neg = next(p)->ch == '-';
      if (accept(p, '-')) neg = !neg;
      const sg_tok *n = next(p);
      sg_lit l;
      if (n->kind != TK_NUM || sg_parse_lit(n->s, n->len, neg, &l) || l.is_float) FAIL("line %u: bad address offset", n->line);
      o->off += (int64_t)l.bits;
    }
    if (accept(p, ',')) {
      /* [tex, {x, y}] (texture and surface instructions): the coordinates go to vec. The form with
       * a separate sampler, [tex, smp, {x, y}], is skipped and decodes as unsupported. */
      o->addr_complex = 1;
      if (is_punct(peek(p), '{')) {
        sg_opd crd;
        TRY(parse_operand(p, &crd));
        memcpy(o->vec, crd.vec, sizeof o->vec);
        o->nvec = crd.nvec;
      } else {
        o->addr_complex = 2;
        int depth = 0;
        while (peek(p)->kind != TK_EOF && !(depth == 0 && is_punct(peek(p), ']'))) {
          const sg_tok *k = next(p);
          if (is_punct(k, '{')) depth++;
          else if (is_punct(k, '}')) depth--;
          else if (is_punct(k, ';')) FAIL("line %u: unterminated address", k->line);
        }
      }
    }
    return expect(p, ']');
  }
  if (t->kind != TK_ID) FAIL("line %u: unexpected '%.*s' in operand", t->line, (int)(t->len > 40 ? 40 : t->len), t->s);
  TRY(resolve_reg(p, t, o));
  if (accept(p, '|')) {
    const sg_tok *r = next(p);
    sg_opd tmp;
    memset(&tmp, 0, sizeof tmp);
    if (r->kind != TK_ID) FAIL("line %u: expected a register after '|'", r->line);
    TRY(resolve_reg(p, r, &tmp));
    if (tmp.kind != OPD_REG || o->kind != OPD_REG) FAIL("line %u: '|' needs two registers", r->line);
    o->slot2 = tmp.slot;
  }
  return SG_PTX_OK;
}

/* ---- module ----------------------------------------------------------------------------------- */
sg_ptx_status sg_ptx_parse(const char *src, size_t len, sg_ptx_module *m, sg_err *e) {
  sg_parser P;
  memset(&P, 0, sizeof P);
  sg_parser *p = &P;
  p->m = m;
  p->e = e;
  sg_ptx_status st = sg_lex(src, len, &p->t, &p->nt, e);
  if (st) return st;
  m->dyn_shared_align = 16;
  while (peek(p)->kind != TK_EOF && st == SG_PTX_OK) {
    const sg_tok *t = next(p);
    if (sg_tok_is(t, ".version")) {
      const sg_tok *v = next(p);
      if (v->kind != TK_NUM) { st = SG_PTX_ERR_PARSE; sg_errf(e, "line %u: bad .version", v->line); break; }
      unsigned maj = 0, min = 0;
      if (sscanf(v->s, "%u.%u", &maj, &min) < 1 || maj > 99 || min > 9) {
        st = SG_PTX_ERR_PARSE;
        sg_errf(e, "line %u: bad .version", v->line);
        break;
      }
      m->ptx_version = (int)(maj * 10 + min);
    } else if (sg_tok_is(t, ".target")) {
      do {
        const sg_tok *v = next(p);
        if (v->kind == TK_ID && v->len > 3 && memcmp(v->s, "sm_", 3) == 0) m->sm = atoi(v->s + 3);
      } while (accept(p, ','));
    } else if (sg_tok_is(t, ".address_size")) {
      uint64_t a = 0;
      st = parse_uint(p, &a);
      if (!st && a != 64) { st = SG_PTX_ERR_UNSUPPORTED; sg_errf(e, "line %u: only .address_size 64 is supported", t->line); }
    } else if (sg_tok_is(t, ".file") || sg_tok_is(t, ".loc")) {
      uint32_t line = t->line;
      while (peek(p)->kind != TK_EOF && peek(p)->line == line) next(p);
    } else if (sg_tok_is(t, ".section")) {
      /* DWARF sections from -G/-lineinfo: skip the balanced braces. */
      while (peek(p)->kind != TK_EOF && !is_punct(peek(p), '{')) next(p);
      int depth = 0;
      do {
        const sg_tok *k = next(p);
        if (is_punct(k, '{')) depth++;
        else if (is_punct(k, '}')) depth--;
        else if (k->kind == TK_EOF) break;
      } while (depth > 0);
    } else if (sg_tok_is(t, ".pragma")) {
      st = skip_to(p, ';');
    } else {
      int is_extern = 0;
      while (sg_tok_is(t, ".visible") || sg_tok_is(t, ".extern") || sg_tok_is(t, ".weak") || sg_tok_is(t, ".common")) {
        if (sg_tok_is(t, ".extern")) is_extern = 1;
        t = next(p);
      }
      if (sg_tok_is(t, ".entry")) st = parse_function(p, 1);
      else if (sg_tok_is(t, ".func")) st = parse_function(p, 0);
      else if (sg_tok_is(t, ".global")) st = add_gvar(p, SP_GLOBAL, is_extern, t);
      else if (sg_tok_is(t, ".const")) st = add_gvar(p, SP_CONST, is_extern, t);
      else if (sg_tok_is(t, ".shared")) st = add_gvar(p, SP_SHARED, is_extern, t);
      else if (sg_tok_is(t, ".local")) st = add_gvar(p, SP_LOCAL, is_extern, t);
      else {
        st = SG_PTX_ERR_PARSE;
        sg_errf(e, "line %u: unexpected '%.*s' at module scope", t->line, (int)(t->len > 40 ? 40 : t->len), t->s);
      }
    }
  }
  if (st == SG_PTX_OK && m->ptx_version == 0) { st = SG_PTX_ERR_PARSE; sg_errf(e, "missing .version directive"); }
  /* Call targets. Calls to declared-only functions stay unresolved and fail when executed, except
   * calls into the device runtime, which fail the load. */
  for (size_t k = 0; st == SG_PTX_OK && k < p->ncallfix; k++) {
    const sg_tok *nm = p->callfix[k].name;
    if (!nm) { /* indirect call site: may reach any function */
      sg_func *caller = m->funcs[p->callfix[k].fn];
      if (sg_u32_set_add(&caller->callees, &caller->ncallees, &caller->capcallees, UINT32_MAX)) {
        st = SG_PTX_ERR_NOMEM;
        break;
      }
      continue;
    }
    int fi = sg_parser_func(p, nm->s, nm->len);
    if (fi < 0) {
      st = SG_PTX_ERR_PARSE;
      sg_errf(e, "line %u: call to undeclared function '%.*s'", nm->line, (int)nm->len, nm->s);
      break;
    }
    sg_insn *in = &m->code[p->callfix[k].pc];
    sg_callsite *cs = &m->calls[in->imm];
    cs->callee = (uint32_t)fi;
    sg_func *caller = m->funcs[p->callfix[k].fn];
    if (sg_u32_set_add(&caller->callees, &caller->ncallees, &caller->capcallees, (uint32_t)fi)) {
      st = SG_PTX_ERR_NOMEM;
      break;
    }
    const sg_func *f = m->funcs[fi];
    int bi = f->defined ? SG_BI_NONE : sg_builtin_lookup(f->name);
    if (bi != SG_BI_NONE) {
      in->op = SG_OP_BUILTIN;
      in->aux = (uint32_t)bi;
    } else if (!f->defined && sg_builtin_is_device_runtime(f->name)) {
      /* A real driver's JIT fails such a module at load (ptxas: "Unresolved extern function",
       * CUDA_ERROR_INVALID_PTX) unless the device runtime was linked in; refusing here, rather
       * than at the first call, gives the program the driver's error at the driver's moment. */
      st = SG_PTX_ERR_DEVICE_RUNTIME;
      sg_errf(e, "line %u: Unresolved extern function '%s': device-side launches and the device runtime "
              "(dynamic parallelism, nvcc -rdc with libcudadevrt) are not supported by softgpu",
              in->line, f->name);
    } else if (!f->defined) {
      char msg[300];
      snprintf(msg, sizeof msg, "call to external function %s", f->name);
      int ni = sg_module_add_name(m, msg, strlen(msg));
      if (ni < 0) { st = SG_PTX_ERR_NOMEM; break; }
      in->op = SG_OP_UNSUPPORTED;
      in->aux = (uint32_t)ni;
    } else if (cs->nargs != (uint32_t)f->nparams || cs->nrets != (uint32_t)f->nrets) {
      st = SG_PTX_ERR_PARSE;
      sg_errf(e, "line %u: call to '%s' with %u arguments/%u results, expected %d/%d", in->line, f->name, cs->nargs,
              cs->nrets, f->nparams, f->nrets);
    }
  }
  free(p->t);
  free(p->syms);
  free(p->consts);
  free(p->chash);
  free(p->labels);
  free(p->regunits);
  free(p->brfix);
  free(p->callfix);
  return st;
}
