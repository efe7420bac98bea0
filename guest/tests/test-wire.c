/* The C codec against the shared vectors (test/vectors/protocol.json), plus its limits. */
#include "vgtest.h"

#include "json.h"
#include "wire.h"

static uint64_t u64s(const jval *v) { return strtoull(json_str(v), NULL, 10); }

/* Decodes one frame the way a receiver does: header, then the payload by type. */
static int decode(const uint8_t *b, size_t n, vg_frame_hdr *h, const uint8_t **pl) {
  int e = vg_wire_split_frame(b, n, h, pl);
  if (e) return e;
  switch (h->type) {
  case VG_FT_HELLO: {
    vg_hello x;
    return vg_hello_decode(*pl, h->len, &x);
  }
  case VG_FT_WELCOME: {
    vg_welcome w;
    e = vg_welcome_decode(*pl, h->len, &w);
    if (!e) vg_welcome_free(&w);
    return e;
  }
  case VG_FT_ERROR:
  case VG_FT_ATTACHED: {
    vg_errmsg m;
    return vg_error_decode(*pl, h->len, &m);
  }
  case VG_FT_NOTIFY: {
    vg_errmsg m; /* a SHUTDOWN notice has ERROR's layout; output notices are raw bytes */
    return h->op == VG_NOTICE_SHUTDOWN ? vg_error_decode(*pl, h->len, &m) : 0;
  }
  case VG_FT_ATTACH: return h->len ? VG_WIRE_ETRAIL : 0;
  case VG_FT_CALL: return h->len < 8 ? VG_WIRE_ESHORT : 0;
  case VG_FT_REPLY: return h->len < 4 ? VG_WIRE_ESHORT : 0;
  default: return 0;
  }
}

static void put_hex(vg_wr *w, const char *h) {
  uint8_t tmp[8192];
  size_t n = json_unhex(h, tmp, sizeof tmp);
  vg_wr_raw(w, tmp, n);
}

/* Builds the frame from the decoded fields of a valid case. */
static void encode(const jval *f, vg_wr *w) {
  vg_frame_hdr h = {.type = (uint16_t)json_int(json_get(f, "type")),
                    .flags = (uint16_t)json_int(json_get(f, "flags")),
                    .id = (uint32_t)json_int(json_get(f, "id")),
                    .op = (uint32_t)json_int(json_get(f, "op"))};
  vg_wr_raw(w, (uint8_t[VG_FRAME_HDR_LEN]){0}, VG_FRAME_HDR_LEN);
  if (h.type == VG_FT_HELLO) {
    const char *t = json_str(json_get(f, "token")), *ho = json_str(json_get(f, "host")),
               *pr = json_str(json_get(f, "program"));
    vg_hello x = {.magic = (uint32_t)json_int(json_get(f, "magic")),
                  .major = (uint16_t)json_int(json_get(f, "major")),
                  .minor = (uint16_t)json_int(json_get(f, "minor")),
                  .flags = (uint32_t)json_int(json_get(f, "guest_flags")),
                  .pid = (uint32_t)json_int(json_get(f, "pid")),
                  .token = t, .token_len = strlen(t), .host = ho, .host_len = strlen(ho),
                  .program = pr, .program_len = strlen(pr)};
    ASSERT_EQ(vg_hello_encode(w, &x), 0);
  } else if (h.type == VG_FT_WELCOME) {
    const jval *ds = json_get(f, "devices");
    vg_devrec dev[4];
    int32_t attrs[4][64];
    ASSERT_TRUE(ds->n <= 4);
    for (size_t i = 0; i < ds->n; i++) {
      const jval *d = ds->items[i], *a = json_get(d, "attributes");
      dev[i].name = (char *)json_str(json_get(d, "name"));
      json_unhex(json_str(json_get(d, "uuid")), dev[i].uuid, 16);
      dev[i].total_mem = u64s(json_get(d, "total_mem"));
      dev[i].pci_domain = (uint32_t)json_int(json_get(d, "pci_domain"));
      dev[i].pci_bus = (uint32_t)json_int(json_get(d, "pci_bus"));
      dev[i].pci_device = (uint32_t)json_int(json_get(d, "pci_device"));
      ASSERT_TRUE(a->n <= 64);
      dev[i].nattr = (uint32_t)a->n;
      for (size_t k = 0; k < a->n; k++) attrs[i][k] = (int32_t)json_int(a->items[k]);
      dev[i].attr = attrs[i];
    }
    vg_welcome x = {.major = (uint16_t)json_int(json_get(f, "major")),
                    .minor = (uint16_t)json_int(json_get(f, "minor")),
                    .host_flags = (uint32_t)json_int(json_get(f, "host_flags")),
                    .session = u64s(json_get(f, "session")),
                    .driver_version = (uint32_t)json_int(json_get(f, "driver_version")),
                    .vm_name = (char *)json_str(json_get(f, "vm_name")),
                    .count = (uint32_t)ds->n, .dev = dev};
    ASSERT_EQ(vg_welcome_encode(w, &x), 0);
  } else if (h.type == VG_FT_ATTACH) {
    /* no payload */
  } else if (h.type == VG_FT_ERROR || h.type == VG_FT_ATTACHED) {
    const char *m = json_str(json_get(f, "message"));
    vg_errmsg x = {.code = (uint32_t)json_int(json_get(f, "code")), .msg = m, .msg_len = strlen(m)};
    ASSERT_EQ(vg_error_encode(w, &x), 0);
  } else if (h.type == VG_FT_NOTIFY && h.op == VG_NOTICE_SHUTDOWN) {
    const char *m = json_str(json_get(f, "message"));
    vg_errmsg x = {.code = (uint32_t)json_int(json_get(f, "grace_ms")), .msg = m, .msg_len = strlen(m)};
    ASSERT_EQ(vg_error_encode(w, &x), 0);
  } else if (h.type == VG_FT_CALL) {
    vg_wr_u64(w, u64s(json_get(f, "ctx")));
    put_hex(w, json_str(json_get(f, "args_hex")));
  } else if (h.type == VG_FT_REPLY) {
    vg_wr_u32(w, (uint32_t)json_int(json_get(f, "result")));
    put_hex(w, json_str(json_get(f, "outputs_hex")));
  } else {
    put_hex(w, json_str(json_get(f, "data_hex")));
  }
  ASSERT_EQ(w->err, 0);
  h.len = (uint32_t)(w->len - VG_FRAME_HDR_LEN);
  vg_wire_put_hdr(w->p, &h);
}

/* Checks decoded payload fields against the case. */
static void check_fields(const jval *f, const vg_frame_hdr *h, const uint8_t *pl) {
  ASSERT_EQ(h->type, json_int(json_get(f, "type")));
  ASSERT_EQ(h->flags, json_int(json_get(f, "flags")));
  ASSERT_EQ(h->id, json_int(json_get(f, "id")));
  ASSERT_EQ(h->op, json_int(json_get(f, "op")));
  if (h->type == VG_FT_HELLO) {
    vg_hello x;
    ASSERT_EQ(vg_hello_decode(pl, h->len, &x), 0);
    ASSERT_EQ(x.pid, json_int(json_get(f, "pid")));
    ASSERT_EQ(x.flags, json_int(json_get(f, "guest_flags")));
    ASSERT_EQ(x.major, json_int(json_get(f, "major")));
    ASSERT_EQ(x.token_len, strlen(json_str(json_get(f, "token"))));
    ASSERT_TRUE(!memcmp(x.token, json_str(json_get(f, "token")), x.token_len));
    ASSERT_EQ(x.program_len, strlen(json_str(json_get(f, "program"))));
  } else if (h->type == VG_FT_WELCOME) {
    vg_welcome w;
    ASSERT_EQ(vg_welcome_decode(pl, h->len, &w), 0);
    const jval *ds = json_get(f, "devices");
    ASSERT_U64_EQ(w.session, u64s(json_get(f, "session")));
    ASSERT_EQ(w.driver_version, json_int(json_get(f, "driver_version")));
    ASSERT_STR_EQ(w.vm_name, json_str(json_get(f, "vm_name")));
    ASSERT_EQ(w.count, ds->n);
    for (size_t i = 0; i < ds->n; i++) {
      const jval *d = ds->items[i], *a = json_get(d, "attributes");
      ASSERT_STR_EQ(w.dev[i].name, json_str(json_get(d, "name")));
      ASSERT_U64_EQ(w.dev[i].total_mem, u64s(json_get(d, "total_mem")));
      ASSERT_EQ(w.dev[i].pci_bus, json_int(json_get(d, "pci_bus")));
      ASSERT_EQ(w.dev[i].nattr, a->n);
      for (size_t k = 0; k < a->n; k++) ASSERT_EQ(w.dev[i].attr[k], json_int(a->items[k]));
    }
    vg_welcome_free(&w);
  } else if (h->type == VG_FT_ERROR || h->type == VG_FT_ATTACHED) {
    vg_errmsg m;
    ASSERT_EQ(vg_error_decode(pl, h->len, &m), 0);
    ASSERT_EQ(m.code, json_int(json_get(f, "code")));
    ASSERT_EQ(m.msg_len, strlen(json_str(json_get(f, "message"))));
  } else if (h->type == VG_FT_NOTIFY && h->op == VG_NOTICE_SHUTDOWN) {
    vg_errmsg m;
    ASSERT_EQ(vg_error_decode(pl, h->len, &m), 0);
    ASSERT_EQ(m.code, json_int(json_get(f, "grace_ms")));
    ASSERT_EQ(m.msg_len, strlen(json_str(json_get(f, "message"))));
    ASSERT_TRUE(!memcmp(m.msg, json_str(json_get(f, "message")), m.msg_len));
  } else if (h->type == VG_FT_CALL) {
    vg_rd r;
    vg_rd_init(&r, pl, h->len);
    ASSERT_U64_EQ(vg_rd_u64(&r), u64s(json_get(f, "ctx")));
    ASSERT_EQ(h->len - 8, strlen(json_str(json_get(f, "args_hex"))) / 2);
  } else if (h->type == VG_FT_REPLY) {
    vg_rd r;
    vg_rd_init(&r, pl, h->len);
    ASSERT_EQ(vg_rd_u32(&r), json_int(json_get(f, "result")));
  }
}

/* What decode() found in the vector at hand. */
typedef struct decoded {
  vg_frame_hdr h;
  const uint8_t *pl;
} decoded;

static int decode_vector(void *ctx, const uint8_t *b, size_t n) {
  decoded *d = ctx;
  d->pl = NULL;
  return decode(b, n, &d->h, &d->pl);
}

/* A valid frame decodes to its fields and re-encodes byte for byte. */
static void check_vector(void *ctx, const jval *f, const uint8_t *b, size_t n, const char *name) {
  decoded *d = ctx;
  check_fields(f, &d->h, d->pl);
  vg_wr w;
  vg_wr_init(&w, VG_FRAME_HDR_LEN + VG_MAX_PAYLOAD);
  encode(f, &w);
  if (w.len != n || memcmp(w.p, b, n)) VGT_FAIL("%s: re-encoding differs (%zu vs %zu bytes)", name, w.len, n);
  vg_wr_free(&w);
}

TEST(wire_vectors) {
  decoded d;
  int valid, invalid;
  vectors_run(json_load_array("VGPU_VECTORS", "test/vectors/protocol.json"), decode_vector, check_vector, &d, &valid, &invalid);
  ASSERT_TRUE(valid >= 10);
  ASSERT_TRUE(invalid >= 10);
}

/* Checks the runtime makes beyond the shared vectors: a CALL must hold its u64 ctx prefix, a
 * REPLY its u32 result, ATTACH nothing. */
TEST(wire_local_payload_rules) {
  uint8_t b[VG_FRAME_HDR_LEN + 8] = {0};
  vg_frame_hdr h = {.len = 4, .type = VG_FT_CALL, .id = 1, .op = 0x131};
  const uint8_t *pl;
  vg_wire_put_hdr(b, &h);
  ASSERT_EQ(decode(b, VG_FRAME_HDR_LEN + 4, &h, &pl), VG_WIRE_ESHORT);
  h = (vg_frame_hdr){.len = 2, .type = VG_FT_REPLY, .id = 1};
  vg_wire_put_hdr(b, &h);
  ASSERT_EQ(decode(b, VG_FRAME_HDR_LEN + 2, &h, &pl), VG_WIRE_ESHORT);
  h = (vg_frame_hdr){.len = 1, .type = VG_FT_ATTACH};
  vg_wire_put_hdr(b, &h);
  ASSERT_EQ(decode(b, VG_FRAME_HDR_LEN + 1, &h, &pl), VG_WIRE_ETRAIL);
  h = (vg_frame_hdr){.len = 0, .type = VG_FT_PING};
  vg_wire_put_hdr(b, &h);
  ASSERT_EQ(decode(b, VG_FRAME_HDR_LEN + 1, &h, &pl), VG_WIRE_ETRAIL); /* two frames' worth */
}

TEST(wire_header_limits) {
  uint8_t b[VG_FRAME_HDR_LEN];
  vg_frame_hdr h = {.len = VG_MAX_PAYLOAD, .type = VG_FT_REPLY, .flags = VG_FF_MORE, .id = 5};
  vg_frame_hdr out;
  vg_wire_put_hdr(b, &h);
  ASSERT_EQ(vg_wire_get_hdr(b, &out), 0);
  ASSERT_EQ(out.len, VG_MAX_PAYLOAD);
  h.len++;
  vg_wire_put_hdr(b, &h);
  ASSERT_EQ(vg_wire_get_hdr(b, &out), VG_WIRE_EOVERSIZE);
  h.len = 0;
  h.type = VG_FT_NOTIFY;
  h.flags = 0;
  vg_wire_put_hdr(b, &h);
  ASSERT_EQ(vg_wire_get_hdr(b, &out), 0);
}

TEST(wire_writer_refuses_long_string_and_limit) {
  vg_wr w;
  char big[VG_MAX_STR + 1];
  memset(big, 'a', sizeof big);
  vg_wr_init(&w, 64);
  vg_wr_str(&w, big, VG_MAX_STR + 1);
  ASSERT_EQ(w.err, VG_WIRE_ESTR);
  vg_wr_free(&w);
  vg_wr_init(&w, 8);
  vg_wr_u64(&w, 1);
  ASSERT_EQ(w.err, 0);
  vg_wr_u8(&w, 1);
  ASSERT_EQ(w.err, VG_WIRE_EOVERSIZE);
  vg_wr_free(&w);
}

TEST(wire_welcome_attr_count_checked_before_alloc) {
  /* A device claiming 4096 attributes with none present must fail without a 16 KiB read. */
  vg_wr w;
  vg_wr_init(&w, 1 << 20);
  vg_welcome x = {.major = 1, .vm_name = "v", .count = 1};
  vg_devrec d = {.name = "n", .nattr = 0};
  x.dev = &d;
  vg_welcome_encode(&w, &x);
  ASSERT_EQ(w.err, 0);
  /* patch the device's attribute count (last 4 bytes) */
  w.p[w.len - 4] = 0x00;
  w.p[w.len - 3] = 0x10;
  vg_welcome out;
  ASSERT_EQ(vg_welcome_decode(w.p, w.len, &out), VG_WIRE_ESHORT);
  w.p[w.len - 3] = 0x20; /* 8192 > VG_MAX_ATTRS */
  ASSERT_EQ(vg_welcome_decode(w.p, w.len, &out), VG_WIRE_ELIMIT);
  vg_wr_free(&w);
}

/* Counts the entries it is shown and refuses tag 2 (VG_WIRE_ELIMIT, an arbitrary error). */
static int count_until_tag2(void *ctx, const vg_ext *e) {
  ++*(int *)ctx;
  return e->tag == 2 ? VG_WIRE_ELIMIT : 0;
}

TEST(wire_ext_block_bounds_and_entry_errors) {
  /* The one block codec of WELCOME and STATUS_REPLY: count bound on both sides, entries in wire
   * order, an entry's error stops the walk, a length past the payload is ESTR. */
  static const vg_ext e[3] = {{1, 2, (const uint8_t *)"ab"}, {2, 0, NULL}, {3, 1, (const uint8_t *)"c"}};
  vg_wr w;
  vg_wr_init(&w, 1 << 20);
  ASSERT_EQ(vg_ext_encode(&w, e, VG_MAX_EXTS + 1), VG_WIRE_ELIMIT);
  vg_wr_free(&w);
  vg_wr_init(&w, 1 << 20);
  ASSERT_EQ(vg_ext_encode(&w, e, 3), 0);
  vg_rd r;
  int seen = 0;
  vg_rd_init(&r, w.p, w.len);
  ASSERT_EQ(vg_ext_decode(&r, count_until_tag2, &seen), VG_WIRE_ELIMIT);
  ASSERT_EQ(seen, 2);
  w.p[0] = 1; /* one entry only: tag 1, then the length is cut */
  vg_rd_init(&r, w.p, 4 + 6 + 1);
  seen = 0;
  ASSERT_EQ(vg_ext_decode(&r, count_until_tag2, &seen), VG_WIRE_ESTR);
  ASSERT_EQ(seen, 0);
  w.p[0] = (uint8_t)((VG_MAX_EXTS + 1) & 0xff);
  w.p[1] = (uint8_t)((VG_MAX_EXTS + 1) >> 8);
  vg_rd_init(&r, w.p, w.len);
  ASSERT_EQ(vg_ext_decode(&r, count_until_tag2, &seen), VG_WIRE_ELIMIT);
  ASSERT_EQ(seen, 0);
  vg_wr_free(&w);
}
