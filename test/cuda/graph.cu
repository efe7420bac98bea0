// A CUDA graph captured from a stream with the runtime API and replayed, the way llama.cpp and
// PyTorch use graphs: capture kernels and a memset, instantiate, replay, update, replay again.
#include "check.h"

__global__ void axpy(float a, const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

int main() {
  const int n = 4096;
  float *x, *y, h[n];
  for (int i = 0; i < n; i++) h[i] = (float)i;
  OK("malloc x", cudaMalloc(&x, n * sizeof(float)));
  OK("malloc y", cudaMalloc(&y, n * sizeof(float)));
  OK("copy x", cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice));
  cudaStream_t s;
  OK("stream", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

  OK("begin capture", cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  cudaStreamCaptureStatus st;
  OK("is capturing", cudaStreamIsCapturing(s, &st));
  CHECK("capture active", st == cudaStreamCaptureStatusActive);
  OK("captured memset", cudaMemsetAsync(y, 0, n * sizeof(float), s));
  axpy<<<n / 256, 256, 0, s>>>(2.0f, x, y, n);
  axpy<<<n / 256, 256, 0, s>>>(1.0f, x, y, n);
  cudaGraph_t g;
  OK("end capture", cudaStreamEndCapture(s, &g));
  cudaGraphExec_t ge;
  OK("instantiate", cudaGraphInstantiate(&ge, g, 0));
  for (int rep = 0; rep < 3; rep++) {
    OK("graph launch", cudaGraphLaunch(ge, s));
    OK("sync", cudaStreamSynchronize(s));
    float back[n];
    OK("copy back", cudaMemcpy(back, y, sizeof back, cudaMemcpyDeviceToHost));
    CHECK("replay: y = 3x", back[0] == 0.0f && back[n - 1] == 3.0f * (n - 1) && back[100] == 300.0f);
  }
  // Capture again with other arguments and update the executable graph in place.
  OK("begin capture 2", cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  OK("captured memset 2", cudaMemsetAsync(y, 0, n * sizeof(float), s));
  axpy<<<n / 256, 256, 0, s>>>(5.0f, x, y, n);
  axpy<<<n / 256, 256, 0, s>>>(1.0f, x, y, n);
  cudaGraph_t g2;
  OK("end capture 2", cudaStreamEndCapture(s, &g2));
  cudaGraphExecUpdateResultInfo info;
  OK("exec update", cudaGraphExecUpdate(ge, g2, &info));
  OK("graph launch after update", cudaGraphLaunch(ge, s));
  OK("sync after update", cudaStreamSynchronize(s));
  float back[n];
  OK("copy back after update", cudaMemcpy(back, y, sizeof back, cudaMemcpyDeviceToHost));
  CHECK("updated graph: y = 6x", back[n - 1] == 6.0f * (n - 1));
  OK("destroy exec", cudaGraphExecDestroy(ge));
  OK("destroy graph", cudaGraphDestroy(g));
  OK("destroy graph 2", cudaGraphDestroy(g2));
  return finish();
}
