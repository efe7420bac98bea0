// Coherent memory's transfers in the executor (docs/managed-memory.md) with a fake driver whose
// device memory is a buffer: a read returns only the chunks that changed since the guest last saw
// them, whether the device or a write from the guest changed them, and pieces outside the
// session's memory or of a malformed shape are refused before the driver is asked.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExecContext } from '../../src/executor/context.js';
import { CudaError } from '../../src/executor/cuda.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { call, driver } from '../helpers/fake-driver.js';

const BASE = 0x100000;
const PAGE = 4096;
const SIZE = 3 * PAGE + 100;

function device(): { mem: Buffer; x: ExecContext; asked: () => number } {
  const mem = Buffer.alloc(SIZE);
  let n = 0;
  const x = new ExecContext(driver({
    cuMemcpyDtoH_v2: (dst, src, len) => {
      n++;
      mem.copy(dst as Buffer, 0, (src as number) - BASE, (src as number) - BASE + (len as number));
      return 0;
    },
    cuMemcpyHtoD_v2: (dst, data, len) => {
      n++;
      (data as Buffer).copy(mem, (dst as number) - BASE, 0, len as number);
      return 0;
    },
  }), [0]);
  x.allocs.add(BASE, SIZE);
  return { mem, x, asked: () => n };
}

function read(offset: number, n: number, chunk = PAGE, base = BASE, size = SIZE): Buffer {
  const b = Buffer.alloc(36);
  b.writeBigUInt64LE(BigInt(base), 0);
  b.writeBigUInt64LE(BigInt(size), 8);
  b.writeBigUInt64LE(BigInt(offset), 16);
  b.writeBigUInt64LE(BigInt(n), 24);
  b.writeUInt32LE(chunk, 32);
  return b;
}

function write(offset: number, data: Buffer): Buffer {
  const b = Buffer.alloc(32 + data.length);
  b.writeBigUInt64LE(BigInt(BASE), 0);
  b.writeBigUInt64LE(BigInt(SIZE), 8);
  b.writeBigUInt64LE(BigInt(offset), 16);
  b.writeBigUInt64LE(BigInt(data.length), 24);
  data.copy(b, 32);
  return b;
}

/** The reply of a read: the bitmap, then the changed chunks. */
function parse(out: Buffer): { bitmap: number[]; bytes: Buffer } {
  const nb = Number(out.readBigUInt64LE(0));
  const bitmap = [...out.subarray(8, 8 + nb)];
  const nd = Number(out.readBigUInt64LE(8 + nb));
  return { bitmap, bytes: out.subarray(16 + nb, 16 + nb + nd) };
}

test('a read sends only the chunks the device changed since the last read', () => {
  const { mem, x } = device();
  let r = parse(call(x, OP.vgCoherentRead, read(0, SIZE)).out);
  assert.deepEqual(r.bitmap, [0], 'a fresh range is zeros on both sides');
  assert.equal(r.bytes.length, 0);
  mem[PAGE + 5] = 7;
  mem[SIZE - 1] = 9;
  r = parse(call(x, OP.vgCoherentRead, read(0, SIZE)).out);
  assert.deepEqual(r.bitmap, [0b1010], 'the second page and the short last one');
  assert.equal(r.bytes.length, PAGE + 100);
  assert.equal(r.bytes[5], 7);
  assert.equal(r.bytes[PAGE + 99], 9);
  assert.deepEqual(parse(call(x, OP.vgCoherentRead, read(0, SIZE)).out).bitmap, [0], 'nothing new');
});

test("a write reaches the device and the shadow, so the guest's own pages do not come back", () => {
  const { mem, x } = device();
  const page = Buffer.alloc(PAGE, 3);
  assert.equal(call(x, OP.vgCoherentWrite, write(2 * PAGE, page)).res, 0);
  assert.equal(mem[2 * PAGE], 3);
  assert.deepEqual(parse(call(x, OP.vgCoherentRead, read(0, SIZE)).out).bitmap, [0]);
  mem[0] = 1;
  const r = parse(call(x, OP.vgCoherentRead, read(PAGE, 2 * PAGE + 100)).out);
  assert.deepEqual(r.bitmap, [0], 'a piece covers only its own chunks');
  assert.deepEqual(parse(call(x, OP.vgCoherentRead, read(0, PAGE)).out).bitmap, [1]);
});

test('pieces outside the session memory or of a malformed shape are refused before the driver', () => {
  const { x, asked } = device();
  const refused = (b: Buffer, op: number = OP.vgCoherentRead): void =>
    assert.throws(() => call(x, op, b), (e: unknown) => e instanceof CudaError && e.code === 1);
  refused(read(0, SIZE, PAGE, BASE + SIZE, PAGE), OP.vgCoherentRead);
  refused(read(0, PAGE, PAGE, BASE, SIZE + 1));
  refused(read(PAGE, SIZE));
  refused(read(0, 0));
  refused(read(100, PAGE));
  refused(read(0, PAGE, 1000));
  refused(read(0, PAGE, 1 << 20));
  refused(read(0, 5 * 1024 * 1024, PAGE, BASE, 8 * 1024 * 1024));
  refused(write(SIZE - 10, Buffer.alloc(11)), OP.vgCoherentWrite);
  assert.equal(asked(), 0);
});
