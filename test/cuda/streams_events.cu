// Streams and events through the CUDA runtime: async copies on two streams, ordering through
// an event, elapsed time between two events, queries and synchronisation.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

int main() {
  const size_t N = 1u << 20;
  uint8_t *ph = NULL, *pb = NULL, *d = NULL;
  OK("cudaMallocHost", cudaMallocHost((void **)&ph, N));
  OK("cudaMallocHost back", cudaMallocHost((void **)&pb, N));
  OK("cudaMalloc", cudaMalloc((void **)&d, N));
  for (size_t i = 0; i < N; i++) ph[i] = (uint8_t)(i * 13u + 1);

  cudaStream_t s1, s2;
  OK("cudaStreamCreate", cudaStreamCreate(&s1));
  OK("cudaStreamCreateWithFlags non-blocking", cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  cudaEvent_t start, stop, copied;
  OK("cudaEventCreate start", cudaEventCreate(&start));
  OK("cudaEventCreate stop", cudaEventCreate(&stop));
  OK("cudaEventCreateWithFlags", cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));

  OK("cudaEventRecord start", cudaEventRecord(start, s1));
  OK("cudaMemcpyAsync HtoD", cudaMemcpyAsync(d, ph, N, cudaMemcpyHostToDevice, s1));
  OK("cudaMemsetAsync", cudaMemsetAsync(d, 0x5a, 16, s1));
  OK("cudaEventRecord copied", cudaEventRecord(copied, s1));
  OK("cudaStreamWaitEvent", cudaStreamWaitEvent(s2, copied, 0));
  OK("cudaMemcpyAsync DtoH on the other stream", cudaMemcpyAsync(pb, d, N, cudaMemcpyDeviceToHost, s2));
  OK("cudaEventRecord stop", cudaEventRecord(stop, s2));
  OK("cudaStreamSynchronize", cudaStreamSynchronize(s2));
  OK("cudaEventSynchronize", cudaEventSynchronize(stop));
  OK("cudaEventQuery after sync", cudaEventQuery(stop));
  OK("cudaStreamQuery after sync", cudaStreamQuery(s2));

  int same = 1;
  for (size_t i = 0; i < N; i++) same = same && pb[i] == (i < 16 ? 0x5a : (uint8_t)(i * 13u + 1));
  CHECK("the second stream saw the first stream's copy and memset", same);

  float ms = -1.0f;
  OK("cudaEventElapsedTime", cudaEventElapsedTime(&ms, start, stop));
  CHECK("elapsed time is non-negative and sane", ms >= 0.0f && ms < 60000.0f);
  printf("# elapsed %.3f ms\n", ms);
  EXPECT("elapsed time with a timing-disabled event", cudaEventElapsedTime(&ms, start, copied), cudaErrorInvalidResourceHandle);
  cudaGetLastError();

  /* The legacy default stream orders with the blocking stream s1, whatever the build's default
   * stream is (with --default-stream per-thread, stream 0 would not). */
  memset(pb, 0, N);
  OK("cudaMemcpyAsync on the legacy stream", cudaMemcpyAsync(d, ph, N, cudaMemcpyHostToDevice, cudaStreamLegacy));
  OK("cudaMemcpyAsync DtoH on s1", cudaMemcpyAsync(pb, d, N, cudaMemcpyDeviceToHost, s1));
  OK("cudaDeviceSynchronize", cudaDeviceSynchronize());
  CHECK("legacy stream then s1", memcmp(ph, pb, N) == 0);

  /* Stream 0 (legacy or per-thread, depending on the build) followed by a synchronous copy. */
  memset(pb, 0, N);
  OK("cudaMemcpyAsync on stream 0", cudaMemcpyAsync(d, pb, N, cudaMemcpyHostToDevice, 0));
  OK("cudaStreamSynchronize(0)", cudaStreamSynchronize(0));
  OK("cudaMemcpy back", cudaMemcpy(ph, d, N, cudaMemcpyDeviceToHost));
  int zero = 1;
  for (size_t i = 0; i < N; i++) zero = zero && ph[i] == 0;
  CHECK("stream 0 copy then synchronous copy", zero);

  OK("cudaEventDestroy", cudaEventDestroy(start));
  OK("cudaEventDestroy", cudaEventDestroy(stop));
  OK("cudaEventDestroy", cudaEventDestroy(copied));
  OK("cudaStreamDestroy", cudaStreamDestroy(s1));
  OK("cudaStreamDestroy", cudaStreamDestroy(s2));
  OK("cudaFree", cudaFree(d));
  OK("cudaFreeHost", cudaFreeHost(ph));
  OK("cudaFreeHost", cudaFreeHost(pb));
  return finish();
}
