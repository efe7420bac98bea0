/*
 * Frame codec (docs/protocol.md). Every length read from the wire is checked against the bytes
 * actually present before it is used; nothing here trusts the peer.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

const char *vg_wire_strerror(int err) {
  switch (err) {
  case VG_WIRE_OK: return "ok";
  case VG_WIRE_ETRUNC: return "truncated frame";
  case VG_WIRE_EOVERSIZE: return "payload length over the limit";
  case VG_WIRE_ETYPE: return "unknown frame type";
  case VG_WIRE_EFLAGS: return "flag not allowed on this frame type";
  case VG_WIRE_EMAGIC: return "bad HELLO magic";
  case VG_WIRE_ESHORT: return "payload shorter than its fields";
  case VG_WIRE_ESTR: return "string or byte field past the end of the payload";
  case VG_WIRE_ELIMIT: return "count over a sanity limit";
  case VG_WIRE_ENOMEM: return "out of memory";
  case VG_WIRE_ETRAIL: return "bytes after the last field";
  }
  return "unknown wire error";
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void vg_wire_put_hdr(uint8_t out[VG_FRAME_HDR_LEN], const vg_frame_hdr *h) {
  put32(out, h->len);
  put16(out + 4, h->type);
  put16(out + 6, h->flags);
  put32(out + 8, h->id);
  put32(out + 12, h->op);
}

static uint16_t allowed_flags(uint16_t type) {
  switch (type) {
  case VG_FT_CALL: return VG_FF_NOREPLY | VG_FF_MORE | VG_FF_LZ4;
  case VG_FT_REPLY: return VG_FF_MORE;
  default: return 0;
  }
}

int vg_wire_get_hdr(const uint8_t in[VG_FRAME_HDR_LEN], vg_frame_hdr *h) {
  h->len = get32(in);
  h->type = get16(in + 4);
  h->flags = get16(in + 6);
  h->id = get32(in + 8);
  h->op = get32(in + 12);
  if (h->type < VG_FT_HELLO || h->type > VG_FT_STATUS_REPLY) return VG_WIRE_ETYPE;
  if (h->flags & ~allowed_flags(h->type)) return VG_WIRE_EFLAGS;
  if (h->len > VG_MAX_PAYLOAD) return VG_WIRE_EOVERSIZE;
  return VG_WIRE_OK;
}

int vg_wire_split_frame(const uint8_t *buf, size_t n, vg_frame_hdr *h, const uint8_t **payload) {
  if (n < VG_FRAME_HDR_LEN) return VG_WIRE_ETRUNC;
  int e = vg_wire_get_hdr(buf, h);
  if (e) return e;
  if (n - VG_FRAME_HDR_LEN < h->len) return VG_WIRE_ETRUNC;
  if (n - VG_FRAME_HDR_LEN > h->len) return VG_WIRE_ETRAIL;
  *payload = buf + VG_FRAME_HDR_LEN;
  return VG_WIRE_OK;
}

/* ---- reader ---- */

void vg_rd_init(vg_rd *r, const void *p, size_t len) {
  r->p = p;
  r->len = len;
  r->pos = 0;
  r->err = 0;
}

static const uint8_t *take(vg_rd *r, size_t n, int err) {
  if (r->err) return NULL;
  if (r->len - r->pos < n) {
    r->err = err;
    return NULL;
  }
  const uint8_t *q = r->p + r->pos;
  r->pos += n;
  return q;
}

uint8_t vg_rd_u8(vg_rd *r) {
  const uint8_t *q = take(r, 1, VG_WIRE_ESHORT);
  return q ? q[0] : 0;
}
uint16_t vg_rd_u16(vg_rd *r) {
  const uint8_t *q = take(r, 2, VG_WIRE_ESHORT);
  return q ? get16(q) : 0;
}
uint32_t vg_rd_u32(vg_rd *r) {
  const uint8_t *q = take(r, 4, VG_WIRE_ESHORT);
  return q ? get32(q) : 0;
}
uint64_t vg_rd_u64(vg_rd *r) {
  const uint8_t *q = take(r, 8, VG_WIRE_ESHORT);
  return q ? (uint64_t)get32(q) | ((uint64_t)get32(q + 4) << 32) : 0;
}

const char *vg_rd_str(vg_rd *r, size_t *n) {
  size_t len = vg_rd_u16(r);
  *n = 0;
  if (r->err) return NULL;
  if (len > VG_MAX_STR) {
    r->err = VG_WIRE_ESTR;
    return NULL;
  }
  const uint8_t *q = take(r, len, VG_WIRE_ESTR);
  if (q) *n = len;
  return (const char *)q;
}

const uint8_t *vg_rd_raw(vg_rd *r, size_t n) { return take(r, n, VG_WIRE_ESHORT); }

/* Payload decoders reject bytes after the last field, as the TypeScript codec does. */
int vg_rd_finish(const vg_rd *r) {
  if (r->err) return r->err;
  return r->pos == r->len ? VG_WIRE_OK : VG_WIRE_ETRAIL;
}

/* ---- writer ---- */

void vg_wr_init(vg_wr *w, size_t limit) {
  memset(w, 0, sizeof *w);
  w->limit = limit;
}

void vg_wr_free(vg_wr *w) {
  free(w->p);
  memset(w, 0, sizeof *w);
}

int vg_wr_reserve(vg_wr *w, size_t extra) {
  if (w->err) return w->err;
  if (extra > w->limit || w->len > w->limit - extra) return w->err = VG_WIRE_EOVERSIZE;
  if (w->len + extra <= w->cap) return 0;
  size_t cap = w->cap ? w->cap : 256;
  while (cap < w->len + extra) cap = cap > SIZE_MAX / 2 ? w->len + extra : cap * 2;
  uint8_t *p = realloc(w->p, cap);
  if (!p) return w->err = VG_WIRE_ENOMEM;
  w->p = p;
  w->cap = cap;
  return 0;
}

void vg_wr_raw(vg_wr *w, const void *p, size_t n) {
  if (n == 0 || vg_wr_reserve(w, n)) return;
  memcpy(w->p + w->len, p, n);
  w->len += n;
}

void vg_wr_u8(vg_wr *w, uint8_t v) { vg_wr_raw(w, &v, 1); }
void vg_wr_u16(vg_wr *w, uint16_t v) {
  uint8_t b[2];
  put16(b, v);
  vg_wr_raw(w, b, 2);
}
void vg_wr_u32(vg_wr *w, uint32_t v) {
  uint8_t b[4];
  put32(b, v);
  vg_wr_raw(w, b, 4);
}
void vg_wr_u64(vg_wr *w, uint64_t v) {
  uint8_t b[8];
  put32(b, (uint32_t)v);
  put32(b + 4, (uint32_t)(v >> 32));
  vg_wr_raw(w, b, 8);
}
void vg_wr_str(vg_wr *w, const char *s, size_t n) {
  if (n > VG_MAX_STR) {
    if (!w->err) w->err = VG_WIRE_ESTR;
    return;
  }
  vg_wr_u16(w, (uint16_t)n);
  vg_wr_raw(w, s, n);
}

/* ---- extension blocks ---- */

int vg_ext_encode(vg_wr *w, const vg_ext *e, uint32_t n) {
  if (n > VG_MAX_EXTS) {
    if (!w->err) w->err = VG_WIRE_ELIMIT;
    return w->err;
  }
  vg_wr_u32(w, n);
  for (uint32_t i = 0; i < n; i++) {
    vg_wr_u16(w, e[i].tag);
    vg_wr_u32(w, e[i].len);
    vg_wr_raw(w, e[i].data, e[i].len);
  }
  return w->err;
}

int vg_ext_decode(vg_rd *r, int (*on)(void *ctx, const vg_ext *e), void *ctx) {
  uint32_t count = vg_rd_u32(r);
  if (r->err) return r->err;
  if (count > VG_MAX_EXTS) return VG_WIRE_ELIMIT;
  for (uint32_t i = 0; i < count; i++) {
    vg_ext e;
    e.tag = vg_rd_u16(r);
    e.len = vg_rd_u32(r);
    if (r->err) return r->err;
    /* Like a str, a length past the payload is a bad length field. */
    if (!(e.data = take(r, e.len, VG_WIRE_ESTR))) return r->err;
    int err = on(ctx, &e);
    if (err) return err;
  }
  return 0;
}

/* ---- HELLO ---- */

int vg_hello_encode(vg_wr *w, const vg_hello *h) {
  vg_wr_u32(w, h->magic);
  vg_wr_u16(w, h->major);
  vg_wr_u16(w, h->minor);
  vg_wr_u32(w, h->flags);
  vg_wr_u32(w, h->pid);
  vg_wr_str(w, h->token, h->token_len);
  vg_wr_str(w, h->host, h->host_len);
  vg_wr_str(w, h->program, h->program_len);
  return w->err;
}

int vg_hello_decode(const uint8_t *p, size_t n, vg_hello *h) {
  vg_rd r;
  vg_rd_init(&r, p, n);
  memset(h, 0, sizeof *h);
  h->magic = vg_rd_u32(&r);
  if (!r.err && h->magic != VG_HELLO_MAGIC) return VG_WIRE_EMAGIC;
  h->major = vg_rd_u16(&r);
  h->minor = vg_rd_u16(&r);
  h->flags = vg_rd_u32(&r);
  h->pid = vg_rd_u32(&r);
  h->token = vg_rd_str(&r, &h->token_len);
  h->host = vg_rd_str(&r, &h->host_len);
  h->program = vg_rd_str(&r, &h->program_len);
  return vg_rd_finish(&r);
}

/* ---- WELCOME ---- */

int vg_welcome_encode(vg_wr *w, const vg_welcome *wl) {
  vg_wr_u16(w, wl->major);
  vg_wr_u16(w, wl->minor);
  vg_wr_u32(w, wl->host_flags);
  vg_wr_u64(w, wl->session);
  vg_wr_u32(w, wl->driver_version);
  vg_wr_str(w, wl->vm_name, wl->vm_name ? strlen(wl->vm_name) : 0);
  vg_wr_u32(w, wl->count);
  for (uint32_t i = 0; i < wl->count; i++) {
    const vg_devrec *d = &wl->dev[i];
    vg_wr_str(w, d->name, d->name ? strlen(d->name) : 0);
    vg_wr_raw(w, d->uuid, 16);
    vg_wr_u64(w, d->total_mem);
    vg_wr_u32(w, d->pci_domain);
    vg_wr_u32(w, d->pci_bus);
    vg_wr_u32(w, d->pci_device);
    vg_wr_u32(w, d->nattr);
    for (uint32_t a = 0; a < d->nattr; a++) vg_wr_u32(w, (uint32_t)d->attr[a]);
  }
  if (wl->minor >= 1) {
    size_t dl = wl->driver_string ? strlen(wl->driver_string) : 0;
    if (dl > VG_MAX_DRIVER_STR) {
      if (!w->err) w->err = VG_WIRE_ESTR;
      return w->err;
    }
    const vg_ext e = {VG_EXT_DRIVER_VERSION, (uint32_t)dl, (const uint8_t *)wl->driver_string};
    vg_ext_encode(w, &e, wl->driver_string ? 1u : 0u);
  }
  return w->err;
}

static char *dup_view(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = 0;
  return d;
}

void vg_welcome_free(vg_welcome *wl) {
  if (wl->dev) {
    for (uint32_t i = 0; i < wl->count; i++) {
      free(wl->dev[i].name);
      free(wl->dev[i].attr);
    }
  }
  free(wl->dev);
  free(wl->vm_name);
  free(wl->driver_string);
  memset(wl, 0, sizeof *wl);
}

/* One entry of the extension block after the devices (minor >= 1); tags of later minors are
 * skipped. */
static int welcome_ext(void *ctx, const vg_ext *e) {
  vg_welcome *wl = ctx;
  if (e->tag != VG_EXT_DRIVER_VERSION) return 0;
  if (e->len > VG_MAX_DRIVER_STR || memchr(e->data, 0, e->len)) return VG_WIRE_ESTR;
  free(wl->driver_string);
  return (wl->driver_string = dup_view((const char *)e->data, e->len)) ? 0 : VG_WIRE_ENOMEM;
}

int vg_welcome_decode(const uint8_t *p, size_t n, vg_welcome *wl) {
  vg_rd r;
  size_t sl;
  const char *s;
  int err = 0;
  vg_rd_init(&r, p, n);
  memset(wl, 0, sizeof *wl);
  wl->major = vg_rd_u16(&r);
  wl->minor = vg_rd_u16(&r);
  wl->host_flags = vg_rd_u32(&r);
  wl->session = vg_rd_u64(&r);
  wl->driver_version = vg_rd_u32(&r);
  s = vg_rd_str(&r, &sl);
  uint32_t count = vg_rd_u32(&r);
  if (r.err) return r.err;
  if (!(wl->vm_name = dup_view(s, sl))) return VG_WIRE_ENOMEM;
  if (count > VG_MAX_DEVICES) {
    err = VG_WIRE_ELIMIT;
    goto fail;
  }
  if (count && !(wl->dev = calloc(count, sizeof *wl->dev))) {
    err = VG_WIRE_ENOMEM;
    goto fail;
  }
  wl->count = count;
  for (uint32_t i = 0; i < count; i++) {
    vg_devrec *d = &wl->dev[i];
    s = vg_rd_str(&r, &sl);
    const uint8_t *u = vg_rd_raw(&r, 16);
    d->total_mem = vg_rd_u64(&r);
    d->pci_domain = vg_rd_u32(&r);
    d->pci_bus = vg_rd_u32(&r);
    d->pci_device = vg_rd_u32(&r);
    uint32_t na = vg_rd_u32(&r);
    if (r.err) {
      err = r.err;
      goto fail;
    }
    memcpy(d->uuid, u, 16);
    if (!(d->name = dup_view(s, sl))) {
      err = VG_WIRE_ENOMEM;
      goto fail;
    }
    if (na > VG_MAX_ATTRS) {
      err = VG_WIRE_ELIMIT;
      goto fail;
    }
    /* Check the bytes are there before allocating for them. */
    if ((r.len - r.pos) / 4 < na) {
      err = VG_WIRE_ESHORT;
      goto fail;
    }
    if (na && !(d->attr = malloc((size_t)na * sizeof(int32_t)))) {
      err = VG_WIRE_ENOMEM;
      goto fail;
    }
    d->nattr = na;
    for (uint32_t a = 0; a < na; a++) d->attr[a] = (int32_t)vg_rd_u32(&r);
  }
  if (wl->minor >= 1 && (err = vg_ext_decode(&r, welcome_ext, wl)) != 0) goto fail;
  if (!(err = vg_rd_finish(&r))) return 0;
fail:
  vg_welcome_free(wl);
  return err;
}

/* ---- ERROR ---- */

int vg_error_encode(vg_wr *w, const vg_errmsg *e) {
  vg_wr_u32(w, e->code);
  vg_wr_str(w, e->msg, e->msg_len);
  return w->err;
}

int vg_error_decode(const uint8_t *p, size_t n, vg_errmsg *e) {
  vg_rd r;
  vg_rd_init(&r, p, n);
  e->code = vg_rd_u32(&r);
  e->msg = vg_rd_str(&r, &e->msg_len);
  return vg_rd_finish(&r);
}
