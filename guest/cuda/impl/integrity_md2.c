/*
 * MD2 (RFC 1319) and HMAC over it (RFC 2104 with MD2's 16-byte block), for the driver's integrity
 * check (integrity.c). MD2 is long broken as a hash; it is here only because cudart verifies a
 * value computed with it. Written from the RFC's description, section 3.
 */
#include "darkapi.h"

#include <string.h>

/* The RFC's "random" permutation of 0..255: a Durstenfeld shuffle driven by the decimal digits
 * of pi (regenerate with the Python in guest/tests/test-darkapi-md2.c). */
static const uint8_t PI_SUBST[256] = {
     41,  46,  67, 201, 162, 216, 124,   1,  61,  54,  84, 161, 236, 240,   6,  19,
     98, 167,   5, 243, 192, 199, 115, 140, 152, 147,  43, 217, 188,  76, 130, 202,
     30, 155,  87,  60, 253, 212, 224,  22, 103,  66, 111,  24, 138,  23, 229,  18,
    190,  78, 196, 214, 218, 158, 222,  73, 160, 251, 245, 142, 187,  47, 238, 122,
    169, 104, 121, 145,  21, 178,   7,  63, 148, 194,  16, 137,  11,  34,  95,  33,
    128, 127,  93, 154,  90, 144,  50,  39,  53,  62, 204, 231, 191, 247, 151,   3,
    255,  25,  48, 179,  72, 165, 181, 209, 215,  94, 146,  42, 172,  86, 170, 198,
     79, 184,  56, 210, 150, 164, 125, 182, 118, 252, 107, 226, 156, 116,   4, 241,
     69, 157, 112,  89, 100, 113, 135,  32, 134,  91, 207, 101, 230,  45, 168,   2,
     27,  96,  37, 173, 174, 176, 185, 246,  28,  70,  97, 105,  52,  64, 126,  15,
     85,  71, 163,  35, 221,  81, 175,  58, 195,  92, 249, 206, 186, 197, 234,  38,
     44,  83,  13, 110, 133,  40, 132,   9, 211, 223, 205, 244,  65, 129,  77,  82,
    106, 220,  55, 200, 108, 193, 171, 250,  36, 225, 123,   8,  12, 189, 177,  74,
    120, 136, 149, 139, 227,  99, 232, 109, 233, 203, 213, 254,  59,   0,  29,  57,
    242, 239, 183,  14, 102,  88, 208, 228, 166, 119, 114, 248, 235, 117,  75,  10,
     49,  68,  80, 180, 143, 237,  31,  26, 219, 153, 141,  51, 159,  17, 131,  20,
};

void vg_md2_init(vg_md2_ctx *c) { memset(c, 0, sizeof *c); }

/* Section 3.2 (checksum: the RFC's errata-corrected form, C[j] ^= S[M[j] ^ L]) and 3.4 (the
 * 18-round compression over the 48-byte X). */
static void block(vg_md2_ctx *c, const uint8_t m[16]) {
  uint8_t x[48];
  memcpy(x, c->state, 16);
  memcpy(x + 16, m, 16);
  for (int j = 0; j < 16; j++) x[32 + j] = (uint8_t)(c->state[j] ^ m[j]);
  unsigned t = 0;
  for (int round = 0; round < 18; round++) {
    for (int k = 0; k < 48; k++) t = x[k] ^= PI_SUBST[t];
    t = (t + (unsigned)round) & 0xff;
  }
  memcpy(c->state, x, 16);
  uint8_t l = c->checksum[15];
  for (int j = 0; j < 16; j++) l = c->checksum[j] ^= PI_SUBST[m[j] ^ l];
}

void vg_md2_update(vg_md2_ctx *c, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len) {
    size_t k = 16 - c->n;
    if (k > len) k = len;
    memcpy(c->buf + c->n, p, k);
    c->n += k;
    p += k;
    len -= k;
    if (c->n == 16) {
      block(c, c->buf);
      c->n = 0;
    }
  }
}

void vg_md2_final(vg_md2_ctx *c, uint8_t out[16]) {
  /* 3.1: always pad, with i bytes of value i (1..16). */
  uint8_t pad[16];
  uint8_t i = (uint8_t)(16 - c->n);
  memset(pad, i, sizeof pad);
  vg_md2_update(c, pad, i);
  uint8_t sum[16];
  memcpy(sum, c->checksum, 16); /* 3.2: the checksum is appended as one more block */
  vg_md2_update(c, sum, 16);
  memcpy(out, c->state, 16);
  memset(c, 0, sizeof *c);
}

void vg_md2(const void *data, size_t len, uint8_t out[16]) {
  vg_md2_ctx c;
  vg_md2_init(&c);
  vg_md2_update(&c, data, len);
  vg_md2_final(&c, out);
}

void vg_hmac_md2_init(vg_hmac_md2 *h, const uint8_t *key, size_t keylen) {
  uint8_t k[16] = {0};
  if (keylen > 16) vg_md2(key, keylen, k);
  else if (keylen) memcpy(k, key, keylen);
  uint8_t ikey[16];
  for (int j = 0; j < 16; j++) {
    ikey[j] = (uint8_t)(k[j] ^ 0x36);
    h->okey[j] = (uint8_t)(k[j] ^ 0x5c);
  }
  vg_md2_init(&h->inner);
  vg_md2_update(&h->inner, ikey, 16);
}

void vg_hmac_md2_update(vg_hmac_md2 *h, const void *data, size_t len) { vg_md2_update(&h->inner, data, len); }

void vg_hmac_md2_final(vg_hmac_md2 *h, uint8_t out[16]) {
  uint8_t ih[16];
  vg_md2_final(&h->inner, ih);
  vg_md2_ctx o;
  vg_md2_init(&o);
  vg_md2_update(&o, h->okey, 16);
  vg_md2_update(&o, ih, 16);
  vg_md2_final(&o, out);
  memset(h, 0, sizeof *h);
}
