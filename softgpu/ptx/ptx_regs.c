/*
 * The register count a kernel reports (CU_FUNC_ATTRIBUTE_NUM_REGS), estimated from its code the
 * way a register allocator sees it: PTX registers are virtual (nvcc declares one per value), so
 * the count is the most 32-bit registers live at once, not how many were declared. Liveness is
 * taken over the code in its order: a register is live from its first to its last mention, and a
 * register live into a loop (mentioned before its head and inside it) stays live to the loop's
 * back edge. Predicates live in registers of their own and are not counted, 64-bit registers
 * count twice. The result is an estimate, not ptxas's number: ptx_module.c caps it with the
 * budget ptxas would have (.maxnreg, the launch bounds).
 */
#include <stdlib.h>

#include "ptx_front.h"

/* 32-bit register units of a register of type t (predicates: none). */
unsigned sg_regs_units(int t) {
  if (t == T_PRED || t == T_NONE) return 0;
  unsigned n = (sg_type_size(t) + 3) / 4;
  return n ? n : 1;
}

static void mention(uint32_t s, uint32_t nc, uint32_t nregs, uint32_t at, uint32_t *first, uint32_t *last) {
  if (s == SG_NO_SLOT || s < nc || s - nc >= nregs) return;
  uint32_t r = s - nc;
  if (first[r] == UINT32_MAX) first[r] = at;
  last[r] = at;
}

uint32_t sg_regs_live_max(const sg_ptx_module *m, uint32_t pc0, uint32_t end, uint32_t nc, uint32_t nregs,
                          const uint8_t *units, uint32_t nunits) {
  if (end <= pc0 || nregs == 0) return 0;
  uint32_t n = end - pc0, best = 0;
  uint32_t *first = malloc(nregs * sizeof *first), *last = malloc(nregs * sizeof *last);
  int64_t *delta = calloc((size_t)n + 1, sizeof *delta);
  if (!first || !last || !delta) goto out;
  for (uint32_t r = 0; r < nregs; r++) first[r] = UINT32_MAX, last[r] = 0;
  for (uint32_t pc = pc0; pc < end; pc++) {
    const sg_insn *in = &m->code[pc];
    const uint32_t fields[] = {in->g, in->d, in->a, in->b, in->c, in->e, in->d2, in->v[0], in->v[1], in->v[2], in->v[3]};
    for (size_t q = 0; q < sizeof fields / sizeof *fields; q++) mention(fields[q], nc, nregs, pc - pc0, first, last);
    if (in->op == SG_OP_TENSOR) {
      const sg_tc *tc = &m->tc[in->aux];
      for (int k = 0; k < 8; k++) {
        mention(tc->d[k], nc, nregs, pc - pc0, first, last);
        mention(tc->a[k], nc, nregs, pc - pc0, first, last);
        mention(tc->b[k], nc, nregs, pc - pc0, first, last);
        mention(tc->c[k], nc, nregs, pc - pc0, first, last);
      }
    }
  }
  for (uint32_t pc = pc0; pc < end; pc++) {
    const sg_insn *in = &m->code[pc];
    if (in->op != SG_OP_BRA || in->aux >= pc || in->aux < pc0) continue;
    uint32_t head = in->aux - pc0, back = pc - pc0;
    for (uint32_t r = 0; r < nregs; r++)
      if (first[r] < head && last[r] >= head && last[r] < back) last[r] = back;
  }
  for (uint32_t r = 0; r < nregs && r < nunits; r++) {
    if (first[r] == UINT32_MAX || !units[r]) continue;
    delta[first[r]] += units[r];
    delta[last[r] + 1] -= units[r];
  }
  int64_t live = 0;
  for (uint32_t i = 0; i < n; i++) {
    live += delta[i];
    if (live > (int64_t)best) best = (uint32_t)live;
  }
out:
  free(first), free(last), free(delta);
  return best;
}
