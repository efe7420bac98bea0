// Graph operations written by hand: the update's result info carries node pointers, which go back
// as the guest's node ids, with the driver's answer, in a reply that succeeds even when the update
// does not (a failed call's reply carries no outputs, and a refused update's result code is the
// reason); and the introspection calls, whose node lists become guest node ids.

import koffi from 'koffi';

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE } from '../cuda.js';

/** Reply: the update's CUresult and result, then the error node (a node of the graph, as the guest's
 * id) and the node it depends on where the topology differs, when the session knows that node
 * (the driver may name one of the exec's original graph, which may be gone); 0 for none. */
export function cuGraphExecUpdate_v2(x: ExecContext, r: Reader, w: Writer): number {
  const exec = x.handle(r.u64(), 'graphexec', false);
  const graphId = r.u64();
  const graph = x.handle(graphId, 'graph', false);
  r.end();
  const info = Buffer.alloc(24); // {CUgraphExecUpdateResult result; CUgraphNode errorNode, errorFromNode}
  const res = x.d.cuGraphExecUpdate_v2(exec, graph, info);
  w.u32(res);
  w.u32(info.readUInt32LE(0));
  w.u64(x.nodeId(Number(info.readBigUInt64LE(8)), graphId));
  const from = Number(info.readBigUInt64LE(16));
  w.u64(from === 0 ? 0 : x.knownId('graphnode', from) ?? 0);
  return 0;
}

// ---- introspection ---------------------------------------------------------------------------
// A list query comes as (what the guest passed: u8 mask, capacity: u64). The mask says which of
// the caller's pointers were non-NULL (LIST_NODES: the node array, or `from` for edges; LIST_TO:
// `to`; LIST_DATA: the edge data; LIST_COUNT: the count), so the driver sees the same NULLs and
// answers their errors itself. The reply is the count the driver returned (u64) then, when the
// node array was passed, min(count, capacity) node ids (and for edges the `to` ids), and when edge
// data was, 8 bytes of CUgraphEdgeData each. Nodes become guest handles owned by their graph
// (ExecContext.nodeId), so a node has one id however often it is returned.

const LIST_NODES = 1, LIST_TO = 2, LIST_DATA = 4, LIST_COUNT = 8;
/** Entries one query returns at most: its reply stays far below the frame limit. */
const MAX_LIST = 1 << 18;
const EDGE_DATA = 8; // sizeof(CUgraphEdgeData)

interface ListQuery {
  nodes: Buffer | null;
  to: Buffer | null;
  data: Buffer | null;
  count: Buffer | null;
  cap: number;
}

function readList(r: Reader): ListQuery {
  const mask = r.u8();
  const cap = r.u64();
  r.end();
  const arrays = (mask & (LIST_NODES | LIST_TO | LIST_DATA)) !== 0;
  if (arrays && cap > MAX_LIST) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `a graph query returns at most ${MAX_LIST} entries, not ${cap}`);
  const room = Math.max(arrays ? cap : 0, 1);
  const count = mask & LIST_COUNT ? Buffer.alloc(8) : null;
  count?.writeBigUInt64LE(BigInt(arrays ? cap : 0));
  return {
    nodes: mask & LIST_NODES ? Buffer.alloc(room * 8) : null,
    to: mask & LIST_TO ? Buffer.alloc(room * 8) : null,
    data: mask & LIST_DATA ? Buffer.alloc(room * EDGE_DATA) : null,
    count,
    cap,
  };
}

/** Writes the count and the entries the caller asked for (node pointers owned by `graph`). */
function writeList(x: ExecContext, w: Writer, graph: number, q: ListQuery): void {
  const n = q.count ? x.readU64(q.count) : 0;
  w.u64(n);
  const m = Math.min(n, q.cap);
  for (const list of [q.nodes, q.to]) {
    if (!list) continue;
    for (let i = 0; i < m; i++) w.u64(x.nodeId(x.readU64(list.subarray(i * 8)), graph));
  }
  if (q.data) w.raw(q.data.subarray(0, m * EDGE_DATA));
}

function graphList(x: ExecContext, r: Reader, w: Writer, call: (g: number, q: ListQuery) => number): number {
  const graphId = r.u64();
  const graph = x.handle(graphId, 'graph', false);
  const q = readList(r);
  const res = call(graph, q);
  if (res === 0) writeList(x, w, graphId, q);
  return res;
}

export function cuGraphGetNodes(x: ExecContext, r: Reader, w: Writer): number {
  return graphList(x, r, w, (g, q) => x.d.cuGraphGetNodes(g, q.nodes, q.count));
}

export function cuGraphGetRootNodes(x: ExecContext, r: Reader, w: Writer): number {
  return graphList(x, r, w, (g, q) => x.d.cuGraphGetRootNodes(g, q.nodes, q.count));
}

/** cuGraphGetEdges(_v2): the guest says which it called (u8 1 = _v2). */
export function cuGraphGetEdges_v2(x: ExecContext, r: Reader, w: Writer): number {
  const graphId = r.u64();
  const graph = x.handle(graphId, 'graph', false);
  const v2 = r.u8() !== 0;
  const q = readList(r);
  const res = v2 ? x.d.cuGraphGetEdges_v2(graph, q.nodes, q.to, q.data, q.count) : x.d.cuGraphGetEdges(graph, q.nodes, q.to, q.count);
  if (res === 0) writeList(x, w, graphId, q);
  return res;
}

function nodeNeighbours(x: ExecContext, r: Reader, w: Writer,
  v1: (n: number, q: ListQuery) => number, v2: (n: number, q: ListQuery) => number): number {
  const nodeId = r.u64();
  const node = x.handle(nodeId, 'graphnode', false);
  const isV2 = r.u8() !== 0;
  const q = readList(r);
  const res = isV2 ? v2(node, q) : v1(node, q);
  if (res === 0) writeList(x, w, x.ownerOf(nodeId), q);
  return res;
}

/** cuGraphNodeGetDependencies(_v2): the guest says which it called (u8 1 = _v2). */
export function cuGraphNodeGetDependencies_v2(x: ExecContext, r: Reader, w: Writer): number {
  return nodeNeighbours(x, r, w, (n, q) => x.d.cuGraphNodeGetDependencies(n, q.nodes, q.count),
    (n, q) => x.d.cuGraphNodeGetDependencies_v2(n, q.nodes, q.data, q.count));
}

/** cuGraphNodeGetDependentNodes(_v2): the guest says which it called (u8 1 = _v2). */
export function cuGraphNodeGetDependentNodes_v2(x: ExecContext, r: Reader, w: Writer): number {
  return nodeNeighbours(x, r, w, (n, q) => x.d.cuGraphNodeGetDependentNodes(n, q.nodes, q.count),
    (n, q) => x.d.cuGraphNodeGetDependentNodes_v2(n, q.nodes, q.data, q.count));
}
let copyFrom: ((dst: Buffer, src: number, n: number) => unknown) | undefined;

/** Bytes at a driver-owned host address (a kernel node's parameter values). */
function readHost(addr: number, n: number): Buffer {
  copyFrom ??= koffi.load('libc.so.6').func('void *memcpy(void *dst, uint64_t src, size_t n)') as (dst: Buffer, src: number, n: number) => unknown;
  const b = Buffer.alloc(n);
  if (n > 0) copyFrom(b, addr, n);
  return b;
}

/** Kernel parameters a launch can carry at most (the guest's packing limit). */
const MAX_PARAMS = 4096;

/**
 * cuGraphKernelNodeGetParams(_v2), answered from the driver's _v2 form: the function as the
 * guest's id with where it goes (u8: 0 none; `func`: 1 a function's id, 2 a kernel's; 3 `kern`), grid, block and shared
 * memory, then the parameter values (u32 count, 0xffffffff when the node has none to report, and
 * each value as u32 size + bytes), sized by cuFuncGetParamInfo.
 */
export function cuGraphKernelNodeGetParams_v2(x: ExecContext, r: Reader, w: Writer): number {
  const node = x.handle(r.u64(), 'graphnode', false);
  r.end();
  const p = Buffer.alloc(72); // CUDA_KERNEL_NODE_PARAMS_v2
  const res = x.d.cuGraphKernelNodeGetParams_v2(node, p);
  if (res !== 0) return res;
  const func = x.readU64(p), kern = x.readU64(p.subarray(56));
  // A CUkernel launched as a CUfunction (what cudart does) goes back in `kern`, with `func` NULL.
  const asKernel = func ? x.knownId('kernel', func) : undefined;
  const fnId = func && asKernel === undefined ? x.knownId('function', func) : undefined;
  const kernId = asKernel ?? (kern ? x.knownId('kernel', kern) : undefined);
  if (fnId !== undefined) {
    w.u8(1);
    w.u64(fnId);
  } else if (kernId !== undefined) {
    w.u8(3);
    w.u64(kernId);
  } else {
    w.u8(0);
    w.u64(0);
  }
  for (let i = 0; i < 7; i++) w.u32(p.readUInt32LE(8 + i * 4)); // grid xyz, block xyz, shared memory
  const argv = x.readU64(p.subarray(40));
  const target = func || kern;
  if (!argv || !target) {
    w.u32(0xffffffff);
    return 0;
  }
  const sizes: number[] = [];
  const off = Buffer.alloc(8), size = Buffer.alloc(8);
  while (sizes.length < MAX_PARAMS && x.d.cuFuncGetParamInfo(target, sizes.length, off, size) === 0) sizes.push(x.readU64(size));
  const ptrs = readHost(argv, sizes.length * 8);
  w.u32(sizes.length);
  sizes.forEach((n, i) => {
    w.u32(n);
    w.bytes(readHost(x.readU64(ptrs.subarray(i * 8)), n));
  });
  return 0;
}
