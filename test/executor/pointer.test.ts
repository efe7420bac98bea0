// The executor's pointer queries (docs/pointers.md) with a fake driver: only addresses inside the
// session's allocations reach the driver, its contexts and device ordinals come back as the
// session's ids and vGPU ordinals, and attributes whose value might not fit are refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExecContext } from '../../src/executor/context.js';
import { CudaError } from '../../src/executor/cuda.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { call, driver } from '../helpers/fake-driver.js';

function query(ptr: number, mode: number, attrs: number[]): Buffer {
  const b = Buffer.alloc(16 + 4 * attrs.length);
  b.writeBigUInt64LE(BigInt(ptr), 0);
  b.writeUInt32LE(mode, 8);
  b.writeUInt32LE(attrs.length, 12);
  attrs.forEach((a, i) => b.writeUInt32LE(a, 16 + 4 * i));
  return b;
}

const CONTEXT = 1;
const MEMORY_TYPE = 2;
const DEVICE_ORDINAL = 9;

test('an address outside the session allocations is not found, and the driver is not asked', () => {
  let asked = 0;
  const x = new ExecContext(driver({ cuPointerGetAttribute: () => ++asked }), [0]);
  x.allocs.add(0x10000, 4096);
  for (const p of [0, 0xffff, 0x11000, 0x7f0000000000]) {
    const r = call(x, OP.vgPointerQuery, query(p, 1, [MEMORY_TYPE]));
    assert.equal(r.res, 0);
    assert.deepEqual([...r.out], [0], `0x${p.toString(16)} is not found`);
  }
  assert.equal(asked, 0);
  assert.deepEqual([...call(x, OP.vgPointerQuery, query(0x10000, 0, [])).out], [1], 'an allocation is found (mode 0)');
  assert.equal(asked, 0, 'classifying does not ask the driver');
});

test("the driver's context and device ordinal come back as the session's id and the vGPU ordinal", () => {
  const x = new ExecContext(driver({
    cuPointerGetAttribute: (data, attr) => {
      const b = data as Buffer;
      if (attr === CONTEXT) b.writeBigUInt64LE(0xc0ffeen, 0);
      else if (attr === DEVICE_ORDINAL) b.writeInt32LE(3, 0);
      else return 1;
      return 0;
    },
  }), [3]);
  x.allocs.add(0x10000, 4096);
  const ctx = call(x, OP.vgPointerQuery, query(0x10010, 1, [CONTEXT]));
  assert.equal(ctx.res, 0);
  assert.equal(ctx.out[0], 1);
  assert.equal(ctx.out.readBigUInt64LE(1), 16n, 'a bytes field of one 16-byte value');
  assert.equal(Number(ctx.out.readBigUInt64LE(9)), x.contextId(0xc0ffee), 'the session id of that context');
  const ord = call(x, OP.vgPointerQuery, query(0x10010, 1, [DEVICE_ORDINAL]));
  assert.equal(ord.out.readInt32LE(9), 0, 'physical device 3 is vGPU 0');
  assert.equal(call(x, OP.vgPointerQuery, query(0x10010, 1, [MEMORY_TYPE])).res, 1, "the driver's error is the answer");
});

test('attributes CUDA 13 does not define and malformed queries are refused before the driver', () => {
  let asked = 0;
  const x = new ExecContext(driver({ cuPointerGetAttribute: () => ++asked, cuPointerGetAttributes: () => ++asked }), [0]);
  x.allocs.add(0x10000, 4096);
  const refused = (b: Buffer): void => assert.throws(() => call(x, OP.vgPointerQuery, b), (e: unknown) => e instanceof CudaError && e.code === 1);
  refused(query(0x10000, 1, [22]));
  refused(query(0x10000, 2, [MEMORY_TYPE, 0]));
  refused(query(0x10000, 1, [MEMORY_TYPE, CONTEXT]));
  refused(query(0x10000, 3, [MEMORY_TYPE]));
  refused(query(0x10000, 2, new Array<number>(65).fill(MEMORY_TYPE)));
  assert.equal(asked, 0);
});

test('cuMemGetAddressRange outside the session allocations is NOT_FOUND, as the driver answers', () => {
  const x = new ExecContext(driver({ cuMemGetAddressRange_v2: () => { throw new Error('the driver was asked'); } }), [0]);
  x.allocs.add(0x10000, 4096);
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(0x20000n, 0);
  assert.equal(call(x, OP.cuMemGetAddressRange_v2, b).res, 500);
});
