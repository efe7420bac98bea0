/*
 * sg_ptx_extract: finds the PTX in what a guest hands to cuModuleLoadData & co. Layouts are in
 * docs/reference/cudart-driver-interface.md §5. Every offset and size read from the
 * image is checked against the bytes known to exist before it is used: the image is untrusted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>

#include "ptx_internal.h"

#define FATBINC_MAGIC 0x466243B1u
#define FATBIN_MAGIC 0xBA55ED50u
#define ENTRY_PTX 1
#define FLAG_ZLIB 0x1000u
#define FLAG_LZ4 0x2000u
#define FLAG_ZSTD 0x8000u
/* No real image is this large; the cap keeps a hostile size field from driving huge mallocs. */
#define MAX_IMAGE (1ull << 31)

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void seterr(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

typedef struct best {
  int arch;      /* -1 when none yet */
  char *text;
  size_t len;
  int skipped_newer, skipped_codec, saw_elf;
  char devrt[64]; /* a device-runtime function linked into an ELF entry, "" when none */
} best;

static size_t strip_nuls(const char *s, size_t n) {
  while (n && s[n - 1] == '\0') n--;
  return n;
}

/* Decodes one PTX entry's payload into a malloc'ed buffer. */
static sg_ptx_status entry_payload(const uint8_t *pl, uint64_t plsize, uint64_t flags, uint64_t csize,
                                   uint64_t usize, char **out, size_t *outlen, char *err, size_t errlen) {
  if (flags & (FLAG_ZSTD | FLAG_LZ4)) {
    if (csize == 0 || csize > plsize) csize = plsize;
    if (usize == 0 || usize > MAX_IMAGE) {
      seterr(err, errlen, "fatbin: compressed PTX entry with invalid uncompressed size %llu",
             (unsigned long long)usize);
      return SG_PTX_ERR_PARSE;
    }
    char *buf = malloc(usize + 1);
    if (!buf) return SG_PTX_ERR_NOMEM;
    size_t got;
    if (flags & FLAG_ZSTD) {
      size_t r = ZSTD_decompress(buf, usize, pl, csize);
      if (ZSTD_isError(r)) {
        free(buf);
        seterr(err, errlen, "fatbin: ZSTD PTX entry does not decode: %s", ZSTD_getErrorName(r));
        return SG_PTX_ERR_PARSE;
      }
      got = r;
    } else {
      if (csize > INT32_MAX || usize > INT32_MAX) {
        free(buf);
        seterr(err, errlen, "fatbin: LZ4 PTX entry too large");
        return SG_PTX_ERR_PARSE;
      }
      int r = LZ4_decompress_safe((const char *)pl, buf, (int)csize, (int)usize);
      if (r < 0) {
        free(buf);
        seterr(err, errlen, "fatbin: LZ4 PTX entry does not decode");
        return SG_PTX_ERR_PARSE;
      }
      got = (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    *outlen = strip_nuls(buf, got);
    return SG_PTX_OK;
  }
  size_t n = strip_nuls((const char *)pl, plsize);
  char *buf = malloc(n + 1);
  if (!buf) return SG_PTX_ERR_NOMEM;
  memcpy(buf, pl, n);
  buf[n] = '\0';
  *out = buf;
  *outlen = n;
  return SG_PTX_OK;
}

/* Whether the uncompressed ELF cubin e (n bytes) has code of the CUDA device runtime linked in:
 * nvlink gives each function its own .text.<name> section, so a section of a device-runtime
 * function means the image was built with nvcc -rdc and launches (or otherwise calls the
 * runtime) from the device. Copies the function's name to name. */
static int elf_device_runtime(const uint8_t *e, uint64_t n, char *name, size_t namelen) {
  if (n < 64 || memcmp(e, "\x7f" "ELF", 4) != 0 || e[4] != 2 /* ELFCLASS64 */) return 0;
  uint64_t shoff = rd64(e + 0x28);
  uint16_t shentsize = rd16(e + 0x3A), shnum = rd16(e + 0x3C), shstrndx = rd16(e + 0x3E);
  if (shentsize < 0x40 || shstrndx >= shnum || shoff > n || (uint64_t)shnum * shentsize > n - shoff) return 0;
  const uint8_t *strsh = e + shoff + (uint64_t)shstrndx * shentsize;
  uint64_t stroff = rd64(strsh + 0x18), strsize = rd64(strsh + 0x20);
  if (stroff > n || strsize > n - stroff) return 0;
  const char *strs = (const char *)e + stroff;
  for (uint16_t i = 0; i < shnum; i++) {
    uint32_t nm = rd32(e + shoff + (uint64_t)i * shentsize);
    if (nm >= strsize) continue;
    const char *s = strs + nm;
    size_t len = strnlen(s, strsize - nm);
    if (len == strsize - nm || len <= 6 || memcmp(s, ".text.", 6) != 0) continue;
    if (sg_builtin_is_device_runtime(s + 6)) {
      snprintf(name, namelen, "%s", s + 6);
      return 1;
    }
  }
  return 0;
}

/* Whether PTX text s (n bytes) defines, not merely declares, a function of the CUDA device
 * runtime: then it is libcudadevrt's own PTX, which an -rdc image's pre-link containers carry
 * next to the program's, for every architecture it supports (compute_121 among them), and which
 * has none of the program's kernels. Copies the function's name to name. */
static int ptx_defines_device_runtime(const char *s, size_t n, char *name, size_t namelen) {
  const char *end = s + n;
  for (const char *f = s; (f = memmem(f, (size_t)(end - f), ".func", 5)) != NULL; f += 5) {
    const char *line = f;
    while (line > s && line[-1] != '\n') line--;
    if (memmem(line, (size_t)(f - line), ".extern", 7)) continue;
    const char *q = f + 5;
    while (q < end && (*q == ' ' || *q == '\t')) q++;
    if (q < end && *q == '(') { /* the return parameters */
      while (q < end && *q != ')') q++;
      q++;
      while (q < end && (*q == ' ' || *q == '\t')) q++;
    }
    size_t k = 0;
    while (q + k < end && (q[k] == '_' || q[k] == '$' || (q[k] >= '0' && q[k] <= '9') || (q[k] >= 'a' && q[k] <= 'z') ||
                           (q[k] >= 'A' && q[k] <= 'Z')))
      k++;
    char fn[64];
    if (k == 0 || k >= sizeof fn) continue;
    memcpy(fn, q, k);
    fn[k] = 0;
    if (sg_builtin_is_device_runtime(fn)) {
      snprintf(name, namelen, "%s", fn);
      return 1;
    }
  }
  return 0;
}

/* Walks one container of `avail` readable bytes (0 = trust the header's own size). */
static sg_ptx_status scan_container(const uint8_t *c, size_t avail, int sm, best *b, char *err, size_t errlen) {
  if (avail && avail < 16) {
    seterr(err, errlen, "fatbin: container truncated (%zu bytes)", avail);
    return SG_PTX_ERR_PARSE;
  }
  if (rd32(c) != FATBIN_MAGIC) {
    seterr(err, errlen, "fatbin: bad container magic 0x%08x", rd32(c));
    return SG_PTX_ERR_PARSE;
  }
  uint16_t hsize = rd16(c + 6);
  uint64_t fsize = rd64(c + 8);
  if (hsize < 16 || fsize > MAX_IMAGE || (avail && hsize + fsize > avail)) {
    seterr(err, errlen, "fatbin: container header/size out of range (header %u, files %llu, image %zu)", hsize,
           (unsigned long long)fsize, avail);
    return SG_PTX_ERR_PARSE;
  }
  const uint8_t *p = c + hsize;
  uint64_t left = fsize;
  while (left > 0) {
    if (left < 64) break; /* tail padding */
    uint16_t kind = rd16(p);
    uint32_t ehsize = rd32(p + 4);
    uint64_t psize = rd64(p + 8);
    if (ehsize < 64 || ehsize > left || psize > left - ehsize) {
      seterr(err, errlen, "fatbin: entry header/size out of range (header %u, payload %llu, left %llu)", ehsize,
             (unsigned long long)psize, (unsigned long long)left);
      return SG_PTX_ERR_PARSE;
    }
    if (kind == ENTRY_PTX) {
      uint32_t csize = rd32(p + 16);
      int arch = (int)rd32(p + 28);
      uint64_t flags = rd64(p + 40);
      uint64_t usize = rd64(p + 56);
      if (arch > sm) {
        b->skipped_newer = 1;
      } else if (flags & FLAG_ZLIB) {
        b->skipped_codec = 1;
      } else if (arch > b->arch) {
        char *text;
        size_t len;
        sg_ptx_status st = entry_payload(p + ehsize, psize, flags, csize, usize, &text, &len, err, errlen);
        if (st != SG_PTX_OK) return st;
        char rt[sizeof b->devrt];
        if (ptx_defines_device_runtime(text, len, rt, sizeof rt)) { /* not the program's: never chosen */
          if (!b->devrt[0]) memcpy(b->devrt, rt, sizeof rt);
          free(text);
          p += ehsize + psize;
          left -= ehsize + psize;
          continue;
        }
        free(b->text);
        b->text = text;
        b->len = len;
        b->arch = arch;
      }
    } else {
      b->saw_elf = 1;
      uint64_t flags = rd64(p + 40);
      if (!b->devrt[0] && !(flags & (FLAG_ZLIB | FLAG_LZ4 | FLAG_ZSTD)))
        elf_device_runtime(p + ehsize, psize, b->devrt, sizeof b->devrt);
    }
    p += ehsize + psize;
    left -= ehsize + psize;
  }
  return SG_PTX_OK;
}

static int looks_like_text(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && i < 64; i++) {
    uint8_t ch = p[i];
    if (ch == 0) return i > 0;
    if (ch < 0x09 || (ch > 0x0d && ch < 0x20) || ch >= 0x7f) return 0;
  }
  return 1;
}

sg_ptx_status sg_ptx_extract(const void *image, size_t image_size, int sm, char **ptx, size_t *ptx_len, char *err,
                             size_t errlen) {
  if (!image || !ptx || !ptx_len) {
    seterr(err, errlen, "extract: NULL argument");
    return SG_PTX_ERR_PARSE;
  }
  *ptx = NULL;
  *ptx_len = 0;
  const uint8_t *p = image;
  if (image_size && image_size < 4) {
    seterr(err, errlen, "image of %zu bytes is too small", image_size);
    return SG_PTX_ERR_PARSE;
  }
  best b = {.arch = -1};
  sg_ptx_status st;
  uint32_t magic = rd32(p);
  if (magic == FATBINC_MAGIC) {
    if (image_size && image_size < 24) {
      seterr(err, errlen, "fatbin wrapper truncated");
      return SG_PTX_ERR_PARSE;
    }
    uint32_t version = rd32(p + 4);
    const uint8_t *data = (const uint8_t *)(uintptr_t)rd64(p + 8);
    const uint8_t *const *prelink = (const uint8_t *const *)(uintptr_t)rd64(p + 16);
    if ((version != 1 && version != 2) || !data) {
      seterr(err, errlen, "fatbin wrapper: version %u, data %p", version, (const void *)data);
      return SG_PTX_ERR_PARSE;
    }
    st = scan_container(data, 0, sm, &b, err, errlen);
    /* -rdc: the linked container holds only ELF; the PTX is in the pre-link containers. */
    for (int i = 0; st == SG_PTX_OK && version == 2 && prelink && prelink[i] && i < 4096; i++)
      st = scan_container(prelink[i], 0, sm, &b, err, errlen);
  } else if (magic == FATBIN_MAGIC) {
    st = scan_container(p, image_size, sm, &b, err, errlen);
  } else if (magic == 0x464c457fu) {
    seterr(err, errlen, "image is an ELF cubin; softgpu runs only PTX");
    return SG_PTX_ERR_NOT_FOUND;
  } else if (looks_like_text(p, image_size ? image_size : 64)) {
    size_t n = image_size ? strnlen((const char *)p, image_size) : strlen((const char *)p);
    n = strip_nuls((const char *)p, n);
    /* Text that is not PTX at all is not an image (INVALID_IMAGE); only PTX that fails to
     * compile is INVALID_PTX. Every PTX module starts with a .version directive. */
    if (!memmem(p, n, ".version", 8)) {
      seterr(err, errlen, "image is neither a fatbin, an ELF cubin nor PTX text");
      return SG_PTX_ERR_PARSE;
    }
    char *buf = malloc(n + 1);
    if (!buf) return SG_PTX_ERR_NOMEM;
    memcpy(buf, p, n);
    buf[n] = '\0';
    *ptx = buf;
    *ptx_len = n;
    return SG_PTX_OK;
  } else {
    seterr(err, errlen, "image is neither a fatbin nor PTX (first word 0x%08x)", magic);
    return SG_PTX_ERR_PARSE;
  }
  if (st != SG_PTX_OK) {
    free(b.text);
    return st;
  }
  if (b.arch < 0 && b.devrt[0]) {
    /* Only a relocatable image's pre-link containers carry PTX, and the device runtime's
     * code in the linked one says what that PTX would need: refuse it as its PTX is refused. */
    seterr(err, errlen,
           "image was linked with the CUDA device runtime (%s: nvcc -rdc, device-side launches); dynamic "
           "parallelism is not supported by softgpu, and the image has no PTX usable on sm_%d",
           b.devrt, sm);
    return SG_PTX_ERR_DEVICE_RUNTIME;
  }
  if (b.arch < 0) {
    seterr(err, errlen, "no PTX usable on sm_%d in this image%s%s%s", sm, b.saw_elf ? " (only ELF cubins" : "",
           b.skipped_newer ? (b.saw_elf ? ", PTX for newer targets)" : " (only PTX for newer targets)")
                           : (b.saw_elf ? ")" : ""),
           b.skipped_codec ? " (zlib-compressed PTX is not supported)" : "");
    return SG_PTX_ERR_NOT_FOUND;
  }
  *ptx = b.text;
  *ptx_len = b.len;
  return SG_PTX_OK;
}
