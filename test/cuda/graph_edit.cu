// Graphs built node by node through the runtime, as code that does not capture builds them: a
// memset, a kernel, a device-to-device copy, two host nodes and a child graph; a clone; parameter
// changes in the graph followed by an exec update, and in the exec directly; the results checked
// against what the nodes compute, host nodes in dependency order.
#include <string.h>

#include "check.h"

__global__ void iota(int *x, int base, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = base + i;
}

static char g_log[32];
static void note(void *letter) {
  size_t n = strlen(g_log);
  if (n + 1 < sizeof g_log) g_log[n] = *(const char *)letter;
}

static cudaKernelNodeParams kernel_params(int **x, int *base, int *n, void **argv) {
  argv[0] = x, argv[1] = base, argv[2] = n;
  cudaKernelNodeParams p = {};
  p.func = (void *)iota;
  p.gridDim = dim3(2);
  p.blockDim = dim3(128);
  p.kernelParams = argv;
  return p;
}

int main() {
  const int n = 256;
  int *a, *b, h[n];
  OK("malloc a", cudaMalloc(&a, n * sizeof(int)));
  OK("malloc b", cudaMalloc(&b, n * sizeof(int)));
  cudaStream_t s;
  OK("stream", cudaStreamCreate(&s));

  cudaGraph_t g, child;
  OK("create graph", cudaGraphCreate(&g, 0));
  OK("create child", cudaGraphCreate(&child, 0));
  cudaGraphNode_t set, kern, copy, host1, host2, sub, empty;

  cudaMemsetParams ms = {};
  ms.dst = a, ms.value = 0, ms.elementSize = 4, ms.width = n, ms.height = 1;
  OK("add memset node", cudaGraphAddMemsetNode(&set, g, NULL, 0, &ms));
  int base = 10, count = n;
  void *argv[3];
  cudaKernelNodeParams kp = kernel_params(&a, &base, &count, argv);
  OK("add kernel node", cudaGraphAddKernelNode(&kern, g, &set, 1, &kp));
  OK("add copy node", cudaGraphAddMemcpyNode1D(&copy, g, &kern, 1, b, a, n * sizeof(int), cudaMemcpyDeviceToDevice));
  cudaHostNodeParams hp = {note, (void *)"a"};
  OK("add host node", cudaGraphAddHostNode(&host1, g, &copy, 1, &hp));
  // The child overwrites b's last quarter with 5s after the copy.
  cudaGraphNode_t child_set;
  cudaMemsetParams cms = {};
  cms.dst = b + 3 * n / 4, cms.value = 5, cms.elementSize = 4, cms.width = n / 4, cms.height = 1;
  OK("add memset to child", cudaGraphAddMemsetNode(&child_set, child, NULL, 0, &cms));
  OK("add child graph node", cudaGraphAddChildGraphNode(&sub, g, &host1, 1, child));
  cudaHostNodeParams hp2 = {note, (void *)"b"};
  OK("add second host node", cudaGraphAddHostNode(&host2, g, &sub, 1, &hp2));
  OK("add empty node", cudaGraphAddEmptyNode(&empty, g, &host2, 1));
  EXPECT("kernel node without its parameters", cudaGraphAddKernelNode(&empty, g, NULL, 0, NULL), cudaErrorInvalidValue);

  size_t count_nodes = 0;
  OK("node count", cudaGraphGetNodes(g, NULL, &count_nodes));
  CHECK("seven nodes", count_nodes == 7);

  cudaGraph_t clone;
  cudaGraphNode_t kern_clone;
  OK("clone", cudaGraphClone(&clone, g));
  OK("find the kernel in the clone", cudaGraphNodeFindInClone(&kern_clone, kern, clone));
  CHECK("the clone's node is another node", kern_clone != kern);

  cudaGraphExec_t x, xc;
  OK("instantiate", cudaGraphInstantiate(&x, g, 0));
  OK("launch", cudaGraphLaunch(x, s));
  OK("sync", cudaStreamSynchronize(s));
  OK("read back", cudaMemcpy(h, b, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("kernel then copy", h[0] == 10 && h[100] == 110);
  CHECK("child after the copy", h[n - 1] == 5 && h[3 * n / 4 - 1] == 10 + 3 * n / 4 - 1);
  CHECK("host nodes ran in order", strcmp(g_log, "ab") == 0);

  // The clone's kernel gets another base; the original graph keeps its own.
  int base2 = 1000;
  void *argv2[3];
  cudaKernelNodeParams kp2 = kernel_params(&a, &base2, &count, argv2);
  OK("set the clone's kernel", cudaGraphKernelNodeSetParams(kern_clone, &kp2));
  OK("instantiate the clone", cudaGraphInstantiate(&xc, clone, 0));
  OK("launch the clone", cudaGraphLaunch(xc, s));
  OK("sync", cudaStreamSynchronize(s));
  OK("read back", cudaMemcpy(h, b, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("the clone's kernel", h[0] == 1000 && h[100] == 1100);
  CHECK("the clone's host nodes", strcmp(g_log, "abab") == 0);
  cudaKernelNodeParams got = {};
  OK("read the kernel node", cudaGraphKernelNodeGetParams(kern, &got));
  CHECK("the original kept its base", got.kernelParams && *(int *)got.kernelParams[1] == 10);

  // Changing the graph, then the exec from it.
  int base3 = 2000;
  void *argv3[3];
  cudaKernelNodeParams kp3 = kernel_params(&a, &base3, &count, argv3);
  OK("set the kernel node", cudaGraphKernelNodeSetParams(kern, &kp3));
  cudaHostNodeParams hp3 = {note, (void *)"c"};
  OK("set the host node", cudaGraphHostNodeSetParams(host1, &hp3));
  cudaGraphExecUpdateResultInfo info;
  OK("update the exec", cudaGraphExecUpdate(x, g, &info));
  OK("launch after the update", cudaGraphLaunch(x, s));
  OK("sync", cudaStreamSynchronize(s));
  OK("read back", cudaMemcpy(h, b, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("updated kernel", h[0] == 2000);
  CHECK("updated host node", strcmp(g_log, "ababcb") == 0);

  // Changing the exec alone.
  int base4 = 3000;
  void *argv4[3];
  cudaKernelNodeParams kp4 = kernel_params(&a, &base4, &count, argv4);
  OK("set the exec's kernel", cudaGraphExecKernelNodeSetParams(x, kern, &kp4));
  cudaMemsetParams ms7 = ms;
  ms7.value = 7;
  OK("set the exec's memset", cudaGraphExecMemsetNodeSetParams(x, set, &ms7));
  cudaHostNodeParams hp4 = {note, (void *)"d"};
  OK("set the exec's host node", cudaGraphExecHostNodeSetParams(x, host2, &hp4));
  OK("disable the kernel", cudaGraphNodeSetEnabled(x, kern, 0));
  OK("launch the changed exec", cudaGraphLaunch(x, s));
  OK("sync", cudaStreamSynchronize(s));
  OK("read back", cudaMemcpy(h, b, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("memset ran, kernel did not", h[0] == 7 && h[100] == 7);
  CHECK("changed host node", strcmp(g_log, "ababcbcd") == 0);
  OK("enable the kernel", cudaGraphNodeSetEnabled(x, kern, 1));
  OK("launch again", cudaGraphLaunch(x, s));
  OK("sync", cudaStreamSynchronize(s));
  OK("read back", cudaMemcpy(h, b, sizeof h, cudaMemcpyDeviceToHost));
  CHECK("the exec's kernel", h[0] == 3000 && h[255] == 5);

  OK("destroy exec", cudaGraphExecDestroy(x));
  OK("destroy clone exec", cudaGraphExecDestroy(xc));
  OK("destroy clone", cudaGraphDestroy(clone));
  OK("destroy child", cudaGraphDestroy(child));
  OK("destroy graph", cudaGraphDestroy(g));
  return finish();
}
