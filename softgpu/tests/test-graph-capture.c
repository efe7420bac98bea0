/* Stream capture: work on a capturing stream becomes a graph that replays it; fork/join through
 * events; capture modes and the calls they forbid; capture queries; misuse error codes. */
#include <pthread.h>
#include <string.h>

#include "sg_test_cu.h"
#include "sg_test_kernels.h"

/* The pre-12.3 entry points by their exported names (cuda.h maps the plain names to the newest). */
#undef cuStreamGetCaptureInfo
#undef cuStreamUpdateCaptureDependencies
CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out);
CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out,
                                   CUgraph *graph_out, const CUgraphNode **dependencies_out,
                                   size_t *numDependencies_out);
CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out, cuuint64_t *id_out,
                                   CUgraph *graph_out, const CUgraphNode **dependencies_out,
                                   const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out);
CUresult cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies, size_t numDependencies,
                                           unsigned int flags);

#define N 256

static CUfunction load_axpy(void) {
  CUmodule m;
  CUfunction f;
  ASSERT_CU_OK(cuModuleLoadData(&m, SG_TEST_PTX));
  ASSERT_CU_OK(cuModuleGetFunction(&f, m, "axpy"));
  return f;
}

static unsigned f32_bits(float v) {
  unsigned u;
  memcpy(&u, &v, sizeof u);
  return u;
}

/* y = a*x + y over N elements, 4 blocks of 64; the parameter storage is the caller's. */
static CUresult launch_axpy(CUfunction f, CUstream s, float *a, CUdeviceptr *x, CUdeviceptr *y, int *n) {
  void *args[] = {a, x, y, n};
  return cuLaunchKernel(f, N / 64, 1, 1, 64, 1, 1, 0, s, args, NULL);
}

TEST(capture_copies_memset_kernel_replayed_three_times) {
  sg_test_setup();
  CUfunction f = load_axpy();
  CUstream s;
  CUdeviceptr x, y;
  static float hx[N], hy[N];
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  ASSERT_CU_OK(cuMemAlloc(&x, N * sizeof(float)));
  ASSERT_CU_OK(cuMemAlloc(&y, N * sizeof(float)));
  for (int i = 0; i < N; i++) hy[i] = -7.0f;

  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuMemcpyHtoDAsync(x, hx, sizeof hx, s));
  ASSERT_CU_OK(cuMemsetD32Async(y, f32_bits(1.0f), N, s));
  {
    float a = 2.0f;
    CUdeviceptr px = x, py = y;
    int n = N;
    ASSERT_CU_OK(launch_axpy(f, s, &a, &px, &py, &n));
    /* The captured launch must have copied these: scribble over them. */
    a = 100.0f;
    px = py = 0;
    n = 0;
  }
  ASSERT_CU_OK(cuMemcpyDtoHAsync(hy, y, sizeof hy, s));
  CUgraph g;
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  ASSERT_EQ(hy[0], -7.0f); /* nothing ran during capture */

  size_t count = 0;
  CUgraphNode nodes[8];
  ASSERT_CU_OK(cuGraphGetNodes(g, NULL, &count));
  ASSERT_EQ(count, 4);
  ASSERT_CU_OK(cuGraphGetNodes(g, nodes, &count));
  CUgraphNodeType want[4] = {CU_GRAPH_NODE_TYPE_MEMCPY, CU_GRAPH_NODE_TYPE_MEMSET, CU_GRAPH_NODE_TYPE_KERNEL,
                             CU_GRAPH_NODE_TYPE_MEMCPY};
  for (int i = 0; i < 4; i++) {
    CUgraphNodeType t;
    ASSERT_CU_OK(cuGraphNodeGetType(nodes[i], &t));
    ASSERT_EQ(t, want[i]);
  }
  size_t roots = 0;
  ASSERT_CU_OK(cuGraphGetRootNodes(g, NULL, &roots));
  ASSERT_EQ(roots, 1); /* one stream: a chain */

  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  for (int rep = 0; rep < 3; rep++) {
    for (int i = 0; i < N; i++) hx[i] = (float)(i + 10 * rep); /* read at replay, not capture */
    for (int i = 0; i < N; i++) hy[i] = -7.0f;
    ASSERT_CU_OK(cuGraphLaunch(ex, s));
    ASSERT_CU_OK(cuStreamSynchronize(s));
    for (int i = 0; i < N; i++)
      if (hy[i] != 2.0f * hx[i] + 1.0f) FAIL("rep %d: y[%d] = %f, want %f", rep, i, hy[i], 2.0f * hx[i] + 1.0f);
  }
  ASSERT_CU_OK(cuGraphExecDestroy(ex));
  ASSERT_CU_OK(cuGraphDestroy(g));
}

TEST(capture_fork_join_two_streams) {
  sg_test_setup();
  CUstream s1, s2;
  CUevent fork, join;
  CUdeviceptr a, b;
  unsigned ha[64], hb[64];
  ASSERT_CU_OK(cuStreamCreate(&s1, 0));
  ASSERT_CU_OK(cuStreamCreate(&s2, 0));
  ASSERT_CU_OK(cuEventCreate(&fork, CU_EVENT_DISABLE_TIMING));
  ASSERT_CU_OK(cuEventCreate(&join, CU_EVENT_DISABLE_TIMING));
  ASSERT_CU_OK(cuMemAlloc(&a, sizeof ha));
  ASSERT_CU_OK(cuMemAlloc(&b, sizeof hb));

  ASSERT_CU_OK(cuStreamBeginCapture_v2(s1, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuMemsetD32Async(a, 5, 64, s1));
  ASSERT_CU_OK(cuEventRecord(fork, s1));
  ASSERT_CU_OK(cuStreamWaitEvent(s2, fork, 0)); /* s2 joins the capture */
  CUstreamCaptureStatus st;
  ASSERT_CU_OK(cuStreamIsCapturing(s2, &st));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  ASSERT_CU_OK(cuMemsetD32Async(b, 9, 64, s2));
  ASSERT_CU_OK(cuMemsetD32Async(a, 6, 32, s1)); /* concurrent branch */
  ASSERT_CU_OK(cuEventRecord(join, s2));
  ASSERT_CU_OK(cuStreamWaitEvent(s1, join, 0));
  ASSERT_CU_OK(cuMemcpyDtoDAsync(a + 32 * 4, b, 32 * 4, s1)); /* after both branches */
  CUgraph g;
  ASSERT_CU_OK(cuStreamEndCapture(s1, &g));
  ASSERT_CU_OK(cuStreamIsCapturing(s2, &st));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_NONE);

  CUgraphNode nodes[4], deps[4];
  size_t n = 4, nd = 4;
  ASSERT_CU_OK(cuGraphGetNodes(g, nodes, &n));
  ASSERT_EQ(n, 4);
  ASSERT_CU_OK(cuGraphNodeGetDependencies(nodes[1], deps, NULL, &nd)); /* memset b depends on memset a */
  ASSERT_EQ(nd, 1);
  ASSERT_EQ((void *)deps[0], (void *)nodes[0]);
  nd = 4;
  ASSERT_CU_OK(cuGraphNodeGetDependencies(nodes[3], deps, NULL, &nd)); /* the copy joins both branches */
  ASSERT_EQ(nd, 2);

  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  ASSERT_CU_OK(cuMemsetD32(a, 0, 64));
  ASSERT_CU_OK(cuMemsetD32(b, 0, 64));
  ASSERT_CU_OK(cuGraphLaunch(ex, s1));
  ASSERT_CU_OK(cuMemcpyDtoH(ha, a, sizeof ha));
  ASSERT_CU_OK(cuMemcpyDtoH(hb, b, sizeof hb));
  for (int i = 0; i < 64; i++) {
    ASSERT_EQ(ha[i], i < 32 ? 6u : 9u);
    ASSERT_EQ(hb[i], 9u);
  }
}

TEST(capture_unjoined_fork_fails_end) {
  sg_test_setup();
  CUstream s1, s2;
  CUevent e;
  CUdeviceptr a;
  ASSERT_CU_OK(cuStreamCreate(&s1, 0));
  ASSERT_CU_OK(cuStreamCreate(&s2, 0));
  ASSERT_CU_OK(cuEventCreate(&e, 0));
  ASSERT_CU_OK(cuMemAlloc(&a, 256));
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s1, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuEventRecord(e, s1));
  ASSERT_CU_OK(cuStreamWaitEvent(s2, e, 0));
  ASSERT_CU_OK(cuMemsetD8Async(a, 1, 256, s2));
  CUgraph g = (CUgraph)&g;
  ASSERT_CU(cuStreamEndCapture(s2, &g), CUDA_ERROR_STREAM_CAPTURE_UNMATCHED); /* not the origin */
  ASSERT_CU(cuStreamEndCapture(s1, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  ASSERT_NULL(g);

  /* Same fork without the failed end: still unjoined. */
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s1, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuEventRecord(e, s1));
  ASSERT_CU_OK(cuStreamWaitEvent(s2, e, 0));
  ASSERT_CU_OK(cuMemsetD8Async(a, 1, 256, s2));
  ASSERT_CU(cuStreamEndCapture(s1, &g), CUDA_ERROR_STREAM_CAPTURE_UNJOINED);
  ASSERT_NULL(g);
  CUstreamCaptureStatus st;
  ASSERT_CU_OK(cuStreamIsCapturing(s2, &st));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_NONE);
}

TEST(capture_sync_is_illegal_in_global_mode) {
  sg_test_setup();
  CUstream s;
  CUdeviceptr d;
  unsigned v = 1;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuMemsetD32Async(d, 3, 16, s));
  ASSERT_CU(cuMemcpyHtoD(d, &v, sizeof v), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  CUstreamCaptureStatus st;
  ASSERT_CU_OK(cuStreamIsCapturing(s, &st));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_INVALIDATED);
  ASSERT_CU(cuMemsetD32Async(d, 4, 16, s), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  CUgraph g = (CUgraph)&g;
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  ASSERT_NULL(g);
  /* The stream is usable again, and the memset captured before never ran. */
  ASSERT_CU_OK(cuStreamSynchronize(s));
  ASSERT_CU_OK(cuMemcpyDtoH(&v, d, sizeof v));
  ASSERT_EQ(v, 0u);

  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU(cuStreamSynchronize(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU(cuStreamQuery(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
}

TEST(capture_relaxed_thread_may_sync) {
  sg_test_setup();
  CUstream s;
  CUdeviceptr d;
  unsigned v = 1;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
  ASSERT_CU_OK(cuThreadExchangeStreamCaptureMode(&mode));
  ASSERT_EQ(mode, CU_STREAM_CAPTURE_MODE_GLOBAL); /* the default */
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuMemcpyHtoD(d, &v, sizeof v));
  CUgraph g;
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  ASSERT_CU_OK(cuThreadExchangeStreamCaptureMode(&mode));
  ASSERT_EQ(mode, CU_STREAM_CAPTURE_MODE_RELAXED);
  mode = (CUstreamCaptureMode)7;
  ASSERT_CU(cuThreadExchangeStreamCaptureMode(&mode), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(mode, (CUstreamCaptureMode)7);
  ASSERT_CU(cuStreamBeginCapture_v2(s, (CUstreamCaptureMode)7), CUDA_ERROR_INVALID_VALUE);
}

typedef struct other_thread {
  CUcontext ctx;
  CUdeviceptr d;
  CUstreamCaptureMode mode;
  CUresult rc;
} other_thread;

static void *copy_from_other_thread(void *arg) {
  other_thread *t = arg;
  unsigned v = 2;
  cuCtxSetCurrent(t->ctx);
  CUstreamCaptureMode m = t->mode;
  cuThreadExchangeStreamCaptureMode(&m);
  t->rc = cuMemcpyHtoD(t->d, &v, sizeof v);
  return NULL;
}

static CUresult copy_in_thread(CUcontext ctx, CUdeviceptr d, CUstreamCaptureMode mode) {
  other_thread t = {ctx, d, mode, CUDA_ERROR_UNKNOWN};
  pthread_t th;
  if (pthread_create(&th, NULL, copy_from_other_thread, &t) != 0) FAIL("pthread_create");
  pthread_join(th, NULL);
  return t.rc;
}

TEST(capture_modes_across_threads) {
  CUcontext ctx = sg_test_setup();
  CUstream s;
  CUdeviceptr d;
  CUgraph g;
  ASSERT_CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING)); /* no implicit legacy-stream dependency */
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  /* A thread-local capture does not restrict other threads. */
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
  ASSERT_CU_OK(copy_in_thread(ctx, d, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  /* A global capture restricts global-mode threads, not thread-local ones. */
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(copy_in_thread(ctx, d, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
  ASSERT_CU(copy_in_thread(ctx, d, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
}

TEST(capture_info_ids_and_dependencies) {
  sg_test_setup();
  CUstream s, t;
  CUdeviceptr d;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuStreamCreate(&t, 0));
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_ACTIVE;
  cuuint64_t id1 = 0, id2 = 0;
  ASSERT_CU_OK(cuStreamGetCaptureInfo(s, &st, &id1));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_NONE);

  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU_OK(cuStreamBeginCapture_v2(t, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU_OK(cuStreamGetCaptureInfo(s, &st, &id1));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  ASSERT_CU_OK(cuStreamGetCaptureInfo(t, &st, &id2));
  ASSERT_NE(id1, 0);
  ASSERT_NE(id1, id2);

  CUgraph g = NULL;
  const CUgraphNode *deps = NULL;
  const CUgraphEdgeData *edges = NULL;
  size_t nd = 99;
  ASSERT_CU_OK(cuStreamGetCaptureInfo_v2(s, &st, NULL, &g, &deps, &nd));
  ASSERT_NOT_NULL(g);
  ASSERT_EQ(nd, 0);
  ASSERT_CU_OK(cuMemsetD32Async(d, 1, 16, s));
  ASSERT_CU_OK(cuStreamGetCaptureInfo_v3(s, &st, NULL, NULL, &deps, &edges, &nd));
  ASSERT_EQ(nd, 1);
  ASSERT_NOT_NULL(edges);
  ASSERT_EQ(edges[0].type, 0);
  CUgraphNode first = deps[0];
  CUgraphNodeType type;
  ASSERT_CU_OK(cuGraphNodeGetType(first, &type));
  ASSERT_EQ(type, CU_GRAPH_NODE_TYPE_MEMSET);
  ASSERT_CU(cuStreamGetCaptureInfo_v3(s, &st, NULL, NULL, NULL, &edges, &nd), CUDA_ERROR_INVALID_VALUE);

  /* Dropping the dependency makes the next node a second root. */
  ASSERT_CU_OK(cuStreamUpdateCaptureDependencies(s, NULL, 0, CU_STREAM_SET_CAPTURE_DEPENDENCIES));
  ASSERT_CU_OK(cuMemsetD32Async(d, 2, 16, s));
  ASSERT_CU_OK(cuStreamUpdateCaptureDependencies(s, &first, 1, CU_STREAM_ADD_CAPTURE_DEPENDENCIES));
  ASSERT_CU_OK(cuStreamGetCaptureInfo_v2(s, &st, NULL, NULL, &deps, &nd));
  ASSERT_EQ(nd, 2);
  ASSERT_CU(cuStreamUpdateCaptureDependencies(s, &first, 1, 5), CUDA_ERROR_INVALID_VALUE);
  ASSERT_CU(cuStreamUpdateCaptureDependencies(t, &first, 1, 0), CUDA_ERROR_INVALID_VALUE); /* other graph */
  ASSERT_CU_OK(cuMemsetD32Async(d, 3, 16, s));

  CUgraph out;
  ASSERT_CU(cuGraphDestroy(g), CUDA_ERROR_ILLEGAL_STATE); /* still being captured into */
  ASSERT_CU_OK(cuStreamEndCapture(s, &out));
  ASSERT_EQ((void *)out, (void *)g);
  size_t roots = 0;
  ASSERT_CU_OK(cuGraphGetRootNodes(out, NULL, &roots));
  ASSERT_EQ(roots, 2);
  ASSERT_CU_OK(cuStreamEndCapture(t, &out));
  ASSERT_CU(cuStreamUpdateCaptureDependencies(s, NULL, 0, 0), CUDA_ERROR_ILLEGAL_STATE);
}

TEST(capture_misuse_error_codes) {
  sg_test_setup();
  CUstream s, t;
  CUevent e;
  CUgraph g;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuStreamCreate(&t, 0));
  ASSERT_CU_OK(cuEventCreate(&e, 0));
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_ILLEGAL_STATE);
  ASSERT_CU(cuStreamBeginCapture_v2(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU(cuStreamBeginCapture_v2(CU_STREAM_LEGACY, CU_STREAM_CAPTURE_MODE_GLOBAL),
            CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU(cuStreamBeginCapture_v2((CUstream)e, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_INVALID_HANDLE);
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_ILLEGAL_STATE);
  ASSERT_CU(cuStreamEndCapture(s, NULL), CUDA_ERROR_INVALID_VALUE);
  /* Waiting on work recorded outside the capture crosses its boundary. */
  ASSERT_CU_OK(cuEventRecord(e, t));
  ASSERT_CU(cuStreamWaitEvent(s, e, 0), CUDA_ERROR_STREAM_CAPTURE_ISOLATION);
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  /* Two captures may not merge. */
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuStreamBeginCapture_v2(t, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuEventRecord(e, s));
  ASSERT_CU(cuStreamWaitEvent(t, e, 0), CUDA_ERROR_STREAM_CAPTURE_MERGE);
  ASSERT_CU(cuStreamEndCapture(t, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  /* Destroying a capturing stream ends its capture. */
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuStreamDestroy(s));
  ASSERT_CU_OK(cuStreamSynchronize(t));
}

static int g_host_calls;
static void count_call(void *p) { g_host_calls += *(int *)p; }

TEST(capture_host_func_and_event_record_external) {
  sg_test_setup();
  CUstream s;
  CUevent e0, e1;
  int inc = 3;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuEventCreate(&e0, 0));
  ASSERT_CU_OK(cuEventCreate(&e1, 0));
  ASSERT_CU_OK(cuEventRecord(e0, s));
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_CU_OK(cuLaunchHostFunc(s, count_call, &inc));
  ASSERT_CU_OK(cuEventRecordWithFlags(e1, s, CU_EVENT_RECORD_EXTERNAL));
  CUgraph g;
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  ASSERT_EQ(g_host_calls, 0);
  float ms;
  ASSERT_CU(cuEventElapsedTime(&ms, e0, e1), CUDA_ERROR_INVALID_HANDLE); /* e1 not recorded yet */
  CUgraphExec ex;
  ASSERT_CU_OK(cuGraphInstantiateWithFlags(&ex, g, 0));
  ASSERT_CU_OK(cuGraphLaunch(ex, s));
  ASSERT_CU_OK(cuGraphLaunch(ex, s));
  ASSERT_EQ(g_host_calls, 6);
  ASSERT_CU_OK(cuEventElapsedTime(&ms, e0, e1));
  ASSERT_GE(ms, 0.0f);
}

/* The legacy stream waits for blocking streams, so while one captures, legacy-stream work
 * would depend on captured work. */
TEST(capture_legacy_stream_implicit_dependency) {
  sg_test_setup();
  CUstream s, quiet;
  CUdeviceptr d;
  CUevent e;
  unsigned v = 1;
  ASSERT_CU_OK(cuStreamCreate(&s, 0));
  ASSERT_CU_OK(cuStreamCreate(&quiet, CU_STREAM_NON_BLOCKING));
  ASSERT_CU_OK(cuEventCreate(&e, 0));
  ASSERT_CU_OK(cuMemAlloc(&d, 64));
  CUstreamCaptureStatus st;
  CUgraph g;
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU(cuStreamIsCapturing(NULL, &st), CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
  ASSERT_CU_OK(cuStreamIsCapturing(s, &st)); /* a query does not invalidate */
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  ASSERT_CU_OK(cuMemsetD32Async(d, 1, 4, quiet)); /* non-blocking streams are independent */
  ASSERT_CU(cuMemsetD32Async(d, 2, 4, NULL), CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
  ASSERT_CU_OK(cuStreamIsCapturing(s, &st));
  ASSERT_EQ(st, CU_STREAM_CAPTURE_STATUS_INVALIDATED);
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);

  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU(cuMemcpyHtoD(d, &v, sizeof v), CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
  ASSERT_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);

  /* An event recorded in a capture cannot be waited for from the host until it ends. */
  ASSERT_CU_OK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_RELAXED));
  ASSERT_CU_OK(cuEventRecord(e, s));
  ASSERT_CU(cuEventQuery(e), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU(cuEventSynchronize(e), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  ASSERT_CU_OK(cuStreamEndCapture(s, &g));
  ASSERT_CU_OK(cuEventQuery(e));
  ASSERT_CU_OK(cuMemcpyHtoD(d, &v, sizeof v));
  ASSERT_CU_OK(cuMemcpyDtoH(&v, d, sizeof v));
  ASSERT_EQ(v, 1u); /* the memset on `quiet` ran, the refused ones did not */
}
