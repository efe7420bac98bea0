/*
 * The operation a graph node (or exec node) holds: building one with the same validation as the
 * corresponding stream call, copying, freeing and running it. Kernel parameters are packed when
 * the operation is built, because the caller's parameter buffers are gone by replay time.
 */
#include "sg_graph.h"

#include <stdlib.h>
#include <string.h>

/* One pointer per kernel parameter into the packed buffer, as cuGraphKernelNodeGetParams hands
 * out kernelParams. */
static CUresult make_argv(sg_op *op) {
  sg_func *f;
  CUresult rc = sg_func_lookup(op->u.k.f, &f);
  if (rc) return rc;
  int n = sg_ptx_param_count(f->k);
  op->u.k.argv = NULL;
  op->u.k.argc = 0;
  if (n <= 0) return CUDA_SUCCESS;
  void **argv = calloc((size_t)n, sizeof *argv);
  if (!argv) return CUDA_ERROR_OUT_OF_MEMORY;
  for (int i = 0; i < n; i++) {
    size_t off, size;
    if (sg_ptx_param_info(f->k, i, &off, &size) != SG_PTX_OK || off > op->u.k.params_size) {
      free(argv);
      return CUDA_ERROR_INVALID_VALUE;
    }
    argv[i] = op->u.k.params + off;
  }
  op->u.k.argv = argv;
  op->u.k.argc = n;
  return CUDA_SUCCESS;
}

CUresult sg_op_kernel(sg_op *op, sg_ctx *c, CUfunction f, const unsigned grid[3], const unsigned block[3],
                      unsigned shared, void **kernelParams, void **extra) {
  memset(op, 0, sizeof *op);
  void *params;
  size_t size;
  CUresult rc = sg_launch_pack(f, c, grid, block, shared, kernelParams, extra, &params, &size);
  if (rc) return rc;
  op->type = CU_GRAPH_NODE_TYPE_KERNEL;
  op->ctx = c;
  op->u.k.f = f;
  memcpy(op->u.k.grid, grid, sizeof op->u.k.grid);
  memcpy(op->u.k.block, block, sizeof op->u.k.block);
  op->u.k.shared = shared;
  op->u.k.params = params;
  op->u.k.params_size = size;
  if ((rc = make_argv(op))) {
    free(params);
    memset(op, 0, sizeof *op);
  }
  return rc;
}

CUresult sg_op_copy(sg_op *op, sg_ctx *c, const CUDA_MEMCPY3D *p) {
  memset(op, 0, sizeof *op);
  CUresult rc = sg_memcpy_3d(p, 0);
  if (rc) return rc;
  op->type = CU_GRAPH_NODE_TYPE_MEMCPY;
  op->ctx = c;
  op->u.copy = *p;
  return CUDA_SUCCESS;
}

CUresult sg_op_memset(sg_op *op, sg_ctx *c, const CUDA_MEMSET_NODE_PARAMS *p) {
  memset(op, 0, sizeof *op);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = sg_memset_2d(p->dst, p->pitch, p->value, p->elementSize, p->width, p->height, 0);
  if (rc) return rc;
  op->type = CU_GRAPH_NODE_TYPE_MEMSET;
  op->ctx = c;
  op->u.set = *p;
  return CUDA_SUCCESS;
}

CUresult sg_op_clone(sg_op *dst, const sg_op *src) {
  *dst = *src;
  dst->child_graph = NULL;
  if (src->type == CU_GRAPH_NODE_TYPE_GRAPH) return sg_exec_clone(src->u.child, &dst->u.child);
  if (src->type != CU_GRAPH_NODE_TYPE_KERNEL) return CUDA_SUCCESS;
  dst->u.k.params = NULL;
  dst->u.k.argv = NULL;
  if (src->u.k.params_size) {
    if (!(dst->u.k.params = malloc(src->u.k.params_size))) return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(dst->u.k.params, src->u.k.params, src->u.k.params_size);
  }
  if (src->u.k.argc) {
    void **argv = malloc((size_t)src->u.k.argc * sizeof *argv);
    if (!argv) {
      free(dst->u.k.params);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    /* Same offsets, new buffer: the parameter layout is a property of the kernel. */
    for (int i = 0; i < src->u.k.argc; i++)
      argv[i] = dst->u.k.params + ((unsigned char *)src->u.k.argv[i] - src->u.k.params);
    dst->u.k.argv = argv;
  }
  return CUDA_SUCCESS;
}

void sg_op_drop_child_graph(sg_op *op) {
  if (op->child_graph) sg_graph_free(op->child_graph);
  op->child_graph = NULL;
}

CUresult sg_op_child_from_graph(sg_op *dst, const sg_op *src, int as_graph) {
  if (src->type != CU_GRAPH_NODE_TYPE_GRAPH || !src->child_graph) return CUDA_SUCCESS;
  if (as_graph) return sg_graph_clone(src->child_graph, &dst->child_graph);
  sg_exec *fresh;
  CUresult rc = sg_exec_private(src->child_graph, &fresh);
  if (rc) return rc;
  sg_exec_free(dst->u.child);
  dst->u.child = fresh;
  return CUDA_SUCCESS;
}

void sg_op_free(sg_op *op) {
  if (op->type == CU_GRAPH_NODE_TYPE_KERNEL) {
    free(op->u.k.params);
    free(op->u.k.argv);
  } else if (op->type == CU_GRAPH_NODE_TYPE_GRAPH && op->u.child) {
    sg_exec_free(op->u.child);
  }
  memset(op, 0, sizeof *op);
}

CUresult sg_op_run(const sg_op *op, sg_ctx *c) {
  switch (op->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL:
      return sg_launch_packed(op->u.k.f, c, op->u.k.grid, op->u.k.block, op->u.k.shared, op->u.k.params,
                              op->u.k.params_size, op->u.k.coop);
    case CU_GRAPH_NODE_TYPE_MEMCPY:
      return sg_memcpy_3d(&op->u.copy, 1);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
      const CUDA_MEMSET_NODE_PARAMS *p = &op->u.set;
      return sg_memset_2d(p->dst, p->pitch, p->value, p->elementSize, p->width, p->height, 1);
    }
    case CU_GRAPH_NODE_TYPE_HOST:
      op->u.host.fn(op->u.host.userData);
      return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
      return sg_event_record_now(op->u.event);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
      return sg_event_check(op->u.event); /* everything recorded before has completed */
    case CU_GRAPH_NODE_TYPE_GRAPH:
      return sg_exec_run(op->u.child, c);
    case CU_GRAPH_NODE_TYPE_EMPTY:
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}
