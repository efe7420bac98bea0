// nvcc-flags: -gencode=arch=compute_75,code=compute_75 -gencode=arch=compute_80,code=compute_80 -gencode=arch=compute_90,code=compute_90 -gencode=arch=compute_100,code=compute_100 -gencode=arch=compute_120,code=compute_120
// CCCL's device-wide algorithms, built as PTX for five virtual architectures so that each compute
// capability the test runs this at loads a different one, and cub picks the tuning policies of
// that architecture (it asks cudaFuncGetAttributes().ptxVersion): thrust sort, reduce, scan and
// transform; cub radix sort, reduce, scan, histogram and select. Every result against the CPU's.
#include <stdlib.h>

#include <cub/device/device_histogram.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/device_vector.h>
#include <thrust/functional.h>
#include <thrust/host_vector.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include "../cuda/check.h"

static unsigned lcg(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

struct Square {
  __host__ __device__ int operator()(int x) const { return x * x % 1000; }
};

struct IsEven {
  __host__ __device__ bool operator()(int x) const { return (x & 1) == 0; }
};

// Temporary storage for a cub call: sized by a first call, then the call itself.
#define CUB(name, call_with_tmp)                                              \
  do {                                                                        \
    void *tmp = NULL;                                                         \
    size_t tmp_bytes = 0;                                                     \
    OK(name " size", call_with_tmp);                                          \
    OK(name " storage", cudaMalloc(&tmp, tmp_bytes ? tmp_bytes : 1));         \
    OK(name, call_with_tmp);                                                  \
    OK(name " sync", cudaDeviceSynchronize());                                \
    cudaFree(tmp);                                                            \
  } while (0)

int main() {
  cudaDeviceProp prop;
  OK("device", cudaGetDeviceProperties(&prop, 0));
  printf("# compute capability %d.%d\n", prop.major, prop.minor);
  const int n = 5000;
  int *h = (int *)malloc(n * sizeof(int)), *want = (int *)malloc(n * sizeof(int)), *got = (int *)malloc(n * sizeof(int));
  unsigned seed = 2024;
  long long sum = 0;
  for (int i = 0; i < n; i++) {
    h[i] = (int)(lcg(&seed) % 20000) - 10000;
    sum += h[i];
  }

  try {
    thrust::device_vector<int> v(h, h + n);
    CHECK("thrust::reduce", thrust::reduce(v.begin(), v.end(), 0LL) == sum);
    thrust::device_vector<int> scanned(n);
    thrust::exclusive_scan(v.begin(), v.end(), scanned.begin());
    thrust::host_vector<int> hs = scanned;
    long long run = 0;
    int scan_ok = 1;
    for (int i = 0; i < n; i++) {
      scan_ok &= hs[i] == (int)run;
      run += h[i];
    }
    CHECK("thrust::exclusive_scan", scan_ok);
    thrust::device_vector<int> sq(n);
    thrust::transform(v.begin(), v.end(), sq.begin(), Square());
    thrust::host_vector<int> hq = sq;
    int tr_ok = 1;
    for (int i = 0; i < n; i++) tr_ok &= hq[i] == Square()(h[i]);
    CHECK("thrust::transform", tr_ok);
    thrust::sort(v.begin(), v.end(), thrust::greater<int>());
    thrust::host_vector<int> sorted = v;
    memcpy(want, h, n * sizeof(int));
    qsort(want, n, sizeof(int), cmp_int);
    int sort_ok = 1;
    for (int i = 0; i < n; i++) sort_ok &= sorted[i] == want[n - 1 - i];
    CHECK("thrust::sort descending", sort_ok);
  } catch (const std::exception &e) {
    printf("# thrust threw: %s\n", e.what());
    CHECK("thrust ran without an exception", 0);
  }

  int *din, *dout, *dvals, *dvals_out, *dcount;
  long long *dsum;
  OK("malloc in", cudaMalloc(&din, n * sizeof(int)));
  OK("malloc out", cudaMalloc(&dout, n * sizeof(int)));
  OK("malloc values", cudaMalloc(&dvals, n * sizeof(int)));
  OK("malloc values out", cudaMalloc(&dvals_out, n * sizeof(int)));
  OK("malloc count", cudaMalloc(&dcount, sizeof(int)));
  OK("malloc sum", cudaMalloc(&dsum, sizeof(long long)));
  OK("copy in", cudaMemcpy(din, h, n * sizeof(int), cudaMemcpyHostToDevice));
  int *idx = (int *)malloc(n * sizeof(int));
  for (int i = 0; i < n; i++) idx[i] = i;
  OK("copy values", cudaMemcpy(dvals, idx, n * sizeof(int), cudaMemcpyHostToDevice));

  CUB("cub::DeviceRadixSort::SortPairs", cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, din, dout, dvals, dvals_out, n));
  OK("copy keys", cudaMemcpy(got, dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  OK("copy values out", cudaMemcpy(idx, dvals_out, n * sizeof(int), cudaMemcpyDeviceToHost));
  int rs_ok = 1, pair_ok = 1;
  for (int i = 0; i < n; i++) {
    rs_ok &= got[i] == want[i];
    pair_ok &= idx[i] >= 0 && idx[i] < n && h[idx[i]] == got[i];
  }
  CHECK("cub radix sort: keys", rs_ok);
  CHECK("cub radix sort: values follow their keys", pair_ok);

  CUB("cub::DeviceReduce::Sum", cub::DeviceReduce::Sum(tmp, tmp_bytes, din, dsum, n));
  long long gs = 0;
  OK("copy sum", cudaMemcpy(&gs, dsum, sizeof gs, cudaMemcpyDeviceToHost));
  CHECK("cub reduce", gs == sum);

  CUB("cub::DeviceScan::InclusiveSum", cub::DeviceScan::InclusiveSum(tmp, tmp_bytes, din, dout, n));
  OK("copy scan", cudaMemcpy(got, dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  long long run = 0;
  int sc_ok = 1;
  for (int i = 0; i < n; i++) {
    run += h[i];
    sc_ok &= got[i] == (int)run;
  }
  CHECK("cub inclusive scan", sc_ok);

  // 16 bins over [-10000, 10000).
  int *dhist, hist[16] = {0}, want_hist[16] = {0};
  OK("malloc histogram", cudaMalloc(&dhist, sizeof hist));
  CUB("cub::DeviceHistogram::HistogramEven",
      cub::DeviceHistogram::HistogramEven(tmp, tmp_bytes, din, dhist, 17, -10000, 10000, n));
  OK("copy histogram", cudaMemcpy(hist, dhist, sizeof hist, cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; i++) want_hist[(h[i] + 10000) / 1250]++;
  CHECK("cub histogram", memcmp(hist, want_hist, sizeof hist) == 0);

  CUB("cub::DeviceSelect::If", cub::DeviceSelect::If(tmp, tmp_bytes, din, dout, dcount, n, IsEven()));
  int count = -1, k = 0, sel_ok = 1;
  OK("copy count", cudaMemcpy(&count, dcount, sizeof count, cudaMemcpyDeviceToHost));
  OK("copy selected", cudaMemcpy(got, dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; i++)
    if (IsEven()(h[i])) sel_ok &= k < count && got[k++] == h[i];
  CHECK("cub select: the even values, in order", sel_ok && k == count);

  // Unique over the sorted keys.
  OK("copy sorted", cudaMemcpy(din, want, n * sizeof(int), cudaMemcpyHostToDevice));
  CUB("cub::DeviceSelect::Unique", cub::DeviceSelect::Unique(tmp, tmp_bytes, din, dout, dcount, n));
  OK("copy count", cudaMemcpy(&count, dcount, sizeof count, cudaMemcpyDeviceToHost));
  int uniq = 0;
  for (int i = 0; i < n; i++) uniq += i == 0 || want[i] != want[i - 1];
  CHECK("cub unique", count == uniq);
  return finish();
}
