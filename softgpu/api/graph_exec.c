/*
 * Executable graphs: instantiation (a private copy of every operation plus a topological order),
 * launch, in-place update from a graph of the same topology, per-node parameter changes and
 * destruction.
 *
 * An exec is shared between threads through its handle, so each use pins it: exec_get takes a
 * reference under the graph lock, and the `run` mutex serialises launches with updates. A
 * destroy while another thread launches only unregisters; the last reference frees.
 */
#include "sg_graph.h"

#include <stdlib.h>
#include <string.h>

typedef struct xnode {
  sg_op op;
  uint64_t origin;     /* id of the graph node it was instantiated from */
  uint64_t updated;    /* id of the node it was last updated from (0: never) */
  CUgraphNode from;    /* that origin node's handle, reported by failed updates; never dereferenced */
  size_t ndeps;
  size_t *deps;        /* indexes into nodes[] */
  int disabled;        /* cuGraphNodeSetEnabled(0): skipped by launches, kept by updates */
} xnode;

struct sg_exec {
  sg_ctx *ctx;
  unsigned long long flags;
  size_t n;
  xnode *nodes;  /* creation order of the graph */
  size_t *order; /* topological order over nodes[] */
  int refs;      /* guarded by the graph lock */
  int dead;
  pthread_mutex_t run;
};

void sg_exec_free(sg_exec *x) {
  for (size_t i = 0; i < x->n; i++) {
    sg_op_free(&x->nodes[i].op);
    free(x->nodes[i].deps);
  }
  free(x->nodes);
  free(x->order);
  pthread_mutex_destroy(&x->run);
  free(x);
}

static sg_exec *exec_get(CUgraphExec h) {
  sg_graph_lock();
  sg_exec *x = sg_reg_find(h, SG_OBJ_GEXEC, NULL, NULL) ? (sg_exec *)h : NULL;
  if (x) x->refs++;
  sg_graph_unlock();
  return x;
}

static void exec_put(sg_exec *x) {
  sg_graph_lock();
  int last = --x->refs == 0 && x->dead;
  sg_graph_unlock();
  if (last) sg_exec_free(x);
}

/* Under the lock: unregistered already; frees now or leaves it to the last user. */
static void exec_kill(sg_exec *x) {
  x->dead = 1;
  if (x->refs == 0) sg_exec_free(x);
}

void sg_exec_release_ctx(sg_ctx *c) {
  size_t n;
  void **keys = sg_reg_take_owned(c, SG_OBJ_GEXEC, &n);
  sg_graph_lock();
  for (size_t i = 0; i < n; i++) exec_kill(keys[i]);
  sg_graph_unlock();
  free(keys);
}

/* Kahn's algorithm, taking ready nodes in creation order so that a captured stream replays in
 * the order it was enqueued. CUDA_ERROR_INVALID_VALUE for a cycle. */
static CUresult topo_sort(sg_exec *x) {
  size_t n = x->n;
  size_t *indeg = calloc(n ? n : 1, sizeof *indeg);
  size_t *start = calloc(n + 1, sizeof *start);
  size_t *succ = NULL;
  size_t total = 0;
  CUresult rc = CUDA_ERROR_OUT_OF_MEMORY;
  if (!indeg || !start) goto out;
  for (size_t i = 0; i < n; i++) {
    indeg[i] = x->nodes[i].ndeps;
    total += x->nodes[i].ndeps;
    for (size_t j = 0; j < x->nodes[i].ndeps; j++) start[x->nodes[i].deps[j] + 1]++;
  }
  for (size_t i = 0; i < n; i++) start[i + 1] += start[i];
  if (!(succ = malloc((total ? total : 1) * sizeof *succ))) goto out;
  {
    size_t *fill = calloc(n ? n : 1, sizeof *fill);
    if (!fill) goto out;
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < x->nodes[i].ndeps; j++) {
        size_t d = x->nodes[i].deps[j];
        succ[start[d] + fill[d]++] = i;
      }
    free(fill);
  }
  /* The order array doubles as the queue: [head, tail) are ready, not yet expanded. */
  size_t head = 0, tail = 0;
  for (size_t i = 0; i < n; i++)
    if (!indeg[i]) x->order[tail++] = i;
  while (head < tail) {
    size_t v = x->order[head++];
    for (size_t k = start[v]; k < start[v + 1]; k++)
      if (--indeg[succ[k]] == 0) x->order[tail++] = succ[k];
  }
  rc = tail == n ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
out:
  free(indeg);
  free(start);
  free(succ);
  return rc;
}

/* Under the lock: copies g into a new exec, registered (an API exec) or not (the body of a
 * child-graph node). */
static CUresult instantiate(sg_graph *g, unsigned long long flags, int registered, sg_exec **out) {
  sg_exec *x = calloc(1, sizeof *x);
  if (!x) return CUDA_ERROR_OUT_OF_MEMORY;
  pthread_mutex_init(&x->run, NULL);
  x->ctx = g->ctx;
  x->flags = flags;
  CUresult rc = CUDA_ERROR_OUT_OF_MEMORY;
  size_t n = g->n;
  if (!(x->nodes = calloc(n ? n : 1, sizeof *x->nodes)) || !(x->order = calloc(n ? n : 1, sizeof *x->order)))
    goto fail;
  sg_graph_index(g);
  for (size_t i = 0; i < n; i++, x->n++) {
    sg_gnode *gn = g->nodes[i];
    xnode *xn = &x->nodes[i];
    if (gn->ndeps && !(xn->deps = malloc(gn->ndeps * sizeof *xn->deps))) goto fail;
    if ((rc = sg_op_clone(&xn->op, &gn->op))) {
      free(xn->deps);
      goto fail;
    }
    if ((rc = sg_op_child_from_graph(&xn->op, &gn->op, 0))) {
      sg_op_free(&xn->op);
      free(xn->deps);
      goto fail;
    }
    rc = CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t j = 0; j < gn->ndeps; j++) xn->deps[j] = gn->deps[j]->index;
    xn->ndeps = gn->ndeps;
    xn->origin = gn->id;
    xn->from = (CUgraphNode)gn;
  }
  if ((rc = topo_sort(x))) goto fail;
  if (registered && sg_reg_add(x, SG_OBJ_GEXEC, g->ctx, 0) != 0) {
    rc = CUDA_ERROR_OUT_OF_MEMORY;
    goto fail;
  }
  *out = x;
  return CUDA_SUCCESS;
fail:
  sg_exec_free(x);
  return rc;
}

CUresult sg_exec_private(sg_graph *g, sg_exec **out) { return instantiate(g, 0, 0, out); }

CUresult sg_exec_clone(const sg_exec *src, sg_exec **out) {
  sg_exec *x = calloc(1, sizeof *x);
  if (!x) return CUDA_ERROR_OUT_OF_MEMORY;
  pthread_mutex_init(&x->run, NULL);
  x->ctx = src->ctx;
  x->flags = src->flags;
  size_t n = src->n;
  CUresult rc = CUDA_ERROR_OUT_OF_MEMORY;
  if (!(x->nodes = calloc(n ? n : 1, sizeof *x->nodes)) || !(x->order = malloc((n ? n : 1) * sizeof *x->order)))
    goto fail;
  if (n) memcpy(x->order, src->order, n * sizeof *x->order);
  for (size_t i = 0; i < n; i++, x->n++) {
    const xnode *s = &src->nodes[i];
    xnode *d = &x->nodes[i];
    *d = *s;
    d->deps = NULL;
    d->op.type = CU_GRAPH_NODE_TYPE_EMPTY; /* nothing to free if the clone below fails */
    if (s->ndeps && !(d->deps = malloc(s->ndeps * sizeof *d->deps))) goto fail;
    if (s->ndeps) memcpy(d->deps, s->deps, s->ndeps * sizeof *d->deps);
    if ((rc = sg_op_clone(&d->op, &s->op))) {
      d->op.type = CU_GRAPH_NODE_TYPE_EMPTY;
      x->n++;
      goto fail;
    }
    rc = CUDA_ERROR_OUT_OF_MEMORY;
  }
  *out = x;
  return CUDA_SUCCESS;
fail:
  sg_exec_free(x);
  return rc;
}

/* Node order is fixed, so a nested body (child graph) runs to completion in the parent's slot. */
CUresult sg_exec_run(sg_exec *x, sg_ctx *c) {
  CUresult rc = CUDA_SUCCESS;
  pthread_mutex_lock(&x->run);
  for (size_t i = 0; i < x->n && !rc; i++) {
    const xnode *xn = &x->nodes[x->order[i]];
    if (!xn->disabled) rc = sg_op_run(&xn->op, c);
  }
  pthread_mutex_unlock(&x->run);
  return rc;
}

/* Flags we honour trivially (memory is freed by us anyway, uploads are no-ops, priorities change
 * nothing on a synchronous device); device launch needs a GPU-side scheduler we do not have. */
#define KNOWN_FLAGS                                                                  \
  (CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD | \
   CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY)

static CUresult instantiate_api(CUgraphExec *phExec, CUgraph hGraph, unsigned long long flags) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!phExec || (flags & ~(unsigned long long)KNOWN_FLAGS)) return CUDA_ERROR_INVALID_VALUE;
  if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH) return CUDA_ERROR_NOT_SUPPORTED;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  sg_exec *x = NULL;
  rc = g ? instantiate(g, flags, 1, &x) : sg_graph_bad(hGraph);
  sg_graph_unlock();
  if (!rc) *phExec = (CUgraphExec)x;
  return rc;
}

SG_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags) {
  return instantiate_api(phGraphExec, hGraph, flags);
}

/* The 5-argument forms: no node is ever to blame, and the log says why when it failed. */
SG_EXPORT CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                                         char *logBuffer, size_t bufferSize) {
  CUresult rc = instantiate_api(phGraphExec, hGraph, 0);
  if (phErrorNode) *phErrorNode = NULL;
  if (logBuffer && bufferSize) {
    const char *msg = rc == CUDA_ERROR_INVALID_VALUE ? "invalid graph (unknown handle or a cycle)" : "";
    strncpy(logBuffer, rc ? msg : "", bufferSize - 1);
    logBuffer[bufferSize - 1] = 0;
  }
  return rc;
}

SG_EXPORT CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                                      char *logBuffer, size_t bufferSize) {
  return cuGraphInstantiate_v2(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

SG_EXPORT CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                                CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  if (!instantiateParams) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  instantiateParams->hErrNode_out = NULL;
  if (instantiateParams->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) {
    sg_ctx *sc;
    CUresult rc = sg_stream_ctx(instantiateParams->hUploadStream, &sc);
    if (rc) return rc;
  }
  CUresult rc = instantiate_api(phGraphExec, hGraph, instantiateParams->flags);
  instantiateParams->result_out = rc == CUDA_SUCCESS             ? CUDA_GRAPH_INSTANTIATE_SUCCESS
                                  : rc == CUDA_ERROR_INVALID_VALUE ? CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE
                                                                   : CUDA_GRAPH_INSTANTIATE_ERROR;
  return rc;
}

SG_EXPORT CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
                                                     CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  return cuGraphInstantiateWithParams(phGraphExec, hGraph, instantiateParams);
}

SG_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_graph_lock();
  CUresult rc = sg_reg_remove(hGraphExec, SG_OBJ_GEXEC) ? CUDA_SUCCESS : sg_graph_bad(hGraphExec);
  if (!rc) exec_kill((sg_exec *)hGraphExec);
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphExecGetFlags(CUgraphExec hGraphExec, cuuint64_t *flags) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_exec *x = exec_get(hGraphExec);
  if (!x) return sg_graph_bad(hGraphExec);
  if (flags) *flags = x->flags;
  exec_put(x);
  return flags ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- launch ------------------------------------------------------------------------------------ */

/* Runs every node in order on this thread; the first failure stops the launch. Launched into a
 * capturing stream, the exec becomes a child-graph node of the capture, as on a GPU. */
SG_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(hStream, &c);
  if (rc) return rc;
  sg_exec *x = exec_get(hGraphExec);
  if (!x) return sg_graph_bad(hGraphExec);
  if (x->ctx != c) {
    rc = CUDA_ERROR_INVALID_VALUE;
  } else if (sg_capture_on(hStream)) {
    sg_op op = {.type = CU_GRAPH_NODE_TYPE_GRAPH, .ctx = c};
    pthread_mutex_lock(&x->run);
    rc = sg_exec_clone(x, &op.u.child);
    pthread_mutex_unlock(&x->run);
    if (!rc) rc = sg_capture_add(hStream, &op);
  } else {
    rc = sg_exec_run(x, c);
  }
  exec_put(x);
  return rc;
}

SG_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return cuGraphLaunch(hGraphExec, SG_PTSZ(hStream));
}

/* Nothing to upload: device memory is host memory. */
SG_EXPORT CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(hStream, &c);
  if (rc) return rc;
  sg_exec *x = exec_get(hGraphExec);
  if (!x) return sg_graph_bad(hGraphExec);
  rc = x->ctx == c ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
  exec_put(x);
  return rc;
}

SG_EXPORT CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return cuGraphUpload(hGraphExec, SG_PTSZ(hStream));
}

/* ---- update ------------------------------------------------------------------------------------ */

static int same_deps(const xnode *xn, const sg_gnode *gn) {
  if (xn->ndeps != gn->ndeps) return 0;
  for (size_t i = 0; i < gn->ndeps; i++) {
    size_t j;
    for (j = 0; j < xn->ndeps && xn->deps[j] != gn->deps[i]->index; j++) {
    }
    if (j == xn->ndeps) return 0;
  }
  return 1;
}

/* Under the lock: the graph must match the exec node for node (creation order), with the same
 * types and edges; on success *ops holds clones of the graph's operations. */
static CUresult update_plan(sg_exec *x, sg_graph *g, sg_op **ops, CUgraphExecUpdateResultInfo *info) {
  sg_graph_index(g);
  size_t n = g->n < x->n ? g->n : x->n;
  for (size_t i = 0; i < n; i++) {
    sg_gnode *gn = g->nodes[i];
    CUgraphExecUpdateResult why = gn->op.type != x->nodes[i].op.type ? CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED
                                  : !same_deps(&x->nodes[i], gn)        ? CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED
                                                                         : CU_GRAPH_EXEC_UPDATE_SUCCESS;
    if (why != CU_GRAPH_EXEC_UPDATE_SUCCESS) {
      *info = (CUgraphExecUpdateResultInfo){why, (CUgraphNode)gn, x->nodes[i].from};
      return CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
    }
  }
  if (g->n != x->n) {
    *info = (CUgraphExecUpdateResultInfo){CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED, NULL, NULL};
    return CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
  }
  sg_op *out = calloc(n ? n : 1, sizeof *out);
  if (!out) return CUDA_ERROR_OUT_OF_MEMORY;
  for (size_t i = 0; i < n; i++) {
    CUresult rc = sg_op_clone(&out[i], &g->nodes[i]->op);
    if (!rc && (rc = sg_op_child_from_graph(&out[i], &g->nodes[i]->op, 0))) sg_op_free(&out[i]);
    if (rc) {
      while (i--) sg_op_free(&out[i]);
      free(out);
      return rc;
    }
  }
  *ops = out;
  *info = (CUgraphExecUpdateResultInfo){CU_GRAPH_EXEC_UPDATE_SUCCESS, NULL, NULL};
  return CUDA_SUCCESS;
}

SG_EXPORT CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
                                        CUgraphExecUpdateResultInfo *resultInfo) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!resultInfo) return CUDA_ERROR_INVALID_VALUE;
  sg_exec *x = exec_get(hGraphExec);
  if (!x) return sg_graph_bad(hGraphExec);
  sg_op *ops = NULL;
  uint64_t *ids = NULL;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc = !g ? sg_graph_bad(hGraph) : update_plan(x, g, &ops, resultInfo);
  if (!rc && !(ids = malloc((x->n ? x->n : 1) * sizeof *ids))) rc = CUDA_ERROR_OUT_OF_MEMORY;
  for (size_t i = 0; !rc && i < x->n; i++) ids[i] = g->nodes[i]->id;
  sg_graph_unlock();
  if (!rc) {
    pthread_mutex_lock(&x->run);
    for (size_t i = 0; i < x->n; i++) {
      sg_op old = x->nodes[i].op;
      x->nodes[i].op = ops[i];
      ops[i] = old;
      x->nodes[i].updated = ids[i];
    }
    pthread_mutex_unlock(&x->run);
  }
  if (ops)
    for (size_t i = 0; i < x->n; i++) sg_op_free(&ops[i]);
  free(ops);
  free(ids);
  exec_put(x);
  return rc;
}

SG_EXPORT CUresult cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out,
                                     CUgraphExecUpdateResult *updateResult_out) {
  if (!hErrorNode_out || !updateResult_out)
    return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUgraphExecUpdateResultInfo info = {CU_GRAPH_EXEC_UPDATE_ERROR, NULL, NULL};
  CUresult rc = cuGraphExecUpdate_v2(hGraphExec, hGraph, &info);
  *hErrorNode_out = info.errorNode;
  *updateResult_out = info.result;
  return rc;
}

/* ---- per-node changes to an exec ------------------------------------------------------------
 * The node is named by a node of the graph the exec came from (or was last updated from). */

/* The exec node standing for graph node hNode, with the run lock held; NULL with *rc set when
 * there is none. */
static xnode *find_xnode(sg_exec *x, CUgraphNode hNode, CUresult *rc) {
  sg_graph_lock();
  sg_gnode *gn = sg_gnode_find(hNode);
  uint64_t id = gn ? gn->id : 0;
  sg_graph_unlock();
  *rc = gn ? CUDA_ERROR_INVALID_VALUE : sg_graph_bad(hNode);
  for (size_t i = 0; id && i < x->n; i++)
    if (x->nodes[i].origin == id || x->nodes[i].updated == id) {
      *rc = CUDA_SUCCESS;
      return &x->nodes[i];
    }
  return NULL;
}

CUresult sg_exec_set_node(CUgraphExec hExec, CUgraphNode hNode, sg_op *op) {
  /* An exec runs its own body of a child graph; the graph node keeps the graph. */
  sg_graph_lock();
  sg_op_drop_child_graph(op);
  sg_graph_unlock();
  sg_exec *x = exec_get(hExec);
  if (!x) {
    sg_op_free(op);
    return sg_graph_bad(hExec);
  }
  CUresult rc;
  pthread_mutex_lock(&x->run);
  xnode *xn = find_xnode(x, hNode, &rc);
  if (xn && xn->op.type != op->type) rc = CUDA_ERROR_INVALID_VALUE;
  if (!rc) {
    sg_op old = xn->op;
    xn->op = *op;
    *op = old;
  }
  pthread_mutex_unlock(&x->run);
  sg_op_free(op);
  exec_put(x);
  return rc;
}

/* Only kernel, memcpy and memset nodes can be switched off, as with the driver. */
static CUresult enabled(CUgraphExec hExec, CUgraphNode hNode, const unsigned *set, unsigned *get) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!set && !get) return CUDA_ERROR_INVALID_VALUE;
  sg_exec *x = exec_get(hExec);
  if (!x) return sg_graph_bad(hExec);
  CUresult rc;
  pthread_mutex_lock(&x->run);
  xnode *xn = find_xnode(x, hNode, &rc);
  if (xn && xn->op.type != CU_GRAPH_NODE_TYPE_KERNEL && xn->op.type != CU_GRAPH_NODE_TYPE_MEMCPY &&
      xn->op.type != CU_GRAPH_NODE_TYPE_MEMSET)
    rc = CUDA_ERROR_INVALID_VALUE;
  if (!rc && set) xn->disabled = !*set;
  if (!rc && get) *get = !xn->disabled;
  pthread_mutex_unlock(&x->run);
  exec_put(x);
  return rc;
}

SG_EXPORT CUresult cuGraphNodeSetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int isEnabled) {
  return enabled(hGraphExec, hNode, &isEnabled, NULL);
}

SG_EXPORT CUresult cuGraphNodeGetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int *isEnabled) {
  if (!isEnabled) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return enabled(hGraphExec, hNode, NULL, isEnabled);
}

SG_EXPORT CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                     const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_op op;
  CUresult rc = sg_op_from_kernel_params(&op, nodeParams);
  return rc ? rc : sg_exec_set_node(hGraphExec, hNode, &op);
}

SG_EXPORT CUresult cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                  const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (!nodeParams) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_KERNEL_NODE_PARAMS p;
  memset(&p, 0, sizeof p);
  memcpy(&p, nodeParams, sizeof *nodeParams);
  return cuGraphExecKernelNodeSetParams_v2(hGraphExec, hNode, &p);
}

SG_EXPORT CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                  const CUDA_MEMCPY3D *copyParams, CUcontext ctx) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = ctx ? sg_ctx_resolve(ctx, &c) : sg_ctx_get(&c);
  if (rc || (rc = sg_op_copy(&op, c, copyParams))) return rc;
  return sg_exec_set_node(hGraphExec, hNode, &op);
}

SG_EXPORT CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                  const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = ctx ? sg_ctx_resolve(ctx, &c) : sg_ctx_get(&c);
  if (rc || (rc = sg_op_memset(&op, c, memsetParams))) return rc;
  return sg_exec_set_node(hGraphExec, hNode, &op);
}

SG_EXPORT CUresult cuGraphExecHostNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_HOST_NODE_PARAMS *nodeParams) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!nodeParams || !nodeParams->fn) return CUDA_ERROR_INVALID_VALUE;
  sg_op op = {.type = CU_GRAPH_NODE_TYPE_HOST, .ctx = c, .u.host = *nodeParams};
  return sg_exec_set_node(hGraphExec, hNode, &op);
}
