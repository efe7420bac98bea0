/*
 * Module lifetime and queries (sg_ptx_load/unload, kernels, globals, parameter layout, attributes)
 * and the small type table the front end and interpreter share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_internal.h"

const char *const sg_op_names[SG_OP__COUNT] = {
#define X(n) #n,
  SG_OPS(X)
#undef X
};

static const struct { const char *name; unsigned size; int sign; int fl; } types[T__COUNT] = {
  [T_B8] = {"b8", 1, 0, 0},     [T_B16] = {"b16", 2, 0, 0},   [T_B32] = {"b32", 4, 0, 0},
  [T_B64] = {"b64", 8, 0, 0},   [T_B128] = {"b128", 16, 0, 0}, [T_U8] = {"u8", 1, 0, 0},
  [T_U16] = {"u16", 2, 0, 0},   [T_U32] = {"u32", 4, 0, 0},   [T_U64] = {"u64", 8, 0, 0},
  [T_S8] = {"s8", 1, 1, 0},     [T_S16] = {"s16", 2, 1, 0},   [T_S32] = {"s32", 4, 1, 0},
  [T_S64] = {"s64", 8, 1, 0},   [T_F16] = {"f16", 2, 1, 1},   [T_F16X2] = {"f16x2", 4, 1, 1},
  [T_BF16] = {"bf16", 2, 1, 1}, [T_BF16X2] = {"bf16x2", 4, 1, 1}, [T_F32] = {"f32", 4, 1, 1},
  [T_F64] = {"f64", 8, 1, 1},   [T_PRED] = {"pred", 1, 0, 0},
};

int sg_type_from_name(const char *s, size_t n) {
  for (int t = 1; t < T__COUNT; t++)
    if (strlen(types[t].name) == n && memcmp(types[t].name, s, n) == 0) return t;
  return T_NONE;
}
unsigned sg_type_size(int t) { return t > 0 && t < T__COUNT ? types[t].size : 0; }
int sg_type_is_signed(int t) { return t > 0 && t < T__COUNT && types[t].sign; }
int sg_type_is_float(int t) { return t > 0 && t < T__COUNT && types[t].fl; }

int sg_module_add_name(sg_ptx_module *m, const char *s, size_t n) {
  if (m->nnames == m->capnames) {
    uint32_t nc = m->capnames ? m->capnames * 2 : 8;
    char **a = realloc(m->names, nc * sizeof *a);
    if (!a) return -1;
    m->names = a;
    m->capnames = nc;
  }
  char *c = malloc(n + 1);
  if (!c) return -1;
  memcpy(c, s, n);
  c[n] = 0;
  m->names[m->nnames] = c;
  return (int)m->nnames++;
}

int sg_u32_set_add(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v) {
  for (uint32_t k = 0; k < *n; k++)
    if ((*arr)[k] == v) return 0;
  if (*n == *cap) {
    uint32_t nc = *cap ? *cap * 2 : 8;
    uint32_t *a = realloc(*arr, nc * sizeof *a);
    if (!a) return -1;
    *arr = a;
    *cap = nc;
  }
  (*arr)[(*n)++] = v;
  return 0;
}

/* Static shared memory of kernel f: every shared variable referenced by it or anything it may
 * call (an indirect call may reach any function). All static shared variables of a module share
 * one layout, so this is what the kernel needs, not where its variables sit. */
static sg_ptx_status kernel_shared(sg_ptx_module *m, sg_func *f) {
  uint8_t *seen_fn = calloc((size_t)m->nfuncs + 1, 1), *seen_var = calloc((size_t)m->nvars + 1, 1);
  uint32_t *stack = malloc(((size_t)m->nfuncs + 1) * sizeof *stack);
  if (!seen_fn || !seen_var || !stack) {
    free(seen_fn);
    free(seen_var);
    free(stack);
    return SG_PTX_ERR_NOMEM;
  }
  uint32_t top = 0, fi = 0;
  while ((int)fi < m->nfuncs && m->funcs[fi] != f) fi++;
  stack[top++] = fi;
  seen_fn[fi] = 1;
  uint64_t bytes = 0;
  while (top) {
    const sg_func *g = m->funcs[stack[--top]];
    for (uint32_t k = 0; k < g->nshared_refs; k++) {
      uint32_t v = g->shared_refs[k];
      if ((int)v < m->nvars && !seen_var[v]) {
        seen_var[v] = 1;
        uint64_t a = m->vars[v].align ? m->vars[v].align : 1;
        bytes = (bytes + a - 1) / a * a + m->vars[v].size;
      }
    }
    for (uint32_t k = 0; k < g->ncallees; k++) {
      uint32_t c = g->callees[k];
      for (uint32_t j = 0; j < (uint32_t)m->nfuncs; j++) { /* UINT32_MAX: every function */
        if (c != UINT32_MAX && j != c) continue;
        if (!seen_fn[j]) { seen_fn[j] = 1; stack[top++] = j; }
      }
    }
  }
  f->shared_bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
  free(seen_fn);
  free(seen_var);
  free(stack);
  return SG_PTX_OK;
}

void sg_ptx_unload(sg_ptx_module *m) {
  if (!m) return;
  for (int k = 0; k < m->nfuncs; k++) {
    sg_func *f = m->funcs[k];
    for (int j = 0; j < f->nparams; j++) free(f->params[j].name);
    for (int j = 0; j < f->nrets; j++) free(f->rets[j].name);
    free(f->params);
    free(f->rets);
    free(f->consts);
    free(f->shared_refs);
    free(f->callees);
    free(f->name);
    free(f);
  }
  for (int k = 0; k < m->nvars; k++) {
    if ((m->vars[k].space == SP_GLOBAL || m->vars[k].space == SP_CONST) && m->vars[k].addr)
      sg_mem_free(m->vars[k].addr);
    free(m->vars[k].name);
  }
  for (uint32_t k = 0; k < m->ncalls; k++) {
    free(m->calls[k].arg_off);
    free(m->calls[k].ret_off);
  }
  for (uint32_t k = 0; k < m->nnames; k++) free(m->names[k]);
  free(m->names);
  free(m->tc);
  free(m->tx);
  free(m->patches);
  free(m->calls);
  free(m->vars);
  free(m->funcs);
  free(m->code);
  free(m->kernels);
  free(m);
}

sg_ptx_status sg_ptx_load(const char *ptx, size_t len, sg_ptx_module **out, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!ptx || !out) return SG_PTX_ERR_PARSE;
  *out = NULL;
  sg_ptx_module *m = calloc(1, sizeof *m);
  if (!m) return SG_PTX_ERR_NOMEM;
  sg_err e = {err, errlen};
  sg_ptx_status st = sg_ptx_parse(ptx, len, m, &e);
  if (st == SG_PTX_OK) {
    uint64_t a = m->dyn_shared_align ? m->dyn_shared_align : 16;
    m->dyn_base = (uint32_t)((m->module_shared_bytes + a - 1) / a * a);
    for (uint32_t k = 0; k < m->npatch; k++) {
      const struct sg_patch *pt = &m->patches[k];
      if (pt->is_const) {
        if ((int)pt->fn < m->nfuncs && pt->idx < m->funcs[pt->fn]->nconst) m->funcs[pt->fn]->consts[pt->idx] += m->dyn_base;
      } else if (pt->idx < m->ncode) {
        m->code[pt->idx].imm += m->dyn_base;
      }
    }
    int nk = 0;
    for (int k = 0; k < m->nfuncs; k++) nk += m->funcs[k]->is_entry && m->funcs[k]->defined;
    m->kernels = calloc((size_t)nk + 1, sizeof *m->kernels);
    if (!m->kernels) st = SG_PTX_ERR_NOMEM;
    for (int k = 0; st == SG_PTX_OK && k < m->nfuncs; k++)
      if (m->funcs[k]->is_entry && m->funcs[k]->defined) {
        m->kernels[m->nkernels++] = (sg_ptx_kernel){m, m->funcs[k]};
        st = kernel_shared(m, m->funcs[k]);
      }
  }
  if (st != SG_PTX_OK) {
    if (err && errlen && !err[0]) snprintf(err, errlen, "PTX load failed (status %d)", (int)st);
    sg_ptx_unload(m);
    return st;
  }
  *out = m;
  return SG_PTX_OK;
}

sg_ptx_status sg_ptx_get_kernel(sg_ptx_module *m, const char *name, sg_ptx_kernel **out) {
  if (!m || !name || !out) return SG_PTX_ERR_NOT_FOUND;
  for (int k = 0; k < m->nkernels; k++)
    if (strcmp(m->kernels[k].fn->name, name) == 0) {
      *out = &m->kernels[k];
      return SG_PTX_OK;
    }
  return SG_PTX_ERR_NOT_FOUND;
}

sg_ptx_status sg_ptx_get_global(sg_ptx_module *m, const char *name, sg_devptr *dptr, uint64_t *size, int *managed) {
  if (!m || !name) return SG_PTX_ERR_NOT_FOUND;
  for (int k = 0; k < m->nvars; k++) {
    const sg_gvar *v = &m->vars[k];
    if ((v->space == SP_GLOBAL || v->space == SP_CONST) && strcmp(v->name, name) == 0) {
      if (dptr) *dptr = v->addr;
      if (size) *size = v->size;
      if (managed) *managed = v->managed;
      return SG_PTX_OK;
    }
  }
  return SG_PTX_ERR_NOT_FOUND;
}

int sg_ptx_managed_var(sg_ptx_module *m, int i, sg_devptr *dptr, uint64_t *bytes) {
  for (int k = 0; m && k < m->nvars; k++) {
    const sg_gvar *v = &m->vars[k];
    if (!v->managed || i-- > 0) continue;
    *dptr = v->addr;
    *bytes = (v->size + SG_PTX_MANAGED_PAGE - 1) / SG_PTX_MANAGED_PAGE * SG_PTX_MANAGED_PAGE;
    return 1;
  }
  return 0;
}

int sg_ptx_kernel_count(sg_ptx_module *m) { return m ? m->nkernels : 0; }
sg_ptx_kernel *sg_ptx_kernel_at(sg_ptx_module *m, int i) { return m && i >= 0 && i < m->nkernels ? &m->kernels[i] : NULL; }
const char *sg_ptx_kernel_name(const sg_ptx_kernel *k) { return k ? k->fn->name : NULL; }

int sg_ptx_param_count(const sg_ptx_kernel *k) { return k ? k->fn->nparams : 0; }

sg_ptx_status sg_ptx_param_info(const sg_ptx_kernel *k, int idx, size_t *offset, size_t *size) {
  if (!k || idx < 0 || idx >= k->fn->nparams) return SG_PTX_ERR_NOT_FOUND;
  if (offset) *offset = k->fn->params[idx].offset;
  if (size) *size = k->fn->params[idx].size;
  return SG_PTX_OK;
}

size_t sg_ptx_param_bytes(const sg_ptx_kernel *k) { return k ? k->fn->param_bytes : 0; }

/* The register file of one multiprocessor (and the most one block may use): 64K 32-bit registers
 * on every architecture softgpu offers. Registers are given out per warp in units of 256, so a
 * thread's count rounds up to a multiple of 8. */
#define SG_REG_FILE 65536u
/* What ptxas reserves beyond the values a kernel keeps live (addresses of its frame and stack). */
#define SG_REGS_RESERVED 2u
/* The estimate's ceiling for a kernel without launch bounds or .maxnreg. ptxas may use up to 255
 * there, but a count above 64 would forbid 1024-thread blocks, and the estimate is not precise
 * enough to refuse launches that the code as ptxas compiles it would run. */
#define SG_REGS_UNBOUNDED 64u

static uint32_t round8(uint32_t r) { return (r + 7) / 8 * 8; }

/* Threads per block the launch bounds allow (.reqntid, else .maxntid), 0 when there are none. */
static uint32_t launch_bound(const sg_func *f) {
  const uint32_t *n = f->reqntid[0] ? f->reqntid : f->maxntid;
  uint32_t t = n[0] ? n[0] * n[1] * n[2] : 0;
  return t > 1024 ? 1024 : t;
}

/* The registers the kernel reports: its live registers plus what ptxas reserves, within the budget
 * ptxas would have had: 255, .maxnreg, and enough registers left for the launch bounds' blocks
 * (.minnctapersm of them at once) to fit in the register file. */
static uint32_t kernel_regs(const sg_func *f) {
  uint32_t cap = 255, bound = launch_bound(f);
  if (f->maxnreg && f->maxnreg < cap) cap = f->maxnreg;
  if (!f->maxnreg && !bound) cap = SG_REGS_UNBOUNDED;
  if (bound) {
    uint32_t warps = (bound + 31) / 32 * (f->minnctapersm ? f->minnctapersm : 1);
    uint32_t fit = SG_REG_FILE / (warps * 32) / 8 * 8;
    if (fit < cap) cap = fit;
  }
  uint32_t r = f->regs_live + SG_REGS_RESERVED;
  if (r > cap) r = cap;
  return r ? r : 1;
}

void sg_ptx_kernel_attrs(const sg_ptx_kernel *k, sg_ptx_attrs *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!k) return;
  const sg_func *f = k->fn;
  out->num_regs = (int)kernel_regs(f);
  out->static_shared_bytes = (int)f->shared_bytes;
  int cb = 0;
  for (int i = 0; i < k->mod->nvars; i++)
    if (k->mod->vars[i].space == SP_CONST) cb += (int)k->mod->vars[i].size;
  out->const_bytes = cb;
  out->local_bytes = (int)f->frame_bytes;
  uint32_t bound = launch_bound(f), threads = SG_REG_FILE / (round8((uint32_t)out->num_regs) * 32) * 32;
  if (threads > 1024) threads = 1024;
  if (bound && bound < threads) threads = bound;
  out->max_threads_per_block = (int)threads;
  out->ptx_version = k->mod->ptx_version;
  out->target_arch = k->mod->sm;
}
