// Graph editing (spec/cuda.spec.h, "Graph editing"): adding nodes of every type the guest can
// describe, changing their parameters in a graph or in an exec, reading them back, edges, clones'
// nodes and the enabled state of exec nodes. Every node the guest names is one of its session
// (ExecContext.handle); every device range a copy or memset node will touch lies in one of the
// session's allocations; a host node's function stays the guest's (src/executor/host-nodes.ts).

import koffi from 'koffi';

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_SUPPORTED } from '../cuda.js';
import { noopHostFn } from '../host-nodes.js';
import { stagedParamsExtra } from './launch.js';

const TYPE = { KERNEL: 0, MEMCPY: 1, MEMSET: 2, HOST: 3, GRAPH: 4, EMPTY: 5, WAIT_EVENT: 6, EVENT_RECORD: 7 } as const;
/** Node arrays one call carries at most (the guest's limit too). */
const MAX_NODES = 1 << 18;
const MEMCPY3D_SIZE = 200;
const MEMSET_SIZE = 40;
const KERNEL_PARAMS_SIZE = 72; // CUDA_KERNEL_NODE_PARAMS (_v2)
const MEMTYPE_HOST = 1, MEMTYPE_DEVICE = 2, MEMTYPE_ARRAY = 3, MEMTYPE_UNIFIED = 4;

/** A node's operation as the driver's typed functions take it. */
interface NodeOp {
  type: number;
  /** The typed parameter struct (kernel, copy, memset, host), or null for handle-only types. */
  params: Buffer | null;
  /** The context of a copy or memset node (0: the current one). */
  ctx: number;
  /** The event or child graph of the handle-only types. */
  handle: number;
}

function u64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

function putU64(b: Buffer, at: number, v: number): void {
  b.writeBigUInt64LE(BigInt(v), at);
}

/** The span [first, last) of one side of a 3D copy, or undefined when the copy moves nothing. */
function copySpan(b: Buffer, side: 0 | 88): { base: number; start: number; end: number } | undefined {
  const x = u64(b, side), y = u64(b, side + 8), z = u64(b, side + 16);
  const base = u64(b, side + 48), pitch = u64(b, side + 72), height = u64(b, side + 80);
  const w = u64(b, 176), h = u64(b, 184), d = u64(b, 192);
  if (w === 0 || h === 0 || d === 0) return undefined;
  const start = base + x + pitch * (y + z * height);
  const end = base + x + pitch * (y + (z + d - 1) * height + h - 1) + w;
  if (!Number.isSafeInteger(end)) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'copy extent overflows');
  return { base, start, end };
}

/** Device and unified operands must lie in the session's allocations; host memory and arrays are
 * the guest's to refuse (they never reach here from it). */
function checkCopy(x: ExecContext, b: Buffer): void {
  for (const side of [0, 88] as const) {
    const type = b.readUInt32LE(side + 32);
    if (type === MEMTYPE_HOST || type === MEMTYPE_ARRAY) {
      throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, 'copy nodes with host memory or arrays are not forwarded');
    }
    if (type !== MEMTYPE_DEVICE && type !== MEMTYPE_UNIFIED) continue; // the driver refuses it
    // The host pointer and array fields have no meaning on this side of the wire.
    putU64(b, side + 40, 0);
    putU64(b, side + 56, 0);
    const span = copySpan(b, side);
    if (span) x.checkRange(span.start, span.end - span.start);
  }
}

function checkMemset(x: ExecContext, b: Buffer): void {
  const dst = u64(b, 0), pitch = u64(b, 8), elem = b.readUInt32LE(20), width = u64(b, 24), height = u64(b, 32);
  if (elem !== 1 && elem !== 2 && elem !== 4) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `memset element size ${elem}`);
  if (width === 0 || height === 0) return;
  const n = (height - 1) * pitch + width * elem;
  x.checkRange(dst, Number.isSafeInteger(n) ? n : Infinity);
}

/** A node operation: u32 type, then what the type needs (spec/cuda.spec.h). */
function readOp(x: ExecContext, r: Reader): NodeOp {
  const type = r.u32();
  switch (type) {
    case TYPE.KERNEL: {
      const f = x.handle(r.u64(), 'function', true);
      const asKern = r.u8() !== 0;
      const ctx = x.handle(r.u64(), 'context', true);
      const p = Buffer.alloc(KERNEL_PARAMS_SIZE);
      for (let i = 0; i < 7; i++) p.writeUInt32LE(r.u32(), 8 + i * 4); // grid, block, shared memory
      putU64(p, asKern ? 56 : 0, f);
      putU64(p, 64, ctx);
      if (r.u8() !== 0) putU64(p, 48, Number(koffi.address(stagedParamsExtra(r))));
      return { type, params: p, ctx: 0, handle: 0 };
    }
    case TYPE.MEMCPY: {
      const ctx = x.handle(r.u64(), 'context', true);
      const p = Buffer.from(r.raw(MEMCPY3D_SIZE));
      checkCopy(x, p);
      return { type, params: p, ctx, handle: 0 };
    }
    case TYPE.MEMSET: {
      const ctx = x.handle(r.u64(), 'context', true);
      const p = Buffer.from(r.raw(MEMSET_SIZE));
      checkMemset(x, p);
      return { type, params: p, ctx, handle: 0 };
    }
    case TYPE.HOST: {
      const fn = r.u64(), user = r.u64();
      const p = Buffer.alloc(16);
      if (fn !== 0) {
        putU64(p, 0, noopHostFn());
        putU64(p, 8, x.hostNodes.key(fn, user));
      }
      return { type, params: p, ctx: 0, handle: 0 };
    }
    case TYPE.EVENT_RECORD:
    case TYPE.WAIT_EVENT:
      return { type, params: null, ctx: 0, handle: x.handle(r.u64(), 'event', true) };
    case TYPE.GRAPH:
      return { type, params: null, ctx: 0, handle: x.handle(r.u64(), 'graph', true) };
    case TYPE.EMPTY:
      return { type, params: null, ctx: 0, handle: 0 };
    default:
      throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `graph node type ${type} is not forwarded`);
  }
}

/** u64 count, u8 present, then count node ids: the driver's pointers (a Buffer), or null. An id
 * that is no node of the session is a node the driver would not find in the graph. */
function readNodes(x: ExecContext, r: Reader, n: number, present: boolean): Buffer | null {
  if (n > MAX_NODES) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `at most ${MAX_NODES} nodes per call, not ${n}`);
  if (!present) return null;
  const b = Buffer.alloc(Math.max(n, 1) * 8);
  for (let i = 0; i < n; i++) {
    const id = r.u64();
    if (id !== 0 && x.kindOf(id) !== 'graphnode') throw new CudaError(CUDA_ERROR_INVALID_VALUE, `0x${id.toString(16)} is not a graph node of this session`);
    putU64(b, i * 8, id === 0 ? 0 : x.handle(id, 'graphnode', false));
  }
  return b;
}

/** cuGraphAddNode_v2 and the typed cuGraphAdd*Node forms: graph, u8 output present, u64 count,
 * u8 dependencies present, the dependency ids, then the operation. Replies the new node's id. */
export function cuGraphAddNode_v2(x: ExecContext, r: Reader, w: Writer): number {
  const graphId = r.u64();
  const graph = x.handle(graphId, 'graph', false);
  const out = r.u8() !== 0 ? x.out(0) : null;
  const n = r.u64();
  const deps = readNodes(x, r, n, r.u8() !== 0);
  const op = readOp(x, r);
  r.end();
  const d = x.d;
  let res: number;
  switch (op.type) {
    case TYPE.KERNEL: res = d.cuGraphAddKernelNode_v2(out, graph, deps, n, op.params); break;
    case TYPE.MEMCPY: res = d.cuGraphAddMemcpyNode(out, graph, deps, n, op.params, op.ctx); break;
    case TYPE.MEMSET: res = d.cuGraphAddMemsetNode(out, graph, deps, n, op.params, op.ctx); break;
    case TYPE.HOST: res = d.cuGraphAddHostNode(out, graph, deps, n, op.params); break;
    case TYPE.EVENT_RECORD: res = d.cuGraphAddEventRecordNode(out, graph, deps, n, op.handle); break;
    case TYPE.WAIT_EVENT: res = d.cuGraphAddEventWaitNode(out, graph, deps, n, op.handle); break;
    case TYPE.GRAPH: res = d.cuGraphAddChildGraphNode(out, graph, deps, n, op.handle); break;
    default: res = d.cuGraphAddEmptyNode(out, graph, deps, n);
  }
  if (res !== 0) return res;
  w.u64(out ? x.nodeId(x.readU64(out), graphId) : 0);
  return 0;
}

/** The typed setters of a graph's node: node, then the operation. */
export function cuGraphNodeSetParams(x: ExecContext, r: Reader): number {
  const node = x.handle(r.u64(), 'graphnode', false);
  const op = readOp(x, r);
  r.end();
  const d = x.d;
  switch (op.type) {
    case TYPE.KERNEL: return d.cuGraphKernelNodeSetParams_v2(node, op.params);
    case TYPE.MEMCPY: return d.cuGraphMemcpyNodeSetParams(node, op.params);
    case TYPE.MEMSET: return d.cuGraphMemsetNodeSetParams(node, op.params);
    case TYPE.HOST: return d.cuGraphHostNodeSetParams(node, op.params);
    case TYPE.EVENT_RECORD: return d.cuGraphEventRecordNodeSetEvent(node, op.handle);
    case TYPE.WAIT_EVENT: return d.cuGraphEventWaitNodeSetEvent(node, op.handle);
    default: throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `setting the parameters of a node of type ${op.type} is not forwarded`);
  }
}

/** The typed setters of an exec's node: exec, node, then the operation. */
export function cuGraphExecNodeSetParams(x: ExecContext, r: Reader): number {
  const exec = x.handle(r.u64(), 'graphexec', false);
  const node = x.handle(r.u64(), 'graphnode', false);
  const op = readOp(x, r);
  r.end();
  const d = x.d;
  switch (op.type) {
    case TYPE.KERNEL: return d.cuGraphExecKernelNodeSetParams_v2(exec, node, op.params);
    case TYPE.MEMCPY: return d.cuGraphExecMemcpyNodeSetParams(exec, node, op.params, op.ctx);
    case TYPE.MEMSET: return d.cuGraphExecMemsetNodeSetParams(exec, node, op.params, op.ctx);
    case TYPE.HOST: return d.cuGraphExecHostNodeSetParams(exec, node, op.params);
    case TYPE.EVENT_RECORD: return d.cuGraphExecEventRecordNodeSetEvent(exec, node, op.handle);
    case TYPE.WAIT_EVENT: return d.cuGraphExecEventWaitNodeSetEvent(exec, node, op.handle);
    case TYPE.GRAPH: return d.cuGraphExecChildGraphNodeSetParams(exec, node, op.handle);
    default: throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `setting the parameters of a node of type ${op.type} is not forwarded`);
  }
}

/** The getters other than the kernel's: node id, u32 the type whose getter the guest called, u8
 * output present. The reply is what that type's parameters are on the guest's side. */
export function cuGraphMemcpyNodeGetParams(x: ExecContext, r: Reader, w: Writer): number {
  const nodeId = r.u64();
  const node = x.handle(nodeId, 'graphnode', false);
  const type = r.u32();
  const present = r.u8() !== 0;
  r.end();
  const d = x.d;
  switch (type) {
    case TYPE.MEMCPY:
    case TYPE.MEMSET: {
      const b = present ? Buffer.alloc(type === TYPE.MEMCPY ? MEMCPY3D_SIZE : MEMSET_SIZE) : null;
      const res = type === TYPE.MEMCPY ? d.cuGraphMemcpyNodeGetParams(node, b) : d.cuGraphMemsetNodeGetParams(node, b);
      if (res === 0 && b) w.bytes(b);
      return res;
    }
    case TYPE.HOST: {
      const b = present ? Buffer.alloc(16) : null;
      const res = d.cuGraphHostNodeGetParams(node, b);
      if (res !== 0 || !b) return res;
      const g = x.hostNodes.lookup(u64(b, 0), u64(b, 8));
      w.u64(g?.fn ?? 0);
      w.u64(g?.user ?? 0);
      return 0;
    }
    case TYPE.EVENT_RECORD:
    case TYPE.WAIT_EVENT: {
      const o = present ? x.out(0) : null;
      const res = type === TYPE.EVENT_RECORD ? d.cuGraphEventRecordNodeGetEvent(node, o) : d.cuGraphEventWaitNodeGetEvent(node, o);
      if (res === 0 && o) w.u64(x.idOf('event', x.readU64(o)) ?? 0);
      return res;
    }
    case TYPE.GRAPH: {
      const o = present ? x.out(0) : null;
      const res = d.cuGraphChildGraphNodeGetGraph(node, o);
      if (res !== 0 || !o) return res;
      const real = x.readU64(o);
      // Owned by its node: it ends when the node (or the node's graph) does.
      w.u64(real === 0 ? 0 : x.idOf('graph', real) ?? x.newHandle('graph', real, nodeId));
      return 0;
    }
    default:
      throw new CudaError(CUDA_ERROR_INVALID_VALUE, `no getter for node type ${type}`);
  }
}

/** cuGraphNodeFindInClone: u8 output present, original node, clone. Replies the clone's node id. */
export function cuGraphNodeFindInClone(x: ExecContext, r: Reader, w: Writer): number {
  const out = r.u8() !== 0 ? x.out(0) : null;
  const node = x.handle(r.u64(), 'graphnode', false);
  const cloneId = r.u64();
  const clone = x.handle(cloneId, 'graph', false);
  r.end();
  const res = x.d.cuGraphNodeFindInClone(out, node, clone);
  if (res === 0) w.u64(out ? x.nodeId(x.readU64(out), cloneId) : 0);
  return res;
}

/** Adding or removing edges: graph, u8 1 for the _v2 form, u64 count, u8 mask (1 from, 2 to, 4
 * edge data), the from ids, the to ids, 8 bytes of edge data each. */
function editEdges(x: ExecContext, r: Reader, add: boolean): number {
  const graph = x.handle(r.u64(), 'graph', false);
  const v2 = r.u8() !== 0;
  const n = r.u64();
  const mask = r.u8();
  const from = readNodes(x, r, n, (mask & 1) !== 0);
  const to = readNodes(x, r, n, (mask & 2) !== 0);
  const data = mask & 4 ? Buffer.from(r.raw(n * 8)) : null;
  r.end();
  const d = x.d;
  if (add) return v2 ? d.cuGraphAddDependencies_v2(graph, from, to, data, n) : d.cuGraphAddDependencies(graph, from, to, n);
  return v2 ? d.cuGraphRemoveDependencies_v2(graph, from, to, data, n) : d.cuGraphRemoveDependencies(graph, from, to, n);
}

export function cuGraphAddDependencies_v2(x: ExecContext, r: Reader): number {
  return editEdges(x, r, true);
}

export function cuGraphRemoveDependencies_v2(x: ExecContext, r: Reader): number {
  return editEdges(x, r, false);
}

/** cuGraphNodeSetEnabled / GetEnabled: exec, node, u8 1 to get (then u8 output present) or 0 to
 * set (then u32 the value). A get replies the value. */
export function cuGraphNodeSetEnabled(x: ExecContext, r: Reader, w: Writer): number {
  const exec = x.handle(r.u64(), 'graphexec', false);
  const node = x.handle(r.u64(), 'graphnode', false);
  if (r.u8() === 0) {
    const v = r.u32();
    r.end();
    return x.d.cuGraphNodeSetEnabled(exec, node, v);
  }
  const o = r.u8() !== 0 ? x.out(0) : null;
  r.end();
  const res = x.d.cuGraphNodeGetEnabled(exec, node, o);
  if (res === 0 && o) w.u32(o.readUInt32LE(0));
  return res;
}

// ---- instantiation, launch, destruction ----------------------------------------------------------
// As the generated handlers would be: the guest forwards them by hand for its host-node plans.

export function cuGraphInstantiateWithFlags(x: ExecContext, r: Reader, w: Writer): number {
  const graph = x.handle(r.u64(), 'graph', false);
  const flags = r.u64();
  r.end();
  const o = x.out(0);
  const res = x.d.cuGraphInstantiateWithFlags(o, graph, flags);
  if (res === 0) w.u64(x.newHandle('graphexec', x.readU64(o)));
  return res;
}

function launch(x: ExecContext, r: Reader, ptsz: boolean): number {
  const exec = x.handle(r.u64(), 'graphexec', false);
  const stream = x.handle(r.u64(), 'stream', true);
  r.end();
  x.work(stream, ptsz);
  return ptsz ? x.d.cuGraphLaunch_ptsz(exec, stream) : x.d.cuGraphLaunch(exec, stream);
}

export function cuGraphLaunch(x: ExecContext, r: Reader): number {
  return launch(x, r, false);
}

export function cuGraphLaunch_ptsz(x: ExecContext, r: Reader): number {
  return launch(x, r, true);
}

export function cuGraphExecDestroy(x: ExecContext, r: Reader): number {
  const id = r.u64();
  const exec = x.handle(id, 'graphexec', false);
  r.end();
  const res = x.d.cuGraphExecDestroy(exec);
  if (res === 0) x.dropHandle(id);
  return res;
}
