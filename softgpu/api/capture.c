/*
 * Stream capture: cuStreamBeginCapture..cuStreamEndCapture, capture queries, dependency updates,
 * capture modes, and the helpers the stream-operation files call to divert work into a capture.
 *
 * A capture owns its graph and a set of member streams, each with its own dependency set. The
 * origin stream is the member that began it; other streams join by waiting on an event recorded
 * in a member (a fork) and are expected to be waited on again by the origin (a join) before the
 * capture ends. Everything here is guarded by the graph lock; g_live lets the hot paths of
 * ordinary stream calls skip the lock when no capture exists at all.
 *
 * The legacy stream cannot be captured (as on a GPU). The per-thread default stream can: it is
 * one handle (CU_STREAM_PER_THREAD) for many streams, so its members are told apart by thread and
 * context.
 */
#include "sg_graph.h"

#include <stdlib.h>
#include <string.h>

typedef struct capture {
  uint64_t id;
  CUstreamCaptureMode mode;
  sg_ctx *ctx;
  sg_graph *graph;
  int own_graph; /* made by BeginCapture (freed if the capture fails), not ToGraph */
  CUstream origin;
  const void *thread; /* token of the beginning thread */
  int invalidated;
} capture;

typedef struct member {
  CUstream s;
  const void *thread; /* CU_STREAM_PER_THREAD: the owning thread's token and context */
  sg_ctx *ctx;
  capture *cap;
  sg_gnode **deps;
  size_t n, room;
  CUgraphEdgeData *edges; /* zeroed, handed out by cuStreamGetCaptureInfo_v3 */
  size_t edges_room;
} member;

static member *g_members;
static size_t g_nmembers, g_members_room;
static capture **g_caps;
static size_t g_ncaps, g_caps_room;
static _Atomic int g_live;
static _Atomic uint64_t g_next_id = 1;

static _Thread_local CUstreamCaptureMode t_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
static _Thread_local char t_token; /* its address identifies the thread while it lives */

static int is_legacy(CUstream s) { return !s || s == CU_STREAM_LEGACY; }

static void invalidate(capture *cap) { cap->invalidated = 1; }

/* ---- bookkeeping (all under the graph lock) ------------------------------------------------ */

/* The calling thread's per-thread stream in the current context; NULL ctx when there is none. */
static sg_ctx *per_thread_ctx(void) {
  sg_ctx *c;
  return sg_ctx_get(&c) ? NULL : c;
}

static member *find_member(CUstream s) {
  if (is_legacy(s)) return NULL;
  sg_ctx *c = s == CU_STREAM_PER_THREAD ? per_thread_ctx() : NULL;
  if (s == CU_STREAM_PER_THREAD && !c) return NULL;
  for (size_t i = 0; i < g_nmembers; i++) {
    member *m = &g_members[i];
    if (m->s == s && (s != CU_STREAM_PER_THREAD || (m->thread == &t_token && m->ctx == c))) return m;
  }
  return NULL;
}

static capture *find_capture(uint64_t id) {
  for (size_t i = 0; i < g_ncaps; i++)
    if (g_caps[i]->id == id) return g_caps[i];
  return NULL;
}

static CUresult set_deps(member *m, sg_gnode *const *deps, size_t n) {
  if (n > m->room) {
    sg_gnode **d = realloc(m->deps, n * sizeof *d);
    if (!d) return CUDA_ERROR_OUT_OF_MEMORY;
    m->deps = d;
    m->room = n;
  }
  if (n) memmove(m->deps, deps, n * sizeof *deps);
  m->n = n;
  return CUDA_SUCCESS;
}

/* Adds the nodes not already in the set. */
static CUresult merge_deps(member *m, sg_gnode *const *deps, size_t n) {
  for (size_t i = 0; i < n; i++) {
    size_t j;
    for (j = 0; j < m->n && m->deps[j] != deps[i]; j++) {
    }
    if (j < m->n) continue;
    if (m->n == m->room) {
      size_t room = m->room ? m->room * 2 : 4;
      sg_gnode **d = realloc(m->deps, room * sizeof *d);
      if (!d) return CUDA_ERROR_OUT_OF_MEMORY;
      m->deps = d;
      m->room = room;
    }
    m->deps[m->n++] = deps[i];
  }
  return CUDA_SUCCESS;
}

/* The origin's per-thread stream, if that is what it is, belongs to the beginning thread. */
static int is_origin(const member *m) {
  return m->s == m->cap->origin && (m->s != CU_STREAM_PER_THREAD || m->thread == m->cap->thread);
}

static member *add_member(CUstream s, capture *cap) {
  if (g_nmembers == g_members_room) {
    size_t room = g_members_room ? g_members_room * 2 : 8;
    member *m = realloc(g_members, room * sizeof *m);
    if (!m) return NULL;
    g_members = m;
    g_members_room = room;
  }
  member *m = &g_members[g_nmembers++];
  memset(m, 0, sizeof *m);
  m->s = s;
  m->cap = cap;
  if (s == CU_STREAM_PER_THREAD) {
    m->thread = &t_token;
    m->ctx = per_thread_ctx();
  }
  return m;
}

static void drop_member(member *m) {
  free(m->deps);
  free(m->edges);
  *m = g_members[--g_nmembers];
}

/* Ends a capture: members leave, the graph is freed unless `keep` (success, or a graph that the
 * caller supplied to ToGraph). */
static void end_capture(capture *cap, int keep) {
  for (size_t i = 0; i < g_nmembers;)
    if (g_members[i].cap == cap) drop_member(&g_members[i]);
    else i++;
  for (size_t i = 0; i < g_ncaps; i++)
    if (g_caps[i] == cap) {
      g_caps[i] = g_caps[--g_ncaps];
      break;
    }
  cap->graph->capturing = 0;
  if (!keep && cap->own_graph) sg_graph_free(cap->graph);
  free(cap);
  atomic_fetch_sub(&g_live, 1);
}

/* ---- begin / end ------------------------------------------------------------------------------- */

/* Under the lock: the graph given to cuStreamBeginCaptureToGraph must be live, of the stream's
 * context, not already a capture target, and hold the starting dependencies. */
static CUresult check_target(CUgraph h, sg_ctx *c, const CUgraphNode *deps, size_t n, sg_graph **out) {
  sg_graph *g = sg_graph_find(h);
  if (!g) return CUDA_ERROR_INVALID_HANDLE;
  if (g->capturing) return CUDA_ERROR_ILLEGAL_STATE;
  if (g->ctx != c) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < n; i++) {
    sg_gnode *node = sg_gnode_find(deps[i]);
    if (!node || node->graph != g) return CUDA_ERROR_INVALID_VALUE;
  }
  *out = g;
  return CUDA_SUCCESS;
}

/* hInto/deps: cuStreamBeginCaptureToGraph's existing graph and starting dependencies. */
static CUresult begin(CUstream s, CUgraph hInto, const CUgraphNode *hdeps, size_t ndeps, CUstreamCaptureMode mode) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  if (is_legacy(s)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
      mode != CU_STREAM_CAPTURE_MODE_RELAXED)
    return CUDA_ERROR_INVALID_VALUE;
  capture *cap = calloc(1, sizeof *cap);
  if (!cap) return CUDA_ERROR_OUT_OF_MEMORY;
  sg_graph_lock();
  member *m = NULL;
  sg_graph *into = NULL;
  sg_gnode *const *deps = (sg_gnode *const *)hdeps;
  if (find_member(s)) rc = CUDA_ERROR_ILLEGAL_STATE;
  else if (hInto) rc = check_target(hInto, c, hdeps, ndeps, &into);
  if (rc) {
    /* refused */
  } else if (g_ncaps == g_caps_room) {
    size_t room = g_caps_room ? g_caps_room * 2 : 4;
    capture **caps = realloc(g_caps, room * sizeof *caps);
    if (caps) {
      g_caps = caps;
      g_caps_room = room;
    } else {
      rc = CUDA_ERROR_OUT_OF_MEMORY;
    }
  }
  if (!rc) {
    cap->own_graph = !into;
    cap->graph = into ? into : sg_graph_new(c);
    if (!cap->graph || !(m = add_member(s, cap)) || set_deps(m, deps, ndeps)) {
      if (m) drop_member(m);
      if (cap->graph && cap->own_graph) sg_graph_free(cap->graph);
      rc = CUDA_ERROR_OUT_OF_MEMORY;
    }
  }
  if (!rc) {
    cap->id = atomic_fetch_add(&g_next_id, 1);
    cap->mode = mode;
    cap->ctx = c;
    cap->origin = s;
    cap->thread = &t_token;
    cap->graph->capturing = 1;
    g_caps[g_ncaps++] = cap;
    atomic_fetch_add(&g_live, 1);
  }
  sg_graph_unlock();
  if (rc) free(cap);
  return rc;
}

SG_EXPORT CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
  return begin(hStream, NULL, NULL, 0, mode);
}
SG_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode) {
  return begin(SG_PTSZ(hStream), NULL, NULL, 0, mode);
}
/* The CUDA 10.0 entry points took no mode; they behave as global mode. */
SG_EXPORT CUresult cuStreamBeginCapture(CUstream hStream) {
  return begin(hStream, NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL);
}
SG_EXPORT CUresult cuStreamBeginCapture_ptsz(CUstream hStream) {
  return begin(SG_PTSZ(hStream), NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

static int edges_default(const CUgraphEdgeData *e, size_t n) {
  static const CUgraphEdgeData zero;
  for (size_t i = 0; e && i < n; i++)
    if (memcmp(&e[i], &zero, sizeof zero)) return 0;
  return 1;
}

SG_EXPORT CUresult cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph, const CUgraphNode *dependencies,
                                               const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                               CUstreamCaptureMode mode) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!hGraph || (numDependencies && !dependencies)) return CUDA_ERROR_INVALID_VALUE;
  if (!edges_default(dependencyData, numDependencies)) return CUDA_ERROR_NOT_SUPPORTED;
  return begin(hStream, hGraph, dependencies, numDependencies, mode);
}

SG_EXPORT CUresult cuStreamBeginCaptureToGraph_ptsz(CUstream hStream, CUgraph hGraph,
                                                    const CUgraphNode *dependencies,
                                                    const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                                    CUstreamCaptureMode mode) {
  return cuStreamBeginCaptureToGraph(SG_PTSZ(hStream), hGraph, dependencies, dependencyData, numDependencies, mode);
}

/* A member other than the origin whose latest work nothing depends on was never joined back. */
static int unjoined(const capture *cap, const member *origin) {
  for (size_t i = 0; i < g_nmembers; i++) {
    const member *m = &g_members[i];
    if (m->cap != cap || m == origin) continue;
    for (size_t j = 0; j < m->n; j++) {
      size_t k;
      for (k = 0; k < origin->n && origin->deps[k] != m->deps[j]; k++) {
      }
      if (k == origin->n && !sg_gnode_has_dependents(m->deps[j])) return 1;
    }
  }
  return 0;
}

SG_EXPORT CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(hStream, &c);
  if (rc) return rc;
  if (!phGraph) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  member *m = find_member(hStream);
  capture *cap = m ? m->cap : NULL;
  if (!m) {
    rc = CUDA_ERROR_ILLEGAL_STATE;
  } else if (!is_origin(m)) {
    cap->invalidated = 1;
    rc = CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
  } else if (cap->mode != CU_STREAM_CAPTURE_MODE_RELAXED && cap->thread != &t_token) {
    rc = CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
  } else {
    if (!cap->invalidated && unjoined(cap, m)) rc = CUDA_ERROR_STREAM_CAPTURE_UNJOINED;
    else if (cap->invalidated) rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    *phGraph = rc ? NULL : (CUgraph)cap->graph;
    end_capture(cap, !rc);
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph) {
  return cuStreamEndCapture(SG_PTSZ(hStream), phGraph);
}

/* ---- queries ----------------------------------------------------------------------------------- */

/* The legacy stream waits for every blocking stream of its context, so while one of them
 * captures, asking about it would depend on capture: CUDA_ERROR_STREAM_CAPTURE_IMPLICIT. */
static int legacy_blocked(CUstream s, sg_ctx *c) {
  if (s && s != CU_STREAM_LEGACY) return 0;
  for (size_t i = 0; i < g_nmembers; i++) {
    unsigned flags = 0;
    if (g_members[i].cap->ctx == c && cuStreamGetFlags(g_members[i].s, &flags) == CUDA_SUCCESS &&
        !(flags & CU_STREAM_NON_BLOCKING))
      return 1;
  }
  return 0;
}

static CUresult edges_for(member *m) {
  if (m->n > m->edges_room) {
    CUgraphEdgeData *e = realloc(m->edges, m->n * sizeof *e);
    if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
    m->edges = e;
    m->edges_room = m->n;
  }
  if (m->n) memset(m->edges, 0, m->n * sizeof *m->edges);
  return CUDA_SUCCESS;
}

static CUresult info(CUstream s, CUstreamCaptureStatus *status, cuuint64_t *id, CUgraph *graph,
                     const CUgraphNode **deps, const CUgraphEdgeData **edges, size_t *ndeps) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  if (!status || (edges && !deps)) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  member *m = find_member(s);
  if (legacy_blocked(s, c)) {
    rc = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
  } else if (!m) {
    *status = CU_STREAM_CAPTURE_STATUS_NONE;
  } else if (m->cap->invalidated) {
    *status = CU_STREAM_CAPTURE_STATUS_INVALIDATED;
    if (id) *id = m->cap->id;
  } else if (!(rc = edges ? edges_for(m) : CUDA_SUCCESS)) {
    *status = CU_STREAM_CAPTURE_STATUS_ACTIVE;
    if (id) *id = m->cap->id;
    if (graph) *graph = (CUgraph)m->cap->graph;
    if (deps) *deps = (const CUgraphNode *)m->deps;
    if (edges) *edges = m->edges;
    if (ndeps) *ndeps = m->n;
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  return info(hStream, captureStatus, NULL, NULL, NULL, NULL, NULL);
}
SG_EXPORT CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  return info(SG_PTSZ(hStream), captureStatus, NULL, NULL, NULL, NULL, NULL);
}

SG_EXPORT CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                          cuuint64_t *id_out) {
  return info(hStream, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}
SG_EXPORT CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                               cuuint64_t *id_out) {
  return info(SG_PTSZ(hStream), captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}
SG_EXPORT CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                             cuuint64_t *id_out, CUgraph *graph_out,
                                             const CUgraphNode **dependencies_out, size_t *numDependencies_out) {
  return info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL, numDependencies_out);
}
SG_EXPORT CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                                  cuuint64_t *id_out, CUgraph *graph_out,
                                                  const CUgraphNode **dependencies_out,
                                                  size_t *numDependencies_out) {
  return info(SG_PTSZ(hStream), captureStatus_out, id_out, graph_out, dependencies_out, NULL, numDependencies_out);
}
SG_EXPORT CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                             cuuint64_t *id_out, CUgraph *graph_out,
                                             const CUgraphNode **dependencies_out,
                                             const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out) {
  return info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out, numDependencies_out);
}
SG_EXPORT CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                                  cuuint64_t *id_out, CUgraph *graph_out,
                                                  const CUgraphNode **dependencies_out,
                                                  const CUgraphEdgeData **edgeData_out,
                                                  size_t *numDependencies_out) {
  return info(SG_PTSZ(hStream), captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
              numDependencies_out);
}

static CUresult update_deps(CUstream s, CUgraphNode *deps, const CUgraphEdgeData *edges, size_t n,
                            unsigned flags) {
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  if ((n && !deps) ||
      (flags != CU_STREAM_ADD_CAPTURE_DEPENDENCIES && flags != CU_STREAM_SET_CAPTURE_DEPENDENCIES))
    return CUDA_ERROR_INVALID_VALUE;
  if (!edges_default(edges, n)) return CUDA_ERROR_NOT_SUPPORTED;
  sg_graph_lock();
  member *m = find_member(s);
  if (!m) rc = CUDA_ERROR_ILLEGAL_STATE;
  else if (m->cap->invalidated) rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  for (size_t i = 0; !rc && i < n; i++) {
    sg_gnode *node = sg_gnode_find(deps[i]);
    if (!node || node->graph != m->cap->graph) rc = CUDA_ERROR_INVALID_VALUE;
  }
  if (!rc) {
    sg_gnode *const *nodes = (sg_gnode *const *)deps;
    rc = flags == CU_STREAM_SET_CAPTURE_DEPENDENCIES ? set_deps(m, nodes, 0) : CUDA_SUCCESS;
    if (!rc) rc = merge_deps(m, nodes, n);
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies,
                                                     size_t numDependencies, unsigned int flags) {
  return update_deps(hStream, dependencies, NULL, numDependencies, flags);
}
SG_EXPORT CUresult cuStreamUpdateCaptureDependencies_ptsz(CUstream hStream, CUgraphNode *dependencies,
                                                          size_t numDependencies, unsigned int flags) {
  return update_deps(SG_PTSZ(hStream), dependencies, NULL, numDependencies, flags);
}
SG_EXPORT CUresult cuStreamUpdateCaptureDependencies_v2(CUstream hStream, CUgraphNode *dependencies,
                                                        const CUgraphEdgeData *dependencyData,
                                                        size_t numDependencies, unsigned int flags) {
  return update_deps(hStream, dependencies, dependencyData, numDependencies, flags);
}
SG_EXPORT CUresult cuStreamUpdateCaptureDependencies_v2_ptsz(CUstream hStream, CUgraphNode *dependencies,
                                                             const CUgraphEdgeData *dependencyData,
                                                             size_t numDependencies, unsigned int flags) {
  return update_deps(SG_PTSZ(hStream), dependencies, dependencyData, numDependencies, flags);
}

SG_EXPORT CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!mode || (*mode != CU_STREAM_CAPTURE_MODE_GLOBAL && *mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
                *mode != CU_STREAM_CAPTURE_MODE_RELAXED))
    return CUDA_ERROR_INVALID_VALUE;
  CUstreamCaptureMode old = t_mode;
  t_mode = *mode;
  *mode = old;
  return CUDA_SUCCESS;
}

/* ---- hooks for the stream-operation files ------------------------------------------------------ */

/* For the legacy stream: 1 while a blocking stream of its context captures, so that the caller
 * goes through sg_capture_add and gets CUDA_ERROR_STREAM_CAPTURE_IMPLICIT. */
int sg_capture_on(CUstream s) {
  if (atomic_load(&g_live) == 0) return 0;
  sg_ctx *c;
  if (is_legacy(s) && sg_ctx_get(&c)) return 0;
  sg_graph_lock();
  int on = is_legacy(s) ? legacy_blocked(s, c) : find_member(s) != NULL;
  sg_graph_unlock();
  return on;
}

/* Under the lock: work on the legacy stream would wait for capturing blocking streams, which
 * invalidates their captures. */
static CUresult implicit_dependency(CUstream s) {
  sg_ctx *c;
  if (!is_legacy(s) || sg_ctx_get(&c) || !legacy_blocked(s, c)) return CUDA_SUCCESS;
  for (size_t i = 0; i < g_nmembers; i++)
    if (g_members[i].cap->ctx == c) invalidate(g_members[i].cap);
  return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
}

CUresult sg_capture_check_legacy(void) {
  if (atomic_load(&g_live) == 0) return CUDA_SUCCESS;
  sg_graph_lock();
  CUresult rc = implicit_dependency(CU_STREAM_LEGACY);
  sg_graph_unlock();
  return rc;
}

/* Under the lock: a node for op after the member's dependencies, which it then replaces. */
static CUresult append(member *m, sg_op *op) {
  if (m->cap->invalidated) {
    sg_op_free(op);
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  sg_gnode *node;
  CUresult rc = sg_graph_add(m->cap->graph, op, m->deps, m->n, &node);
  return rc ? rc : set_deps(m, &node, 1);
}

CUresult sg_capture_add(CUstream s, sg_op *op) {
  sg_graph_lock();
  member *m = find_member(s);
  CUresult rc = m ? append(m, op) : implicit_dependency(s);
  sg_graph_unlock();
  if (rc && !m) {
    sg_op_free(op);
  } else if (!m) {
    rc = sg_op_run(op, op->ctx);
    sg_op_free(op);
  }
  return rc;
}

CUresult sg_capture_event_record(CUstream s, CUevent e, int external) {
  sg_graph_lock();
  member *m = find_member(s);
  CUresult rc = m ? CUDA_SUCCESS : implicit_dependency(s);
  if (rc) {
  } else if (m && m->cap->invalidated) {
    rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  } else if (m && external) {
    sg_op op = {.type = CU_GRAPH_NODE_TYPE_EVENT_RECORD, .ctx = m->cap->ctx, .u.event = e};
    rc = append(m, &op);
  } else if (m) {
    rc = sg_event_set_mark(e, m->cap->id, m->deps, m->n);
  }
  sg_graph_unlock();
  return m || rc ? rc : sg_event_record_now(e);
}

int sg_capture_live(uint64_t id) {
  if (!id || atomic_load(&g_live) == 0) return 0;
  sg_graph_lock();
  int live = find_capture(id) != NULL;
  sg_graph_unlock();
  return live;
}

int sg_capture_wait_event(CUstream s, CUevent e, unsigned flags, CUresult *rc) {
  if (atomic_load(&g_live) == 0) return 0;
  uint64_t id;
  sg_gnode **deps;
  size_t n;
  if ((*rc = sg_event_get_mark(e, &id, &deps, &n))) return 1;
  sg_graph_lock();
  member *m = find_member(s);
  capture *from = id ? find_capture(id) : NULL;
  int handled = 1;
  *rc = CUDA_SUCCESS;
  if (m && m->cap->invalidated) {
    *rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  } else if (m && (flags & CU_EVENT_WAIT_EXTERNAL)) {
    sg_op op = {.type = CU_GRAPH_NODE_TYPE_WAIT_EVENT, .ctx = m->cap->ctx, .u.event = e};
    *rc = append(m, &op);
  } else if (m && from == m->cap) {
    *rc = merge_deps(m, deps, n); /* a join, or a wait on the stream's own event */
  } else if (m && from) {
    invalidate(m->cap);
    invalidate(from);
    *rc = CUDA_ERROR_STREAM_CAPTURE_MERGE;
  } else if (m) {
    invalidate(m->cap); /* the event's work is outside the capture */
    *rc = CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
  } else if (from && is_legacy(s)) {
    invalidate(from);
    *rc = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
  } else if (from && from->invalidated) {
    *rc = CUDA_ERROR_INVALID_VALUE;
  } else if (from) {
    sg_ctx *c;
    if (sg_stream_ctx(s, &c) || c != from->ctx) {
      *rc = CUDA_ERROR_INVALID_VALUE;
    } else {
      member *fork = add_member(s, from); /* the stream joins the capture (a fork) */
      *rc = !fork ? CUDA_ERROR_OUT_OF_MEMORY : set_deps(fork, deps, n);
      if (*rc && fork) drop_member(fork);
    }
  } else {
    handled = 0;
  }
  sg_graph_unlock();
  free(deps);
  return handled;
}

/* Per cuThreadExchangeStreamCaptureMode: a thread not in relaxed mode may not make potentially
 * unsafe calls while it has a non-relaxed capture of its own, nor, in global mode, while any
 * other thread has a global-mode capture. The captures concerned are invalidated. */
CUresult sg_capture_check_unsafe(void) {
  if (atomic_load(&g_live) == 0 || t_mode == CU_STREAM_CAPTURE_MODE_RELAXED) return CUDA_SUCCESS;
  CUresult rc = CUDA_SUCCESS;
  sg_graph_lock();
  for (size_t i = 0; i < g_ncaps; i++) {
    capture *cap = g_caps[i];
    int mine = cap->thread == &t_token && cap->mode != CU_STREAM_CAPTURE_MODE_RELAXED;
    int global = cap->thread != &t_token && t_mode == CU_STREAM_CAPTURE_MODE_GLOBAL &&
                 cap->mode == CU_STREAM_CAPTURE_MODE_GLOBAL;
    if (mine || global) {
      invalidate(cap);
      rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
  }
  sg_graph_unlock();
  return rc;
}

CUresult sg_capture_check_sync(CUstream s) {
  if (atomic_load(&g_live) == 0) return CUDA_SUCCESS;
  sg_ctx *c;
  CUresult rc = sg_stream_ctx(s, &c);
  if (rc) return rc;
  sg_graph_lock();
  member *m = find_member(s);
  if (m) {
    invalidate(m->cap);
    rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  } else {
    rc = implicit_dependency(s);
  }
  sg_graph_unlock();
  return rc;
}

/* The origin going away ends the capture (nobody can end it any more); another member going
 * away leaves work that can never be joined. */
void sg_capture_forget_stream(CUstream s) {
  if (atomic_load(&g_live) == 0) return;
  sg_graph_lock();
  member *m = find_member(s);
  if (m && is_origin(m)) {
    end_capture(m->cap, 0);
  } else if (m) {
    invalidate(m->cap);
    drop_member(m);
  }
  sg_graph_unlock();
}

void sg_capture_release_ctx(sg_ctx *c) {
  if (atomic_load(&g_live) == 0) return;
  sg_graph_lock();
  for (size_t i = 0; i < g_ncaps;) {
    if (g_caps[i]->ctx == c) end_capture(g_caps[i], 0); /* moves the last capture into slot i */
    else i++;
  }
  sg_graph_unlock();
}
