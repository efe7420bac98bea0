// The executor's array and texture handlers with a fake driver: an array's bytes (a mipmapped
// array's, all levels) count toward the quota until it is destroyed, levels go with their array, memory a texture or a box copy names must be the session's, array ids
// must be the session's, and texture objects are destroyed or described only by the session that
// made them; a context's arrays and objects go with it.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExecContext, NeedQuota } from '../../src/executor/context.js';
import { CudaError, CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_OUT_OF_MEMORY } from '../../src/executor/cuda.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { call, driver, type Fake } from '../helpers/fake-driver.js';

function run(x: ExecContext, op: number, args: Buffer): { res: number; out: Buffer } {
  try {
    return call(x, op, args);
  } catch (e) {
    if (e instanceof CudaError) return { res: e.code, out: Buffer.alloc(0) };
    throw e;
  }
}

/** A session with a current context and one allocation of 4096 bytes at 0x10000. */
function session(fake: Fake, quota?: number, granted = quota): ExecContext {
  const x = new ExecContext(driver(fake), [0], quota === undefined ? {} : { memoryQuota: quota });
  if (granted !== undefined) x.grantQuota(granted);
  assert.ok(x.makeCurrent(x.newHandle('context', 0x55)));
  x.afterAlloc(0x10000, 4096);
  return x;
}

/** cuArray3DCreate's wire arguments. */
function array3d(w: number, h: number, d: number, format: number, channels: number): Buffer {
  const b = Buffer.alloc(36);
  b.writeBigUInt64LE(BigInt(w), 0);
  b.writeBigUInt64LE(BigInt(h), 8);
  b.writeBigUInt64LE(BigInt(d), 16);
  b.writeUInt32LE(format, 24);
  b.writeUInt32LE(channels, 28);
  return b;
}

function arrays(): Fake {
  let next = 0xa000;
  return {
    cuArray3DCreate_v2: (out) => {
      (out as Buffer).writeBigUInt64LE(BigInt(next++), 0);
      return 0;
    },
  };
}

test('an array counts toward the quota until it is destroyed', () => {
  const x = session(arrays(), 1 << 20, 256 << 10);
  const held = x.held;
  const r = run(x, OP.cuArray3DCreate_v2, array3d(64, 32, 2, 0x20, 4)); // 64 x 32 x 2 float4: 64 KiB
  assert.equal(r.res, 0);
  assert.equal(x.held, held + 64 * 32 * 2 * 16);
  const id = Buffer.from(r.out.subarray(0, 8));
  assert.equal(run(x, OP.cuArrayDestroy, id).res, 0);
  assert.equal(x.held, held);
  assert.equal(run(x, OP.cuArrayDestroy, id).res, CUDA_ERROR_INVALID_HANDLE, 'destroyed');
  // Larger than what the session holds of the quota: more is asked for before the driver runs;
  // larger than the quota: refused.
  assert.throws(() => call(x, OP.cuArray3DCreate_v2, array3d(128, 64, 4, 0x20, 4)), NeedQuota);
  assert.equal(run(x, OP.cuArray3DCreate_v2, array3d(1024, 1024, 1, 0x20, 4)).res, CUDA_ERROR_OUT_OF_MEMORY);
  assert.equal(run(x, OP.cuArray3DCreate_v2, array3d(4, 4, 0, 0x20, 3)).res, CUDA_ERROR_INVALID_VALUE, 'three channels');
});

/** A linear texture resource: type, flags, pointer, format (float), channels, size; then the texture
 * descriptor's 104 bytes and no view. */
function linearTexture(ptr: number, size: number): Buffer {
  const b = Buffer.alloc(8 + 8 + 8 + 8 + 104 + 1);
  b.writeUInt32LE(2, 0);
  b.writeBigUInt64LE(BigInt(ptr), 8);
  b.writeUInt32LE(0x20, 16);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(size), 24);
  return b;
}

test('a texture names only the session memory and arrays; only its session destroys it', () => {
  let created = 0;
  const destroyed: number[] = [];
  const x = session({
    cuTexObjectCreate: (out) => {
      created++;
      (out as Buffer).writeBigUInt64LE(7n, 0);
      return 0;
    },
    cuTexObjectDestroy: (v) => {
      destroyed.push(v as number);
      return 0;
    },
  });
  assert.equal(run(x, OP.cuTexObjectCreate, linearTexture(0x10000 + 4000, 200)).res, CUDA_ERROR_INVALID_VALUE, 'past the allocation');
  assert.equal(run(x, OP.cuTexObjectCreate, linearTexture(0x90000, 16)).res, CUDA_ERROR_INVALID_VALUE, 'not an allocation');
  const arr = Buffer.alloc(8 + 8 + 104 + 1);
  arr.writeUInt32LE(0, 0);
  arr.writeBigUInt64LE(0x4242n, 8);
  assert.equal(run(x, OP.cuTexObjectCreate, arr).res, CUDA_ERROR_INVALID_HANDLE, 'an array id the session lacks');
  assert.equal(created, 0, 'the driver saw none of them');

  const ok = run(x, OP.cuTexObjectCreate, linearTexture(0x10000, 4096));
  assert.equal(ok.res, 0);
  assert.equal(ok.out.readBigUInt64LE(0), 7n, "the driver's value, unchanged");
  const desc = run(x, OP.cuTexObjectGetResourceDesc, Buffer.from(ok.out.subarray(0, 8)));
  assert.equal(desc.res, 0);
  assert.equal(desc.out.readUInt32LE(0), 2, 'a linear resource');
  assert.equal(desc.out.readBigUInt64LE(8), 0x10000n);

  const other = session({ cuTexObjectDestroy: () => 0 });
  assert.equal(run(other, OP.cuTexObjectDestroy, Buffer.from(ok.out.subarray(0, 8))).res, CUDA_ERROR_INVALID_VALUE, "another session's object");
  assert.equal(run(x, OP.cuSurfObjectDestroy, Buffer.from(ok.out.subarray(0, 8))).res, CUDA_ERROR_INVALID_VALUE, 'not a surface');
  assert.equal(run(x, OP.cuTexObjectDestroy, Buffer.from(ok.out.subarray(0, 8))).res, 0);
  assert.deepEqual(destroyed, [7]);
  assert.equal(run(x, OP.cuTexObjectDestroy, Buffer.from(ok.out.subarray(0, 8))).res, CUDA_ERROR_INVALID_VALUE, 'destroyed');
});

test('a box copy between an array and device memory stays inside the allocation', () => {
  let copies = 0;
  const x = session({ ...arrays(), cuMemcpy3DAsync_v2: () => { copies++; return 0; } });
  const id = run(x, OP.cuArray3DCreate_v2, array3d(16, 16, 0, 0x01, 1)).out.readBigUInt64LE(0);
  /** stream 0, not per-thread, a w x h x 1 box; source: the array at (0, 0, 0); destination: device
   * memory at ptr with the given pitch. */
  const box = (ptr: number, pitch: number, w: number, h: number): Buffer => {
    const b = Buffer.alloc(8 + 1 + 24 + 4 + 32 + 4 + 48);
    let o = 0;
    b.writeBigUInt64LE(0n, o); o += 8;
    b.writeUInt8(0, o); o += 1;
    for (const v of [w, h, 1]) { b.writeBigUInt64LE(BigInt(v), o); o += 8; }
    b.writeUInt32LE(3, o); o += 4;
    for (const v of [Number(id), 0, 0, 0]) { b.writeBigUInt64LE(BigInt(v), o); o += 8; }
    b.writeUInt32LE(2, o); o += 4;
    for (const v of [ptr, 0, 0, 0, pitch, h]) { b.writeBigUInt64LE(BigInt(v), o); o += 8; }
    return b;
  };
  assert.equal(run(x, OP.vgMemcpy3DArray, box(0x10000, 256, 16, 16)).res, 0);
  // Between device memory and an array no byte crosses the wire: no limit on the box.
  x.afterAlloc(0x1000000, 16 << 20);
  assert.equal(run(x, OP.vgMemcpy3DArray, box(0x1000000, 4096, 4096, 4096)).res, 0);
  assert.equal(run(x, OP.vgMemcpy3DArray, box(0x10000, 512, 16, 16)).res, CUDA_ERROR_INVALID_VALUE, 'rows past the allocation');
  assert.equal(run(x, OP.vgMemcpy3DArray, box(0x10000, 8, 16, 2)).res, CUDA_ERROR_INVALID_VALUE, 'pitch below the row');
  assert.equal(copies, 2);
});

test("a mipmapped array's levels count once, keep one id each, and go with it", () => {
  const x = session({
    cuMipmappedArrayCreate: (out) => {
      (out as Buffer).writeBigUInt64LE(0x9000n, 0);
      return 0;
    },
    cuMipmappedArrayGetLevel: (out, _m, level) => {
      (out as Buffer).writeBigUInt64LE(BigInt(0xc000 + (level as number)), 0);
      return 0;
    },
  }, 1 << 20);
  const held = x.held;
  const args = Buffer.alloc(40);
  args.writeBigUInt64LE(8n, 0); // 8 x 8 floats, four levels: 256 + 64 + 16 + 4 bytes
  args.writeBigUInt64LE(8n, 8);
  args.writeUInt32LE(0x20, 24);
  args.writeUInt32LE(1, 28);
  args.writeUInt32LE(4, 36);
  const m = run(x, OP.cuMipmappedArrayCreate, args);
  assert.equal(m.res, 0);
  assert.equal(x.held, held + 340);
  const level = (k: number): Buffer => {
    const b = Buffer.alloc(12);
    m.out.copy(b, 0, 0, 8);
    b.writeUInt32LE(k, 8);
    return b;
  };
  const a = run(x, OP.cuMipmappedArrayGetLevel, level(1)).out.readBigUInt64LE(0);
  const b = run(x, OP.cuMipmappedArrayGetLevel, level(1)).out.readBigUInt64LE(0);
  assert.equal(a, b, 'one id per level');
  const id = Buffer.alloc(8);
  id.writeBigUInt64LE(a, 0);
  assert.equal(run(x, OP.cuArrayGetDescriptor_v2, id).res, 0);
  assert.equal(run(x, OP.cuMipmappedArrayDestroy, Buffer.from(m.out.subarray(0, 8))).res, 0);
  assert.equal(x.held, held);
  assert.equal(run(x, OP.cuArrayGetDescriptor_v2, id).res, CUDA_ERROR_INVALID_HANDLE, 'the level went with it');
});

test('host bytes to an array on a capturing stream are refused before the driver copies', () => {
  let copies = 0;
  const x = session({
    ...arrays(),
    cuStreamIsCapturing: (_s, out) => {
      (out as Buffer).writeUInt32LE(1, 0); // CU_STREAM_CAPTURE_STATUS_ACTIVE
      return 0;
    },
    cuMemcpyHtoAAsync_v2: () => { copies++; return 0; },
  });
  const id = run(x, OP.cuArray3DCreate_v2, array3d(16, 0, 0, 0x01, 1)).out.readBigUInt64LE(0);
  const b = Buffer.alloc(8 + 8 + 8 + 4 + 8);
  b.writeBigUInt64LE(id, 0);
  b.writeBigUInt64LE(0n, 8);
  b.writeBigUInt64LE(4n, 16); // four bytes follow
  b.writeUInt32LE(0x01020304, 24);
  b.writeBigUInt64LE(0n, 28); // the default stream
  assert.equal(run(x, OP.cuMemcpyHtoAAsync_v2, b).res, 900);
  assert.equal(copies, 0);
});

test("a context's arrays and texture and surface objects go with it, and their handles then fail", () => {
  let value = 7n;
  const destroyed: number[] = [];
  const x = session({
    ...arrays(),
    cuTexObjectCreate: (out) => {
      (out as Buffer).writeBigUInt64LE(value++, 0);
      return 0;
    },
    cuSurfObjectCreate: (out) => {
      (out as Buffer).writeBigUInt64LE(value++, 0);
      return 0;
    },
    cuTexObjectDestroy: (v) => {
      destroyed.push(v as number);
      return 0;
    },
    cuSurfObjectDestroy: (v) => {
      destroyed.push(v as number);
      return 0;
    },
    cuCtxDestroy_v2: () => 0,
  }, 1 << 20);
  const doomed = x.currentContext;
  const held = x.held - 4096; // the allocation at 0x10000 is the context's too
  const array = run(x, OP.cuArray3DCreate_v2, array3d(16, 16, 0, 0x01, 1));
  assert.equal(array.res, 0);
  const arrayId = Buffer.from(array.out.subarray(0, 8));
  const tex = Buffer.from(run(x, OP.cuTexObjectCreate, linearTexture(0x10000, 4096)).out.subarray(0, 8));
  const surfArgs = Buffer.alloc(16);
  arrayId.copy(surfArgs, 8); // an array resource, no flags
  const surf = run(x, OP.cuSurfObjectCreate, surfArgs);
  assert.equal(surf.res, 0);
  const surfValue = Buffer.from(surf.out.subarray(0, 8));

  // Another context's object stays.
  assert.ok(x.makeCurrent(x.newHandle('context', 0x66)));
  x.afterAlloc(0x20000, 4096);
  const kept = Buffer.from(run(x, OP.cuTexObjectCreate, linearTexture(0x20000, 4096)).out.subarray(0, 8));

  const ctx = Buffer.alloc(8);
  ctx.writeBigUInt64LE(BigInt(doomed), 0);
  assert.equal(run(x, OP.cuCtxDestroy_v2, ctx).res, 0);
  assert.equal(x.held, held + 4096, "the array's bytes went back; the other context's allocation stays");
  assert.equal(run(x, OP.cuTexObjectGetResourceDesc, tex).res, CUDA_ERROR_INVALID_VALUE, 'the record went with the context');
  assert.equal(run(x, OP.cuTexObjectDestroy, tex).res, CUDA_ERROR_INVALID_VALUE);
  assert.equal(run(x, OP.cuSurfObjectGetResourceDesc, surfValue).res, CUDA_ERROR_INVALID_VALUE);
  assert.equal(run(x, OP.cuSurfObjectDestroy, surfValue).res, CUDA_ERROR_INVALID_VALUE);
  assert.equal(run(x, OP.cuArrayGetDescriptor_v2, arrayId).res, CUDA_ERROR_INVALID_HANDLE);
  assert.deepEqual(destroyed, [], 'the driver is not asked to destroy what it already destroyed');
  assert.equal(run(x, OP.cuTexObjectGetResourceDesc, kept).res, 0);
  assert.equal(run(x, OP.cuTexObjectDestroy, kept).res, 0);
  assert.deepEqual(destroyed, [Number(kept.readBigUInt64LE(0))]);
});
