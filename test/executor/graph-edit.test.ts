// The executor's graph-editing handlers with a fake driver: a copy or memset node reaches the
// driver only when every byte it will touch lies in one of the session's allocations, a copy node
// on host memory is refused, nodes the session does not have are refused as the driver refuses a
// node of another graph, and a host node's function never reaches the driver: it gets a function
// that does nothing, and reading the node back gives the guest its own function and argument.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExecContext } from '../../src/executor/context.js';
import { CudaError } from '../../src/executor/cuda.js';
import { noopHostFn } from '../../src/executor/host-nodes.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { call, driver, type Fake } from '../helpers/fake-driver.js';

const KERNEL = 0, MEMCPY = 1, MEMSET = 2, HOST = 3;
const MEMTYPE_HOST = 1, MEMTYPE_DEVICE = 2;

function u64(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v), 0);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}
function u8(v: number): Buffer {
  return Buffer.from([v]);
}

/** cuGraphAddNode_v2's arguments: graph, output present, the dependencies, the operation. */
function addArgs(graph: number, deps: number[], op: Buffer): Buffer {
  return Buffer.concat([u64(graph), u8(1), u64(deps.length), u8(1), ...deps.map(u64), op]);
}

function memsetOp(dst: number, width: number, elem = 4, height = 1, pitch = 0): Buffer {
  const p = Buffer.alloc(40);
  p.writeBigUInt64LE(BigInt(dst), 0);
  p.writeBigUInt64LE(BigInt(pitch), 8);
  p.writeUInt32LE(7, 16);
  p.writeUInt32LE(elem, 20);
  p.writeBigUInt64LE(BigInt(width), 24);
  p.writeBigUInt64LE(BigInt(height), 32);
  return Buffer.concat([u32(MEMSET), u64(0), p]);
}

function memcpyOp(src: number, dst: number, bytes: number, srcType = MEMTYPE_DEVICE): Buffer {
  const p = Buffer.alloc(200);
  p.writeUInt32LE(srcType, 32);
  p.writeBigUInt64LE(BigInt(src), srcType === MEMTYPE_HOST ? 40 : 48);
  p.writeUInt32LE(MEMTYPE_DEVICE, 120);
  p.writeBigUInt64LE(BigInt(dst), 136);
  p.writeBigUInt64LE(0xdeadn, 128); // a host pointer field of the device side: cleared
  p.writeBigUInt64LE(BigInt(bytes), 176);
  p.writeBigUInt64LE(1n, 184);
  p.writeBigUInt64LE(1n, 192);
  return Buffer.concat([u32(MEMCPY), u64(0), p]);
}

function session(fake: Fake): { x: ExecContext; graph: number } {
  const x = new ExecContext(driver(fake), [0]);
  x.afterAlloc(0x10000, 1024);
  x.afterAlloc(0x20000, 1024);
  return { x, graph: x.newHandle('graph', 0x9000) };
}

function refusedWith(code: number): (e: unknown) => boolean {
  return (e: unknown) => e instanceof CudaError && e.code === code;
}

test('copy and memset nodes reach the driver only inside the session\'s allocations', () => {
  const seen: Buffer[] = [];
  const { x, graph } = session({
    cuGraphAddMemsetNode: (out, _g, _d, _n, p) => {
      seen.push(Buffer.from(p as Buffer));
      (out as Buffer).writeBigUInt64LE(0x5000n, 0);
      return 0;
    },
    cuGraphAddMemcpyNode: (out, _g, _d, _n, p) => {
      seen.push(Buffer.from(p as Buffer));
      (out as Buffer).writeBigUInt64LE(0x5100n, 0);
      return 0;
    },
  });
  const ok = call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], memsetOp(0x10000, 256)));
  assert.equal(ok.res, 0);
  assert.equal(x.kindOf(Number(ok.out.readBigUInt64LE(0))), 'graphnode');
  assert.throws(() => call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], memsetOp(0x10000, 257))), refusedWith(1));
  assert.throws(() => call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], memsetOp(0x10000, 16, 4, 3, 512))), refusedWith(1),
    'rows past the end');
  assert.throws(() => call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], memsetOp(0x10000, 16, 3))), refusedWith(1));
  assert.equal(call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], memcpyOp(0x10000, 0x20000, 1024))).res, 0);
  assert.equal(seen[1]!.readBigUInt64LE(128), 0n, 'the device side\'s host pointer field is cleared');
  assert.throws(() => call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], memcpyOp(0x10000, 0x20000, 1025))), refusedWith(1));
  assert.throws(() => call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], memcpyOp(0x7000, 0x20000, 16, MEMTYPE_HOST))),
    refusedWith(801), 'host memory: the guest\'s, which the host does not have');
  assert.equal(seen.length, 2, 'nothing refused reached the driver');
});

test('dependencies must be nodes of the session', () => {
  let calls = 0;
  const { x, graph } = session({ cuGraphAddEmptyNode: () => (calls++, 0) });
  const empty = u32(5);
  assert.throws(() => call(x, OP.cuGraphAddNode_v2, addArgs(graph, [0x7777], empty)), refusedWith(1));
  assert.throws(() => call(x, OP.cuGraphAddNode_v2, addArgs(graph, [graph], empty)), refusedWith(1), 'a graph is no node');
  const node = x.nodeId(0x5000, graph);
  assert.equal(call(x, OP.cuGraphAddNode_v2, addArgs(graph, [node], empty)).res, 0);
  assert.equal(calls, 1);
});

test('a host node keeps the guest\'s function: the driver gets one that does nothing', () => {
  let stored = Buffer.alloc(16);
  const { x, graph } = session({
    cuGraphAddHostNode: (out, _g, _d, _n, p) => {
      stored = Buffer.from(p as Buffer);
      (out as Buffer).writeBigUInt64LE(0x5200n, 0);
      return 0;
    },
    cuGraphHostNodeGetParams: (_node, p) => (stored.copy(p as Buffer), 0),
  });
  const fn = 0x401000, user = 0x7ffd1234;
  const added = call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], Buffer.concat([u32(HOST), u64(fn), u64(user)])));
  assert.equal(added.res, 0);
  assert.equal(Number(stored.readBigUInt64LE(0)), noopHostFn());
  assert.notEqual(Number(stored.readBigUInt64LE(8)), user, 'the argument is a key, not the guest\'s pointer');
  const node = Number(added.out.readBigUInt64LE(0));
  const got = call(x, OP.cuGraphMemcpyNodeGetParams, Buffer.concat([u64(node), u32(HOST), u8(1)]));
  assert.equal(got.res, 0);
  assert.equal(Number(got.out.readBigUInt64LE(0)), fn);
  assert.equal(Number(got.out.readBigUInt64LE(8)), user);
  // The same function and argument again: the same key, so the book does not grow with repeats.
  const first = stored.readBigUInt64LE(8);
  call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], Buffer.concat([u32(HOST), u64(fn), u64(user)])));
  assert.equal(stored.readBigUInt64LE(8), first);
});

test('a kernel node\'s parameters reach the driver in the extra form', () => {
  let extra = 0n;
  const { x, graph } = session({
    cuGraphAddKernelNode_v2: (out, _g, _d, _n, p) => {
      const b = p as Buffer;
      assert.equal(b.readUInt32LE(8), 4, 'grid x');
      assert.equal(b.readBigUInt64LE(40), 0n, 'no kernelParams');
      extra = b.readBigUInt64LE(48);
      (out as Buffer).writeBigUInt64LE(0x5300n, 0);
      return 0;
    },
  });
  const f = x.newHandle('function', 0xf000);
  const config = Buffer.concat([4, 1, 1, 32, 1, 1, 0].map(u32));
  const op = Buffer.concat([u32(KERNEL), u64(f), u8(0), u64(0), config, u8(1), u64(8), u64(0x10000)]);
  assert.equal(call(x, OP.cuGraphAddNode_v2, addArgs(graph, [], op)).res, 0);
  assert.notEqual(extra, 0n);
});
