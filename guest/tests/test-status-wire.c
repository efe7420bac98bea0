/* The C STATUS_REPLY codec (guest/common/impl/status.c) against the shared vectors in
 * test/vectors/status.json, which the TypeScript codec decodes too. */
#include "vgtest.h"

#include "json.h"
#include "status.h"
#include "wire.h"

/* A receiver's view: the header, then the payload by type (STATUS carries nothing). */
static int decode_status_frame(const uint8_t *b, size_t n, vg_frame_hdr *h, vg_status *s) {
  const uint8_t *pl;
  memset(s, 0, sizeof *s);
  int e = vg_wire_split_frame(b, n, h, &pl);
  if (e) return e;
  if (h->type == VG_FT_STATUS) return h->len ? VG_WIRE_ETRAIL : 0;
  if (h->type == VG_FT_STATUS_REPLY) return vg_status_decode(pl, h->len, s);
  VGT_FAIL("type %u in the status vectors", h->type);
}

static uint64_t dec(const jval *v) { return strtoull(json_str(v), NULL, 10); }

/* What decode() found in the vector at hand. */
typedef struct decoded {
  vg_frame_hdr h;
  vg_status s;
} decoded;

static int decode_vector(void *ctx, const uint8_t *b, size_t n) {
  decoded *v = ctx;
  return decode_status_frame(b, n, &v->h, &v->s);
}

/* A valid frame decodes to its fields and, without unknown tags, re-encodes byte for byte. */
static void check_vector(void *ctx, const jval *f, const uint8_t *b, size_t n, const char *name) {
  decoded *v = ctx;
  const vg_frame_hdr *h = &v->h;
  vg_status *s = &v->s;
  ASSERT_EQ(h->type, json_int(json_get(f, "type")));
  ASSERT_EQ(h->id, json_int(json_get(f, "id")));
  if (h->type != VG_FT_STATUS_REPLY) return;
  const jval *ds = json_get(f, "devices"), *board = json_get(f, "board"), *unknown = json_get(f, "unknown_ext");
  ASSERT_EQ(s->window_ms, json_int(json_get(f, "window_ms")));
  ASSERT_EQ(s->count, ds->n);
  for (size_t d = 0; d < ds->n; d++) {
    const jval *jd = ds->items[d], *ps = json_get(jd, "processes");
    ASSERT_EQ(s->dev[d].gpu_pct, json_int(json_get(jd, "gpu_pct")));
    ASSERT_EQ(s->dev[d].mem_pct, json_int(json_get(jd, "mem_pct")));
    ASSERT_U64_EQ(s->dev[d].mem_used, dec(json_get(jd, "mem_used")));
    ASSERT_EQ(s->dev[d].nproc, ps->n);
    for (size_t p = 0; p < ps->n; p++) {
      ASSERT_EQ(s->dev[d].proc[p].pid, (uint32_t)json_int(json_get(ps->items[p], "pid")));
      ASSERT_U64_EQ(s->dev[d].proc[p].used, dec(json_get(ps->items[p], "used")));
    }
  }
  if (board->t == J_NULL) {
    ASSERT_PTR_EQ(s->board, NULL);
  } else {
    ASSERT_TRUE(s->board != NULL);
    for (size_t d = 0; d < board->n; d++) {
      ASSERT_EQ(s->board[d].temp_c, (uint32_t)json_int(json_get(board->items[d], "temp_c")));
      ASSERT_EQ(s->board[d].power_mw, (uint32_t)json_int(json_get(board->items[d], "power_mw")));
      ASSERT_EQ(s->board[d].fan_pct, (uint32_t)json_int(json_get(board->items[d], "fan_pct")));
    }
  }
  /* The C encoder writes no unknown tags: re-encode the cases that have none. */
  if (!unknown || unknown->n == 0) {
    vg_wr w;
    vg_wr_init(&w, VG_FRAME_HDR_LEN + VG_MAX_PAYLOAD);
    vg_wr_raw(&w, (uint8_t[VG_FRAME_HDR_LEN]){0}, VG_FRAME_HDR_LEN);
    ASSERT_EQ(vg_status_encode(&w, s), 0);
    vg_frame_hdr oh = *h;
    oh.len = (uint32_t)(w.len - VG_FRAME_HDR_LEN);
    vg_wire_put_hdr(w.p, &oh);
    if (w.len != n || memcmp(w.p, b, n)) VGT_FAIL("%s: re-encoding differs (%zu vs %zu bytes)", name, w.len, n);
    vg_wr_free(&w);
  }
  vg_status_free(s);
}

TEST(status_wire_vectors) {
  decoded d;
  int valid, invalid;
  vectors_run(json_load_array("VGPU_STATUS_VECTORS", "test/vectors/status.json"), decode_vector, check_vector, &d, &valid, &invalid);
  ASSERT_TRUE(valid >= 4);
  ASSERT_TRUE(invalid >= 8);
}

/* Every prefix of a valid reply is refused without reading past it (ASan watches the reads). */
TEST(status_wire_every_prefix_is_refused) {
  vg_status_proc procs[2] = {{.pid = 1, .used = 5}, {.pid = 2, .used = 0}};
  vg_status_dev dev = {.gpu_pct = 9, .mem_pct = 1, .mem_used = 5, .nproc = 2, .proc = procs};
  vg_status_board board = {1, 2, 3, 4, 5, 6};
  vg_status s = {.window_ms = 2000, .count = 1, .dev = &dev, .board = &board};
  vg_wr w;
  vg_wr_init(&w, VG_MAX_PAYLOAD);
  ASSERT_EQ(vg_status_encode(&w, &s), 0);
  for (size_t n = 0; n < w.len; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, w.p, n);
    vg_status out;
    ASSERT_NE(vg_status_decode(copy, n, &out), 0);
    ASSERT_PTR_EQ(out.dev, NULL);
    free(copy);
  }
  vg_status out;
  ASSERT_EQ(vg_status_decode(w.p, w.len, &out), 0);
  ASSERT_EQ(out.board[0].fan_pct, 6);
  ASSERT_EQ(out.dev[0].proc[1].pid, 2);
  vg_status_free(&out);
  vg_wr_free(&w);
}

/* The board clocks tag (2) round-trips next to tag 1, comes alone too, and a wrong size fails. */
TEST(status_wire_board_clocks_tag) {
  vg_status_dev devs[2] = {{.gpu_pct = 1}, {.gpu_pct = 2}};
  vg_status_board board[2] = {{47, 123456, 275000, 1234, 5678, 42}, {0}};
  vg_status_clocks clocks[2] = {{1111, 2345, 6789, 2222, 2}, {VG_BOARD_UNKNOWN, 1, 2, 3, VG_BOARD_UNKNOWN}};
  vg_status s = {.window_ms = 1000, .count = 2, .dev = devs, .board = board, .clocks = clocks};
  vg_wr w;
  vg_wr_init(&w, VG_MAX_PAYLOAD);
  ASSERT_EQ(vg_status_encode(&w, &s), 0);
  vg_status out;
  ASSERT_EQ(vg_status_decode(w.p, w.len, &out), 0);
  ASSERT_EQ(out.board[0].temp_c, 47);
  ASSERT_EQ(out.clocks[0].sm_max_mhz, 2345);
  ASSERT_EQ(out.clocks[0].pstate, 2);
  ASSERT_EQ(out.clocks[1].gfx_mhz, VG_BOARD_UNKNOWN);
  ASSERT_EQ(out.clocks[1].gfx_max_mhz, 3);
  vg_status_free(&out);
  /* Tag 2 alone: no board, clocks present. */
  s.board = NULL;
  vg_wr w2;
  vg_wr_init(&w2, VG_MAX_PAYLOAD);
  ASSERT_EQ(vg_status_encode(&w2, &s), 0);
  ASSERT_EQ(vg_status_decode(w2.p, w2.len, &out), 0);
  ASSERT_PTR_EQ(out.board, NULL);
  ASSERT_EQ(out.clocks[1].mem_max_mhz, 2);
  vg_status_free(&out);
  /* One record short: the last 20 bytes gone, the tag's length and the ext's length say so. */
  size_t n = w2.len - 20;
  uint8_t *cut = malloc(w2.len);
  memcpy(cut, w2.p, w2.len);
  uint32_t len = 20;
  memcpy(cut + n - 4 - 20, &len, 4); /* tag 2's u32 length: 40 -> 20, then its payload ends early */
  ASSERT_NE(vg_status_decode(cut, n, &out), 0);
  ASSERT_PTR_EQ(out.dev, NULL);
  free(cut);
  vg_wr_free(&w2);
  vg_wr_free(&w);
}
