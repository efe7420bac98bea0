// nvcc -ptx -arch=sm_80 tensor.cu -o ../tensor.ptx
// Warp matrix instructions as ggml's kernels write them (inline PTX: ldmatrix, mma.sync,
// movmatrix, cp.async) and through CUDA's wmma API. Each kernel is one warp; the test checks the
// products against its own CPU loops.
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <mma.h>
#include <stdint.h>

// D(16x8, f32) = A(16x16 f16, row-major) * B(16x8 f16) + C, A through ldmatrix.x4, B given as
// B^T (8x16 row-major) through ldmatrix.x2, or as B (16x8 row-major) through ldmatrix.x2.trans.
// f16acc: the same product with f16 accumulators (out16).
__global__ void mma_f16(const half *a, const half *b, const half *bt, const float *c, float *out, float *out_t,
                        half *out16) {
  __shared__ __align__(16) half sa[16 * 16], sb[16 * 8], sbt[8 * 16];
  const int l = threadIdx.x;
  for (int i = l; i < 256; i += 32) sa[i] = a[i];
  for (int i = l; i < 128; i += 32) { sb[i] = b[i]; sbt[i] = bt[i]; }
  __syncwarp();
  uint32_t A[4], B[2], Bt[2];
  const half *pa = sa + (l % 16) * 16 + (l / 16) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(A[0]), "=r"(A[1]), "=r"(A[2]), "=r"(A[3]) : "l"(__cvta_generic_to_shared(pa)));
  const half *pbt = sbt + (l % 8) * 16 + ((l / 8) % 2) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.b16 {%0, %1}, [%2];" : "=r"(B[0]), "=r"(B[1]) : "l"(pbt));
  const half *pb = sb + (l % 16) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];"
               : "=r"(Bt[0]), "=r"(Bt[1]) : "l"(__cvta_generic_to_shared(pb)));
  const int g = l / 4, q = l % 4;
  float C[4], D[4], E[4];
  for (int i = 0; i < 4; i++) C[i] = c[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2];
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%10, %11, %12, %13};"
               : "=f"(D[0]), "=f"(D[1]), "=f"(D[2]), "=f"(D[3])
               : "r"(A[0]), "r"(A[1]), "r"(A[2]), "r"(A[3]), "r"(B[0]), "r"(B[1]), "f"(C[0]), "f"(C[1]), "f"(C[2]),
                 "f"(C[3]));
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%10, %11, %12, %13};"
               : "=f"(E[0]), "=f"(E[1]), "=f"(E[2]), "=f"(E[3])
               : "r"(A[0]), "r"(A[1]), "r"(A[2]), "r"(A[3]), "r"(Bt[0]), "r"(Bt[1]), "f"(C[0]), "f"(C[1]), "f"(C[2]),
                 "f"(C[3]));
  uint32_t H[2] = {0, 0}, Hc[2];
  for (int i = 0; i < 2; i++) {
    half2 h = __floats2half2_rn(C[2 * i], C[2 * i + 1]);
    Hc[i] = *(uint32_t *)&h;
  }
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%0, %1}, {%2, %3, %4, %5}, {%6, %7}, {%8, %9};"
               : "=r"(H[0]), "=r"(H[1])
               : "r"(A[0]), "r"(A[1]), "r"(A[2]), "r"(A[3]), "r"(B[0]), "r"(B[1]), "r"(Hc[0]), "r"(Hc[1]));
  for (int i = 0; i < 4; i++) {
    const int at = (g + 8 * (i / 2)) * 8 + q * 2 + i % 2;
    out[at] = D[i];
    out_t[at] = E[i];
    out16[at] = ((const half *)H)[i];
  }
}

// D(16x8 s32) = A(16x32 s8) * B(32x8 s8) + C (m16n8k32) and, on the first 16 columns of A and
// rows of B, m16n8k16; registers filled by the documented fragment layouts from global memory.
__global__ void mma_s8(const int8_t *a, const int8_t *b, const int *c, int *out32, int *out16) {
  const int l = threadIdx.x, g = l / 4, q = l % 4;
  uint32_t A[4], B[2], A16[2], B16;
  int C[4], D[4], E[4];
  for (int r = 0; r < 4; r++) {
    uint32_t v = 0;
    for (int x = 0; x < 4; x++) {
      const int i = r * 4 + x, row = g + 8 * ((i / 4) % 2), col = q * 4 + (i % 4) + 16 * (i / 8);
      v |= (uint32_t)(uint8_t)a[row * 32 + col] << (8 * x);
    }
    A[r] = v;
  }
  for (int r = 0; r < 2; r++) {
    uint32_t v = 0, w = 0;
    for (int x = 0; x < 4; x++) {
      const int i = r * 4 + x;
      v |= (uint32_t)(uint8_t)b[(q * 4 + (i % 4) + 16 * (i / 4)) * 8 + g] << (8 * x);
      w |= (uint32_t)(uint8_t)a[(g + 8 * r) * 32 + q * 4 + x] << (8 * x);
    }
    B[r] = v;
    A16[r] = w;
  }
  B16 = 0;
  for (int x = 0; x < 4; x++) B16 |= (uint32_t)(uint8_t)b[(q * 4 + x) * 8 + g] << (8 * x);
  for (int i = 0; i < 4; i++) C[i] = c[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2];
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%10, %11, %12, %13};"
               : "=r"(D[0]), "=r"(D[1]), "=r"(D[2]), "=r"(D[3])
               : "r"(A[0]), "r"(A[1]), "r"(A[2]), "r"(A[3]), "r"(B[0]), "r"(B[1]), "r"(C[0]), "r"(C[1]), "r"(C[2]),
                 "r"(C[3]));
  asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
               "{%7, %8, %9, %10};"
               : "=r"(E[0]), "=r"(E[1]), "=r"(E[2]), "=r"(E[3])
               : "r"(A16[0]), "r"(A16[1]), "r"(B16), "r"(C[0]), "r"(C[1]), "r"(C[2]), "r"(C[3]));
  for (int i = 0; i < 4; i++) {
    out32[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2] = D[i];
    out16[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2] = E[i];
  }
}

// bf16 m16n8k16 and tf32 m16n8k8 (f32 accumulators, C = 0), fragments from global memory.
__global__ void mma_bf16_tf32(const float *a, const float *b, float *out_bf16, float *out_tf32) {
  const int l = threadIdx.x, g = l / 4, q = l % 4;
  uint32_t A[4], B[2], T[4], U[2];
  for (int r = 0; r < 4; r++) {
    const int i = 2 * r, row = g + 8 * ((i / 2) % 2), col = q * 2 + 8 * (i / 4);
    __nv_bfloat162 v = __floats2bfloat162_rn(a[row * 16 + col], a[row * 16 + col + 1]);
    A[r] = *(uint32_t *)&v;
    T[r] = __float_as_uint(a[(g + 8 * (r % 2)) * 16 + q + 4 * (r / 2)]);
  }
  for (int r = 0; r < 2; r++) {
    const int k = q * 2 + 8 * r;
    __nv_bfloat162 v = __floats2bfloat162_rn(b[k * 8 + g], b[(k + 1) * 8 + g]);
    B[r] = *(uint32_t *)&v;
    U[r] = __float_as_uint(b[(q + 4 * r) * 8 + g]);
  }
  float D[4], E[4];
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%10, %10, %10, %10};"
               : "=f"(D[0]), "=f"(D[1]), "=f"(D[2]), "=f"(D[3])
               : "r"(A[0]), "r"(A[1]), "r"(A[2]), "r"(A[3]), "r"(B[0]), "r"(B[1]), "f"(0.0f));
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%10, %10, %10, %10};"
               : "=f"(E[0]), "=f"(E[1]), "=f"(E[2]), "=f"(E[3])
               : "r"(T[0]), "r"(T[1]), "r"(T[2]), "r"(T[3]), "r"(U[0]), "r"(U[1]), "f"(0.0f));
  for (int i = 0; i < 4; i++) {
    out_bf16[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2] = D[i];
    out_tf32[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2] = E[i];
  }
}

// movmatrix against ggml's shuffle-based transpose of the same 8x8 b16 fragment.
__global__ void movmatrix(const uint32_t *in, uint32_t *out, uint32_t *ref) {
  const int l = threadIdx.x;
  const uint32_t x = in[l];
  uint32_t d;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(d) : "r"(x));
  out[l] = d;
  const int src_i_low = 2 * (l % 4), src_j = l / 4;
  const int lo = (__shfl_sync(0xffffffff, x, src_i_low * 4 + src_j / 2) >> ((src_j % 2) * 16)) & 0xffff;
  const int hi = (__shfl_sync(0xffffffff, x, (src_i_low + 1) * 4 + src_j / 2) << (((src_j + 1) % 2) * 16)) & 0xffff0000;
  ref[l] = (uint32_t)(lo | hi);
}

// cp.async: 16-, 8- and 4-byte copies, a partial source (src-size) zero-filling the rest, then
// commit/wait; thread l copies chunk l.
__global__ void cp_async(const int *src, int *out, int partial) {
  __shared__ __align__(16) int s[32 * 4 + 32 * 2 + 32];
  const int l = threadIdx.x;
  asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;"
               :: "r"((unsigned)__cvta_generic_to_shared(s + 4 * l)), "l"(src + 4 * l), "r"(l == 5 ? partial : 16));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;"
               :: "r"((unsigned)__cvta_generic_to_shared(s + 128 + 2 * l)), "l"(src + 128 + 2 * l));
  asm volatile("cp.async.ca.shared.global.L2::128B [%0], [%1], 4;"
               :: "r"((unsigned)__cvta_generic_to_shared(s + 192 + l)), "l"(src + 192 + l));
  asm volatile("cp.async.commit_group;");
  asm volatile("cp.async.wait_group 0;");
  asm volatile("cp.async.wait_all;");
  __syncwarp();
  for (int i = l; i < 224; i += 32) out[i] = s[i];
}

// wmma through CUDA's API: D = A*B + C for one shape, A row- or column-major, B column- or
// row-major, f32 or f16 accumulators; the accumulator is scaled by 2 element-wise before the mma.
template <int M, int N, int K, typename Acc>
__device__ void wmma_one(const half *a, const half *b, const float *c, float *d, bool a_col, bool b_row) {
  using namespace nvcuda;
  wmma::fragment<wmma::accumulator, M, N, K, Acc> fc;
  __shared__ __align__(32) Acc sc[M * N];
  for (int i = threadIdx.x; i < M * N; i += 32) sc[i] = (Acc)c[i];
  __syncwarp();
  wmma::load_matrix_sync(fc, sc, N, wmma::mem_row_major);
  for (int i = 0; i < fc.num_elements; i++) fc.x[i] = fc.x[i] * (Acc)2.0f;
  if (!a_col && !b_row) {
    wmma::fragment<wmma::matrix_a, M, N, K, half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, M, N, K, half, wmma::col_major> fb;
    wmma::load_matrix_sync(fa, a, K);
    wmma::load_matrix_sync(fb, b, K);
    wmma::mma_sync(fc, fa, fb, fc);
  } else {
    wmma::fragment<wmma::matrix_a, M, N, K, half, wmma::col_major> fa;
    wmma::fragment<wmma::matrix_b, M, N, K, half, wmma::row_major> fb;
    wmma::load_matrix_sync(fa, a, M);
    wmma::load_matrix_sync(fb, b, N);
    wmma::mma_sync(fc, fa, fb, fc);
  }
  wmma::store_matrix_sync(sc, fc, M, wmma::mem_col_major);
  __syncwarp();
  for (int i = threadIdx.x; i < M * N; i += 32) d[i] = (float)sc[i];
}

// shape 0: 16x16x16, 1: 32x8x16, 2: 8x32x16. layouts 0: A row / B col, 1: A col / B row.
__global__ void wmma_f32(const half *a, const half *b, const float *c, float *d, int shape, int layouts) {
  if (shape == 0) wmma_one<16, 16, 16, float>(a, b, c, d, layouts, layouts);
  else if (shape == 1) wmma_one<32, 8, 16, float>(a, b, c, d, layouts, layouts);
  else wmma_one<8, 32, 16, float>(a, b, c, d, layouts, layouts);
}
__global__ void wmma_f16(const half *a, const half *b, const float *c, float *d, int shape, int layouts) {
  if (shape == 0) wmma_one<16, 16, 16, half>(a, b, c, d, layouts, layouts);
  else if (shape == 1) wmma_one<32, 8, 16, half>(a, b, c, d, layouts, layouts);
  else wmma_one<8, 32, 16, half>(a, b, c, d, layouts, layouts);
}

// wmma with s8 operands (s32 accumulators) and bf16 operands (f32), 16x16x16, A row-major and
// B column-major: D = A*B + C.
__global__ void wmma_s8_bf16(const int8_t *a8, const int8_t *b8, const int *c8, int *d8, const __nv_bfloat16 *ab,
                             const __nv_bfloat16 *bb, const float *cb, float *db) {
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, int> fc;
  wmma::load_matrix_sync(fa, a8, 16);
  wmma::load_matrix_sync(fb, b8, 16);
  wmma::load_matrix_sync(fc, c8, 16, wmma::mem_row_major);
  wmma::mma_sync(fc, fa, fb, fc);
  wmma::store_matrix_sync(d8, fc, 16, wmma::mem_row_major);
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> ga;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> gb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> gc;
  wmma::load_matrix_sync(ga, ab, 16);
  wmma::load_matrix_sync(gb, bb, 16);
  wmma::load_matrix_sync(gc, cb, 16, wmma::mem_row_major);
  wmma::mma_sync(gc, ga, gb, gc);
  wmma::store_matrix_sync(db, gc, 16, wmma::mem_row_major);
}

// The smaller mma shapes, fragments filled by the documented layouts (g = lane/4, q = lane%4):
// m16n8k8 f16 (A 16x8, B 8x8), m8n8k16 s8 (A 8x16, B 16x8), m16n8k4 tf32 (A 16x4, B 4x8) and
// m8n8k4 f64 (A 8x4, B 4x8); C = 0. Outputs are row-major.
__global__ void mma_small(const float *af, const float *bf, const int8_t *a8, const int8_t *b8, float *o16, int *o8,
                          float *otf, double *o64) {
  const int l = threadIdx.x, g = l / 4, q = l % 4;
  uint32_t A[2], B, T[2], U, A8, B8;
  for (int r = 0; r < 2; r++) {
    half2 h = __floats2half2_rn(af[(g + 8 * r) * 8 + q * 2], af[(g + 8 * r) * 8 + q * 2 + 1]);
    A[r] = *(uint32_t *)&h;
    T[r] = __float_as_uint(af[(g + 8 * r) * 8 + q]);
  }
  half2 hb = __floats2half2_rn(bf[(q * 2) * 8 + g], bf[(q * 2 + 1) * 8 + g]);
  B = *(uint32_t *)&hb;
  U = __float_as_uint(bf[q * 8 + g]);
  A8 = B8 = 0;
  for (int x = 0; x < 4; x++) {
    A8 |= (uint32_t)(uint8_t)a8[g * 16 + q * 4 + x] << (8 * x);
    B8 |= (uint32_t)(uint8_t)b8[(q * 4 + x) * 8 + g] << (8 * x);
  }
  float D[4], E[4];
  int S[2];
  double F[2];
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%7, %7, %7, %7};"
               : "=f"(D[0]), "=f"(D[1]), "=f"(D[2]), "=f"(D[3]) : "r"(A[0]), "r"(A[1]), "r"(B), "f"(0.0f));
  asm volatile("mma.sync.aligned.m8n8k16.row.col.s32.s8.s8.s32 {%0, %1}, {%2}, {%3}, {%4, %4};"
               : "=r"(S[0]), "=r"(S[1]) : "r"(A8), "r"(B8), "r"(0));
  asm volatile("mma.sync.aligned.m16n8k4.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%7, %7, %7, %7};"
               : "=f"(E[0]), "=f"(E[1]), "=f"(E[2]), "=f"(E[3]) : "r"(T[0]), "r"(T[1]), "r"(U), "f"(0.0f));
  asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0, %1}, {%2}, {%3}, {%4, %4};"
               : "=d"(F[0]), "=d"(F[1]) : "d"((double)af[g * 8 + q]), "d"((double)bf[q * 8 + g]), "d"(0.0));
  for (int i = 0; i < 4; i++) {
    o16[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2] = D[i];
    otf[(g + 8 * (i / 2)) * 8 + q * 2 + i % 2] = E[i];
  }
  for (int i = 0; i < 2; i++) {
    o8[g * 8 + q * 2 + i] = S[i];
    o64[g * 8 + q * 2 + i] = F[i];
  }
}
