/*
 * Reading and replacing the parameters of graph nodes (kernel, memcpy, memset, host). A new
 * operation is built and validated before the lock is taken, then swapped in, so a rejected
 * update leaves the node as it was.
 */
#include "sg_graph.h"

#include <string.h>

/* Under the lock: the node when it is live and of the given type. */
static CUresult typed_node(CUgraphNode h, CUgraphNodeType type, sg_gnode **out) {
  sg_gnode *n = sg_gnode_find(h);
  if (!n) return sg_graph_bad(h);
  if (n->op.type != type) return CUDA_ERROR_INVALID_VALUE;
  *out = n;
  return CUDA_SUCCESS;
}

/* Replaces the operation of a node of the same type; *op is taken over either way. */
CUresult sg_graph_set_node(CUgraphNode h, sg_op *op) {
  sg_graph_lock();
  sg_gnode *n;
  CUresult rc = typed_node(h, op->type, &n);
  if (!rc) {
    sg_op old = n->op;
    n->op = *op;
    *op = old;
  }
  sg_op_drop_child_graph(op);
  sg_graph_unlock();
  sg_op_free(op);
  return rc;
}

/* ---- kernel nodes ------------------------------------------------------------------------------
 * kernelParams handed out point into the node's own copy of the parameters: valid until the
 * node's parameters change or the node is destroyed, as with the driver. */

SG_EXPORT CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!nodeParams) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  sg_gnode *n;
  CUresult rc = typed_node(hNode, CU_GRAPH_NODE_TYPE_KERNEL, &n);
  if (!rc) {
    const sg_op *op = &n->op;
    memset(nodeParams, 0, sizeof *nodeParams);
    nodeParams->func = op->u.k.f;
    nodeParams->gridDimX = op->u.k.grid[0];
    nodeParams->gridDimY = op->u.k.grid[1];
    nodeParams->gridDimZ = op->u.k.grid[2];
    nodeParams->blockDimX = op->u.k.block[0];
    nodeParams->blockDimY = op->u.k.block[1];
    nodeParams->blockDimZ = op->u.k.block[2];
    nodeParams->sharedMemBytes = op->u.k.shared;
    nodeParams->kernelParams = op->u.k.argv;
    nodeParams->ctx = (CUcontext)op->ctx;
  }
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (!nodeParams) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_KERNEL_NODE_PARAMS p;
  CUresult rc = cuGraphKernelNodeGetParams_v2(hNode, &p);
  if (!rc) memcpy(nodeParams, &p, sizeof *nodeParams); /* v2 extends v1 */
  return rc;
}

SG_EXPORT CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  sg_op op;
  CUresult rc = sg_op_from_kernel_params(&op, nodeParams);
  return rc ? rc : sg_graph_set_node(hNode, &op);
}

SG_EXPORT CUresult cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (!nodeParams) return sg_initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  CUDA_KERNEL_NODE_PARAMS p;
  memset(&p, 0, sizeof p);
  memcpy(&p, nodeParams, sizeof *nodeParams);
  return cuGraphKernelNodeSetParams_v2(hNode, &p);
}

/* ---- memcpy and memset nodes ------------------------------------------------------------------- */

SG_EXPORT CUresult cuGraphMemcpyNodeGetParams(CUgraphNode hNode, CUDA_MEMCPY3D *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!nodeParams) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  sg_gnode *n;
  CUresult rc = typed_node(hNode, CU_GRAPH_NODE_TYPE_MEMCPY, &n);
  if (!rc) *nodeParams = n->op.u.copy;
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphMemcpyNodeSetParams(CUgraphNode hNode, const CUDA_MEMCPY3D *nodeParams) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = sg_ctx_get(&c);
  if (rc || (rc = sg_op_copy(&op, c, nodeParams))) return rc;
  return sg_graph_set_node(hNode, &op);
}

SG_EXPORT CUresult cuGraphMemsetNodeGetParams(CUgraphNode hNode, CUDA_MEMSET_NODE_PARAMS *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!nodeParams) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  sg_gnode *n;
  CUresult rc = typed_node(hNode, CU_GRAPH_NODE_TYPE_MEMSET, &n);
  if (!rc) *nodeParams = n->op.u.set;
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphMemsetNodeSetParams(CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *nodeParams) {
  sg_ctx *c;
  sg_op op;
  CUresult rc = sg_ctx_get(&c);
  if (rc || (rc = sg_op_memset(&op, c, nodeParams))) return rc;
  return sg_graph_set_node(hNode, &op);
}

/* ---- host nodes -------------------------------------------------------------------------------- */

SG_EXPORT CUresult cuGraphHostNodeGetParams(CUgraphNode hNode, CUDA_HOST_NODE_PARAMS *nodeParams) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!nodeParams) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  sg_gnode *n;
  CUresult rc = typed_node(hNode, CU_GRAPH_NODE_TYPE_HOST, &n);
  if (!rc) *nodeParams = n->op.u.host;
  sg_graph_unlock();
  return rc;
}

SG_EXPORT CUresult cuGraphHostNodeSetParams(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *nodeParams) {
  sg_ctx *c;
  CUresult rc = sg_ctx_get(&c);
  if (rc) return rc;
  if (!nodeParams || !nodeParams->fn) return CUDA_ERROR_INVALID_VALUE;
  sg_op op = {.type = CU_GRAPH_NODE_TYPE_HOST, .ctx = c, .u.host = *nodeParams};
  return sg_graph_set_node(hNode, &op);
}
