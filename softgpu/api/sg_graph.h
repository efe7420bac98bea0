/*
 * CUDA graphs and stream capture, shared by graph*.c, capture.c and the stream-operation files
 * (launch.c, memcpy.c, memset.c, event.c, stream.c) that divert work into a capture.
 *
 * Model. A graph owns an array of nodes in creation order; each node holds one operation
 * (sg_op: a kernel with its parameters already packed, a 3D copy, a memset, a host call, an
 * event record/wait, a child graph held as a private exec, or nothing) and the list of nodes it
 * depends on. Instantiation copies every
 * operation into an exec together with a topological order, so an exec is independent of later
 * changes to (or destruction of) its graph. Launch runs that order on the caller's thread, which
 * is all a synchronous device needs.
 *
 * Capture. A stream taking part in a capture owns a dependency set (the nodes its next operation
 * will depend on); operations enqueued on it become nodes instead of running. Events recorded
 * on a capturing stream remember that set, so a wait on them forks other streams into the
 * capture or joins them back.
 *
 * Locking. One mutex (sg_graph_lock) guards every graph, node and capture structure; it is
 * never held while a kernel runs. Lock order: graph lock, then event.c's lock, then the registry. An exec is pinned by a reference while it runs so that a
 * concurrent cuGraphExecDestroy is deferred instead of freeing it under the launch.
 */
#ifndef SG_GRAPH_H
#define SG_GRAPH_H

#include "sg_module.h"

/* ---- operations (graph_op.c) ------------------------------------------------------------- */
typedef struct sg_exec sg_exec;

typedef struct sg_op {
  CUgraphNodeType type; /* KERNEL, MEMCPY, MEMSET, HOST, GRAPH, EVENT_RECORD, WAIT_EVENT or EMPTY */
  sg_ctx *ctx;          /* context the operation was made for */
  union {
    struct {
      CUfunction f;
      unsigned grid[3], block[3], shared;
      unsigned char *params; /* packed per the kernel's .param layout (owned) */
      size_t params_size;
      void **argv; /* one pointer per parameter into params, for GetParams (owned) */
      int argc;
      int coop; /* a cooperative launch (CU_LAUNCH_ATTRIBUTE_COOPERATIVE) */
    } k;
    CUDA_MEMCPY3D copy;
    CUDA_MEMSET_NODE_PARAMS set;
    CUDA_HOST_NODE_PARAMS host;
    CUevent event;
    sg_exec *child; /* private instantiation of the child graph (owned) */
  } u;
  /* A graph node's child graph (type GRAPH): the node's own copy of it, which
   * cuGraphChildGraphNodeGetGraph hands out and which instantiation and cloning read, so edits
   * made through that handle count. Graph nodes only (execs run u.child); NULL for a child made
   * by launching an exec into a capture. Owned; created and freed under the graph lock
   * (sg_op_drop_child_graph), never by sg_op_clone or sg_op_free. */
  struct sg_graph *child_graph;
} sg_op;

/* Builds a kernel operation, validating as cuLaunchKernel does and copying the parameters. */
CUresult sg_op_kernel(sg_op *op, sg_ctx *c, CUfunction f, const unsigned grid[3], const unsigned block[3],
                      unsigned shared, void **kernelParams, void **extra);
/* Copy and memset operations, validated against current memory. */
CUresult sg_op_copy(sg_op *op, sg_ctx *c, const CUDA_MEMCPY3D *p);
CUresult sg_op_memset(sg_op *op, sg_ctx *c, const CUDA_MEMSET_NODE_PARAMS *p);
/* A kernel operation from node parameters (func, or kern in ctx / the current context). */
CUresult sg_op_from_kernel_params(sg_op *op, const CUDA_KERNEL_NODE_PARAMS *p);
/* Deep copy (kernel parameters are duplicated); the copy has no child_graph. */
CUresult sg_op_clone(sg_op *dst, const sg_op *src);
/* Under the lock: frees op's child_graph, if any. */
void sg_op_drop_child_graph(sg_op *op);
/* Under the lock: dst (a copy of graph node op src made by sg_op_clone) as a clone of the graph
 * gets it: with a copy of src's child_graph (as_graph), or, for an exec, with its body
 * instantiated from that graph as it is now. Nothing to do for other operations. */
CUresult sg_op_child_from_graph(sg_op *dst, const sg_op *src, int as_graph);
void sg_op_free(sg_op *op);
/* Runs the operation now, in context c. */
CUresult sg_op_run(const sg_op *op, sg_ctx *c);

/* ---- hooks into the stream-operation files ------------------------------------------------- */
/* launch.c: validation + packing, and running packed parameters. */
CUresult sg_launch_pack(CUfunction f, sg_ctx *c, const unsigned g[3], const unsigned b[3], unsigned shared,
                        void **kernelParams, void **extra, void **params, size_t *size);
CUresult sg_launch_packed(CUfunction f, sg_ctx *c, const unsigned g[3], const unsigned b[3], unsigned shared,
                          void *params, size_t size, int coop);
/* memcpy.c / memset.c: check (run == 0) or perform (run == 1) a copy/memset. */
CUresult sg_memcpy_3d(const CUDA_MEMCPY3D *p, int run);
CUresult sg_memset_2d(CUdeviceptr dst, size_t pitch, uint32_t value, unsigned elem, size_t width, size_t height,
                      int run);
/* event.c: records an event now; and the capture mark a record on a capturing stream leaves. */
CUresult sg_event_record_now(CUevent e);
struct sg_gnode;
CUresult sg_event_set_mark(CUevent e, uint64_t capture_id, struct sg_gnode *const *deps, size_t n);
/* Copies the mark out (malloc'ed array in *deps, caller frees); capture_id 0 when none. */
CUresult sg_event_get_mark(CUevent e, uint64_t *capture_id, struct sg_gnode ***deps, size_t *n);

/* ---- graphs (graph.c) ---------------------------------------------------------------------- */
typedef struct sg_graph sg_graph;

typedef struct sg_gnode {
  sg_graph *graph;
  uint64_t id; /* unique over the process; lets an exec name its origin nodes without pointers */
  uint64_t cloned_from; /* id of the node cuGraphClone copied this one from (0: none) */
  sg_op op;
  size_t ndeps, capdeps;
  struct sg_gnode **deps;
  size_t index; /* position in graph->nodes, refreshed by sg_graph_index() */
} sg_gnode;

struct sg_graph {
  sg_ctx *ctx;
  size_t n, cap;
  sg_gnode **nodes;
  int capturing; /* the target of an active capture: may not be destroyed */
};

/* What a failed handle lookup reports: NULL is a missing argument, anything else a stale or
 * wrong-type handle. */
static inline CUresult sg_graph_bad(const void *h) { return h ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_INVALID_VALUE; }

void sg_graph_lock(void);
void sg_graph_unlock(void);
/* Under the lock: live graph / node handle, or NULL. */
sg_graph *sg_graph_find(CUgraph h);
sg_gnode *sg_gnode_find(CUgraphNode h);
/* Under the lock: new graph owned by c (NULL when out of memory), freeing one. */
sg_graph *sg_graph_new(sg_ctx *c);
void sg_graph_free(sg_graph *g);
/* Under the lock: a copy of g (cuGraphClone). */
CUresult sg_graph_clone(sg_graph *g, sg_graph **out);
/* Under the lock: appends a node taking over *op; deps must be nodes of g. On failure the
 * operation is freed. */
CUresult sg_graph_add(sg_graph *g, sg_op *op, sg_gnode *const *deps, size_t ndeps, sg_gnode **out);
/* API-level node changes, taking the lock themselves; *op is taken over in every case.
 * add: a new node of hGraph; set: replaces a graph node's operation (same type); exec_set:
 * replaces the operation an exec holds for that node (graph_exec.c). */
CUresult sg_graph_add_node(CUgraphNode *phNode, CUgraph hGraph, const CUgraphNode *deps, size_t n, sg_op *op);
CUresult sg_graph_set_node(CUgraphNode hNode, sg_op *op);
CUresult sg_exec_set_node(CUgraphExec hExec, CUgraphNode hNode, sg_op *op);
/* Under the lock: sets every node's index field. */
void sg_graph_index(sg_graph *g);
/* Under the lock: 1 when some node of g depends on n. */
int sg_gnode_has_dependents(const sg_gnode *n);
/* Frees graphs, execs and captures that belong to a context being destroyed. */
void sg_graph_release_ctx(sg_ctx *c);
void sg_exec_release_ctx(sg_ctx *c);

/* ---- execs (graph_exec.c) ------------------------------------------------------------------
 * Unregistered execs are the bodies of child-graph nodes. */
/* Under the lock: instantiates g without registering the result. */
CUresult sg_exec_private(sg_graph *g, sg_exec **out);
CUresult sg_exec_clone(const sg_exec *x, sg_exec **out);
void sg_exec_free(sg_exec *x);
CUresult sg_exec_run(sg_exec *x, sg_ctx *c);

/* ---- capture (capture.c) ------------------------------------------------------------------- */
/* 1 when the stream takes part in a capture (active or invalidated); cheap when none exists. */
int sg_capture_on(CUstream s);
/* Adds op (taken over) to the stream's capture: CUDA_ERROR_STREAM_CAPTURE_INVALIDATED when the
 * capture was invalidated; runs the operation when the stream stopped capturing meanwhile. */
CUresult sg_capture_add(CUstream s, sg_op *op);
/* Record / wait on a capturing stream (or a wait that may join a capture). */
CUresult sg_capture_event_record(CUstream s, CUevent e, int external);
/* Returns 1 and sets *rc when the wait was handled by capture logic, 0 for a plain wait. */
int sg_capture_wait_event(CUstream s, CUevent e, unsigned flags, CUresult *rc);
/* Potentially unsafe calls (synchronous copies, synchronisation): CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
 * when the calling thread's capture mode forbids them, invalidating the captures concerned.
 * sg_capture_check_sync also refuses (and invalidates) a stream that is itself capturing. */
CUresult sg_capture_check_unsafe(void);
CUresult sg_capture_check_sync(CUstream s);
/* A stream is going away: it leaves its capture, which is invalidated. */
void sg_capture_forget_stream(CUstream s);
/* Synchronous legacy-stream work while a blocking stream of the current context captures:
 * CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, and those captures are invalidated. */
CUresult sg_capture_check_legacy(void);
/* 1 while the capture with this id has not ended. */
int sg_capture_live(uint64_t id);
void sg_capture_release_ctx(sg_ctx *c);

/* Body of a synchronous (legacy-stream) entry point: context checks, then the capture rule for
 * potentially unsafe calls, then `call`. */
#define SG_SYNC_ON_CURRENT(call)                    \
  do {                                              \
    sg_ctx *c_;                                     \
    CUresult rc_ = sg_ctx_get(&c_);                 \
    if (!rc_) rc_ = sg_capture_check_unsafe();      \
    if (!rc_) rc_ = sg_capture_check_legacy();      \
    return rc_ ? rc_ : (call);                      \
  } while (0)

#endif
