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
import { Gate, LANE_BUDGET_NS, type GateMessage } from '../../src/executor/gate.js';
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

/** Listens on `path`, serves the one connection made to it with a SessionServer, and connects. */
async function serveOne(path: string, x: ExecContext, gate: Gate, setup: (s: SessionServer) => void = () => {}) {
  const served: { server?: SessionServer; closedWhy: string } = { closedWhy: '' };
  const srv = net.createServer((s) => {
    const server = new SessionServer(x, s, pino({ level: 'silent' }), (why) => (served.closedWhy = why), gate);
    setup(server);
    served.server = server;
    server.start();
  });
  await new Promise<void>((r) => srv.listen(path, r));
  return { srv, c: net.connect(path), served };
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
  const { srv, c, served } = await serveOne(path, x, gate);
  try {
    const rx = replies(c);
    assert.equal((await rx.next()).type, FrameType.ATTACHED);
    const frames: Buffer[] = [];
    for (let i = 1; i <= N; i++) frames.push(encodeFrame(FrameType.CALL, Flag.NOREPLY, i, OP_LAUNCH, launchPayload(fn, i)));
    frames.push(encodeFrame(FrameType.CALL, 0, N + 1, OP_SYNC, Buffer.alloc(8)));
    const all = Buffer.concat(frames);
    c.write(all);
    const r = await rx.next().catch((e: unknown) => assert.fail(`${String(e)}: ${served.closedWhy}`));
    assert.equal(r.type, FrameType.REPLY);
    assert.equal(r.id, N + 1);
    assert.equal(r.payload.readUInt32LE(0), 700, 'the first failed launch is what the sync reports');
    assert.equal(seen.length, N, 'every launch ran exactly once');
    assert.ok(seen.every((v, i) => v === i + 1), 'in the order sent');
    assert.equal(messages[0]?.type, 'want', 'the session asked for the GPU before running anything');
    const st = served.server!.stats;
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

const OP_HTOD = 0x0200;

/** One host-to-device copy call (a single piece): context, destination, data. */
function htodPayload(ctx: number, dst: number, data: Buffer): Buffer {
  const p = Buffer.alloc(8 + 8 + 8 + data.length);
  let o = p.writeBigUInt64LE(BigInt(ctx), 0);
  o = p.writeBigUInt64LE(BigInt(dst), o);
  o = p.writeBigUInt64LE(BigInt(data.length), o);
  data.copy(p, o);
  return p;
}

for (const lane of [true, false]) {
  test(lane
    ? 'the copy lane: without its slice a session runs host-to-device copies at once until its budget is spent, the rest waits, and the next slice is charged them'
    : 'without the copy lane a host-to-device copy waits for the slice like any call', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vgpu-lane-'));
    const path = join(dir, 's.sock');
    const DST = 0x7000_0000;
    const data = Buffer.alloc(256 * 1024, 0xa5);
    /** Each copy's time, charged to the next slice: three of them are over the lane's budget
     * whatever the machine's load (what is charged is at least this). */
    const COPY_US = 12_000;
    assert.ok(2 * COPY_US * 1000 >= LANE_BUDGET_NS && COPY_US * 1000 < LANE_BUDGET_NS);
    const events: string[] = [];
    const driver = new Proxy({}, {
      get: (_t, name) => name === 'cuMemcpyHtoD_v2'
        ? (dst: number, src: Buffer, n: number) => {
          assert.equal(dst, DST);
          assert.ok(src.subarray(0, n).equals(data), 'the copy gets the bytes sent');
          events.push('copy');
          busyWaitUs(COPY_US);
          return 0;
        }
        : () => 0,
    }) as unknown as DriverApi;
    rawLaunch.ex = undefined;
    rawLaunch.exPtsz = undefined;
    rawLaunch.plain = () => {
      events.push('launch');
      return 0;
    };
    const x = new ExecContext(driver, [0]);
    const ctx = x.newHandle('context', 0x7f00_0000_2000);
    x.allocs.add(DST, data.length, ctx);
    const fn = x.newHandle('function', 0x7f00_0000_1000);
    const messages: GateMessage[] = [];
    const gate = new Gate((m) => {
      messages.push(m);
      events.push(m.type);
    }, true, (ns) => ns);
    const { srv, c, served } = await serveOne(path, x, gate, (server) => (server.copyLane = lane));
    try {
      const rx = replies(c);
      assert.equal((await rx.next()).type, FrameType.ATTACHED);
      const launch = launchPayload(fn, 1);
      launch.writeBigUInt64LE(BigInt(ctx), 0);
      const htod = htodPayload(ctx, DST, data);
      const sync = Buffer.alloc(8);
      sync.writeBigUInt64LE(BigInt(ctx));
      const copies = [1, 2, 3].map((id) => encodeFrame(FrameType.CALL, 0, id, OP_HTOD, htod));
      c.write(Buffer.concat([...copies, encodeFrame(FrameType.CALL, Flag.NOREPLY, 4, OP_LAUNCH, launch), encodeFrame(FrameType.CALL, 0, 5, OP_SYNC, sync)]));
      // The session asks for its GPU once a call needs it: with the lane, once its budget is spent.
      for (let i = 0; i < 1000 && !events.includes('want'); i++) await new Promise((r) => setTimeout(r, 10));
      const beforeGrant = events.indexOf('want');
      assert.ok(beforeGrant >= 0, 'the session asked for its GPU');
      if (lane) {
        // One copy or two ran at once (two unless the first alone was charged the whole budget).
        assert.ok(beforeGrant === 1 || beforeGrant === 2, events.join(' '));
        assert.ok(events.slice(0, beforeGrant).every((e) => e === 'copy'), events.join(' '));
        assert.equal(served.server!.stats.laneIn, beforeGrant * htod.length);
      } else {
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(events, ['want'], 'nothing ran without the slice');
      }
      gate.grant(true);
      const ids: number[] = [];
      while (!ids.includes(5)) {
        const r = await rx.next().catch((e: unknown) => assert.fail(`${String(e)}: ${served.closedWhy}`));
        assert.equal(r.payload.readUInt32LE(0), 0);
        ids.push(r.id);
      }
      assert.deepEqual(ids, [1, 2, 3, 5]);
      // Whatever ran at once, the rest ran in order after the grant, and the session yielded.
      assert.deepEqual(events.filter((e) => e !== 'want'), ['copy', 'copy', 'copy', 'launch', 'yield']);
      const y = messages.at(-1);
      assert.ok(y?.type === 'yield' && y.usedNs >= 3 * COPY_US * 1000, `the slice is charged every copy's time: ${JSON.stringify(y)}`);
      const st = served.server!.stats;
      const onLane = lane ? beforeGrant : 0;
      assert.equal(st.laneIn, onLane * htod.length);
      // What waited for the slice counts as staged, and nothing the lane served.
      assert.equal(st.staged, st.bytesIn - onLane * copies[0]!.length);
    } finally {
      c.destroy();
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
