/*
 * The type-generic node API (cuGraphAddNode, cuGraphNodeSetParams, cuGraphExecNodeSetParams),
 * child-graph nodes, event nodes, and the edge queries in the "dependent" direction.
 *
 * Node types softgpu can run: kernel, memcpy, memset, host, child graph, event record, event
 * wait and empty. Memory allocation/free, external semaphore, batch memop and conditional nodes
 * are refused with CUDA_ERROR_NOT_SUPPORTED.
 */
#include "sg_graph.h"

#include <stdlib.h>
#include <string.h>

static int zero_bytes(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

/* A private instantiation of hChild, the body of a child-graph node, and the node's own copy of
 * the graph (sg_op.child_graph). */
static CUresult child_op(sg_op *op, sg_ctx *c, CUgraph hChild) {
  memset(op, 0, sizeof *op);
  sg_graph_lock();
  sg_graph *child = sg_graph_find(hChild);
  CUresult rc = child ? sg_exec_private(child, &op->u.child) : sg_graph_bad(hChild);
  if (!rc && (rc = sg_graph_clone(child, &op->child_graph))) {
    sg_exec_free(op->u.child);
    op->u.child = NULL;
  }
  sg_graph_unlock();
  if (!rc) {
    op->type = CU_GRAPH_NODE_TYPE_GRAPH;
    op->ctx = c;
  }
  return rc;
}

static CUresult event_op(sg_op *op, sg_ctx *c, CUgraphNodeType type, CUevent e) {
  CUresult rc = sg_event_check(e);
  if (rc) return rc;
  *op = (sg_op){.type = type, .ctx = c, .u.event = e};
  return CUDA_SUCCESS;
}

/* Builds the operation a CUgraphNodeParams describes, validated as the typed calls do. */
static CUresult op_from_params(sg_op *op, const CUgraphNodeParams *p) {
  memset(op, 0, sizeof *op);
  if (!p || !zero_bytes(p->reserved0, sizeof p->reserved0) || p->reserved2) return CUDA_ERROR_INVALID_VALUE;
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
      _Static_assert(sizeof(CUDA_KERNEL_NODE_PARAMS) == sizeof p->kernel, "kernel node params v2 == v3");
      CUDA_KERNEL_NODE_PARAMS k;
      memcpy(&k, &p->kernel, sizeof k);
      return sg_op_from_kernel_params(op, &k);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
      if (p->memcpy.flags || p->memcpy.reserved) return CUDA_ERROR_INVALID_VALUE;
      if (p->memcpy.copyCtx && (rc = sg_ctx_resolve(p->memcpy.copyCtx, &c))) return rc;
      return sg_op_copy(op, c, &p->memcpy.copyParams);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
      const CUDA_MEMSET_NODE_PARAMS_v2 *m = &p->memset;
      if (m->ctx && (rc = sg_ctx_resolve(m->ctx, &c))) return rc;
      CUDA_MEMSET_NODE_PARAMS v1 = {m->dst, m->pitch, m->value, m->elementSize, m->width, m->height};
      return sg_op_memset(op, c, &v1);
    }
    case CU_GRAPH_NODE_TYPE_HOST:
      if (!p->host.fn) return CUDA_ERROR_INVALID_VALUE;
      *op = (sg_op){.type = CU_GRAPH_NODE_TYPE_HOST, .ctx = c, .u.host = {p->host.fn, p->host.userData}};
      return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_GRAPH:
      if (p->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE) return CUDA_ERROR_NOT_SUPPORTED;
      return child_op(op, c, p->graph.graph);
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
      return event_op(op, c, CU_GRAPH_NODE_TYPE_EVENT_RECORD, p->eventRecord.event);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
      return event_op(op, c, CU_GRAPH_NODE_TYPE_WAIT_EVENT, p->eventWait.event);
    case CU_GRAPH_NODE_TYPE_EMPTY:
      *op = (sg_op){.type = CU_GRAPH_NODE_TYPE_EMPTY, .ctx = c};
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

static int edges_default(const CUgraphEdgeData *e, size_t n) {
  for (size_t i = 0; e && i < n; i++)
    if (!zero_bytes(&e[i], sizeof e[i])) return 0;
  return 1;
}

SG_EXPORT CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                     const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                     CUgraphNodeParams *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!phGraphNode) return CUDA_ERROR_INVALID_VALUE;
  if (!edges_default(dependencyData, numDependencies)) return CUDA_ERROR_NOT_SUPPORTED;
  sg_op op;
  CUresult rc = op_from_params(&op, nodeParams);
  return rc ? rc : sg_graph_add_node(phGraphNode, hGraph, dependencies, numDependencies, &op);
}

SG_EXPORT CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                  size_t numDependencies, CUgraphNodeParams *nodeParams) {
  return cuGraphAddNode_v2(phGraphNode, hGraph, dependencies, NULL, numDependencies, nodeParams);
}

SG_EXPORT CUresult cuGraphNodeSetParams(CUgraphNode hNode, CUgraphNodeParams *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_op op;
  CUresult rc = op_from_params(&op, nodeParams);
  return rc ? rc : sg_graph_set_node(hNode, &op);
}

SG_EXPORT CUresult cuGraphExecNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                            CUgraphNodeParams *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_op op;
  CUresult rc = op_from_params(&op, nodeParams);
  return rc ? rc : sg_exec_set_node(hGraphExec, hNode, &op);
}

/* ---- child graphs ------------------------------------------------------------------------------ */

SG_EXPORT CUresult cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                            const CUgraphNode *dependencies, size_t numDependencies,
                                            CUgraph childGraph) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!phGraphNode) return CUDA_ERROR_INVALID_VALUE;
  sg_op op;
  if ((rc = child_op(&op, c, childGraph))) return rc;
  return sg_graph_add_node(phGraphNode, hGraph, dependencies, numDependencies, &op);
}

SG_EXPORT CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraph childGraph) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  sg_op op;
  if ((rc = child_op(&op, c, childGraph))) return rc;
  return sg_exec_set_node(hGraphExec, hNode, &op);
}

/* The node's own copy of the child graph, not a clone: edits to it reach later instantiations and
 * clones of the parent, as on a GPU. A child made by launching an exec into a capture has no
 * graph, only its instantiation (NOT_SUPPORTED). */
SG_EXPORT CUresult cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_gnode *n = sg_gnode_find(hNode);
  CUresult rc = !n ? sg_graph_bad(hNode)
                : !phGraph || n->op.type != CU_GRAPH_NODE_TYPE_GRAPH ? CUDA_ERROR_INVALID_VALUE
                : !n->op.child_graph                                 ? CUDA_ERROR_NOT_SUPPORTED
                                                                     : CUDA_SUCCESS;
  if (!rc) *phGraph = (CUgraph)n->op.child_graph;
  sg_graph_unlock();
  return rc;
}

/* ---- event nodes ------------------------------------------------------------------------------- */

static CUresult get_event(CUgraphNode hNode, CUgraphNodeType type, CUevent *out) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_gnode *n = sg_gnode_find(hNode);
  CUresult rc = !n ? sg_graph_bad(hNode) : !out || n->op.type != type ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
  if (!rc) *out = n->op.u.event;
  sg_graph_unlock();
  return rc;
}

static CUresult set_event(CUgraphExec hExec, CUgraphNode hNode, CUgraphNodeType type, CUevent e) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = sg_ctx_get(&c);
  if (rc || (rc = event_op(&op, c, type, e))) return rc;
  return hExec ? sg_exec_set_node(hExec, hNode, &op) : sg_graph_set_node(hNode, &op);
}

SG_EXPORT CUresult cuGraphEventRecordNodeGetEvent(CUgraphNode hNode, CUevent *event_out) {
  return get_event(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event_out);
}
SG_EXPORT CUresult cuGraphEventRecordNodeSetEvent(CUgraphNode hNode, CUevent event) {
  return set_event(NULL, hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event);
}
SG_EXPORT CUresult cuGraphEventWaitNodeGetEvent(CUgraphNode hNode, CUevent *event_out) {
  return get_event(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event_out);
}
SG_EXPORT CUresult cuGraphEventWaitNodeSetEvent(CUgraphNode hNode, CUevent event) {
  return set_event(NULL, hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event);
}
SG_EXPORT CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event) {
  if (!hGraphExec) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return set_event(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event);
}
SG_EXPORT CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event) {
  if (!hGraphExec) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return set_event(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event);
}

/* ---- edges ------------------------------------------------------------------------------------- */

/* The size-query protocol shared with cuGraphGetNodes: NULL arrays ask for the count. */
static CUresult dependents(CUgraphNode hNode, CUgraphNode *out, CUgraphEdgeData *edges, size_t *num) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_gnode *n = sg_gnode_find(hNode);
  CUresult rc = !n ? sg_graph_bad(hNode) : !num || (edges && !out) ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
  if (!rc) {
    const sg_graph *g = n->graph;
    size_t k = 0, room = out ? *num : 0;
    for (size_t i = 0; i < g->n; i++)
      for (size_t j = 0; j < g->nodes[i]->ndeps; j++)
        if (g->nodes[i]->deps[j] == n) {
          if (k < room) out[k] = (CUgraphNode)g->nodes[i];
          k++;
        }
    for (size_t i = k; i < room; i++) out[i] = NULL;
    if (edges) memset(edges, 0, room * sizeof *edges);
    *num = out && k > room ? room : k;
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                                size_t *numDependentNodes) {
  return dependents(hNode, dependentNodes, NULL, numDependentNodes);
}
SG_EXPORT CUresult cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                                   CUgraphEdgeData *edgeData, size_t *numDependentNodes) {
  return dependents(hNode, dependentNodes, edgeData, numDependentNodes);
}

static CUresult edges_of(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edges, size_t *num) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc = !g ? sg_graph_bad(hGraph)
                : !num || (!from != !to) || (edges && !from) ? CUDA_ERROR_INVALID_VALUE
                                                              : CUDA_SUCCESS;
  if (!rc) {
    size_t k = 0, room = from ? *num : 0;
    for (size_t i = 0; i < g->n; i++)
      for (size_t j = 0; j < g->nodes[i]->ndeps; j++) {
        if (k < room) {
          from[k] = (CUgraphNode)g->nodes[i]->deps[j];
          to[k] = (CUgraphNode)g->nodes[i];
        }
        k++;
      }
    for (size_t i = k; i < room; i++) from[i] = to[i] = NULL;
    if (edges) memset(edges, 0, room * sizeof *edges);
    *num = from && k > room ? room : k;
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges) {
  return edges_of(hGraph, from, to, NULL, numEdges);
}
SG_EXPORT CUresult cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edgeData,
                                      size_t *numEdges) {
  return edges_of(hGraph, from, to, edgeData, numEdges);
}
