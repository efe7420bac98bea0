/*
 * Module images as the guest ships them: the size of whatever the application passed (a fatbin
 * wrapper, a fatbin container, an ELF cubin, PTX text; cudart-driver-interface.md §5 and pitfall
 * 13), and the upload-once protocol: the image is named by SHA-256 and sent only when the host
 * does not have it for this VM yet (docs/protocol.md, "Module images").
 */
#include "vgcuda.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "rpc.h"
#include "sha256.h"

#define FATBINC_MAGIC 0x466243B1u
#define FATBIN_MAGIC 0xBA55ED50u
#define MAX_IMAGE ((uint64_t)1 << 30)
#define PIECE ((size_t)4 * 1024 * 1024)

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* ELF64: the furthest byte any header or section reaches. */
static uint64_t elf_size(const uint8_t *p) {
  if (p[4] != 2) return 0; /* ELFCLASS64 only, as nvcc emits */
  uint64_t phoff = rd64(p + 0x20), shoff = rd64(p + 0x28);
  uint16_t phentsize = rd16(p + 0x36), phnum = rd16(p + 0x38), shentsize = rd16(p + 0x3A), shnum = rd16(p + 0x3C);
  uint64_t end = 64;
  if (phoff && phoff + (uint64_t)phnum * phentsize > end) end = phoff + (uint64_t)phnum * phentsize;
  if (shoff && shoff + (uint64_t)shnum * shentsize > end) end = shoff + (uint64_t)shnum * shentsize;
  for (uint16_t i = 0; shoff && i < shnum && shentsize >= 0x28; i++) {
    const uint8_t *sh = p + shoff + (uint64_t)i * shentsize;
    if (rd32(sh + 4) == 8 /* SHT_NOBITS */) continue;
    uint64_t e = rd64(sh + 0x18) + rd64(sh + 0x20);
    if (e > end) end = e;
  }
  return end;
}

/* The size of the fatbin container at p (0 when it is not one). */
static uint64_t container_size(const uint8_t *p) {
  if (rd32(p) != FATBIN_MAGIC) return 0;
  uint64_t n = (uint64_t)rd16(p + 6) + rd64(p + 8);
  return n > MAX_IMAGE ? 0 : n;
}

/* The pre-link containers of a wrapper of version 2 (-rdc), a NULL-terminated array, or NULL. */
static const uint8_t *const *prelink_of(const uint8_t *wrapper) {
  if (rd32(wrapper + 4) != 2) return NULL;
  const uint8_t *const *pre;
  memcpy(&pre, wrapper + 16, sizeof pre);
  return pre && pre[0] ? pre : NULL;
}

/* Most pre-link containers one image may have (softgpu's limit too). */
#define MAX_PRELINK 4096

/*
 * An -rdc image's bundle: its linked container followed by its pre-link containers, in one
 * malloc'ed buffer. A GPU runs the linked cubin, but softgpu runs PTX, which only the pre-link
 * containers hold; the host hands its driver a wrapper of the same shape over the bundle
 * (src/executor/custom/module.ts), so the driver sees what it sees in-process.
 */
static CUresult rdc_bundle(const uint8_t *linked, const uint8_t *const *pre, uint8_t **out, uint64_t *size) {
  uint64_t total = container_size(linked);
  int n = 0;
  for (; pre[n] && n < MAX_PRELINK; n++) {
    uint64_t k = container_size(pre[n]);
    if (!k || total > MAX_IMAGE - k) return CUDA_ERROR_INVALID_IMAGE;
    total += k;
  }
  if (!container_size(linked) || pre[n]) return CUDA_ERROR_INVALID_IMAGE;
  uint8_t *b = malloc(total);
  if (!b) return CUDA_ERROR_OUT_OF_MEMORY;
  uint64_t at = container_size(linked);
  memcpy(b, linked, at);
  for (int i = 0; i < n; i++) {
    uint64_t k = container_size(pre[i]);
    memcpy(b + at, pre[i], k);
    at += k;
  }
  *out = b;
  *size = total;
  return CUDA_SUCCESS;
}

CUresult vg_image_span(const void *image, const void **start, uint64_t *size) {
  if (!image) return CUDA_ERROR_INVALID_VALUE;
  const uint8_t *p = image;
  if (rd32(p) == FATBINC_MAGIC) {
    /* __fatBinC_Wrapper_t {int magic; int version; const unsigned long long *data; void *filename_or_fatbins;}:
     * its linked container (an -rdc image's pre-link containers: vg_image_ensure). */
    const uint8_t *data;
    memcpy(&data, p + 8, sizeof data);
    if (!data) return CUDA_ERROR_INVALID_IMAGE;
    p = data;
  }
  uint64_t n;
  if (rd32(p) == FATBIN_MAGIC) {
    n = (uint64_t)rd16(p + 6) + rd64(p + 8);
  } else if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F') {
    n = elf_size(p);
  } else {
    /* PTX text: NUL-terminated, and it must look like PTX. */
    n = strnlen((const char *)p, MAX_IMAGE) + 1;
    if (n > MAX_IMAGE || !memmem(p, n, ".version", 8)) return CUDA_ERROR_INVALID_IMAGE;
  }
  if (n == 0 || n > MAX_IMAGE) return CUDA_ERROR_INVALID_IMAGE;
  *start = p;
  *size = n;
  return CUDA_SUCCESS;
}

/* Hashes this process already knows the host holds (so repeated loads skip the question). */
#define KNOWN_MAX 256
static pthread_mutex_t g_known_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t g_known[KNOWN_MAX][32];
static int g_nknown;

static int known(const uint8_t h[32]) {
  pthread_mutex_lock(&g_known_lock);
  int found = 0;
  for (int i = 0; i < g_nknown && !found; i++) found = memcmp(g_known[i], h, 32) == 0;
  pthread_mutex_unlock(&g_known_lock);
  return found;
}

static void remember(const uint8_t h[32]) {
  pthread_mutex_lock(&g_known_lock);
  memcpy(g_known[g_nknown % KNOWN_MAX], h, 32);
  g_nknown = g_nknown < KNOWN_MAX ? g_nknown + 1 : KNOWN_MAX;
  pthread_mutex_unlock(&g_known_lock);
}

static CUresult upload(const uint8_t h[32], const uint8_t *p, uint64_t n) {
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_vgImageHave, 0);
  if (r) return r;
  vg_put_raw(&c, h, 32);
  r = vg_call_invoke(&c);
  uint8_t have = r == CUDA_SUCCESS ? vg_get_u8(&c) : 0;
  if ((r = vg_call_end(&c, r))) return r;
  if (have) return CUDA_SUCCESS;
  if ((r = vg_call_begin(&c, VG_OP_vgImagePut, 0))) return r;
  uint64_t off = 0;
  do {
    size_t k = n - off < PIECE ? (size_t)(n - off) : PIECE;
    vg_put_raw(&c, h, 32);
    vg_put_u64(&c, n);
    vg_put_u64(&c, off);
    vg_put_bytes(&c, p + off, k);
    off += k;
    if (off < n && (r = vg_call_send_piece(&c))) return vg_call_end(&c, r);
  } while (off < n);
  return vg_call_end(&c, vg_call_invoke(&c));
}

CUresult vg_image_ensure(const void *image, uint8_t hash[32]) {
  const void *start;
  uint64_t n;
  uint8_t *bundle = NULL;
  CUresult r = vg_image_span(image, &start, &n);
  if (r) return r;
  const uint8_t *const *pre = rd32(image) == FATBINC_MAGIC ? prelink_of(image) : NULL;
  if (pre && rd32(start) == FATBIN_MAGIC) {
    if ((r = rdc_bundle(start, pre, &bundle, &n))) return r;
    start = bundle;
  }
  vg_sha256(start, (size_t)n, hash);
  if (!known(hash) && !(r = upload(hash, start, n))) remember(hash);
  free(bundle);
  return r;
}
