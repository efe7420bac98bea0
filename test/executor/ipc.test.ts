// The executor's CUDA IPC handlers with a fake driver (src/executor/custom/ipc.ts, docs/ipc.md): an
// export waits for the mediator's token and gives the guest that token, never the driver's bytes;
// an open waits for the mediator to name the driver's handle behind a token and is refused when it
// does not; opened memory is a range the session may use but does not hold; freeing an exported
// allocation revokes its handle; the mediator is told when the session no longer has open what it
// looked up (its last close, a refused open, its context's destruction).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExecContext } from '../../src/executor/context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_MAP_FAILED } from '../../src/executor/cuda.js';
import { NeedIpc, type IpcQuestion } from '../../src/executor/ipc.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { call, driver, type Fake } from '../helpers/fake-driver.js';

const BASE = 0x7f00_0000_0000;
const SIZE = 1 << 20;
const OPENED = 0x7e00_0000_0000;
const DRIVER_HANDLE = Buffer.alloc(64, 0x11);
const TOKEN = Buffer.concat([Buffer.alloc(32, 0x22), Buffer.alloc(32)]);

function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

/** A fake driver whose IPC handle is DRIVER_HANDLE and which opens it at OPENED. */
function fake(opened: Array<Uint8Array>): Fake {
  return {
    cuIpcGetMemHandle: (out) => {
      DRIVER_HANDLE.copy(out as Buffer);
      return 0;
    },
    cuMemGetAddressRange_v2: (base, size, p) => {
      if (base) (base as Buffer).writeBigUInt64LE(BigInt(p === OPENED ? OPENED : BASE));
      if (size) (size as Buffer).writeBigUInt64LE(BigInt(SIZE));
      return 0;
    },
    cuIpcOpenMemHandle_v2: ((out: Buffer, h: { reserved: Uint8Array }) => {
      opened.push(h.reserved);
      out.writeBigUInt64LE(BigInt(OPENED));
      return 0;
    }) as unknown as Fake['cuIpcOpenMemHandle_v2'],
  };
}

/** A session with an allocation at BASE and a current context. */
function session(opened: Array<Uint8Array> = []): ExecContext {
  const x = new ExecContext(driver(fake(opened)), [0]);
  x.setCurrentCtx(x.newHandle('context', 0x5000));
  x.afterAlloc(BASE, SIZE);
  return x;
}

/** Runs a call as the serving loop does: a question to the mediator is answered by `mediator` and
 * the call replayed. */
function run(x: ExecContext, op: number, args: Buffer, mediator: (q: IpcQuestion) => string | null): { res: number; out: Buffer } {
  for (;;) {
    try {
      return call(x, op, args);
    } catch (e) {
      if (e instanceof NeedIpc) x.ipc.answer(e.question, mediator(e.question));
      else if (e instanceof CudaError) return { res: e.code, out: Buffer.alloc(0) };
      else throw e;
    }
  }
}

test("an export gives the guest the mediator's token, never the driver's bytes", () => {
  const x = session();
  const asked: IpcQuestion[] = [];
  const r = run(x, OP.cuIpcGetMemHandle, u64(BASE), (q) => {
    asked.push(q);
    return TOKEN.toString('hex');
  });
  assert.equal(r.res, 0);
  assert.deepEqual(r.out, TOKEN);
  assert.deepEqual(asked, [{ op: 'export', kind: 'mem', handle: DRIVER_HANDLE.toString('hex'), bytes: SIZE }], 'with the size the VM stays charged');
  // Not the session's memory: refused before the driver or the mediator is asked.
  assert.equal(run(x, OP.cuIpcGetMemHandle, u64(BASE + 2 * SIZE), () => assert.fail('asked')).res, CUDA_ERROR_INVALID_VALUE);
  // No mediator to keep the export.
  assert.equal(run(x, OP.cuIpcGetMemHandle, u64(BASE), () => null).res, CUDA_ERROR_MAP_FAILED);
});

test('an open is refused unless the mediator names the handle; opened memory is usable but not held', () => {
  const opened: Uint8Array[] = [];
  const x = session(opened);
  const args = Buffer.concat([TOKEN, Buffer.from([1, 0, 0, 0])]);
  assert.equal(run(x, OP.cuIpcOpenMemHandle_v2, args, () => null).res, CUDA_ERROR_INVALID_VALUE);
  assert.equal(opened.length, 0, 'the driver never sees a refused token');
  const held = x.held;
  const r = run(x, OP.cuIpcOpenMemHandle_v2, args, (q) => {
    assert.deepEqual(q, { op: 'lookup', kind: 'mem', token: TOKEN.toString('hex') });
    return DRIVER_HANDLE.toString('hex');
  });
  assert.equal(r.res, 0);
  assert.equal(r.out.readBigUInt64LE(0), BigInt(OPENED));
  assert.deepEqual(Buffer.from(opened[0]!), DRIVER_HANDLE, "the driver's own bytes");
  x.checkRange(OPENED, SIZE); // usable by copies and kernels
  assert.equal(x.held, held, 'counted as the exporter\'s, not here');
  // A second open is one more reference; each close gives one back.
  assert.equal(run(x, OP.cuIpcOpenMemHandle_v2, args, () => DRIVER_HANDLE.toString('hex')).res, 0);
  assert.equal(run(x, OP.cuIpcCloseMemHandle, u64(OPENED), () => null).res, 0);
  x.checkRange(OPENED, 1);
  assert.equal(run(x, OP.cuIpcCloseMemHandle, u64(OPENED), () => null).res, 0);
  assert.throws(() => x.checkRange(OPENED, 1), CudaError);
  assert.equal(run(x, OP.cuIpcCloseMemHandle, u64(OPENED), () => null).res, CUDA_ERROR_INVALID_VALUE);
  assert.equal(run(x, OP.cuIpcCloseMemHandle, u64(BASE), () => null).res, CUDA_ERROR_INVALID_VALUE, 'its own allocation');
});

test('freeing an exported allocation revokes its handle', () => {
  const x = session();
  const revoked: string[] = [];
  x.ipc.revoke = (kind, handle) => revoked.push(`${kind}:${handle}`);
  assert.equal(run(x, OP.cuIpcGetMemHandle, u64(BASE), () => TOKEN.toString('hex')).res, 0);
  x.afterAlloc(BASE + 2 * SIZE, SIZE);
  x.afterFree(BASE + 2 * SIZE);
  assert.deepEqual(revoked, [], 'another allocation');
  x.afterFree(BASE);
  assert.deepEqual(revoked, [`mem:${DRIVER_HANDLE.toString('hex')}`]);
});

test('the mediator is told of the last close, of an open the driver refused, and of a destroyed context', () => {
  const hex = TOKEN.toString('hex');
  const args = Buffer.concat([TOKEN, Buffer.from([1, 0, 0, 0])]);
  const closed: string[] = [];
  const x = session();
  x.ipc.close = (kind, token) => closed.push(`${kind}:${token}`);
  assert.equal(run(x, OP.cuIpcOpenMemHandle_v2, args, () => DRIVER_HANDLE.toString('hex')).res, 0);
  assert.equal(run(x, OP.cuIpcOpenMemHandle_v2, args, () => DRIVER_HANDLE.toString('hex')).res, 0);
  assert.equal(run(x, OP.cuIpcCloseMemHandle, u64(OPENED), () => null).res, 0);
  assert.deepEqual(closed, [], 'one reference is left');
  assert.equal(run(x, OP.cuIpcCloseMemHandle, u64(OPENED), () => null).res, 0);
  assert.deepEqual(closed, [`mem:${hex}`]);

  // The driver refuses the open the mediator answered: nothing is open.
  const refusing = new ExecContext(driver({ ...fake([]), cuIpcOpenMemHandle_v2: (() => CUDA_ERROR_INVALID_VALUE) as unknown as Fake['cuIpcOpenMemHandle_v2'] }), [0]);
  refusing.setCurrentCtx(refusing.newHandle('context', 0x5000));
  const refused: string[] = [];
  refusing.ipc.close = (kind, token) => refused.push(`${kind}:${token}`);
  assert.equal(run(refusing, OP.cuIpcOpenMemHandle_v2, args, () => DRIVER_HANDLE.toString('hex')).res, CUDA_ERROR_INVALID_VALUE);
  assert.deepEqual(refused, [`mem:${hex}`]);

  // The context it was opened in is destroyed: the driver unmapped it.
  closed.length = 0;
  assert.equal(run(x, OP.cuIpcOpenMemHandle_v2, args, () => DRIVER_HANDLE.toString('hex')).res, 0);
  x.contextGone(x.currentContext);
  assert.deepEqual(closed, [`mem:${hex}`]);
  assert.throws(() => x.checkRange(OPENED, 1), CudaError);
});
