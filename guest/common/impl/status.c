/*
 * STATUS_REPLY codec (status.h). Every count is bounded and checked against the bytes present
 * before anything is allocated for it.
 */
#include "status.h"

#include <stdlib.h>
#include <string.h>

#define BOARD_FIELDS 6u
#define CLOCK_FIELDS 5u

int vg_status_encode(vg_wr *w, const vg_status *s) {
  vg_wr_u32(w, s->window_ms);
  vg_wr_u32(w, s->count);
  for (uint32_t i = 0; i < s->count; i++) {
    const vg_status_dev *d = &s->dev[i];
    vg_wr_u32(w, d->gpu_pct);
    vg_wr_u32(w, d->mem_pct);
    vg_wr_u64(w, d->mem_used);
    vg_wr_u32(w, d->nproc);
    for (uint32_t j = 0; j < d->nproc; j++) {
      vg_wr_u32(w, d->proc[j].pid);
      vg_wr_u64(w, d->proc[j].used);
    }
  }
  vg_wr_u32(w, (s->board ? 1u : 0u) + (s->clocks ? 1u : 0u));
  if (s->board) {
    vg_wr_u16(w, VG_STATUS_EXT_BOARD);
    vg_wr_u32(w, s->count * BOARD_FIELDS * 4u);
    for (uint32_t i = 0; i < s->count; i++) {
      const vg_status_board *b = &s->board[i];
      const uint32_t v[BOARD_FIELDS] = {b->temp_c, b->power_mw, b->power_limit_mw, b->sm_mhz, b->mem_mhz, b->fan_pct};
      for (unsigned k = 0; k < BOARD_FIELDS; k++) vg_wr_u32(w, v[k]);
    }
  }
  if (s->clocks) {
    vg_wr_u16(w, VG_STATUS_EXT_BOARD_CLOCKS);
    vg_wr_u32(w, s->count * CLOCK_FIELDS * 4u);
    for (uint32_t i = 0; i < s->count; i++) {
      const vg_status_clocks *c = &s->clocks[i];
      const uint32_t v[CLOCK_FIELDS] = {c->gfx_mhz, c->sm_max_mhz, c->mem_max_mhz, c->gfx_max_mhz, c->pstate};
      for (unsigned k = 0; k < CLOCK_FIELDS; k++) vg_wr_u32(w, v[k]);
    }
  }
  return w->err;
}

void vg_status_free(vg_status *s) {
  if (s->dev)
    for (uint32_t i = 0; i < s->count; i++) free(s->dev[i].proc);
  free(s->dev);
  free(s->board);
  free(s->clocks);
  memset(s, 0, sizeof *s);
}

static int decode_board(vg_rd *r, uint32_t len, vg_status *s) {
  if (len != s->count * BOARD_FIELDS * 4u) return VG_WIRE_ESHORT;
  free(s->board);
  s->board = NULL;
  if (s->count == 0) return 0;
  if (!(s->board = calloc(s->count, sizeof *s->board))) return VG_WIRE_ENOMEM;
  for (uint32_t i = 0; i < s->count; i++) {
    vg_status_board *b = &s->board[i];
    b->temp_c = vg_rd_u32(r);
    b->power_mw = vg_rd_u32(r);
    b->power_limit_mw = vg_rd_u32(r);
    b->sm_mhz = vg_rd_u32(r);
    b->mem_mhz = vg_rd_u32(r);
    b->fan_pct = vg_rd_u32(r);
  }
  return r->err;
}

static int decode_clocks(vg_rd *r, uint32_t len, vg_status *s) {
  if (len != s->count * CLOCK_FIELDS * 4u) return VG_WIRE_ESHORT;
  free(s->clocks);
  s->clocks = NULL;
  if (s->count == 0) return 0;
  if (!(s->clocks = calloc(s->count, sizeof *s->clocks))) return VG_WIRE_ENOMEM;
  for (uint32_t i = 0; i < s->count; i++) {
    vg_status_clocks *c = &s->clocks[i];
    c->gfx_mhz = vg_rd_u32(r);
    c->sm_max_mhz = vg_rd_u32(r);
    c->mem_max_mhz = vg_rd_u32(r);
    c->gfx_max_mhz = vg_rd_u32(r);
    c->pstate = vg_rd_u32(r);
  }
  return r->err;
}

/* The extension block: u32 count, then count x (u16 tag, u32 len, len bytes). */
static int decode_ext(vg_rd *r, vg_status *s) {
  uint32_t count = vg_rd_u32(r);
  if (r->err) return r->err;
  if (count > VG_MAX_EXTS) return VG_WIRE_ELIMIT;
  for (uint32_t i = 0; i < count; i++) {
    uint16_t tag = vg_rd_u16(r);
    uint32_t len = vg_rd_u32(r);
    if (r->err) return r->err;
    const uint8_t *v = vg_rd_raw(r, len);
    if (!v) return VG_WIRE_ESTR; /* a length past the payload, as in the WELCOME's block */
    if (tag != VG_STATUS_EXT_BOARD && tag != VG_STATUS_EXT_BOARD_CLOCKS) continue;
    vg_rd sub;
    vg_rd_init(&sub, v, len);
    int e = tag == VG_STATUS_EXT_BOARD ? decode_board(&sub, len, s) : decode_clocks(&sub, len, s);
    if (e) return e;
  }
  return 0;
}

int vg_status_decode(const uint8_t *p, size_t n, vg_status *s) {
  vg_rd r;
  int err = 0;
  vg_rd_init(&r, p, n);
  memset(s, 0, sizeof *s);
  s->window_ms = vg_rd_u32(&r);
  uint32_t count = vg_rd_u32(&r);
  if (r.err) return r.err;
  if (count > VG_MAX_STATUS_DEVICES) return VG_WIRE_ELIMIT;
  /* Each device takes at least 20 bytes: check they are there before allocating. */
  if ((r.len - r.pos) / 20 < count) return VG_WIRE_ESHORT;
  if (count && !(s->dev = calloc(count, sizeof *s->dev))) return VG_WIRE_ENOMEM;
  s->count = count;
  for (uint32_t i = 0; i < count; i++) {
    vg_status_dev *d = &s->dev[i];
    d->gpu_pct = vg_rd_u32(&r);
    d->mem_pct = vg_rd_u32(&r);
    d->mem_used = vg_rd_u64(&r);
    uint32_t np = vg_rd_u32(&r);
    if (r.err) {
      err = r.err;
      goto fail;
    }
    if (d->gpu_pct > 100 || d->mem_pct > 100 || np > VG_MAX_STATUS_PROCS) {
      err = VG_WIRE_ELIMIT;
      goto fail;
    }
    if ((r.len - r.pos) / 12 < np) {
      err = VG_WIRE_ESHORT;
      goto fail;
    }
    if (np && !(d->proc = malloc((size_t)np * sizeof *d->proc))) {
      err = VG_WIRE_ENOMEM;
      goto fail;
    }
    d->nproc = np;
    for (uint32_t j = 0; j < np; j++) {
      d->proc[j].pid = vg_rd_u32(&r);
      d->proc[j].used = vg_rd_u64(&r);
    }
  }
  if ((err = decode_ext(&r, s)) != 0) goto fail;
  if (r.err) {
    err = r.err;
    goto fail;
  }
  if (r.pos == r.len) return 0;
  err = VG_WIRE_ETRAIL;
fail:
  vg_status_free(s);
  return err;
}
