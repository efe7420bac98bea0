/*
 * Front-end internals shared by ptx_lex.c, ptx_parse.c and ptx_decode.c: tokens, the parser's
 * state and the operand form the decoder consumes.
 */
#ifndef SG_PTX_FRONT_H
#define SG_PTX_FRONT_H

#include "ptx_internal.h"

enum { TK_EOF = 0, TK_ID, TK_NUM, TK_STR, TK_PUNCT };

typedef struct sg_tok {
  uint8_t kind;
  char ch;       /* TK_PUNCT */
  uint32_t len;
  uint32_t line;
  const char *s;
} sg_tok;

sg_ptx_status sg_lex(const char *src, size_t len, sg_tok **out, size_t *ntok, sg_err *e);
int sg_tok_is(const sg_tok *t, const char *s);

/* A parsed numeric literal. */
typedef struct sg_lit {
  int is_float;      /* decimal with '.'/exponent */
  int is_f32bits;    /* 0fXXXXXXXX */
  int is_f64bits;    /* 0dXXXXXXXXXXXXXXXX */
  uint64_t bits;     /* integer value or raw float bits */
  double dv;         /* decimal float value */
} sg_lit;
int sg_parse_lit(const char *s, size_t n, int neg, sg_lit *out);

/* Function-scope symbols. */
enum { SYM_REG = 1, SYM_REGRANGE, SYM_FPARAM, SYM_KPARAM, SYM_LOCAL, SYM_SHARED };
typedef struct sg_sym {
  const char *name;
  uint32_t nlen;
  uint8_t kind;
  uint8_t type;
  uint32_t slot;    /* regs: first slot; params/locals: frame or buffer offset */
  uint32_t count;   /* ranges */
  uint32_t size;
} sg_sym;

enum { OPD_NONE = 0, OPD_REG, OPD_IMM, OPD_ADDR, OPD_VEC, OPD_SYM, OPD_LIST, OPD_SREG };
typedef struct sg_opd {
  uint8_t kind;
  uint8_t neg;      /* !%p */
  uint8_t rtype;    /* OPD_REG: declared register type */
  uint32_t slot;    /* OPD_REG (parse-time slot); OPD_SREG: SR_* */
  uint32_t slot2;   /* p|q second register, or SG_NO_SLOT */
  sg_lit lit;       /* OPD_IMM */
  /* OPD_ADDR: base is a register (slot), a symbol (sym), or absent; plus offset */
  int addr_has_reg;
  int addr_complex;  /* texture/surface form [handle, {coords}]: parsed, never executed */
  const sg_tok *sym;  /* OPD_SYM or address symbol */
  int64_t off;
  uint32_t vec[8];  /* OPD_VEC slots (SG_NO_SLOT for '_'); 8 for tensor-core fragments */
  int nvec;
  const sg_tok *list[64]; /* OPD_LIST names */
  int nlist;
} sg_opd;

#define SG_CONST_FLAG 0x80000000u

typedef struct sg_fixup {
  uint32_t pc;
  const sg_tok *name;
  uint32_t fn; /* call fixups: index of the calling function */
} sg_fixup;

typedef struct sg_parser {
  sg_ptx_module *m;
  sg_err *e;
  sg_tok *t;
  size_t nt, i;
  /* current function */
  sg_func *fn;
  sg_sym *syms;
  size_t nsyms, capsyms;
  uint32_t nregs;          /* parse-time register slots */
  uint8_t *regunits;       /* 32-bit units of each declared register (0: predicate or temporary) */
  uint32_t capregunits;
  uint64_t *consts;
  uint32_t nconst, capconst;
  uint32_t *chash, chcap;  /* open-addressing index of consts (entries are index + 1) */
  sg_fixup *labels, *brfix;
  size_t nlabels, caplabels, nbrfix, capbrfix;
  uint32_t cc_slot;        /* carry flag register, SG_NO_SLOT until used */
  uint32_t fn_pc0;
  /* module-wide call fixups (callee names) */
  sg_fixup *callfix;
  size_t ncallfix, capcallfix;
} sg_parser;

sg_ptx_status sg_decode_insn(sg_parser *p, const sg_tok *guard, int gneg, const sg_tok *opc, sg_opd *ops, int nops);
uint32_t sg_parser_const(sg_parser *p, uint64_t v);
/* A constant slot of its own (never merged with equal values), for values patched later. */
uint32_t sg_parser_const_private(sg_parser *p, uint64_t v);
uint32_t sg_parser_newreg(sg_parser *p);
/* ptx_regs.c: 32-bit register units of a register of type t, and the most units live at once in
 * code [pc0, end) whose slots are renumbered (constants below nc, then nregs registers). */
unsigned sg_regs_units(int t);
uint32_t sg_regs_live_max(const sg_ptx_module *m, uint32_t pc0, uint32_t end, uint32_t nc, uint32_t nregs,
                          const uint8_t *units, uint32_t nunits);
sg_insn *sg_parser_emit(sg_parser *p, uint32_t line);
const sg_sym *sg_parser_lookup(sg_parser *p, const char *s, size_t n, uint32_t *slot);
const sg_gvar *sg_parser_gvar(sg_parser *p, const char *s, size_t n);
int sg_parser_func(sg_parser *p, const char *s, size_t n);

#endif
