/*
 * Graph editing: adding nodes, changing their parameters in a graph or in an exec, reading them
 * back, edges, clones' nodes and exec nodes' enabled state (spec/cuda.spec.h, "Graph editing";
 * src/executor/custom/graph-edit.ts). Each verb is one wire op whatever the node type: the
 * operation travels as its type and what that type needs. Kernel parameters are packed here per
 * the kernel's layout, as launches pack them. Copies and memsets name device memory only: a copy
 * node reading or writing host memory or a CUDA array would need the guest's memory at launch
 * time, which the host does not have, and is refused with CUDA_ERROR_NOT_SUPPORTED. Host nodes
 * keep the guest's function, which runs here when the graph is launched (graph_host.c).
 */
#include "vgcuda.h"

#include <string.h>

#include "graph_host.h"
#include "layout.h"
#include "rpc.h"

/* The executor's limit on one node array (MAX_NODES in src/executor/custom/graph-edit.ts). */
#define MAX_NODES ((size_t)1 << 18)
/* An id no handle has (executor ids start at 0x1000): a node the guest does not know. */
#define NO_NODE 1u

/* One node operation, of the typed or the generic API. */
typedef struct node_op {
  CUgraphNodeType type;
  CUDA_KERNEL_NODE_PARAMS kernel;
  const CUDA_MEMCPY3D *copy;
  CUDA_MEMSET_NODE_PARAMS set;
  CUDA_HOST_NODE_PARAMS host;
  CUcontext ctx; /* of a copy or memset */
  CUevent event;
  CUgraph graph;
} node_op;

static void put_nodes(vg_call *c, const CUgraphNode *nodes, size_t n) {
  for (size_t i = 0; nodes && i < n; i++) {
    uint64_t rid = 0;
    if (nodes[i] && vg_handle_get(nodes[i], VG_H_GRAPHNODE, &rid, NULL) != 0) rid = NO_NODE;
    vg_put_u64(c, rid);
  }
}

/* Writes the operation; buf is scratch for packed kernel parameters (VG_MAX_PARAM_BYTES). */
static CUresult put_op(vg_call *c, const node_op *op, uint8_t *buf) {
  vg_put_u32(c, (uint32_t)op->type);
  switch (op->type) {
  case CU_GRAPH_NODE_TYPE_KERNEL: {
    const CUDA_KERNEL_NODE_PARAMS *p = &op->kernel;
    int as_kern = !p->func && p->kern;
    const void *f = p->func ? (const void *)p->func : (const void *)p->kern;
    vg_put_handle(c, VG_H_FUNCTION, f, 1);
    vg_put_u8(c, (uint8_t)as_kern);
    vg_put_handle(c, VG_H_CONTEXT, as_kern ? p->ctx : NULL, 1);
    vg_put_u32(c, p->gridDimX); vg_put_u32(c, p->gridDimY); vg_put_u32(c, p->gridDimZ);
    vg_put_u32(c, p->blockDimX); vg_put_u32(c, p->blockDimY); vg_put_u32(c, p->blockDimZ);
    vg_put_u32(c, p->sharedMemBytes);
    const vg_layout *l = f ? vg_layout_of(f) : NULL;
    vg_put_u8(c, l != NULL);
    if (l) {
      long n = vg_layout_pack(l, p->kernelParams, p->extra, buf);
      if (n < 0) return CUDA_ERROR_INVALID_VALUE;
      vg_put_bytes(c, buf, (uint64_t)n);
    }
    return CUDA_SUCCESS;
  }
  case CU_GRAPH_NODE_TYPE_MEMCPY: {
    const CUDA_MEMCPY3D *p = op->copy;
    if (p->srcMemoryType == CU_MEMORYTYPE_HOST || p->dstMemoryType == CU_MEMORYTYPE_HOST ||
        p->srcMemoryType == CU_MEMORYTYPE_ARRAY || p->dstMemoryType == CU_MEMORYTYPE_ARRAY)
      return vg_unsupported("graph memcpy nodes with host memory or CUDA arrays");
    vg_put_handle(c, VG_H_CONTEXT, op->ctx, 1);
    _Static_assert(sizeof *p == 200, "CUDA_MEMCPY3D is 200 bytes");
    vg_put_raw(c, p, sizeof *p);
    return CUDA_SUCCESS;
  }
  case CU_GRAPH_NODE_TYPE_MEMSET:
    vg_put_handle(c, VG_H_CONTEXT, op->ctx, 1);
    _Static_assert(sizeof op->set == 40, "CUDA_MEMSET_NODE_PARAMS is 40 bytes");
    vg_put_raw(c, &op->set, sizeof op->set);
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_HOST:
    vg_put_u64(c, (uint64_t)(uintptr_t)op->host.fn);
    vg_put_u64(c, (uint64_t)(uintptr_t)op->host.userData);
    if (op->host.fn) vg_graph_host_made();
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
  case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
    vg_put_handle(c, VG_H_EVENT, op->event, 1);
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_GRAPH:
    vg_put_handle(c, VG_H_GRAPH, op->graph, 1);
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_EMPTY:
    return CUDA_SUCCESS;
  default:
    return vg_unsupported("graph nodes of this type (memory allocation, external semaphores, batch memops, conditional)");
  }
}

/* What must be asked of the host before the operation's own call begins. */
static CUresult op_check(const node_op *op) {
  return op->type == CU_GRAPH_NODE_TYPE_GRAPH ? vg_graph_host_child_ok(op->graph) : CUDA_SUCCESS;
}

/* ---- adding nodes ------------------------------------------------------------------------------ */

static CUresult add_node(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, const node_op *op) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (n > MAX_NODES) return CUDA_ERROR_INVALID_VALUE;
  uint8_t buf[VG_MAX_PARAM_BYTES];
  vg_call c;
  CUresult r = op_check(op);
  if (r || (r = vg_call_begin(&c, VG_OP_cuGraphAddNode_v2, 0))) return r;
  vg_put_handle(&c, VG_H_GRAPH, g, 0);
  vg_put_u8(&c, out != NULL);
  vg_put_u64(&c, n);
  vg_put_u8(&c, deps != NULL);
  put_nodes(&c, deps, n);
  r = put_op(&c, op, buf);
  if (r) return vg_call_end(&c, r);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    CUgraphNode node = (CUgraphNode)vg_get_new_handle(&c, VG_H_GRAPHNODE);
    if (out) *out = node;
  }
  return vg_call_end(&c, r);
}

/* The v1 kernel parameters are the v2 ones without kern and ctx. */
static void kernel_v2(CUDA_KERNEL_NODE_PARAMS *dst, const CUDA_KERNEL_NODE_PARAMS_v1 *src) {
  memset(dst, 0, sizeof *dst);
  _Static_assert(sizeof *src <= sizeof *dst, "v1 is a prefix of v2");
  memcpy(dst, src, sizeof *src);
}

/* The operation a CUgraphNodeParams describes, with softgpu's and the driver's checks of the
 * fields that have no wire meaning. */
static CUresult op_from_params(node_op *op, const CUgraphNodeParams *p, int adding) {
  static const int zero[3];
  memset(op, 0, sizeof *op);
  if (!p || memcmp(p->reserved0, zero, sizeof zero) || p->reserved2) return CUDA_ERROR_INVALID_VALUE;
  op->type = p->type;
  switch (p->type) {
  case CU_GRAPH_NODE_TYPE_KERNEL:
    _Static_assert(sizeof p->kernel == sizeof op->kernel, "kernel node parameters v3 == v2");
    memcpy(&op->kernel, &p->kernel, sizeof op->kernel);
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_MEMCPY:
    if (p->memcpy.flags || p->memcpy.reserved) return CUDA_ERROR_INVALID_VALUE;
    op->ctx = p->memcpy.copyCtx;
    op->copy = &p->memcpy.copyParams;
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_MEMSET: {
    const CUDA_MEMSET_NODE_PARAMS_v2 *m = &p->memset;
    op->set = (CUDA_MEMSET_NODE_PARAMS){m->dst, m->pitch, m->value, m->elementSize, m->width, m->height};
    op->ctx = m->ctx;
    return CUDA_SUCCESS;
  }
  case CU_GRAPH_NODE_TYPE_HOST:
    if (!p->host.fn) return CUDA_ERROR_INVALID_VALUE;
    op->host = (CUDA_HOST_NODE_PARAMS){p->host.fn, p->host.userData};
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_GRAPH:
    if (p->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE)
      return vg_unsupported("child graph nodes that take ownership of the graph");
    op->graph = p->graph.graph;
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
    op->event = p->eventRecord.event;
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
    op->event = p->eventWait.event;
    return CUDA_SUCCESS;
  case CU_GRAPH_NODE_TYPE_EMPTY:
    return adding ? CUDA_SUCCESS : vg_unsupported("cuGraphNodeSetParams of an empty node");
  default:
    return vg_unsupported("graph nodes of this type (memory allocation, external semaphores, batch memops, conditional)");
  }
}

static int edges_default(const CUgraphEdgeData *e, size_t n) {
  static const CUgraphEdgeData zero;
  for (size_t i = 0; e && i < n; i++)
    if (memcmp(&e[i], &zero, sizeof zero)) return 0;
  return 1;
}

static CUresult add_generic(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *data, size_t n,
                            const CUgraphNodeParams *p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  /* Edges other than the default need programmatic dependent launch, which vgpu does not carry. */
  if (!edges_default(data, n)) return vg_unsupported("graph edges with data");
  node_op op;
  CUresult r = op_from_params(&op, p, 1);
  return r ? r : add_node(out, g, deps, n, &op);
}

VG_EXPORT CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                     const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                     CUgraphNodeParams *nodeParams) {
  VG_TRACED(add_generic(phGraphNode, hGraph, dependencies, dependencyData, numDependencies, nodeParams));
}
VG_EXPORT CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                  size_t numDependencies, CUgraphNodeParams *nodeParams) {
  VG_TRACED(add_generic(phGraphNode, hGraph, dependencies, NULL, numDependencies, nodeParams));
}

static CUresult add_kernel(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, const CUDA_KERNEL_NODE_PARAMS *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_KERNEL, .kernel = *p};
  return add_node(out, g, deps, n, &op);
}
static CUresult add_kernel_v1(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                              const CUDA_KERNEL_NODE_PARAMS_v1 *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_KERNEL_NODE_PARAMS v2;
  kernel_v2(&v2, p);
  return add_kernel(out, g, deps, n, &v2);
}

VG_EXPORT CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                           size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  VG_TRACED(add_kernel(phGraphNode, hGraph, dependencies, numDependencies, nodeParams));
}
VG_EXPORT CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                        size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  VG_TRACED(add_kernel_v1(phGraphNode, hGraph, dependencies, numDependencies, nodeParams));
}

static CUresult add_memcpy(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, const CUDA_MEMCPY3D *p,
                           CUcontext ctx) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_MEMCPY, .copy = p, .ctx = ctx};
  return add_node(out, g, deps, n, &op);
}
VG_EXPORT CUresult cuGraphAddMemcpyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                        size_t numDependencies, const CUDA_MEMCPY3D *copyParams, CUcontext ctx) {
  VG_TRACED(add_memcpy(phGraphNode, hGraph, dependencies, numDependencies, copyParams, ctx));
}

static CUresult add_memset(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                           const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_MEMSET, .set = *p, .ctx = ctx};
  return add_node(out, g, deps, n, &op);
}
VG_EXPORT CUresult cuGraphAddMemsetNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                        size_t numDependencies, const CUDA_MEMSET_NODE_PARAMS *memsetParams,
                                        CUcontext ctx) {
  VG_TRACED(add_memset(phGraphNode, hGraph, dependencies, numDependencies, memsetParams, ctx));
}

static CUresult add_host(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, const CUDA_HOST_NODE_PARAMS *p) {
  if (!p || !p->fn) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_HOST, .host = *p};
  return add_node(out, g, deps, n, &op);
}
VG_EXPORT CUresult cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                      size_t numDependencies, const CUDA_HOST_NODE_PARAMS *nodeParams) {
  VG_TRACED(add_host(phGraphNode, hGraph, dependencies, numDependencies, nodeParams));
}

static CUresult add_simple(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, CUgraphNodeType type,
                           CUevent e, CUgraph child) {
  node_op op = {.type = type, .event = e, .graph = child};
  return add_node(out, g, deps, n, &op);
}
VG_EXPORT CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                       size_t numDependencies) {
  VG_TRACED(add_simple(phGraphNode, hGraph, dependencies, numDependencies, CU_GRAPH_NODE_TYPE_EMPTY, NULL, NULL));
}
VG_EXPORT CUresult cuGraphAddEventRecordNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                             size_t numDependencies, CUevent event) {
  VG_TRACED(add_simple(phGraphNode, hGraph, dependencies, numDependencies, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event, NULL));
}
VG_EXPORT CUresult cuGraphAddEventWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                           size_t numDependencies, CUevent event) {
  VG_TRACED(add_simple(phGraphNode, hGraph, dependencies, numDependencies, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event, NULL));
}
VG_EXPORT CUresult cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                            size_t numDependencies, CUgraph childGraph) {
  VG_TRACED(add_simple(phGraphNode, hGraph, dependencies, numDependencies, CU_GRAPH_NODE_TYPE_GRAPH, NULL, childGraph));
}

/* ---- setting parameters in a graph ------------------------------------------------------------- */

static CUresult set_node(CUgraphNode node, const node_op *op) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  uint8_t buf[VG_MAX_PARAM_BYTES];
  vg_call c;
  CUresult r = op_check(op);
  if (r || (r = vg_call_begin(&c, VG_OP_cuGraphNodeSetParams, 0))) return r;
  vg_put_handle(&c, VG_H_GRAPHNODE, node, 0);
  r = put_op(&c, op, buf);
  return vg_call_end(&c, r ? r : vg_call_invoke(&c));
}

/* An empty node has no parameters: setting it checks that the node is one. */
static CUresult set_generic(CUgraphNode node, const CUgraphNodeParams *p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  node_op op;
  if (p && p->type == CU_GRAPH_NODE_TYPE_EMPTY && !memcmp(p->reserved0, (int[3]){0}, sizeof p->reserved0) && !p->reserved2) {
    CUgraphNodeType t;
    CUresult r = cuGraphNodeGetType(node, &t);
    return r ? r : t == CU_GRAPH_NODE_TYPE_EMPTY ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
  }
  CUresult r = op_from_params(&op, p, 0);
  if (!r && op.type == CU_GRAPH_NODE_TYPE_GRAPH) r = vg_unsupported("cuGraphNodeSetParams of a child graph node");
  return r ? r : set_node(node, &op);
}
VG_EXPORT CUresult cuGraphNodeSetParams(CUgraphNode hNode, CUgraphNodeParams *nodeParams) {
  VG_TRACED(set_generic(hNode, nodeParams));
}

static CUresult set_kernel(CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_KERNEL, .kernel = *p};
  return set_node(node, &op);
}
static CUresult set_kernel_v1(CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS_v1 *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_KERNEL_NODE_PARAMS v2;
  kernel_v2(&v2, p);
  return set_kernel(node, &v2);
}
VG_EXPORT CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  VG_TRACED(set_kernel(hNode, nodeParams));
}
VG_EXPORT CUresult cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  VG_TRACED(set_kernel_v1(hNode, nodeParams));
}

static CUresult set_memcpy(CUgraphNode node, const CUDA_MEMCPY3D *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_MEMCPY, .copy = p};
  return set_node(node, &op);
}
VG_EXPORT CUresult cuGraphMemcpyNodeSetParams(CUgraphNode hNode, const CUDA_MEMCPY3D *nodeParams) {
  VG_TRACED(set_memcpy(hNode, nodeParams));
}

static CUresult set_memset(CUgraphNode node, const CUDA_MEMSET_NODE_PARAMS *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_MEMSET, .set = *p};
  return set_node(node, &op);
}
VG_EXPORT CUresult cuGraphMemsetNodeSetParams(CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *nodeParams) {
  VG_TRACED(set_memset(hNode, nodeParams));
}

static CUresult set_host(CUgraphNode node, const CUDA_HOST_NODE_PARAMS *p) {
  if (!p || !p->fn) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_HOST, .host = *p};
  return set_node(node, &op);
}
VG_EXPORT CUresult cuGraphHostNodeSetParams(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *nodeParams) {
  VG_TRACED(set_host(hNode, nodeParams));
}

static CUresult set_event(CUgraphNode node, CUgraphNodeType type, CUevent e) {
  node_op op = {.type = type, .event = e};
  return set_node(node, &op);
}
VG_EXPORT CUresult cuGraphEventRecordNodeSetEvent(CUgraphNode hNode, CUevent event) {
  VG_TRACED(set_event(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event));
}
VG_EXPORT CUresult cuGraphEventWaitNodeSetEvent(CUgraphNode hNode, CUevent event) {
  VG_TRACED(set_event(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event));
}

/* ---- setting parameters in an exec ------------------------------------------------------------- */

static CUresult exec_send(CUgraphExec x, CUgraphNode node, const node_op *op) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  uint8_t buf[VG_MAX_PARAM_BYTES];
  vg_call c;
  CUresult r = op_check(op);
  if (r || (r = vg_call_begin(&c, VG_OP_cuGraphExecNodeSetParams, 0))) return r;
  vg_put_handle(&c, VG_H_GRAPHEXEC, x, 0);
  vg_put_handle(&c, VG_H_GRAPHNODE, node, 0);
  r = put_op(&c, op, buf);
  return vg_call_end(&c, r ? r : vg_call_invoke(&c));
}

/* The exec's host plan (graph_host.c) follows every change the host accepted: a host node's
 * function is the plan's, any other node is one of a piece's. */
static CUresult exec_set(CUgraphExec x, CUgraphNode node, const node_op *op) {
  CUresult r = exec_send(x, node, op);
  CUgraphExec piece;
  CUgraphNode piece_node;
  if (r == CUDA_SUCCESS && op->type == CU_GRAPH_NODE_TYPE_HOST) vg_graph_host_exec_set(x, node, &op->host);
  else if (r == CUDA_SUCCESS && vg_graph_host_piece(x, node, &piece, &piece_node)) r = exec_send(piece, piece_node, op);
  return r;
}

static CUresult exec_set_generic(CUgraphExec x, CUgraphNode node, const CUgraphNodeParams *p) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  node_op op;
  CUresult r = op_from_params(&op, p, 0);
  return r ? r : exec_set(x, node, &op);
}
VG_EXPORT CUresult cuGraphExecNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeParams *nodeParams) {
  VG_TRACED(exec_set_generic(hGraphExec, hNode, nodeParams));
}

static CUresult exec_kernel(CUgraphExec x, CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_KERNEL, .kernel = *p};
  return exec_set(x, node, &op);
}
static CUresult exec_kernel_v1(CUgraphExec x, CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS_v1 *p) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_KERNEL_NODE_PARAMS v2;
  kernel_v2(&v2, p);
  return exec_kernel(x, node, &v2);
}
VG_EXPORT CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                     const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  VG_TRACED(exec_kernel(hGraphExec, hNode, nodeParams));
}
VG_EXPORT CUresult cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                  const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  VG_TRACED(exec_kernel_v1(hGraphExec, hNode, nodeParams));
}

static CUresult exec_memcpy(CUgraphExec x, CUgraphNode node, const CUDA_MEMCPY3D *p, CUcontext ctx) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_MEMCPY, .copy = p, .ctx = ctx};
  return exec_set(x, node, &op);
}
VG_EXPORT CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                  const CUDA_MEMCPY3D *copyParams, CUcontext ctx) {
  VG_TRACED(exec_memcpy(hGraphExec, hNode, copyParams, ctx));
}

static CUresult exec_memset(CUgraphExec x, CUgraphNode node, const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx) {
  if (!p) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_MEMSET, .set = *p, .ctx = ctx};
  return exec_set(x, node, &op);
}
VG_EXPORT CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                  const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx) {
  VG_TRACED(exec_memset(hGraphExec, hNode, memsetParams, ctx));
}

static CUresult exec_host(CUgraphExec x, CUgraphNode node, const CUDA_HOST_NODE_PARAMS *p) {
  if (!p || !p->fn) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  node_op op = {.type = CU_GRAPH_NODE_TYPE_HOST, .host = *p};
  return exec_set(x, node, &op);
}
VG_EXPORT CUresult cuGraphExecHostNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_HOST_NODE_PARAMS *nodeParams) {
  VG_TRACED(exec_host(hGraphExec, hNode, nodeParams));
}

static CUresult exec_simple(CUgraphExec x, CUgraphNode node, CUgraphNodeType type, CUevent e, CUgraph child) {
  node_op op = {.type = type, .event = e, .graph = child};
  return exec_set(x, node, &op);
}
VG_EXPORT CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event) {
  VG_TRACED(exec_simple(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event, NULL));
}
VG_EXPORT CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event) {
  VG_TRACED(exec_simple(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event, NULL));
}
VG_EXPORT CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraph childGraph) {
  VG_TRACED(exec_simple(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_GRAPH, NULL, childGraph));
}

/* ---- getters ----------------------------------------------------------------------------------- */

/* The reply of the getter of `type`, read into out (NULL: the host saw a NULL output too). */
static CUresult get_params(CUgraphNode node, CUgraphNodeType type, void *out) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuGraphMemcpyNodeGetParams, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPHNODE, node, 0);
  vg_put_u32(&c, (uint32_t)type);
  vg_put_u8(&c, out != NULL);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS && out) {
    switch (type) {
    case CU_GRAPH_NODE_TYPE_MEMCPY: {
      CUDA_MEMCPY3D *p = out;
      vg_get_bytes(&c, p, sizeof *p);
      break;
    }
    case CU_GRAPH_NODE_TYPE_MEMSET: {
      CUDA_MEMSET_NODE_PARAMS *p = out;
      vg_get_bytes(&c, p, sizeof *p);
      break;
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
      CUDA_HOST_NODE_PARAMS *p = out;
      p->fn = (CUhostFn)(uintptr_t)vg_get_u64(&c);
      p->userData = (void *)(uintptr_t)vg_get_u64(&c);
      break;
    }
    case CU_GRAPH_NODE_TYPE_GRAPH:
      *(CUgraph *)out = (CUgraph)vg_get_new_handle(&c, VG_H_GRAPH);
      break;
    default:
      *(CUevent *)out = (CUevent)vg_handle_find(VG_H_EVENT, vg_get_u64(&c));
      break;
    }
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuGraphMemcpyNodeGetParams(CUgraphNode hNode, CUDA_MEMCPY3D *nodeParams) {
  VG_TRACED(get_params(hNode, CU_GRAPH_NODE_TYPE_MEMCPY, nodeParams));
}
VG_EXPORT CUresult cuGraphMemsetNodeGetParams(CUgraphNode hNode, CUDA_MEMSET_NODE_PARAMS *nodeParams) {
  VG_TRACED(get_params(hNode, CU_GRAPH_NODE_TYPE_MEMSET, nodeParams));
}
VG_EXPORT CUresult cuGraphHostNodeGetParams(CUgraphNode hNode, CUDA_HOST_NODE_PARAMS *nodeParams) {
  VG_TRACED(get_params(hNode, CU_GRAPH_NODE_TYPE_HOST, nodeParams));
}
VG_EXPORT CUresult cuGraphEventRecordNodeGetEvent(CUgraphNode hNode, CUevent *event_out) {
  VG_TRACED(get_params(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event_out));
}
VG_EXPORT CUresult cuGraphEventWaitNodeGetEvent(CUgraphNode hNode, CUevent *event_out) {
  VG_TRACED(get_params(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event_out));
}
VG_EXPORT CUresult cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph) {
  VG_TRACED(get_params(hNode, CU_GRAPH_NODE_TYPE_GRAPH, phGraph));
}

/* ---- clones, edges, enabled state ------------------------------------------------------------- */

static CUresult find_in_clone(CUgraphNode *out, CUgraphNode orig, CUgraph clone) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuGraphNodeFindInClone, 0);
  if (r) return r;
  vg_put_u8(&c, out != NULL);
  vg_put_handle(&c, VG_H_GRAPHNODE, orig, 0);
  vg_put_handle(&c, VG_H_GRAPH, clone, 0);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    CUgraphNode n = (CUgraphNode)vg_get_new_handle(&c, VG_H_GRAPHNODE);
    if (out) *out = n;
  }
  return vg_call_end(&c, r);
}
VG_EXPORT CUresult cuGraphNodeFindInClone(CUgraphNode *phNode, CUgraphNode hOriginalNode, CUgraph hClonedGraph) {
  VG_TRACED(find_in_clone(phNode, hOriginalNode, hClonedGraph));
}

static CUresult edit_edges(uint32_t op, CUgraph g, int v2, const CUgraphNode *from, const CUgraphNode *to,
                           const CUgraphEdgeData *data, size_t n) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  if (n > MAX_NODES) return CUDA_ERROR_INVALID_VALUE;
  vg_call c;
  CUresult r = vg_call_begin(&c, op, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPH, g, 0);
  vg_put_u8(&c, (uint8_t)v2);
  vg_put_u64(&c, n);
  vg_put_u8(&c, (uint8_t)((from ? 1 : 0) | (to ? 2 : 0) | (data ? 4 : 0)));
  put_nodes(&c, from, n);
  put_nodes(&c, to, n);
  _Static_assert(sizeof *data == 8, "CUgraphEdgeData is 8 bytes");
  if (data) vg_put_raw(&c, data, n * sizeof *data);
  return vg_call_end(&c, vg_call_invoke(&c));
}
VG_EXPORT CUresult cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                          size_t numDependencies) {
  VG_TRACED(edit_edges(VG_OP_cuGraphAddDependencies_v2, hGraph, 0, from, to, NULL, numDependencies));
}
VG_EXPORT CUresult cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                             const CUgraphEdgeData *edgeData, size_t numDependencies) {
  VG_TRACED(edit_edges(VG_OP_cuGraphAddDependencies_v2, hGraph, 1, from, to, edgeData, numDependencies));
}
VG_EXPORT CUresult cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                             size_t numDependencies) {
  VG_TRACED(edit_edges(VG_OP_cuGraphRemoveDependencies_v2, hGraph, 0, from, to, NULL, numDependencies));
}
VG_EXPORT CUresult cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                                const CUgraphEdgeData *edgeData, size_t numDependencies) {
  VG_TRACED(edit_edges(VG_OP_cuGraphRemoveDependencies_v2, hGraph, 1, from, to, edgeData, numDependencies));
}

static CUresult enabled(CUgraphExec x, CUgraphNode node, int get, unsigned set, unsigned *out) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuGraphNodeSetEnabled, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPHEXEC, x, 0);
  vg_put_handle(&c, VG_H_GRAPHNODE, node, 0);
  vg_put_u8(&c, (uint8_t)get);
  if (get) vg_put_u8(&c, out != NULL);
  else vg_put_u32(&c, set);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS && get && out) *out = vg_get_u32(&c);
  r = vg_call_end(&c, r);
  if (r == CUDA_SUCCESS && !get) r = vg_graph_host_exec_enable(x, node, set);
  return r;
}
VG_EXPORT CUresult cuGraphNodeSetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int isEnabled) {
  VG_TRACED(enabled(hGraphExec, hNode, 0, isEnabled, NULL));
}
VG_EXPORT CUresult cuGraphNodeGetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int *isEnabled) {
  VG_TRACED(enabled(hGraphExec, hNode, 1, 0, isEnabled));
}
