// Managed memory and mapped pinned memory through the CUDA runtime: the host and kernels share the
// same bytes at the points CUDA guarantees it (launch, synchronisation, callbacks), in several
// rounds; prefetch, advice and range attributes; pointer attributes of each kind; peer copies on
// one device. Without concurrent managed access (which the device attribute says), the program
// synchronises before the host touches managed memory again, as CUDA requires on such devices.
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"

__global__ void add_one(int *p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1;
}

__global__ void scale(const int *in, int *out, int n, int k) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i] * k;
}

struct holder {
  int *data;
  int n;
};

// The pointer travels inside a struct: it must be the same address on both sides.
__global__ void via_struct(holder h) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < h.n) h.data[i] = i * 3;
}

/* One host thread's rounds on a managed buffer of its own, on a stream of its own, while another
 * thread does the same: each flush and read-back covers both threads' buffers. 1 when every round
 * came back right. */
static void *thread_rounds(void *arg) {
  const int n = 3000, base = (int)(intptr_t)arg;
  int *m = NULL, ok = 1;
  cudaStream_t s;
  if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) return NULL;
  if (cudaMallocManaged((void **)&m, n * sizeof(int)) != cudaSuccess) return NULL;
  for (int round = 0; round < 10; round++) {
    for (int i = 0; i < n; i++) m[i] = base + round + i;
    add_one<<<(n + 255) / 256, 256, 0, s>>>(m, n);
    if (cudaStreamSynchronize(s) != cudaSuccess) ok = 0;
    for (int i = 0; i < n; i++) ok = ok && m[i] == base + round + i + 1;
  }
  cudaFree(m);
  cudaStreamDestroy(s);
  return ok ? arg : NULL;
}

static int seen_in_callback = -1;
static void CUDART_CB callback(void *arg) { seen_in_callback = *(int *)arg; }

int main() {
  int dev = 0, v = 0;
  OK("cudaDeviceGetAttribute managed", cudaDeviceGetAttribute(&v, cudaDevAttrManagedMemory, dev));
  CHECK("managed memory is supported", v == 1);
  OK("cudaDeviceGetAttribute can map host memory", cudaDeviceGetAttribute(&v, cudaDevAttrCanMapHostMemory, dev));
  CHECK("host memory can be mapped", v == 1);
  int concurrent = -1;
  OK("cudaDeviceGetAttribute concurrent managed access",
     cudaDeviceGetAttribute(&concurrent, cudaDevAttrConcurrentManagedAccess, dev));

  /* ---- managed memory: host, then kernel, then host, for several rounds ---- */
  const int N = 5000; /* not a page multiple, spans several pages */
  int *m = NULL;
  OK("cudaMallocManaged", cudaMallocManaged((void **)&m, N * sizeof(int)));
  CHECK("managed pointer is not null", m != NULL);
  for (int i = 0; i < N; i++) m[i] = i;
  int good = 1;
  for (int round = 1; round <= 5; round++) {
    add_one<<<(N + 255) / 256, 256>>>(m, N);
    OK("kernel on managed memory", cudaGetLastError());
    OK("cudaDeviceSynchronize", cudaDeviceSynchronize());
    for (int i = 0; i < N; i++) good = good && m[i] == i + round;
    m[round] = -round; /* a host write between rounds */
    good = good && m[round] == -round;
    m[round] = round + round; /* restored to what the kernel expects: i + round */
  }
  CHECK("five rounds of host and kernel agree", good);

  /* Written by the host only, then read by a kernel into device memory. */
  int *d = NULL, back[64];
  OK("cudaMalloc", cudaMalloc((void **)&d, 64 * sizeof(int)));
  for (int i = 0; i < 64; i++) m[i] = 1000 + i;
  scale<<<1, 64>>>(m, d, 64, 2);
  OK("cudaMemcpy from device", cudaMemcpy(back, d, sizeof back, cudaMemcpyDeviceToHost));
  good = 1;
  for (int i = 0; i < 64; i++) good = good && back[i] == 2 * (1000 + i);
  CHECK("a kernel sees the host's writes", good);

  /* Copies with cudaMemcpyDefault to and from managed memory, and cudaMemset on it. */
  OK("cudaMemset managed", cudaMemset(m, 0, 64 * sizeof(int)));
  OK("cudaDeviceSynchronize after memset", cudaDeviceSynchronize());
  good = 1;
  for (int i = 0; i < 64; i++) good = good && m[i] == 0;
  CHECK("the host sees a memset", good);
  OK("cudaMemcpy device to managed", cudaMemcpy(m, d, sizeof back, cudaMemcpyDefault));
  good = 1;
  for (int i = 0; i < 64; i++) good = good && m[i] == 2 * (1000 + i);
  CHECK("the host sees a copy into managed memory", good);

  /* A pointer inside a struct, and a stream callback that reads what a kernel wrote. */
  cudaStream_t s;
  OK("cudaStreamCreate", cudaStreamCreate(&s));
  via_struct<<<(N + 127) / 128, 128, 0, s>>>(holder{m, N});
  OK("cudaLaunchHostFunc", cudaLaunchHostFunc(s, callback, &m[N - 1]));
  OK("cudaStreamSynchronize", cudaStreamSynchronize(s));
  CHECK("a host function sees the kernel's writes", seen_in_callback == (N - 1) * 3);
  good = 1;
  for (int i = 0; i < N; i++) good = good && m[i] == i * 3;
  CHECK("a kernel given the pointer in a struct wrote it", good);

  /* Two streams: waiting for one says nothing of the other, whose results the host must still see
   * after waiting for it. */
  {
    cudaStream_t a, b;
    int *ma = NULL, *mb = NULL;
    OK("cudaStreamCreate a", cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
    OK("cudaStreamCreate b", cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
    OK("cudaMallocManaged a", cudaMallocManaged((void **)&ma, N * sizeof(int)));
    OK("cudaMallocManaged b", cudaMallocManaged((void **)&mb, N * sizeof(int)));
    for (int round = 0; round < 3; round++) {
      via_struct<<<(N + 127) / 128, 128, 0, b>>>(holder{mb, N});
      add_one<<<(N + 255) / 256, 256, 0, b>>>(mb, N);
      via_struct<<<(N + 127) / 128, 128, 0, a>>>(holder{ma, N});
      OK("cudaStreamSynchronize a", cudaStreamSynchronize(a));
      OK("cudaStreamSynchronize b", cudaStreamSynchronize(b));
      good = 1;
      for (int i = 0; i < N; i++) good = good && ma[i] == i * 3 && mb[i] == i * 3 + 1;
      CHECK("each stream's results after waiting for each", good);
      memset(ma, 0, N * sizeof(int));
      memset(mb, 0, N * sizeof(int));
    }
    OK("cudaFree a", cudaFree(ma));
    OK("cudaFree b", cudaFree(mb));
    OK("cudaStreamDestroy a", cudaStreamDestroy(a));
    OK("cudaStreamDestroy b", cudaStreamDestroy(b));
  }

  /* Two host threads at once. */
  {
    pthread_t t1, t2;
    void *r1 = NULL, *r2 = NULL;
    CHECK("two threads start", pthread_create(&t1, NULL, thread_rounds, (void *)(intptr_t)1000) == 0 &&
                                   pthread_create(&t2, NULL, thread_rounds, (void *)(intptr_t)2000) == 0);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    CHECK("each thread's rounds agree", r1 == (void *)(intptr_t)1000 && r2 == (void *)(intptr_t)2000);
  }

  /* ---- prefetch, advice, range attributes ---- */
  cudaMemLocation host_loc = {cudaMemLocationTypeHost, 0};
  cudaMemLocation dev_loc = {cudaMemLocationTypeDevice, dev};
  EXPECT("cudaMemPrefetchAsync to the GPU", cudaMemPrefetchAsync(m, N * sizeof(int), dev_loc, 0, s),
         concurrent ? cudaSuccess : cudaErrorInvalidDevice);
  cudaGetLastError();
  OK("cudaMemPrefetchAsync to the CPU", cudaMemPrefetchAsync(m, N * sizeof(int), host_loc, 0, s));
  OK("cudaStreamSynchronize after prefetch", cudaStreamSynchronize(s));
  int last = 0;
  OK("cudaMemRangeGetAttribute last prefetch",
     cudaMemRangeGetAttribute(&last, sizeof last, cudaMemRangeAttributeLastPrefetchLocation, m, N * sizeof(int)));
  CHECK("last prefetch location is the CPU", last == cudaCpuDeviceId);
  OK("cudaMemAdvise read mostly", cudaMemAdvise(m, N * sizeof(int), cudaMemAdviseSetReadMostly, dev_loc));
  OK("cudaMemAdvise preferred location", cudaMemAdvise(m, N * sizeof(int), cudaMemAdviseSetPreferredLocation, dev_loc));
  OK("cudaMemAdvise accessed by", cudaMemAdvise(m, N * sizeof(int), cudaMemAdviseSetAccessedBy, dev_loc));
  int rm = 0, pref = -5, by[2] = {-5, -5};
  OK("cudaMemRangeGetAttribute read mostly", cudaMemRangeGetAttribute(&rm, sizeof rm, cudaMemRangeAttributeReadMostly, m, 4096));
  CHECK("read mostly is set", rm == 1);
  OK("cudaMemRangeGetAttribute preferred location",
     cudaMemRangeGetAttribute(&pref, sizeof pref, cudaMemRangeAttributePreferredLocation, m, N * sizeof(int)));
  CHECK("preferred location is the device", pref == dev);
  OK("cudaMemRangeGetAttribute accessed by", cudaMemRangeGetAttribute(by, sizeof by, cudaMemRangeAttributeAccessedBy, m, 100));
  CHECK("accessed by lists the device then nothing", by[0] == dev && by[1] == cudaInvalidDeviceId);
  OK("cudaMemAdvise unset read mostly", cudaMemAdvise(m, 4096, cudaMemAdviseUnsetReadMostly, dev_loc));
  OK("cudaMemRangeGetAttribute read mostly after unset",
     cudaMemRangeGetAttribute(&rm, sizeof rm, cudaMemRangeAttributeReadMostly, m, N * sizeof(int)));
  CHECK("read mostly is no longer set on the whole range", rm == 0);
  EXPECT("cudaMemRangeGetAttribute on device memory",
         cudaMemRangeGetAttribute(&rm, sizeof rm, cudaMemRangeAttributeReadMostly, d, 64), cudaErrorInvalidValue);
  EXPECT("cudaMemRangeGetAttribute wrong size",
         cudaMemRangeGetAttribute(&rm, 8, cudaMemRangeAttributeReadMostly, m, 64), cudaErrorInvalidValue);
  cudaGetLastError();

  /* ---- pointer attributes ---- */
  cudaPointerAttributes a;
  OK("cudaPointerGetAttributes managed", cudaPointerGetAttributes(&a, m + 10));
  CHECK("managed pointer: type managed, both pointers itself",
        a.type == cudaMemoryTypeManaged && a.devicePointer == m + 10 && a.hostPointer == m + 10 && a.device == dev);
  OK("cudaPointerGetAttributes device", cudaPointerGetAttributes(&a, d));
  CHECK("device pointer: type device", a.type == cudaMemoryTypeDevice && a.devicePointer == d && a.hostPointer == NULL);

  /* ---- mapped pinned memory ---- */
  int *h = NULL, *hd = NULL;
  OK("cudaHostAlloc mapped", cudaHostAlloc((void **)&h, N * sizeof(int), cudaHostAllocMapped));
  OK("cudaHostGetDevicePointer", cudaHostGetDevicePointer((void **)&hd, h, 0));
  CHECK("the device pointer of mapped memory is the host pointer", hd == h);
  for (int i = 0; i < N; i++) h[i] = 7 * i;
  add_one<<<(N + 255) / 256, 256>>>(hd, N);
  OK("cudaDeviceSynchronize mapped", cudaDeviceSynchronize());
  good = 1;
  for (int i = 0; i < N; i++) good = good && h[i] == 7 * i + 1;
  CHECK("a kernel read and wrote mapped memory", good);
  OK("cudaPointerGetAttributes mapped", cudaPointerGetAttributes(&a, h + 3));
  CHECK("mapped pointer: type host, device pointer itself",
        a.type == cudaMemoryTypeHost && a.devicePointer == h + 3 && a.hostPointer == h + 3);
  unsigned flags = 0;
  OK("cudaHostGetFlags mapped", cudaHostGetFlags(&flags, h));
  CHECK("mapped flag kept", (flags & cudaHostAllocMapped) != 0);
  EXPECT("cudaFree of mapped host memory", cudaFree(h), cudaErrorInvalidValue);
  cudaGetLastError();
  OK("cudaFreeHost mapped", cudaFreeHost(h));

  /* Registered memory with a device mapping: the device pointer is its own. */
  static int reg[4096];
  for (int i = 0; i < 4096; i++) reg[i] = i;
  int *rd = NULL;
  OK("cudaHostRegister mapped", cudaHostRegister(reg, sizeof reg, cudaHostRegisterMapped));
  OK("cudaHostGetDevicePointer registered", cudaHostGetDevicePointer((void **)&rd, reg, 0));
  add_one<<<16, 256>>>(rd, 4096);
  OK("cudaDeviceSynchronize registered", cudaDeviceSynchronize());
  good = 1;
  for (int i = 0; i < 4096; i++) good = good && reg[i] == i + 1;
  CHECK("a kernel read and wrote registered memory", good);
  OK("cudaPointerGetAttributes registered device pointer", cudaPointerGetAttributes(&a, rd + 5));
  CHECK("registered device pointer: type host, host pointer the program's",
        a.type == cudaMemoryTypeHost && a.hostPointer == reg + 5 && a.devicePointer == rd + 5);
  OK("cudaHostUnregister", cudaHostUnregister(reg));

  /* Unmapped pinned memory has no device pointer. */
  int *plain = NULL;
  OK("cudaMallocHost", cudaMallocHost((void **)&plain, 4096));
  EXPECT("cudaHostGetDevicePointer of unmapped memory", cudaHostGetDevicePointer((void **)&hd, plain, 0),
         cudaErrorInvalidValue);
  cudaGetLastError();
  OK("cudaFreeHost", cudaFreeHost(plain));

  /* ---- peer copies on one device ---- */
  int *d2 = NULL;
  OK("cudaMalloc second", cudaMalloc((void **)&d2, 64 * sizeof(int)));
  OK("cudaMemcpyPeer 0 to 0", cudaMemcpyPeer(d2, dev, d, dev, 64 * sizeof(int)));
  OK("cudaMemcpyPeerAsync 0 to 0", cudaMemcpyPeerAsync(d2, dev, d, dev, 64 * sizeof(int), s));
  OK("cudaStreamSynchronize after peer copy", cudaStreamSynchronize(s));
  memset(back, 0, sizeof back);
  OK("cudaMemcpy peer result", cudaMemcpy(back, d2, sizeof back, cudaMemcpyDeviceToHost));
  good = 1;
  for (int i = 0; i < 64; i++) good = good && back[i] == 2 * (1000 + i);
  CHECK("peer copy moved the bytes", good);

  /* The host copy of managed memory lives at the device address. When this process already uses
   * that address (here: mapped on purpose where a freed allocation was, which the allocator hands
   * out again), the allocation still succeeds, elsewhere. */
  {
    const size_t n = 1u << 20;
    void *x = NULL;
    OK("cudaMalloc to free", cudaMalloc(&x, n));
    OK("cudaFree it", cudaFree(x));
    void *taken = mmap(x, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (taken == x) {
      int *m2 = NULL;
      OK("cudaMallocManaged where the address is taken", cudaMallocManaged((void **)&m2, n));
      CHECK("placed elsewhere", (void *)m2 != x);
      for (int i = 0; i < 256; i++) m2[i] = i;
      add_one<<<1, 256>>>(m2, 256);
      OK("cudaDeviceSynchronize after the moved allocation", cudaDeviceSynchronize());
      good = 1;
      for (int i = 0; i < 256; i++) good = good && m2[i] == i + 1;
      CHECK("the moved allocation works", good);
      OK("cudaFree moved", cudaFree(m2));
      munmap(taken, n);
    } else {
      /* A local driver keeps its device addresses reserved in this process. */
      if (taken != MAP_FAILED) munmap(taken, n);
      printf("# the freed device address is not free in this process: nothing to check\n");
    }
  }

  OK("cudaFree managed", cudaFree(m));
  OK("cudaFree", cudaFree(d));
  OK("cudaFree second", cudaFree(d2));
  OK("cudaStreamDestroy", cudaStreamDestroy(s));
  return finish();
}
