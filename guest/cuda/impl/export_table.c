/*
 * cuGetExportTable (the "dark API", docs/reference/cudart-driver-interface.md §2): a lookup of
 * the table descriptions (darkapi.h) by UUID. The slot arrays handed out are built once from the
 * descriptions and never change afterwards, because the integrity check hashes their addresses
 * and callers keep the pointers for the life of the process.
 */
#include "vgcuda.h"

#include "darkapi.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Order matters only for enum vg_dark_which. f8cff951 ("Relay12") is refused on purpose: cudart
 * fetches it before cuInit and does without it. */
static const vg_dark_desc *const g_desc[] = {
    &vg_dark_cudart_desc,    &vg_dark_integrity_desc, &vg_dark_hooks_desc,   &vg_dark_tools_tls_desc,
    &vg_dark_cls_desc,       &vg_dark_checks_desc,    &vg_dark_ctxinfo_desc,
};
#define NTABLES ((int)(sizeof g_desc / sizeof g_desc[0]))

/* ---- slots nobody has described ---- */

/* One function per slot index, so that a call to an undescribed slot says which slot it was.
 * The signature is unknown; returning a CUresult in the return register is harmless to a caller
 * that expects void. */
#define VG__UNK(n) \
  static int unknown_##n(void) { return vg_dark_unknown_called(n); }
#define VG__UNK10(d) \
  VG__UNK(d##0) VG__UNK(d##1) VG__UNK(d##2) VG__UNK(d##3) VG__UNK(d##4) \
  VG__UNK(d##5) VG__UNK(d##6) VG__UNK(d##7) VG__UNK(d##8) VG__UNK(d##9)
#define VG__REF(n) (vg_dark_fn)unknown_##n,
#define VG__REF10(d) \
  VG__REF(d##0) VG__REF(d##1) VG__REF(d##2) VG__REF(d##3) VG__REF(d##4) \
  VG__REF(d##5) VG__REF(d##6) VG__REF(d##7) VG__REF(d##8) VG__REF(d##9)

VG__UNK10() VG__UNK10(1) VG__UNK10(2) VG__UNK10(3) VG__UNK10(4) VG__UNK10(5) VG__UNK10(6)
VG__UNK10(7) VG__UNK10(8) VG__UNK(90) VG__UNK(91) VG__UNK(92) VG__UNK(93) VG__UNK(94) VG__UNK(95)

static const vg_dark_fn g_unknown[VG_DARK_MAX_SLOTS] = {
    VG__REF10() VG__REF10(1) VG__REF10(2) VG__REF10(3) VG__REF10(4) VG__REF10(5) VG__REF10(6)
    VG__REF10(7) VG__REF10(8) VG__REF(90) VG__REF(91) VG__REF(92) VG__REF(93) VG__REF(94) VG__REF(95)};

static int g_unknown_logged[VG_DARK_MAX_SLOTS];

/* The function cannot tell which table it was reached through, so the log line names every table
 * in which that slot index is undescribed. */
int vg_dark_unknown_called(int slot) {
  if (slot < 0 || slot >= VG_DARK_MAX_SLOTS) return CUDA_ERROR_NOT_SUPPORTED;
  char names[512] = "";
  size_t len = 0;
  for (int t = 0; t < NTABLES; t++) {
    const vg_dark_desc *d = g_desc[t];
    if (slot >= d->nslots || (slot == 0 && d->size_slot)) continue;
    int described = 0;
    for (int k = 0; k < d->nknown; k++) described |= d->known[k].index == slot;
    if (described || len >= sizeof names) continue;
    int w = snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", d->name);
    if (w > 0) len += (size_t)w;
  }
  vg_log_once(&g_unknown_logged[slot], VG_LOG_WARN,
              "cuGetExportTable: undescribed slot %d called (a table among: %s); returning CUDA_ERROR_NOT_SUPPORTED",
              slot, names);
  return CUDA_ERROR_NOT_SUPPORTED;
}

/* ---- the served tables ---- */

static const void *g_served[NTABLES][VG_DARK_MAX_SLOTS];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void build(void) {
  for (int t = 0; t < NTABLES; t++) {
    const vg_dark_desc *d = g_desc[t];
    const void **s = g_served[t];
    for (int i = 0; i < d->nslots && i < VG_DARK_MAX_SLOTS; i++) s[i] = (const void *)g_unknown[i];
    if (d->size_slot) s[0] = (const void *)(uintptr_t)((size_t)d->nslots * sizeof(void *));
    for (int k = 0; k < d->nknown; k++) {
      int i = d->known[k].index;
      if (i >= 0 && i < d->nslots && i < VG_DARK_MAX_SLOTS && !(i == 0 && d->size_slot))
        s[i] = (const void *)d->known[k].fn;
    }
  }
}

const void *const *vg_dark_table(int which) {
  if (which < 0 || which >= NTABLES) return NULL;
  pthread_once(&g_once, build);
  return g_served[which];
}

const void *const *vg_dark_lookup(const uint8_t id[16], const char **name) {
  for (int t = 0; t < NTABLES; t++) {
    if (memcmp(g_desc[t]->id, id, 16) != 0) continue;
    if (name) *name = g_desc[t]->name;
    return vg_dark_table(t);
  }
  return NULL;
}

static CUresult export_table_impl(const void **pp, const CUuuid *id) {
  if (pp) *pp = NULL;
  if (!pp || !id) return CUDA_ERROR_INVALID_VALUE;
  const char *name = NULL;
  const void *const *t = vg_dark_lookup((const uint8_t *)id->bytes, &name);
  const unsigned char *b = (const unsigned char *)id->bytes;
  if (!t) {
    vg_log(VG_LOG_INFO,
           "cuGetExportTable: refusing table %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (vg_log_enabled(VG_LOG_DEBUG)) vg_log(VG_LOG_DEBUG, "cuGetExportTable: %s at %p", name, (const void *)t);
  *pp = (const void *)t;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId) {
  VG_TRACED(export_table_impl(ppExportTable, pExportTableId));
}
