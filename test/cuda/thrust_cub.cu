// NVIDIA's thrust and cub as CUDA programs use them: both read cudaFuncGetAttributes().ptxVersion
// (cub's PtxVersion()) to choose tuning policies and which kernel variant to launch, so a wrong
// answer there made thrust's reductions fail with cudaErrorInvalidDeviceFunction and once made a
// cub sort return wrong data with no error. Every result is checked against the CPU's.
#include <stdlib.h>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_scan.cuh>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>

#include "check.h"

__global__ void which_arch(int *arch) {
#ifdef __CUDA_ARCH__
  *arch = __CUDA_ARCH__;
#endif
}

static unsigned lcg(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

int main() {
  // The function attributes say which virtual architecture the code that runs was built for.
  int *darch, arch = 0;
  OK("malloc arch", cudaMalloc(&darch, sizeof(int)));
  which_arch<<<1, 1>>>(darch);
  OK("arch kernel", cudaGetLastError());
  OK("copy arch", cudaMemcpy(&arch, darch, sizeof arch, cudaMemcpyDeviceToHost));
  cudaFuncAttributes fa;
  OK("cudaFuncGetAttributes", cudaFuncGetAttributes(&fa, which_arch));
  printf("# __CUDA_ARCH__ %d, ptxVersion %d, binaryVersion %d, numRegs %d\n", arch, fa.ptxVersion, fa.binaryVersion, fa.numRegs);
  CHECK("ptxVersion is the architecture the kernel was compiled for", arch > 0 && fa.ptxVersion * 10 == arch);
  CHECK("numRegs is reported", fa.numRegs > 0);

  const int n = 20000;
  thrust::host_vector<int> h(n);
  unsigned seed = 12345;
  long long sum = 0;
  for (int i = 0; i < n; i++) {
    h[i] = (int)(lcg(&seed) % 100000) - 50000;
    sum += h[i];
  }
  try {
    thrust::device_vector<int> v = h;
    long long got = thrust::reduce(v.begin(), v.end(), 0LL);
    CHECK("thrust::reduce", got == sum);
    thrust::device_vector<int> scan(n);
    thrust::inclusive_scan(v.begin(), v.end(), scan.begin());
    int last = scan[n - 1];
    CHECK("thrust::inclusive_scan", last == (int)sum);
    thrust::sort(v.begin(), v.end());
    thrust::host_vector<int> sorted = v;
    bool ok = true;
    for (int i = 1; i < n; i++) ok = ok && sorted[i - 1] <= sorted[i];
    CHECK("thrust::sort", ok);
  } catch (const std::exception &e) {
    printf("not ok - thrust threw: %s\n", e.what());
    failures++;
  }

  // cub directly: key-value radix sort (the one that once went wrong silently), reduce, scan.
  unsigned *keys = (unsigned *)malloc(n * sizeof(unsigned)), *okeys = (unsigned *)malloc(n * sizeof(unsigned));
  int *vals = (int *)malloc(n * sizeof(int)), *ovals = (int *)malloc(n * sizeof(int));
  for (int i = 0; i < n; i++) keys[i] = lcg(&seed), vals[i] = i;
  unsigned *dk, *dk2;
  int *dv, *dv2;
  OK("malloc keys", cudaMalloc(&dk, n * sizeof(unsigned)));
  OK("malloc keys out", cudaMalloc(&dk2, n * sizeof(unsigned)));
  OK("malloc values", cudaMalloc(&dv, n * sizeof(int)));
  OK("malloc values out", cudaMalloc(&dv2, n * sizeof(int)));
  OK("copy keys", cudaMemcpy(dk, keys, n * sizeof(unsigned), cudaMemcpyHostToDevice));
  OK("copy values", cudaMemcpy(dv, vals, n * sizeof(int), cudaMemcpyHostToDevice));
  size_t tmp_bytes = 0;
  OK("SortPairs size", cub::DeviceRadixSort::SortPairs(NULL, tmp_bytes, dk, dk2, dv, dv2, n));
  void *tmp;
  OK("malloc temp", cudaMalloc(&tmp, tmp_bytes));
  OK("cub::DeviceRadixSort::SortPairs", cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, dk, dk2, dv, dv2, n));
  OK("copy sorted keys", cudaMemcpy(okeys, dk2, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
  OK("copy sorted values", cudaMemcpy(ovals, dv2, n * sizeof(int), cudaMemcpyDeviceToHost));
  bool sorted = true, paired = true;
  for (int i = 0; i < n; i++) {
    if (i > 0 && okeys[i - 1] > okeys[i]) sorted = false;
    if (ovals[i] < 0 || ovals[i] >= n || keys[ovals[i]] != okeys[i]) paired = false;
  }
  CHECK("cub radix sort: keys in order", sorted);
  CHECK("cub radix sort: each value stays with its key", paired);

  int *din, *dsum, *dscan, gsum = 0, glast = 0;
  OK("malloc in", cudaMalloc(&din, n * sizeof(int)));
  OK("malloc sum", cudaMalloc(&dsum, sizeof(int)));
  OK("malloc scan", cudaMalloc(&dscan, n * sizeof(int)));
  OK("copy in", cudaMemcpy(din, vals, n * sizeof(int), cudaMemcpyHostToDevice));
  size_t rb = 0, sb = 0;
  OK("Reduce size", cub::DeviceReduce::Sum(NULL, rb, din, dsum, n));
  OK("Scan size", cub::DeviceScan::InclusiveSum(NULL, sb, din, dscan, n));
  void *t2;
  OK("malloc temp 2", cudaMalloc(&t2, rb > sb ? rb : sb));
  OK("cub::DeviceReduce::Sum", cub::DeviceReduce::Sum(t2, rb, din, dsum, n));
  OK("cub::DeviceScan::InclusiveSum", cub::DeviceScan::InclusiveSum(t2, sb, din, dscan, n));
  OK("copy sum", cudaMemcpy(&gsum, dsum, sizeof gsum, cudaMemcpyDeviceToHost));
  OK("copy scan", cudaMemcpy(&glast, dscan + n - 1, sizeof glast, cudaMemcpyDeviceToHost));
  CHECK("cub reduce", gsum == n * (n - 1) / 2);
  CHECK("cub scan", glast == n * (n - 1) / 2);
  free(keys), free(okeys), free(vals), free(ovals);
  return finish();
}
