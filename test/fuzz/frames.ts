// Frames for the live fuzzer, built with the protocol's own codec (src/protocol): valid ones with
// hostile values, and mutations of them (lengths, types, flags, truncation, garbage).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Flag, FrameType, HEADER_SIZE, MAX_PAYLOAD, MAX_STR, PROTO_MAJOR, PROTO_MINOR } from '../../src/protocol/constants.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { encodeHello } from '../../src/protocol/handshake.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { Writer } from '../../src/protocol/writer.js';
import { parseSpec } from '../../tools/codegen/spec.js';
import { wireSize, type WireKind } from '../../tools/codegen/ctypes.js';
import { ROOT } from '../helpers/paths.js';
import type { Rng } from './rng.js';

/** An argument on the wire: a scalar of the spec's wire kinds, or `bytes` (u64 length, data). */
type Field = WireKind | 'bytes';

export interface OpLayout {
  name: string;
  id: number;
  async: boolean;
  fields: Field[];
}

/** Ops whose arguments are all scalars, handles or device pointers (every `VG_REMOTE` function
 * of spec/cuda.spec.h whose pointer parameters are plain outputs), plus a few hand-written ones
 * with simple layouts (docs/protocol.md). Calls built from these are well-formed, so a session
 * lives on through thousands of them and its values, not its framing, are what is fuzzed. */
export function opLayouts(): OpLayout[] {
  const fns = parseSpec(readFileSync(join(ROOT, 'spec/cuda.spec.h'), 'utf8'), 'spec/cuda.spec.h');
  const out: OpLayout[] = [];
  for (const f of fns) {
    if (f.id === undefined || f.status !== 'remote') continue;
    const fields: Field[] = [];
    let simple = true;
    for (const p of f.params) {
      if (p.pointer === 0 && p.info) fields.push(p.info.kind);
      else if (!(p.pointer === 1 && p.anno.out && !p.anno.inout && !p.anno.outArray && !p.anno.outBytes && !p.anno.outString)) simple = false;
    }
    if (simple) out.push({ name: f.name, id: f.id, async: f.async, fields });
  }
  out.push(
    { name: 'cuDevicePrimaryCtxRetain', id: OP.cuDevicePrimaryCtxRetain, async: false, fields: ['i32'] },
    { name: 'cuMemcpyHtoD_v2', id: OP.cuMemcpyHtoD_v2, async: false, fields: ['devptr', 'bytes'] },
    { name: 'cuMemcpyDtoH_v2', id: OP.cuMemcpyDtoH_v2, async: false, fields: ['devptr', 'u64'] },
  );
  return out;
}

/** Values that reach edge cases: zero, one, sign and width boundaries. */
const EDGE_U32 = [0, 1, 2, 3, 64, 255, 0x7fffffff, 0x80000000, 0xffffffff];
const EDGE_U64 = [0, 1, 8, 4096, 2 ** 20, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 48, 2 ** 53 - 1];

/** What a guest knows of the host: ids and pointers seen in replies, reused as arguments so that
 * calls reach past "invalid handle" into real objects. */
export class Seen {
  private readonly values: number[] = [];

  add(v: number): void {
    if (v === 0 || !Number.isSafeInteger(v)) return;
    if (this.values.length >= 64) this.values.splice(0, 1);
    this.values.push(v);
  }

  /** Harvests the first output of a REPLY payload (`u32 result`, then outputs). */
  fromReply(payload: Buffer): void {
    if (payload.length >= 12 && payload.readUInt32LE(0) === 0) this.add(Number(payload.readBigUInt64LE(4)));
  }

  pick(rng: Rng): number | undefined {
    return this.values.length === 0 ? undefined : rng.pick(this.values);
  }
}

function u64(w: Writer, rng: Rng, seen: Seen): void {
  const known = rng.chance(0.5) ? seen.pick(rng) : undefined;
  if (known !== undefined) w.u64(rng.chance(0.9) ? known : known + rng.range(-64, 4096));
  else if (rng.chance(0.1)) w.raw(Buffer.alloc(8, 0xff));
  else if (rng.chance(0.6)) w.u64(rng.pick(EDGE_U64));
  else w.u64(rng.int(2 ** 53));
}

function field(w: Writer, f: Field, rng: Rng, seen: Seen): void {
  switch (f) {
    case 'u32':
    case 'i32':
      w.u32(rng.chance(0.7) ? rng.pick(EDGE_U32) : rng.u32());
      break;
    case 'f32':
      w.f32(rng.pick([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, rng.u32() / 7]));
      break;
    case 'bytes': {
      const n = rng.pick([0, 1, 16, rng.int(512), 4096, rng.chance(0.1) ? 65536 : 8]);
      w.u64(n);
      w.raw(rng.bytes(n));
      break;
    }
    default:
      u64(w, rng, seen);
  }
}

export interface CallPlan {
  frame: Buffer;
  /** The host answers this frame (a CALL without NOREPLY or MORE). */
  answered: boolean;
}

/** One CALL of a known layout with hostile values; the context prefix is mostly one the guest
 * retained. */
export function call(rng: Rng, ops: readonly OpLayout[], seen: Seen, ctx: number, id: number): CallPlan {
  const op = rng.pick(ops);
  const w = new Writer(64);
  w.u64(rng.chance(0.85) ? ctx : rng.pick([0, 1, ctx + 1, 2 ** 40]));
  for (const f of op.fields) field(w, f, rng, seen);
  // MORE chains a group whose last frame is answered; NOREPLY is fire-and-forget.
  const flags = rng.chance(0.05) ? Flag.MORE : op.async && rng.chance(0.3) ? Flag.NOREPLY : rng.chance(0.01) ? Flag.NOREPLY : 0;
  return { frame: encodeFrame(FrameType.CALL, flags, id, op.id, w.take()), answered: flags === 0 };
}

export function hello(token: string, minor = PROTO_MINOR, major = PROTO_MAJOR): Buffer {
  return encodeFrame(FrameType.HELLO, 0, 0, 0, encodeHello({
    major, minor, flags: 0, pid: process.pid, token, hostname: 'fuzz', program: 'vgpu-fuzz',
  }));
}

/** A HELLO broken one way: wrong magic, versions, truncated, strings too long or lying, junk. */
export function badHello(rng: Rng, token: string): Buffer {
  const good = hello(token);
  const p = Buffer.from(good.subarray(HEADER_SIZE));
  switch (rng.int(7)) {
    case 0:
      p.writeUInt32LE(rng.u32(), 0); // magic
      break;
    case 1:
      return hello(token, rng.int(65536), rng.pick([0, 2, 255, 65535]));
    case 2:
      return encodeFrame(FrameType.HELLO, 0, 0, 0, p.subarray(0, rng.int(p.length)));
    case 3:
      p.writeUInt16LE(0xffff, 16); // token length beyond the payload
      break;
    case 4: {
      const w = new Writer();
      w.raw(p.subarray(0, 16));
      w.u16(MAX_STR + 1 + rng.int(1000));
      w.raw(rng.bytes(MAX_STR + 1000));
      return encodeFrame(FrameType.HELLO, 0, 0, 0, w.take());
    }
    case 5:
      return encodeFrame(FrameType.HELLO, 0, 0, 0, Buffer.concat([p, rng.bytes(rng.range(1, 64))]));
    default:
      for (let i = 0; i < 4; i++) p[rng.int(p.length)] = rng.u32() & 0xff;
  }
  return encodeFrame(FrameType.HELLO, 0, 0, 0, p);
}

export function ping(rng: Rng, id: number): Buffer {
  const n = rng.chance(0.05) ? rng.pick([4096, 60_000, 65_536]) : rng.int(64);
  return encodeFrame(FrameType.PING, 0, id, 0, rng.bytes(n));
}

export function status(rng: Rng, id: number): Buffer {
  return encodeFrame(FrameType.STATUS, 0, id, 0, rng.chance(0.05) ? rng.bytes(rng.range(1, 32)) : Buffer.alloc(0));
}

export function attach(rng: Rng): Buffer {
  return encodeFrame(FrameType.ATTACH, 0, rng.int(4), 0, rng.chance(0.03) ? rng.bytes(4) : Buffer.alloc(0));
}

/** A device address no session owns. */
const FUZZ_PTR = 2 ** 40;

/** A frame the receiver must refuse, or one that is well-formed but out of place. */
export function mutant(rng: Rng, id: number): Buffer {
  const types = Object.values(FrameType);
  switch (rng.int(9)) {
    case 0: { // a length over the limit
      const b = encodeFrame(rng.pick(types), 0, id, 0);
      b.writeUInt32LE(MAX_PAYLOAD + 1 + rng.int(2 ** 20), 0);
      return b;
    }
    case 1: // a type that does not exist
      return encodeFrame(rng.pick([0, 13, 99, 0xffff]), 0, id, 0, rng.bytes(rng.int(32)));
    case 2: // flags the type may not carry
      return encodeFrame(rng.pick(types), rng.range(1, 0xffff), id, rng.u32(), rng.bytes(rng.int(32)));
    case 3: // a host-to-guest type
      return encodeFrame(rng.pick([FrameType.WELCOME, FrameType.REPLY, FrameType.ERROR, FrameType.PONG, FrameType.ATTACHED, FrameType.STATUS_REPLY, FrameType.NOTIFY]),
        0, id, 0, rng.bytes(rng.int(64)));
    case 4: // a CALL of any op id, any payload
      return encodeFrame(FrameType.CALL, rng.pick([0, Flag.NOREPLY, Flag.MORE, Flag.NOREPLY | Flag.MORE]), id, rng.chance(0.5) ? rng.u32() : rng.int(0x1000), rng.bytes(rng.int(256)));
    case 5: // a second HELLO
      return hello('');
    case 6: // random bytes
      return rng.bytes(rng.range(1, 256));
    case 7: { // a bytes argument whose length says more than follows
      const w = new Writer();
      w.u64(0);
      w.u64(FUZZ_PTR);
      w.u64(rng.range(17, 2 ** 20));
      w.raw(rng.bytes(16));
      return encodeFrame(FrameType.CALL, 0, id, OP.cuMemcpyHtoD_v2, w.take());
    }
    default: // a CALL whose payload is shorter than its context prefix
      return encodeFrame(FrameType.CALL, 0, id, OP.cuCtxSynchronize, rng.bytes(rng.int(8)));
  }
}
