/* Graphs built node by node: parameters, edges, instantiation, exec update, exec-only parameter
 * changes, and the handle checks (stale, wrong type, dead context). */
#include <pthread.h>
#include <string.h>

#include "sg_test_cu.h"
#include "sg_test_kernels.h"

/* Older entry points by their exported names (cuda.h maps the plain names to the newest). */
#undef cuGraphAddDependencies
CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                 size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS *nodeParams);
CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams);
CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams);
CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                           const CUDA_KERNEL_NODE_PARAMS *nodeParams);
CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo);
CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode, char *logBuffer,
                               size_t bufferSize);
CUresult cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                size_t numDependencies);

#define N 128

typedef struct fixture {
  CUfunction axpy;
  CUdeviceptr x, y;
  float hx[N], hy[N];
} fixture;

static void setup(fixture *fx) {
  sg_test_setup();
  CUmodule m;
  ASSERT_CU_OK(cuModuleLoadData(&m, SG_TEST_PTX));
  ASSERT_CU_OK(cuModuleGetFunction(&fx->axpy, m, "axpy"));
  ASSERT_CU_OK(cuMemAlloc(&fx->x, N * sizeof(float)));
  ASSERT_CU_OK(cuMemAlloc(&fx->y, N * sizeof(float)));
  for (int i = 0; i < N; i++) fx->hx[i] = (float)i;
  ASSERT_CU_OK(cuMemcpyHtoD(fx->x, fx->hx, sizeof fx->hx));
}

/* memset y = 0 -> axpy(a) -> copy y back to hy. */
static CUgraph build(fixture *fx, float a, CUgraphNode *kernel_out) {
  CUgraph g;
  CUgraphNode set, k, copy;
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  CUDA_MEMSET_NODE_PARAMS mp = {fx->y, 0, 0, 4, N, 1};
  ASSERT_CU_OK(cuGraphAddMemsetNode(&set, g, NULL, 0, &mp, NULL));
  int n = N;
  void *args[] = {&a, &fx->x, &fx->y, &n};
  CUDA_KERNEL_NODE_PARAMS kp;
  memset(&kp, 0, sizeof kp);
  kp.func = fx->axpy;
  kp.gridDimX = N / 32, kp.gridDimY = kp.gridDimZ = 1;
  kp.blockDimX = 32, kp.blockDimY = kp.blockDimZ = 1;
  kp.kernelParams = args;
  ASSERT_CU_OK(cuGraphAddKernelNode_v2(&k, g, &set, 1, &kp));
  CUDA_MEMCPY3D cp;
  memset(&cp, 0, sizeof cp);
  cp.srcMemoryType = CU_MEMORYTYPE_DEVICE, cp.srcDevice = fx->y;
  cp.dstMemoryType = CU_MEMORYTYPE_HOST, cp.dstHost = fx->hy;
  cp.WidthInBytes = sizeof fx->hy, cp.Height = 1, cp.Depth = 1;
  ASSERT_CU_OK(cuGraphAddMemcpyNode(&copy, g, &k, 1, &cp, NULL));
  if (kernel_out) *kernel_out = k;
  return g;
}

static void run_and_check(fixture *fx, CUgraphExec ex, float a) {
  for (int i = 0; i < N; i++) fx->hy[i] = -1.0f;
  ASSERT_CU_OK(cuGraphLaunch(ex, NULL));
  for (int i = 0; i < N; i++)
    if (fx->hy[i] != a * fx->hx[i]) FAIL("y[%d] = %f, want %f", i, fx->hy[i], a * fx->hx[i]);
}

TEST(graph_manual_nodes_params_and_launch) {
  fixture fx;
  setup(&fx);
  CUgraphNode k;
  CUgraph g = build(&fx, 2.0f, &k);
  size_t roots = 0, count = 0;
  ASSERT_CU_OK(cuGraphGetRootNodes(g, NULL, &roots));
  ASSERT_CU_OK(cuGraphGetNodes(g, NULL, &count));
  ASSERT_EQ(roots, 1);
  ASSERT_EQ(count, 3);

  CUDA_KERNEL_NODE_PARAMS kp;
  ASSERT_CU_OK(cuGraphKernelNodeGetParams_v2(k, &kp));
  ASSERT_EQ((void *)kp.func, (void *)fx.axpy);
  ASSERT_EQ(kp.gridDimX, N / 32);
  ASSERT_EQ(*(float *)kp.kernelParams[0], 2.0f);
  ASSERT_EQ(*(int *)kp.kernelParams[3], N);

  float a = 3.0f;
  int n = N;
  void *args[] = {&a, &fx.x, &fx.y, &n};
  kp.kernelParams = args;
  ASSERT_CU_OK(cuGraphKernelNodeSetParams_v2(k, &kp));
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  run_and_check(&fx, ex, 3.0f);
  /* The exec is a copy: destroying the graph does not affect it. */
  ASSERT_CU_OK(cuGraphDestroy(g));
  run_and_check(&fx, ex, 3.0f);
  ASSERT_CU(cuGraphNodeGetType(k, &(CUgraphNodeType){0}), CUDA_ERROR_INVALID_HANDLE);
}

TEST(graph_exec_update_same_topology) {
  fixture fx;
  setup(&fx);
  CUgraph g1 = build(&fx, 2.0f, NULL), g2 = build(&fx, 5.0f, NULL);
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g1, 0));
  run_and_check(&fx, ex, 2.0f);
  CUgraphExecUpdateResultInfo info = {CU_GRAPH_EXEC_UPDATE_ERROR, (CUgraphNode)&info, NULL};
  ASSERT_CU_OK(cuGraphExecUpdate_v2(ex, g2, &info));
  ASSERT_EQ(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
  ASSERT_NULL(info.errorNode);
  run_and_check(&fx, ex, 5.0f);

  /* An extra node changes the topology. */
  CUgraphNode extra;
  ASSERT_CU_OK(cuGraphAddEmptyNode(&extra, g2, NULL, 0));
  ASSERT_CU(cuGraphExecUpdate_v2(ex, g2, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
  ASSERT_EQ(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
  run_and_check(&fx, ex, 5.0f); /* a failed update changes nothing */

  /* A node of another type at the same place. */
  CUgraph g3;
  CUgraphNode n0, n1, n2;
  ASSERT_CU_OK(cuGraphCreate(&g3, 0));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&n0, g3, NULL, 0));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&n1, g3, &n0, 1));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&n2, g3, &n1, 1));
  ASSERT_CU(cuGraphExecUpdate_v2(ex, g3, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
  ASSERT_EQ(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED);
  ASSERT_EQ((void *)info.errorNode, (void *)n0);
  ASSERT_CU(cuGraphExecUpdate_v2(ex, g3, NULL), CUDA_ERROR_INVALID_VALUE);
}

TEST(graph_exec_kernel_params_change_exec_only) {
  fixture fx;
  setup(&fx);
  CUgraphNode k;
  CUgraph g = build(&fx, 2.0f, &k);
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  CUDA_KERNEL_NODE_PARAMS kp;
  ASSERT_CU_OK(cuGraphKernelNodeGetParams_v2(k, &kp));
  float a = 7.0f;
  int n = N;
  void *args[] = {&a, &fx.x, &fx.y, &n};
  kp.kernelParams = args;
  ASSERT_CU_OK(cuGraphExecKernelNodeSetParams_v2(ex, k, &kp));
  run_and_check(&fx, ex, 7.0f);
  ASSERT_CU_OK(cuGraphKernelNodeGetParams_v2(k, &kp));
  ASSERT_EQ(*(float *)kp.kernelParams[0], 2.0f); /* the graph keeps its own */
  CUgraphNode other;
  ASSERT_CU_OK(cuGraphAddEmptyNode(&other, g, NULL, 0));
  ASSERT_CU(cuGraphExecKernelNodeSetParams_v2(ex, other, &kp), CUDA_ERROR_INVALID_VALUE); /* not in the exec */
  kp.gridDimX = 0;
  ASSERT_CU(cuGraphExecKernelNodeSetParams_v2(ex, k, &kp), CUDA_ERROR_INVALID_VALUE);
}

TEST(graph_cycle_and_dependency_errors) {
  sg_test_setup();
  CUgraph g, h;
  CUgraphNode a, b, foreign;
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  ASSERT_CU_OK(cuGraphCreate(&h, 0));
  ASSERT_CU(cuGraphCreate(&g, 1), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuGraphAddEmptyNode(&a, g, NULL, 0));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&b, g, &a, 1));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&foreign, h, NULL, 0));
  ASSERT_CU(cuGraphAddEmptyNode(&b, g, &foreign, 1), CUDA_ERROR_INVALID_VALUE);
  CUgraphNode twice[2] = {a, a};
  ASSERT_CU(cuGraphAddEmptyNode(&b, g, twice, 2), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuGraphAddDependencies(g, &a, &b, 1), CUDA_ERROR_INVALID_VALUE); /* already there */
  ASSERT_CU_OK(cuGraphAddDependencies(g, &b, &a, 1));                     /* a cycle */
  CUgraphExec ex;
  ASSERT_CU(cuGraphInstantiateWithFlags(&ex, g, 0), CUDA_ERROR_INVALID_VALUE);
  CUDA_GRAPH_INSTANTIATE_PARAMS ip = {0, NULL, NULL, CUDA_GRAPH_INSTANTIATE_SUCCESS};
  ASSERT_CU(cuGraphInstantiateWithParams(&ex, g, &ip), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(ip.result_out, CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE);
  char log[64] = "x";
  CUgraphNode err = a;
  ASSERT_CU(cuGraphInstantiate_v2(&ex, g, &err, log, sizeof log), CUDA_ERROR_INVALID_VALUE);
  ASSERT_NULL(err);
  ASSERT_NE(log[0], 0);
  ASSERT_CU_OK(cuGraphDestroyNode(a)); /* removes the cycle with it */
  size_t roots = 0;
  ASSERT_CU_OK(cuGraphGetRootNodes(g, NULL, &roots));
  ASSERT_EQ(roots, 1);
  ASSERT_CU_OK(cuGraphInstantiate_v2(&ex, g, &err, log, sizeof log));
  ASSERT_EQ(log[0], 0);
  ASSERT_CU_OK(cuGraphLaunch(ex, NULL));
  ASSERT_CU(cuGraphInstantiateWithFlags(&ex, g, CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_CU(cuGraphInstantiateWithFlags(&ex, g, 1ull << 40), CUDA_ERROR_INVALID_VALUE);
}

TEST(graph_stale_and_wrong_type_handles) {
  sg_test_setup();
  CUgraph g;
  CUgraphNode n;
  CUgraphExec ex;
  CUstream s;
  size_t count;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&n, g, NULL, 0));
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  ASSERT_CU(cuGraphGetNodes((CUgraph)s, NULL, &count), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuGraphLaunch((CUgraphExec)g, s), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuGraphNodeGetType((CUgraphNode)g, &(CUgraphNodeType){0}), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuGraphKernelNodeGetParams_v2(n, &(CUDA_KERNEL_NODE_PARAMS){0}), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuGraphGetNodes(NULL, NULL, &count), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuGraphLaunch(ex, s));
  ASSERT_CU_OK(cuGraphExecDestroy(ex));
  ASSERT_CU(cuGraphLaunch(ex, s), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuGraphExecDestroy(ex), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuGraphDestroy(g));
  ASSERT_CU(cuGraphDestroy(g), CUDA_ERROR_INVALID_HANDLE);
}

TEST(graph_dies_with_its_context) {
  CUcontext a, b;
  CUgraph g;
  CUgraphNode n;
  CUgraphExec ex;
  CUstream s;
  ASSERT_CU_OK(cuInit(0));
  ASSERT_CU_OK(cuCtxCreate_v2(&a, 0, 0));
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&n, g, NULL, 0));
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuCtxDestroy(a));
  ASSERT_CU_OK(cuCtxCreate_v2(&b, 0, 0));
  size_t count;
  ASSERT_CU(cuGraphGetNodes(g, NULL, &count), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuGraphNodeGetType(n, &(CUgraphNodeType){0}), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuGraphLaunch(ex, NULL), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU(cuGraphExecDestroy(ex), CUDA_ERROR_INVALID_HANDLE);
}

typedef struct launcher {
  CUcontext ctx;
  CUgraphExec ex;
  int ok, invalid;
} launcher;

static void *launch_loop(void *arg) {
  launcher *l = arg;
  cuCtxSetCurrent(l->ctx);
  for (int i = 0; i < 200; i++) {
    CUresult rc = cuGraphLaunch(l->ex, NULL);
    if (rc == CUDA_SUCCESS) l->ok++;
    else if (rc == CUDA_ERROR_INVALID_HANDLE) l->invalid++;
  }
  return NULL;
}

/* A destroy racing with launches on other threads: launches either complete or see a dead
 * handle, and nothing is freed under a running launch (ASan would report it). */
TEST(graph_exec_destroy_races_launches) {
  fixture fx;
  setup(&fx);
  CUcontext ctx;
  ASSERT_CU_OK(cuCtxGetCurrent(&ctx));
  CUgraph g = build(&fx, 2.0f, NULL);
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  launcher l[2] = {{ctx, ex, 0, 0}, {ctx, ex, 0, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    if (pthread_create(&th[i], NULL, launch_loop, &l[i]) != 0) FAIL("pthread_create");
  ASSERT_CU_OK(cuGraphExecDestroy(ex));
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 2; i++) ASSERT_EQ(l[i].ok + l[i].invalid, 200);
  ASSERT_CU(cuGraphLaunch(ex, NULL), CUDA_ERROR_INVALID_HANDLE);
}

CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode);

/* What llama.cpp does every token: capture again, and update the exec in place when only kernel
 * arguments changed. */
static CUgraph capture_axpy(fixture *fx, CUstream s, float a) {
  int n = N;
  void *args[] = {&a, &fx->x, &fx->y, &n};
  CUlaunchConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.gridDimX = N / 32, cfg.gridDimY = cfg.gridDimZ = 1;
  cfg.blockDimX = 32, cfg.blockDimY = cfg.blockDimZ = 1;
  cfg.hStream = s;
  CUgraph g;
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU_OK(cuMemsetD8Async(fx->y, 0, N * sizeof(float), s));
  ASSERT_CU_OK(cuLaunchKernelEx(&cfg, fx->axpy, args, NULL));
  ASSERT_CU_OK(cuMemcpyDtoHAsync(fx->hy, fx->y, sizeof fx->hy, s));
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  return g;
}

TEST(graph_exec_update_from_recapture) {
  fixture fx;
  setup(&fx);
  CUstream s;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUgraph g1 = capture_axpy(&fx, s, 4.0f);
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g1, 0));
  ASSERT_CU_OK(cuGraphDestroy(g1));
  run_and_check(&fx, ex, 4.0f);
  for (int tok = 0; tok < 3; tok++) {
    CUgraph g = capture_axpy(&fx, s, (float)(10 + tok));
    CUgraphExecUpdateResultInfo info;
    ASSERT_CU_OK(cuGraphExecUpdate_v2(ex, g, &info));
    ASSERT_EQ(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
    ASSERT_CU_OK(cuGraphDestroy(g));
    run_and_check(&fx, ex, (float)(10 + tok));
  }
}
