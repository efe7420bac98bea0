// The executor's serving loop on its own, over a real Unix socket, with a fake driver: fire-and-
// forget launches that wait for the GPU slice and cross turn boundaries (so they wait in the frame
// parser) still run exactly once and in order, the first failure among them is what the next
// synchronising call returns, and the session's statistics count every call and byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';

import { Flag, FrameType } from '../../src/protocol/constants.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { ExecContext } from '../../src/executor/context.js';
import { rawLaunch } from '../../src/executor/custom/launch.js';
import type { DriverApi } from '../../src/executor/gen/ffi.js';
import { Gate, type GateMessage } from '../../src/executor/gate.js';
import { SessionServer } from '../../src/executor/serve.js';
import { replies } from '../helpers/frame-reader.js';

const OP_LAUNCH = 0x0520;
const OP_SYNC = 0x0131;

/** Every driver function answers success; launches go through rawLaunch below. */
const okDriver = new Proxy({}, { get: () => () => 0 }) as unknown as DriverApi;

function launchPayload(fn: number, seq: number): Buffer {
  const p = Buffer.alloc(8 + 8 + 7 * 4 + 8 + 8);
  let o = p.writeBigUInt64LE(0n, 0); // no context
  o = p.writeBigUInt64LE(BigInt(fn), o);
  o = p.writeUInt32LE(seq, o); // grid x carries the sequence number
  for (let i = 0; i < 5; i++) o = p.writeUInt32LE(1, o);
  o = p.writeUInt32LE(0, o); // shared memory
  o = p.writeBigUInt64LE(0n, o); // NULL stream
  p.writeBigUInt64LE(0n, o); // no parameter bytes
  return p;
}

function busyWaitUs(us: number): void {
  const end = process.hrtime.bigint() + BigInt(us * 1000);
  while (process.hrtime.bigint() < end);
}

test('launches held back by the GPU slice and by turn boundaries run once, in order, and the first failure is deferred to the sync', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-serve-'));
  const path = join(dir, 's.sock');
  const N = 30_000;
  const FAIL_FIRST = 12_345;
  const FAIL_LATER = 20_000;
  const seen: number[] = [];
  rawLaunch.ex = undefined; // the 11-argument binding hands the grid size (our sequence number) over
  rawLaunch.exPtsz = undefined;
  rawLaunch.plain = (_f, gx) => {
    seen.push(gx);
    // Enough time per launch that the batch spans several 50 ms turns of a lone session.
    busyWaitUs(5);
    return gx === FAIL_FIRST ? 700 : gx === FAIL_LATER ? 719 : 0;
  };
  const x = new ExecContext(okDriver, [0]);
  const fn = x.newHandle('function', 0x7f00_0000_1000);
  const messages: GateMessage[] = [];
  let gate: Gate | undefined;
  const gateSend = (m: GateMessage): void => {
    messages.push(m);
    // The scheduler answers later, while frames keep arriving and wait.
    if (m.type === 'want') setTimeout(() => gate!.grant(false), 30);
  };
  gate = new Gate(gateSend, true, (ns) => ns);
  let server: SessionServer | undefined;
  let closedWhy = '';
  const srv = net.createServer((s) => {
    server = new SessionServer(x, s, pino({ level: 'silent' }), (why) => (closedWhy = why), gate);
    server.start();
  });
  await new Promise<void>((r) => srv.listen(path, r));
  const c = net.connect(path);
  try {
    const rx = replies(c);
    assert.equal((await rx.next()).type, FrameType.ATTACHED);
    const frames: Buffer[] = [];
    for (let i = 1; i <= N; i++) frames.push(encodeFrame(FrameType.CALL, Flag.NOREPLY, i, OP_LAUNCH, launchPayload(fn, i)));
    frames.push(encodeFrame(FrameType.CALL, 0, N + 1, OP_SYNC, Buffer.alloc(8)));
    const all = Buffer.concat(frames);
    c.write(all);
    const r = await rx.next().catch((e: unknown) => assert.fail(`${String(e)}: ${closedWhy}`));
    assert.equal(r.type, FrameType.REPLY);
    assert.equal(r.id, N + 1);
    assert.equal(r.payload.readUInt32LE(0), 700, 'the first failed launch is what the sync reports');
    assert.equal(seen.length, N, 'every launch ran exactly once');
    assert.ok(seen.every((v, i) => v === i + 1), 'in the order sent');
    assert.equal(messages[0]?.type, 'want', 'the session asked for the GPU before running anything');
    const st = server!.stats;
    assert.equal(st.calls, N + 1);
    assert.equal(st.asyncCalls, N);
    assert.equal(st.bytesIn, all.length);
    assert.ok(st.busyNs >= N * 5_000, `busy time covers the launches (${st.busyNs} ns)`);
  } finally {
    c.destroy();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
