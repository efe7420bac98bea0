/*
 * sg_ptx_extract on real nvcc 13.0 output (softgpu/tests/ptx/fatbin, made from ptx/src/vadd.cu):
 *   nvcc -fatbin -gencode arch=compute_75,code=compute_75 -gencode arch=compute_86,code=sm_86 vadd.cu
 *   ... -Xfatbin -compress-all / -Xfatbin -compress-mode=speed / -Xfatbin -compress=false
 * plus wrappers, plain text, and corrupted images (which must fail cleanly, never crash).
 */
#include "ptx/ptx_test_util.h"

static char *extract_ok(const char *file, int sm, size_t *len) {
  size_t n;
  char *img = ptxt_read(file, &n);
  char err[256] = "", *ptx = NULL;
  sg_ptx_status st = sg_ptx_extract(img, n, sm, &ptx, len, err, sizeof err);
  free(img);
  if (st != SG_PTX_OK) FAIL("extract %s: %d %s", file, (int)st, err);
  return ptx;
}

static void check_vadd_ptx(const char *ptx, size_t len, const char *target) {
  ASSERT_EQ(strlen(ptx), len); /* no embedded or trailing NULs */
  ASSERT_TRUE(len > 100);
  ASSERT_NE(ptx[len - 1], '\0');
  ASSERT_NOT_NULL(strstr(ptx, ".visible .entry vadd("));
  ASSERT_NOT_NULL(strstr(ptx, target));
}

TEST(ptx_fatbin_zstd) {
  size_t len;
  char *p = extract_ok("fatbin/vadd-zstd.fatbin", 86, &len);
  check_vadd_ptx(p, len, ".target sm_75");
  free(p);
}

TEST(ptx_fatbin_compress_all) {
  size_t len;
  char *p = extract_ok("fatbin/vadd-all.fatbin", 86, &len);
  check_vadd_ptx(p, len, ".target sm_75");
  free(p);
}

TEST(ptx_fatbin_lz4_and_plain_match_zstd) {
  size_t l1, l2, l3;
  char *a = extract_ok("fatbin/vadd-zstd.fatbin", 80, &l1);
  char *b = extract_ok("fatbin/vadd-lz4.fatbin", 80, &l2);
  char *c = extract_ok("fatbin/vadd-plain.fatbin", 80, &l3);
  ASSERT_EQ(l1, l2);
  ASSERT_EQ(l1, l3);
  ASSERT_MEM_EQ(a, b, l1);
  ASSERT_MEM_EQ(a, c, l1);
  free(a);
  free(b);
  free(c);
}

TEST(ptx_fatbin_picks_highest_arch_not_above_device) {
  size_t len;
  char *p = extract_ok("fatbin/vadd-multi.fatbin", 86, &len);
  check_vadd_ptx(p, len, ".target sm_75");
  free(p);
  p = extract_ok("fatbin/vadd-multi.fatbin", 90, &len);
  check_vadd_ptx(p, len, ".target sm_89");
  free(p);
  size_t n;
  char *img = ptxt_read("fatbin/vadd-multi.fatbin", &n);
  char err[256] = "", *ptx = NULL;
  ASSERT_EQ(sg_ptx_extract(img, n, 70, &ptx, &len, err, sizeof err), SG_PTX_ERR_NOT_FOUND);
  ASSERT_NULL(ptx);
  free(img);
}

TEST(ptx_fatbin_elf_only_is_not_found) {
  size_t n, len;
  char *img = ptxt_read("fatbin/vadd-elf.fatbin", &n);
  char err[256] = "", *ptx = NULL;
  ASSERT_EQ(sg_ptx_extract(img, n, 86, &ptx, &len, err, sizeof err), SG_PTX_ERR_NOT_FOUND);
  ASSERT_NOT_NULL(strstr(err, "ELF"));
  /* A bare cubin too. */
  static const unsigned char elf[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  ASSERT_EQ(sg_ptx_extract(elf, sizeof elf, 86, &ptx, &len, err, sizeof err), SG_PTX_ERR_NOT_FOUND);
  free(img);
}

/* A container with one uncompressed ELF entry whose cubin has the given section names (as nvlink
 * names a linked function's code .text.<function>). Returns its size; buf is 8-aligned. */
static size_t container_with_elf(unsigned long long *buf, size_t cap, const char *const *names, int nnames) {
  unsigned char *c = (unsigned char *)buf;
  memset(c, 0, cap);
  unsigned char *e = c + 16 + 64; /* container header, entry header */
  char strtab[256] = "";
  size_t strsize = 1; /* index 0: the empty name */
  uint32_t off[8];
  for (int i = 0; i < nnames; i++) {
    off[i] = (uint32_t)strsize;
    memcpy(strtab + strsize, names[i], strlen(names[i]) + 1);
    strsize += strlen(names[i]) + 1;
  }
  off[nnames] = (uint32_t)strsize; /* .shstrtab's own name */
  memcpy(strtab + strsize, ".shstrtab", 10);
  strsize += 10;
  uint64_t stroff = 64, shoff = (64 + strsize + 7) & ~7ull;
  uint16_t shnum = (uint16_t)(nnames + 2), shstrndx = (uint16_t)(nnames + 1);
  memcpy(e, "\x7f" "ELF", 4);
  e[4] = 2;
  e[5] = 1;
  memcpy(e + 0x28, &shoff, 8);
  uint16_t shentsize = 64;
  memcpy(e + 0x3A, &shentsize, 2);
  memcpy(e + 0x3C, &shnum, 2);
  memcpy(e + 0x3E, &shstrndx, 2);
  memcpy(e + stroff, strtab, strsize);
  for (int i = 0; i < nnames + 1; i++) memcpy(e + shoff + (uint64_t)(i + 1) * 64, &off[i], 4);
  memcpy(e + shoff + (uint64_t)shstrndx * 64 + 0x18, &stroff, 8);
  uint64_t strsz = strsize;
  memcpy(e + shoff + (uint64_t)shstrndx * 64 + 0x20, &strsz, 8);
  uint64_t elfsize = shoff + (uint64_t)shnum * 64;
  uint32_t magic = 0xBA55ED50u, ehsize = 64, arch = 80;
  uint16_t ver = 1, hsize = 16, kind = 2;
  uint64_t files = 64 + elfsize;
  memcpy(c, &magic, 4);
  memcpy(c + 4, &ver, 2);
  memcpy(c + 6, &hsize, 2);
  memcpy(c + 8, &files, 8);
  memcpy(c + 16, &kind, 2);
  memcpy(c + 16 + 4, &ehsize, 4);
  memcpy(c + 16 + 8, &elfsize, 8);
  memcpy(c + 16 + 28, &arch, 4);
  return 16 + files;
}

/* An -rdc image whose linked cubin holds the device runtime's code (nvcc -rdc -lcudadevrt with a
 * kernel-side launch) is refused as needing dynamic parallelism, naming the function; one linked
 * without it stays "no binary for this GPU". */
TEST(ptx_fatbin_device_runtime_linked) {
  static unsigned long long buf[256];
  static const char *const cdp[] = {".text._Z6parentPi", ".text.__cudaCDP2LaunchDeviceV2"};
  static const char *const plain[] = {".text._Z6parentPi", ".nv.info"};
  char err[300] = "", *ptx = NULL;
  size_t len;
  size_t n = container_with_elf(buf, sizeof buf, cdp, 2);
  ASSERT_EQ(sg_ptx_extract(buf, n, 89, &ptx, &len, err, sizeof err), SG_PTX_ERR_DEVICE_RUNTIME);
  ASSERT_NOT_NULL(strstr(err, "__cudaCDP2LaunchDeviceV2"));
  ASSERT_NOT_NULL(strstr(err, "dynamic parallelism"));
  ASSERT_NULL(ptx);
  n = container_with_elf(buf, sizeof buf, plain, 2);
  ASSERT_EQ(sg_ptx_extract(buf, n, 89, &ptx, &len, err, sizeof err), SG_PTX_ERR_NOT_FOUND);
  ASSERT_NULL(ptx);
}

/* A container of plain PTX entries (arch, text) in buf; returns its size. */
static size_t container_with_ptx(unsigned long long *buf, size_t cap, const int *archs, const char *const *texts, int n) {
  unsigned char *c = (unsigned char *)buf;
  memset(c, 0, cap);
  size_t at = 16;
  for (int i = 0; i < n; i++) {
    uint64_t psize = (strlen(texts[i]) + 1 + 7) & ~7ull;
    uint32_t ehsize = 64, arch = (uint32_t)archs[i];
    uint16_t kind = 1;
    memcpy(c + at, &kind, 2);
    memcpy(c + at + 4, &ehsize, 4);
    memcpy(c + at + 8, &psize, 8);
    memcpy(c + at + 28, &arch, 4);
    memcpy(c + at + 64, texts[i], strlen(texts[i]));
    at += 64 + psize;
  }
  uint32_t magic = 0xBA55ED50u;
  uint16_t ver = 1, hsize = 16;
  uint64_t files = at - 16;
  memcpy(c, &magic, 4);
  memcpy(c + 4, &ver, 2);
  memcpy(c + 6, &hsize, 2);
  memcpy(c + 8, &files, 8);
  return at;
}

/* libcudadevrt's own PTX (it defines the device runtime's functions) rides along in an -rdc
 * image for architectures up to compute_121; it is never taken for the program's, however new. */
TEST(ptx_fatbin_skips_device_runtime_ptx) {
  static unsigned long long buf[512];
  static const char program[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                                ".extern .func (.param .b32 r) cudaLaunchDeviceV2(.param .b64 a, .param .b64 b);\n"
                                ".visible .entry parent() { ret; }\n";
  static const char runtime[] = ".version 9.0\n.target sm_121\n.address_size 64\n"
                                ".visible .func (.param .b32 func_retval0) cudaLaunchDeviceV2(\n"
                                "  .param .b64 a, .param .b64 b)\n{ ret; }\n";
  const int archs[] = {121, 80};
  const char *const texts[] = {runtime, program};
  char err[300] = "", *ptx = NULL;
  size_t len, n = container_with_ptx(buf, sizeof buf, archs, texts, 2);
  ASSERT_EQ(sg_ptx_extract(buf, n, 121, &ptx, &len, err, sizeof err), SG_PTX_OK);
  ASSERT_NOT_NULL(strstr(ptx, ".entry parent"));
  free(ptx);
  /* Only the runtime's PTX: refused as an image that needs dynamic parallelism. */
  n = container_with_ptx(buf, sizeof buf, archs, texts, 1);
  ASSERT_EQ(sg_ptx_extract(buf, n, 121, &ptx, &len, err, sizeof err), SG_PTX_ERR_DEVICE_RUNTIME);
  ASSERT_NOT_NULL(strstr(err, "cudaLaunchDeviceV2"));
  ASSERT_NULL(ptx);
}

TEST(ptx_fatbin_wrapper_v1_and_v2) {
  size_t n, len;
  char *img = ptxt_read("fatbin/vadd-zstd.fatbin", &n);
  /* The container must be 8-aligned like the .nv_fatbin section. */
  unsigned long long *data = calloc(n / 8 + 1, 8);
  memcpy(data, img, n);
  struct { int magic, version; const unsigned long long *data; void *extra; } w = {0x466243B1, 1, data, NULL};
  char err[256] = "", *ptx = NULL;
  ASSERT_EQ(sg_ptx_extract(&w, 0, 86, &ptx, &len, err, sizeof err), SG_PTX_OK);
  check_vadd_ptx(ptx, len, ".target sm_75");
  free(ptx);
  /* -rdc: linked container holds only ELF, PTX comes from the pre-link list. */
  size_t en;
  char *elf = ptxt_read("fatbin/vadd-elf.fatbin", &en);
  unsigned long long *edata = calloc(en / 8 + 1, 8);
  memcpy(edata, elf, en);
  const void *prelink[2] = {data, NULL};
  struct { int magic, version; const unsigned long long *data; const void *const *extra; } w2 = {0x466243B1, 2, edata, prelink};
  ASSERT_EQ(sg_ptx_extract(&w2, 0, 86, &ptx, &len, err, sizeof err), SG_PTX_OK);
  check_vadd_ptx(ptx, len, ".target sm_75");
  free(ptx);
  w2.version = 1; /* same wrapper without the -rdc version: only the ELF is seen */
  ASSERT_EQ(sg_ptx_extract(&w2, 0, 86, &ptx, &len, err, sizeof err), SG_PTX_ERR_NOT_FOUND);
  w.version = 3;
  ASSERT_EQ(sg_ptx_extract(&w, 0, 86, &ptx, &len, err, sizeof err), SG_PTX_ERR_PARSE);
  free(data);
  free(edata);
  free(img);
  free(elf);
}

TEST(ptx_fatbin_plain_text) {
  size_t n, len;
  char *text = ptxt_read("vadd.ptx", &n);
  char err[256] = "", *ptx = NULL;
  ASSERT_EQ(sg_ptx_extract(text, 0, 75, &ptx, &len, err, sizeof err), SG_PTX_OK);
  ASSERT_EQ(len, n);
  ASSERT_MEM_EQ(ptx, text, n);
  free(ptx);
  /* With a size that includes trailing NULs. */
  char *padded = calloc(n + 16, 1);
  memcpy(padded, text, n);
  ASSERT_EQ(sg_ptx_extract(padded, n + 16, 75, &ptx, &len, err, sizeof err), SG_PTX_OK);
  ASSERT_EQ(len, n);
  free(ptx);
  free(padded);
  free(text);
  static const unsigned char junk[16] = {1, 2, 3, 4, 0xff, 0xfe};
  ASSERT_EQ(sg_ptx_extract(junk, sizeof junk, 75, &ptx, &len, err, sizeof err), SG_PTX_ERR_PARSE);
}

/* Every truncation and many single-byte corruptions of each sample: a clean status, no crash
 * (ASan checks every read stays inside the buffer). */
TEST(ptx_fatbin_fuzz_truncated_and_corrupted) {
  const char *files[] = {"fatbin/vadd-zstd.fatbin", "fatbin/vadd-lz4.fatbin", "fatbin/vadd-all.fatbin",
                         "fatbin/vadd-plain.fatbin"};
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    size_t n, len;
    char *img = ptxt_read(files[f], &n);
    for (size_t cut = 1; cut < n; cut += (cut < 200 ? 1 : 7)) {
      char *b = malloc(cut); /* 0 would mean "size unknown" */
      memcpy(b, img, cut);
      char err[256], *ptx = NULL;
      sg_ptx_status st = sg_ptx_extract(b, cut, 86, &ptx, &len, err, sizeof err);
      if (st == SG_PTX_OK) {
        ASSERT_NOT_NULL(ptx);
        free(ptx);
      } else {
        ASSERT_NULL(ptx);
      }
      free(b);
    }
    unsigned seed = 12345;
    for (int iter = 0; iter < 400; iter++) {
      char *b = malloc(n);
      memcpy(b, img, n);
      for (int k = 0; k < 3; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t pos = (seed >> 8) % (n < 128 ? n : 128); /* headers live in the first bytes */
        if (iter & 1) pos = (seed >> 8) % n;
        b[pos] = (char)(seed >> 24);
      }
      char err[256], *ptx = NULL;
      sg_ptx_status st = sg_ptx_extract(b, n, 86, &ptx, &len, err, sizeof err);
      ASSERT_TRUE(st == SG_PTX_OK || st == SG_PTX_ERR_PARSE || st == SG_PTX_ERR_NOT_FOUND || st == SG_PTX_ERR_NOMEM);
      free(ptx);
      free(b);
    }
    free(img);
  }
}
