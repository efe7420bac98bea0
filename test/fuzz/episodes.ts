// One fuzz connection ("episode") against a running mediator: what it sends, how it writes and
// reads, and how it leaves. Kinds:
//   garbage    junk, lying lengths, unknown types or flags instead of a HELLO
//   handshake  a broken HELLO
//   discovery  a valid HELLO, then PING, STATUS and out-of-place frames, maybe ATTACH and gone
//   hitAndRun  HELLO [+ PING | STATUS] + ATTACH in one write, then gone (docs/security.md)
//   attached   HELLO + ATTACH, then thousands of CALLs with hostile values (frames.ts)
// and leaves by closing, resetting, cutting a frame in half, or lingering; some write a few bytes
// at a time (slow writers), some never read (slow readers).

import net from 'node:net';

import { Flag, FrameType, HEADER_SIZE } from '../../src/protocol/constants.js';
import { FrameParser, type Frame } from '../../src/protocol/frame.js';
import { decodeStatus } from '../../src/protocol/handshake.js';
import { WireStatus } from '../../src/protocol/errors.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { Writer } from '../../src/protocol/writer.js';
import { attach, badHello, call, hello, mutant, ping, Seen, status, type OpLayout } from './frames.js';
import type { Rng } from './rng.js';

export const KINDS = ['garbage', 'handshake', 'discovery', 'hitAndRun', 'attached'] as const;
export type Kind = (typeof KINDS)[number];
/** How often each kind is chosen; attached episodes are few but long. */
const WEIGHTS: Record<Kind, number> = { garbage: 10, handshake: 10, discovery: 45, hitAndRun: 15, attached: 20 };

export interface Target {
  name: string;
  connect(): net.Socket;
  /** A Unix socket, where the empty token admits to the default VM. */
  local: boolean;
}

export interface FuzzEnv {
  targets: Target[];
  /** A VM token (of a VM with a memory quota, so that hostile allocations stay small). */
  token: string;
  ops: OpLayout[];
  /** Frames an attached episode sends at most. */
  maxAttachedFrames: number;
}

export class Stats {
  /** Frames written to the host. */
  frames = 0;
  /** Frames the host sent back. */
  received = 0;
  readonly episodes = new Map<Kind, number>();
  /** ERROR frames received, by wire status name (VG_WIRE_STATUS_*). */
  readonly errors = new Map<string, number>();
  /** Sessions that reached ATTACHED. */
  attached = 0;
  /** Frames from the host that did not parse: a host bug. */
  readonly badHostFrames: string[] = [];

  count(kind: Kind): void {
    this.episodes.set(kind, (this.episodes.get(kind) ?? 0) + 1);
  }
}

/** VG_WIRE_STATUS_<name> by code, as the guest's log and the docs spell them. */
const WIRE_STATUS_NAMES = new Map<number, string>(Object.entries(WireStatus).map(([name, code]) => [code, `VG_WIRE_STATUS_${name}`]));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A guest connection as the fuzzer drives it. */
class Conn {
  private readonly parser = new FrameParser();
  private waiter: ((f: Frame | null) => void) | undefined;
  private readonly inbox: Frame[] = [];
  /** Called when `outstanding` drops or the connection closes. */
  private onAnswer: (() => void) | undefined;
  /** What the guest learnt from answers (ids and pointers to reuse). */
  readonly seen = new Seen();
  /** The first output of the latest successful REPLY. */
  lastFirstOutput: number | undefined;
  /** Answers to CALLs not yet received (bounds how far writing runs ahead of reading). */
  outstanding = 0;
  reading = true;
  closed = false;
  readonly connected: Promise<void>;
  readonly done: Promise<void>;

  constructor(readonly sock: net.Socket, readonly stats: Stats) {
    sock.on('error', () => {});
    this.connected = new Promise((resolve) => {
      sock.once('connect', resolve);
      sock.once('close', resolve);
    });
    this.done = new Promise((resolve) => sock.on('close', () => {
      this.closed = true;
      this.waiter?.(null);
      this.onAnswer?.();
      resolve();
    }));
    sock.on('data', (c: Buffer) => this.onData(c));
  }

  stopReading(): void {
    this.reading = false;
    this.sock.pause();
  }

  private onData(chunk: Buffer): void {
    try {
      this.parser.push(chunk, (f) => this.onFrame(f));
    } catch (e) {
      this.stats.badHostFrames.push((e as Error).message);
      this.sock.destroy();
    }
  }

  private onFrame(f: Frame): void {
    this.stats.received++;
    if (f.type === FrameType.REPLY) {
      this.seen.fromReply(f.payload);
      if (f.payload.length >= 12 && f.payload.readUInt32LE(0) === 0) this.lastFirstOutput = Number(f.payload.readBigUInt64LE(4));
      if (!(f.flags & Flag.MORE)) {
        this.outstanding = Math.max(0, this.outstanding - 1);
        this.onAnswer?.();
      }
      return;
    }
    // Notices (kernel output, the host's shutdown) may come between any two answers.
    if (f.type === FrameType.PONG || f.type === FrameType.NOTIFY) return;
    const own = { ...f, payload: Buffer.from(f.payload) };
    if (f.type === FrameType.ERROR) {
      let name = 'malformed';
      try {
        const code = decodeStatus(own.payload).code;
        name = WIRE_STATUS_NAMES.get(code) ?? `code ${code}`;
      } catch {
        /* counted as malformed */
      }
      this.stats.errors.set(name, (this.stats.errors.get(name) ?? 0) + 1);
    }
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(own);
    else this.inbox.push(own);
  }

  /** The next handshake-level frame (WELCOME, ATTACHED, ERROR, ...), or null if the host closed
   * the connection or said nothing for `ms`. */
  next(ms: number): Promise<Frame | null> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve(null);
      }, ms);
      this.waiter = (f) => {
        clearTimeout(t);
        resolve(f);
      };
    });
  }

  /** Waits until at most `limit` answers are outstanding; false if the connection closed or
   * `ms` passed first. */
  repliesAtMost(limit: number, ms: number): Promise<boolean> {
    if (this.outstanding <= limit) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.onAnswer = undefined;
        resolve(false);
      }, ms);
      this.onAnswer = () => {
        if (this.outstanding > limit && !this.closed) return;
        clearTimeout(t);
        this.onAnswer = undefined;
        resolve(!this.closed);
      };
    });
  }

  /** Writes `b` (holding `frames` frames) unless the connection is gone; waits for the socket
   * to drain when its buffer is full, up to `ms`. */
  async write(b: Buffer, frames: number, ms = 2000): Promise<boolean> {
    if (this.closed || this.sock.destroyed) return false;
    this.stats.frames += frames;
    if (this.sock.write(b)) return true;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((r) => this.sock.once('drain', r)), this.done, new Promise((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
    return !this.closed && this.sock.writableLength < 4 << 20;
  }

  /** Writes `b` a few bytes at a time. */
  async trickle(rng: Rng, b: Buffer, frames: number): Promise<boolean> {
    this.stats.frames += frames;
    for (let at = 0; at < b.length && !this.closed; ) {
      const n = rng.range(1, 48);
      this.sock.write(b.subarray(at, at + n));
      at += n;
      await new Promise((r) => setImmediate(r));
    }
    return !this.closed;
  }

  /** Leaves in one of the ways a guest can. */
  async leave(rng: Rng): Promise<void> {
    switch (rng.int(5)) {
      case 0: // close our side, let the host close its own
        this.sock.end();
        break;
      case 1: // reset
        this.sock.destroy();
        return;
      case 2: // a frame cut in half, then close
        if (!this.closed) this.sock.end(encodeFrame(FrameType.PING, 0, 1, 0, Buffer.alloc(64)).subarray(0, rng.range(1, HEADER_SIZE + 63)));
        break;
      case 3: // linger without a word, then go
        await Promise.race([sleep(rng.range(10, 300)), this.done]);
        this.sock.destroy();
        return;
      default: // stop writing, read on (half-close) until the host closes
        if (!this.reading) this.sock.resume();
        this.sock.end();
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.done, new Promise((r) => (t = setTimeout(r, 2000)))]);
    clearTimeout(t);
    this.sock.destroy();
  }
}

function pickToken(rng: Rng, env: FuzzEnv, t: Target): string {
  const r = rng.int(10);
  if (r < 6 || !t.local) return r === 9 ? 'vgpu_' + 'A'.repeat(43) : env.token;
  return '';
}

async function garbage(c: Conn, rng: Rng): Promise<void> {
  const n = rng.range(1, 4);
  const frames = Array.from({ length: n }, (_, i) => mutant(rng, i));
  await c.write(Buffer.concat(frames), n);
  await c.next(300);
  await c.leave(rng);
}

async function handshake(c: Conn, rng: Rng, env: FuzzEnv): Promise<void> {
  const b = badHello(rng, env.token);
  if (rng.chance(0.2)) await c.trickle(rng, b, 1);
  else await c.write(b, 1);
  await c.next(500);
  await c.leave(rng);
}

/** PING, STATUS and now and then something out of place, as one discovery connection sends. */
function discoveryFrames(rng: Rng, n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => {
    const r = rng.int(100);
    return r < 55 ? ping(rng, i) : r < 97 ? status(rng, i) : mutant(rng, i);
  });
}

async function discovery(c: Conn, rng: Rng, env: FuzzEnv, t: Target): Promise<void> {
  const token = pickToken(rng, env, t);
  const minor = rng.pick([0, 1, 2, 2, 2, 7]);
  const frames = discoveryFrames(rng, rng.range(5, 200));
  // Guests wait for WELCOME; hostile ones send on at once.
  if (rng.chance(0.7)) {
    if (!(await c.write(hello(token, minor), 1))) return;
    const w = await c.next(5000);
    if (w?.type !== FrameType.WELCOME) return c.leave(rng);
  } else {
    frames.unshift(hello(token, minor));
  }
  if (c.closed) return;
  const all = Buffer.concat(frames);
  if (rng.chance(0.1)) await c.trickle(rng, all.subarray(0, 2048), Math.min(frames.length, 20));
  else {
    for (let at = 0; at < frames.length && !c.closed; at += 32) {
      const part = frames.slice(at, at + 32);
      if (!(await c.write(Buffer.concat(part), part.length))) break;
    }
  }
  if (rng.chance(0.3)) await c.write(attach(rng), 1);
  await c.leave(rng);
}

async function hitAndRun(c: Conn, rng: Rng, env: FuzzEnv, t: Target): Promise<void> {
  const token = pickToken(rng, env, t);
  const middle = rng.pick([[], [ping(rng, 1)], [status(rng, 1)], [ping(rng, 1), status(rng, 2)]]);
  await c.write(Buffer.concat([hello(token), ...middle, attach(rng)]), 2 + middle.length);
  c.sock.destroy();
}

async function attached(c: Conn, rng: Rng, env: FuzzEnv, budget: number): Promise<void> {
  if (!(await c.write(Buffer.concat([hello(env.token), encodeFrame(FrameType.ATTACH, 0, 0, 0)]), 2))) return;
  const w = await c.next(10_000);
  const a = w?.type === FrameType.WELCOME ? await c.next(30_000) : null;
  if (a?.type !== FrameType.ATTACHED || decodeStatus(a.payload).code !== 0) return c.leave(rng);
  c.stats.attached++;
  // A retained primary context, so that calls reach the driver rather than stop at "no context".
  const retain = new Writer();
  retain.u64(0);
  retain.i32(0);
  c.outstanding++;
  await c.write(encodeFrame(FrameType.CALL, 0, 1, OP.cuDevicePrimaryCtxRetain, retain.take()), 1);
  const ctx = (await c.repliesAtMost(0, 10_000)) ? (c.lastFirstOutput ?? 0) : 0;
  // Slow readers read nothing from here on: the host must not hold their answers without limit.
  if (rng.chance(0.1)) c.stopReading();
  let id = 2;
  for (let sent = 0; sent < budget && !c.closed; ) {
    const group: Buffer[] = [];
    for (let i = 0; i < 64 && sent + group.length < budget; i++, id++) {
      if (rng.chance(0.985)) {
        const p = call(rng, env.ops, c.seen, ctx, id);
        if (p.answered) c.outstanding++;
        group.push(p.frame);
      } else {
        group.push(ping(rng, id));
      }
    }
    sent += group.length;
    if (!(await c.write(Buffer.concat(group), group.length))) break;
    // Run ahead of the answers by a bounded amount, as a pipelining guest would.
    if (c.reading && !(await c.repliesAtMost(256, 10_000))) break;
  }
  // A frame the executor must refuse ends half of the sessions: it ends them there, and only them.
  if (rng.chance(0.5)) await c.write(mutant(rng, id), 1);
  await c.leave(rng);
}

/** Runs one episode of a kind chosen by `rng` against one of the targets. */
export async function episode(rng: Rng, env: FuzzEnv, stats: Stats, remaining: number): Promise<void> {
  const kind = KINDS[rng.weighted(KINDS.map((k) => WEIGHTS[k]))]!;
  const t = rng.pick(env.targets);
  stats.count(kind);
  const c = new Conn(t.connect(), stats);
  await c.connected;
  try {
    if (kind === 'garbage') await garbage(c, rng);
    else if (kind === 'handshake') await handshake(c, rng, env);
    else if (kind === 'discovery') await discovery(c, rng, env, t);
    else if (kind === 'hitAndRun') await hitAndRun(c, rng, env, t);
    else await attached(c, rng, env, Math.min(remaining, rng.range(200, env.maxAttachedFrames)));
  } finally {
    c.sock.destroy();
  }
}
