// The native hot path in front of the executor's serving loop, as src/executor/main.ts puts it, on
// softgpu over a real Unix socket: calls wait for the GPU slice in TypeScript and are served in C
// once it is held, a preemption takes the permission back and charges the native calls' time to
// the slice, and the session's statistics count every call and byte whichever side served it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';

import { FrameType } from '../../src/protocol/constants.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { ExecContext } from '../../src/executor/context.js';
import { loadDriver } from '../../src/executor/driver.js';
import { socketFd } from '../../src/executor/direct-socket.js';
import { Gate, type GateMessage } from '../../src/executor/gate.js';
import { hotPathWanted, NativeHotPath } from '../../src/executor/hot-path.js';
import { SessionServer } from '../../src/executor/serve.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { replies } from '../helpers/frame-reader.js';

/** A SessionServer with the hot path in front, on softgpu over a Unix socket, as main.ts sets
 * them up; `c` is the guest's end. */
async function behindHotPath(gate: Gate) {
  const drv = loadDriver('softgpu', () => {});
  assert.equal(drv.api.cuInit(0), 0);
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-hot-'));
  const path = join(dir, 's.sock');
  const x = new ExecContext(drv.api, [0]);
  let server: SessionServer | undefined;
  let hot: NativeHotPath | undefined;
  let ctxId = 0;
  const srv = net.createServer((s) => {
    hot = NativeHotPath.start(socketFd(s)!, drv.path);
    x.native = hot;
    x.allocs.watcher = hot;
    const out = Buffer.alloc(8);
    assert.equal(drv.api.cuDevicePrimaryCtxRetain(out, 0), 0);
    ctxId = x.contextId(Number(out.readBigUInt64LE(0)));
    server = new SessionServer(x, s, pino({ level: 'silent' }), () => {}, gate);
    server.hot = hot;
    server.start();
  });
  await new Promise<void>((r) => srv.listen(path, r));
  const c = net.connect(path);
  return {
    x,
    c,
    server: () => server!,
    hot: () => hot!,
    ctxId: () => ctxId,
    sync: (id: number): Buffer => {
      const p = Buffer.alloc(8);
      p.writeBigUInt64LE(BigInt(ctxId));
      return encodeFrame(FrameType.CALL, 0, id, OP.cuCtxSynchronize, p);
    },
    close: async (): Promise<void> => {
      c.destroy();
      srv.close();
      await new Promise((r) => setTimeout(r, 50));
      hot?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('VGPU_HOT_PATH: on unless 0 or off; anything else is refused', () => {
  assert.equal(hotPathWanted({}), true);
  assert.equal(hotPathWanted({ VGPU_HOT_PATH: '' }), true);
  assert.equal(hotPathWanted({ VGPU_HOT_PATH: '1' }), true);
  assert.equal(hotPathWanted({ VGPU_HOT_PATH: 'on' }), true);
  assert.equal(hotPathWanted({ VGPU_HOT_PATH: '0' }), false);
  assert.equal(hotPathWanted({ VGPU_HOT_PATH: 'off' }), false);
  assert.throws(() => hotPathWanted({ VGPU_HOT_PATH: 'yes' }), /VGPU_HOT_PATH must be 0, 1, on or off/);
});

test('behind the hot path: calls wait for the slice, run natively once it is held, and a preemption takes it back', { timeout: 60_000 }, async () => {
  const messages: GateMessage[] = [];
  let gate: Gate | undefined;
  let settledNs = -1;
  gate = new Gate((m) => {
    messages.push(m);
    if (m.type === 'want') setImmediate(() => gate!.grant(false));
  }, true, (ns) => (settledNs = ns));
  const b = await behindHotPath(gate);
  const { x, c, sync } = b;
  let sent = 0;
  const send = (b: Buffer): void => {
    sent += b.length;
    c.write(b);
  };
  try {
    const rx = replies(c);
    assert.equal((await rx.next()).type, FrameType.ATTACHED);
    // Without the slice the first call goes to TypeScript, which asks for the GPU.
    send(sync(1));
    const r1 = await rx.next();
    assert.deepEqual([r1.type, r1.id, r1.payload.readUInt32LE(0)], [FrameType.REPLY, 1, 0]);
    assert.equal(messages[0]?.type, 'want');
    // Held alone: the following calls are served in C.
    for (let i = 2; i <= 50; i++) {
      send(sync(i));
      const r = await rx.next();
      assert.deepEqual([r.type, r.id, r.payload.readUInt32LE(0)], [FrameType.REPLY, i, 0]);
    }
    b.server().absorbNative();
    const st = b.server().stats;
    assert.ok(st.nativeCalls >= 40, `native calls: ${st.nativeCalls}`);
    assert.equal(st.calls, 50);
    // A preemption: the permission goes, the native calls' time is charged to the slice it yields.
    const busy = st.busyNs;
    gate.preempt();
    const y = messages.at(-1);
    assert.equal(y?.type, 'yield');
    assert.ok(settledNs >= busy - 1 && settledNs > 0, `the slice is charged the native calls' time (${settledNs} of ${busy} ns)`);
    const nativeBefore = st.nativeCalls;
    send(sync(51));
    const r51 = await rx.next();
    assert.deepEqual([r51.id, r51.payload.readUInt32LE(0)], [51, 0]);
    b.server().absorbNative();
    assert.equal(st.nativeCalls, nativeBefore, 'after the yield the call waited for a new slice in TypeScript');
    assert.equal(messages.filter((m) => m.type === 'want').length, 2);
    assert.equal(st.bytesIn, sent, 'every byte counted once');
    assert.equal(x.takeDeferred(), 0);
  } finally {
    await b.close();
  }
});

test('a contended session keeps its connection in TypeScript: no hand-backs the hot path would only return, and one once it holds the GPU alone', { timeout: 60_000 }, async () => {
  let contended = true;
  let gate: Gate | undefined;
  gate = new Gate((m) => {
    if (m.type === 'want') setImmediate(() => gate!.grant(contended));
  }, true, () => 0);
  const b = await behindHotPath(gate);
  const { c, sync } = b;
  try {
    const rx = replies(c);
    assert.equal((await rx.next()).type, FrameType.ATTACHED);
    const backsBefore = b.hot().stats().handBacks;
    // Contended: every call waits for a slice and is served in TypeScript, which never hands the
    // connection over (the hot path could only hand it straight back).
    for (let i = 1; i <= 20; i++) {
      c.write(sync(i));
      const r = await rx.next();
      assert.deepEqual([r.type, r.id, r.payload.readUInt32LE(0)], [FrameType.REPLY, i, 0]);
    }
    b.server().absorbNative();
    assert.equal(b.server().stats.nativeCalls, 0);
    assert.equal(b.hot().stats().handBacks, backsBefore, 'no hand-back while the session was contended');
    // Alone: the connection goes to the hot path, which serves what follows.
    contended = false;
    for (let i = 21; i <= 60; i++) {
      c.write(sync(i));
      const r = await rx.next();
      assert.deepEqual([r.id, r.payload.readUInt32LE(0)], [i, 0]);
    }
    b.server().absorbNative();
    assert.ok(b.server().stats.nativeCalls >= 30, `native calls once alone: ${b.server().stats.nativeCalls}`);
    assert.ok(b.hot().stats().handBacks > backsBefore);
    // A bulk call (128 KiB of host-to-device data, to an address the session does not own, so it
    // fails) is handed over and served in TypeScript, which keeps the connection after it: a
    // program copying data does not move its connection twice per copy.
    const bulk = Buffer.alloc(8 + 8 + 8 + 128 * 1024);
    bulk.writeBigUInt64LE(BigInt(b.ctxId()), 0);
    bulk.writeBigUInt64LE(0x1000n, 8);
    bulk.writeBigUInt64LE(BigInt(128 * 1024), 16);
    const backs = b.hot().stats().handBacks;
    c.write(encodeFrame(FrameType.CALL, 0, 61, OP.cuMemcpyHtoD_v2, bulk));
    const rb = await rx.next();
    assert.equal(rb.id, 61);
    assert.notEqual(rb.payload.readUInt32LE(0), 0);
    b.server().absorbNative();
    const nativeBefore = b.server().stats.nativeCalls;
    c.write(sync(62));
    assert.equal((await rx.next()).id, 62);
    b.server().absorbNative();
    assert.equal(b.server().stats.nativeCalls, nativeBefore, 'the call after the bulk one was served in TypeScript: it kept the connection');
    // ...and hands it back after that small call (the hand-back waits for the reply to be taken).
    for (let i = 0; i < 1000 && b.hot().stats().handBacks === backs; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(b.hot().stats().handBacks, backs + 1, 'one hand-back: after the small call, none after the bulk one');
  } finally {
    await b.close();
  }
});
