/*
 * Texture and surface instructions (ptx_texture.c) against values worked out by hand from the CUDA
 * programming guide's texture-fetching rules: linear filtering with 1/256 weights, the four address
 * modes, normalized coordinates, read-as-float conversion of 8/16-bit integers, gather, layered and
 * 3D fetches, surface loads and stores with each boundary mode, the queries, and handles that name
 * nothing. The resolver here stands in for softgpu/api/texture.c: handle k is table entry k - 1.
 */
#include <math.h>

#include "ptx/ptx_test_util.h"

enum { AM_WRAP = 0, AM_CLAMP = 1, AM_MIRROR = 2, AM_BORDER = 3 };

static sg_ptx_tex g_tab[4];
static int g_ntab;

static int resolve(void *arg, uint64_t h, int surface, sg_ptx_tex *out) {
  (void)arg;
  (void)surface;
  if (h == 0 || h > (uint64_t)g_ntab) return -1;
  *out = g_tab[h - 1];
  return 0;
}

/* A texture over n bytes copied into fresh device memory; returns its handle. */
static uint64_t add_tex(sg_ptx_tex d, const void *texels, size_t n) {
  d.base = ptxt_alloc(n);
  memcpy(ptxt_host(d.base, n), texels, n);
  g_tab[g_ntab++] = d;
  ptxt_texture = resolve;
  return (uint64_t)g_ntab;
}

static void reset(void) {
  for (int i = 0; i < g_ntab; i++) sg_mem_free(g_tab[i].base);
  g_ntab = 0;
}

/* Runs `body` with in = {u64 handle, f32 args...} at %rd1 and out at %rd2; %rd3 holds the handle. */
static sg_ptx_status run(const char *body, uint64_t handle, const float *args, int nargs, void *out, size_t outlen,
                         char *err, size_t errlen) {
  uint8_t in[8 + 4 * 16];
  memcpy(in, &handle, 8);
  if (nargs) memcpy(in + 8, args, 4 * (size_t)nargs);
  char text[4096];
  snprintf(text, sizeof text, "ld.global.u64 %%rd3, [%%rd1];\n%s", body);
  return ptxt_run_body(text, in, sizeof in, out, outlen, err, errlen);
}

static void run_ok(const char *body, uint64_t handle, const float *args, int nargs, void *out, size_t outlen) {
  char err[512] = "";
  sg_ptx_status st = run(body, handle, args, nargs, out, outlen, err, sizeof err);
  if (st != SG_PTX_OK) FAIL("status %d: %s", (int)st, err);
}

/* tex.2d at (x, y) = args[0..1], the four results stored to out. */
static const char *const TEX2D =
    "ld.global.f32 %f1, [%rd1+8]; ld.global.f32 %f2, [%rd1+12];\n"
    "tex.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rd3, {%f1, %f2}];\n"
    "st.global.v4.f32 [%rd2], {%f3, %f4, %f5, %f6};\n";

static float sample(uint64_t h, float x, float y) {
  float a[2] = {x, y}, out[4];
  run_ok(TEX2D, h, a, 2, out, sizeof out);
  return out[0];
}

static sg_ptx_tex float_tex(uint32_t w, uint32_t h, int am, int linear, int norm) {
  sg_ptx_tex d;
  memset(&d, 0, sizeof d);
  d.pitch = w * 4, d.slice = (uint64_t)w * 4 * h, d.width = w, d.height = h, d.depth = 1;
  d.format = 0x20, d.channels = 1, d.dims = 2, d.filter_linear = (uint8_t)linear, d.norm_coords = (uint8_t)norm;
  d.addr[0] = d.addr[1] = d.addr[2] = (uint8_t)am;
  d.border[0] = 8.0f;
  return d;
}

/* T[y][x] = x + 10 y on a 4 x 2 float texture. */
static const float RAMP[2][4] = {{0, 1, 2, 3}, {10, 11, 12, 13}};

TEST(ptx_tex_linear_weights_in_256ths) {
  uint64_t h = add_tex(float_tex(4, 2, AM_CLAMP, 1, 0), RAMP, sizeof RAMP);
  ASSERT_TRUE(sample(h, 1.0f, 0.5f) == 0.5f);  /* halfway between texels 0 and 1 */
  /* 1.3 - 0.5 = 0.8: the weight is 205/256, not 0.8 */
  ASSERT_TRUE(sample(h, 1.3f, 0.5f) == 205.0f / 256.0f);
  ASSERT_TRUE(sample(h, 2.5f, 1.0f) == 7.0f); /* rows 0 and 1 of texel 2 mixed half and half */
  ASSERT_TRUE(sample(h, 0.999f, 0.5f) == 0.5f); /* 0.499 * 256 = 127.7 rounds to 128 */
  ASSERT_TRUE(sample(h, 9.0f, 9.0f) == 13.0f);  /* clamped to the last texel */
  reset();
}

TEST(ptx_tex_point_and_address_modes) {
  uint64_t clamp = add_tex(float_tex(4, 2, AM_CLAMP, 0, 1), RAMP, sizeof RAMP);
  uint64_t wrap = add_tex(float_tex(4, 2, AM_WRAP, 0, 1), RAMP, sizeof RAMP);
  uint64_t mirror = add_tex(float_tex(4, 2, AM_MIRROR, 0, 1), RAMP, sizeof RAMP);
  uint64_t border = add_tex(float_tex(4, 2, AM_BORDER, 0, 1), RAMP, sizeof RAMP);
  /* normalized: u = 0.3 -> x = 1.2 -> texel 1; v = 0.75 -> row 1 */
  ASSERT_TRUE(sample(clamp, 0.3f, 0.75f) == 11.0f);
  ASSERT_TRUE(sample(clamp, 1.125f, 0.25f) == 3.0f);
  ASSERT_TRUE(sample(wrap, 1.125f, 0.25f) == 0.0f);   /* x = 4.5 -> texel 4 mod 4 */
  ASSERT_TRUE(sample(wrap, -0.125f, 1.25f) == 3.0f);  /* x = -0.5 -> texel -1 -> 3; row 2 -> 0 */
  ASSERT_TRUE(sample(mirror, -0.125f, 0.25f) == 0.0f); /* texel -1 reflects to 0 */
  ASSERT_TRUE(sample(mirror, 1.125f, 0.25f) == 3.0f);  /* texel 4 reflects to 3 */
  ASSERT_TRUE(sample(mirror, 1.375f, 0.25f) == 2.0f);  /* texel 5 reflects to 2 */
  ASSERT_TRUE(sample(border, 1.125f, 0.25f) == 8.0f);
  ASSERT_TRUE(sample(border, 0.625f, 0.25f) == 2.0f);
  reset();
  /* Linear filtering against the border: x = 0.25 -> xB = -0.25, weight 0.75 on texel 0 */
  uint64_t lb = add_tex(float_tex(4, 2, AM_BORDER, 1, 0), RAMP, sizeof RAMP);
  ASSERT_TRUE(sample(lb, 0.25f, 0.5f) == 0.25f * 8.0f + 0.75f * 0.0f);
  /* Linear wrap with normalized coordinates: x = 4.0 -> texels 3 and 0 (wrapped), half each */
  reset();
  uint64_t lw = add_tex(float_tex(4, 2, AM_WRAP, 1, 1), RAMP, sizeof RAMP);
  ASSERT_TRUE(sample(lw, 1.0f, 0.25f) == 1.5f);
  /* Without normalized coordinates wrap acts as clamp. */
  reset();
  uint64_t wu = add_tex(float_tex(4, 2, AM_WRAP, 0, 0), RAMP, sizeof RAMP);
  ASSERT_TRUE(sample(wu, 5.5f, 0.5f) == 3.0f);
  reset();
}

/* Each format read as normalized float and as integers; two channels, so b = 0 and a = 1. */
TEST(ptx_tex_formats_and_read_modes) {
  static const struct { uint32_t format; uint8_t bytes[4]; float as_float[2]; int32_t as_int[2]; } cases[] = {
      {0x01, {255, 51}, {1.0f, 0.2f}, {255, 51}},
      {0x08, {0x80, 0x7f}, {-1.0f, 1.0f}, {-128, 127}},
      {0x02, {0xff, 0xff, 0, 0}, {1.0f, 0.0f}, {65535, 0}},
      {0x09, {0x00, 0x80, 0xff, 0x7f}, {-1.0f, 1.0f}, {-32768, 32767}},
      {0x10, {0x00, 0x3e, 0x00, 0xc0}, {1.5f, -2.0f}, {0, 0}}, /* half: 1.5, -2 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    unsigned fs = cases[i].format == 0x01 || cases[i].format == 0x08 ? 1 : 2;
    for (int read_int = 0; read_int < 2; read_int++) {
      if (read_int && cases[i].format == 0x10) continue; /* half always reads as float */
      sg_ptx_tex d = float_tex(1, 1, AM_CLAMP, 0, 0);
      d.format = cases[i].format, d.channels = 2, d.pitch = 2 * fs, d.slice = 2 * fs, d.read_int = (uint8_t)read_int;
      uint64_t h = add_tex(d, cases[i].bytes, 2 * fs);
      float a[2] = {0.5f, 0.5f};
      uint32_t out[4];
      run_ok(TEX2D, h, a, 2, out, sizeof out);
      if (read_int) {
        ASSERT_EQ((int32_t)out[0], cases[i].as_int[0]);
        ASSERT_EQ((int32_t)out[1], cases[i].as_int[1]);
        ASSERT_EQ(out[3], 1u);
      } else {
        ASSERT_TRUE(fabsf(ptxt_bitsf(out[0]) - cases[i].as_float[0]) < 1e-6f);
        ASSERT_TRUE(fabsf(ptxt_bitsf(out[1]) - cases[i].as_float[1]) < 1e-6f);
        ASSERT_TRUE(ptxt_bitsf(out[2]) == 0.0f && ptxt_bitsf(out[3]) == 1.0f);
      }
      reset();
    }
  }
}

TEST(ptx_tld4_gathers_the_footprint) {
  /* 2 x 2 texels, channels r = 10 x + y, g = 100 + r */
  float texels[2][2][2];
  for (int y = 0; y < 2; y++)
    for (int x = 0; x < 2; x++) texels[y][x][0] = (float)(10 * x + y), texels[y][x][1] = 100.0f + (float)(10 * x + y);
  sg_ptx_tex d = float_tex(2, 2, AM_CLAMP, 0, 0);
  d.channels = 2, d.pitch = 16, d.slice = 32;
  uint64_t h = add_tex(d, texels, sizeof texels);
  float a[2] = {1.0f, 1.0f}, out[4];
  run_ok("ld.global.f32 %f1, [%rd1+8]; ld.global.f32 %f2, [%rd1+12];\n"
         "tld4.g.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rd3, {%f1, %f2}];\n"
         "st.global.v4.f32 [%rd2], {%f3, %f4, %f5, %f6};\n",
         h, a, 2, out, sizeof out);
  /* (i0, j1), (i1, j1), (i1, j0), (i0, j0) of the g channel */
  ASSERT_TRUE(out[0] == 101.0f && out[1] == 111.0f && out[2] == 110.0f && out[3] == 100.0f);
  reset();
}

TEST(ptx_tex_3d_layered_and_linear_fetch) {
  float vol[2][2][2];
  for (int i = 0; i < 8; i++) ((float *)vol)[i] = (float)i;
  sg_ptx_tex d = float_tex(2, 2, AM_CLAMP, 0, 0);
  d.depth = 2, d.dims = 3, d.pitch = 8, d.slice = 16;
  uint64_t h3 = add_tex(d, vol, sizeof vol);
  float a[3] = {1.5f, 0.5f, 1.5f}, out[4];
  run_ok("ld.global.f32 %f1, [%rd1+8]; ld.global.f32 %f2, [%rd1+12]; ld.global.f32 %f7, [%rd1+16];\n"
         "tex.3d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rd3, {%f1, %f2, %f7, %f7}];\n"
         "st.global.v4.f32 [%rd2], {%f3, %f4, %f5, %f6};\n",
         h3, a, 3, out, sizeof out);
  ASSERT_TRUE(out[0] == 5.0f); /* z 1, y 0, x 1 */
  sg_ptx_tex l = d;
  l.depth = 1, l.layers = 2, l.dims = 2;
  uint64_t hl = add_tex(l, vol, sizeof vol);
  run_ok("mov.u32 %r1, 1; ld.global.f32 %f1, [%rd1+8]; ld.global.f32 %f2, [%rd1+12];\n"
         "tex.a2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rd3, {%r1, %f1, %f2, %f2}];\n"
         "st.global.v4.f32 [%rd2], {%f3, %f4, %f5, %f6};\n",
         hl, a, 2, out, sizeof out);
  ASSERT_TRUE(out[0] == 5.0f); /* layer 1, y 0, x 1 */
  float lin[4] = {1.5f, 2.5f, 3.5f, 4.5f};
  sg_ptx_tex ld = float_tex(4, 1, AM_CLAMP, 0, 0);
  ld.linear = 1, ld.dims = 1;
  uint64_t hf = add_tex(ld, lin, sizeof lin);
  run_ok("mov.u32 %r1, 2; mov.u32 %r2, 4;\n"
         "tex.1d.v4.f32.s32 {%f3, %f4, %f5, %f6}, [%rd3, {%r1}];\n"
         "tex.1d.v4.f32.s32 {%f7, %f8, %f9, %f10}, [%rd3, {%r2}];\n"
         "st.global.f32 [%rd2], %f3; st.global.f32 [%rd2+4], %f7;\n",
         hf, NULL, 0, out, 8);
  ASSERT_TRUE(out[0] == 3.5f && out[1] == 0.0f); /* index 4 is outside: zero */
  reset();
}

TEST(ptx_surface_loads_stores_and_boundaries) {
  uint32_t img[2][3] = {{1, 2, 3}, {4, 5, 6}};
  sg_ptx_tex d = float_tex(3, 2, AM_CLAMP, 0, 0);
  d.format = 0x03; /* u32 */
  uint64_t h = add_tex(d, img, sizeof img);
  uint32_t out[4];
  /* x in bytes: (8, 1) is element 2 of row 1; the store writes 7 at (4, 0) */
  run_ok("mov.u32 %r1, 8; mov.u32 %r2, 1; mov.u32 %r3, 4; mov.u32 %r4, 0; mov.u32 %r5, 7; mov.u32 %r8, 12;\n"
         "suld.b.2d.b32.trap {%r6}, [%rd3, {%r1, %r2}];\n"
         "sust.b.2d.b32.trap [%rd3, {%r3, %r4}], {%r5};\n"
         "suld.b.2d.b32.clamp {%r7}, [%rd3, {%r8, %r2}];\n"
         "suld.b.2d.b32.zero {%r9}, [%rd3, {%r8, %r2}];\n"
         "sust.b.2d.b32.zero [%rd3, {%r8, %r4}], {%r5};\n"
         "st.global.v4.u32 [%rd2], {%r6, %r7, %r9, %r5};\n",
         h, NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 6u);
  ASSERT_EQ(out[1], 6u); /* clamped to the last element of row 1 */
  ASSERT_EQ(out[2], 0u);
  uint32_t *dev = ptxt_host(g_tab[0].base, sizeof img);
  ASSERT_EQ(dev[1], 7u);
  ASSERT_EQ(dev[2], 3u); /* the .zero store past the row wrote nothing */
  char err[512] = "";
  ASSERT_EQ(run("mov.u32 %r1, 12; mov.u32 %r2, 0;\nsuld.b.2d.b32.trap {%r6}, [%rd3, {%r1, %r2}];\n", h, NULL, 0, out,
                4, err, sizeof err),
            SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_EQ(run("mov.u32 %r1, 2; mov.u32 %r2, 0;\nsuld.b.2d.b32.trap {%r6}, [%rd3, {%r1, %r2}];\n", h, NULL, 0, out,
                4, err, sizeof err),
            SG_PTX_ERR_MISALIGNED);
  /* vector access: two u32 elements at once */
  run_ok("mov.u32 %r1, 0; mov.u32 %r2, 1;\nsuld.b.2d.v2.b32.trap {%r6, %r7}, [%rd3, {%r1, %r2}];\n"
         "st.global.v2.u32 [%rd2], {%r6, %r7};\n",
         h, NULL, 0, out, 8);
  ASSERT_EQ(out[0], 4u);
  ASSERT_EQ(out[1], 5u);
  reset();
}

TEST(ptx_texture_queries_and_bad_handles) {
  sg_ptx_tex d = float_tex(4, 2, AM_CLAMP, 0, 1);
  d.layers = 3;
  uint64_t h = add_tex(d, RAMP, sizeof RAMP);
  uint32_t out[4];
  run_ok("txq.width.b32 %r1, [%rd3]; txq.height.b32 %r2, [%rd3]; suq.array_size.b32 %r3, [%rd3];\n"
         "txq.normalized_coords.b32 %r4, [%rd3];\n"
         "st.global.v4.u32 [%rd2], {%r1, %r2, %r3, %r4};\n",
         h, NULL, 0, out, sizeof out);
  ASSERT_EQ(out[0], 4u);
  ASSERT_EQ(out[1], 2u);
  ASSERT_EQ(out[2], 3u);
  ASSERT_EQ(out[3], 1u);
  char err[512] = "";
  float a[2] = {0, 0};
  ASSERT_EQ(run(TEX2D, 99, a, 2, out, sizeof out, err, sizeof err), SG_PTX_ERR_ILLEGAL_ADDRESS);
  ASSERT_NOT_NULL(strstr(err, "names no texture"));
  /* Formatted surface stores are a real form the engine does not run. */
  ASSERT_EQ(run("mov.u32 %r1, 0;\nsust.p.2d.b32.trap [%rd3, {%r1, %r1}], {%r1};\n", h, NULL, 0, out, 4, err,
                sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  reset();
  ptxt_texture = NULL;
}

/* Three levels of 4x4, 2x2 and 1x1 floats holding 1, 2 and 4: tex.level and tex.grad pick them. */
TEST(ptx_tex_mipmap_levels) {
  float l0[16], l1[4] = {2, 2, 2, 2}, l2[1] = {4};
  for (int i = 0; i < 16; i++) l0[i] = 1;
  sg_ptx_tex d = float_tex(4, 4, AM_CLAMP, 1, 1);
  d.nmips = 2, d.max_lod = 10;
  d.mip[0] = (sg_ptx_mip){ptxt_alloc(sizeof l1), 8, 16, 2, 2, 1};
  d.mip[1] = (sg_ptx_mip){ptxt_alloc(sizeof l2), 4, 4, 1, 1, 1};
  memcpy(ptxt_host(d.mip[0].base, sizeof l1), l1, sizeof l1);
  memcpy(ptxt_host(d.mip[1].base, sizeof l2), l2, sizeof l2);
  static const char *const LEVEL =
      "ld.global.f32 %f1, [%rd1+8];\nmov.f32 %f2, 0f3F000000;\n"
      "tex.level.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rd3, {%f2, %f2}], %f1;\n"
      "st.global.f32 [%rd2], %f3;\n";
  static const char *const GRAD =
      "ld.global.f32 %f1, [%rd1+8];\nmov.f32 %f2, 0f3F000000;\nmov.f32 %f7, 0f00000000;\n"
      "tex.grad.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rd3, {%f2, %f2}], {%f1, %f7}, {%f7, %f7};\n"
      "st.global.f32 [%rd2], %f3;\n";
  static const struct { int linear; const char *body; float arg, want; } cases[] = {
      {0, LEVEL, 0.0f, 1}, {0, LEVEL, 0.6f, 2}, {0, LEVEL, 1.4f, 2}, {0, LEVEL, 7.0f, 4}, {0, LEVEL, -3.0f, 1},
      {1, LEVEL, 1.5f, 3}, {1, LEVEL, 0.25f, 1.25f},
      {0, GRAD, 0.5f, 2},   /* 0.5 of 4 texels: lod 1 */
      {0, GRAD, 0.25f, 1},  /* lod 0 */
      {1, GRAD, 0.75f, 2 + 2 * 0.5849625f}, /* lod log2(3): between levels 1 and 2 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sg_ptx_tex c = d;
    c.mip_linear = (uint8_t)cases[i].linear;
    uint64_t h = add_tex(c, l0, sizeof l0);
    float out;
    run_ok(cases[i].body, h, &cases[i].arg, 1, &out, sizeof out);
    if (fabsf(out - cases[i].want) > 1e-5f) FAIL("case %zu: %g, want %g", i, out, cases[i].want);
    reset();
  }
  /* The descriptor's clamp: at most level 1. */
  sg_ptx_tex c = d;
  c.max_lod = 1;
  uint64_t h = add_tex(c, l0, sizeof l0);
  float arg = 7, out;
  run_ok(LEVEL, h, &arg, 1, &out, sizeof out);
  ASSERT_TRUE(out == 2.0f);
  uint32_t levels;
  run_ok("txq.num_mipmap_levels.b32 %r1, [%rd3];\nst.global.u32 [%rd2], %r1;\n", h, NULL, 0, &levels, 4);
  ASSERT_EQ(levels, 3u);
  reset();
  sg_mem_free(d.mip[0].base);
  sg_mem_free(d.mip[1].base);
}

/* A sparse fetch, as nvcc emits tex2D<float>(t, x, y, &resident): the texels, and resident = 1. */
TEST(ptx_tex_sparse_residency) {
  uint64_t h = add_tex(float_tex(4, 2, AM_CLAMP, 0, 0), RAMP, sizeof RAMP);
  float a[2] = {2.5f, 1.5f};
  uint32_t out[2];
  run_ok("ld.global.f32 %f1, [%rd1+8]; ld.global.f32 %f2, [%rd1+12];\n"
         "tex.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}|%p1, [%rd3, {%f1, %f2}];\n"
         "selp.u32 %r1, 1, 0, %p1;\nst.global.f32 [%rd2], %f3; st.global.u32 [%rd2+4], %r1;\n",
         h, a, 2, out, sizeof out);
  ASSERT_TRUE(ptxt_bitsf(out[0]) == 12.0f);
  ASSERT_EQ(out[1], 1u);
  char err[512] = "";
  ASSERT_EQ(run("tex.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}|%r1, [%rd3, {%f1, %f2}];\n", h, a, 2, out, 4, err, sizeof err),
            SG_PTX_ERR_PARSE);
  reset();
}
