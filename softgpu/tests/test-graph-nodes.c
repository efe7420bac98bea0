/* The type-generic node API, child graphs (also from launching an exec into a capture), event
 * nodes and edge queries. */
#include <string.h>

#include "sg_test_cu.h"

CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode);
CUresult cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes, CUgraphEdgeData *edgeData,
                                         size_t *numDependentNodes);
CUresult cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edgeData,
                            size_t *numEdges);
CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                           const CUgraphEdgeData *dependencyData, size_t numDependencies,
                           CUgraphNodeParams *nodeParams);

static CUgraphNodeParams memset_params(CUdeviceptr d, unsigned value, size_t n) {
  CUgraphNodeParams p;
  memset(&p, 0, sizeof p);
  p.type = CU_GRAPH_NODE_TYPE_MEMSET;
  p.memset.dst = d;
  p.memset.value = value;
  p.memset.elementSize = 4;
  p.memset.width = n;
  p.memset.height = 1;
  return p;
}

static unsigned read_u32(CUdeviceptr d, size_t i) {
  unsigned v = 0;
  ASSERT_CU_OK(cuMemcpyDtoH(&v, d + 4 * i, sizeof v));
  return v;
}

TEST(graph_generic_add_node_and_set_params) {
  sg_test_setup();
  CUdeviceptr d;
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  CUgraph g;
  CUgraphNode a, b;
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  CUgraphNodeParams p = memset_params(d, 4, 16);
  ASSERT_CU_OK(cuGraphAddNode_v2(&a, g, NULL, NULL, 0, &p));
  p = memset_params(d, 5, 8);
  ASSERT_CU_OK(cuGraphAddNode_v2(&b, g, &a, NULL, 1, &p));
  p.type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
  CUgraphNode c;
  ASSERT_CU(cuGraphAddNode_v2(&c, g, NULL, NULL, 0, &p), CUDA_ERROR_NOT_SUPPORTED);
  p.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  ASSERT_CU(cuGraphAddNode_v2(&c, g, NULL, NULL, 0, &p), CUDA_ERROR_NOT_SUPPORTED);
  CUgraphEdgeData prog = {1, 0, 1, {0}};
  p = memset_params(d, 5, 8);
  ASSERT_CU(cuGraphAddNode_v2(&c, g, &a, &prog, 1, &p), CUDA_ERROR_NOT_SUPPORTED);

  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  ASSERT_CU_OK(cuGraphLaunch(ex, NULL));
  ASSERT_EQ(read_u32(d, 0), 5u);
  ASSERT_EQ(read_u32(d, 12), 4u);
  /* The graph and the exec change independently. */
  p = memset_params(d, 6, 16);
  ASSERT_CU_OK(cuGraphExecNodeSetParams(ex, a, &p));
  p = memset_params(d, 9, 16);
  ASSERT_CU_OK(cuGraphNodeSetParams(a, &p));
  CUDA_MEMSET_NODE_PARAMS got;
  ASSERT_CU_OK(cuGraphMemsetNodeGetParams(a, &got));
  ASSERT_EQ(got.value, 9u);
  ASSERT_CU_OK(cuGraphLaunch(ex, NULL));
  ASSERT_EQ(read_u32(d, 12), 6u);
  p = memset_params(d, 1, 1 << 20); /* out of the allocation */
  ASSERT_CU(cuGraphNodeSetParams(a, &p), CUDA_ERROR_INVALID_VALUE);
  p.type = CU_GRAPH_NODE_TYPE_EMPTY;
  ASSERT_CU(cuGraphNodeSetParams(a, &p), CUDA_ERROR_INVALID_VALUE); /* the type cannot change */
}

TEST(graph_child_graph_and_launch_into_capture) {
  sg_test_setup();
  CUdeviceptr d;
  CUstream s;
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUgraph inner, outer;
  CUgraphNode n, child, tail;
  ASSERT_CU_OK(cuGraphCreate(&inner, 0));
  CUDA_MEMSET_NODE_PARAMS mp = {d, 0, 7, 4, 4, 1};
  ASSERT_CU_OK(cuGraphAddMemsetNode(&n, inner, NULL, 0, &mp, NULL));
  ASSERT_CU_OK(cuGraphCreate(&outer, 0));
  ASSERT_CU_OK(cuGraphAddChildGraphNode(&child, outer, NULL, 0, inner));
  CUDA_MEMSET_NODE_PARAMS mp2 = {d + 8, 0, 8, 4, 1, 1};
  ASSERT_CU_OK(cuGraphAddMemsetNode(&tail, outer, &child, 1, &mp2, NULL));
  ASSERT_CU_OK(cuGraphDestroy(inner)); /* the node holds its own copy */
  CUgraphNodeType t;
  ASSERT_CU_OK(cuGraphNodeGetType(child, &t));
  ASSERT_EQ(t, CU_GRAPH_NODE_TYPE_GRAPH);
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, outer, 0));
  ASSERT_CU_OK(cuGraphLaunch(ex, s));
  ASSERT_EQ(read_u32(d, 0), 7u);
  ASSERT_EQ(read_u32(d, 2), 8u);
  ASSERT_EQ(read_u32(d, 3), 7u);

  /* Launching an exec into a capturing stream records it as a child graph. */
  ASSERT_CU_OK(cuMemsetD32(d, 0, 16));
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuGraphLaunch(ex, s));
  ASSERT_CU_OK(cuMemsetD32Async(d + 12, 9, 1, s));
  CUgraph cap;
  ASSERT_CU_OK(cuStreamEndCapture(s, &cap));
  ASSERT_EQ(read_u32(d, 0), 0u);
  CUgraphNode nodes[2];
  size_t count = 2;
  ASSERT_CU_OK(cuGraphGetNodes(cap, nodes, &count));
  ASSERT_EQ(count, 2);
  ASSERT_CU_OK(cuGraphNodeGetType(nodes[0], &t));
  ASSERT_EQ(t, CU_GRAPH_NODE_TYPE_GRAPH);
  ASSERT_CU_OK(cuGraphExecDestroy(ex));
  CUgraphExec ex2;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex2, cap, 0));
  ASSERT_CU_OK(cuGraphLaunch(ex2, s));
  ASSERT_EQ(read_u32(d, 0), 7u);
  ASSERT_EQ(read_u32(d, 2), 8u);
  ASSERT_EQ(read_u32(d, 3), 9u);
  CUgraph back;
  /* A captured launch has only its instantiation, no graph. */
  ASSERT_CU(cuGraphChildGraphNodeGetGraph(nodes[0], &back), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_CU(cuGraphChildGraphNodeGetGraph(nodes[1], &back), CUDA_ERROR_INVALID_VALUE);

  /* An added child node hands out its own graph; edits to it reach later instantiations and
   * clones of the parent, not the exec already made. */
  ASSERT_CU_OK(cuGraphChildGraphNodeGetGraph(child, &back));
  CUgraph again;
  ASSERT_CU_OK(cuGraphChildGraphNodeGetGraph(child, &again));
  ASSERT_EQ(back, again);
  count = 0;
  ASSERT_CU_OK(cuGraphGetNodes(back, NULL, &count));
  ASSERT_EQ(count, 1);
  CUgraphNode extra;
  CUDA_MEMSET_NODE_PARAMS mp3 = {d + 16, 0, 5, 4, 1, 1};
  ASSERT_CU_OK(cuGraphAddMemsetNode(&extra, back, NULL, 0, &mp3, NULL));
  CUgraph copy;
  ASSERT_CU_OK(cuGraphClone(&copy, outer));
  ASSERT_CU_OK(cuMemsetD32(d, 0, 16));
  ASSERT_CU_OK(cuGraphLaunch(ex2, s)); /* made before the edit */
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_EQ(read_u32(d, 4), 0u);
  CUgraphExec ex3, ex4;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex3, outer, 0));
  ASSERT_CU_OK(cuGraphLaunch(ex3, s));
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_EQ(read_u32(d, 0), 7u);
  ASSERT_EQ(read_u32(d, 4), 5u);
  ASSERT_CU_OK(cuMemsetD32(d, 0, 16));
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex4, copy, 0));
  ASSERT_CU_OK(cuGraphLaunch(ex4, s));
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_EQ(read_u32(d, 4), 5u);
  ASSERT_CU_OK(cuGraphExecDestroy(ex2));
  ASSERT_CU_OK(cuGraphExecDestroy(ex3));
  ASSERT_CU_OK(cuGraphExecDestroy(ex4));
  ASSERT_CU_OK(cuGraphDestroy(copy));
  ASSERT_CU_OK(cuGraphDestroy(outer));
  ASSERT_CU_OK(cuGraphDestroy(cap));
}

TEST(graph_edges_dependents_and_event_nodes) {
  sg_test_setup();
  CUevent e1, e2, got;
  ASSERT_CU_OK(cuEventCreate(&e1, 0));
  ASSERT_CU_OK(cuEventCreate(&e2, 0));
  CUgraph g;
  CUgraphNode root, rec, wait;
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&root, g, NULL, 0));
  ASSERT_CU_OK(cuGraphAddEventRecordNode(&rec, g, &root, 1, e1));
  ASSERT_CU_OK(cuGraphAddEventWaitNode(&wait, g, &root, 1, e1));
  ASSERT_CU_OK(cuGraphEventRecordNodeGetEvent(rec, &got));
  ASSERT_EQ((void *)got, (void *)e1);
  ASSERT_CU(cuGraphEventRecordNodeGetEvent(wait, &got), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU_OK(cuGraphEventWaitNodeSetEvent(wait, e2));
  ASSERT_CU_OK(cuGraphEventWaitNodeGetEvent(wait, &got));
  ASSERT_EQ((void *)got, (void *)e2);

  CUgraphNode deps[4];
  CUgraphEdgeData ed[4];
  size_t n = 0;
  ASSERT_CU_OK(cuGraphNodeGetDependentNodes_v2(root, NULL, NULL, &n));
  ASSERT_EQ(n, 2);
  n = 1;
  ASSERT_CU_OK(cuGraphNodeGetDependentNodes_v2(root, deps, ed, &n));
  ASSERT_EQ(n, 1);
  ASSERT_EQ((void *)deps[0], (void *)rec);
  CUgraphNode from[4], to[4];
  n = 4;
  ASSERT_CU_OK(cuGraphGetEdges_v2(g, from, to, ed, &n));
  ASSERT_EQ(n, 2);
  ASSERT_EQ((void *)from[1], (void *)root);
  ASSERT_EQ((void *)to[1], (void *)wait);
  ASSERT_NULL(from[2]);

  /* Event record node: the event is recorded by each launch. */
  CUgraphExec ex;
  CUstream s;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuEventRecord(e2, s));
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  float ms;
  ASSERT_CU(cuEventElapsedTime(&ms, e2, e1), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuGraphLaunch(ex, s));
  ASSERT_CU_OK(cuEventElapsedTime(&ms, e2, e1));
  ASSERT_CU_OK(cuGraphExecEventRecordNodeSetEvent(ex, rec, e2));
  ASSERT_CU(cuGraphExecEventRecordNodeSetEvent(ex, wait, e2), CUDA_ERROR_INVALID_VALUE);
}

CUresult cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph, const CUgraphNode *dependencies,
                                     const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                     CUstreamCaptureMode mode);
CUresult cuStreamUpdateCaptureDependencies_v2(CUstream hStream, CUgraphNode *dependencies,
                                              const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                              unsigned int flags);

TEST(capture_to_existing_graph) {
  sg_test_setup();
  CUdeviceptr d;
  CUstream s;
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUgraph g, other, out;
  CUgraphNode first, foreign;
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  ASSERT_CU_OK(cuGraphCreate(&other, 0));
  CUDA_MEMSET_NODE_PARAMS mp = {d, 0, 1, 4, 16, 1};
  ASSERT_CU_OK(cuGraphAddMemsetNode(&first, g, NULL, 0, &mp, NULL));
  ASSERT_CU_OK(cuGraphAddEmptyNode(&foreign, other, NULL, 0));
  ASSERT_CU(cuStreamBeginCaptureToGraph(s, g, &foreign, NULL, 1, CU_STREAM_CAPTURE_MODE_GLOBAL),
            CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuStreamBeginCaptureToGraph(s, (CUgraph)s, NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL),
            CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuStreamBeginCaptureToGraph(s, g, &first, NULL, 1, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU(cuStreamBeginCaptureToGraph(s, g, NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL),
            CUDA_ERROR_ILLEGAL_STATE);
  CUgraphEdgeData prog = {1, 0, 1, {0}};
  ASSERT_CU(cuStreamUpdateCaptureDependencies_v2(s, &first, &prog, 1, 0), CUDA_ERROR_NOT_SUPPORTED);
  ASSERT_CU_OK(cuMemsetD32Async(d, 2, 8, s));
  ASSERT_CU_OK(cuStreamEndCapture(s, &out));
  ASSERT_EQ((void *)out, (void *)g);
  size_t n = 0, roots = 0;
  ASSERT_CU_OK(cuGraphGetNodes(g, NULL, &n));
  ASSERT_CU_OK(cuGraphGetRootNodes(g, NULL, &roots));
  ASSERT_EQ(n, 2);
  ASSERT_EQ(roots, 1);
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD));
  ASSERT_CU_OK(cuGraphUpload(ex, s));
  cuuint64_t flags = 0;
  ASSERT_CU_OK(cuGraphExecGetFlags(ex, &flags));
  ASSERT_EQ(flags, CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD);
  ASSERT_CU_OK(cuGraphLaunch(ex, s));
  ASSERT_EQ(read_u32(d, 0), 2u);
  ASSERT_EQ(read_u32(d, 15), 1u);
}

CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode);
CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph);
CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus);
CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream);

/* Through the _ptsz entry points NULL is the per-thread default stream, which can be captured;
 * the legacy stream (plain entry points) cannot. */
TEST(capture_per_thread_default_stream) {
  sg_test_setup();
  CUdeviceptr d;
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  CUstreamCaptureStatus st;
  ASSERT_CU_OK(cuStreamBeginCapture_v2_ptsz(NULL, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU_OK(cuStreamIsCapturing_ptsz(NULL, &st));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  ASSERT_CU_OK(cuStreamIsCapturing(CU_STREAM_PER_THREAD, &st));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  ASSERT_CU_OK(cuMemsetD32Async_ptsz(d, 12, 16, NULL));
  unsigned v = 0;
  /* The per-thread stream is a blocking stream: the legacy stream would depend on its capture. */
  ASSERT_CU(cuMemcpyDtoH(&v, d, sizeof v), CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
  CUgraph g;
  ASSERT_CU(cuStreamEndCapture_ptsz(NULL, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  ASSERT_CU_OK(cuStreamBeginCapture_v2_ptsz(NULL, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU_OK(cuMemsetD32Async_ptsz(d, 12, 16, NULL));
  ASSERT_CU_OK(cuStreamEndCapture_ptsz(NULL, &g));
  ASSERT_EQ(read_u32(d, 0), 0u); /* captured, not run */
  ASSERT_CU(cuStreamBeginCapture_v2(NULL, CU_STREAM_CAPTURE_MODE_RELAXED), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  ASSERT_CU_OK(cuGraphLaunch_ptsz(ex, NULL));
  ASSERT_EQ(read_u32(d, 15), 12u);
}

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

TEST(graph_clone_enable_and_dot_print) {
  sg_test_setup();
  CUdeviceptr d;
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  CUgraph g, c;
  CUgraphNode a, b, ca, cb;
  ASSERT_CU_OK(cuGraphCreate(&g, 0));
  CUDA_MEMSET_NODE_PARAMS pa = {d, 0, 1, 4, 16, 1}, pb = {d, 0, 2, 4, 8, 1};
  ASSERT_CU_OK(cuGraphAddMemsetNode(&a, g, NULL, 0, &pa, NULL));
  ASSERT_CU_OK(cuGraphAddMemsetNode(&b, g, &a, 1, &pb, NULL));
  ASSERT_CU_OK(cuGraphClone(&c, g));
  ASSERT_CU_OK(cuGraphNodeFindInClone(&cb, b, c));
  ASSERT_CU_OK(cuGraphNodeFindInClone(&ca, a, c));
  ASSERT_NE((void *)cb, (void *)b);
  CUgraphNode dep;
  size_t n = 1;
  ASSERT_CU_OK(cuGraphNodeGetDependencies(cb, &dep, NULL, &n));
  ASSERT_EQ(n, 1);
  ASSERT_EQ((void *)dep, (void *)ca);
  ASSERT_CU(cuGraphNodeFindInClone(&cb, b, g), CUDA_ERROR_INVALID_VALUE); /* g is not a clone */

  /* A disabled node is skipped by launches until enabled again. */
  CUgraphExec ex;
  unsigned on = 7;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, c, 0));
  ASSERT_CU_OK(cuGraphNodeSetEnabled(ex, cb, 0));
  ASSERT_CU_OK(cuGraphNodeGetEnabled(ex, cb, &on));
  ASSERT_EQ(on, 0u);
  ASSERT_CU_OK(cuGraphLaunch(ex, NULL));
  ASSERT_EQ(read_u32(d, 0), 1u);
  ASSERT_CU_OK(cuGraphNodeSetEnabled(ex, cb, 1));
  ASSERT_CU_OK(cuGraphLaunch(ex, NULL));
  ASSERT_EQ(read_u32(d, 0), 2u);
  ASSERT_CU(cuGraphNodeSetEnabled(ex, b, 0), CUDA_ERROR_INVALID_VALUE); /* not a node of the exec's graph */

  char path[] = "/tmp/sg-graph-dot-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_CU_OK(cuGraphDebugDotPrint(g, path, 1));
  FILE *f = fopen(path, "r");
  ASSERT_NOT_NULL(f);
  char buf[512] = "";
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  unlink(path);
  ASSERT_GT(got, 0);
  ASSERT_NOT_NULL(strstr(buf, "digraph"));
  ASSERT_NOT_NULL(strstr(buf, "n0 -> n1;"));
  ASSERT_CU(cuGraphDebugDotPrint(g, "/nonexistent-dir/x.dot", 0), CUDA_ERROR_OPERATING_SYSTEM);
}

TEST(graph_exec_child_graph_set_params) {
  sg_test_setup();
  CUdeviceptr d;
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  CUgraph c1, c2, outer;
  CUgraphNode n, child;
  CUDA_MEMSET_NODE_PARAMS p1 = {d, 0, 1, 4, 4, 1}, p2 = {d, 0, 2, 4, 4, 1};
  ASSERT_CU_OK(cuGraphCreate(&c1, 0));
  ASSERT_CU_OK(cuGraphCreate(&c2, 0));
  ASSERT_CU_OK(cuGraphAddMemsetNode(&n, c1, NULL, 0, &p1, NULL));
  ASSERT_CU_OK(cuGraphAddMemsetNode(&n, c2, NULL, 0, &p2, NULL));
  ASSERT_CU_OK(cuGraphCreate(&outer, 0));
  ASSERT_CU_OK(cuGraphAddChildGraphNode(&child, outer, NULL, 0, c1));
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, outer, 0));
  ASSERT_CU_OK(cuGraphExecChildGraphNodeSetParams(ex, child, c2));
  ASSERT_CU_OK(cuGraphLaunch(ex, NULL));
  ASSERT_EQ(read_u32(d, 0), 2u);
  ASSERT_CU(cuGraphExecChildGraphNodeSetParams(ex, n, c2), CUDA_ERROR_INVALID_VALUE);
}
