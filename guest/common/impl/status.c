/*
 * STATUS_REPLY codec (status.h). Every count is bounded and checked against the bytes present
 * before anything is allocated for it.
 */
#include "status.h"

#include <stdlib.h>
#include <string.h>

/* Board records are structs of uint32_t fields in wire order (status.h), so they are read and
 * written as arrays of that many values. */
#define BOARD_FIELDS 6u
#define CLOCK_FIELDS 5u
_Static_assert(sizeof(vg_status_board) == BOARD_FIELDS * sizeof(uint32_t), "vg_status_board is its wire fields");
_Static_assert(sizeof(vg_status_clocks) == CLOCK_FIELDS * sizeof(uint32_t), "vg_status_clocks is its wire fields");

/* count records of `fields` u32 values from recs, as one extension entry's bytes in *buf. */
static vg_ext records_ext(uint16_t tag, const void *recs, uint32_t count, unsigned fields, vg_wr *buf) {
  const uint8_t *p = recs;
  vg_wr_init(buf, VG_MAX_PAYLOAD);
  for (size_t i = 0; i < (size_t)count * fields; i++) {
    uint32_t v;
    memcpy(&v, p + i * sizeof v, sizeof v);
    vg_wr_u32(buf, v);
  }
  return (vg_ext){tag, (uint32_t)buf->len, buf->p};
}

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
  vg_ext ext[2];
  vg_wr buf[2];
  uint32_t n = 0;
  if (s->board) {
    ext[n] = records_ext(VG_STATUS_EXT_BOARD, s->board, s->count, BOARD_FIELDS, &buf[n]);
    n++;
  }
  if (s->clocks) {
    ext[n] = records_ext(VG_STATUS_EXT_BOARD_CLOCKS, s->clocks, s->count, CLOCK_FIELDS, &buf[n]);
    n++;
  }
  for (uint32_t i = 0; i < n; i++)
    if (buf[i].err && !w->err) w->err = buf[i].err;
  vg_ext_encode(w, ext, n);
  for (uint32_t i = 0; i < n; i++) vg_wr_free(&buf[i]);
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

/* The inverse of records_ext: count records of `fields` u32 values, or NULL with *err set (0 when
 * count is 0). */
static void *ext_records(const vg_ext *e, uint32_t count, unsigned fields, int *err) {
  *err = 0;
  if (e->len != count * fields * sizeof(uint32_t)) {
    *err = VG_WIRE_ESHORT;
    return NULL;
  }
  if (count == 0) return NULL;
  uint8_t *p = calloc(count, fields * sizeof(uint32_t));
  if (!p) {
    *err = VG_WIRE_ENOMEM;
    return NULL;
  }
  vg_rd r;
  vg_rd_init(&r, e->data, e->len);
  for (size_t i = 0; i < (size_t)count * fields; i++) {
    uint32_t v = vg_rd_u32(&r);
    memcpy(p + i * sizeof v, &v, sizeof v);
  }
  return p;
}

/* One entry of the extension block; tags this codec does not know are skipped. */
static int status_ext(void *ctx, const vg_ext *e) {
  vg_status *s = ctx;
  int err = 0;
  if (e->tag == VG_STATUS_EXT_BOARD) {
    free(s->board);
    s->board = ext_records(e, s->count, BOARD_FIELDS, &err);
  } else if (e->tag == VG_STATUS_EXT_BOARD_CLOCKS) {
    free(s->clocks);
    s->clocks = ext_records(e, s->count, CLOCK_FIELDS, &err);
  }
  return err;
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
  if ((err = vg_ext_decode(&r, status_ext, s)) == 0 && (err = vg_rd_finish(&r)) == 0) return 0;
fail:
  vg_status_free(s);
  return err;
}
