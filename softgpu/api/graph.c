/*
 * Graphs and their nodes: creation, destruction, cloning, adding nodes and edges, and the
 * structural queries (nodes, roots, type, dependencies). Node parameters are in graph_params.c, execs in
 * graph_exec.c. See sg_graph.h for the model and the locking rule.
 */
#include "sg_graph.h"

#include <stdlib.h>
#include <string.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t g_next_node_id = 1;

void sg_graph_lock(void) { pthread_mutex_lock(&g_lock); }
void sg_graph_unlock(void) { pthread_mutex_unlock(&g_lock); }

sg_graph *sg_graph_find(CUgraph h) { return sg_reg_find(h, SG_OBJ_GRAPH, NULL, NULL) ? (sg_graph *)h : NULL; }
sg_gnode *sg_gnode_find(CUgraphNode h) {
  return sg_reg_find(h, SG_OBJ_GNODE, NULL, NULL) ? (sg_gnode *)h : NULL;
}

sg_graph *sg_graph_new(sg_ctx *c) {
  sg_graph *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->ctx = c;
  if (sg_reg_add(g, SG_OBJ_GRAPH, c, 0) != 0) {
    free(g);
    return NULL;
  }
  return g;
}

static void node_free(sg_gnode *n) {
  sg_reg_remove(n, SG_OBJ_GNODE);
  sg_op_drop_child_graph(&n->op);
  sg_op_free(&n->op);
  free(n->deps);
  free(n);
}

void sg_graph_free(sg_graph *g) {
  sg_reg_remove(g, SG_OBJ_GRAPH);
  for (size_t i = 0; i < g->n; i++) node_free(g->nodes[i]);
  free(g->nodes);
  free(g);
}

void sg_graph_index(sg_graph *g) {
  for (size_t i = 0; i < g->n; i++) g->nodes[i]->index = i;
}

int sg_gnode_has_dependents(const sg_gnode *n) {
  const sg_graph *g = n->graph;
  for (size_t i = 0; i < g->n; i++)
    for (size_t j = 0; j < g->nodes[i]->ndeps; j++)
      if (g->nodes[i]->deps[j] == n) return 1;
  return 0;
}

static int has_dep(const sg_gnode *n, const sg_gnode *d) {
  for (size_t i = 0; i < n->ndeps; i++)
    if (n->deps[i] == d) return 1;
  return 0;
}

static void drop_dep(sg_gnode *n, const sg_gnode *d) {
  size_t k = 0;
  for (size_t i = 0; i < n->ndeps; i++)
    if (n->deps[i] != d) n->deps[k++] = n->deps[i];
  n->ndeps = k;
}

static CUresult push_dep(sg_gnode *n, sg_gnode *d) {
  if (n->ndeps == n->capdeps) {
    size_t cap = n->capdeps ? n->capdeps * 2 : 4;
    sg_gnode **deps = realloc(n->deps, cap * sizeof *deps);
    if (!deps) return CUDA_ERROR_OUT_OF_MEMORY;
    n->deps = deps;
    n->capdeps = cap;
  }
  n->deps[n->ndeps++] = d;
  return CUDA_SUCCESS;
}

/* Dependencies must be distinct live nodes of g. */
static CUresult check_deps(const sg_graph *g, sg_gnode *const *deps, size_t n) {
  if (n && !deps) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < n; i++) {
    if (!sg_gnode_find((CUgraphNode)deps[i]) || deps[i]->graph != g) return CUDA_ERROR_INVALID_VALUE;
    for (size_t j = 0; j < i; j++)
      if (deps[j] == deps[i]) return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult sg_graph_add(sg_graph *g, sg_op *op, sg_gnode *const *deps, size_t ndeps, sg_gnode **out) {
  CUresult rc = check_deps(g, deps, ndeps);
  sg_gnode *n = NULL;
  if (rc) goto fail;
  rc = CUDA_ERROR_OUT_OF_MEMORY;
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 16;
    sg_gnode **nodes = realloc(g->nodes, cap * sizeof *nodes);
    if (!nodes) goto fail;
    g->nodes = nodes;
    g->cap = cap;
  }
  if (!(n = calloc(1, sizeof *n))) goto fail;
  n->graph = g;
  n->id = atomic_fetch_add(&g_next_node_id, 1);
  if (ndeps && !(n->deps = malloc(ndeps * sizeof *n->deps))) goto fail;
  if (ndeps) memcpy(n->deps, deps, ndeps * sizeof *n->deps);
  n->ndeps = n->capdeps = ndeps;
  if (sg_reg_add(n, SG_OBJ_GNODE, g, 0) != 0) goto fail;
  n->op = *op;
  n->index = g->n;
  g->nodes[g->n++] = n;
  *out = n;
  return CUDA_SUCCESS;
fail:
  if (n) free(n->deps);
  free(n);
  sg_op_drop_child_graph(op);
  sg_op_free(op);
  return rc;
}

void sg_graph_release_ctx(sg_ctx *c) {
  size_t n;
  void **keys = sg_reg_take_owned(c, SG_OBJ_GRAPH, &n);
  sg_graph_lock();
  for (size_t i = 0; i < n; i++) {
    sg_graph *g = keys[i];
    g->capturing = 0;
    sg_graph_free(g);
  }
  sg_graph_unlock();
  free(keys);
}

/* ---- graphs ------------------------------------------------------------------------------- */

SG_EXPORT CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!phGraph || flags) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  sg_graph *g = sg_graph_new(c);
  sg_graph_unlock();
  if (!g) return CUDA_ERROR_OUT_OF_MEMORY;
  *phGraph = (CUgraph)g;
  return CUDA_SUCCESS;
}

/* A graph that an active capture is building belongs to the capture until it ends. */
SG_EXPORT CUresult cuGraphDestroy(CUgraph hGraph) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc = !g ? sg_graph_bad(hGraph) : g->capturing ? CUDA_ERROR_ILLEGAL_STATE : CUDA_SUCCESS;
  if (!rc) sg_graph_free(g);
  sg_graph_unlock();
  return rc;
}

/* ---- adding nodes ----------------------------------------------------------------------------
 * The operation is built (and validated) before the lock is taken; sg_graph_add takes it over. */

CUresult sg_graph_add_node(CUgraphNode *phNode, CUgraph hGraph, const CUgraphNode *deps, size_t n, sg_op *op) {
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc;
  sg_gnode *node;
  if (!g) {
    sg_op_drop_child_graph(op);
    sg_op_free(op);
    rc = sg_graph_bad(hGraph);
  } else if ((rc = sg_graph_add(g, op, (sg_gnode *const *)deps, n, &node)) == CUDA_SUCCESS) {
    *phNode = (CUgraphNode)node;
  }
  sg_graph_unlock();
  return rc;
}

/* Common checks of every cuGraphAdd*Node: a current context and the output pointer. */
static CUresult add_prelude(CUgraphNode *phNode, CUcontext hctx, sg_ctx **c) {
  CUresult rc = hctx ? sg_ctx_resolve(hctx, c) : sg_ctx_get(c);
  if (rc) return rc;
  return phNode ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult sg_op_from_kernel_params(sg_op *op, const CUDA_KERNEL_NODE_PARAMS *p) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  CUfunction f = p->func ? p->func : (CUfunction)p->kern;
  sg_ctx *c;
  CUresult rc = !p->func && p->ctx ? sg_ctx_resolve(p->ctx, &c) : sg_ctx_get(&c);
  if (rc) return rc;
  unsigned g[3] = {p->gridDimX, p->gridDimY, p->gridDimZ}, b[3] = {p->blockDimX, p->blockDimY, p->blockDimZ};
  return sg_op_kernel(op, c, f, g, b, p->sharedMemBytes, p->kernelParams, p->extra);
}

SG_EXPORT CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                           size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = add_prelude(phGraphNode, NULL, &c);
  if (rc || (rc = sg_op_from_kernel_params(&op, nodeParams))) return rc;
  return sg_graph_add_node(phGraphNode, hGraph, dependencies, numDependencies, &op);
}

SG_EXPORT CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                        size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (!nodeParams) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_KERNEL_NODE_PARAMS p;
  memset(&p, 0, sizeof p);
  memcpy(&p, nodeParams, sizeof *nodeParams); /* v2 extends v1 */
  return cuGraphAddKernelNode_v2(phGraphNode, hGraph, dependencies, numDependencies, &p);
}

SG_EXPORT CUresult cuGraphAddMemcpyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                        size_t numDependencies, const CUDA_MEMCPY3D *copyParams, CUcontext ctx) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = add_prelude(phGraphNode, ctx, &c);
  if (rc || (rc = sg_op_copy(&op, c, copyParams))) return rc;
  return sg_graph_add_node(phGraphNode, hGraph, dependencies, numDependencies, &op);
}

SG_EXPORT CUresult cuGraphAddMemsetNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                        size_t numDependencies, const CUDA_MEMSET_NODE_PARAMS *memsetParams,
                                        CUcontext ctx) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = add_prelude(phGraphNode, ctx, &c);
  if (rc || (rc = sg_op_memset(&op, c, memsetParams))) return rc;
  return sg_graph_add_node(phGraphNode, hGraph, dependencies, numDependencies, &op);
}

SG_EXPORT CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                       size_t numDependencies) {
  sg_ctx *c;
  CUresult rc = add_prelude(phGraphNode, NULL, &c);
  if (rc) return rc;
  sg_op op = {.type = CU_GRAPH_NODE_TYPE_EMPTY, .ctx = c};
  return sg_graph_add_node(phGraphNode, hGraph, dependencies, numDependencies, &op);
}

SG_EXPORT CUresult cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                      size_t numDependencies, const CUDA_HOST_NODE_PARAMS *nodeParams) {
  sg_ctx *c;
  CUresult rc = add_prelude(phGraphNode, NULL, &c);
  if (rc) return rc;
  if (!nodeParams || !nodeParams->fn) return CUDA_ERROR_INVALID_VALUE;
  sg_op op = {.type = CU_GRAPH_NODE_TYPE_HOST, .ctx = c, .u.host = *nodeParams};
  return sg_graph_add_node(phGraphNode, hGraph, dependencies, numDependencies, &op);
}

static CUresult add_event_node(CUgraphNode *phNode, CUgraph hGraph, const CUgraphNode *deps, size_t n, CUevent e,
                               CUgraphNodeType type) {
  sg_ctx *c;
  CUresult rc = add_prelude(phNode, NULL, &c);
  if (rc || (rc = sg_event_check(e))) return rc;
  sg_op op = {.type = type, .ctx = c, .u.event = e};
  return sg_graph_add_node(phNode, hGraph, deps, n, &op);
}

SG_EXPORT CUresult cuGraphAddEventRecordNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                             const CUgraphNode *dependencies, size_t numDependencies,
                                             CUevent event) {
  return add_event_node(phGraphNode, hGraph, dependencies, numDependencies, event, CU_GRAPH_NODE_TYPE_EVENT_RECORD);
}

SG_EXPORT CUresult cuGraphAddEventWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                           size_t numDependencies, CUevent event) {
  return add_event_node(phGraphNode, hGraph, dependencies, numDependencies, event, CU_GRAPH_NODE_TYPE_WAIT_EVENT);
}

/* ---- structure queries ------------------------------------------------------------------------ */

SG_EXPORT CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_gnode *n = sg_gnode_find(hNode);
  CUresult rc = !n ? sg_graph_bad(hNode) : !type ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
  if (!rc) *type = n->op.type;
  sg_graph_unlock();
  return rc;
}

/* The size-query protocol of cuGraphGetNodes and friends: with a NULL array only the count is
 * returned; otherwise up to *count entries are written and *count becomes the number written. */
static void list_out(sg_gnode *const *src, size_t n, CUgraphNode *dst, size_t *count) {
  if (!dst) {
    *count = n;
    return;
  }
  size_t k = n < *count ? n : *count;
  for (size_t i = 0; i < k; i++) dst[i] = (CUgraphNode)src[i];
  for (size_t i = k; i < *count; i++) dst[i] = NULL;
  *count = k;
}

SG_EXPORT CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc = !g ? sg_graph_bad(hGraph) : !numNodes ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
  if (!rc) list_out(g->nodes, g->n, nodes, numNodes);
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphGetRootNodes(CUgraph hGraph, CUgraphNode *rootNodes, size_t *numRootNodes) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc = !g ? sg_graph_bad(hGraph) : !numRootNodes ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
  sg_gnode **roots = NULL;
  if (!rc && g->n && !(roots = malloc(g->n * sizeof *roots))) rc = CUDA_ERROR_OUT_OF_MEMORY;
  if (!rc) {
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
      if (!g->nodes[i]->ndeps) roots[k++] = g->nodes[i];
    list_out(roots, k, rootNodes, numRootNodes);
  }
  sg_graph_unlock();
  free(roots);
  return rc;
}

static CUresult get_deps(CUgraphNode hNode, CUgraphNode *deps, CUgraphEdgeData *edges, size_t *num) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_gnode *n = sg_gnode_find(hNode);
  CUresult rc = !n ? sg_graph_bad(hNode) : !num || (edges && !deps) ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
  if (!rc) {
    size_t want = *num;
    list_out(n->deps, n->ndeps, deps, num);
    if (edges) memset(edges, 0, want * sizeof *edges); /* every edge here is a default edge */
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies, size_t *numDependencies) {
  return get_deps(hNode, dependencies, NULL, numDependencies);
}

SG_EXPORT CUresult cuGraphNodeGetDependencies_v2(CUgraphNode hNode, CUgraphNode *dependencies,
                                                 CUgraphEdgeData *edgeData, size_t *numDependencies) {
  return get_deps(hNode, dependencies, edgeData, numDependencies);
}

/* Only default edges exist on a device without programmatic dependent launch. */
static int edges_default(const CUgraphEdgeData *e, size_t n) {
  static const CUgraphEdgeData zero;
  for (size_t i = 0; e && i < n; i++)
    if (memcmp(&e[i], &zero, sizeof zero)) return 0;
  return 1;
}

static CUresult edit_deps(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                          const CUgraphEdgeData *edges, size_t n, int add) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (n && (!from || !to)) return CUDA_ERROR_INVALID_VALUE;
  if (!edges_default(edges, n)) return CUDA_ERROR_NOT_SUPPORTED;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc = g ? CUDA_SUCCESS : sg_graph_bad(hGraph);
  /* Validate every pair before changing anything, so a bad pair leaves the graph as it was. */
  for (size_t i = 0; !rc && i < n; i++) {
    sg_gnode *a = sg_gnode_find(from[i]), *b = sg_gnode_find(to[i]);
    if (!a || !b || a == b || a->graph != g || b->graph != g || has_dep(b, a) != !add) rc = CUDA_ERROR_INVALID_VALUE;
  }
  for (size_t i = 0; !rc && i < n; i++) {
    sg_gnode *a = (sg_gnode *)from[i], *b = (sg_gnode *)to[i];
    if (add) {
      if (!has_dep(b, a)) rc = push_dep(b, a); /* a pair repeated in the same call */
    } else {
      drop_dep(b, a);
    }
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                          size_t numDependencies) {
  return edit_deps(hGraph, from, to, NULL, numDependencies, 1);
}
SG_EXPORT CUresult cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                             const CUgraphEdgeData *edgeData, size_t numDependencies) {
  return edit_deps(hGraph, from, to, edgeData, numDependencies, 1);
}
SG_EXPORT CUresult cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                             size_t numDependencies) {
  return edit_deps(hGraph, from, to, NULL, numDependencies, 0);
}
SG_EXPORT CUresult cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                                const CUgraphEdgeData *edgeData, size_t numDependencies) {
  return edit_deps(hGraph, from, to, edgeData, numDependencies, 0);
}

/* Removes the node and every edge to or from it. Nodes of a graph under capture stay: a
 * capturing stream may still depend on them. */
SG_EXPORT CUresult cuGraphDestroyNode(CUgraphNode hNode) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_gnode *n = sg_gnode_find(hNode);
  CUresult rc = !n ? sg_graph_bad(hNode) : n->graph->capturing ? CUDA_ERROR_ILLEGAL_STATE : CUDA_SUCCESS;
  if (!rc) {
    sg_graph *g = n->graph;
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
      sg_gnode *m = g->nodes[i];
      if (m == n) continue;
      drop_dep(m, n);
      g->nodes[k++] = m;
    }
    g->n = k;
    node_free(n);
  }
  sg_graph_unlock();
  return rc;
}

/* ---- cloning ----------------------------------------------------------------------------------- */

/* Under the lock: nodes first, then edges by index (an edge may point to a later node). */
CUresult sg_graph_clone(sg_graph *g, sg_graph **out) {
  sg_graph *c = sg_graph_new(g->ctx);
  if (!c) return CUDA_ERROR_OUT_OF_MEMORY;
  sg_graph_index(g);
  CUresult rc = CUDA_SUCCESS;
  for (size_t i = 0; !rc && i < g->n; i++) {
    sg_op op;
    sg_gnode *n;
    if ((rc = sg_op_clone(&op, &g->nodes[i]->op))) break;
    if ((rc = sg_op_child_from_graph(&op, &g->nodes[i]->op, 1))) {
      sg_op_free(&op);
      break;
    }
    if (!(rc = sg_graph_add(c, &op, NULL, 0, &n))) n->cloned_from = g->nodes[i]->id;
  }
  for (size_t i = 0; !rc && i < g->n; i++)
    for (size_t j = 0; !rc && j < g->nodes[i]->ndeps; j++)
      rc = push_dep(c->nodes[i], c->nodes[g->nodes[i]->deps[j]->index]);
  if (rc) sg_graph_free(c);
  else *out = c;
  return rc;
}

SG_EXPORT CUresult cuGraphClone(CUgraph *phGraphClone, CUgraph originalGraph) {
  sg_ctx *cur;
  CUresult rc = sg_ctx_get(&cur);
  if (rc) return rc;
  if (!phGraphClone) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(originalGraph), *c = NULL;
  rc = g ? sg_graph_clone(g, &c) : sg_graph_bad(originalGraph);
  sg_graph_unlock();
  if (!rc) *phGraphClone = (CUgraph)c;
  return rc;
}

SG_EXPORT CUresult cuGraphNodeFindInClone(CUgraphNode *phNode, CUgraphNode hOriginalNode, CUgraph hClonedGraph) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  sg_graph *c = sg_graph_find(hClonedGraph);
  sg_gnode *orig = sg_gnode_find(hOriginalNode);
  /* Not found (or nowhere to put it) is INVALID_VALUE. */
  CUresult rc = !c ? sg_graph_bad(hClonedGraph) : !orig ? sg_graph_bad(hOriginalNode) : CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; c && orig && phNode && i < c->n; i++)
    if (c->nodes[i]->cloned_from == orig->id) {
      *phNode = (CUgraphNode)c->nodes[i];
      rc = CUDA_SUCCESS;
      break;
    }
  sg_graph_unlock();
  return rc;
}
