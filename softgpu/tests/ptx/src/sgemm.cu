// nvcc -ptx -arch=sm_75 sgemm.cu -o ../sgemm.ptx
#define T 16
extern "C" __global__ void sgemm(const float *A, const float *B, float *C, int N) {
  __shared__ float As[T][T], Bs[T][T];
  int tx = threadIdx.x, ty = threadIdx.y;
  int row = blockIdx.y * T + ty, col = blockIdx.x * T + tx;
  float acc = 0;
  for (int k = 0; k < N; k += T) {
    As[ty][tx] = A[row * N + k + tx];
    Bs[ty][tx] = B[(k + ty) * N + col];
    __syncthreads();
    for (int j = 0; j < T; j++) acc += As[ty][j] * Bs[j][tx];
    __syncthreads();
  }
  C[row * N + col] = acc;
}
