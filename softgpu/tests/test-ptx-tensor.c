/*
 * Warp matrix instructions (mma.sync, ldmatrix, movmatrix, wmma) and cp.async, from nvcc's PTX of
 * tests/ptx/src/tensor.cu, checked against products computed here. Inputs are small multiples of
 * 1/4, exact in f16, bf16 and tf32, so products and sums are exact in f32 and results must match
 * to the bit (f16 results: the exact value rounded once).
 */
#include "ptx/ptx_test_util.h"

typedef _Float16 f16;

static uint16_t h16(float f) {
  f16 h = (f16)f;
  uint16_t b;
  memcpy(&b, &h, 2);
  return b;
}
static float f16f(uint16_t b) {
  f16 h;
  memcpy(&h, &b, 2);
  return (float)h;
}

typedef struct bufs {
  sg_devptr d[10];
  void *h[10];
  uint64_t n[10];
  int count;
} bufs;

static void *buf(bufs *b, uint64_t n) {
  int k = b->count++;
  b->n[k] = n;
  b->d[k] = ptxt_alloc(n);
  b->h[k] = ptxt_host(b->d[k], n);
  memset(b->h[k], 0, n);
  return b->h[k];
}

static void bufs_free(bufs *b) {
  for (int k = 0; k < b->count; k++) sg_mem_free(b->d[k]);
}

static void run_warp(sg_ptx_module *m, const char *kernel, const void *params, size_t psize) {
  char err[512] = "";
  if (ptxt_launch(ptxt_kernel(m, kernel), 1, 1, 32, 1, 0, params, psize, err, sizeof err) != SG_PTX_OK)
    FAIL("%s: %s", kernel, err);
}

/* Values k/4 for k in -12..12 from a seed: exact in f16, bf16, tf32 and as sums of 32 products. */
static float val(unsigned i, unsigned seed) { return (float)((int)((i * 7u + seed * 13u) % 25u) - 12) / 4.0f; }

/* ldmatrix (x4, x2, x2.trans; shared and generic addresses) feeding mma.m16n8k16 with f32 and
 * f16 accumulators. */
TEST(ptx_tensor_mma_f16_through_ldmatrix) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  bufs b = {0};
  uint16_t *a = buf(&b, 256 * 2), *bb = buf(&b, 128 * 2), *bt = buf(&b, 128 * 2);
  float *c = buf(&b, 128 * 4), *out = buf(&b, 128 * 4), *out_t = buf(&b, 128 * 4);
  uint16_t *out16 = buf(&b, 128 * 2);
  float A[16][16], B[16][8];
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 16; k++) a[i * 16 + k] = h16(A[i][k] = val((unsigned)(i * 16 + k), 1));
  for (int k = 0; k < 16; k++)
    for (int j = 0; j < 8; j++) {
      bb[k * 8 + j] = bt[j * 16 + k] = h16(B[k][j] = val((unsigned)(k * 8 + j), 2));
    }
  for (int i = 0; i < 128; i++) c[i] = val((unsigned)i, 3);
  uint64_t P[7];
  for (int k = 0; k < 7; k++) P[k] = b.d[k];
  run_warp(m, "_Z7mma_f16PK6__halfS1_S1_PKfPfS4_PS_", P, sizeof P);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) {
      float want = c[i * 8 + j];
      for (int k = 0; k < 16; k++) want += A[i][k] * B[k][j];
      ASSERT_EQ(out[i * 8 + j], want);
      ASSERT_EQ(out_t[i * 8 + j], want);
      ASSERT_EQ(f16f(out16[i * 8 + j]), (float)(f16)want); /* rounded once */
    }
  bufs_free(&b);
  sg_ptx_unload(m);
}

/* Integer mma: m16n8k32 and m16n8k16 with s8 operands and s32 accumulators, extremes included
 * (-128 * -128 summed 32 times). */
TEST(ptx_tensor_mma_s8) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  bufs b = {0};
  int8_t *a = buf(&b, 16 * 32), *bb = buf(&b, 32 * 8);
  int32_t *c = buf(&b, 128 * 4), *out32 = buf(&b, 128 * 4), *out16 = buf(&b, 128 * 4);
  for (int i = 0; i < 16 * 32; i++) a[i] = (int8_t)(i % 7 == 0 ? -128 : (i * 37) % 255 - 127);
  for (int i = 0; i < 32 * 8; i++) bb[i] = (int8_t)(i % 5 == 0 ? -128 : (i * 91) % 255 - 127);
  for (int i = 0; i < 128; i++) c[i] = i * 1000 - 64000;
  uint64_t P[5] = {b.d[0], b.d[1], b.d[2], b.d[3], b.d[4]};
  run_warp(m, "_Z6mma_s8PKaS0_PKiPiS3_", P, sizeof P);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) {
      int32_t w32 = c[i * 8 + j], w16 = c[i * 8 + j];
      for (int k = 0; k < 32; k++) w32 += a[i * 32 + k] * bb[k * 8 + j];
      for (int k = 0; k < 16; k++) w16 += a[i * 32 + k] * bb[k * 8 + j];
      ASSERT_EQ(out32[i * 8 + j], w32);
      ASSERT_EQ(out16[i * 8 + j], w16);
    }
  bufs_free(&b);
  sg_ptx_unload(m);
}

TEST(ptx_tensor_mma_bf16_and_tf32) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  bufs b = {0};
  float *a = buf(&b, 16 * 16 * 4), *bb = buf(&b, 16 * 8 * 4), *obf = buf(&b, 128 * 4), *otf = buf(&b, 128 * 4);
  for (int i = 0; i < 256; i++) a[i] = val((unsigned)i, 4);
  for (int i = 0; i < 128; i++) bb[i] = val((unsigned)i, 5);
  uint64_t P[4] = {b.d[0], b.d[1], b.d[2], b.d[3]};
  run_warp(m, "_Z13mma_bf16_tf32PKfS0_PfS1_", P, sizeof P);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) {
      float w16 = 0, w8 = 0;
      for (int k = 0; k < 16; k++) w16 += a[i * 16 + k] * bb[k * 8 + j];
      for (int k = 0; k < 8; k++) w8 += a[i * 16 + k] * bb[k * 8 + j];
      ASSERT_EQ(obf[i * 8 + j], w16);
      ASSERT_EQ(otf[i * 8 + j], w8);
    }
  bufs_free(&b);
  sg_ptx_unload(m);
}

/* The smaller shapes: m16n8k8 f16, m8n8k16 s8, m16n8k4 tf32, m8n8k4 f64. af is 16x8 (row-major),
 * bf 8x8; each product uses the leading columns/rows its shape needs. */
TEST(ptx_tensor_mma_small_shapes) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  bufs b = {0};
  float *af = buf(&b, 16 * 8 * 4), *bf = buf(&b, 8 * 8 * 4);
  int8_t *a8 = buf(&b, 8 * 16), *b8 = buf(&b, 16 * 8);
  float *o16 = buf(&b, 128 * 4);
  int32_t *o8 = buf(&b, 64 * 4);
  float *otf = buf(&b, 128 * 4);
  double *o64 = buf(&b, 64 * 8);
  for (int i = 0; i < 128; i++) af[i] = val((unsigned)i, 12);
  for (int i = 0; i < 64; i++) bf[i] = val((unsigned)i, 13);
  for (int i = 0; i < 128; i++) {
    a8[i] = (int8_t)(i % 6 == 0 ? -128 : i * 71 % 255 - 127);
    b8[i] = (int8_t)(i % 4 == 0 ? 127 : i * 43 % 255 - 127);
  }
  uint64_t P[8];
  for (int k = 0; k < 8; k++) P[k] = b.d[k];
  run_warp(m, "_Z9mma_smallPKfS0_PKaS2_PfPiS3_Pd", P, sizeof P);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) {
      float w8 = 0, w4 = 0;
      for (int k = 0; k < 8; k++) w8 += af[i * 8 + k] * bf[k * 8 + j];
      for (int k = 0; k < 4; k++) w4 += af[i * 8 + k] * bf[k * 8 + j];
      ASSERT_EQ(o16[i * 8 + j], w8);
      ASSERT_EQ(otf[i * 8 + j], w4);
      if (i >= 8) continue;
      int32_t wi = 0;
      for (int k = 0; k < 16; k++) wi += a8[i * 16 + k] * b8[k * 8 + j];
      ASSERT_EQ(o8[i * 8 + j], wi);
      ASSERT_EQ(o64[i * 8 + j], (double)w4);
    }
  bufs_free(&b);
  sg_ptx_unload(m);
}

/* movmatrix agrees with ggml's shuffle-based transpose, and with the transpose computed here. */
TEST(ptx_tensor_movmatrix) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  bufs b = {0};
  uint32_t *in = buf(&b, 128), *out = buf(&b, 128), *ref = buf(&b, 128);
  uint16_t mat[8][8];
  for (int l = 0; l < 32; l++) {
    for (int x = 0; x < 2; x++) mat[l / 4][2 * (l % 4) + x] = (uint16_t)(0x100 * (l / 4) + 2 * (l % 4) + x + 0x1000);
    in[l] = mat[l / 4][2 * (l % 4)] | (uint32_t)mat[l / 4][2 * (l % 4) + 1] << 16;
  }
  uint64_t P[3] = {b.d[0], b.d[1], b.d[2]};
  run_warp(m, "_Z9movmatrixPKjPjS1_", P, sizeof P);
  for (int l = 0; l < 32; l++) {
    ASSERT_EQ(out[l], ref[l]);
    ASSERT_EQ(out[l], mat[2 * (l % 4)][l / 4] | (uint32_t)mat[2 * (l % 4) + 1][l / 4] << 16);
  }
  bufs_free(&b);
  sg_ptx_unload(m);
}

/* cp.async copies at issue; src-size below the copy size zero-fills the rest. */
TEST(ptx_tensor_cp_async) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  for (int partial = 0; partial <= 16; partial += 4) {
    bufs b = {0};
    int32_t *src = buf(&b, 224 * 4), *out = buf(&b, 224 * 4);
    for (int i = 0; i < 224; i++) src[i] = i * 3 + 1;
    struct { uint64_t src, out; int32_t partial; } __attribute__((packed)) p = {b.d[0], b.d[1], partial};
    uint8_t P[24] = {0};
    memcpy(P, &p, 20);
    run_warp(m, "_Z8cp_asyncPKiPii", P, sizeof P);
    for (int i = 0; i < 224; i++) {
      int zeroed = i >= 20 && i < 24 && (i - 20) * 4 >= partial;
      ASSERT_EQ(out[i], (zeroed ? 0 : src[i]));
    }
    bufs_free(&b);
  }
  sg_ptx_unload(m);
}

/* wmma through CUDA's API for its three f16 shapes, both layout pairs, f32 and f16 accumulators:
 * D = A*B + 2*C, stored column-major. */
TEST(ptx_tensor_wmma_shapes_layouts_accumulators) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  static const int dims[3][2] = {{16, 16}, {32, 8}, {8, 32}};
  for (int acc16 = 0; acc16 < 2; acc16++)
    for (int shape = 0; shape < 3; shape++)
      for (int lay = 0; lay < 2; lay++) {
        const int M = dims[shape][0], N = dims[shape][1], K = 16;
        bufs b = {0};
        uint16_t *a = buf(&b, (uint64_t)M * K * 2), *bb = buf(&b, (uint64_t)K * N * 2);
        float *c = buf(&b, (uint64_t)M * N * 4), *d = buf(&b, (uint64_t)M * N * 4);
        float A[32][16], B[16][32];
        for (int i = 0; i < M; i++)
          for (int k = 0; k < K; k++) {
            A[i][k] = val((unsigned)(i * K + k), 6);
            a[lay ? k * M + i : i * K + k] = h16(A[i][k]); /* lay 1: column-major A */
          }
        for (int k = 0; k < K; k++)
          for (int j = 0; j < N; j++) {
            B[k][j] = val((unsigned)(k * N + j), 7);
            bb[lay ? k * N + j : j * K + k] = h16(B[k][j]); /* lay 0: column-major B */
          }
        for (int i = 0; i < M * N; i++) c[i] = val((unsigned)i, 8);
        struct { uint64_t a, b, c, d; int32_t shape, lay; } p = {b.d[0], b.d[1], b.d[2], b.d[3], shape, lay};
        run_warp(m, acc16 ? "_Z8wmma_f16PK6__halfS1_PKfPfii" : "_Z8wmma_f32PK6__halfS1_PKfPfii", &p, sizeof p);
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) {
            float want = 2 * c[i * N + j];
            for (int k = 0; k < K; k++) want += A[i][k] * B[k][j];
            if (acc16) want = (float)(f16)want; /* rounded once */
            if (d[j * M + i] != want)
              FAIL("wmma %dx%dx16 layouts %d acc16 %d: D[%d][%d] = %g, want %g", M, N, lay, acc16, i, j,
                   (double)d[j * M + i], (double)want);
          }
        bufs_free(&b);
      }
  sg_ptx_unload(m);
}

static uint16_t bf16_bits(float f) { /* exact for the values used here */
  uint32_t u;
  memcpy(&u, &f, 4);
  return (uint16_t)(u >> 16);
}

/* wmma with s8 operands and s32 accumulators (extremes included) and with bf16 operands. */
TEST(ptx_tensor_wmma_s8_and_bf16) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  bufs b = {0};
  int8_t *a8 = buf(&b, 256), *b8 = buf(&b, 256);
  int32_t *c8 = buf(&b, 1024), *d8 = buf(&b, 1024);
  uint16_t *ab = buf(&b, 512), *bb = buf(&b, 512);
  float *cb = buf(&b, 1024), *db = buf(&b, 1024);
  float A[16][16], B[16][16];
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 16; k++) {
      a8[i * 16 + k] = (int8_t)((i + k) % 9 == 0 ? -128 : (i * 16 + k) * 29 % 255 - 127);
      b8[k * 16 + i] = (int8_t)((i * k) % 11 == 0 ? -128 : (i * 16 + k) * 53 % 255 - 127); /* column-major B */
      ab[i * 16 + k] = bf16_bits(A[i][k] = val((unsigned)(i * 16 + k), 9));
      bb[i * 16 + k] = bf16_bits(B[k][i] = val((unsigned)(i * 16 + k), 10)); /* column-major B */
    }
  for (int i = 0; i < 256; i++) {
    c8[i] = 40000 * i - 5000000;
    cb[i] = val((unsigned)i, 11);
  }
  uint64_t P[8];
  for (int k = 0; k < 8; k++) P[k] = b.d[k];
  run_warp(m, "_Z12wmma_s8_bf16PKaS0_PKiPiPK13__nv_bfloat16S6_PKfPf", P, sizeof P);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) {
      int32_t wi = c8[i * 16 + j];
      float wf = cb[i * 16 + j];
      for (int k = 0; k < 16; k++) {
        wi += a8[i * 16 + k] * b8[j * 16 + k];
        wf += A[i][k] * B[k][j];
      }
      ASSERT_EQ(d8[i * 16 + j], wi);
      ASSERT_EQ(db[i * 16 + j], wf);
    }
  bufs_free(&b);
  sg_ptx_unload(m);
}

/* The whole warp must take part: a warp of 16 threads fails the launch naming the instruction;
 * a row address of ldmatrix off its 16-byte alignment is a misaligned access; forms outside what
 * the engine runs (Volta's m8n8k4 f16 mma) fail only when reached. */
TEST(ptx_tensor_errors) {
  sg_ptx_module *m = ptxt_load_file("tensor.ptx");
  bufs b = {0};
  uint32_t *in = buf(&b, 128);
  (void)in;
  buf(&b, 128);
  buf(&b, 128);
  uint64_t P[3] = {b.d[0], b.d[1], b.d[2]};
  char err[512] = "";
  ASSERT_EQ(ptxt_launch(ptxt_kernel(m, "_Z9movmatrixPKjPjS1_"), 1, 1, 16, 1, 0, P, sizeof P, err, sizeof err),
            SG_PTX_ERR_LAUNCH);
  ASSERT_NOT_NULL(strstr(err, "all 32 lanes"));
  bufs_free(&b);
  sg_ptx_unload(m);

  m = ptxt_load_text(".version 8.0\n.target sm_80\n.address_size 64\n"
                     ".visible .entry k(.param .u64 out)\n{\n.reg .b32 %r<8>;\n.reg .b64 %rd<4>;\n"
                     ".shared .align 16 .b8 s[512];\n"
                     "mov.u32 %r1, %tid.x; shl.b32 %r2, %r1, 4; add.u32 %r2, %r2, 8;\n"
                     "mov.u32 %r3, s; add.u32 %r3, %r3, %r2;\n"
                     "ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%r4}, [%r3];\n"
                     "ret;\n}\n");
  ASSERT_EQ(ptxt_launch(sg_ptx_kernel_at(m, 0), 1, 1, 32, 1, 0, P, 8, err, sizeof err), SG_PTX_ERR_MISALIGNED);
  ASSERT_NOT_NULL(strstr(err, "misaligned 16-byte shared"));
  sg_ptx_unload(m);

  uint32_t out[1];
  ASSERT_EQ(ptxt_run_body("mma.sync.aligned.m8n8k4.row.row.f16.f16.f16.f16 {%r1, %r2, %r3, %r4}, {%r5, %r6}, "
                          "{%r7, %r8}, {%r1, %r2, %r3, %r4};\n",
                          NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_NOT_NULL(strstr(err, "mma.sync.aligned.m8n8k4.row.row.f16.f16.f16.f16"));
  /* Register counts that do not match the shape are not that instruction. */
  ASSERT_EQ(ptxt_run_body("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%r1, %r2}, {%r5, %r6}, "
                          "{%r7, %r8}, {%r1, %r2};\n",
                          NULL, 0, out, sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED);
  ASSERT_EQ(ptxt_run_body("wmma.load.a.sync.aligned.row.m16n16k16.f16 {%r1, %r2}, [%rd1], 16;\n", NULL, 0, out,
                          sizeof out, err, sizeof err),
            SG_PTX_ERR_UNSUPPORTED); /* two registers cannot hold a 16x16 A */
}
