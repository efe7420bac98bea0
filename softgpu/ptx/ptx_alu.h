/*
 * The interpreter's general arithmetic path (ptx_alu.c) and value helpers.
 */
#ifndef SG_PTX_ALU_H
#define SG_PTX_ALU_H

#include "ptx_internal.h"

float sg_f32(uint64_t v);
uint64_t sg_bits32(float f);
double sg_f64(uint64_t v);
uint64_t sg_bits64(double d);

/* Result of in->op on a, b, c (e: 4th source); cc is the carry register for .cc/addc/subc. */
uint64_t sg_alu(const sg_insn *in, uint64_t a, uint64_t b, uint64_t c, uint64_t e, uint64_t *cc);
/* setp/set comparison of a and b as type t. */
int sg_compare(int cmp, int t, uint64_t a, uint64_t b);

#endif
