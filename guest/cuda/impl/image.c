/*
 * Module images as the guest ships them: the size of whatever the application passed (a fatbin
 * wrapper, a fatbin container, an ELF cubin, PTX text; cudart-driver-interface.md §5 and pitfall
 * 13), and the upload-once protocol: the image is named by SHA-256 and sent only when the host
 * does not have it for this VM yet (docs/protocol.md, "Module images").
 */
#include "vgcuda.h"

#include <pthread.h>
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

CUresult vg_image_span(const void *image, const void **start, uint64_t *size) {
  if (!image) return CUDA_ERROR_INVALID_VALUE;
  const uint8_t *p = image;
  if (rd32(p) == FATBINC_MAGIC) {
    /* __fatBinC_Wrapper_t {int magic; int version; const unsigned long long *data; void *filename_or_fatbins;}:
     * ship the linked container; -rdc pre-link containers are not needed to run. */
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
  CUresult r = vg_image_span(image, &start, &n);
  if (r) return r;
  vg_sha256(start, (size_t)n, hash);
  if (known(hash)) return CUDA_SUCCESS;
  if ((r = upload(hash, start, n))) return r;
  remember(hash);
  return CUDA_SUCCESS;
}
