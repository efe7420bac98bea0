/* The WELCOME extension block (protocol minor 1) in the C codec: what the shared vectors in
 * test/vectors/protocol.json cannot express (a driver string, unknown tags). */
#include "vgtest.h"

#include "wire.h"

static vg_devrec one_dev(void) {
  static int32_t attrs[3] = {0, 1024, INT32_MIN};
  vg_devrec d = {.name = "dev", .total_mem = 1ull << 30, .pci_bus = 0x65, .nattr = 3, .attr = attrs};
  for (int i = 0; i < 16; i++) d.uuid[i] = (uint8_t)i;
  return d;
}

static vg_wr encode(uint16_t minor, char *driver) {
  vg_devrec d = one_dev();
  vg_welcome w = {.major = 1, .minor = minor, .session = 9, .driver_version = 13000, .vm_name = "vm",
                  .count = 1, .dev = &d, .driver_string = driver};
  vg_wr b;
  vg_wr_init(&b, VG_MAX_PAYLOAD);
  ASSERT_EQ(vg_welcome_encode(&b, &w), 0);
  return b;
}

TEST(nvml_wire_driver_string_round_trip) {
  vg_wr b = encode(1, "580.65.06");
  /* The block is the last 4 + 2 + 4 + 9 bytes: count 1, tag 1, len 9, the string. */
  const uint8_t tail[] = {1, 0, 0, 0, 1, 0, 9, 0, 0, 0, '5', '8', '0', '.', '6', '5', '.', '0', '6'};
  ASSERT_TRUE(b.len > sizeof tail);
  ASSERT_EQ(memcmp(b.p + b.len - sizeof tail, tail, sizeof tail), 0);
  vg_welcome w;
  ASSERT_EQ(vg_welcome_decode(b.p, b.len, &w), 0);
  ASSERT_STR_EQ(w.driver_string, "580.65.06");
  ASSERT_EQ(w.count, 1);
  ASSERT_EQ(w.dev[0].pci_bus, 0x65);
  vg_welcome_free(&w);
  vg_wr_free(&b);
}

TEST(nvml_wire_minor0_has_no_block) {
  vg_wr b0 = encode(0, "580.65.06"), b1 = encode(1, NULL);
  /* Minor 0 drops the string (a minor-0 guest could not read it); minor 1 without one still
   * writes the (empty) block. */
  ASSERT_EQ(b1.len, b0.len + 4);
  vg_welcome w;
  ASSERT_EQ(vg_welcome_decode(b0.p, b0.len, &w), 0);
  ASSERT_PTR_EQ(w.driver_string, NULL);
  vg_welcome_free(&w);
  ASSERT_EQ(vg_welcome_decode(b1.p, b1.len, &w), 0);
  ASSERT_PTR_EQ(w.driver_string, NULL);
  vg_welcome_free(&w);
  /* A minor-1 payload cut before its block is malformed, and a minor-0 one with a block has
   * trailing bytes. */
  ASSERT_EQ(vg_welcome_decode(b1.p, b0.len, &w), VG_WIRE_ESHORT);
  b0.p[2] = 0, b1.p[2] = 0; /* minor := 0 */
  ASSERT_EQ(vg_welcome_decode(b1.p, b1.len, &w), VG_WIRE_ETRAIL);
  vg_wr_free(&b0);
  vg_wr_free(&b1);
}

/* Rewrites the block of a minor-1 payload (its last 4 bytes, an empty block) with `blk`. */
static int decode_with_block(const uint8_t *blk, size_t n, vg_welcome *w) {
  vg_wr b = encode(1, NULL);
  b.len -= 4;
  vg_wr_raw(&b, blk, n);
  ASSERT_EQ(b.err, 0);
  int e = vg_welcome_decode(b.p, b.len, w);
  vg_wr_free(&b);
  return e;
}

TEST(nvml_wire_unknown_tags_skipped) {
  const uint8_t blk[] = {3, 0, 0, 0, 0x77, 0, 3, 0, 0, 0, 'a', 'b', 'c', 1, 0, 3, 0, 0, 0, '5', '9', '0',
                         0xff, 0xff, 0, 0, 0, 0};
  vg_welcome w;
  ASSERT_EQ(decode_with_block(blk, sizeof blk, &w), 0);
  ASSERT_STR_EQ(w.driver_string, "590");
  vg_welcome_free(&w);
}

TEST(nvml_wire_bad_blocks_rejected) {
  vg_welcome w;
  const uint8_t nul[] = {1, 0, 0, 0, 1, 0, 3, 0, 0, 0, '5', 0, '0'};
  ASSERT_EQ(decode_with_block(nul, sizeof nul, &w), VG_WIRE_ESTR);
  const uint8_t past[] = {1, 0, 0, 0, 9, 0, 0xff, 0xff, 0xff, 0xff, 'x'};
  ASSERT_EQ(decode_with_block(past, sizeof past, &w), VG_WIRE_ESTR);
  const uint8_t many[] = {0x01, 0x01, 0, 0}; /* 257 entries */
  ASSERT_EQ(decode_with_block(many, sizeof many, &w), VG_WIRE_ELIMIT);
  const uint8_t missing[] = {2, 0, 0, 0, 5, 0, 0, 0, 0, 0};
  ASSERT_EQ(decode_with_block(missing, sizeof missing, &w), VG_WIRE_ESHORT);
  uint8_t big[4 + 6 + 80] = {1, 0, 0, 0, 1, 0, 80, 0, 0, 0};
  memset(big + 10, '5', 80);
  ASSERT_EQ(decode_with_block(big, sizeof big, &w), VG_WIRE_ESTR);
  /* The encoder refuses what the decoder would refuse. */
  char s[81];
  memset(s, '5', 80);
  s[80] = 0;
  vg_devrec d = one_dev();
  vg_welcome x = {.major = 1, .minor = 1, .vm_name = "vm", .count = 1, .dev = &d, .driver_string = s};
  vg_wr b;
  vg_wr_init(&b, VG_MAX_PAYLOAD);
  ASSERT_EQ(vg_welcome_encode(&b, &x), VG_WIRE_ESTR);
  vg_wr_free(&b);
}
