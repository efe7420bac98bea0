// STATUS / STATUS_REPLY (protocol minor 2) in the TypeScript codec: the shared vectors in
// test/vectors/status.json (the C codec decodes the same file), round trips, and a fuzz pass
// that accepts nothing but a reply or ProtocolError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { FrameType } from '../../src/protocol/constants.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { FrameParser, encodeFrame, type Frame } from '../../src/protocol/frame.js';
import { BOARD_UNKNOWN, decodeStatusReply, decodeStatusRequest, encodeStatusReply, type StatusReply } from '../../src/protocol/status.js';
import { vmStatus, type VmAccounting } from '../../src/mediator/nvml-status.js';
import { ROOT } from '../helpers/paths.js';

interface VecBoard { temp_c: number; power_mw: number; power_limit_mw: number; sm_mhz: number; mem_mhz: number; fan_pct: number }
interface VecFrame {
  type: number; flags: number; id: number; op: number;
  window_ms?: number;
  devices?: Array<{ gpu_pct: number; mem_pct: number; mem_used: string; processes: Array<{ pid: number; used: string }> }>;
  board?: VecBoard[] | null;
  unknown_ext?: Array<[number, string]>;
}
interface Vec { name: string; hex: string; expect?: 'error'; error?: string; frame?: VecFrame }

function oneFrame(bytes: Buffer): Frame {
  const out: Frame[] = [];
  new FrameParser().push(bytes, (f) => out.push({ ...f, payload: Buffer.from(f.payload) }));
  if (out.length !== 1) throw new ProtocolError(`${out.length} frames`);
  return out[0]!;
}

function decodeByType(f: Frame): StatusReply | undefined {
  if (f.type === FrameType.STATUS) decodeStatusRequest(f.payload);
  if (f.type === FrameType.STATUS_REPLY) return decodeStatusReply(f.payload);
  return undefined;
}

/** What the vector says the reply is, in the codec's terms. */
function expected(v: VecFrame): StatusReply {
  const r: StatusReply = {
    windowMs: v.window_ms!,
    devices: v.devices!.map((d) => ({
      gpuPercent: d.gpu_pct, memoryPercent: d.mem_pct, memoryUsed: Number(d.mem_used),
      processes: d.processes.map((p) => ({ pid: p.pid, memoryUsed: Number(p.used) })),
    })),
  };
  if (v.board) {
    r.board = v.board.map((b) => ({
      temperatureC: b.temp_c, powerMw: b.power_mw, powerLimitMw: b.power_limit_mw, smClockMhz: b.sm_mhz, memClockMhz: b.mem_mhz, fanPercent: b.fan_pct,
    }));
  }
  if (v.unknown_ext?.length) r.unknown = v.unknown_ext.map(([tag, hex]) => ({ tag, data: Buffer.from(hex, 'hex') }));
  return r;
}

test('status vectors decode as documented and re-encode byte for byte', () => {
  const cases = JSON.parse(readFileSync(join(ROOT, 'test/vectors/status.json'), 'utf8')) as Vec[];
  let valid = 0;
  let invalid = 0;
  for (const c of cases) {
    const bytes = Buffer.from(c.hex, 'hex');
    if (c.expect === 'error') {
      assert.throws(() => decodeByType(oneFrame(bytes)), ProtocolError, c.name);
      invalid++;
      continue;
    }
    const f = oneFrame(bytes);
    const exp = c.frame!;
    assert.deepEqual([f.type, f.flags, f.id, f.op], [exp.type, exp.flags, exp.id, exp.op], c.name);
    const got = decodeByType(f);
    if (f.type === FrameType.STATUS_REPLY) {
      assert.deepEqual(got, expected(exp), c.name);
      assert.equal(encodeFrame(f.type, f.flags, f.id, f.op, encodeStatusReply(got!)).toString('hex'), c.hex, `${c.name}: re-encode`);
    } else {
      assert.equal(f.payload.length, 0, c.name);
    }
    valid++;
  }
  assert.ok(valid >= 4 && invalid >= 8, `${valid} valid, ${invalid} invalid cases`);
});

test('the encoder refuses what the decoder would refuse', () => {
  const ok: StatusReply = { windowMs: 2000, devices: [{ gpuPercent: 50, memoryPercent: 1, memoryUsed: 1 << 20, processes: [{ pid: 7, memoryUsed: 1 << 20 }] }] };
  assert.deepEqual(decodeStatusReply(encodeStatusReply(ok)), ok);
  assert.throws(() => encodeStatusReply({ ...ok, devices: [{ ...ok.devices[0]!, gpuPercent: 101 }] }), RangeError);
  assert.throws(() => encodeStatusReply({ ...ok, devices: [{ ...ok.devices[0]!, memoryUsed: -1 }] }), RangeError);
  assert.throws(() => encodeStatusReply({ ...ok, board: [] }), RangeError, 'one board record per device');
  const board = { temperatureC: 40, powerMw: BOARD_UNKNOWN, powerLimitMw: 1, smClockMhz: 2, memClockMhz: 3, fanPercent: BOARD_UNKNOWN };
  assert.deepEqual(decodeStatusReply(encodeStatusReply({ ...ok, board: [board] })).board, [board]);
  assert.throws(() => decodeStatusRequest(Buffer.alloc(1)), ProtocolError);
});

test('fuzz: mutated replies decode or throw ProtocolError, nothing else', () => {
  const base = encodeStatusReply({
    windowMs: 2000,
    devices: [{ gpuPercent: 9, memoryPercent: 1, memoryUsed: 5, processes: [{ pid: 1, memoryUsed: 5 }, { pid: 2, memoryUsed: 0 }] }],
    board: [{ temperatureC: 1, powerMw: 2, powerLimitMw: 3, smClockMhz: 4, memClockMhz: 5, fanPercent: 6 }],
  });
  let seed = 777;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(base.subarray(0, i % 3 === 0 ? rnd() % (base.length + 1) : base.length));
    for (let k = 0; k < 3 && b.length; k++) b[rnd() % b.length] = rnd() & 0xff;
    try {
      decodeStatusReply(b);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
});

test('a VM status lists only that VM\'s sessions, on the slot of their GPU, and never reports less than cuMemGetInfo', () => {
  const acc: VmAccounting = {
    utilization: (vm, gpu) => (vm === 'a' && gpu === 0 ? { gpuPercent: 73.4, memoryPercent: 2 } : { gpuPercent: 0, memoryPercent: 0 }),
    allSessions: () => [
      { sessionId: 9, vm: 'a', guestPid: 300, gpus: [0], memoryUsed: 64 << 20 },
      { sessionId: 3, vm: 'a', guestPid: 100, gpus: [0], memoryUsed: 16 << 20 },
      { sessionId: 4, vm: 'b', guestPid: 200, gpus: [0], memoryUsed: 999 << 20 },
      { sessionId: 5, vm: 'a', guestPid: 500, gpus: [1], memoryUsed: 1 << 20 },
    ],
  };
  const s = vmStatus({ vm: 'a', deviceMap: [0, 1], vmUsed: 100 << 20, accounting: acc, windowMs: 2000 });
  assert.equal(s.windowMs, 2000);
  assert.deepEqual(s.devices[0], {
    gpuPercent: 73, memoryPercent: 2, memoryUsed: 100 << 20,
    processes: [{ pid: 100, memoryUsed: 16 << 20 }, { pid: 300, memoryUsed: 64 << 20 }],
  });
  assert.deepEqual(s.devices[1], { gpuPercent: 0, memoryPercent: 0, memoryUsed: 1 << 20, processes: [{ pid: 500, memoryUsed: 1 << 20 }] });
  const lower = vmStatus({ vm: 'a', deviceMap: [0], vmUsed: 0, accounting: acc, windowMs: 2000 });
  assert.equal(lower.devices[0]!.memoryUsed, 80 << 20, 'the sessions\' memory when the VM figure lags');
  assert.equal(vmStatus({ vm: 'c', deviceMap: [0], vmUsed: 0, accounting: acc, windowMs: 2000 }).devices[0]!.processes.length, 0);
});
