// A real mediator on softgpu, driven by a guest that speaks the wire protocol directly: handshake,
// authentication, ownership checks, and connections that misbehave on purpose. Each misbehaving
// connection must be dropped with a log line while the mediator and other sessions keep working.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Flag, FrameType } from '../../src/protocol/constants.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { WireStatus } from '../../src/protocol/errors.js';
import { decodeStatus } from '../../src/protocol/handshake.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { TestGuest } from '../helpers/guest.js';
import { ROOT } from '../helpers/paths.js';

let m: RunningMediator;
before(async () => {
  m = await startMediator({ tcp: true });
});
after(async () => {
  await m?.stop();
});

const CUDA_ERROR_INVALID_VALUE = 1;
const CUDA_ERROR_OUT_OF_MEMORY = 2;
const CUDA_ERROR_INVALID_HANDLE = 400;

/** An attached guest with the primary context of device 0 retained. */
async function attachedGuest(): Promise<{ g: TestGuest; ctx: number; session: number }> {
  const g = await TestGuest.connect(m.socket);
  const session = (await g.hello()).sessionId;
  await g.attach();
  const rep = await g.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0));
  assert.equal(rep!.result, 0);
  return { g, session, ctx: rep!.payload.readUInt32LE(0) + rep!.payload.readUInt32LE(4) * 2 ** 32 };
}

async function alloc(g: TestGuest, ctx: number, n: number): Promise<number> {
  const r = await g.call(OP.cuMemAlloc_v2, ctx, (w) => w.u64(n));
  assert.equal(r!.result, 0, 'cuMemAlloc');
  return r!.payload.readUInt32LE(0) + r!.payload.readUInt32LE(4) * 2 ** 32;
}

test('handshake: WELCOME carries the device table of softgpu', async () => {
  const g = await TestGuest.connect(m.socket);
  const wl = await g.hello();
  assert.equal(wl.vmName, 'local');
  assert.equal(wl.hostFlags & 1, 1, 'softgpu flag');
  assert.ok(wl.driverVersion >= 13000);
  assert.equal(wl.devices.length, 1);
  const d = wl.devices[0]!;
  assert.match(d.name, /CPU/i, 'softgpu says it is a CPU emulation');
  assert.ok(d.totalMem > 0);
  assert.equal(d.attributes.length, 148);
  assert.equal(d.attributes[75], 12, "compute capability major (softgpu's default identity, 12.0)");
  assert.equal(d.uuid.length, 16);
  g.close();
});

test('discovery-only sessions start no executor', async () => {
  const before = m.logs.filter((l) => l.msg === 'session attached to executor').length;
  const gs = await Promise.all([1, 2, 3].map(() => TestGuest.connect(m.socket)));
  for (const g of gs) await g.hello();
  for (const g of gs) g.close();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(m.logs.filter((l) => l.msg === 'session attached to executor').length, before);
});

test('auth: a wrong token is refused with VG_WIRE_STATUS_AUTH; TCP needs a token', async () => {
  const g = await TestGuest.connect(m.socket);
  await assert.rejects(g.hello('vgpu_not-a-real-token'), /unknown VM token/);
  await g.waitClosed();
  const [host, port] = m.tcp!.slice(4).split(':');
  const t = await TestGuest.connectTcp(host!, Number(port));
  await assert.rejects(t.hello(''), /no VM token/);
});

test('garbage, truncated frames and lying lengths are dropped; other sessions keep working', async () => {
  const { g: good, ctx } = await attachedGuest();
  const p = await alloc(good, ctx, 4096);

  // 1. garbage instead of HELLO
  const g1 = await TestGuest.connect(m.socket);
  g1.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(4)));
  const e1 = await g1.next();
  assert.equal(e1?.type, FrameType.ERROR);
  assert.match(decodeStatus(e1!.payload).message, /unknown frame type|first frame/);
  await g1.waitClosed();

  // 2. a header with a length over the limit
  const g2 = await TestGuest.connect(m.socket);
  const lying = encodeFrame(FrameType.HELLO, 0, 0, 0, Buffer.alloc(4));
  lying.writeUInt32LE(0x7fffffff, 0);
  g2.send(lying);
  await g2.waitClosed();

  // 3. an attached session sends a CALL whose payload is shorter than its arguments
  const { g: g3, ctx: ctx3 } = await attachedGuest();
  g3.send(encodeFrame(FrameType.CALL, 0, 99, OP.cuMemAlloc_v2, Buffer.alloc(10)));
  await g3.waitClosed();
  await m.waitForLog((l) => l.msg === 'protocol error; dropping connection');
  void ctx3;

  // 4. a truncated frame, then the guest goes away
  const { g: g4 } = await attachedGuest();
  g4.send(encodeFrame(FrameType.CALL, 0, 5, OP.cuMemAlloc_v2, Buffer.alloc(16)).subarray(0, 20));
  g4.close();

  // 5. an unknown op
  const { g: g5 } = await attachedGuest();
  g5.send(encodeFrame(FrameType.CALL, 0, 1, 0xfff0, Buffer.alloc(8)));
  await g5.waitClosed();

  // The first session is untouched: its allocation is still there and usable.
  const set = await good.call(OP.cuMemsetD8_v2, ctx, (w) => { w.u64(p); w.u32(0x5a); w.u64(4096); });
  assert.equal(set!.result, 0);
  const ping = Buffer.from('still alive');
  good.send(encodeFrame(FrameType.PING, 0, 77, 0, ping));
  const pong = await good.next();
  assert.equal(pong?.type, FrameType.PONG);
  assert.deepEqual(pong?.payload, ping);
  good.close();
});

test('after ATTACH, a malformed frame is answered with ERROR VG_WIRE_STATUS_PROTOCOL naming it, then the connection closes', async () => {
  const cases: Array<{ frame: Buffer; reason: RegExp }> = [
    { frame: encodeFrame(FrameType.CALL, 0, 99, OP.cuMemAlloc_v2, Buffer.alloc(10)), reason: /past the end|short|payload/i },
    { frame: encodeFrame(FrameType.CALL, 0, 1, 0xfff0, Buffer.alloc(8)), reason: /unknown op 0xfff0/ },
    { frame: encodeFrame(FrameType.STATUS, 0, 2, 0), reason: /unexpected frame type 11 after attach/ },
    { frame: encodeFrame(FrameType.CALL, Flag.NOREPLY | Flag.MORE, 3, OP.cuCtxSynchronize, Buffer.alloc(8)), reason: /NOREPLY and MORE together/ },
  ];
  for (const c of cases) {
    const { g } = await attachedGuest();
    g.send(c.frame);
    const e = await g.next();
    assert.equal(e?.type, FrameType.ERROR, `an ERROR frame for ${c.reason}`);
    assert.equal(e!.op, WireStatus.PROTOCOL);
    const st = decodeStatus(e!.payload);
    assert.equal(st.code, WireStatus.PROTOCOL);
    assert.match(st.message, c.reason);
    await g.waitClosed();
  }
});

test('ownership: pointers, handles and sizes are checked against the session', async () => {
  const { g: a, ctx: ca } = await attachedGuest();
  const { g: b, ctx: cb } = await attachedGuest();
  const pa = await alloc(a, ca, 1 << 20);
  // b cannot touch a's allocation
  const r1 = await b.call(OP.cuMemsetD8_v2, cb, (w) => { w.u64(pa); w.u32(1); w.u64(16); });
  assert.equal(r1!.result, CUDA_ERROR_INVALID_VALUE);
  // past the end of an allocation
  const r2 = await a.call(OP.cuMemsetD32_v2, ca, (w) => { w.u64(pa); w.u32(1); w.u64((1 << 18) + 1); });
  assert.equal(r2!.result, CUDA_ERROR_INVALID_VALUE);
  // double free
  assert.equal((await a.call(OP.cuMemFree_v2, ca, (w) => w.u64(pa)))!.result, 0);
  assert.equal((await a.call(OP.cuMemFree_v2, ca, (w) => w.u64(pa)))!.result, CUDA_ERROR_INVALID_VALUE);
  // unknown stream
  assert.equal((await a.call(OP.cuStreamSynchronize, ca, (w) => w.u64(0x123456)))!.result, CUDA_ERROR_INVALID_HANDLE);
  // absurd allocation
  assert.equal((await a.call(OP.cuMemAlloc_v2, ca, (w) => w.u64(2 ** 50)))!.result, CUDA_ERROR_OUT_OF_MEMORY);
  // a's stream is not b's
  const s = await a.call(OP.cuStreamCreate, ca, (w) => w.u32(0));
  assert.equal(s!.result, 0);
  const sid = s!.payload.readUInt32LE(0) + s!.payload.readUInt32LE(4) * 2 ** 32;
  assert.equal((await b.call(OP.cuStreamSynchronize, cb, (w) => w.u64(sid)))!.result, CUDA_ERROR_INVALID_HANDLE);
  assert.equal((await a.call(OP.cuStreamSynchronize, ca, (w) => w.u64(sid)))!.result, 0);
  // the session is still usable after all of that
  const pb = await alloc(a, ca, 64);
  assert.ok(pb > 0);
  a.close();
  b.close();
});

test('bytes round-trip through HtoD and DtoH, including multi-frame replies', async () => {
  const { g, ctx } = await attachedGuest();
  const n = 9 * 1024 * 1024 + 123; // more than two 4 MiB pieces
  const p = await alloc(g, ctx, n);
  const data = Buffer.alloc(n);
  for (let i = 0; i < n; i++) data[i] = (i * 31 + 7) & 0xff;
  const CH = 4 * 1024 * 1024;
  for (let off = 0; off < n; off += CH) {
    const piece = data.subarray(off, Math.min(n, off + CH));
    const last = off + CH >= n;
    const r = await g.call(OP.cuMemcpyHtoD_v2, ctx, (w) => { w.u64(p + off); w.bytes(piece); }, last ? 0 : Flag.MORE);
    if (last) assert.equal(r!.result, 0);
  }
  const back = await g.call(OP.cuMemcpyDtoH_v2, ctx, (w) => { w.u64(p); w.u64(n); });
  assert.equal(back!.result, 0);
  assert.equal(back!.payload.length, n);
  assert.ok(back!.payload.equals(data), 'bytes that come back are the bytes that went in');
  g.close();
});

test('a guest killed mid-transfer leaves no executor behind', async () => {
  const { g, ctx, session } = await attachedGuest();
  await alloc(g, ctx, 8 << 20);
  const attached = await m.waitForLog((l) => l.msg === 'session attached to executor' && l.session === String(session));
  const pid = attached.executorPid as number;
  assert.ok(pid > 0);
  // Half of a 4 MiB piece, then the guest dies.
  const frame = encodeFrame(FrameType.CALL, 0, 9, OP.cuMemcpyHtoD_v2, Buffer.alloc(16 + 4 * 1024 * 1024));
  g.send(frame.subarray(0, 2 * 1024 * 1024));
  g.close();
  await m.waitForLog((l) => l.msg === 'executor exited' && l.executorPid === pid, 15_000);
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'executor process is gone');
  const ended = m.logs.find((l) => l.msg === 'session ended' && l.pid === pid);
  assert.ok(ended, 'the executor logged the end of its session');
});

test('a second mediator on a socket in use refuses to start and says how to choose another address', async (t) => {
  const firstDir = mkdtempSync(join(tmpdir(), 'vgpu-first-'));
  t.after(() => rmSync(firstDir, { recursive: true, force: true }));
  const first = await startMediator({ stateDir: firstDir });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'vgpu-second-'));
    try {
      const r = spawnSync(join(ROOT, 'bin/vgpu-mediator'), ['--state-dir', join(dir, 'state'), '--listen', `unix:${first.socket}`,
        '--backend', 'softgpu', '--http', 'off'], { encoding: 'utf8', timeout: 60_000 });
      assert.notEqual(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`another mediator is already listening on unix:${first.socket}: stop it, or start this one with ` +
        String.raw`--listen unix:/other/path\.sock \('make run' takes VGPU_SOCKET=/other/path\.sock\)`), r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(existsSync(join(first.stateDir, 'listen')), 'the refused mediator left the running one\'s listen file');
  } finally {
    await first.stop();
  }
  assert.equal(existsSync(join(first.stateDir, 'listen')), false, 'a stopped mediator removes its listen file');
});

test('a TCP port in use: the mediator names the flag that gets past it, in pretty lines when asked', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-port-'));
  try {
    const r = spawnSync(join(ROOT, 'bin/vgpu-mediator'), ['--state-dir', join(dir, 'state'), '--listen', `unix:${join(dir, 's.sock')}`,
      '--listen', `tcp:127.0.0.1:${port}`, '--backend', 'softgpu', '--http', 'off', '--log-format', 'pretty', '--log-level', 'info'],
    { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    const fatal = r.stderr.split('\n').find((l) => / FATAL \(vgpu-mediator\): mediator failed to start/.test(l));
    assert.ok(fatal, r.stderr);
    assert.match(fatal, /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] /);
    assert.match(r.stderr, new RegExp(`tcp:127\\.0\\.0\\.1:${port} is already in use by another process \\(another mediator\\?\\): stop it, ` +
      'or start this one with --listen tcp:127\\.0\\.0\\.1:OTHER_PORT'));
    assert.doesNotMatch(r.stderr, /^\{"level"/m, 'no JSON lines when pretty was asked for');
  } finally {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('backend auto without a usable NVIDIA driver logs why in words, not where Node threw', async () => {
  const med = await startMediator({ backend: 'auto', env: { VGPU_HOST_LIBCUDA: '/nonexistent/libcuda.so.1' } });
  try {
    const l = await med.waitForLog((x) => x.msg === 'backend auto: no usable NVIDIA driver; using softgpu', 60_000);
    const reason = String(l['reason']);
    assert.match(reason, /libcuda/, reason);
    assert.doesNotMatch(reason, /file:\/\/|\.js:\d+/, reason);
  } finally {
    await med.stop();
  }
});
