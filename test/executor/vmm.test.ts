// The executor's virtual memory handlers with a fake driver: a session maps only its own physical
// allocations into its own reservations, its mappings become ranges its calls may use (one range
// across adjacent mappings) and stop being so when unmapped, and physical memory counts toward
// the quota until it is released and unmapped; reservations never do.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExecContext, NeedQuota } from '../../src/executor/context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_OUT_OF_MEMORY } from '../../src/executor/cuda.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { call, driver, type Fake } from '../helpers/fake-driver.js';

const G = 2 * 1024 * 1024;

function u64s(...v: number[]): Buffer {
  const b = Buffer.alloc(8 * v.length);
  v.forEach((n, i) => b.writeBigUInt64LE(BigInt(n), 8 * i));
  return b;
}

/** cuMemCreate's wire arguments: size, the seven property fields (a device on vGPU 0), flags. */
function createArgs(size: number): Buffer {
  const b = Buffer.alloc(8 + 7 * 4 + 8);
  b.writeBigUInt64LE(BigInt(size), 0);
  b.writeUInt32LE(1, 8); // PINNED
  b.writeUInt32LE(1, 16); // location DEVICE, id 0
  return b;
}

/** A fake driver handing out reservations and handles from counters. */
function fakeVmm(extra: Fake = {}): Fake {
  let nextVa = 0x7000_0000_0000;
  let nextHandle = 0x100;
  return {
    cuMemAddressReserve: (out, size) => {
      (out as Buffer).writeBigUInt64LE(BigInt(nextVa), 0);
      nextVa += (size as number) + G;
      return 0;
    },
    cuMemCreate: (out) => {
      (out as Buffer).writeBigUInt64LE(BigInt(nextHandle++), 0);
      return 0;
    },
    ...extra,
  };
}

function run(x: ExecContext, op: number, args: Buffer): { res: number; out: Buffer } {
  try {
    return call(x, op, args);
  } catch (e) {
    if (e instanceof CudaError) return { res: e.code, out: Buffer.alloc(0) };
    throw e;
  }
}

function reserve(x: ExecContext, size: number): number {
  const r = run(x, OP.cuMemAddressReserve, u64s(size, 0, 0, 0));
  assert.equal(r.res, 0);
  return Number(r.out.readBigUInt64LE(0));
}

function create(x: ExecContext, size: number): number {
  const r = run(x, OP.cuMemCreate, createArgs(size));
  assert.equal(r.res, 0);
  return Number(r.out.readBigUInt64LE(0));
}

test("a session maps only its own handles into its own reservations, and only mappings are usable", () => {
  const fake = fakeVmm();
  const a = new ExecContext(driver(fake), [0]);
  const b = new ExecContext(driver(fake), [0]);
  const va = reserve(a, 4 * G);
  const h = create(a, 2 * G);
  const vb = reserve(b, 4 * G);
  assert.equal(run(b, OP.cuMemMap, u64s(vb, 2 * G, 0, h, 0)).res, CUDA_ERROR_INVALID_VALUE, "another session's handle");
  const hb = create(b, 2 * G);
  assert.equal(run(b, OP.cuMemMap, u64s(va, 2 * G, 0, hb, 0)).res, CUDA_ERROR_INVALID_VALUE, "another session's reservation");
  assert.equal(run(a, OP.cuMemMap, u64s(va + 3 * G, 2 * G, 0, h, 0)).res, CUDA_ERROR_INVALID_VALUE, 'past the reservation');
  assert.throws(() => a.checkRange(va, 16), /not inside an allocation/, 'a reservation is not usable memory');
  assert.equal(run(a, OP.cuMemMap, u64s(va, 2 * G, 0, h, 0)).res, 0);
  const h2 = create(a, G);
  assert.equal(run(a, OP.cuMemMap, u64s(va + 2 * G, G, 0, h2, 0)).res, 0);
  a.checkRange(va + G, 2 * G - 16);
  a.checkRange(va, 3 * G);
  assert.throws(() => a.checkRange(va, 3 * G + 1), /not inside/, 'past the last mapping');
  assert.throws(() => b.checkRange(va, 16), /not inside/, "another session's mapping");
  assert.equal(run(a, OP.cuMemFree_v2, u64s(va)).res, CUDA_ERROR_INVALID_VALUE, 'a mapping is not an allocation');
  assert.equal(run(b, OP.cuMemUnmap, u64s(va, 2 * G)).res, CUDA_ERROR_INVALID_VALUE, "another session's mapping");
  assert.equal(run(b, OP.cuMemAddressFree, u64s(va, 4 * G)).res, CUDA_ERROR_INVALID_VALUE, "another session's reservation");
  assert.equal(run(a, OP.cuMemUnmap, u64s(va, 3 * G)).res, 0);
  assert.throws(() => a.checkRange(va, 16), /not inside/, 'unmapped');
  assert.equal(run(a, OP.cuMemRetainAllocationHandle, u64s(va)).res, CUDA_ERROR_INVALID_VALUE, 'nothing mapped there');
});

test('physical memory counts toward the quota until released and unmapped; reservations do not', () => {
  const x = new ExecContext(driver(fakeVmm()), [0], { memoryQuota: 8 * G });
  x.grantQuota(8 * G);
  const va = reserve(x, 64 * G);
  assert.equal(x.held, 0, 'a reservation holds no memory');
  const h = create(x, 6 * G);
  assert.equal(x.held, 6 * G);
  assert.throws(() => call(x, OP.cuMemCreate, createArgs(4 * G)), (e: unknown) => e instanceof CudaError && e.code === CUDA_ERROR_OUT_OF_MEMORY);
  assert.equal(x.held, 6 * G, 'the refused allocation holds nothing');
  assert.equal(run(x, OP.cuMemMap, u64s(va, 6 * G, 0, h, 0)).res, 0);
  assert.equal(run(x, OP.cuMemRelease, u64s(h)).res, 0);
  assert.equal(x.held, 6 * G, 'released but mapped: still held');
  assert.equal(run(x, OP.cuMemRelease, u64s(h)).res, CUDA_ERROR_INVALID_VALUE, 'released twice');
  assert.equal(run(x, OP.cuMemUnmap, u64s(va, 6 * G)).res, 0);
  assert.equal(x.held, 0, 'unmapped too: freed');
  x.grantQuota(8 * G); // what was freed went back to the mediator: granted again
  create(x, 8 * G);
  assert.equal(x.held, 8 * G, 'the whole quota again');
});

test('a cuMemCreate past the session reservation asks the mediator for more quota', () => {
  const x = new ExecContext(driver(fakeVmm()), [0], { memoryQuota: 8 * G });
  assert.throws(() => call(x, OP.cuMemCreate, createArgs(2 * G)), (e: unknown) => e instanceof NeedQuota && e.bytes === 2 * G);
});
