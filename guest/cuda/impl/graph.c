/*
 * Capture information and graph instantiation forms that are answered on top of forwarded calls.
 * vgpu does not expose graph nodes to the guest, so the node-level outputs (dependencies, edge
 * data, error nodes) are always empty; status, capture id and the instantiated graph are real.
 */
#include "vgcuda.h"

#include <string.h>

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

/* Forwarded by hand: the result info's node fields have no guest meaning. The driver's answer
 * travels inside a successful reply, so a refused update still says why (docs/protocol.md). */
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
  }
  return vg_call_end(&c, r);
}

VG_EXPORT CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo) {
  VG_TRACED(exec_update(hGraphExec, hGraph, resultInfo));
}
