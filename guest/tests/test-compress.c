/* LZ4 for CALL payloads (compress.c): what is compressed, what is not, and that it round-trips. */
#include "vgtest.h"

#include <dlfcn.h>

#include "compress.h"
#include "wire.h"

typedef int (*decompress_fn)(const char *src, char *dst, int src_size, int dst_capacity);

/* A CALL frame of `plen` payload bytes made by `fill`. */
static uint8_t *call_frame(size_t plen, int random) {
  uint8_t *f = malloc(VG_FRAME_HDR_LEN + plen);
  vg_frame_hdr h = {.len = (uint32_t)plen, .type = VG_FT_CALL, .flags = VG_FF_MORE, .id = 9, .op = 0x123};
  vg_wire_put_hdr(f, &h);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < plen; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    f[VG_FRAME_HDR_LEN + i] = random ? (uint8_t)x : (uint8_t)(i * 131u + (i >> 12));
  }
  return f;
}

TEST(compress_large_compressible_payload_round_trips) {
  unsetenv("VGPU_COMPRESSION");
  if (!vg_lz4_offer()) {
    fprintf(stderr, "  skipped: liblz4.so.1 is not installed (make deps installs liblz4-dev)\n");
    return;
  }
  size_t plen = 4u << 20;
  uint8_t *f = call_frame(plen, 0);
  size_t n;
  const uint8_t *c = vg_lz4_frame(f, VG_FRAME_HDR_LEN + plen, &n);
  ASSERT_TRUE(c != f);
  ASSERT_TRUE(n < VG_FRAME_HDR_LEN + plen / 8);
  vg_frame_hdr h;
  ASSERT_EQ(vg_wire_get_hdr(c, &h), 0);
  ASSERT_EQ(h.flags, VG_FF_MORE | VG_FF_LZ4);
  ASSERT_EQ(h.id, 9);
  ASSERT_EQ(h.op, 0x123);
  ASSERT_EQ(h.len, n - VG_FRAME_HDR_LEN);
  const uint8_t *p = c + VG_FRAME_HDR_LEN;
  ASSERT_EQ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24, plen);
  void *lib = dlopen("liblz4.so.1", RTLD_NOW);
  ASSERT_TRUE(lib != NULL);
  decompress_fn d = (decompress_fn)dlsym(lib, "LZ4_decompress_safe");
  ASSERT_TRUE(d != NULL);
  char *out = malloc(plen);
  ASSERT_EQ(d((const char *)p + 4, out, (int)(h.len - 4), (int)plen), (int)plen);
  ASSERT_EQ(memcmp(out, f + VG_FRAME_HDR_LEN, plen), 0);
  free(out);
  free(f);
}

TEST(compress_leaves_random_and_small_payloads_alone) {
  unsetenv("VGPU_COMPRESSION");
  if (!vg_lz4_offer()) {
    fprintf(stderr, "  skipped: liblz4.so.1 is not installed (make deps installs liblz4-dev)\n");
    return;
  }
  size_t n;
  uint8_t *r = call_frame(4u << 20, 1);
  ASSERT_TRUE(vg_lz4_frame(r, VG_FRAME_HDR_LEN + (4u << 20), &n) == r);
  ASSERT_EQ(n, VG_FRAME_HDR_LEN + (4u << 20));
  uint8_t *s = call_frame(32u << 10, 0);
  ASSERT_TRUE(vg_lz4_frame(s, VG_FRAME_HDR_LEN + (32u << 10), &n) == s);
  ASSERT_EQ(n, VG_FRAME_HDR_LEN + (32u << 10));
  free(r);
  free(s);
}

TEST(compress_not_offered_when_turned_off) {
  setenv("VGPU_COMPRESSION", "off", 1);
  ASSERT_EQ(vg_lz4_offer(), 0);
  setenv("VGPU_COMPRESSION", "0", 1);
  ASSERT_EQ(vg_lz4_offer(), 0);
  unsetenv("VGPU_COMPRESSION");
}
