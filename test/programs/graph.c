/*
 * Stream capture and CUDA graphs through vgpu (captured in the host driver): capture launches and
 * memsets on a stream, instantiate, replay three times with results checked, update the executable
 * graph from a second capture, and misuse errors.
 *   graph FATBIN
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel_prog.h"
#include "tap.h"

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return 2;
  const char *img = load_image(argv[1]);
  if (!img) return 2;
  CUdevice dev;
  CUcontext ctx;
  CUmodule mod;
  CUfunction vadd;
  cuInit(0);
  cuDeviceGet(&dev, 0);
  cuDevicePrimaryCtxRetain(&ctx, dev);
  cuCtxSetCurrent(ctx);
  EXPECT("load", cuModuleLoadData(&mod, img), CUDA_SUCCESS);
  EXPECT("vadd", cuModuleGetFunction(&vadd, mod, "vadd"), CUDA_SUCCESS);
  enum { N = 4096 };
  float h[N];
  for (int i = 0; i < N; i++) h[i] = (float)i;
  CUdeviceptr a, c;
  cuMemAlloc(&a, N * 4);
  cuMemAlloc(&c, N * 4);
  cuMemcpyHtoD(a, h, N * 4);
  CUstream s;
  EXPECT("stream", cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  int n = N;
  void *args[] = {&a, &a, &c, &n};

  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_INVALIDATED;
  EXPECT("not capturing yet", cuStreamIsCapturing(s, &st), CUDA_SUCCESS);
  CHECK("status NONE", st == CU_STREAM_CAPTURE_STATUS_NONE);
  EXPECT("begin capture", cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_SUCCESS);
  cuuint64_t id = 0;
  EXPECT("capture info", cuStreamGetCaptureInfo(s, &st, &id, NULL, NULL, NULL, NULL), CUDA_SUCCESS);
  CHECK("status ACTIVE with an id", st == CU_STREAM_CAPTURE_STATUS_ACTIVE && id != 0);
  EXPECT("captured memset", cuMemsetD32Async(c, 0, N, s), CUDA_SUCCESS);
  EXPECT("captured launch", cuLaunchKernel(vadd, N / 256, 1, 1, 256, 1, 1, 0, s, args, NULL), CUDA_SUCCESS);
  CUgraph g;
  EXPECT("end capture", cuStreamEndCapture(s, &g), CUDA_SUCCESS);
  float back[N];
  cuMemcpyDtoH(back, c, N * 4);
  CHECK("captured work did not run at capture time", back[N - 1] == 0.0f);
  CUgraphExec ge;
  EXPECT("instantiate", cuGraphInstantiate(&ge, g, 0), CUDA_SUCCESS);
  for (int rep = 0; rep < 3; rep++) {
    cuMemsetD32(c, 0x7f7f7f7f, N);
    EXPECT("graph launch", cuGraphLaunch(ge, s), CUDA_SUCCESS);
    EXPECT("sync", cuStreamSynchronize(s), CUDA_SUCCESS);
    cuMemcpyDtoH(back, c, N * 4);
    CHECK("replay computed c = 2a", back[0] == 0.0f && back[N - 1] == 2.0f * (N - 1));
  }
  /* a second capture with other arguments updates the executable graph in place */
  void *args2[] = {&a, &c, &c, &n};
  EXPECT("begin capture 2", cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_SUCCESS);
  EXPECT("captured memset 2", cuMemsetD32Async(c, 0, N, s), CUDA_SUCCESS);
  EXPECT("captured launch 2", cuLaunchKernel(vadd, N / 256, 1, 1, 256, 1, 1, 0, s, args2, NULL), CUDA_SUCCESS);
  CUgraph g2;
  EXPECT("end capture 2", cuStreamEndCapture(s, &g2), CUDA_SUCCESS);
  CUgraphExecUpdateResultInfo info;
  EXPECT("exec update", cuGraphExecUpdate(ge, g2, &info), CUDA_SUCCESS);
  CHECK("update result success", info.result == CU_GRAPH_EXEC_UPDATE_SUCCESS);
  EXPECT("graph launch after update", cuGraphLaunch(ge, s), CUDA_SUCCESS);
  EXPECT("sync after update", cuStreamSynchronize(s), CUDA_SUCCESS);
  cuMemcpyDtoH(back, c, N * 4);
  CHECK("updated graph computes c = a + 0", back[N - 1] == (float)(N - 1));
  EXPECT("end capture on a stream not capturing", cuStreamEndCapture(s, &g2), CUDA_ERROR_ILLEGAL_STATE);
  EXPECT("destroy exec", cuGraphExecDestroy(ge), CUDA_SUCCESS);
  /* A destroyed handle is refused at the call (the guest knows its handles), as the driver does. */
  EXPECT("launch destroyed exec", cuGraphLaunch(ge, s), CUDA_ERROR_INVALID_HANDLE);
  EXPECT("stream still fine", cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT("destroy graph", cuGraphDestroy(g), CUDA_SUCCESS);
  printf("# %d failure(s)\n", failures);
  return failures ? 1 : 0;
}
