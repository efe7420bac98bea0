// Graph introspection through the runtime, as code does after a capture (cudaGraphGetNodes and
// friends): a captured fork/join (memset, two kernels on two streams, a joining kernel), its
// nodes, types, root, edges, dependencies, and the parameters of a kernel node. Edges and
// dependencies go through the driver API: CUDA 13's runtime changed those functions' signatures
// (edge data), so a runtime call would not mean the same with cudart 12, which runs this too.
#include <cuda.h>

#include "check.h"

#define DRV(name, call) EXPECT(name, (cudaError_t)(call), cudaSuccess)

__global__ void scale(float a, float *x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}

__global__ void add(const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += x[i];
}

static int find(const cudaGraphNode_t *nodes, size_t n, cudaGraphNode_t x) {
  for (size_t i = 0; i < n; i++)
    if (nodes[i] == x) return (int)i;
  return -1;
}

int main() {
  const int n = 1024;
  float *x, *y;
  OK("malloc x", cudaMalloc(&x, n * sizeof(float)));
  OK("malloc y", cudaMalloc(&y, n * sizeof(float)));
  cudaStream_t s, s2;
  cudaEvent_t fork, join;
  OK("stream", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  OK("stream 2", cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  OK("fork event", cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  OK("join event", cudaEventCreateWithFlags(&join, cudaEventDisableTiming));

  OK("begin capture", cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  OK("memset y", cudaMemsetAsync(y, 0, n * sizeof(float), s));
  OK("record fork", cudaEventRecord(fork, s));
  OK("wait fork", cudaStreamWaitEvent(s2, fork, 0));
  scale<<<n / 256, 256, 0, s2>>>(3.0f, x, n);
  add<<<n / 128, 128, 0, s>>>(x, y, n);
  OK("record join", cudaEventRecord(join, s2));
  OK("wait join", cudaStreamWaitEvent(s, join, 0));
  add<<<n / 256, 256, 0, s>>>(x, y, n);
  cudaGraph_t g;
  OK("end capture", cudaStreamEndCapture(s, &g));

  size_t count = 0;
  OK("count nodes", cudaGraphGetNodes(g, NULL, &count));
  CHECK("four nodes", count == 4);
  cudaGraphNode_t nodes[4] = {};
  OK("get nodes", cudaGraphGetNodes(g, nodes, &count));
  int kernels = 0, memsets = 0;
  cudaGraphNode_t scale_node = NULL, memset_node = NULL;
  for (int i = 0; i < 4; i++) {
    cudaGraphNodeType t;
    OK("node type", cudaGraphNodeGetType(nodes[i], &t));
    if (t == cudaGraphNodeTypeMemset) {
      memsets++;
      memset_node = nodes[i];
    }
    if (t == cudaGraphNodeTypeKernel) {
      kernels++;
      cudaKernelNodeParams p;
      OK("kernel node params", cudaGraphKernelNodeGetParams(nodes[i], &p));
      if (p.func == (void *)scale) scale_node = nodes[i];
    }
  }
  CHECK("three kernels and a memset", kernels == 3 && memsets == 1);
  CHECK("the scale kernel is found by its function", scale_node != NULL);

  cudaGraphNode_t root = NULL;
  size_t nroots = 1;
  OK("root nodes", cudaGraphGetRootNodes(g, &root, &nroots));
  CHECK("the memset is the only root", nroots == 1 && root == memset_node);

  size_t nedges = 0;
  DRV("count edges", cuGraphGetEdges_v2(g, NULL, NULL, NULL, &nedges));
  CHECK("four edges", nedges == 4);
  cudaGraphNode_t from[4] = {}, to[4] = {};
  DRV("get edges", cuGraphGetEdges_v2(g, from, to, NULL, &nedges));
  int from_root = 0, known = 1;
  for (size_t i = 0; i < nedges; i++) {
    from_root += from[i] == memset_node;
    known &= find(nodes, 4, from[i]) >= 0 && find(nodes, 4, to[i]) >= 0;
  }
  CHECK("two edges leave the root, all between the graph's nodes", from_root == 2 && known);

  if (scale_node) {
    cudaGraphNode_t dep = NULL, next = NULL;
    size_t ndep = 1, nnext = 1;
    DRV("scale dependencies", cuGraphNodeGetDependencies_v2(scale_node, &dep, NULL, &ndep));
    DRV("scale dependents", cuGraphNodeGetDependentNodes_v2(scale_node, &next, NULL, &nnext));
    CHECK("scale follows the memset and one kernel follows it", ndep == 1 && dep == memset_node && nnext == 1 &&
          find(nodes, 4, next) >= 0);
    cudaKernelNodeParams p;
    OK("scale params", cudaGraphKernelNodeGetParams(scale_node, &p));
    CHECK("scale's configuration", p.gridDim.x == n / 256 && p.blockDim.x == 256 && p.sharedMemBytes == 0);
    CHECK("scale's arguments", p.kernelParams && *(float *)p.kernelParams[0] == 3.0f &&
          *(float **)p.kernelParams[1] == x && *(int *)p.kernelParams[2] == n);
  }

  // The graph still runs after being inspected.
  float h[n];
  for (int i = 0; i < n; i++) h[i] = (float)i;
  OK("copy x", cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice));
  cudaGraphExec_t ge;
  OK("instantiate", cudaGraphInstantiate(&ge, g, 0));
  OK("launch", cudaGraphLaunch(ge, s));
  OK("sync", cudaStreamSynchronize(s));
  OK("copy y", cudaMemcpy(h, y, sizeof h, cudaMemcpyDeviceToHost));
  // y = x (before or after scale: the two branches race) + 3x; x[1] = 1 -> 4 or 6. Check x[0] = 0
  // and y's last element against both orders.
  CHECK("graph ran", h[0] == 0.0f && (h[n - 1] == 4.0f * (n - 1) || h[n - 1] == 6.0f * (n - 1)));
  OK("exec destroy", cudaGraphExecDestroy(ge));
  OK("graph destroy", cudaGraphDestroy(g));
  OK("event destroy", cudaEventDestroy(fork));
  OK("event destroy 2", cudaEventDestroy(join));
  OK("free x", cudaFree(x));
  OK("free y", cudaFree(y));
  return finish();
}
