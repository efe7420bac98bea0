/*
 * cuGraphDebugDotPrint: the graph in Graphviz DOT, one box per node (its type, and with verbose
 * flags its parameters) and one arrow per dependency. Nodes are named by creation index, which
 * is stable for a given graph and readable in diffs.
 */
#include "sg_graph.h"

#include <stdio.h>

static const char *type_name(CUgraphNodeType t) {
  switch (t) {
    case CU_GRAPH_NODE_TYPE_KERNEL: return "kernel";
    case CU_GRAPH_NODE_TYPE_MEMCPY: return "memcpy";
    case CU_GRAPH_NODE_TYPE_MEMSET: return "memset";
    case CU_GRAPH_NODE_TYPE_HOST: return "host";
    case CU_GRAPH_NODE_TYPE_GRAPH: return "child graph";
    case CU_GRAPH_NODE_TYPE_EMPTY: return "empty";
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return "event wait";
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return "event record";
    default: return "other";
  }
}

static void print_node(FILE *f, size_t i, const sg_op *op, int verbose) {
  fprintf(f, "  n%zu [shape=box label=\"%zu: %s", i, i, type_name(op->type));
  if (verbose && op->type == CU_GRAPH_NODE_TYPE_KERNEL)
    fprintf(f, "\\ngrid %ux%ux%u block %ux%ux%u shared %u\\n%zu parameter bytes", op->u.k.grid[0], op->u.k.grid[1],
            op->u.k.grid[2], op->u.k.block[0], op->u.k.block[1], op->u.k.block[2], op->u.k.shared,
            op->u.k.params_size);
  else if (verbose && op->type == CU_GRAPH_NODE_TYPE_MEMCPY)
    fprintf(f, "\\n%zu x %zu x %zu bytes", op->u.copy.WidthInBytes, op->u.copy.Height, op->u.copy.Depth);
  else if (verbose && op->type == CU_GRAPH_NODE_TYPE_MEMSET)
    fprintf(f, "\\n0x%llx: %zu x %zu x %u bytes = 0x%x", (unsigned long long)op->u.set.dst, op->u.set.width,
            op->u.set.height, op->u.set.elementSize, op->u.set.value);
  fprintf(f, "\"];\n");
}

SG_EXPORT CUresult cuGraphDebugDotPrint(CUgraph hGraph, const char *path, unsigned int flags) {
  if (!sg_initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (!path) return CUDA_ERROR_INVALID_VALUE;
  sg_graph_lock();
  sg_graph *g = sg_graph_find(hGraph);
  CUresult rc = g ? CUDA_SUCCESS : sg_graph_bad(hGraph);
  FILE *f = rc ? NULL : fopen(path, "w");
  if (!rc && !f) rc = CUDA_ERROR_OPERATING_SYSTEM;
  if (f) {
    sg_graph_index(g);
    fprintf(f, "digraph softgpu_graph {\n");
    for (size_t i = 0; i < g->n; i++) print_node(f, i, &g->nodes[i]->op, flags != 0);
    for (size_t i = 0; i < g->n; i++)
      for (size_t j = 0; j < g->nodes[i]->ndeps; j++) fprintf(f, "  n%zu -> n%zu;\n", g->nodes[i]->deps[j]->index, i);
    fprintf(f, "}\n");
    if (fclose(f) != 0) rc = CUDA_ERROR_OPERATING_SYSTEM;
  }
  sg_graph_unlock();
  return rc;
}
