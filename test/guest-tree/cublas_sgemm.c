/*
 * NVIDIA's cuBLAS 12 (libcublas.so.12 of the Debian guest tree) on vgpu's libcuda.so.1: creates a
 * handle, multiplies two small matrices with cublasSgemm and checks every element against a CPU
 * product. The libraries are opened with dlopen because this machine has no cuBLAS headers; the
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

  /* C(m x n) = A(m x k) * B(k x n), column-major, sizes that are not multiples of a tile. */
  enum { M = 7, N = 5, K = 9 };
  float a[M * K], b[K * N], c[M * N], want[M * N];
  for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7) % 11) - 5.0f;
  for (int i = 0; i < K * N; i++) b[i] = (float)((i * 3) % 13) * 0.5f - 3.0f;
  for (int i = 0; i < M * N; i++) c[i] = 1.0f;
  const float alpha = 2.0f, beta = 0.5f;
  for (int col = 0; col < N; col++)
    for (int row = 0; row < M; row++) {
      float acc = 0;
      for (int x = 0; x < K; x++) acc += a[x * M + row] * b[col * K + x];
      want[col * M + row] = alpha * acc + beta * c[col * M + row];
    }
  float *da = NULL, *db = NULL, *dc = NULL;
  e = cudaMalloc((void **)&da, sizeof a);
  check("cudaMalloc A", e == 0, e);
  e = cudaMalloc((void **)&db, sizeof b);
  check("cudaMalloc B", e == 0, e);
  e = cudaMalloc((void **)&dc, sizeof c);
  check("cudaMalloc C", e == 0, e);
  e = cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice);
  check("copy A", e == 0, e);
  e = cudaMemcpy(db, b, sizeof b, cudaMemcpyHostToDevice);
  check("copy B", e == 0, e);
  e = cudaMemcpy(dc, c, sizeof c, cudaMemcpyHostToDevice);
  check("copy C", e == 0, e);
  s = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, M, N, K, &alpha, da, M, db, K, &beta, dc, M);
  check("cublasSgemm", s == 0, s);
  e = cudaDeviceSynchronize();
  check("cudaDeviceSynchronize", e == 0, e);
  float got[M * N];
  memset(got, 0, sizeof got);
  e = cudaMemcpy(got, dc, sizeof got, cudaMemcpyDeviceToHost);
  check("copy C back", e == 0, e);
  int bad = 0;
  for (int i = 0; i < M * N; i++) {
    if (fabsf(got[i] - want[i]) > 1e-3f * (1.0f + fabsf(want[i]))) {
      if (bad < 4) printf("# C[%d] = %g, want %g\n", i, got[i], want[i]);
      bad++;
    }
  }
  check("C = alpha*A*B + beta*C", bad == 0, bad);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  s = cublasDestroy(h);
  check("cublasDestroy", s == 0, s);
  printf("# %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
