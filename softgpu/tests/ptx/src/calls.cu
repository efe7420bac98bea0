// nvcc -ptx -arch=sm_75 calls.cu -o ../calls.ptx
// nvcc -ptx -arch=sm_80 -G calls.cu -o ../calls-G.ptx
// Device functions (noinline), true recursion, local arrays, struct parameters, module variables.
__device__ __noinline__ int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
__device__ __noinline__ float2 pick(float a, double b) {
  int arr[8];
  for (int i = 0; i < 8; i++) arr[i] = i * a;
  return make_float2(a + arr[(int)b & 7], (float)b);
}
extern "C" __global__ void calls(int *o, float2 *p) {
  o[threadIdx.x] = fib(threadIdx.x);
  p[threadIdx.x] = pick(threadIdx.x, o[threadIdx.x]);
}
struct S { char c; double d[3]; int x; };
extern "C" __global__ void structs(S s, short h, double *o) { o[0] = s.d[1] + s.x + h + s.c; }
__constant__ float cc[4] = {1, 2, 3, 4};
__device__ int gv[3] = {7, 8, 9};
extern "C" __global__ void globals(float *o) { o[threadIdx.x] = cc[threadIdx.x & 3] + gv[threadIdx.x % 3]; gv[0] = 70; }
