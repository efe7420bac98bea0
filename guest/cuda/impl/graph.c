/*
 * Capture information and graph instantiation forms that are answered on top of forwarded calls,
 * and graph introspection. Capture information's node-level outputs (dependencies, edge data)
 * and instantiation's error node are always empty; status, capture id and the instantiated graph
 * are real. Introspection returns nodes as guest handles (kind graphnode, one per node, owned by
 * the graph on the host: src/executor/custom/graph.ts).
 */
#include "vgcuda.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "graph_host.h"
#include "rpc.h"

static CUresult capture_info(CUstream s, int ptsz, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *graph,
                             const CUgraphNode **deps, const CUgraphEdgeData **edges, size_t *ndeps) {
  if (!st) return CUDA_ERROR_INVALID_VALUE;
  cuuint64_t cid = 0;
  CUresult r = ptsz ? cuStreamGetCaptureInfo_ptsz(s, st, &cid) : cuStreamGetCaptureInfo(s, st, &cid);
  if (r) return r;
  /* The capture id means something only while the stream is (or was, until invalidated) captured. */
  if (id && *st != CU_STREAM_CAPTURE_STATUS_NONE) *id = cid;
  if (graph) *graph = NULL;
  if (deps) *deps = NULL;
  if (edges) *edges = NULL;
  if (ndeps) *ndeps = 0;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out,
                                             CUgraph *graph_out, const CUgraphNode **dependencies_out,
                                             size_t *numDependencies_out) {
  VG_TRACED(capture_info(hStream, 0, captureStatus_out, id_out, graph_out, dependencies_out, NULL, numDependencies_out));
}
VG_EXPORT CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                                  cuuint64_t *id_out, CUgraph *graph_out,
                                                  const CUgraphNode **dependencies_out, size_t *numDependencies_out) {
  VG_TRACED(capture_info(hStream, 1, captureStatus_out, id_out, graph_out, dependencies_out, NULL, numDependencies_out));
}
VG_EXPORT CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out,
                                             CUgraph *graph_out, const CUgraphNode **dependencies_out,
                                             const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out) {
  VG_TRACED(capture_info(hStream, 0, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out, numDependencies_out));
}
VG_EXPORT CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                                  cuuint64_t *id_out, CUgraph *graph_out,
                                                  const CUgraphNode **dependencies_out,
                                                  const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out) {
  VG_TRACED(capture_info(hStream, 1, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out, numDependencies_out));
}

static CUresult instantiate_logged(CUgraphExec *exec, CUgraph g, CUgraphNode *err_node, char *log, size_t logsz) {
  CUresult r = cuGraphInstantiateWithFlags(exec, g, 0);
  if (err_node) *err_node = NULL;
  if (log && logsz) log[0] = '\0';
  return r;
}

VG_EXPORT CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode, char *logBuffer,
                                         size_t bufferSize) {
  VG_TRACED(instantiate_logged(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize));
}
VG_EXPORT CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode, char *logBuffer,
                                      size_t bufferSize) {
  VG_TRACED(instantiate_logged(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize));
}

/* Forwarded by hand: the result info's nodes come back as the guest's node handles. The driver's
 * answer travels inside a successful reply, so a refused update still says why (docs/protocol.md). */
static CUresult exec_update(CUgraphExec exec, CUgraph g, CUgraphExecUpdateResultInfo *info) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!info) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuGraphExecUpdate_v2, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPHEXEC, exec, 0);
  vg_put_handle(&c, VG_H_GRAPH, g, 0);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    r = (CUresult)vg_get_u32(&c);
    memset(info, 0, sizeof *info);
    info->result = (CUgraphExecUpdateResult)vg_get_u32(&c);
    info->errorNode = (CUgraphNode)vg_get_new_handle(&c, VG_H_GRAPHNODE);
    info->errorFromNode = (CUgraphNode)vg_get_new_handle(&c, VG_H_GRAPHNODE);
  }
  r = vg_call_end(&c, r);
  return r == CUDA_SUCCESS ? vg_graph_host_exec_updated(exec, g) : r;
}

VG_EXPORT CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo) {
  VG_TRACED(exec_update(hGraphExec, hGraph, resultInfo));
}

/* The older form: the error node without the node it depends on. */
static CUresult exec_update_v1(CUgraphExec exec, CUgraph g, CUgraphNode *err_node, CUgraphExecUpdateResult *result) {
  if (!err_node || !result) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUgraphExecUpdateResultInfo info = {CU_GRAPH_EXEC_UPDATE_ERROR, NULL, NULL};
  CUresult r = exec_update(exec, g, &info);
  *err_node = info.errorNode;
  *result = info.result;
  return r;
}

VG_EXPORT CUresult cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out,
                                     CUgraphExecUpdateResult *updateResult_out) {
  VG_TRACED(exec_update_v1(hGraphExec, hGraph, hErrorNode_out, updateResult_out));
}

/* ---- introspection -----------------------------------------------------------------------------
 * What the caller passed travels as a mask (which pointers are non-NULL) and the capacity, so the
 * host driver sees the same NULLs and answers their errors; the reply is the count, then the node
 * ids (and edge data) of the entries written. As the driver does, entries past the count up to the
 * capacity become NULL (and default edges). */
enum { LIST_NODES = 1, LIST_TO = 2, LIST_DATA = 4, LIST_COUNT = 8 };
/* The executor's limit on one query (MAX_LIST in src/executor/custom/graph.ts). */
#define MAX_LIST ((size_t)1 << 18)

static CUresult list_query(uint32_t op, vg_hkind kind, const void *h, int v2_flag, CUgraphNode *nodes, CUgraphNode *to,
                           CUgraphEdgeData *data, size_t *count) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  int arrays = nodes || to || data;
  size_t cap = count && arrays ? *count : 0;
  if (arrays && cap > MAX_LIST) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, op, 0);
  if (r) return r;
  vg_put_handle(&c, kind, h, 0);
  if (v2_flag >= 0) vg_put_u8(&c, (uint8_t)v2_flag);
  vg_put_u8(&c, (uint8_t)((nodes ? LIST_NODES : 0) | (to ? LIST_TO : 0) | (data ? LIST_DATA : 0) | (count ? LIST_COUNT : 0)));
  vg_put_u64(&c, cap);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    uint64_t n = vg_get_u64(&c);
    size_t m = arrays && n > cap ? cap : (size_t)n;
    CUgraphNode *lists[2] = {nodes, to};
    for (int l = 0; l < 2; l++) {
      if (!lists[l]) continue;
      for (size_t i = 0; i < m; i++) lists[l][i] = (CUgraphNode)vg_get_new_handle(&c, VG_H_GRAPHNODE);
      for (size_t i = m; i < cap; i++) lists[l][i] = NULL;
    }
    if (data) {
      _Static_assert(sizeof *data == 8, "CUgraphEdgeData is 8 bytes");
      for (size_t i = 0; i < m; i++) {
        uint64_t v = vg_get_u64(&c);
        memcpy(&data[i], &v, sizeof v);
      }
      if (cap > m) memset(&data[m], 0, (cap - m) * sizeof *data);
    }
    if (count) *count = (size_t)n;
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes) {
  VG_TRACED(list_query(VG_OP_cuGraphGetNodes, VG_H_GRAPH, hGraph, -1, nodes, NULL, NULL, numNodes));
}
VG_EXPORT CUresult cuGraphGetRootNodes(CUgraph hGraph, CUgraphNode *rootNodes, size_t *numRootNodes) {
  VG_TRACED(list_query(VG_OP_cuGraphGetRootNodes, VG_H_GRAPH, hGraph, -1, rootNodes, NULL, NULL, numRootNodes));
}
VG_EXPORT CUresult cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges) {
  VG_TRACED(list_query(VG_OP_cuGraphGetEdges_v2, VG_H_GRAPH, hGraph, 0, from, to, NULL, numEdges));
}
VG_EXPORT CUresult cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edgeData,
                                      size_t *numEdges) {
  VG_TRACED(list_query(VG_OP_cuGraphGetEdges_v2, VG_H_GRAPH, hGraph, 1, from, to, edgeData, numEdges));
}
VG_EXPORT CUresult cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies, size_t *numDependencies) {
  VG_TRACED(list_query(VG_OP_cuGraphNodeGetDependencies_v2, VG_H_GRAPHNODE, hNode, 0, dependencies, NULL, NULL,
                       numDependencies));
}
VG_EXPORT CUresult cuGraphNodeGetDependencies_v2(CUgraphNode hNode, CUgraphNode *dependencies, CUgraphEdgeData *edgeData,
                                                 size_t *numDependencies) {
  VG_TRACED(list_query(VG_OP_cuGraphNodeGetDependencies_v2, VG_H_GRAPHNODE, hNode, 1, dependencies, NULL, edgeData,
                       numDependencies));
}
VG_EXPORT CUresult cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes, size_t *numDependentNodes) {
  VG_TRACED(list_query(VG_OP_cuGraphNodeGetDependentNodes_v2, VG_H_GRAPHNODE, hNode, 0, dependentNodes, NULL, NULL,
                       numDependentNodes));
}
VG_EXPORT CUresult cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                                   CUgraphEdgeData *edgeData, size_t *numDependentNodes) {
  VG_TRACED(list_query(VG_OP_cuGraphNodeGetDependentNodes_v2, VG_H_GRAPHNODE, hNode, 1, dependentNodes, NULL, edgeData,
                       numDependentNodes));
}

/* Parameter values of the last kernel-parameter query of each node. The driver's kernelParams stay
 * valid until the node changes, and callers query more than once (cudart does) and may keep the
 * first answer: a query that returns the same values returns the same storage; other values
 * replace it. */
typedef struct param_store {
  const void *node;
  void **argv;
  size_t bytes; /* of the allocation argv heads */
  struct param_store *next;
} param_store;
static pthread_mutex_t g_params_mu = PTHREAD_MUTEX_INITIALIZER;
static param_store *g_params;

/* The storage to hand out for argv (bytes long) of node: the kept one when equal (argv is freed),
 * else argv, now kept; NULL argv keeps nothing. */
static void **params_keep(const void *node, void **argv, size_t bytes, uint32_t n) {
  if (!argv) return NULL;
  pthread_mutex_lock(&g_params_mu);
  param_store *e = g_params;
  while (e && e->node != node) e = e->next;
  /* Equal: same size and the same values (the pointer arrays differ: compare past them). */
  if (e && e->bytes == bytes && !memcmp((uint8_t *)e->argv + n * sizeof *argv, (uint8_t *)argv + n * sizeof *argv,
                                        bytes - n * sizeof *argv)) {
    free(argv);
    argv = e->argv;
  } else if (e) {
    free(e->argv);
    e->argv = argv;
    e->bytes = bytes;
  } else if ((e = malloc(sizeof *e))) {
    e->node = node;
    e->argv = argv;
    e->bytes = bytes;
    e->next = g_params;
    g_params = e;
  }
  pthread_mutex_unlock(&g_params_mu);
  return argv;
}

/* n parameter values, each as u32 size + bytes, into one allocation: the pointer array followed by
 * the values (*argv, malloc'ed). */
static CUresult read_values(vg_call *c, uint32_t n, void ***argv, size_t *bytes) {
  if (n > 4096) return CUDA_ERROR_DEVICE_UNAVAILABLE; /* more than a launch can carry */
  size_t total = 0, offs[4096];
  uint8_t *vals = NULL;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t sz = vg_get_u32(c);
    uint8_t *grown = sz <= 32768 ? realloc(vals, total + sz + 1) : NULL;
    if (!grown) {
      free(vals);
      return sz > 32768 ? CUDA_ERROR_DEVICE_UNAVAILABLE : CUDA_ERROR_OUT_OF_MEMORY;
    }
    vals = grown;
    vg_get_bytes(c, vals + total, sz);
    offs[i] = total;
    total += sz;
  }
  *bytes = n * sizeof(void *) + total + 1;
  void **out = malloc(*bytes);
  if (out) {
    uint8_t *store = (uint8_t *)(out + n);
    if (total) memcpy(store, vals, total);
    store[total] = 0;
    for (uint32_t i = 0; i < n; i++) out[i] = store + offs[i];
  }
  free(vals);
  *argv = out;
  return out ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

/* The reply: u8 kind (0 none; func: 1 a function, 2 a kernel; 3 kern), u64 id, grid, block, shared memory, then the
 * parameter values (u32 count or 0xffffffff, each as u32 size + bytes). argv is one allocation:
 * the pointer array followed by the values. */
static CUresult kernel_node_params(CUgraphNode node, CUDA_KERNEL_NODE_PARAMS *out) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuGraphKernelNodeGetParams_v2, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPHNODE, node, 0);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof p);
    uint8_t kind = vg_get_u8(&c);
    uint64_t rid = vg_get_u64(&c);
    void *fh = rid == 0 ? NULL : vg_handle_find(kind == 1 ? VG_H_FUNCTION : VG_H_KERNEL, rid);
    if (kind == 3) p.kern = (CUkernel)fh;
    else p.func = (CUfunction)fh; /* a CUkernel is accepted wherever a CUfunction is */
    p.gridDimX = vg_get_u32(&c); p.gridDimY = vg_get_u32(&c); p.gridDimZ = vg_get_u32(&c);
    p.blockDimX = vg_get_u32(&c); p.blockDimY = vg_get_u32(&c); p.blockDimZ = vg_get_u32(&c);
    p.sharedMemBytes = vg_get_u32(&c);
    uint32_t n = vg_get_u32(&c);
    void **argv = NULL;
    size_t bytes = 0;
    if (n != 0xffffffffu && n > 0) r = read_values(&c, n, &argv, &bytes);
    if (r == CUDA_SUCCESS) {
      p.kernelParams = params_keep(node, argv, bytes, n);
      *out = p;
    }
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  VG_TRACED(kernel_node_params(hNode, nodeParams));
}
/* The older form: its struct is the v2 struct without kern and ctx. */
static CUresult kernel_node_params_v1(CUgraphNode node, CUDA_KERNEL_NODE_PARAMS_v1 *out) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  CUDA_KERNEL_NODE_PARAMS p;
  CUresult r = kernel_node_params(node, &p);
  _Static_assert(sizeof *out <= sizeof p, "v1 is a prefix of v2");
  if (r == CUDA_SUCCESS) memcpy(out, &p, sizeof *out);
  return r;
}

VG_EXPORT CUresult cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  VG_TRACED(kernel_node_params_v1(hNode, nodeParams));
}
