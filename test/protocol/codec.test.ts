// The TypeScript wire codec: round trips, stream reassembly at every split point, header
// validation, the shared vectors (also decoded by the C codec), and a fuzz pass that feeds random
// and mutated bytes and accepts nothing but frames or ProtocolError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Flag, FrameType, MAX_PAYLOAD, Notice, PROTO_MAJOR, PROTO_MINOR } from '../../src/protocol/constants.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { FrameParser, encodeFrame, type Frame } from '../../src/protocol/frame.js';
import { decodeHello, decodeStatus, decodeWelcome, encodeHello, encodeStatus, encodeWelcome } from '../../src/protocol/handshake.js';
import { decodeExtBlock, encodeExtBlock, MAX_EXTS } from '../../src/protocol/ext.js';
import { Reader } from '../../src/protocol/reader.js';
import { decodeShutdownNotice, outputNotice, shutdownNotice } from '../../src/protocol/notice.js';
import { decodeStatusReply, encodeStatusReply } from '../../src/protocol/status.js';
import { Writer } from '../../src/protocol/writer.js';
import { ROOT } from '../helpers/paths.js';

function parseAll(bytes: Buffer, splits: number[] = []): Frame[] {
  const p = new FrameParser();
  const out: Frame[] = [];
  let at = 0;
  for (const s of [...splits, bytes.length]) {
    p.push(bytes.subarray(at, s), (f) => out.push({ ...f, payload: Buffer.from(f.payload) }));
    at = s;
  }
  return out;
}

test('frames survive being split at every byte boundary', () => {
  const a = encodeFrame(FrameType.CALL, Flag.NOREPLY, 7, 0x210, Buffer.from('hello world'));
  const b = encodeFrame(FrameType.PING, 0, 8, 0, Buffer.alloc(0));
  const c = encodeFrame(FrameType.CALL, Flag.MORE, 9, 0x200, Buffer.alloc(1000, 0xab));
  const all = Buffer.concat([a, b, c]);
  for (let i = 0; i <= all.length; i++) {
    const frames = parseAll(all, [i]);
    assert.equal(frames.length, 3, `split at ${i}`);
    assert.deepEqual(frames.map((f) => [f.type, f.flags, f.id, f.op, f.payload.length]), [
      [FrameType.CALL, Flag.NOREPLY, 7, 0x210, 11], [FrameType.PING, 0, 8, 0, 0], [FrameType.CALL, Flag.MORE, 9, 0x200, 1000],
    ]);
    assert.equal(frames[0]!.payload.toString(), 'hello world');
  }
});

test('header validation rejects unknown types, disallowed flags and oversized lengths', () => {
  const bad = (b: Buffer, re: RegExp): void => assert.throws(() => parseAll(b), (e: unknown) => e instanceof ProtocolError && re.test(e.message));
  bad(encodeFrame(99, 0, 1, 0), /unknown frame type 99/);
  bad(encodeFrame(FrameType.HELLO, Flag.MORE, 1, 0), /flags 0x2 not allowed/);
  bad(encodeFrame(FrameType.REPLY, Flag.NOREPLY, 1, 0), /flags 0x1 not allowed/);
  const lying = encodeFrame(FrameType.CALL, 0, 1, 0x210, Buffer.alloc(8));
  lying.writeUInt32LE(MAX_PAYLOAD + 1, 0);
  bad(lying, /exceeds/);
  // A header announcing a large (but legal) payload is not an error until data is missing.
  const partial = encodeFrame(FrameType.CALL, 0, 1, 0x210, Buffer.alloc(8));
  partial.writeUInt32LE(1000, 0);
  const p = new FrameParser();
  p.push(partial, () => assert.fail('incomplete frame delivered'));
  assert.equal(p.idle, false);
});

test('reader refuses to read past the payload and reports trailing bytes', () => {
  const r = new Reader(Buffer.from([1, 0, 0, 0]));
  assert.equal(r.u32(), 1);
  assert.throws(() => r.u8(), ProtocolError);
  const w = new Writer();
  w.u64(1 << 20); // a bytes field claiming 1 MiB with nothing behind it
  assert.throws(() => new Reader(w.take()).bytes(), /exceeds/);
  const w2 = new Writer();
  w2.u16(10);
  w2.raw(Buffer.from('abc'));
  assert.throws(() => new Reader(w2.take()).str(), ProtocolError);
  const r3 = new Reader(Buffer.from([1, 2]));
  r3.u8();
  assert.throws(() => r3.end(), /trailing/);
});

test('u64 values round-trip up to 2^53', () => {
  for (const v of [0, 1, 0xffffffff, 0x100000000, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
    const w = new Writer();
    w.u64(v);
    assert.equal(new Reader(w.take()).u64(), v);
  }
});

test('HELLO, WELCOME and status payloads round-trip', () => {
  const h = { major: PROTO_MAJOR, minor: PROTO_MINOR, flags: 0, pid: 4242, token: 'vgpu_abc', hostname: 'vm1', program: 'ollama' };
  assert.deepEqual(decodeHello(encodeHello(h)), h);
  const wl = {
    major: 1, minor: 0, hostFlags: 1, sessionId: 2 ** 40 + 5, driverVersion: 13000, vmName: 'vm1',
    devices: [{ name: 'dev', uuid: Buffer.alloc(16, 7), totalMem: 2 ** 33, pciDomain: 0, pciBus: 0x65, pciDevice: 0, attributes: [-0x80000000, 1024, 5] }],
  };
  assert.deepEqual(decodeWelcome(encodeWelcome(wl)), wl);
  assert.deepEqual(decodeStatus(encodeStatus(3, 'unknown VM token')), { code: 3, message: 'unknown VM token' });
  const badMagic = encodeHello(h);
  badMagic.writeUInt32LE(0xdeadbeef, 0);
  assert.throws(() => decodeHello(badMagic), /bad HELLO magic/);
});

test('WELCOME and STATUS_REPLY end with the same extension block, bounded both ways', () => {
  const unknown = [{ tag: 0x7777, data: Buffer.from('later fact') }, { tag: 9, data: Buffer.alloc(0) }];
  const block = new Writer();
  encodeExtBlock(block, unknown, 'test');
  const expected = block.take();
  const wl = encodeWelcome({ major: 1, minor: 1, hostFlags: 0, sessionId: 1, driverVersion: 13000, vmName: 'v', devices: [], ext: { unknown } });
  const st = encodeStatusReply({ windowMs: 0, devices: [], unknown });
  assert.deepEqual(wl.subarray(wl.length - expected.length), expected);
  assert.deepEqual(st.subarray(st.length - expected.length), expected);
  assert.deepEqual(decodeWelcome(wl).ext?.unknown, unknown);
  assert.deepEqual(decodeStatusReply(st).unknown, unknown);

  const many = Array.from({ length: MAX_EXTS + 1 }, () => ({ tag: 1, data: Buffer.alloc(0) }));
  assert.throws(() => encodeExtBlock(new Writer(), many, 'test'), RangeError);
  const over = new Writer();
  over.u32(MAX_EXTS + 1);
  assert.throws(() => decodeExtBlock(new Reader(over.take()), 'test'), (e: unknown) => e instanceof ProtocolError && /count 257 exceeds 256/.test(e.message));
  const past = new Writer();
  past.u32(1);
  past.u16(5);
  past.u32(3);
  past.raw(Buffer.from('ab'));
  assert.throws(() => decodeExtBlock(new Reader(past.take()), 'test'), (e: unknown) => e instanceof ProtocolError && /runs past the payload/.test(e.message));
});

test('shared vectors decode as documented (C decodes the same file)', (t) => {
  const file = join(ROOT, 'test/vectors/protocol.json');
  if (!existsSync(file)) {
    t.skip('test/vectors/protocol.json not present');
    return;
  }
  const cases = JSON.parse(readFileSync(file, 'utf8')) as Array<{ name: string; hex: string; expect?: string; frame?: Record<string, unknown> }>;
  assert.ok(cases.length >= 8, 'vector file has cases');
  for (const c of cases) {
    const bytes = Buffer.from(c.hex.replace(/\s+/g, ''), 'hex');
    if (c.expect === 'error') {
      assert.throws(() => {
        const frames = parseAll(bytes);
        if (frames.length !== 1) throw new ProtocolError('not exactly one frame');
        const f = frames[0]!;
        if (f.type === FrameType.HELLO) decodeHello(f.payload);
        if (f.type === FrameType.WELCOME) decodeWelcome(f.payload);
        if (f.type === FrameType.ERROR || f.type === FrameType.ATTACHED) decodeStatus(f.payload);
        if (f.type === FrameType.NOTIFY && f.op === Notice.SHUTDOWN) decodeShutdownNotice(f.payload);
      }, ProtocolError, c.name);
      continue;
    }
    const frames = parseAll(bytes);
    assert.equal(frames.length, 1, c.name);
    const f = frames[0]!;
    const exp = c.frame!;
    assert.equal(f.type, exp.type, `${c.name}: type`);
    assert.equal(f.flags, exp.flags ?? 0, `${c.name}: flags`);
    assert.equal(f.id, exp.id ?? 0, `${c.name}: id`);
    assert.equal(f.op, exp.op ?? 0, `${c.name}: op`);
    assert.equal(encodeFrame(f.type, f.flags, f.id, f.op, f.payload).toString('hex'), bytes.toString('hex'), `${c.name}: re-encode`);
    if (f.type === FrameType.HELLO && exp.token !== undefined) assert.equal(decodeHello(f.payload).token, exp.token, c.name);
    if (f.type === FrameType.NOTIFY && f.op === Notice.SHUTDOWN) {
      const n = decodeShutdownNotice(f.payload);
      assert.deepEqual(n, { graceMs: exp.grace_ms, message: exp.message }, c.name);
      assert.equal(shutdownNotice(n).toString('hex'), bytes.toString('hex'), `${c.name}: shutdownNotice`);
    } else if (f.type === FrameType.NOTIFY) {
      assert.equal(f.payload.toString('hex'), exp.data_hex, c.name);
      assert.equal(outputNotice(f.op === Notice.STDOUT ? 1 : 2, f.payload).toString('hex'), bytes.toString('hex'), `${c.name}: outputNotice`);
    }
    if (f.type === FrameType.WELCOME && exp.devices !== undefined) {
      assert.equal(decodeWelcome(f.payload).devices.length, (exp.devices as unknown[]).length, c.name);
    }
  }
});

test('fuzz: random and mutated streams yield frames or ProtocolError, never anything else', () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const valid = Buffer.concat([
    encodeFrame(FrameType.HELLO, 0, 0, 0, encodeHello({ major: 1, minor: 0, flags: 0, pid: 1, token: 't', hostname: 'h', program: 'p' })),
    encodeFrame(FrameType.CALL, 0, 2, 0x210, Buffer.alloc(16)),
  ]);
  for (let i = 0; i < 3000; i++) {
    const b = i % 2 === 0 ? Buffer.from(valid) : Buffer.alloc(rnd() % 200);
    if (i % 2 === 1) for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
    else for (let k = 0; k < 4; k++) b[rnd() % b.length] = rnd() & 0xff;
    try {
      for (const f of parseAll(b, [rnd() % (b.length + 1)].sort((x, y) => x - y))) {
        if (f.type === FrameType.HELLO) decodeHello(f.payload);
        if (f.type === FrameType.WELCOME) decodeWelcome(f.payload);
      }
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
});
