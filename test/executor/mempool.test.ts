// The executor's pitched-allocation and memory-pool handlers with a fake driver: the quota counts
// the driver's padded size (and gives back an allocation that does not fit), pool ids are checked
// and stay one per pool, and 64-bit attribute values cross unchanged.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExecContext, NeedQuota } from '../../src/executor/context.js';
import { CudaError } from '../../src/executor/cuda.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { call, driver } from '../helpers/fake-driver.js';

function pitchArgs(width: number, height: number, elem: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigUInt64LE(BigInt(width), 0);
  b.writeBigUInt64LE(BigInt(height), 8);
  b.writeUInt32LE(elem, 16);
  return b;
}

test('a pitched allocation counts pitch x height, and one that does not fit is freed again', () => {
  const freed: number[] = [];
  const x = new ExecContext(driver({
    cuMemAllocPitch_v2: (p, pitch, _w, _h) => {
      (p as Buffer).writeBigUInt64LE(0x7000n, 0);
      (pitch as Buffer).writeBigUInt64LE(512n, 0);
      return 0;
    },
    cuMemFree_v2: (p) => {
      freed.push(p as number);
      return 0;
    },
  }), [0], { memoryQuota: 4096 });
  x.grantQuota(4096);
  const ok = call(x, OP.cuMemAllocPitch_v2, pitchArgs(100, 4, 4));
  assert.equal(ok.res, 0);
  assert.equal(ok.out.readBigUInt64LE(8), 512n);
  assert.equal(x.allocs.total, 2048, 'pitch x height, not width x height');
  // 100 x 8 fits in what is left (2048), 512 x 8 does not.
  assert.throws(() => call(x, OP.cuMemAllocPitch_v2, pitchArgs(100, 8, 4)), (e: unknown) => e instanceof CudaError && e.code === 2);
  assert.deepEqual(freed, [0x7000]);
  assert.equal(x.allocs.total, 2048);
  assert.throws(() => call(x, OP.cuMemAllocPitch_v2, pitchArgs(100, 1, 3)), (e: unknown) => e instanceof CudaError && e.code === 1);
});

test('a pitched allocation past the session reservation asks for more quota before the driver runs', () => {
  let calls = 0;
  const x = new ExecContext(driver({ cuMemAllocPitch_v2: () => { calls++; return 0; } }), [0], { memoryQuota: 1 << 20 });
  assert.throws(() => call(x, OP.cuMemAllocPitch_v2, pitchArgs(1024, 4, 4)), NeedQuota);
  assert.equal(calls, 0);
});

test('memory pools: one id per pool, unknown ids refused, attribute values copied exactly', () => {
  const set: Buffer[] = [];
  const x = new ExecContext(driver({
    cuDeviceGetDefaultMemPool: (p) => {
      (p as Buffer).writeBigUInt64LE(0xabc0n, 0);
      return 0;
    },
    cuDeviceGetMemPool: (p) => {
      (p as Buffer).writeBigUInt64LE(0xabc0n, 0);
      return 0;
    },
    cuMemPoolSetAttribute: (_p, _a, v) => {
      set.push(Buffer.from((v as Buffer).subarray(0, 8)));
      return 0;
    },
    cuMemPoolGetAttribute: (_p, _a, v) => {
      (v as Buffer).writeBigUInt64LE(0xfffffffffffffff0n, 0);
      return 0;
    },
  }), [0]);
  const dev = Buffer.alloc(4);
  const a = call(x, OP.cuDeviceGetDefaultMemPool, dev).out.readBigUInt64LE(0);
  const b = call(x, OP.cuDeviceGetMemPool, dev).out.readBigUInt64LE(0);
  assert.equal(a, b, 'the same pool gets the same id');

  const attr = (id: bigint, n: number, value?: bigint): Buffer => {
    const buf = Buffer.alloc(value === undefined ? 12 : 20);
    buf.writeBigUInt64LE(id, 0);
    buf.writeUInt32LE(n, 8);
    if (value !== undefined) buf.writeBigUInt64LE(value, 12);
    return buf;
  };
  assert.equal(call(x, OP.cuMemPoolSetAttribute, attr(a, 4, 0xffffffffffffffffn)).res, 0);
  assert.equal(set[0]!.readBigUInt64LE(0), 0xffffffffffffffffn, 'UINT64_MAX release threshold unchanged');
  assert.equal(call(x, OP.cuMemPoolGetAttribute, attr(a, 7)).out.readBigUInt64LE(0), 0xfffffffffffffff0n);
  assert.throws(() => call(x, OP.cuMemPoolGetAttribute, attr(a, 99)), (e: unknown) => e instanceof CudaError && e.code === 1);
  // An unknown pool is a bad value to the driver (its pool entry points document only that).
  assert.throws(() => call(x, OP.cuMemPoolGetAttribute, attr(a + 1n, 7)), (e: unknown) => e instanceof CudaError && e.code === 1);
  const trim = Buffer.alloc(16);
  trim.writeBigUInt64LE(0x5555n, 0);
  assert.throws(() => call(x, OP.cuMemPoolTrimTo, trim), (e: unknown) => e instanceof CudaError && e.code === 1);
});

test('cuMemPoolCreate refuses exportable and host pools and maps the device ordinal', () => {
  let seen: Buffer | undefined;
  const x = new ExecContext(driver({
    cuMemPoolCreate: (p, props) => {
      seen = Buffer.from(props as Buffer);
      (p as Buffer).writeBigUInt64LE(0x1234n, 0);
      return 0;
    },
  }), [3]);
  const props = (handleTypes: number, locType: number, id: number): Buffer => {
    const b = Buffer.alloc(28);
    b.writeUInt32LE(1, 0);
    b.writeUInt32LE(handleTypes, 4);
    b.writeUInt32LE(locType, 8);
    b.writeInt32LE(id, 12);
    b.writeBigUInt64LE(1n << 40n, 16);
    b.writeUInt32LE(0, 24);
    return b;
  };
  assert.throws(() => call(x, OP.cuMemPoolCreate, props(1, 1, 0)), (e: unknown) => e instanceof CudaError && e.code === 801);
  assert.throws(() => call(x, OP.cuMemPoolCreate, props(0, 2, 0)), (e: unknown) => e instanceof CudaError && e.code === 801);
  assert.throws(() => call(x, OP.cuMemPoolCreate, props(0, 1, 1)), (e: unknown) => e instanceof CudaError && e.code === 101);
  assert.equal(seen, undefined, 'nothing reached the driver');
  assert.equal(call(x, OP.cuMemPoolCreate, props(0, 1, 0)).res, 0);
  assert.equal(seen!.length, 88);
  assert.equal(seen!.readInt32LE(12), 3, 'vGPU 0 is physical device 3');
  assert.equal(seen!.readBigUInt64LE(24), 1n << 40n, 'maxSize');
});
