/*
 * MD2 (RFC 1319), HMAC-MD2 and the integrity MAC (guest/cuda/impl/integrity_md2.c, integrity.c).
 *
 * The MD2 vectors are RFC 1319's (appendix A.5). The HMAC and integrity vectors come from an
 * independent Python implementation (below), which also derives MD2's substitution table from
 * the digits of pi, so neither the table nor the algorithm is shared with the C code:
 *
 * import struct
 * def pi_digits(n):
 *     prec = n + 20; one = 10 ** prec
 *     def at(x):
 *         s = t = one // x; x2 = x * x; k = 1; sg = -1
 *         while t:
 *             t //= x2; s += sg * (t // (2 * k + 1)); sg = -sg; k += 1
 *         return s
 *     return [int(c) for c in str(4 * (4 * at(5) - at(239)))[:n]]
 * D = iter(pi_digits(2000))
 * def rnd(n):
 *     while True:
 *         x = next(D); y = 10
 *         if n > 10: x = x * 10 + next(D); y = 100
 *         if n > 100: x = x * 10 + next(D); y = 1000
 *         if x < n * (y // n): return x % n
 * S = list(range(256))
 * for i in range(2, 257):
 *     j = rnd(i); S[j], S[i - 1] = S[i - 1], S[j]
 * def md2(m):
 *     p = 16 - len(m) % 16; m = m + bytes([p]) * p
 *     C = [0] * 16; L = 0
 *     for i in range(0, len(m), 16):
 *         for j in range(16):
 *             C[j] ^= S[m[i + j] ^ L]; L = C[j]
 *     m += bytes(C); X = [0] * 48
 *     for i in range(0, len(m), 16):
 *         for j in range(16):
 *             X[16 + j] = m[i + j]; X[32 + j] = X[16 + j] ^ X[j]
 *         t = 0
 *         for r in range(18):
 *             for k in range(48):
 *                 X[k] ^= S[t]; t = X[k]
 *             t = (t + r) % 256
 *     return bytes(X[:16])
 * def hmac_md2(key, msg):
 *     if len(key) > 16: key = md2(key)
 *     key = key.ljust(16, b'\0')
 *     return md2(bytes(k ^ 0x5c for k in key) + md2(bytes(k ^ 0x36 for k in key) + msg))
 * assert md2(b'').hex() == '8350e5a3e24c153df2275c9f80692773'
 * assert md2(b'abc').hex() == 'da853b0d3f88d99b30283a69e6ded6bb'
 * KEY = bytes.fromhex('146addae53a9a752aa0841360bf55a9f')
 * head = struct.pack('<IIIIQQQQ', 13000, 13002, 4242, 0xdeadbeef, 0x7f0011223340, 0x7f0011223380, 0x7f00aabbccd0, 1700000000)
 * devs = bytes(range(16)) + struct.pack('<iii', 0, 0x65, 0) + bytes(range(100, 116)) + struct.pack('<iii', 1, 0x66, 3)
 * print('integrity', hmac_md2(KEY, head + devs).hex())
 * print('hmac long key', hmac_md2(b'k' * 40, b'hello world').hex())
 * print('hmac empty', hmac_md2(b'', b'').hex())
 *
 * Output: integrity 1f69b1ca66173de29cf12e40e8c8e48b, hmac long key 21cf25dfd764802a62b31b75a5adcd4c,
 * hmac empty 6f6e031223b36cd2a997787a03d16bf5.
 */
#include "vgcuda.h"

#include "darkapi.h"
#include "vgtest.h"

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static void check_md2(const char *msg, const char *want) {
  uint8_t d[16];
  char h[33];
  vg_md2(msg, strlen(msg), d);
  hex(d, 16, h);
  ASSERT_STR_EQ(h, want);
}

TEST(darkapi_md2_rfc1319_vectors) {
  check_md2("", "8350e5a3e24c153df2275c9f80692773");
  check_md2("a", "32ec01ec4a6dac72c0ab96fb34c0b5d1");
  check_md2("abc", "da853b0d3f88d99b30283a69e6ded6bb");
  check_md2("message digest", "ab4f496bfb2a530b219ff33031fe06b0");
  check_md2("abcdefghijklmnopqrstuvwxyz", "4e8ddff3650292ab5a4108c3aa47940b");
  check_md2("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "da33def2a42df13975352846c30338cd");
  check_md2("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "d5976f79d83d3a0dc9806c3c66f3efd8");
}

TEST(darkapi_md2_incremental_equals_one_shot) {
  uint8_t msg[300];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 37 + 11);
  uint8_t one[16], inc[16];
  vg_md2(msg, sizeof msg, one);
  /* Chunk sizes that straddle the 16-byte block in every way. */
  static const size_t chunks[] = {0, 1, 15, 16, 17, 3, 32, 5, 100, 7, 104};
  vg_md2_ctx c;
  vg_md2_init(&c);
  size_t off = 0;
  for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
    vg_md2_update(&c, msg + off, chunks[i]);
    off += chunks[i];
  }
  ASSERT_EQ(off, sizeof msg);
  vg_md2_final(&c, inc);
  ASSERT_EQ(memcmp(one, inc, 16), 0);
}

static void hmac(const void *key, size_t kn, const void *msg, size_t mn, char out[33]) {
  vg_hmac_md2 h;
  uint8_t d[16];
  vg_hmac_md2_init(&h, key, kn);
  vg_hmac_md2_update(&h, msg, mn);
  vg_hmac_md2_final(&h, d);
  hex(d, 16, out);
}

TEST(darkapi_hmac_md2_matches_python) {
  char h[33];
  hmac("", 0, "", 0, h);
  ASSERT_STR_EQ(h, "6f6e031223b36cd2a997787a03d16bf5");
  char key[40];
  memset(key, 'k', sizeof key); /* longer than a block: hashed first */
  hmac(key, sizeof key, "hello world", 11, h);
  ASSERT_STR_EQ(h, "21cf25dfd764802a62b31b75a5adcd4c");
}

TEST(darkapi_integrity_mac_matches_python) {
  vg_integrity_head m = {
      .driver_version = 13000,
      .version = 13002,
      .pid = 4242,
      .tid = 0xdeadbeefu,
      .cudart_table = 0x7f0011223340ull,
      .integrity_table = 0x7f0011223380ull,
      .integrity_fn = 0x7f00aabbccd0ull,
      .unix_seconds = 1700000000ull,
  };
  vg_integrity_dev d[2];
  for (int i = 0; i < 16; i++) d[0].uuid[i] = (uint8_t)i, d[1].uuid[i] = (uint8_t)(100 + i);
  d[0].pci_domain = 0, d[0].pci_bus = 0x65, d[0].pci_device = 0;
  d[1].pci_domain = 1, d[1].pci_bus = 0x66, d[1].pci_device = 3;
  uint8_t mac[16];
  char h[33];
  vg_integrity_mac(&m, d, 2, mac);
  hex(mac, 16, h);
  ASSERT_STR_EQ(h, "1f69b1ca66173de29cf12e40e8c8e48b");
  /* Every input matters: one PCI bus number off gives another MAC (cudart then fails with 103). */
  d[1].pci_bus++;
  vg_integrity_mac(&m, d, 2, mac);
  hex(mac, 16, h);
  ASSERT_TRUE(strcmp(h, "1f69b1ca66173de29cf12e40e8c8e48b") != 0);
}
