/*
 * End-to-end engine tests on nvcc 13.0 PTX (the .ptx files in softgpu/tests/ptx, sources in ptx/src):
 * vector add from a fatbin, tiled SGEMM with shared memory and barriers, warp shuffles/votes,
 * atomics, device calls with recursion and local memory, struct parameters, module variables,
 * and the failure paths (out of bounds, misaligned, unsupported, trap, bad launches).
 */
#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "ptx/ptx_test_util.h"

TEST(ptx_run_vadd_from_fatbin) {
  size_t n, len;
  char *img = ptxt_read("fatbin/vadd-zstd.fatbin", &n);
  char err[512] = "", *ptx = NULL;
  ASSERT_EQ(sg_ptx_extract(img, n, 86, &ptx, &len, err, sizeof err), SG_PTX_OK);
  sg_ptx_module *m = NULL;
  ASSERT_EQ(sg_ptx_load(ptx, len, &m, err, sizeof err), SG_PTX_OK);
  sg_ptx_kernel *k = ptxt_kernel(m, "vadd");
  ASSERT_EQ(sg_ptx_param_count(k), 4);
  ASSERT_EQ(sg_ptx_param_bytes(k), 28);
  const int N = 1000;
  sg_devptr a = ptxt_alloc(N * 4), b = ptxt_alloc(N * 4), c = ptxt_alloc(N * 4);
  float *ha = ptxt_host(a, N * 4), *hb = ptxt_host(b, N * 4), *hc = ptxt_host(c, N * 4);
  for (int i = 0; i < N; i++) { ha[i] = (float)i * 0.5f; hb[i] = (float)(N - i); hc[i] = -1; }
  struct { uint64_t a, b, c; int n; } P = {a, b, c, N};
  ASSERT_EQ(ptxt_launch(k, (N + 127) / 128, 1, 128, 1, 0, &P, 28, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < N; i++) if (hc[i] != ha[i] + hb[i]) FAIL("c[%d] = %g", i, hc[i]);
  sg_ptx_unload(m);
  free(ptx);
  free(img);
}

TEST(ptx_run_sgemm_tiled) {
  sg_ptx_module *m = ptxt_load_file("sgemm.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "sgemm");
  const int N = 64;
  sg_devptr A = ptxt_alloc(N * N * 4), B = ptxt_alloc(N * N * 4), C = ptxt_alloc(N * N * 4);
  float *ha = ptxt_host(A, N * N * 4), *hb = ptxt_host(B, N * N * 4), *hc = ptxt_host(C, N * N * 4);
  for (int i = 0; i < N * N; i++) { ha[i] = (float)((i * 7) % 13) - 6; hb[i] = (float)((i * 5) % 11) - 5; }
  struct { uint64_t a, b, c; int n; } P = {A, B, C, N};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, N / 16, N / 16, 16, 16, 0, &P, 28, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      float s = 0;
      for (int q = 0; q < N; q++) s += ha[i * N + q] * hb[q * N + j];
      if (hc[i * N + j] != s) FAIL("C[%d][%d] = %g, want %g", i, j, hc[i * N + j], s);
    }
  sg_ptx_attrs at;
  sg_ptx_kernel_attrs(k, &at);
  ASSERT_EQ(at.static_shared_bytes, 2048);
  ASSERT_EQ(at.ptx_version, 90);
  ASSERT_EQ(at.target_arch, 75);
  sg_ptx_unload(m);
}

TEST(ptx_run_reduce_shfl_dynshared_atomic) {
  sg_ptx_module *m = ptxt_load_file("reduce.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "reduce");
  const int N = 1000;
  sg_devptr in = ptxt_alloc(N * 4), out = ptxt_alloc(4);
  float *hi = ptxt_host(in, N * 4), *ho = ptxt_host(out, 4);
  double want = 0;
  for (int i = 0; i < N; i++) { hi[i] = (float)(i % 17); want += hi[i]; }
  *ho = 0;
  struct { uint64_t in, out; int n; } P = {in, out, N};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, 4, 1, 256, 1, 8 * 4, &P, 20, err, sizeof err), SG_PTX_OK);
  ASSERT_EQ(*ho, (float)want);
  /* Too little dynamic shared memory: the write to s[7] is out of bounds. */
  *ho = 0;
  sg_ptx_status st = ptxt_launch(k, 4, 1, 256, 1, 4, &P, 20, err, sizeof err);
  ASSERT_EQ(st, SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_NOT_NULL(strstr(err, "shared"));
  sg_ptx_unload(m);
}

TEST(ptx_run_votes_and_shuffles) {
  sg_ptx_module *m = ptxt_load_file("reduce.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "votes");
  sg_devptr in = ptxt_alloc(64 * 4), out = ptxt_alloc(64 * 8 * 4);
  int *hi = ptxt_host(in, 64 * 4);
  unsigned *ho = ptxt_host(out, 64 * 32);
  for (int i = 0; i < 64; i++) hi[i] = i < 32 ? (i % 3 == 0 ? -(i % 5) : i % 5) : 1 + (i & 1);
  uint64_t P[2] = {in, out};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, 1, 1, 64, 1, 0, P, 16, err, sizeof err), SG_PTX_OK);
  for (int w = 0; w < 2; w++) {
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++) ballot |= (unsigned)(hi[w * 32 + l] > 0) << l;
    for (int l = 0; l < 32; l++) {
      int t = w * 32 + l;
      unsigned *o = ho + t * 8;
      unsigned match = 0;
      for (int q = 0; q < 32; q++) match |= (unsigned)(hi[w * 32 + q] == hi[t]) << q;
      ASSERT_EQ(o[0], ballot);
      ASSERT_EQ(o[1], (unsigned)(ballot == 0xffffffffu));
      ASSERT_EQ(o[2], (unsigned)(ballot != 0));
      ASSERT_EQ(o[3], (l & 1) ? 0xaaaaaaaau : 0u); /* only odd lanes took the branch */
      ASSERT_EQ(o[4], match);
      ASSERT_EQ((int)o[5], hi[w * 32 + 3]);
      ASSERT_EQ((int)o[6], hi[l == 0 ? t : t - 1]);
      ASSERT_EQ((int)o[7], hi[t ^ 1]);
    }
  }
  sg_ptx_unload(m);
}

TEST(ptx_run_atomics) {
  sg_ptx_module *m = ptxt_load_file("reduce.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "atomics");
  sg_devptr g = ptxt_alloc(64), u = ptxt_alloc(64), l = ptxt_alloc(8);
  int *hg = ptxt_host(g, 64);
  unsigned *hu = ptxt_host(u, 64);
  unsigned long long *hl = ptxt_host(l, 8);
  hg[0] = 0; hg[1] = -5; hg[2] = 3; hg[3] = 0; hg[4] = 0;
  hu[0] = 0; hu[1] = 0; hu[2] = 0; hu[3] = 0; hu[4] = 0xffffffffu;
  *hl = 0;
  uint64_t P[3] = {g, u, l};
  char err[512] = "";
  const int T = 96;
  ASSERT_EQ(ptxt_launch(k, 2, 1, T, 1, 0, P, 24, err, sizeof err), SG_PTX_OK);
  ASSERT_EQ(hg[0], 2 * T);
  ASSERT_EQ(hg[1], T - 1);
  ASSERT_EQ(hg[2], -(T - 1));
  ASSERT_EQ(hu[0], (unsigned)((2 * T) % 8)); /* inc wraps at 7 */
  ASSERT_EQ(hu[1], 100u - (2 * T - 1) % 101); /* dec from 0 wraps to 100 */
  ASSERT_EQ(hu[2], 0xffffffffu);
  ASSERT_EQ(hu[3], 0u); /* even number of xors */
  ASSERT_EQ(hu[4], 0u);
  ASSERT_EQ(hg[3], T); /* the CAS chain advances once per thread value, in any order */
  ASSERT_EQ(*hl, (unsigned long long)(2 * T) << 33);
  ASSERT_EQ(hg[4], 5);
  ASSERT_EQ(hg[5], 2 * T);
  sg_ptx_unload(m);
}

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static void check_calls(const char *file) {
  sg_ptx_module *m = ptxt_load_file(file);
  sg_ptx_kernel *k = ptxt_kernel(m, "calls");
  const int T = 20;
  sg_devptr o = ptxt_alloc(T * 4), p = ptxt_alloc(T * 8);
  int *ho = ptxt_host(o, T * 4);
  float *hp = ptxt_host(p, T * 8);
  uint64_t P[2] = {o, p};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, 1, 1, T, 1, 0, P, 16, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < T; i++) {
    ASSERT_EQ(ho[i], fib(i));
    float a = (float)i;
    int arr[8];
    for (int q = 0; q < 8; q++) arr[q] = (int)(q * a);
    ASSERT_EQ(hp[2 * i], a + (float)arr[fib(i) & 7]);
    ASSERT_EQ(hp[2 * i + 1], (float)fib(i));
  }
  sg_ptx_unload(m);
}

TEST(ptx_run_calls_recursion_local) { check_calls("calls.ptx"); }

/* The same source built with -G: debug sections, .loc lines, stack-allocated everything. */
TEST(ptx_run_calls_debug_build) { check_calls("calls-G.ptx"); }

TEST(ptx_run_struct_params_layout) {
  sg_ptx_module *m = ptxt_load_file("calls.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "structs");
  ASSERT_EQ(sg_ptx_param_count(k), 3);
  size_t off, size;
  ASSERT_EQ(sg_ptx_param_info(k, 0, &off, &size), SG_PTX_OK);
  ASSERT_EQ(off, 0);
  ASSERT_EQ(size, 40);
  ASSERT_EQ(sg_ptx_param_info(k, 1, &off, &size), SG_PTX_OK);
  ASSERT_EQ(off, 40);
  ASSERT_EQ(size, 2);
  ASSERT_EQ(sg_ptx_param_info(k, 2, &off, &size), SG_PTX_OK);
  ASSERT_EQ(off, 48);
  ASSERT_EQ(size, 8);
  ASSERT_EQ(sg_ptx_param_info(k, 3, &off, &size), SG_PTX_ERR_NOT_FOUND);
  ASSERT_EQ(sg_ptx_param_bytes(k), 56);
  unsigned char buf[56] = {0};
  struct { char c; double d[3]; int x; } s = {-3, {1.5, 2.25, 4}, 10};
  memcpy(buf, &s, 40);
  short h = -7;
  memcpy(buf + 40, &h, 2);
  sg_devptr o = ptxt_alloc(8);
  memcpy(buf + 48, &o, 8);
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, 1, 1, 1, 1, 0, buf, sizeof buf, err, sizeof err), SG_PTX_OK);
  ASSERT_EQ(*(double *)ptxt_host(o, 8), 2.25 + 10 - 7 - 3);
  /* A short parameter buffer is a launch error, not a read past it. */
  ASSERT_EQ(ptxt_launch(k, 1, 1, 1, 1, 0, buf, 40, err, sizeof err), SG_PTX_ERR_LAUNCH);
  sg_ptx_unload(m);
}

/* __managed__ variables (`.attribute(.managed)`) own whole pages, which vgpu's guest maps at the
 * same address (docs/managed-memory.md); other variable attributes fail the load. */
TEST(ptx_run_managed_globals) {
  static const char text[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                             ".global .attribute(.managed) .align 4 .u32 counter = 42;\n"
                             ".global .attribute(.managed) .align 4 .b8 arr[5000];\n"
                             ".global .align 4 .u32 plain;\n";
  sg_ptx_module *m = NULL;
  char err[256] = "";
  ASSERT_EQ(sg_ptx_load(text, sizeof text - 1, &m, err, sizeof err), SG_PTX_OK);
  sg_devptr p;
  uint64_t size;
  int managed = -1;
  ASSERT_EQ(sg_ptx_get_global(m, "counter", &p, &size, &managed), SG_PTX_OK);
  ASSERT_EQ(managed, 1);
  ASSERT_EQ(size, 4);
  ASSERT_EQ(p % SG_PTX_MANAGED_PAGE, 0);
  ASSERT_EQ(*(int *)ptxt_host(p, 4), 42);
  ASSERT_EQ(sg_ptx_get_global(m, "plain", &p, &size, &managed), SG_PTX_OK);
  ASSERT_EQ(managed, 0);
  sg_devptr d;
  uint64_t bytes;
  ASSERT_EQ(sg_ptx_managed_var(m, 1, &d, &bytes), 1);
  ASSERT_EQ(bytes, 2 * SG_PTX_MANAGED_PAGE);
  ASSERT_EQ(sg_ptx_managed_var(m, 2, &d, &bytes), 0);
  sg_ptx_unload(m);
  static const char bad[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                            ".global .attribute(.unified(1, 2)) .u32 u;\n";
  ASSERT_EQ(sg_ptx_load(bad, sizeof bad - 1, &m, err, sizeof err), SG_PTX_ERR_UNSUPPORTED);
}

TEST(ptx_run_module_globals) {
  sg_ptx_module *m = ptxt_load_file("calls.ptx");
  sg_devptr gv, cc;
  uint64_t size;
  ASSERT_EQ(sg_ptx_get_global(m, "gv", &gv, &size, NULL), SG_PTX_OK);
  ASSERT_EQ(size, 12);
  int *hg = ptxt_host(gv, 12);
  ASSERT_EQ(hg[0], 7);
  ASSERT_EQ(hg[2], 9);
  ASSERT_EQ(sg_ptx_get_global(m, "cc", &cc, &size, NULL), SG_PTX_OK);
  ASSERT_EQ(size, 16);
  ASSERT_EQ(((float *)ptxt_host(cc, 16))[3], 4.0f);
  ASSERT_EQ(sg_ptx_get_global(m, "nope", &cc, &size, NULL), SG_PTX_ERR_NOT_FOUND);
  sg_ptx_kernel *k = ptxt_kernel(m, "globals");
  sg_devptr o = ptxt_alloc(8 * 4);
  uint64_t P[1] = {o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, 1, 1, 1, 1, 0, P, 8, err, sizeof err), SG_PTX_OK);
  ASSERT_EQ(((float *)ptxt_host(o, 4))[0], 1.0f + 7);
  ASSERT_EQ(hg[0], 70);
  sg_ptx_unload(m);
}

TEST(ptx_run_out_of_bounds_global) {
  sg_ptx_module *m = ptxt_load_file("vadd.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "vadd");
  sg_devptr a = ptxt_alloc(256), b = ptxt_alloc(256), c = ptxt_alloc(256);
  char err[512] = "";
  struct { uint64_t a, b, c; int n; } P = {a, b, c, 64};
  ASSERT_EQ(ptxt_launch(k, 1, 1, 64, 1, 0, &P, 28, err, sizeof err), SG_PTX_OK);
  sg_mem_free(b); /* freed: any access to it is illegal */
  ASSERT_EQ(ptxt_launch(k, 1, 1, 64, 1, 0, &P, 28, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_NOT_NULL(strstr(err, "global"));
  ASSERT_NOT_NULL(strstr(err, "vadd"));
  P.b = 16; /* a wild pointer outside the arena */
  ASSERT_EQ(ptxt_launch(k, 1, 1, 64, 1, 0, &P, 28, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  P.b = a + 2; /* misaligned float */
  ASSERT_EQ(ptxt_launch(k, 1, 1, 64, 1, 0, &P, 28, err, sizeof err), SG_PTX_ERR_MISALIGNED);
  sg_ptx_unload(m);
}

TEST(ptx_run_bad_launches) {
  sg_ptx_module *m = ptxt_load_file("vadd.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "vadd");
  char err[512] = "";
  struct { uint64_t a, b, c; int n; } P = {0, 0, 0, 0};
  ASSERT_EQ(ptxt_launch(k, 1, 1, 2048, 1, 0, &P, 28, err, sizeof err), SG_PTX_ERR_LAUNCH);
  ASSERT_EQ(ptxt_launch(k, 0, 1, 32, 1, 0, &P, 28, err, sizeof err), SG_PTX_ERR_LAUNCH);
  ASSERT_EQ(ptxt_launch(k, 1, 1, 32, 1, 1u << 30, &P, 28, err, sizeof err), SG_PTX_ERR_OUT_OF_RESOURCES);
  /* n = 0: nobody touches memory, NULL pointers are fine */
  ASSERT_EQ(ptxt_launch(k, 3, 2, 32, 2, 0, &P, 28, err, sizeof err), SG_PTX_OK);
  sg_ptx_unload(m);
}

TEST(ptx_run_many_blocks_all_cores) {
  sg_ptx_module *m = ptxt_load_file("vadd.ptx");
  sg_ptx_kernel *k = ptxt_kernel(m, "vadd");
  const int N = 1 << 16;
  sg_devptr a = ptxt_alloc(N * 4), b = ptxt_alloc(N * 4), c = ptxt_alloc(N * 4);
  float *ha = ptxt_host(a, N * 4), *hb = ptxt_host(b, N * 4), *hc = ptxt_host(c, N * 4);
  for (int i = 0; i < N; i++) { ha[i] = (float)i; hb[i] = 1; }
  struct { uint64_t a, b, c; int n; } P = {a, b, c, N};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(k, N / 64, 1, 64, 1, 0, &P, 28, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < N; i++) if (hc[i] != (float)i + 1) FAIL("c[%d] = %g", i, hc[i]);
  sg_ptx_unload(m);
}

TEST(ptx_run_cub_block_scan_reduce_sort) {
  sg_ptx_module *m = ptxt_load_file("cub.ptx");
  const int B = 8, T = 128;
  sg_devptr in = ptxt_alloc(B * T * 4), out = ptxt_alloc((1024 + B) * 4);
  int *hi = ptxt_host(in, B * T * 4), *ho = ptxt_host(out, (1024 + B) * 4);
  for (int i = 0; i < B * T; i++) hi[i] = (i * 7919) % 23 - 11;
  uint64_t P[2] = {in, out};
  char err[512] = "";
  if (ptxt_launch(ptxt_kernel(m, "blockscan"), B, 1, T, 1, 0, P, 16, err, sizeof err) != SG_PTX_OK) FAIL("%s", err);
  for (int b = 0; b < B; b++) {
    int run = 0;
    for (int t = 0; t < T; t++) {
      ASSERT_EQ(ho[b * T + t], run);
      run += hi[b * T + t];
    }
    ASSERT_EQ(ho[1024 + b], run);
  }
  sg_devptr keys = ptxt_alloc(256 * 4);
  int *hk = ptxt_host(keys, 256 * 4);
  for (int i = 0; i < 256; i++) hk[i] = (int)((unsigned)i * 2654435761u >> 7) - (1 << 23);
  int ref[256];
  memcpy(ref, hk, sizeof ref);
  for (int i = 1; i < 256; i++)
    for (int j = i; j > 0 && ref[j - 1] > ref[j]; j--) { int x = ref[j]; ref[j] = ref[j - 1]; ref[j - 1] = x; }
  uint64_t P2[1] = {keys};
  if (ptxt_launch(ptxt_kernel(m, "sortk"), 1, 1, 64, 1, 0, P2, 8, err, sizeof err) != SG_PTX_OK) FAIL("%s", err);
  ASSERT_MEM_EQ(hk, ref, sizeof ref);
  sg_ptx_unload(m);
}

static float bf16_round(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  memcpy(&f, &u, 4);
  return f;
}

TEST(ptx_run_cooperative_groups_bf16_clock) {
  sg_ptx_module *m = ptxt_load_file("coop.ptx");
  const int T = 64;
  sg_devptr in = ptxt_alloc(T * 4), out = ptxt_alloc(300 * 4), t = ptxt_alloc(T * 8);
  float *hi = ptxt_host(in, T * 4), *ho = ptxt_host(out, 300 * 4);
  long long *ht = ptxt_host(t, T * 8);
  memset(ho, 0, 300 * 4);
  float total = 0;
  for (int i = 0; i < T; i++) { hi[i] = (float)i * 0.25f; total += hi[i]; }
  uint64_t P[3] = {in, out, t};
  char err[512] = "";
  if (ptxt_launch(ptxt_kernel(m, "cgk"), 1, 1, T, 1, 0, P, 24, err, sizeof err) != SG_PTX_OK) FAIL("%s", err);
  ASSERT_EQ(ho[0], total);
  for (int i = 0; i < T; i++) {
    ASSERT_EQ(ht[i], 1);
    float b = bf16_round(hi[i]);
    ASSERT_EQ(ho[1 + i], bf16_round(b * b));
    int tile = i / 16, over = 0;
    for (int l = 0; l < 16; l++) over += hi[tile * 16 + l] > 2.0f;
    ASSERT_EQ(ho[200 + i], (float)over + hi[tile * 16 + 3]);
  }
  sg_ptx_unload(m);
}

/* printf (vprintf) formats from the device argument buffer; a failed assert (__assertfail) is a
 * trap naming the condition (and prints CUDA's message on stderr). */
TEST(ptx_run_printf_and_assert) {
  sg_ptx_module *m = ptxt_load_file("coop.ptx");
  char err[512] = "";
  int n = 3;
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "pk"), 1, 1, 4, 1, 0, &n, 4, err, sizeof err), SG_PTX_OK);
  fflush(stdout);
  fflush(stderr);
  int out[2], errp[2];
  ASSERT_EQ(pipe(out), 0);
  ASSERT_EQ(pipe(errp), 0);
  int saved_out = dup(1), saved_err = dup(2);
  dup2(out[1], 1);
  dup2(errp[1], 2);
  n = 10;
  sg_ptx_status st1 = ptxt_launch(ptxt_kernel(m, "pk"), 1, 1, 2, 1, 0, &n, 4, err, sizeof err);
  n = 200;
  sg_ptx_status st2 = ptxt_launch(ptxt_kernel(m, "pk"), 1, 1, 1, 1, 0, &n, 4, err, sizeof err);
  fflush(stdout);
  fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(out[1]);
  close(errp[1]);
  char buf[256] = "", ebuf[512] = "";
  ssize_t got = read(out[0], buf, sizeof buf - 1);
  ssize_t egot = read(errp[0], ebuf, sizeof ebuf - 1);
  close(out[0]);
  close(errp[0]);
  ASSERT_EQ(st1, SG_PTX_OK);
  ASSERT_EQ(got, 28);
  ASSERT_STR_EQ(buf, "hello 10\nhello 10\nhello 200\n");
  ASSERT_EQ(st2, SG_PTX_ERR_TRAP);
  ASSERT_NOT_NULL(strstr(err, "n < 100"));
  ASSERT_GT(egot, 0);
  ASSERT_NOT_NULL(strstr(ebuf, "Assertion `n < 100` failed."));
  sg_ptx_unload(m);
}

/* Launches from several host threads at once (streams of different contexts do this): each
 * launch completes with its own results. */
typedef struct launcher {
  sg_ptx_kernel *k;
  int seed, bad;
} launcher;

static void *launch_loop(void *arg) {
  launcher *L = arg;
  const int N = 4096;
  sg_devptr a = ptxt_alloc(N * 4), b = ptxt_alloc(N * 4), c = ptxt_alloc(N * 4);
  float *ha = ptxt_host(a, N * 4), *hb = ptxt_host(b, N * 4), *hc = ptxt_host(c, N * 4);
  for (int it = 0; it < 20; it++) {
    for (int i = 0; i < N; i++) { ha[i] = (float)(i + L->seed); hb[i] = (float)it; }
    struct { uint64_t a, b, c; int n; } P = {a, b, c, N};
    char err[512];
    if (ptxt_launch(L->k, N / 128, 1, 128, 1, 0, &P, 28, err, sizeof err) != SG_PTX_OK) L->bad++;
    for (int i = 0; i < N; i++) if (hc[i] != (float)(i + L->seed + it)) { L->bad++; break; }
  }
  return NULL;
}

TEST(ptx_run_concurrent_launches) {
  sg_ptx_module *m = ptxt_load_file("vadd.ptx");
  pthread_t th[4];
  launcher L[4];
  for (int i = 0; i < 4; i++) {
    L[i] = (launcher){ptxt_kernel(m, "vadd"), 1000 * i, 0};
    ASSERT_EQ(pthread_create(&th[i], NULL, launch_loop, &L[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    ASSERT_EQ(L[i].bad, 0);
  }
  sg_ptx_unload(m);
}

/* Static shared memory is accounted per kernel (with its callees), not per module: two kernels
 * with 200 KiB each both launch, and a device function's variables count for its callers. */
TEST(ptx_run_shared_memory_per_kernel) {
  sg_ptx_module *m = ptxt_load_text(
      ".version 8.0\n.target sm_80\n.address_size 64\n"
      ".shared .align 4 .b8 helper_buf[1024];\n"
      ".func helper()\n{\n.reg .b32 %r<2>;\nmov.u32 %r1, helper_buf; st.shared.u32 [%r1+1020], 5;\nret;\n}\n"
      ".visible .entry a(.param .u64 o)\n{\n.reg .b32 %r<3>;\n.reg .b64 %rd<2>;\n.shared .align 4 .b8 abuf[204800];\n"
      "mov.u32 %r1, abuf; st.shared.u32 [%r1+204796], 7; ld.shared.u32 %r2, [abuf+204796];\n"
      "ld.param.u64 %rd1, [o]; st.global.u32 [%rd1], %r2;\ncall.uni helper, ();\nret;\n}\n"
      ".visible .entry b(.param .u64 o)\n{\n.reg .b32 %r<3>;\n.reg .b64 %rd<2>;\n.shared .align 4 .b8 bbuf[204800];\n"
      "mov.u32 %r1, bbuf; st.shared.u32 [%r1], 9; ld.shared.u32 %r2, [bbuf];\n"
      "ld.param.u64 %rd1, [o]; st.global.u32 [%rd1+4], %r2;\nret;\n}\n");
  sg_ptx_attrs at;
  sg_ptx_kernel_attrs(ptxt_kernel(m, "a"), &at);
  ASSERT_EQ(at.static_shared_bytes, 204800 + 1024);
  sg_ptx_kernel_attrs(ptxt_kernel(m, "b"), &at);
  ASSERT_EQ(at.static_shared_bytes, 204800);
  sg_devptr o = ptxt_alloc(8);
  uint32_t *h = ptxt_host(o, 8);
  uint64_t P[1] = {o};
  char err[512] = "";
  if (ptxt_launch(ptxt_kernel(m, "a"), 2, 1, 32, 1, 0, P, 8, err, sizeof err) != SG_PTX_OK) FAIL("%s", err);
  if (ptxt_launch(ptxt_kernel(m, "b"), 2, 1, 32, 1, 0, P, 8, err, sizeof err) != SG_PTX_OK) FAIL("%s", err);
  ASSERT_EQ(h[0], 7u);
  ASSERT_EQ(h[1], 9u);
  /* 200 KiB static + 64 KiB dynamic exceeds the per-block limit. */
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "b"), 1, 1, 32, 1, 64 << 10, P, 8, err, sizeof err), SG_PTX_ERR_OUT_OF_RESOURCES);
  sg_ptx_unload(m);
}

TEST(ptx_run_printf_formats) {
  sg_ptx_module *m = ptxt_load_file("printf.ptx");
  sg_devptr s = ptxt_alloc(8);
  memcpy(ptxt_host(s, 6), "hello", 6);
  struct { uint64_t s; double d; } P = {s, 3.14159};
  char err[512] = "";
  fflush(stdout);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  int saved = dup(1);
  dup2(out[1], 1);
  sg_ptx_status st = ptxt_launch(ptxt_kernel(m, "pf"), 1, 1, 1, 1, 0, &P, 16, err, sizeof err);
  fflush(stdout);
  dup2(saved, 1);
  close(out[1]);
  char buf[512] = "";
  ssize_t got = read(out[0], buf, sizeof buf - 1);
  close(out[0]);
  ASSERT_EQ(st, SG_PTX_OK);
  ASSERT_GT(got, 0);
  ASSERT_STR_EQ(buf, "i=-5 u=4000000000 x=ff X=0000BEEF ll=-1234567890123 c=Z s=hello f=3.142 e=1.500000e-07 "
                     "g=0.25 h=-3 % end\n");
  sg_ptx_unload(m);
}

/* nvcc's texture and surface forms load; a null handle names no object, so the launch that uses
 * one fails as an illegal address naming it, and the kernel without them runs. */
TEST(ptx_run_textures_check_their_handle) {
  sg_ptx_module *m = ptxt_load_file("tex.ptx");
  sg_devptr o = ptxt_alloc(256);
  uint64_t P[2] = {0, o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "plain"), 1, 1, 32, 1, 0, &P[1], 8, err, sizeof err), SG_PTX_OK);
  ASSERT_EQ(((float *)ptxt_host(o, 4))[0], 1.0f);
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "t2d"), 1, 1, 32, 1, 0, P, 16, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_NOT_NULL(strstr(err, "texture handle 0x0"));
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "s2d"), 1, 1, 32, 1, 0, P, 16, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_NOT_NULL(strstr(err, "surface handle 0x0"));
  sg_ptx_unload(m);
}
