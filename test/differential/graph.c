/*
 * Differential cases (docs/testing.md): building graphs node by node (kernel, memcpy, memset,
 * host, empty, event and child-graph nodes, typed and generic forms), editing edges, cloning,
 * reading and changing node parameters in a graph and in an exec, exec updates, enabled state, and
 * launches whose results show every node ran, host nodes in dependency order.
 *   graph KERNELS.fatbin   (test/differential/kernels.cu)
 */
#include <stdint.h>
#include <string.h>

#include "diff.h"

#define N 256

typedef __typeof__(&cuGraphAddKernelNode_v2) add_kernel_t;
typedef CUresult (*add_kernel_v1_t)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t, const CUDA_KERNEL_NODE_PARAMS_v1 *);
typedef __typeof__(&cuGraphAddMemcpyNode) add_memcpy_t;
typedef __typeof__(&cuGraphAddMemsetNode) add_memset_t;
typedef __typeof__(&cuGraphAddHostNode) add_host_t;
typedef __typeof__(&cuGraphAddEmptyNode) add_empty_t;
typedef __typeof__(&cuGraphAddEventRecordNode) add_event_t;
typedef __typeof__(&cuGraphAddChildGraphNode) add_child_t;
typedef __typeof__(&cuGraphAddNode_v2) add_node_t;
typedef CUresult (*add_node_v1_t)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t, CUgraphNodeParams *);
typedef CUresult (*deps_t)(CUgraph, const CUgraphNode *, const CUgraphNode *, size_t);
typedef CUresult (*edges_t)(CUgraph, CUgraphNode *, CUgraphNode *, size_t *);
typedef __typeof__(&cuGraphAddDependencies_v2) deps_v2_t;
typedef __typeof__(&cuGraphLaunch) launch_t;
typedef __typeof__(&cuGraphInstantiateWithFlags) instantiate_t;

static char g_log[64];
/* A host node's function: appends its letter to the log. */
static void note(void *letter) {
  size_t n = strlen(g_log);
  if (n + 1 < sizeof g_log) g_log[n] = *(const char *)letter;
}

static CUdeviceptr d, d2;
static int host[N];

static void read_back(void) {
  MUST(((__typeof__(&cuCtxSynchronize))diff_sym("cuCtxSynchronize"))());
  MUST(((__typeof__(&cuMemcpyDtoH_v2))diff_sym("cuMemcpyDtoH_v2"))(host, d2, sizeof host));
}

static CUDA_KERNEL_NODE_PARAMS fill_params(CUfunction f, CUdeviceptr *out, int *base, int *n, void **argv) {
  argv[0] = out, argv[1] = base, argv[2] = n;
  return (CUDA_KERNEL_NODE_PARAMS){.func = f, .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 64, .blockDimY = 1,
                                   .blockDimZ = 1, .kernelParams = argv};
}

static CUDA_MEMCPY3D copy_params(size_t bytes) {
  CUDA_MEMCPY3D c;
  memset(&c, 0, sizeof c);
  c.srcMemoryType = CU_MEMORYTYPE_DEVICE, c.srcDevice = d;
  c.dstMemoryType = CU_MEMORYTYPE_DEVICE, c.dstDevice = d2;
  c.WidthInBytes = bytes, c.Height = 1, c.Depth = 1;
  return c;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  void *fatbin = diff_read_file(argv[1]);
  CUdevice dev;
  CUcontext ctx;
  CUmodule mod;
  CUfunction fill;
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  MUST(((__typeof__(&cuDeviceGet))diff_sym("cuDeviceGet"))(&dev, 0));
  MUST(((CUresult (*)(CUcontext *, unsigned, CUdevice))diff_sym("cuCtxCreate_v2"))(&ctx, 0, dev));
  MUST(((__typeof__(&cuModuleLoadData))diff_sym("cuModuleLoadData"))(&mod, fatbin));
  MUST(((__typeof__(&cuModuleGetFunction))diff_sym("cuModuleGetFunction"))(&fill, mod, "fill"));
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&d, N * sizeof(int)));
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&d2, N * sizeof(int)));
  MUST(((__typeof__(&cuMemsetD32_v2))diff_sym("cuMemsetD32_v2"))(d2, 0, N));
  CUevent ev, ev2;
  MUST(((__typeof__(&cuEventCreate))diff_sym("cuEventCreate"))(&ev, 0));
  MUST(((__typeof__(&cuEventCreate))diff_sym("cuEventCreate"))(&ev2, 0));
  CUgraph g, cg, cg2;
  MUST(((__typeof__(&cuGraphCreate))diff_sym("cuGraphCreate"))(&g, 0));
  MUST(((__typeof__(&cuGraphCreate))diff_sym("cuGraphCreate"))(&cg, 0));
  MUST(((__typeof__(&cuGraphCreate))diff_sym("cuGraphCreate"))(&cg2, 0));

  /* ---- building: memset -> two kernels -> copy -> host a -> empty -> record -> wait -> child -> host b -> empty */
  CUgraphNode n_set, n_k, n_k1, n_cp, n_h1, n_e, n_er, n_ew, n_c, n_h2, n_e2, stale;
  CUDA_MEMSET_NODE_PARAMS ms = {.dst = d, .value = 0, .elementSize = 4, .width = N, .height = 1};
  CALL(cuGraphAddMemsetNode, add_memset_t, "ok", &n_set, g, NULL, 0, &ms, ctx);
  CALL(cuGraphAddMemsetNode, add_memset_t, "null params", &stale, g, NULL, 0, NULL, ctx);
  CALL(cuGraphAddMemsetNode, add_memset_t, "null graph", &stale, NULL, NULL, 0, &ms, ctx);
  CALL(cuGraphAddMemsetNode, add_memset_t, "null node", NULL, g, NULL, 0, &ms, ctx);
  CUDA_MEMSET_NODE_PARAMS past = ms;
  past.width = N + 1;
  CALL(cuGraphAddMemsetNode, add_memset_t, "past the allocation", &stale, g, NULL, 0, &past, ctx);

  int base0 = 100, base1 = 200, cnt = 64;
  CUdeviceptr d_hi = d + 64 * sizeof(int);
  void *av0[3], *av1[3];
  CUDA_KERNEL_NODE_PARAMS kp = fill_params(fill, &d, &base0, &cnt, av0);
  CALL(cuGraphAddKernelNode_v2, add_kernel_t, "ok", &n_k, g, &n_set, 1, &kp);
  CALL(cuGraphAddKernelNode_v2, add_kernel_t, "null params", &stale, g, &n_set, 1, NULL);
  CUDA_KERNEL_NODE_PARAMS noargs = kp;
  noargs.kernelParams = NULL;
  CALL(cuGraphAddKernelNode_v2, add_kernel_t, "no kernel parameters", &stale, g, &n_set, 1, &noargs);
  CALL(cuGraphAddKernelNode_v2, add_kernel_t, "dependency of another graph", &stale, cg, &n_set, 1, &kp);
  CUDA_KERNEL_NODE_PARAMS kp1 = fill_params(fill, &d_hi, &base1, &cnt, av1);
  CUDA_KERNEL_NODE_PARAMS_v1 kv1;
  memcpy(&kv1, &kp1, sizeof kv1);
  CALL(cuGraphAddKernelNode, add_kernel_v1_t, "ok", &n_k1, g, &n_set, 1, &kv1);

  CUDA_MEMCPY3D cp = copy_params(N * sizeof(int));
  CUgraphNode both[2] = {n_k, n_k1};
  CALL(cuGraphAddMemcpyNode, add_memcpy_t, "ok", &n_cp, g, both, 2, &cp, ctx);
  CALL(cuGraphAddMemcpyNode, add_memcpy_t, "null params", &stale, g, both, 2, NULL, ctx);
  CUDA_MEMCPY3D cpast = copy_params(N * sizeof(int) + 4);
  CALL(cuGraphAddMemcpyNode, add_memcpy_t, "past the allocation", &stale, g, both, 2, &cpast, ctx);

  CUDA_HOST_NODE_PARAMS ha = {note, "a"}, hnull = {NULL, NULL};
  CALL(cuGraphAddHostNode, add_host_t, "ok", &n_h1, g, &n_cp, 1, &ha);
  CALL(cuGraphAddHostNode, add_host_t, "null function", &stale, g, &n_cp, 1, &hnull);
  CALL(cuGraphAddEmptyNode, add_empty_t, "ok", &n_e, g, &n_h1, 1);
  CALL(cuGraphAddEmptyNode, add_empty_t, "null graph", &stale, NULL, &n_h1, 1);
  CALL(cuGraphAddEventRecordNode, add_event_t, "ok", &n_er, g, &n_e, 1, ev);
  CALL(cuGraphAddEventWaitNode, add_event_t, "ok", &n_ew, g, &n_er, 1, ev);

  /* The child sets d2[200..255] to 7 after the copy. */
  CUgraphNode cn, cn2;
  CUDA_MEMSET_NODE_PARAMS cms = {.dst = d2 + 200 * sizeof(int), .value = 7, .elementSize = 4, .width = 56, .height = 1};
  MUST(((add_memset_t)diff_sym("cuGraphAddMemsetNode"))(&cn, cg, NULL, 0, &cms, ctx));
  cms.value = 9;
  MUST(((add_memset_t)diff_sym("cuGraphAddMemsetNode"))(&cn2, cg2, NULL, 0, &cms, ctx));
  CALL(cuGraphAddChildGraphNode, add_child_t, "ok", &n_c, g, &n_ew, 1, cg);
  CALL(cuGraphAddChildGraphNode, add_child_t, "null child", &stale, g, &n_ew, 1, NULL);

  CUgraphNodeParams gp;
  memset(&gp, 0, sizeof gp);
  gp.type = CU_GRAPH_NODE_TYPE_HOST, gp.host.fn = note, gp.host.userData = "b";
  CALL(cuGraphAddNode_v2, add_node_t, "host", &n_h2, g, &n_c, NULL, 1, &gp);
  gp.reserved2 = 1;
  CALL(cuGraphAddNode_v2, add_node_t, "reserved set", &stale, g, &n_c, NULL, 1, &gp);
  memset(&gp, 0, sizeof gp);
  gp.type = CU_GRAPH_NODE_TYPE_EMPTY;
  CALL(cuGraphAddNode, add_node_v1_t, "empty", &n_e2, g, &n_h2, 1, &gp);
  CALL(cuGraphAddNode, add_node_v1_t, "null params", &stale, g, &n_h2, 1, NULL);

  /* ---- reading parameters back */
  CUDA_MEMSET_NODE_PARAMS ms_out;
  CALL(cuGraphMemsetNodeGetParams, __typeof__(&cuGraphMemsetNodeGetParams), "ok", n_set, &ms_out);
  SAY(cuGraphMemsetNodeGetParams, "as set", "%d", ms_out.dst == d && ms_out.width == N && ms_out.elementSize == 4);
  CALL(cuGraphMemsetNodeGetParams, __typeof__(&cuGraphMemsetNodeGetParams), "null params", n_set, NULL);
  CALL(cuGraphMemsetNodeGetParams, __typeof__(&cuGraphMemsetNodeGetParams), "a kernel node", n_k, &ms_out);
  CUDA_MEMCPY3D cp_out;
  CALL(cuGraphMemcpyNodeGetParams, __typeof__(&cuGraphMemcpyNodeGetParams), "ok", n_cp, &cp_out);
  SAY(cuGraphMemcpyNodeGetParams, "as set", "%d",
      cp_out.srcDevice == d && cp_out.dstDevice == d2 && cp_out.WidthInBytes == N * sizeof(int));
  CALL(cuGraphMemcpyNodeGetParams, __typeof__(&cuGraphMemcpyNodeGetParams), "a memset node", n_set, &cp_out);
  CUDA_HOST_NODE_PARAMS h_out;
  CALL(cuGraphHostNodeGetParams, __typeof__(&cuGraphHostNodeGetParams), "ok", n_h1, &h_out);
  SAY(cuGraphHostNodeGetParams, "as set", "%d", h_out.fn == note && h_out.userData == ha.userData);
  CALL(cuGraphHostNodeGetParams, __typeof__(&cuGraphHostNodeGetParams), "generic one", n_h2, &h_out);
  SAY(cuGraphHostNodeGetParams, "generic one as set", "%d", h_out.fn == note && *(const char *)h_out.userData == 'b');
  CUevent e_out = NULL;
  CALL(cuGraphEventRecordNodeGetEvent, __typeof__(&cuGraphEventRecordNodeGetEvent), "ok", n_er, &e_out);
  SAY(cuGraphEventRecordNodeGetEvent, "the event", "%d", e_out == ev);
  CALL(cuGraphEventWaitNodeGetEvent, __typeof__(&cuGraphEventWaitNodeGetEvent), "ok", n_ew, &e_out);
  SAY(cuGraphEventWaitNodeGetEvent, "the event", "%d", e_out == ev);
  CALL(cuGraphEventWaitNodeGetEvent, __typeof__(&cuGraphEventWaitNodeGetEvent), "a record node", n_er, &e_out);
  CALL(cuGraphEventRecordNodeGetEvent, __typeof__(&cuGraphEventRecordNodeGetEvent), "null event", n_er, NULL);
  CUgraph g_out;
  CALL(cuGraphChildGraphNodeGetGraph, __typeof__(&cuGraphChildGraphNodeGetGraph), "a memset node", n_set, &g_out);
  CALL(cuGraphChildGraphNodeGetGraph, __typeof__(&cuGraphChildGraphNodeGetGraph), "null graph", n_c, NULL);
  g_out = NULL;
  CALL(cuGraphChildGraphNodeGetGraph, __typeof__(&cuGraphChildGraphNodeGetGraph), "a child graph node", n_c, &g_out);
  size_t n_child = 0;
  if (g_out) MUST(((__typeof__(&cuGraphGetNodes))diff_sym("cuGraphGetNodes"))(g_out, NULL, &n_child));
  SAY(cuGraphChildGraphNodeGetGraph, "the child's nodes", "%zu", n_child);

  /* ---- edges */
  size_t ne = 0;
  MUST(((edges_t)diff_sym("cuGraphGetEdges"))(g, NULL, NULL, &ne));
  SAY(cuGraphGetEdges, "built", "%zu", ne);
  CALL(cuGraphAddDependencies, deps_t, "ok", g, &n_set, &n_e, 1);
  CALL(cuGraphAddDependencies, deps_t, "self", g, &n_e, &n_e, 1);
  CALL(cuGraphAddDependencies, deps_t, "node of another graph", g, &cn, &n_e, 1);
  CALL(cuGraphAddDependencies, deps_t, "null arrays", g, NULL, NULL, 1);
  MUST(((edges_t)diff_sym("cuGraphGetEdges"))(g, NULL, NULL, &ne));
  SAY(cuGraphAddDependencies, "edges", "%zu", ne);
  CALL(cuGraphRemoveDependencies, deps_t, "ok", g, &n_set, &n_e, 1);
  CALL(cuGraphRemoveDependencies, deps_t, "no such edge", g, &n_set, &n_e, 1);
  CUgraphEdgeData ed;
  memset(&ed, 0, sizeof ed);
  CALL(cuGraphAddDependencies_v2, deps_v2_t, "default edge", g, &n_set, &n_e, &ed, 1);
  CALL(cuGraphRemoveDependencies_v2, deps_v2_t, "default edge", g, &n_set, &n_e, NULL, 1);
  MUST(((edges_t)diff_sym("cuGraphGetEdges"))(g, NULL, NULL, &ne));
  SAY(cuGraphRemoveDependencies_v2, "edges", "%zu", ne);

  /* ---- clones */
  CUgraph gc;
  CUgraphNode in_clone = NULL;
  CALL(cuGraphClone, __typeof__(&cuGraphClone), "ok", &gc, g);
  CALL(cuGraphClone, __typeof__(&cuGraphClone), "null graph", &gc, NULL);
  CALL(cuGraphNodeFindInClone, __typeof__(&cuGraphNodeFindInClone), "ok", &in_clone, n_k, gc);
  CUgraphNodeType t = CU_GRAPH_NODE_TYPE_EMPTY;
  MUST(((__typeof__(&cuGraphNodeGetType))diff_sym("cuGraphNodeGetType"))(in_clone, &t));
  SAY(cuGraphNodeFindInClone, "another node of the same type", "%d", in_clone != n_k && t == CU_GRAPH_NODE_TYPE_KERNEL);
  CALL(cuGraphNodeFindInClone, __typeof__(&cuGraphNodeFindInClone), "not cloned from it", &in_clone, cn, gc);
  CALL(cuGraphNodeFindInClone, __typeof__(&cuGraphNodeFindInClone), "null node", NULL, n_k, gc);
  CUgraphNode ce;
  MUST(((__typeof__(&cuGraphNodeFindInClone))diff_sym("cuGraphNodeFindInClone"))(&ce, n_e2, gc));
  CALL(cuGraphDestroyNode, __typeof__(&cuGraphDestroyNode), "ok", ce);
  CALL(cuGraphDestroyNode, __typeof__(&cuGraphDestroyNode), "twice", ce);
  size_t nn = 0, nc = 0;
  MUST(((__typeof__(&cuGraphGetNodes))diff_sym("cuGraphGetNodes"))(g, NULL, &nn));
  MUST(((__typeof__(&cuGraphGetNodes))diff_sym("cuGraphGetNodes"))(gc, NULL, &nc));
  SAY(cuGraphDestroyNode, "nodes", "%zu in the graph, %zu in the clone", nn, nc);
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(gc));

  /* ---- instantiate and launch */
  CUgraphExec x = NULL, bad;
  CALL(cuGraphInstantiateWithFlags, instantiate_t, "ok", &x, g, 0);
  CALL(cuGraphInstantiateWithFlags, instantiate_t, "null exec", NULL, g, 0);
  CALL(cuGraphInstantiateWithFlags, instantiate_t, "null graph", &bad, NULL, 0);
  CALL(cuGraphLaunch, launch_t, "built graph", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "built graph", "%d %d %d %d %d log %s", host[0], host[63], host[64], host[127], host[200], g_log);
  CALL(cuGraphLaunch_ptsz, launch_t, "built graph", x, NULL);
  read_back();
  SAY(cuGraphLaunch_ptsz, "built graph", "%d %d log %s", host[0], host[200], g_log);

  /* ---- changing the graph, then updating the exec from it */
  int base2 = 500, base3 = 600;
  void *av2[3], *av3[3];
  CUDA_KERNEL_NODE_PARAMS kp2 = fill_params(fill, &d, &base2, &cnt, av2);
  CALL(cuGraphKernelNodeSetParams_v2, __typeof__(&cuGraphKernelNodeSetParams_v2), "ok", n_k, &kp2);
  CALL(cuGraphKernelNodeSetParams_v2, __typeof__(&cuGraphKernelNodeSetParams_v2), "a memset node", n_set, &kp2);
  CALL(cuGraphKernelNodeSetParams_v2, __typeof__(&cuGraphKernelNodeSetParams_v2), "null params", n_k, NULL);
  CUDA_KERNEL_NODE_PARAMS kp3 = fill_params(fill, &d_hi, &base3, &cnt, av3);
  memcpy(&kv1, &kp3, sizeof kv1);
  CALL(cuGraphKernelNodeSetParams, CUresult (*)(CUgraphNode, const CUDA_KERNEL_NODE_PARAMS_v1 *), "ok", n_k1, &kv1);
  CALL(cuGraphMemsetNodeSetParams, __typeof__(&cuGraphMemsetNodeSetParams), "ok", n_set, &ms);
  CALL(cuGraphMemsetNodeSetParams, __typeof__(&cuGraphMemsetNodeSetParams), "past the allocation", n_set, &past);
  CALL(cuGraphMemcpyNodeSetParams, __typeof__(&cuGraphMemcpyNodeSetParams), "ok", n_cp, &cp);
  CALL(cuGraphMemcpyNodeSetParams, __typeof__(&cuGraphMemcpyNodeSetParams), "a host node", n_h1, &cp);
  CUDA_HOST_NODE_PARAMS hc = {note, "c"}, hd = {note, "d"};
  CALL(cuGraphHostNodeSetParams, __typeof__(&cuGraphHostNodeSetParams), "ok", n_h1, &hc);
  CALL(cuGraphHostNodeSetParams, __typeof__(&cuGraphHostNodeSetParams), "null function", n_h1, &hnull);
  CALL(cuGraphEventRecordNodeSetEvent, __typeof__(&cuGraphEventRecordNodeSetEvent), "ok", n_er, ev2);
  CALL(cuGraphEventWaitNodeSetEvent, __typeof__(&cuGraphEventWaitNodeSetEvent), "ok", n_ew, ev2);
  CALL(cuGraphEventWaitNodeSetEvent, __typeof__(&cuGraphEventWaitNodeSetEvent), "a record node", n_er, ev2);
  memset(&gp, 0, sizeof gp);
  gp.type = CU_GRAPH_NODE_TYPE_HOST, gp.host.fn = note, gp.host.userData = "d";
  CALL(cuGraphNodeSetParams, __typeof__(&cuGraphNodeSetParams), "host", n_h2, &gp);
  CALL(cuGraphNodeSetParams, __typeof__(&cuGraphNodeSetParams), "null params", n_h2, NULL);
  (void)hd;
  CALL(cuGraphLaunch, launch_t, "before the update", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "before the update", "%d %d log %s", host[0], host[64], g_log);
  CUgraphNode err_node;
  CUgraphExecUpdateResult ur;
  CALL(cuGraphExecUpdate, CUresult (*)(CUgraphExec, CUgraph, CUgraphNode *, CUgraphExecUpdateResult *), "ok", x, g,
       &err_node, &ur);
  SAY(cuGraphExecUpdate, "result", "%d", (int)ur);
  CALL(cuGraphExecUpdate, CUresult (*)(CUgraphExec, CUgraph, CUgraphNode *, CUgraphExecUpdateResult *), "null result",
       x, g, &err_node, NULL);
  CALL(cuGraphLaunch, launch_t, "after the update", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "after the update", "%d %d log %s", host[0], host[64], g_log);

  /* ---- changing the exec */
  int base4 = 700, base5 = 800;
  void *av4[3], *av5[3];
  CUDA_KERNEL_NODE_PARAMS kp4 = fill_params(fill, &d, &base4, &cnt, av4);
  CALL(cuGraphExecKernelNodeSetParams_v2, __typeof__(&cuGraphExecKernelNodeSetParams_v2), "ok", x, n_k, &kp4);
  CALL(cuGraphExecKernelNodeSetParams_v2, __typeof__(&cuGraphExecKernelNodeSetParams_v2), "a memset node", x, n_set, &kp4);
  CALL(cuGraphExecKernelNodeSetParams_v2, __typeof__(&cuGraphExecKernelNodeSetParams_v2), "null exec", NULL, n_k, &kp4);
  CUDA_KERNEL_NODE_PARAMS kp5 = fill_params(fill, &d_hi, &base5, &cnt, av5);
  memcpy(&kv1, &kp5, sizeof kv1);
  CALL(cuGraphExecKernelNodeSetParams, CUresult (*)(CUgraphExec, CUgraphNode, const CUDA_KERNEL_NODE_PARAMS_v1 *), "ok",
       x, n_k1, &kv1);
  CALL(cuGraphExecMemsetNodeSetParams, __typeof__(&cuGraphExecMemsetNodeSetParams), "ok", x, n_set, &ms, ctx);
  CALL(cuGraphExecMemsetNodeSetParams, __typeof__(&cuGraphExecMemsetNodeSetParams), "past the allocation", x, n_set,
       &past, ctx);
  CALL(cuGraphExecMemcpyNodeSetParams, __typeof__(&cuGraphExecMemcpyNodeSetParams), "ok", x, n_cp, &cp, ctx);
  CUDA_HOST_NODE_PARAMS he = {note, "e"};
  CALL(cuGraphExecHostNodeSetParams, __typeof__(&cuGraphExecHostNodeSetParams), "ok", x, n_h1, &he);
  CALL(cuGraphExecHostNodeSetParams, __typeof__(&cuGraphExecHostNodeSetParams), "a kernel node", x, n_k, &he);
  CALL(cuGraphExecEventRecordNodeSetEvent, __typeof__(&cuGraphExecEventRecordNodeSetEvent), "ok", x, n_er, ev);
  CALL(cuGraphExecEventWaitNodeSetEvent, __typeof__(&cuGraphExecEventWaitNodeSetEvent), "ok", x, n_ew, ev);
  CALL(cuGraphExecChildGraphNodeSetParams, __typeof__(&cuGraphExecChildGraphNodeSetParams), "ok", x, n_c, cg2);
  CALL(cuGraphExecChildGraphNodeSetParams, __typeof__(&cuGraphExecChildGraphNodeSetParams), "a host node", x, n_h1, cg2);
  memset(&gp, 0, sizeof gp);
  gp.type = CU_GRAPH_NODE_TYPE_HOST, gp.host.fn = note, gp.host.userData = "f";
  CALL(cuGraphExecNodeSetParams, __typeof__(&cuGraphExecNodeSetParams), "host", x, n_h2, &gp);
  CALL(cuGraphLaunch, launch_t, "changed exec", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "changed exec", "%d %d %d log %s", host[0], host[64], host[200], g_log);

  /* ---- enabled state */
  unsigned on = 7;
  CALL(cuGraphNodeSetEnabled, __typeof__(&cuGraphNodeSetEnabled), "disable a kernel", x, n_k, 0);
  CALL(cuGraphNodeGetEnabled, __typeof__(&cuGraphNodeGetEnabled), "ok", x, n_k, &on);
  SAY(cuGraphNodeGetEnabled, "disabled", "%u", on);
  CALL(cuGraphNodeGetEnabled, __typeof__(&cuGraphNodeGetEnabled), "a host node", x, n_h1, &on);
  CALL(cuGraphNodeGetEnabled, __typeof__(&cuGraphNodeGetEnabled), "null value", x, n_k, NULL);
  CALL(cuGraphLaunch, launch_t, "kernel disabled", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "kernel disabled", "%d %d log %s", host[0], host[64], g_log);
  CALL(cuGraphNodeSetEnabled, __typeof__(&cuGraphNodeSetEnabled), "enable it again", x, n_k, 1);
  CALL(cuGraphLaunch, launch_t, "kernel enabled", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "kernel enabled", "%d log %s", host[0], g_log);

  /* An update changes parameters only: a disabled node stays disabled, in an exec with host nodes
   * as in any, whether the update's graph is the exec's own or another built alike (a clone), and
   * the node stays named by the node of the graph the exec was instantiated from. */
  typedef CUresult (*update_v1_t)(CUgraphExec, CUgraph, CUgraphNode *, CUgraphExecUpdateResult *);
  CUgraphExecUpdateResultInfo info;
  CALL(cuGraphNodeSetEnabled, __typeof__(&cuGraphNodeSetEnabled), "disable before an update", x, n_k, 0);
  CALL(cuGraphExecUpdate_v2, __typeof__(&cuGraphExecUpdate_v2), "from its own graph", x, g, &info);
  CALL(cuGraphNodeGetEnabled, __typeof__(&cuGraphNodeGetEnabled), "after an update", x, n_k, &on);
  SAY(cuGraphNodeGetEnabled, "after an update", "%u", on);
  CALL(cuGraphLaunch, launch_t, "disabled across an update", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "disabled across an update", "%d %d log %s", host[0], host[64], g_log);
  CUgraph g_alike;
  MUST(((__typeof__(&cuGraphClone))diff_sym("cuGraphClone"))(&g_alike, g));
  CALL(cuGraphExecUpdate_v2, __typeof__(&cuGraphExecUpdate_v2), "from a clone", x, g_alike, &info);
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g_alike));
  CALL(cuGraphNodeSetEnabled, __typeof__(&cuGraphNodeSetEnabled), "enable after an update from a clone", x, n_k, 1);
  CALL(cuGraphLaunch, launch_t, "enabled after an update from a clone", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "enabled after an update from a clone", "%d %d log %s", host[0], host[64], g_log);
  CALL(cuGraphNodeSetEnabled, __typeof__(&cuGraphNodeSetEnabled), "disable after an update from a clone", x, n_k, 0);
  CALL(cuGraphLaunch, launch_t, "disabled after an update from a clone", x, NULL);
  read_back();
  SAY(cuGraphLaunch, "disabled after an update from a clone", "%d %d log %s", host[0], host[64], g_log);
  CALL(cuGraphNodeSetEnabled, __typeof__(&cuGraphNodeSetEnabled), "enable it again", x, n_k, 1);

  /* A refused update names the node of the update's graph it stopped at, in both forms. */
  CUgraph g_set, g_empty;
  CUgraphNode one_set, one_empty, err = NULL;
  CUgraphExec x_set;
  MUST(((__typeof__(&cuGraphCreate))diff_sym("cuGraphCreate"))(&g_set, 0));
  MUST(((__typeof__(&cuGraphCreate))diff_sym("cuGraphCreate"))(&g_empty, 0));
  MUST(((add_memset_t)diff_sym("cuGraphAddMemsetNode"))(&one_set, g_set, NULL, 0, &ms, ctx));
  MUST(((add_empty_t)diff_sym("cuGraphAddEmptyNode"))(&one_empty, g_empty, NULL, 0));
  MUST(((instantiate_t)diff_sym("cuGraphInstantiateWithFlags"))(&x_set, g_set, 0));
  memset(&info, 0, sizeof info);
  CALL(cuGraphExecUpdate_v2, __typeof__(&cuGraphExecUpdate_v2), "another node type", x_set, g_empty, &info);
  SAY(cuGraphExecUpdate_v2, "another node type", "result %d, error node is the update's node %d", (int)info.result,
      info.errorNode == one_empty);
  CALL(cuGraphExecUpdate, update_v1_t, "another node type", x_set, g_empty, &err, &ur);
  SAY(cuGraphExecUpdate, "another node type", "result %d, error node is the update's node %d", (int)ur, err == one_empty);
  MUST(((__typeof__(&cuGraphExecDestroy))diff_sym("cuGraphExecDestroy"))(x_set));
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g_set));
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g_empty));

  /* ---- a graph without host nodes, and the end */
  CUgraphExec xc;
  CALL(cuGraphInstantiateWithFlags, instantiate_t, "child graph alone", &xc, cg, 0);
  CALL(cuGraphLaunch, launch_t, "child graph alone", xc, NULL);
  read_back();
  SAY(cuGraphLaunch, "child graph alone", "%d", host[255]);
  CALL(cuGraphExecDestroy, __typeof__(&cuGraphExecDestroy), "ok", xc);
  CALL(cuGraphExecDestroy, __typeof__(&cuGraphExecDestroy), "with host nodes", x);
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g));
  CALL(cuGraphDestroyNode, __typeof__(&cuGraphDestroyNode), "of a destroyed graph", n_k);
  MUST(((__typeof__(&cuCtxDestroy_v2))diff_sym("cuCtxDestroy_v2"))(ctx));
  free(fatbin);
  return 0;
}
