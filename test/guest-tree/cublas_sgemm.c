/*
 * NVIDIA's cuBLAS 12 (libcublas.so.12 of the Debian guest tree) on vgpu's libcuda.so.1: creates a
 * handle, multiplies small matrices with cublasSgemm, cublasHgemm (half precision),
 * cublasSgemmBatched (an array of matrix pointers) and cublasSgemmStridedBatched, and checks every
 * element against a CPU product. The libraries are opened with dlopen because this machine has no cuBLAS headers; the
 * prototypes below are cuBLAS' and cudart's documented v2 C ABI. Output follows test/cuda/check.h:
 * one "ok"/"not ok" line per check and a "# N checks, M failed" summary.
 *
 * usage: cublas_sgemm [CUDART_SONAME CUBLAS_SONAME]   (default libcudart.so.12 libcublas.so.12)
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int cudaError_t;
typedef int cublasStatus_t;
typedef void *cublasHandle_t;
typedef _Float16 half; /* the bits of CUDA's __half: IEEE binary16 */
enum { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };

static int checks, failures;

static void check(const char *name, int ok, long got) {
  checks++;
  if (ok) {
    printf("ok - %s\n", name);
  } else {
    printf("not ok - %s (got %ld)\n", name, got);
    failures++;
  }
  fflush(stdout);
}

/* C(M x N) = A(M x K) * B(K x N), BATCH times: sizes that are not multiples of a tile. */
enum { M = 7, N = 5, K = 9, BATCH = 3 };

typedef cudaError_t (*memcpy_fn)(void *, const void *, size_t, int);

/* A checked host-to-device copy. */
static void upload(memcpy_fn copy, void *dst, const void *src, size_t bytes, const char *name) {
  cudaError_t e = copy(dst, src, bytes, cudaMemcpyHostToDevice);
  check(name, e == 0, e);
}

/* Copies `batch` column-major float results back and compares them with the CPU's. */
static void check_product(const char *name, memcpy_fn copy, const float *dc, float (*got)[M * N], int batch,
                          const float (*want)[M * N]) {
  memset(got, 0, (size_t)batch * sizeof got[0]);
  cudaError_t e = copy(got, dc, (size_t)batch * sizeof got[0], cudaMemcpyDeviceToHost);
  check("copy C back", e == 0, e);
  int bad = 0;
  for (int q = 0; q < batch; q++)
    for (int i = 0; i < M * N; i++)
      if (fabsf(got[q][i] - want[q][i]) > 1e-3f * (1.0f + fabsf(want[q][i]))) {
        if (bad < 4) printf("# C[%d][%d] = %g, want %g\n", q, i, (double)got[q][i], (double)want[q][i]);
        bad++;
      }
  check(name, bad == 0, bad);
}

static void *must_sym(void *lib, const char *name) {
  void *p = dlsym(lib, name);
  if (!p) {
    printf("not ok - dlsym %s: %s\n# %d checks, %d failed\n", name, dlerror(), checks + 1, failures + 1);
    exit(1);
  }
  return p;
}

int main(int argc, char **argv) {
  const char *rt_name = argc > 2 ? argv[1] : "libcudart.so.12";
  const char *blas_name = argc > 2 ? argv[2] : "libcublas.so.12";
  void *rt = dlopen(rt_name, RTLD_NOW | RTLD_GLOBAL);
  check("dlopen cudart", rt != NULL, 0);
  void *blas = dlopen(blas_name, RTLD_NOW | RTLD_GLOBAL);
  check("dlopen cublas", blas != NULL, 0);
  if (!rt || !blas) {
    printf("# dlerror: %s\n# %d checks, %d failed\n", dlerror(), checks, failures);
    return 1;
  }
  cudaError_t (*cudaRuntimeGetVersion)(int *) = (cudaError_t (*)(int *))must_sym(rt, "cudaRuntimeGetVersion");
  cudaError_t (*cudaMalloc)(void **, size_t) = (cudaError_t (*)(void **, size_t))must_sym(rt, "cudaMalloc");
  cudaError_t (*cudaFree)(void *) = (cudaError_t (*)(void *))must_sym(rt, "cudaFree");
  cudaError_t (*cudaMemcpy)(void *, const void *, size_t, int) =
      (cudaError_t (*)(void *, const void *, size_t, int))must_sym(rt, "cudaMemcpy");
  cudaError_t (*cudaDeviceSynchronize)(void) = (cudaError_t (*)(void))must_sym(rt, "cudaDeviceSynchronize");
  cublasStatus_t (*cublasCreate)(cublasHandle_t *) = (cublasStatus_t (*)(cublasHandle_t *))must_sym(blas, "cublasCreate_v2");
  cublasStatus_t (*cublasDestroy)(cublasHandle_t) = (cublasStatus_t (*)(cublasHandle_t))must_sym(blas, "cublasDestroy_v2");
  cublasStatus_t (*cublasGetVersion)(cublasHandle_t, int *) =
      (cublasStatus_t (*)(cublasHandle_t, int *))must_sym(blas, "cublasGetVersion_v2");
  cublasStatus_t (*cublasSgemm)(cublasHandle_t, int, int, int, int, int, const float *, const float *, int, const float *,
                                int, const float *, float *, int) =
      (cublasStatus_t (*)(cublasHandle_t, int, int, int, int, int, const float *, const float *, int, const float *, int,
                          const float *, float *, int))must_sym(blas, "cublasSgemm_v2");
  cublasStatus_t (*cublasSgemmBatched)(cublasHandle_t, int, int, int, int, int, const float *, const float *const *, int,
                                       const float *const *, int, const float *, float *const *, int, int) =
      (cublasStatus_t (*)(cublasHandle_t, int, int, int, int, int, const float *, const float *const *, int,
                          const float *const *, int, const float *, float *const *, int, int))must_sym(blas, "cublasSgemmBatched");
  cublasStatus_t (*cublasSgemmStridedBatched)(cublasHandle_t, int, int, int, int, int, const float *, const float *, int,
                                              long long, const float *, int, long long, const float *, float *, int,
                                              long long, int) =
      (cublasStatus_t (*)(cublasHandle_t, int, int, int, int, int, const float *, const float *, int, long long,
                          const float *, int, long long, const float *, float *, int, long long,
                          int))must_sym(blas, "cublasSgemmStridedBatched");
  cublasStatus_t (*cublasHgemm)(cublasHandle_t, int, int, int, int, int, const half *, const half *, int, const half *, int,
                                const half *, half *, int) =
      (cublasStatus_t (*)(cublasHandle_t, int, int, int, int, int, const half *, const half *, int, const half *, int,
                          const half *, half *, int))must_sym(blas, "cublasHgemm");

  int v = 0;
  cudaError_t e = cudaRuntimeGetVersion(&v);
  check("cudaRuntimeGetVersion", e == 0, e);
  printf("# cudart version %d\n", v);

  cublasHandle_t h = NULL;
  cublasStatus_t s = cublasCreate(&h);
  check("cublasCreate", s == 0 && h != NULL, s);
  if (s != 0) {
    printf("# %d checks, %d failed\n", checks, failures);
    return 1;
  }
  s = cublasGetVersion(h, &v);
  check("cublasGetVersion", s == 0, s);
  printf("# cublas version %d\n", v);

  /* Column-major inputs of small integers and halves, so every product and sum is exact in float and in half. */
  float a[BATCH][M * K], b[BATCH][K * N], c0[M * N], want[BATCH][M * N];
  for (int q = 0; q < BATCH; q++) {
    for (int i = 0; i < M * K; i++) a[q][i] = (float)((i * 7 + q) % 11) - 5.0f;
    for (int i = 0; i < K * N; i++) b[q][i] = (float)((i * 3 + 2 * q) % 13) * 0.5f - 3.0f;
  }
  for (int i = 0; i < M * N; i++) c0[i] = 1.0f;
  const float alpha = 2.0f, beta = 0.5f;
  for (int q = 0; q < BATCH; q++)
    for (int col = 0; col < N; col++)
      for (int row = 0; row < M; row++) {
        float acc = 0;
        for (int x = 0; x < K; x++) acc += a[q][x * M + row] * b[q][col * K + x];
        want[q][col * M + row] = alpha * acc + beta * c0[col * M + row];
      }

  /* Single precision: one product, then the same three as a pointer-array batch and a strided one. */
  float *da = NULL, *db = NULL, *dc = NULL;
  e = cudaMalloc((void **)&da, sizeof a);
  check("cudaMalloc A", e == 0, e);
  e = cudaMalloc((void **)&db, sizeof b);
  check("cudaMalloc B", e == 0, e);
  e = cudaMalloc((void **)&dc, BATCH * sizeof c0);
  check("cudaMalloc C", e == 0, e);
  upload(cudaMemcpy, da, a, sizeof a, "copy A");
  upload(cudaMemcpy, db, b, sizeof b, "copy B");
  for (int q = 0; q < BATCH; q++) {
    upload(cudaMemcpy, dc + q * M * N, c0, sizeof c0, "copy C");
  }
  s = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, M, N, K, &alpha, da, M, db, K, &beta, dc, M);
  check("cublasSgemm", s == 0, s);
  e = cudaDeviceSynchronize();
  check("cudaDeviceSynchronize", e == 0, e);
  float got[BATCH][M * N];
  check_product("C = alpha*A*B + beta*C", cudaMemcpy, dc, got, 1, want);

  for (int q = 0; q < BATCH; q++) {
    upload(cudaMemcpy, dc + q * M * N, c0, sizeof c0, "reset C");
  }
  const float *aptr[BATCH], *bptr[BATCH];
  float *cptr[BATCH];
  for (int q = 0; q < BATCH; q++) aptr[q] = da + q * M * K, bptr[q] = db + q * K * N, cptr[q] = dc + q * M * N;
  void *dptrs = NULL;
  e = cudaMalloc(&dptrs, 3 * sizeof aptr);
  check("cudaMalloc pointer arrays", e == 0, e);
  const float **daptr = (const float **)dptrs, **dbptr = daptr + BATCH;
  float **dcptr = (float **)(dbptr + BATCH);
  upload(cudaMemcpy, daptr, aptr, sizeof aptr, "copy A pointers");
  upload(cudaMemcpy, dbptr, bptr, sizeof bptr, "copy B pointers");
  upload(cudaMemcpy, dcptr, cptr, sizeof cptr, "copy C pointers");
  s = cublasSgemmBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, M, N, K, &alpha, daptr, M, dbptr, K, &beta, dcptr, M, BATCH);
  check("cublasSgemmBatched", s == 0, s);
  check_product("batched C[i] = alpha*A[i]*B[i] + beta*C[i]", cudaMemcpy, dc, got, BATCH, want);

  for (int q = 0; q < BATCH; q++) {
    upload(cudaMemcpy, dc + q * M * N, c0, sizeof c0, "reset C");
  }
  s = cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, M, N, K, &alpha, da, M, (long long)M * K, db, K,
                                (long long)K * N, &beta, dc, M, (long long)M * N, BATCH);
  check("cublasSgemmStridedBatched", s == 0, s);
  check_product("strided batched C[i] = alpha*A[i]*B[i] + beta*C[i]", cudaMemcpy, dc, got, BATCH, want);

  /* Half precision: the first product again with half inputs, half output and half alpha/beta. */
  half ha[M * K], hb[K * N], hc[M * N], hgot[M * N];
  for (int i = 0; i < M * K; i++) ha[i] = (half)a[0][i];
  for (int i = 0; i < K * N; i++) hb[i] = (half)b[0][i];
  for (int i = 0; i < M * N; i++) hc[i] = (half)c0[i];
  const half halpha = (half)alpha, hbeta = (half)beta;
  upload(cudaMemcpy, da, ha, sizeof ha, "copy half A");
  upload(cudaMemcpy, db, hb, sizeof hb, "copy half B");
  upload(cudaMemcpy, dc, hc, sizeof hc, "copy half C");
  s = cublasHgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, M, N, K, &halpha, (const half *)da, M, (const half *)db, K, &hbeta,
                  (half *)dc, M);
  check("cublasHgemm", s == 0, s);
  e = cudaMemcpy(hgot, dc, sizeof hgot, cudaMemcpyDeviceToHost);
  check("copy half C back", e == 0, e);
  int bad = 0;
  for (int i = 0; i < M * N; i++) {
    if ((float)hgot[i] != want[0][i]) {
      if (bad < 4) printf("# half C[%d] = %g, want %g\n", i, (double)(float)hgot[i], (double)want[0][i]);
      bad++;
    }
  }
  check("half C = alpha*A*B + beta*C", bad == 0, bad);

  cudaFree(dptrs);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  s = cublasDestroy(h);
  check("cublasDestroy", s == 0, s);
  printf("# %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
