/*
 * Differential cases (docs/testing.md): host functions and stream callbacks, stream capture
 * information, graph instantiation and update, graph introspection (nodes, edges, types,
 * dependencies), and streams, events and graphs used after they were destroyed.
 */
#include <stdint.h>
#include <string.h>

#include "diff.h"

typedef __typeof__(&cuLaunchHostFunc) host_fn_t;
typedef __typeof__(&cuStreamAddCallback) callback_t;
typedef CUresult (*capture_v2_t)(CUstream, CUstreamCaptureStatus *, cuuint64_t *, CUgraph *, const CUgraphNode **, size_t *);
typedef CUresult (*capture_v3_t)(CUstream, CUstreamCaptureStatus *, cuuint64_t *, CUgraph *, const CUgraphNode **,
                                 const CUgraphEdgeData **, size_t *);
typedef CUresult (*instantiate_t)(CUgraphExec *, CUgraph, CUgraphNode *, char *, size_t);
typedef __typeof__(&cuGraphExecUpdate_v2) exec_update_t;

static int calls;
static CUresult seen_status = (CUresult)-1;
static void host_fn(void *p) { calls += *(int *)p; }
static void stream_cb(CUstream s, CUresult status, void *p) {
  (void)s;
  seen_status = status;
  calls += *(int *)p;
}

static CUresult sync_stream(CUstream s) { return ((__typeof__(&cuStreamSynchronize))diff_sym("cuStreamSynchronize"))(s); }

static void host_functions(CUstream s, CUstream gone) {
  int one = 1, ten = 10;
  calls = 0;
  CALL(cuLaunchHostFunc, host_fn_t, "ok", s, host_fn, &one);
  CALL(cuLaunchHostFunc, host_fn_t, "legacy stream", NULL, host_fn, &ten);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after host functions", s);
  CALL(cuCtxSynchronize, __typeof__(&cuCtxSynchronize), "after host functions");
  SAY(cuLaunchHostFunc, "calls", "%d", calls);
  CALL(cuLaunchHostFunc, host_fn_t, "null function", s, NULL, &one);
  CALL(cuLaunchHostFunc, host_fn_t, "destroyed stream", gone, host_fn, &one);
  calls = 0;
  CALL(cuLaunchHostFunc_ptsz, host_fn_t, "per-thread stream", NULL, host_fn, &one);
  CALL(cuStreamSynchronize_ptsz, __typeof__(&cuStreamSynchronize), "after the per-thread host function", NULL);
  SAY(cuLaunchHostFunc_ptsz, "calls", "%d", calls);
  CALL(cuLaunchHostFunc_ptsz, host_fn_t, "null function", NULL, NULL, &one);
  CALL(cuLaunchHostFunc_ptsz, host_fn_t, "destroyed stream", gone, host_fn, &one);

  calls = 0;
  seen_status = (CUresult)-1;
  CALL(cuStreamAddCallback, callback_t, "ok", s, stream_cb, &one, 0);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after a callback", s);
  SAY(cuStreamAddCallback, "calls and status", "%d %d", calls, (int)seen_status);
  CALL(cuStreamAddCallback, callback_t, "flags 1", s, stream_cb, &one, 1);
  CALL(cuStreamAddCallback, callback_t, "null callback", s, NULL, &one, 0);
  CALL(cuStreamAddCallback, callback_t, "destroyed stream", gone, stream_cb, &one, 0);
  calls = 0;
  seen_status = (CUresult)-1;
  CALL(cuStreamAddCallback_ptsz, callback_t, "per-thread stream", NULL, stream_cb, &ten, 0);
  CALL(cuStreamSynchronize_ptsz, __typeof__(&cuStreamSynchronize), "after the per-thread callback", NULL);
  SAY(cuStreamAddCallback_ptsz, "calls and status", "%d %d", calls, (int)seen_status);
  CALL(cuStreamAddCallback_ptsz, callback_t, "flags 1", NULL, stream_cb, &one, 1);
  CALL(cuStreamAddCallback_ptsz, callback_t, "destroyed stream", gone, stream_cb, &one, 0);
}

/* Capture information of `s` in every form, outside or inside a capture. */
static void capture_info(const char *when, CUstream s, int ptsz) {
  const char *v2 = ptsz ? "cuStreamGetCaptureInfo_v2_ptsz" : "cuStreamGetCaptureInfo_v2";
  const char *v3 = ptsz ? "cuStreamGetCaptureInfo_v3_ptsz" : "cuStreamGetCaptureInfo_v3";
  CUstreamCaptureStatus st = (CUstreamCaptureStatus)99;
  cuuint64_t id = 0;
  CUgraph g = (CUgraph)(uintptr_t)1;
  const CUgraphNode *deps = (const CUgraphNode *)(uintptr_t)1;
  const CUgraphEdgeData *edges = (const CUgraphEdgeData *)(uintptr_t)1;
  size_t n = 99;
  CUresult r = ((capture_v2_t)diff_sym(v2))(s, &st, &id, &g, &deps, &n);
  printf("%s %s: %d = status %d, id set %d\n", v2, when, (int)r, (int)st, id != 0);
  /* vgpu does not expose graph nodes: the graph and dependency outputs are known differences. */
  printf("# %s %s: graph set %d, %zu dependencies\n", v2, when, g != NULL, n);
  st = (CUstreamCaptureStatus)99;
  r = ((capture_v3_t)diff_sym(v3))(s, &st, NULL, NULL, NULL, NULL, NULL);
  printf("%s %s, status only: %d = status %d\n", v3, when, (int)r, (int)st);
  r = ((capture_v3_t)diff_sym(v3))(s, &st, &id, &g, &deps, &edges, &n);
  printf("%s %s, every output: %d = status %d\n", v3, when, (int)r, (int)st);
  r = ((capture_v2_t)diff_sym(v2))(s, NULL, &id, &g, &deps, &n);
  printf("%s %s, null status: %d\n", v2, when, (int)r);
  r = ((capture_v3_t)diff_sym(v3))(s, NULL, NULL, NULL, NULL, NULL, NULL);
  printf("%s %s, null status: %d\n", v3, when, (int)r);
}

static void captures(CUstream s, CUstream gone, CUdeviceptr d) {
  capture_info("idle stream", s, 0);
  capture_info("idle per-thread stream", NULL, 1);
  CUstreamCaptureStatus st;
  CALL(cuStreamGetCaptureInfo_v2, capture_v2_t, "destroyed stream", gone, &st, NULL, NULL, NULL, NULL);
  CALL(cuStreamGetCaptureInfo_v3, capture_v3_t, "destroyed stream", gone, &st, NULL, NULL, NULL, NULL, NULL);
  CALL(cuStreamGetCaptureInfo_v2_ptsz, capture_v2_t, "destroyed stream", gone, &st, NULL, NULL, NULL, NULL);
  CALL(cuStreamGetCaptureInfo_v3_ptsz, capture_v3_t, "destroyed stream", gone, &st, NULL, NULL, NULL, NULL, NULL);

  /* vgpu does not forward the host nodes of captured graphs (docs/testing.md): a capture of its
   * own, thrown away, so that the outcome changes nothing that follows. */
  CUgraph g = NULL;
  MUST(((__typeof__(&cuStreamBeginCapture_v2))diff_sym("cuStreamBeginCapture_v2"))(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  int one = 1;
  CUresult r = ((host_fn_t)diff_sym("cuLaunchHostFunc"))(s, host_fn, &one);
  CUresult end = ((__typeof__(&cuStreamEndCapture))diff_sym("cuStreamEndCapture"))(s, &g);
  printf("# cuLaunchHostFunc while capturing: %d, then cuStreamEndCapture %d\n", (int)r, (int)end);
  if (end == CUDA_SUCCESS) MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g));

  CALL(cuStreamBeginCapture_v2, __typeof__(&cuStreamBeginCapture_v2), "global", s, CU_STREAM_CAPTURE_MODE_GLOBAL);
  CALL(cuMemsetD32Async, __typeof__(&cuMemsetD32Async), "captured", d, 7, 64, s);
  capture_info("capturing", s, 0);
  CALL(cuStreamEndCapture, __typeof__(&cuStreamEndCapture), "ok", s, &g);
  capture_info("after the capture", s, 0);

  CUgraphExec x = NULL, x2 = NULL;
  CALL(cuGraphInstantiate, instantiate_t, "captured graph", &x, g, NULL, NULL, 0);
  CALL(cuGraphLaunch, __typeof__(&cuGraphLaunch), "captured graph", x, s);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the graph", s);
  uint32_t h[64];
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "graph result", h, d, sizeof h);
  SAY(cuGraphLaunch, "memset node ran", "%d", h[0] == 7 && h[63] == 7);
  char log[128];
  memset(log, 'x', sizeof log);
  CUgraphNode err_node = (CUgraphNode)(uintptr_t)1;
  CALL(cuGraphInstantiate_v2, instantiate_t, "with a log", &x2, g, &err_node, log, sizeof log);
  SAY(cuGraphInstantiate_v2, "log terminated", "%d", memchr(log, 0, sizeof log) != NULL);
  CALL(cuGraphInstantiate_v2, instantiate_t, "null exec", NULL, g, NULL, NULL, 0);
  CALL(cuGraphInstantiate_v2, instantiate_t, "null graph", &x2, NULL, NULL, NULL, 0);
  CALL(cuGraphInstantiate, instantiate_t, "null exec", NULL, g, NULL, NULL, 0);
  CUgraph empty = NULL;
  CUgraphExec xe = NULL;
  MUST(((__typeof__(&cuGraphCreate))diff_sym("cuGraphCreate"))(&empty, 0));
  CALL(cuGraphInstantiate, instantiate_t, "empty graph", &xe, empty, NULL, NULL, 0);
  CALL(cuGraphLaunch, __typeof__(&cuGraphLaunch), "empty graph", xe, s);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the empty graph", s);

  /* Updates: the same topology with another value, then a different topology. */
  CUgraph same = NULL, other = NULL;
  MUST(((__typeof__(&cuStreamBeginCapture_v2))diff_sym("cuStreamBeginCapture_v2"))(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(d, 9, 64, s));
  MUST(((__typeof__(&cuStreamEndCapture))diff_sym("cuStreamEndCapture"))(s, &same));
  MUST(((__typeof__(&cuStreamBeginCapture_v2))diff_sym("cuStreamBeginCapture_v2"))(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(d, 1, 64, s));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(d, 2, 32, s));
  MUST(((__typeof__(&cuStreamEndCapture))diff_sym("cuStreamEndCapture"))(s, &other));
  CUgraphExecUpdateResultInfo info;
  memset(&info, 0xff, sizeof info);
  CALL(cuGraphExecUpdate_v2, exec_update_t, "same topology", x, same, &info);
  SAY(cuGraphExecUpdate_v2, "same topology result", "%d", (int)info.result);
  CALL(cuGraphLaunch, __typeof__(&cuGraphLaunch), "updated graph", x, s);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "after the updated graph", s);
  CALL(cuMemcpyDtoH_v2, __typeof__(&cuMemcpyDtoH_v2), "updated graph result", h, d, sizeof h);
  SAY(cuGraphExecUpdate_v2, "update took effect", "%d", h[0] == 9 && h[63] == 9);
  memset(&info, 0xff, sizeof info);
  CALL(cuGraphExecUpdate_v2, exec_update_t, "other topology", x, other, &info);
  SAY(cuGraphExecUpdate_v2, "other topology result", "%d", (int)info.result);
  CALL(cuGraphExecUpdate_v2, exec_update_t, "null info", x, same, NULL);
  CALL(cuGraphExecUpdate_v2, exec_update_t, "null exec", NULL, same, &info);
  CALL(cuGraphExecUpdate_v2, exec_update_t, "null graph", x, NULL, &info);

  /* Destroyed graphs and execs. */
  CALL(cuGraphDestroy, __typeof__(&cuGraphDestroy), "other", other);
  CALL(cuGraphExecUpdate_v2, exec_update_t, "destroyed graph", x, other, &info);
  CALL(cuGraphInstantiate, instantiate_t, "destroyed graph", &x2, other, NULL, NULL, 0);
  CALL(cuGraphExecDestroy, __typeof__(&cuGraphExecDestroy), "ok", xe);
  CALL(cuGraphExecDestroy, __typeof__(&cuGraphExecDestroy), "twice", xe);
  CALL(cuGraphExecUpdate_v2, exec_update_t, "destroyed exec", xe, same, &info);
  r = ((__typeof__(&cuGraphLaunch))diff_sym("cuGraphLaunch"))(xe, s);
  diff_async("cuGraphLaunch", "destroyed exec", r, sync_stream(s));
}

typedef __typeof__(&cuGraphGetNodes) get_nodes_t;
/* Spelled out: cuda.h maps the older names to the _v2 forms. */
typedef CUresult (*get_edges_t)(CUgraph, CUgraphNode *, CUgraphNode *, size_t *);
typedef CUresult (*get_edges_v2_t)(CUgraph, CUgraphNode *, CUgraphNode *, CUgraphEdgeData *, size_t *);
typedef CUresult (*node_list_t)(CUgraphNode, CUgraphNode *, size_t *);
typedef CUresult (*node_list_v2_t)(CUgraphNode, CUgraphNode *, CUgraphEdgeData *, size_t *);
typedef __typeof__(&cuGraphNodeGetType) node_type_t;

static int index_of(CUgraphNode *nodes, size_t n, CUgraphNode x) {
  for (size_t i = 0; i < n; i++)
    if (nodes[i] == x) return (int)i;
  return -1;
}

/* Introspection of a captured diamond: memset A on s, forked (event) to s2 for memset B while s
 * does memset C, joined back for memset D. Node order is the driver's, so what is printed is
 * order-free: counts, and per node (by its value) its dependency and dependent counts. */
static void introspection(CUstream s, CUdeviceptr d) {
  CUstream s2 = NULL;
  CUevent fork = NULL, join = NULL;
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&s2, CU_STREAM_NON_BLOCKING));
  MUST(((__typeof__(&cuEventCreate))diff_sym("cuEventCreate"))(&fork, CU_EVENT_DISABLE_TIMING));
  MUST(((__typeof__(&cuEventCreate))diff_sym("cuEventCreate"))(&join, CU_EVENT_DISABLE_TIMING));
  CUgraph g = NULL;
  MUST(((__typeof__(&cuStreamBeginCapture_v2))diff_sym("cuStreamBeginCapture_v2"))(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(d, 1, 64, s));
  MUST(((__typeof__(&cuEventRecord))diff_sym("cuEventRecord"))(fork, s));
  MUST(((__typeof__(&cuStreamWaitEvent))diff_sym("cuStreamWaitEvent"))(s2, fork, 0));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(d, 2, 16, s2));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(d + 128, 3, 16, s));
  MUST(((__typeof__(&cuEventRecord))diff_sym("cuEventRecord"))(join, s2));
  MUST(((__typeof__(&cuStreamWaitEvent))diff_sym("cuStreamWaitEvent"))(s, join, 0));
  MUST(((__typeof__(&cuMemsetD32Async))diff_sym("cuMemsetD32Async"))(d + 64, 4, 8, s));
  MUST(((__typeof__(&cuStreamEndCapture))diff_sym("cuStreamEndCapture"))(s, &g));

  size_t n = 0;
  CALL(cuGraphGetNodes, get_nodes_t, "count", g, NULL, &n);
  SAY(cuGraphGetNodes, "count", "%zu", n);
  CUgraphNode nodes[8];
  for (int i = 0; i < 8; i++) nodes[i] = (CUgraphNode)(uintptr_t)0x55;
  size_t cap = 6;
  CALL(cuGraphGetNodes, get_nodes_t, "into a larger array", g, nodes, &cap);
  SAY(cuGraphGetNodes, "returned", "%zu, rest NULL %d, all distinct and set %d", cap, nodes[4] == NULL && nodes[5] == NULL,
      nodes[0] && nodes[1] && nodes[2] && nodes[3] && nodes[0] != nodes[1] && nodes[0] != nodes[2] &&
          nodes[0] != nodes[3] && nodes[1] != nodes[2] && nodes[1] != nodes[3] && nodes[2] != nodes[3]);
  SAY(cuGraphGetNodes, "untouched past the capacity", "%d", nodes[6] == (CUgraphNode)(uintptr_t)0x55);
  CUgraphNode again[4] = {0};
  size_t two = 2;
  CALL(cuGraphGetNodes, get_nodes_t, "into a smaller array", g, again, &two);
  SAY(cuGraphGetNodes, "smaller array", "%zu, the same nodes %d", two, again[0] == nodes[0] && again[1] == nodes[1]);
  CALL(cuGraphGetNodes, get_nodes_t, "null count", g, nodes, NULL);
  CALL(cuGraphGetNodes, get_nodes_t, "null graph", NULL, NULL, &n);

  CUgraphNode roots[4] = {0};
  size_t nroots = 4;
  CALL(cuGraphGetRootNodes, get_nodes_t, "diamond", g, roots, &nroots);
  SAY(cuGraphGetRootNodes, "diamond", "%zu root, one of the nodes %d", nroots, index_of(nodes, 4, roots[0]) >= 0);
  CALL(cuGraphGetRootNodes, get_nodes_t, "null count", g, roots, NULL);

  size_t ne = 0;
  CALL(cuGraphGetEdges, get_edges_t, "count", g, NULL, NULL, &ne);
  SAY(cuGraphGetEdges, "count", "%zu", ne);
  CUgraphNode from[6] = {0}, to[6] = {0};
  CUgraphEdgeData data[6];
  memset(data, 0x7f, sizeof data);
  size_t ecap = 6;
  CALL(cuGraphGetEdges_v2, get_edges_v2_t, "with edge data", g, from, to, data, &ecap);
  int default_edges = 1, known = 1;
  for (size_t i = 0; i < ecap; i++) {
    default_edges &= data[i].from_port == 0 && data[i].to_port == 0 && data[i].type == 0;
    known &= index_of(nodes, 4, from[i]) >= 0 && index_of(nodes, 4, to[i]) >= 0;
  }
  SAY(cuGraphGetEdges_v2, "with edge data", "%zu edges, default %d, between known nodes %d, rest NULL %d", ecap,
      default_edges, known, from[4] == NULL && to[5] == NULL);
  ecap = 6;
  CALL(cuGraphGetEdges, get_edges_t, "from without to", g, from, NULL, &ecap);
  CALL(cuGraphGetEdges_v2, get_edges_v2_t, "edge data without nodes", g, NULL, NULL, data, &ecap);
  CALL(cuGraphGetEdges, get_edges_t, "null count", g, from, to, NULL);

  /* Per node: dependencies/dependents, both forms, and the type; the multiset is order-free. */
  int shape[4] = {0}; /* nodes shaped as the fork, the middle, the join, anything else */
  int deps_match = 1, types_ok = 1;
  for (int i = 0; i < 4; i++) {
    size_t nd = 0, nt = 0;
    CUgraphNode dl[4] = {0}, tl[4] = {0};
    size_t dcap = 4, tcap = 4;
    CALL(cuGraphNodeGetDependencies, node_list_t, "count", nodes[i], NULL, &nd);
    CALL(cuGraphNodeGetDependentNodes, node_list_t, "count", nodes[i], NULL, &nt);
    CALL(cuGraphNodeGetDependencies_v2, node_list_v2_t, "list", nodes[i], dl, data, &dcap);
    CALL(cuGraphNodeGetDependentNodes_v2, node_list_v2_t, "list", nodes[i], tl, NULL, &tcap);
    deps_match &= dcap == nd && tcap == nt;
    for (size_t k = 0; k < dcap; k++) deps_match &= index_of(nodes, 4, dl[k]) >= 0;
    for (size_t k = 0; k < tcap; k++) deps_match &= index_of(nodes, 4, tl[k]) >= 0;
    /* 0 -> 2 (A), 1 -> 1 (B, C), 2 -> 0 (D) */
    if (nd == 0 && nt == 2) shape[0]++;
    else if (nd == 1 && nt == 1) shape[1]++;
    else if (nd == 2 && nt == 0) shape[2]++;
    else shape[3]++;
    CUgraphNodeType t = (CUgraphNodeType)-1;
    CALL(cuGraphNodeGetType, node_type_t, "memset node", nodes[i], &t);
    types_ok &= t == CU_GRAPH_NODE_TYPE_MEMSET;
  }
  SAY(cuGraphNodeGetDependencies, "diamond shape", "%d fork, %d middle, %d join, %d other", shape[0], shape[1],
      shape[2], shape[3]);
  SAY(cuGraphNodeGetDependentNodes, "lists match counts and name known nodes", "%d", deps_match);
  SAY(cuGraphNodeGetType, "every node is a memset", "%d", types_ok);
  CALL(cuGraphNodeGetDependencies, node_list_t, "null count", nodes[0], NULL, NULL);
  CALL(cuGraphNodeGetDependentNodes_v2, node_list_v2_t, "null count", nodes[0], NULL, NULL, NULL);
  CALL(cuGraphNodeGetType, node_type_t, "null type", nodes[0], NULL);
  CUgraphNodeType t;
  CALL(cuGraphNodeGetType, node_type_t, "null node", NULL, &t);

  /* The same node has the same handle in another query, and a node of another graph is another. */
  CUgraph g2 = NULL;
  MUST(((__typeof__(&cuGraphCreate))diff_sym("cuGraphCreate"))(&g2, 0));
  size_t n2 = 0;
  CALL(cuGraphGetNodes, get_nodes_t, "empty graph", g2, NULL, &n2);
  SAY(cuGraphGetNodes, "empty graph", "%zu", n2);
  n2 = 2;
  CALL(cuGraphGetRootNodes, get_nodes_t, "empty graph", g2, roots, &n2);
  SAY(cuGraphGetRootNodes, "empty graph", "%zu", n2);
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g2));
  MUST(((__typeof__(&cuGraphDestroy))diff_sym("cuGraphDestroy"))(g));
  CALL(cuGraphGetNodes, get_nodes_t, "destroyed graph", g, NULL, &n);
  MUST(((__typeof__(&cuEventDestroy_v2))diff_sym("cuEventDestroy_v2"))(fork));
  MUST(((__typeof__(&cuEventDestroy_v2))diff_sym("cuEventDestroy_v2"))(join));
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(s2));
}

/* Streams and events after cuStreamDestroy / cuEventDestroy. */
static void destroyed(void) {
  CUstream s = NULL;
  CUevent e = NULL, e2 = NULL;
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&s, 0));
  MUST(((__typeof__(&cuEventCreate))diff_sym("cuEventCreate"))(&e, 0));
  MUST(((__typeof__(&cuEventCreate))diff_sym("cuEventCreate"))(&e2, 0));
  CALL(cuStreamDestroy_v2, __typeof__(&cuStreamDestroy_v2), "ok", s);
  CALL(cuStreamDestroy_v2, __typeof__(&cuStreamDestroy_v2), "twice", s);
  CALL(cuStreamSynchronize, __typeof__(&cuStreamSynchronize), "destroyed stream", s);
  CALL(cuStreamQuery, __typeof__(&cuStreamQuery), "destroyed stream", s);
  int prio = 0;
  CALL(cuStreamGetPriority, __typeof__(&cuStreamGetPriority), "destroyed stream", s, &prio);
  CUresult r = ((__typeof__(&cuEventRecord))diff_sym("cuEventRecord"))(e, s);
  diff_async("cuEventRecord", "on a destroyed stream", r, ((__typeof__(&cuCtxSynchronize))diff_sym("cuCtxSynchronize"))());
  r = ((__typeof__(&cuStreamWaitEvent))diff_sym("cuStreamWaitEvent"))(s, e, 0);
  diff_async("cuStreamWaitEvent", "destroyed stream", r, ((__typeof__(&cuCtxSynchronize))diff_sym("cuCtxSynchronize"))());
  CALL(cuEventRecord, __typeof__(&cuEventRecord), "ok", e2, NULL);
  CALL(cuEventDestroy_v2, __typeof__(&cuEventDestroy_v2), "ok", e);
  CALL(cuEventDestroy_v2, __typeof__(&cuEventDestroy_v2), "twice", e);
  CALL(cuEventSynchronize, __typeof__(&cuEventSynchronize), "destroyed event", e);
  CALL(cuEventQuery, __typeof__(&cuEventQuery), "destroyed event", e);
  float ms = 0;
  CALL(cuEventElapsedTime, __typeof__(&cuEventElapsedTime), "destroyed start event", &ms, e, e2);
  r = ((__typeof__(&cuEventRecord))diff_sym("cuEventRecord"))(e, NULL);
  diff_async("cuEventRecord", "destroyed event", r, ((__typeof__(&cuCtxSynchronize))diff_sym("cuCtxSynchronize"))());
  r = ((__typeof__(&cuStreamWaitEvent))diff_sym("cuStreamWaitEvent"))(NULL, e, 0);
  diff_async("cuStreamWaitEvent", "destroyed event", r, ((__typeof__(&cuCtxSynchronize))diff_sym("cuCtxSynchronize"))());
  CALL(cuEventDestroy_v2, __typeof__(&cuEventDestroy_v2), "the other", e2);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  MUST(((__typeof__(&cuInit))diff_sym("cuInit"))(0));
  CUcontext ctx;
  MUST(((__typeof__(&cuDevicePrimaryCtxRetain))diff_sym("cuDevicePrimaryCtxRetain"))(&ctx, 0));
  MUST(((__typeof__(&cuCtxSetCurrent))diff_sym("cuCtxSetCurrent"))(ctx));
  CUstream s = NULL, gone = NULL;
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&s, CU_STREAM_NON_BLOCKING));
  MUST(((__typeof__(&cuStreamCreate))diff_sym("cuStreamCreate"))(&gone, 0));
  MUST(((__typeof__(&cuStreamDestroy_v2))diff_sym("cuStreamDestroy_v2"))(gone));
  CUdeviceptr d = 0;
  MUST(((__typeof__(&cuMemAlloc_v2))diff_sym("cuMemAlloc_v2"))(&d, 64 * sizeof(uint32_t)));
  host_functions(s, gone);
  captures(s, gone, d);
  introspection(s, d);
  destroyed();
  return 0;
}
