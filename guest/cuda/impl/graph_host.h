/* Host nodes of graphs: their functions run in the guest (graph_host.c). */
#ifndef VG_GRAPH_HOST_H
#define VG_GRAPH_HOST_H

#include <cuda.h>

/* A host node was given a function: from now on instantiation looks for host nodes. */
void vg_graph_host_made(void);
/* A child-graph node is being given graph child: CUDA_ERROR_NOT_SUPPORTED when child has host
 * nodes, whose functions the guest could not run from inside a child graph. */
CUresult vg_graph_host_child_ok(CUgraph child);
/* An exec's host node was given another function (the host accepted the change). */
void vg_graph_host_exec_set(CUgraphExec x, CUgraphNode node, const CUDA_HOST_NODE_PARAMS *p);
/* The piece of a planned exec that holds node (as a node of that piece's graph): 1, or 0 when the
 * exec has no plan or no piece holds it. */
int vg_graph_host_piece(CUgraphExec x, CUgraphNode node, CUgraphExec *piece, CUgraphNode *piece_node);
/* A node of an exec was enabled or disabled (the host accepted it): its piece follows. */
CUresult vg_graph_host_exec_enable(CUgraphExec x, CUgraphNode node, unsigned on);
/* An exec was updated from graph g (the host accepted it): its plan is made again from g. */
CUresult vg_graph_host_exec_updated(CUgraphExec x, CUgraph g);

#endif
