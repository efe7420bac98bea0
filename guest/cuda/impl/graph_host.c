/*
 * Graphs with host nodes. A host node's function belongs to this process, so the host's copy of
 * the node does nothing (src/executor/host-nodes.ts) and the function runs here, as stream host
 * functions do (hostfunc.c). An exec of a graph with host nodes gets a plan when it is made: the
 * graph's nodes in a topological order (ties in creation order), cut at each host node into
 * pieces. Each piece is a clone of the graph without the nodes of other pieces, instantiated on
 * the host; edges to nodes of earlier pieces are kept by the order the pieces run in. Launching
 * the exec launches each piece on the stream in turn and, at each host node, waits for the
 * stream and calls the function, so every host node runs after what it depends on and before what
 * depends on it. The calling thread waits at host nodes, and nodes that a GPU would run alongside
 * a host node run before or after it.
 *
 * The exec itself is instantiated on the host too, so that every call naming it (destruction,
 * flags, updates, parameter changes) has the driver's answer; changes the host accepts are
 * repeated on the piece holding the node (graph_edit.c), and an update makes the plan again. The
 * calls naming a node of an exec may name it by its node in the graph the exec was instantiated
 * from or in the graph it was last updated from; an update pairs the two by their place in creation
 * order, as softgpu does (the driver pairs topologically identical graphs, built alike, the same
 * way). The plan remembers which nodes are disabled, since the driver keeps that across an update
 * and the new pieces start with every node enabled. Not carried: host nodes inside child graphs
 * (instantiation fails with CUDA_ERROR_NOT_SUPPORTED) and a planned exec launched into a capturing
 * stream (CUDA_ERROR_NOT_SUPPORTED, as cuLaunchHostFunc there).
 */
#include "vgcuda.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "graph_host.h"
#include "rpc.h"

typedef struct step {
  CUgraph graph;   /* a piece: its graph (a clone) and exec; NULL for a host node */
  CUgraphExec exec;
  CUgraphNode node; /* a host node: the node of the graph the plan was made from */
  CUDA_HOST_NODE_PARAMS host;
} step;

typedef struct plan {
  CUgraphExec exec;
  unsigned long long flags; /* of the instantiation, for the pieces */
  size_t n;
  step *steps;
  /* By a node's place in creation order: its node in the graph the exec was instantiated from and
   * in the graph the plan was made from, the step holding it, its node in that step's piece (NULL
   * for a host node), and whether it is disabled. */
  size_t nn;
  CUgraphNode *origin, *current, *piece_node;
  size_t *at;
  unsigned char *disabled;
  struct plan *next;
} plan;

static atomic_int g_made;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static plan *g_plans;

/* The plan's memory, without a word to the host. */
static void plan_drop(plan *p) {
  if (p) free(p->steps), free(p->origin), free(p->current), free(p->piece_node), free(p->at), free(p->disabled);
  free(p);
}

/* Fork: the plans name execs of the parent's session, which the child cannot use; its copies are
 * dropped without a word to the host (the parent still owns them). The lock is held across the
 * fork so that the child's copy is not left locked by a thread the child does not have. */
static void fork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void fork_parent(void) { pthread_mutex_unlock(&g_mu); }
static void fork_child(void) {
  while (g_plans) {
    plan *p = g_plans;
    g_plans = p->next;
    plan_drop(p);
  }
  pthread_mutex_unlock(&g_mu);
}
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { (void)pthread_atfork(fork_prepare, fork_parent, fork_child); }

void vg_graph_host_made(void) {
  pthread_once(&g_atfork_once, register_atfork);
  atomic_store(&g_made, 1);
}

/* ---- forwarded calls ----------------------------------------------------------------------------- */

static CUresult instantiate_remote(CUgraphExec *out, CUgraph g, unsigned long long flags) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuGraphInstantiateWithFlags, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPH, g, 0);
  vg_put_u64(&c, flags);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) {
    CUgraphExec x = (CUgraphExec)vg_get_new_handle(&c, VG_H_GRAPHEXEC);
    if (out) *out = x;
  }
  return vg_call_end(&c, r);
}

static CUresult launch_remote(CUgraphExec x, CUstream s, int ptsz) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, ptsz ? VG_OP_cuGraphLaunch_ptsz : VG_OP_cuGraphLaunch, VG_CALL_ASYNC);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPHEXEC, x, 0);
  vg_put_handle(&c, VG_H_STREAM, s, 1);
  return vg_call_end(&c, vg_call_invoke(&c));
}

static CUresult destroy_remote(CUgraphExec x) {
  if (!vg_cuda_ready()) return CUDA_ERROR_NOT_INITIALIZED;
  vg_call c;
  CUresult r = vg_call_begin(&c, VG_OP_cuGraphExecDestroy, 0);
  if (r) return r;
  vg_put_handle(&c, VG_H_GRAPHEXEC, x, 0);
  r = vg_call_invoke(&c);
  if (r == CUDA_SUCCESS) vg_handle_release(x);
  return vg_call_end(&c, r);
}

/* ---- plans ---------------------------------------------------------------------------------------- */

static void plan_free(plan *p) {
  for (size_t i = 0; p && i < p->n; i++) {
    if (p->steps[i].exec) destroy_remote(p->steps[i].exec);
    if (p->steps[i].graph) cuGraphDestroy(p->steps[i].graph);
  }
  plan_drop(p);
}

/* The place of node in p's creation order, or p->nn; under g_mu. */
static size_t node_index(const plan *p, CUgraphNode node) {
  size_t i = 0;
  while (i < p->nn && p->origin[i] != node && p->current[i] != node) i++;
  return i;
}

/* The plan of x, unlinked when take is set; under g_mu. */
static plan *plan_find(CUgraphExec x, int take) {
  for (plan **pp = &g_plans; *pp; pp = &(*pp)->next)
    if ((*pp)->exec == x) {
      plan *p = *pp;
      if (take) *pp = p->next;
      return p;
    }
  return NULL;
}

/* The nodes of g (malloc'ed) and their number. */
static CUresult nodes_of(CUgraph g, CUgraphNode **out, size_t *n) {
  CUresult r = cuGraphGetNodes(g, NULL, n);
  if (r) return r;
  *out = calloc(*n ? *n : 1, sizeof **out);
  if (!*out) return CUDA_ERROR_OUT_OF_MEMORY;
  if (*n && (r = cuGraphGetNodes(g, *out, n))) {
    free(*out);
    *out = NULL;
  }
  return r;
}

/* 1 when g or a graph nested in it has a host node; *top says whether g itself has one. */
static CUresult has_host(CUgraph g, int *top, int *nested) {
  CUgraphNode *nodes = NULL;
  size_t n = 0;
  CUresult r = nodes_of(g, &nodes, &n);
  for (size_t i = 0; !r && i < n; i++) {
    CUgraphNodeType t;
    if ((r = cuGraphNodeGetType(nodes[i], &t))) break;
    if (t == CU_GRAPH_NODE_TYPE_HOST) *top = 1;
    if (t == CU_GRAPH_NODE_TYPE_GRAPH) {
      CUgraph child;
      int inner = 0;
      r = cuGraphChildGraphNodeGetGraph(nodes[i], &child);
      if (!r) r = has_host(child, &inner, &inner);
      /* A driver that cannot say (softgpu keeps no graph in the node): the child was checked when
       * the node was made (vg_graph_host_child_ok), and its graph cannot be reached to add any. */
      else if (r == CUDA_ERROR_NOT_SUPPORTED) r = CUDA_SUCCESS;
      if (inner) *nested = 1;
    }
  }
  free(nodes);
  return r;
}

CUresult vg_graph_host_child_ok(CUgraph child) {
  int top = 0, nested = 0;
  if (!atomic_load(&g_made) || !child || vg_handle_kind(child) != VG_H_GRAPH) return CUDA_SUCCESS;
  CUresult r = has_host(child, &top, &nested);
  return r ? r : top || nested ? vg_unsupported("host nodes inside child graphs") : CUDA_SUCCESS;
}

/* Node indexes of g in a topological order, ties taken in creation order. */
static CUresult topo_order(CUgraph g, CUgraphNode *nodes, size_t n, size_t *order) {
  size_t ne = 0;
  CUresult r = cuGraphGetEdges(g, NULL, NULL, &ne);
  if (r) return r;
  CUgraphNode *from = calloc(ne ? ne : 1, sizeof *from), *to = calloc(ne ? ne : 1, sizeof *to);
  size_t *ef = calloc(ne ? ne : 1, sizeof *ef), *et = calloc(ne ? ne : 1, sizeof *et);
  size_t *indeg = calloc(n ? n : 1, sizeof *indeg);
  char *done = calloc(n ? n : 1, 1);
  if (!from || !to || !ef || !et || !indeg || !done) r = CUDA_ERROR_OUT_OF_MEMORY;
  if (!r && ne) r = cuGraphGetEdges(g, from, to, &ne);
  for (size_t e = 0; !r && e < ne; e++) {
    ef[e] = et[e] = n;
    for (size_t i = 0; i < n; i++) {
      if (nodes[i] == from[e]) ef[e] = i;
      if (nodes[i] == to[e]) et[e] = i;
    }
    if (ef[e] == n || et[e] == n) r = CUDA_ERROR_INVALID_VALUE;
    else indeg[et[e]]++;
  }
  for (size_t k = 0; !r && k < n; k++) {
    size_t v = 0;
    while (v < n && (done[v] || indeg[v])) v++;
    if (v == n) {
      r = CUDA_ERROR_INVALID_VALUE; /* a cycle: instantiation refused it already */
      break;
    }
    done[v] = 1;
    order[k] = v;
    for (size_t e = 0; e < ne; e++)
      if (ef[e] == v) indeg[et[e]]--;
  }
  free(from), free(to), free(ef), free(et), free(indeg), free(done);
  return r;
}

/* Step k of p, a piece: a clone of g without the nodes whose `keep` is 0, instantiated. */
static CUresult make_piece(CUgraph g, CUgraphNode *nodes, size_t n, const char *keep, plan *p, size_t k) {
  step *s = &p->steps[k];
  CUresult r = cuGraphClone(&s->graph, g);
  for (size_t i = 0; !r && i < n; i++) {
    CUgraphNode cn;
    if (keep[i]) {
      p->at[i] = k;
      r = cuGraphNodeFindInClone(&p->piece_node[i], nodes[i], s->graph);
    } else if (!(r = cuGraphNodeFindInClone(&cn, nodes[i], s->graph))) {
      r = cuGraphDestroyNode(cn);
    }
  }
  if (!r) r = instantiate_remote(&s->exec, s->graph, p->flags);
  return r;
}

/* The plan of exec x made from g; NULL (and success) when g has no host node. */
static CUresult plan_make(CUgraphExec x, CUgraph g, unsigned long long flags, plan **out) {
  *out = NULL;
  int top = 0, nested = 0;
  CUresult r = has_host(g, &top, &nested);
  if (r) return r;
  if (nested) return vg_unsupported("host nodes inside child graphs");
  if (!top) return CUDA_SUCCESS;
  CUgraphNode *nodes = NULL;
  size_t n = 0;
  if ((r = nodes_of(g, &nodes, &n))) return r;
  size_t *order = calloc(n, sizeof *order);
  char *keep = calloc(n, 1);
  plan *p = calloc(1, sizeof *p);
  step *steps = calloc(2 * n + 1, sizeof *steps);
  if (!order || !keep || !p || !steps) r = CUDA_ERROR_OUT_OF_MEMORY;
  if (!r) r = topo_order(g, nodes, n, order);
  if (!r) {
    p->exec = x;
    p->flags = flags;
    p->steps = steps;
    steps = NULL;
    p->nn = n;
    p->origin = calloc(n, sizeof *p->origin);
    p->current = nodes;
    nodes = NULL;
    p->piece_node = calloc(n, sizeof *p->piece_node);
    p->at = calloc(n, sizeof *p->at);
    p->disabled = calloc(n, 1);
    if (!p->origin || !p->piece_node || !p->at || !p->disabled) r = CUDA_ERROR_OUT_OF_MEMORY;
    else memcpy(p->origin, p->current, n * sizeof *p->origin);
  }
  size_t in_piece = 0;
  for (size_t k = 0; !r && k <= n; k++) {
    CUgraphNodeType t = CU_GRAPH_NODE_TYPE_EMPTY;
    if (k < n && (r = cuGraphNodeGetType(p->current[order[k]], &t))) break;
    if (k < n && t != CU_GRAPH_NODE_TYPE_HOST) {
      keep[order[k]] = 1;
      in_piece++;
      continue;
    }
    if (in_piece && !(r = make_piece(g, p->current, n, keep, p, p->n))) p->n++;
    else if (in_piece) p->n++; /* what was made is freed with the plan */
    memset(keep, 0, n);
    in_piece = 0;
    if (!r && k < n) {
      p->at[order[k]] = p->n;
      step *s = &p->steps[p->n++];
      s->node = p->current[order[k]];
      r = cuGraphHostNodeGetParams(s->node, &s->host);
    }
  }
  free(nodes), free(order), free(keep), free(steps);
  if (r) plan_free(p);
  else *out = p;
  return r;
}

/* ---- entry points -------------------------------------------------------------------------------- */

static CUresult instantiate(CUgraphExec *out, CUgraph g, unsigned long long flags) {
  CUgraphExec x = NULL;
  CUresult r = instantiate_remote(&x, g, flags);
  if (r || !atomic_load(&g_made)) {
    if (!r && out) *out = x;
    return r;
  }
  plan *p;
  if ((r = plan_make(x, g, flags, &p))) {
    destroy_remote(x);
    return r;
  }
  if (p) {
    pthread_mutex_lock(&g_mu);
    p->next = g_plans;
    g_plans = p;
    pthread_mutex_unlock(&g_mu);
  }
  if (out) *out = x;
  return CUDA_SUCCESS;
}

VG_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags) {
  if (!phGraphExec) return vg_cuda_ready() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  VG_TRACED(instantiate(phGraphExec, hGraph, flags));
}

/* The steps of x's plan, copied (the plan may change meanwhile); NULL when x has none. */
static step *plan_steps(CUgraphExec x, size_t *n) {
  pthread_mutex_lock(&g_mu);
  plan *p = plan_find(x, 0);
  step *s = p ? malloc(p->n * sizeof *s) : NULL;
  if (s) memcpy(s, p->steps, p->n * sizeof *s);
  *n = s ? p->n : 0;
  pthread_mutex_unlock(&g_mu);
  return s;
}

static CUresult launch(CUgraphExec x, CUstream stream, int ptsz) {
  size_t n = 0;
  step *steps = atomic_load(&g_made) ? plan_steps(x, &n) : NULL;
  if (!steps) return launch_remote(x, stream, ptsz);
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
  CUresult r = ptsz ? cuStreamIsCapturing_ptsz(stream, &st) : cuStreamIsCapturing(stream, &st);
  if (!r && st != CU_STREAM_CAPTURE_STATUS_NONE) r = vg_unsupported("a graph with host nodes launched into a capturing stream");
  for (size_t i = 0; !r && i < n; i++) {
    if (steps[i].exec) {
      r = launch_remote(steps[i].exec, stream, ptsz);
    } else if (!(r = ptsz ? cuStreamSynchronize_ptsz(stream) : cuStreamSynchronize(stream))) {
      steps[i].host.fn(steps[i].host.userData);
    }
  }
  free(steps);
  return r;
}

VG_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) { VG_TRACED(launch(hGraphExec, hStream, 0)); }
VG_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  VG_TRACED(launch(hGraphExec, hStream, 1));
}

static CUresult exec_destroy(CUgraphExec x) {
  CUresult r = destroy_remote(x);
  if (r == CUDA_SUCCESS) {
    pthread_mutex_lock(&g_mu);
    plan *p = plan_find(x, 1);
    pthread_mutex_unlock(&g_mu);
    plan_free(p);
  }
  return r;
}

VG_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) { VG_TRACED(exec_destroy(hGraphExec)); }

/* ---- following changes to an exec ---------------------------------------------------------------- */

void vg_graph_host_exec_set(CUgraphExec x, CUgraphNode node, const CUDA_HOST_NODE_PARAMS *hp) {
  pthread_mutex_lock(&g_mu);
  plan *p = plan_find(x, 0);
  size_t i = p ? node_index(p, node) : 0;
  if (p && i < p->nn && !p->steps[p->at[i]].exec) p->steps[p->at[i]].host = *hp;
  pthread_mutex_unlock(&g_mu);
}

int vg_graph_host_piece(CUgraphExec x, CUgraphNode node, CUgraphExec *piece, CUgraphNode *piece_node) {
  if (!atomic_load(&g_made)) return 0;
  int found = 0;
  pthread_mutex_lock(&g_mu);
  plan *p = plan_find(x, 0);
  size_t i = p ? node_index(p, node) : 0;
  if (p && i < p->nn && p->piece_node[i]) {
    *piece = p->steps[p->at[i]].exec;
    *piece_node = p->piece_node[i];
    found = 1;
  }
  pthread_mutex_unlock(&g_mu);
  return found;
}

CUresult vg_graph_host_exec_enable(CUgraphExec x, CUgraphNode node, unsigned on) {
  CUgraphExec piece;
  CUgraphNode pn;
  if (!vg_graph_host_piece(x, node, &piece, &pn)) return CUDA_SUCCESS;
  CUresult r = cuGraphNodeSetEnabled(piece, pn, on);
  if (r == CUDA_SUCCESS) {
    pthread_mutex_lock(&g_mu);
    plan *p = plan_find(x, 0);
    size_t i = p ? node_index(p, node) : 0;
    if (p && i < p->nn) p->disabled[i] = !on;
    pthread_mutex_unlock(&g_mu);
  }
  return r;
}

/* p, made again from the graph an update gave, goes on naming nodes by those of the graph the
 * exec was instantiated from, and its new pieces disable what old's had disabled. */
static CUresult plan_follow(plan *p, const plan *old) {
  if (p->nn != old->nn) return CUDA_ERROR_INVALID_VALUE; /* an update that succeeded keeps the count */
  memcpy(p->origin, old->origin, p->nn * sizeof *p->origin);
  CUresult r = CUDA_SUCCESS;
  for (size_t i = 0; !r && i < p->nn; i++) {
    if (!old->disabled[i] || !p->piece_node[i]) continue;
    p->disabled[i] = 1;
    r = cuGraphNodeSetEnabled(p->steps[p->at[i]].exec, p->piece_node[i], 0);
  }
  return r;
}

CUresult vg_graph_host_exec_updated(CUgraphExec x, CUgraph g) {
  if (!atomic_load(&g_made)) return CUDA_SUCCESS;
  pthread_mutex_lock(&g_mu);
  plan *old = plan_find(x, 1);
  pthread_mutex_unlock(&g_mu);
  if (!old) return CUDA_SUCCESS; /* an update keeps node types: no host node came */
  plan *p;
  CUresult r = plan_make(x, g, old->flags, &p);
  if (!r && p && (r = plan_follow(p, old))) plan_free(p);
  plan_free(old);
  if (!r && p) {
    pthread_mutex_lock(&g_mu);
    p->next = g_plans;
    g_plans = p;
    pthread_mutex_unlock(&g_mu);
  }
  return r;
}
