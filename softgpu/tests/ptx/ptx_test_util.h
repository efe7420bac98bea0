/*
 * Helpers for the PTX engine tests (softgpu/tests/test-ptx*.c): load PTX from this directory or
 * from a string, allocate device buffers, and run a one-thread kernel around an instruction
 * snippet so each instruction family can be checked against values computed in C.
 */
#ifndef PTX_TEST_UTIL_H
#define PTX_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx.h"
#include "task.h"

#ifndef PTX_TEST_DIR
#define PTX_TEST_DIR "softgpu/tests/ptx"
#endif

static inline char *ptxt_read(const char *rel, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", PTX_TEST_DIR, rel);
  FILE *f = fopen(path, "rb");
  if (!f) FAIL("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *b = malloc((size_t)n + 1);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) FAIL("cannot read %s", path);
  fclose(f);
  b[n] = 0;
  *len = (size_t)n;
  return b;
}

static inline sg_ptx_module *ptxt_load_text(const char *text) {
  char err[512] = "";
  sg_ptx_module *m = NULL;
  sg_ptx_status st = sg_ptx_load(text, strlen(text), &m, err, sizeof err);
  if (st != SG_PTX_OK) FAIL("sg_ptx_load: %d: %s", (int)st, err);
  return m;
}

static inline sg_ptx_module *ptxt_load_file(const char *rel) {
  size_t n;
  char *text = ptxt_read(rel, &n);
  sg_ptx_module *m = ptxt_load_text(text);
  free(text);
  return m;
}

static inline sg_ptx_kernel *ptxt_kernel(sg_ptx_module *m, const char *name) {
  sg_ptx_kernel *k = NULL;
  if (sg_ptx_get_kernel(m, name, &k) != SG_PTX_OK) FAIL("kernel %s not found", name);
  return k;
}

static inline sg_devptr ptxt_alloc(uint64_t n) {
  sg_devptr p;
  if (sg_mem_init() != 0 || sg_mem_alloc(n, &p) != 0) FAIL("sg_mem_alloc(%llu) failed", (unsigned long long)n);
  return p;
}

static inline void *ptxt_host(sg_devptr p, uint64_t n) {
  void *h = sg_mem_check(p, n);
  if (!h) FAIL("sg_mem_check failed");
  return h;
}

/* Texture and surface handles of the launches below (NULL: none resolves). */
static sg_ptx_tex_resolver ptxt_texture;
static void *ptxt_texture_arg;

static inline sg_ptx_status ptxt_launch(sg_ptx_kernel *k, unsigned gx, unsigned gy, unsigned bx, unsigned by,
                                        unsigned dyn, const void *params, size_t psize, char *err, size_t errlen) {
  /* output straight to stdout/stderr */
  sg_ptx_launch l = {{gx, gy, 1}, {bx, by, 1}, dyn, params, psize, NULL, NULL, NULL, 0, ptxt_texture, ptxt_texture_arg};
  return sg_ptx_run(k, &l, err, errlen);
}

/* A one-thread kernel: %rd1 = input buffer, %rd2 = output buffer; declares %r, %rd, %f, %fd,
 * %p and %h (b16) register ranges for the body. */
#define PTXT_HEAD                                                                               \
  ".version 8.0\n.target sm_80\n.address_size 64\n"                                             \
  ".visible .entry k(.param .u64 pin, .param .u64 pout)\n{\n"                                   \
  ".reg .b32 %r<32>;\n.reg .b64 %rd<32>;\n.reg .f32 %f<32>;\n.reg .f64 %fd<32>;\n"            \
  ".reg .pred %p<16>;\n.reg .b16 %h<16>;\n"                                                     \
  "ld.param.u64 %rd1, [pin];\nld.param.u64 %rd2, [pout];\n"
#define PTXT_TAIL "ret;\n}\n"

/* Runs `body` once with in[0..inlen) as input and copies outlen bytes of output back. */
static inline sg_ptx_status ptxt_run_body(const char *body, const void *in, size_t inlen, void *out, size_t outlen,
                                          char *err, size_t errlen) {
  size_t n = strlen(PTXT_HEAD) + strlen(body) + strlen(PTXT_TAIL) + 1;
  char *text = malloc(n);
  if (!text) FAIL("oom");
  snprintf(text, n, "%s%s%s", PTXT_HEAD, body, PTXT_TAIL);
  sg_ptx_module *m = NULL;
  sg_ptx_status st = sg_ptx_load(text, strlen(text), &m, err, errlen);
  free(text);
  if (st != SG_PTX_OK) return st;
  sg_devptr din = ptxt_alloc(inlen ? inlen : 8), dout = ptxt_alloc(outlen ? outlen : 8);
  if (inlen) memcpy(ptxt_host(din, inlen), in, inlen);
  uint64_t params[2] = {din, dout};
  st = ptxt_launch(sg_ptx_kernel_at(m, 0), 1, 1, 1, 1, 0, params, sizeof params, err, errlen);
  if (outlen) memcpy(out, ptxt_host(dout, outlen), outlen);
  sg_mem_free(din);
  sg_mem_free(dout);
  sg_ptx_unload(m);
  return st;
}

/* Same, failing the test on any error. */
static inline void ptxt_run_ok(const char *body, const void *in, size_t inlen, void *out, size_t outlen) {
  char err[512] = "";
  sg_ptx_status st = ptxt_run_body(body, in, inlen, out, outlen, err, sizeof err);
  if (st != SG_PTX_OK) FAIL("run: status %d: %s", (int)st, err);
}

static inline uint32_t ptxt_fbits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static inline float ptxt_bitsf(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline uint64_t ptxt_dbits(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }

#endif
