/*
 * LZ4 for CALL payloads (compress.h). Break-even: payloads under COMPRESS_MIN are sent as they
 * are (the per-frame cost would not pay); for larger ones a sample of SAMPLE bytes is compressed
 * first, and the whole payload only if the sample shrank below 7/8, so incompressible data
 * (random, already compressed) costs one small sample per 4 MiB piece; the result is used only
 * if it saved at least 1/8 as well.
 */
#include "compress.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define COMPRESS_MIN (64u * 1024u)
#define SAMPLE (64u * 1024u)

typedef int (*compress_fn)(const char *src, char *dst, int src_size, int dst_capacity, int accel);
typedef int (*bound_fn)(int size);

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static compress_fn p_compress;
static bound_fn p_bound;

static void load(void) {
  void *h = dlopen("liblz4.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return;
  compress_fn c = (compress_fn)dlsym(h, "LZ4_compress_fast");
  bound_fn b = (bound_fn)dlsym(h, "LZ4_compressBound");
  if (!c || !b) {
    dlclose(h);
    return;
  }
  p_bound = b;
  p_compress = c;
}

int vg_lz4_offer(void) {
  const char *e = getenv("VGPU_COMPRESSION");
  if (e && (!strcmp(e, "off") || !strcmp(e, "0"))) return 0;
  pthread_once(&g_once, load);
  return p_compress != NULL;
}

static uint8_t *g_buf;
static size_t g_cap;

/* Room in g_buf for a compressed payload of plen bytes behind a header and its length; 0 if none. */
static int reserve(size_t plen) {
  size_t need = VG_FRAME_HDR_LEN + 4 + (size_t)p_bound((int)plen);
  if (need > g_cap) {
    uint8_t *b = realloc(g_buf, need);
    if (!b) return 0;
    g_buf = b;
    g_cap = need;
  }
  return 1;
}

/* The sample test on data[0, n), n >= SAMPLE, into g_buf (reserved for at least n). */
static int sample_shrinks(const uint8_t *data, size_t n) {
  char *dst = (char *)g_buf + VG_FRAME_HDR_LEN + 4;
  int cap = (int)(g_cap - VG_FRAME_HDR_LEN - 4);
  /* The middle, past a call's leading arguments. */
  size_t at = (n - SAMPLE) / 2;
  int s = p_compress((const char *)data + at, dst, (int)SAMPLE, cap, 1);
  return s > 0 && (size_t)s * 8 <= (size_t)SAMPLE * 7;
}

int vg_lz4_worth(const uint8_t *data, size_t n) {
  if (!p_compress || n < COMPRESS_MIN || n > VG_MAX_PAYLOAD || !reserve(SAMPLE)) return 0;
  return sample_shrinks(data, n);
}

const uint8_t *vg_lz4_frame(const uint8_t *frame, size_t n, size_t *out_n) {
  *out_n = n;
  size_t plen = n - VG_FRAME_HDR_LEN;
  if (!p_compress || n < VG_FRAME_HDR_LEN || plen < COMPRESS_MIN || plen > VG_MAX_PAYLOAD) return frame;
  if (!reserve(plen)) return frame;
  const uint8_t *payload = frame + VG_FRAME_HDR_LEN;
  if (!sample_shrinks(payload, plen)) return frame;
  char *dst = (char *)g_buf + VG_FRAME_HDR_LEN + 4;
  int cap = (int)(g_cap - VG_FRAME_HDR_LEN - 4);
  int k = p_compress((const char *)payload, dst, (int)plen, cap, 1);
  if (k <= 0 || (size_t)k * 8 > plen * 7) return frame;
  vg_frame_hdr h;
  if (vg_wire_get_hdr(frame, &h)) return frame;
  h.len = (uint32_t)(4 + (size_t)k);
  h.flags |= VG_FF_LZ4;
  vg_wire_put_hdr(g_buf, &h);
  uint32_t p32 = (uint32_t)plen;
  for (int i = 0; i < 4; i++) g_buf[VG_FRAME_HDR_LEN + i] = (uint8_t)(p32 >> (8 * i));
  *out_n = VG_FRAME_HDR_LEN + 4 + (size_t)k;
  return g_buf;
}
