/*
 * Instruction forms that NVIDIA's and ggml's libraries use (libggml-cuda, cuBLAS 12.4): block-wide
 * reductions at a barrier (bar.red), the driver's environment registers (%envreg), cache-policy
 * operands (L2::cache_hint), 8-register operand vectors, and conversions to types the engine does
 * not implement, which must fail the launch naming the instruction.
 */
#include "ptx/ptx_test_util.h"

/* __syncthreads_count/_and/_or as nvcc emits them (bar.red.popc.u32, bar.red.{and,or}.pred),
 * over 96 threads (three warps), against the same reductions computed here. */
TEST(ptx_libforms_syncthreads_count_and_or) {
  sg_ptx_module *m = ptxt_load_file("barred.ptx");
  enum { T = 96 };
  sg_devptr in = ptxt_alloc(T * 4), out = ptxt_alloc(T * 12);
  int32_t *hi = ptxt_host(in, T * 4), *ho = ptxt_host(out, T * 12);
  uint64_t P[2] = {in, out};
  char err[512] = "";
  /* Three inputs: mixed values; all positive with one 77; one non-positive and no 77. */
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < T; i++) hi[i] = round == 0 ? (i * 37) % 23 - 3 : round == 1 ? 1 + i % 15 : 5;
    if (round == 1) hi[50] = 77;
    if (round == 2) hi[95] = 0;
    int count = 0, all = 1, any = 0;
    for (int i = 0; i < T; i++) {
      count += hi[i] > 10;
      all &= hi[i] > 0;
      any |= hi[i] == 77;
    }
    memset(ho, 0xee, T * 12);
    if (ptxt_launch(ptxt_kernel(m, "_Z6barredPKiPi"), 2, 1, T, 1, 0, P, sizeof P, err, sizeof err) != SG_PTX_OK)
      FAIL("%s", err);
    for (int i = 0; i < T; i++) {
      ASSERT_EQ(ho[i * 3], count);
      ASSERT_EQ(ho[i * 3 + 1], all);
      ASSERT_EQ(ho[i * 3 + 2], any);
    }
  }
  sg_mem_free(in);
  sg_mem_free(out);
  sg_ptx_unload(m);
}

/* bar.red with a thread count, a negated predicate, another barrier id, and the barrier reused:
 * each reduction sees only its own round's predicates. */
TEST(ptx_libforms_bar_red_count_negated_reuse) {
  sg_ptx_module *m = ptxt_load_text(
      ".version 8.0\n.target sm_80\n.address_size 64\n"
      ".visible .entry k(.param .u64 out)\n{\n.reg .b32 %r<12>;\n.reg .b64 %rd<8>;\n.reg .pred %p<8>;\n"
      "ld.param.u64 %rd1, [out]; mov.u32 %r1, %tid.x;\n"
      "setp.lt.u32 %p1, %r1, 5;\n"                      /* true for 5 of 64 threads */
      "bar.red.popc.u32 %r2, 3, 64, !%p1;\n"            /* 59 */
      "barrier.red.or.pred %p2, 3, 64, !%p1;\n"         /* true */
      "barrier.cta.red.and.pred %p3, 0, %p1;\n"         /* false */
      "setp.ne.u32 %p4, %r1, 1000;\n"
      "bar.red.and.pred %p5, 0, %p4;\n"                 /* true */
      "bar.red.popc.u32 %r3, 0, %p1;\n"                 /* 5 */
      "setp.eq.u32 %p6, %r1, 1000;\n"
      "bar.red.or.pred %p7, 0, %p6;\n"                  /* false */
      "selp.u32 %r4, 1, 0, %p2; selp.u32 %r5, 1, 0, %p3; selp.u32 %r6, 1, 0, %p5; selp.u32 %r7, 1, 0, %p7;\n"
      "mul.wide.u32 %rd2, %r1, 24; add.s64 %rd3, %rd1, %rd2;\n"
      "st.global.u32 [%rd3], %r2; st.global.u32 [%rd3+4], %r4; st.global.u32 [%rd3+8], %r5;\n"
      "st.global.u32 [%rd3+12], %r6; st.global.u32 [%rd3+16], %r3; st.global.u32 [%rd3+20], %r7;\n"
      "ret;\n}\n");
  sg_devptr o = ptxt_alloc(64 * 24);
  uint32_t *h = ptxt_host(o, 64 * 24);
  uint64_t P[1] = {o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(sg_ptx_kernel_at(m, 0), 3, 1, 64, 1, 0, P, 8, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < 64; i++) {
    ASSERT_EQ(h[i * 6], 59u);
    ASSERT_EQ(h[i * 6 + 1], 1u);
    ASSERT_EQ(h[i * 6 + 2], 0u);
    ASSERT_EQ(h[i * 6 + 3], 1u);
    ASSERT_EQ(h[i * 6 + 4], 5u);
    ASSERT_EQ(h[i * 6 + 5], 0u);
  }
  sg_mem_free(o);
  sg_ptx_unload(m);
}

/* Malformed bar.red is a load error; a form outside the ISA (popc into a predicate, and into a
 * u32) fails only the launch that reaches it, naming it. */
TEST(ptx_libforms_bar_red_bad_forms) {
  char err[512] = "";
  uint32_t out[1];
  ASSERT_EQ(ptxt_run_body("setp.eq.u32 %p1, 1, 1; bar.red.popc.u32 %r1, 0;\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_PARSE);
  ASSERT_EQ(ptxt_run_body("setp.eq.u32 %p1, 1, 1; bar.red.or.pred %p2, 0, %r1;\n", NULL, 0, out, sizeof out, err,
                          sizeof err),
            SG_PTX_ERR_PARSE); /* the operand must be a predicate */
  ASSERT_EQ(ptxt_run_body("setp.eq.u32 %p1, 1, 1; bar.red.and.u32 %r1, 0, %p1;\n", NULL, 0, out, sizeof out, err,
                          sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "bar.red.and.u32"));
  ASSERT_EQ(ptxt_run_body("setp.eq.u32 %p1, 1, 1; bar.red.xor.pred %p2, 0, %p1;\n", NULL, 0, out, sizeof out, err,
                          sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "bar.red.xor.pred"));
}

/* A normal launch has no cooperative grid workspace: %envreg1:%envreg2 is NULL, so
 * this_grid().is_valid() is false (as nvcc compiles it). Every %envreg<N> reads 0; names outside
 * 0..31 are undeclared registers. */
TEST(ptx_libforms_envreg) {
  sg_ptx_module *m = ptxt_load_file("barred.ptx");
  sg_devptr o = ptxt_alloc(32 * 4);
  int32_t *h = ptxt_host(o, 32 * 4);
  memset(h, 0, 32 * 4);
  uint64_t P[1] = {o};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "_Z10grid_validPi"), 2, 1, 32, 1, 0, P, 8, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < 32; i++) ASSERT_EQ(h[i], 2);
  sg_mem_free(o);
  sg_ptx_unload(m);
  uint32_t out[3] = {1, 1, 1};
  ptxt_run_ok("mov.u32 %r1, %envreg0; mov.u32 %r2, %envreg17; mov.u32 %r3, %envreg31;\n"
              "st.global.u32 [%rd2], %r1; st.global.u32 [%rd2+4], %r2; st.global.u32 [%rd2+8], %r3;\n",
              NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 0u);
  ASSERT_EQ(out[1], 0u);
  ASSERT_EQ(out[2], 0u);
  ASSERT_EQ(ptxt_run_body("mov.u32 %r1, %envreg32;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_NOT_NULL(strstr(err, "%envreg32"));
  ASSERT_EQ(ptxt_run_body("mov.u32 %r1, %envreg05;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
  ASSERT_EQ(ptxt_run_body("mov.u32 %r1, %envreg;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
}

/* A cooperative launch: the grid workspace is in %envreg1 (high) : %envreg2 (low), so
 * this_grid() is valid, and grid.sync() (an arrival counter in the workspace, spun on with
 * ld.acquire) completes because every block of the grid runs at once. Three phases each read
 * what other blocks wrote in the one before; more blocks than workers, so blocks sharing a worker
 * must take turns at the spin. */
static sg_ptx_status coop_launch(sg_ptx_kernel *k, unsigned grid, unsigned block, const void *params, size_t psize,
                                 char *err, size_t errlen) {
  sg_devptr ws = ptxt_alloc(8);
  memset(ptxt_host(ws, 8), 0, 8);
  sg_ptx_launch l = {{grid, 1, 1}, {block, 1, 1}, 0, params, psize, NULL, NULL, NULL, ws, NULL, NULL};
  sg_ptx_status st = sg_ptx_run(k, &l, err, errlen);
  sg_mem_free(ws);
  return st;
}

TEST(ptx_libforms_grid_sync) {
  char err[512] = "";
  sg_ptx_module *bm = ptxt_load_file("barred.ptx");
  sg_devptr v = ptxt_alloc(32 * 4);
  int32_t *hv = ptxt_host(v, 32 * 4);
  memset(hv, 0, 32 * 4);
  uint64_t VP[1] = {v};
  ASSERT_EQ(coop_launch(ptxt_kernel(bm, "_Z10grid_validPi"), 2, 32, VP, 8, err, sizeof err), SG_PTX_OK);
  for (int i = 0; i < 32; i++) ASSERT_EQ(hv[i], 1);
  sg_mem_free(v);
  sg_ptx_unload(bm);

  sg_ptx_module *m = ptxt_load_file("gridsync.ptx");
  enum { GRID = 13, BLOCK = 64, N = 5000 };
  sg_devptr in = ptxt_alloc(N * 4), part = ptxt_alloc(GRID * 4), out = ptxt_alloc((1 + GRID * BLOCK) * 4);
  int32_t *hin = ptxt_host(in, N * 4), *hout = ptxt_host(out, (1 + GRID * BLOCK) * 4);
  int32_t want = 0;
  for (int i = 0; i < N; i++) want += hin[i] = (i * 7) % 23 - 5;
  memset(hout, 0, (1 + GRID * BLOCK) * 4);
  struct { uint64_t in, part, out; int32_t n; } P = {in, part, out, N};
  ASSERT_EQ(coop_launch(ptxt_kernel(m, "_Z11grid_reducePKiPiS1_i"), GRID, BLOCK, &P, sizeof P, err, sizeof err),
            SG_PTX_OK);
  for (int i = 0; i <= GRID * BLOCK; i++) ASSERT_EQ(hout[i], want);
  /* Without the workspace (a normal launch) grid.sync() traps, as nvcc compiles it. */
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "_Z11grid_reducePKiPiS1_i"), GRID, 1, BLOCK, 1, 0, &P, sizeof P, err, sizeof err),
            SG_PTX_ERR_TRAP);
  sg_mem_free(in);
  sg_mem_free(part);
  sg_mem_free(out);
  sg_ptx_unload(m);
}

/* nvcc -rdc output that launches a kernel from a kernel calls the device runtime (libcudadevrt),
 * which softgpu lacks: the load fails as a driver's JIT does on an unresolved extern function,
 * naming the function and the reason, and no kernel of the module is usable. */
TEST(ptx_device_runtime_calls_refused) {
  size_t n;
  char *text = ptxt_read("cdp.ptx", &n);
  char err[512] = "";
  sg_ptx_module *m = NULL;
  ASSERT_EQ(sg_ptx_load(text, n, &m, err, sizeof err), SG_PTX_ERR_DEVICE_RUNTIME);
  ASSERT_TRUE(m == NULL);
  ASSERT_TRUE(strstr(err, "Unresolved extern function '__cudaCDP2") != NULL);
  ASSERT_TRUE(strstr(err, "dynamic parallelism") != NULL);
  free(text);
  /* Declared but never called, a device-runtime function costs nothing (the driver's linker only
   * resolves what is referenced). */
  sg_ptx_module *ok = ptxt_load_text(".version 9.0\n.target sm_90\n.address_size 64\n"
                                     ".extern .func (.param .b32 rv) __cudaCDP2GetLastError();\n"
                                     ".visible .entry k() { ret; }\n");
  sg_ptx_unload(ok);
}

/* ld/st.L2::cache_hint carry a cache-policy operand: a hint, the access is the same. */
TEST(ptx_libforms_cache_hint_operand) {
  float in[4] = {1.5f, -2.25f, 3.0f, 8.0f};
  float out[6];
  ptxt_run_ok("mov.b64 %rd5, 0x1000000000000000;\n"
              "ld.global.L2::cache_hint.f32 %f1, [%rd1], %rd5;\n"
              "ld.global.nc.L1::no_allocate.L2::cache_hint.f32 %f4, [%rd1+4], %rd5;\n"
              "ld.global.L2::cache_hint.v2.f32 {%f2, %f3}, [%rd1+8], %rd5;\n"
              "st.global.L2::cache_hint.f32 [%rd2], %f1, %rd5;\n"
              "st.global.L2::cache_hint.v2.f32 [%rd2+8], {%f2, %f3}, %rd5;\n"
              "st.global.f32 [%rd2+16], %f4;\n",
              in, sizeof in, out, sizeof out);
  ASSERT_EQ(out[0], 1.5f);
  ASSERT_EQ(out[2], 3.0f);
  ASSERT_EQ(out[3], 8.0f);
  ASSERT_EQ(out[4], -2.25f);
  char err[512] = "";
  /* Without L2::cache_hint a third operand is not an ld. */
  ASSERT_EQ(ptxt_run_body("ld.global.f32 %f1, [%rd1], %rd5;\n", in, sizeof in, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
}

/* f32 -> tf32 (cuBLAS's and ggml's tf32 paths): 13 low mantissa bits rounded away by .rna (ties
 * away from zero), .rn (ties to even) or .rz; .satfinite keeps infinities finite, .relu clamps
 * negatives to zero; NaN stays NaN. */
TEST(ptx_libforms_cvt_tf32) {
  static const uint32_t in[8] = {
      0x3f801000u, /* 1 + half a tf32 ulp: a tie, even below */
      0x3f803000u, /* a tie, odd below */
      0x3f800fffu, /* just under the tie */
      0xbf801001u, /* negative, just over the tie */
      0x7f7fffffu, /* largest float: rounds up to infinity */
      0x7f800000u, /* infinity */
      0x7fc00001u, /* NaN */
      0x00001fffu, /* subnormal */
  };
  uint32_t out[8 * 5];
  ptxt_run_ok("mov.u32 %r10, 0;\n"
              "LOOP: mul.wide.u32 %rd3, %r10, 4; add.s64 %rd4, %rd1, %rd3; ld.global.b32 %r1, [%rd4];\n"
              "mul.wide.u32 %rd5, %r10, 20; add.s64 %rd6, %rd2, %rd5;\n"
              "cvt.rna.tf32.f32 %r2, %r1; st.global.b32 [%rd6], %r2;\n"
              "cvt.rn.tf32.f32 %r2, %r1; st.global.b32 [%rd6+4], %r2;\n"
              "cvt.rz.tf32.f32 %r2, %r1; st.global.b32 [%rd6+8], %r2;\n"
              "cvt.rn.satfinite.tf32.f32 %r2, %r1; st.global.b32 [%rd6+12], %r2;\n"
              "cvt.rn.relu.tf32.f32 %r2, %r1; st.global.b32 [%rd6+16], %r2;\n"
              "add.u32 %r10, %r10, 1; setp.lt.u32 %p1, %r10, 8; @%p1 bra LOOP;\n",
              in, sizeof in, out, sizeof out);
  static const uint32_t want[8][5] = {
      {0x3f802000u, 0x3f800000u, 0x3f800000u, 0x3f800000u, 0x3f800000u},
      {0x3f804000u, 0x3f804000u, 0x3f802000u, 0x3f804000u, 0x3f804000u},
      {0x3f800000u, 0x3f800000u, 0x3f800000u, 0x3f800000u, 0x3f800000u},
      {0xbf802000u, 0xbf802000u, 0xbf800000u, 0xbf802000u, 0u},
      {0x7f800000u, 0x7f800000u, 0x7f7fe000u, 0x7f7fe000u, 0x7f800000u},
      {0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f7fe000u, 0x7f800000u},
      {0x7fffffffu, 0x7fffffffu, 0x7fffffffu, 0x7fffffffu, 0x7fffffffu},
      {0x00002000u, 0x00002000u, 0u, 0x00002000u, 0x00002000u},
  };
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < 5; k++)
      if (out[i * 5 + k] != want[i][k]) FAIL("input 0x%08x, form %d: 0x%08x, want 0x%08x", in[i], k, out[i * 5 + k], want[i][k]);
  char err[512] = "";
  ASSERT_EQ(ptxt_run_body("cvt.rm.tf32.f32 %r1, %r2;\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "cvt.rm.tf32.f32"));
}

/* Conversions to and from fp8 (ggml's fp8 paths, cuBLAS) are not implemented: the module loads
 * and only a launch that reaches one fails, naming it. */
TEST(ptx_libforms_unknown_cvt_types) {
  char err[512] = "";
  uint32_t out[1];
  ASSERT_EQ(ptxt_run_body("cvt.rn.f16x2.e4m3x2 %r1, %h1;\n", NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "cvt.rn.f16x2.e4m3x2"));
  ASSERT_EQ(ptxt_run_body("bra DONE; cvt.rn.satfinite.e4m3x2.f32 %h1, %f1, %f2; DONE:\n", NULL, 0, out, sizeof out,
                          err, sizeof err),
            SG_PTX_OK); /* not reached */
  ASSERT_EQ(ptxt_run_body("cvt.rn %r1, %r2;\n", NULL, 0, out, sizeof out, err, sizeof err), SG_PTX_ERR_PARSE);
}
