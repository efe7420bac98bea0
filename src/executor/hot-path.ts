// The executor's side of the native hot path (src/native/hotpath.c; docs/executors.md, "Native hot
// path"): the guest's connection is owned in turn by a C thread, which serves the hot ops itself,
// and by the SessionServer, which serves everything else; they hand it to each other over a
// socketpair (ControlReader, handBackMarker). This module loads the library, starts it on a guest
// connection, and is the executor's handle on the state both sides share: whether native calls may
// run (the GPU slice), the mirrors, the deferred error and the counters.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { z } from 'zod';

import type { HandleKind } from '../protocol/handles.js';
import { HANDLE_KINDS } from '../protocol/handles.js';
import { HEADER_SIZE } from '../protocol/constants.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Control frames on the socketpair (src/native/hotpath.h), never on the wire: MARKER hands the
 * guest's connection back to the C side, REQUEST asks for it now, TAKE gives it to the executor
 * with what was read of it but not served. */
const MARKER_TYPE = 0xfffe;
const TAKE_TYPE = 0xfffd;
const REQUEST_TYPE = 0xfffc;

/** `VGPU_HOT_PATH`: `0`/`off` turns the hot path off, `1`/`on` (the default) leaves it on. */
const switchSchema = z.enum(['0', '1', 'on', 'off']);

/** Whether the environment asks for the hot path (throws on a value that is neither). */
export function hotPathWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.VGPU_HOT_PATH;
  if (v === undefined || v === '') return true;
  const parsed = switchSchema.safeParse(v);
  if (!parsed.success) throw new Error(`VGPU_HOT_PATH must be 0, 1, on or off, not ${JSON.stringify(v)}`);
  return parsed.data === '1' || parsed.data === 'on';
}

/** What the C side has counted (cumulative): the order of VG_HOT_STAT_* in hotpath.h. */
export interface NativeStats {
  calls: number;
  asyncCalls: number;
  bytesIn: number;
  bytesOut: number;
  busyNs: number;
  droppedOutput: number;
  switches: number;
  handBacks: number;
}
const STAT_COUNT = 8;

function zeroStats(): NativeStats {
  return { calls: 0, asyncCalls: 0, bytesIn: 0, bytesOut: 0, busyNs: 0, droppedOutput: 0, switches: 0, handBacks: 0 };
}

interface Lib {
  start(guestFd: number, driver: string, jsFd: Int32Array): unknown;
  stop(h: unknown): void;
  allow(h: unknown, allowed: number): void;
  setNotices(h: unknown, on: number): void;
  handleAdd(h: unknown, id: number, kind: number, real: number): void;
  handleRemove(h: unknown, id: number): void;
  rangeAdd(h: unknown, base: number, size: number): void;
  rangeRemove(h: unknown, base: number, size: number): void;
  defer(h: unknown, res: number): void;
  takeDeferred(h: unknown): number;
  stats(h: unknown, out: BigUint64Array): void;
  opIds(out: Uint32Array, max: number): number;
}

let lib: Lib | undefined;

function libraryPath(): string {
  return process.env.VGPU_HOTPATH_LIB ?? join(repoRoot, 'build/native/libvgpu-hotpath.so');
}

function load(): Lib {
  if (lib) return lib;
  const path = libraryPath();
  if (!existsSync(path)) throw new Error(`${path} not found; run make`);
  const l = koffi.load(path);
  koffi.opaque('vg_hot');
  lib = {
    start: l.func('vg_hot *vg_hot_start(int, const char *, _Out_ int *)') as Lib['start'],
    stop: l.func('void vg_hot_stop(vg_hot *)') as Lib['stop'],
    allow: l.func('void vg_hot_allow(vg_hot *, int)') as Lib['allow'],
    setNotices: l.func('void vg_hot_set_notices(vg_hot *, int)') as Lib['setNotices'],
    handleAdd: l.func('void vg_hot_handle_add(vg_hot *, uint64_t, int, uint64_t)') as Lib['handleAdd'],
    handleRemove: l.func('void vg_hot_handle_remove(vg_hot *, uint64_t)') as Lib['handleRemove'],
    rangeAdd: l.func('void vg_hot_range_add(vg_hot *, uint64_t, uint64_t)') as Lib['rangeAdd'],
    rangeRemove: l.func('void vg_hot_range_remove(vg_hot *, uint64_t, uint64_t)') as Lib['rangeRemove'],
    defer: l.func('void vg_hot_defer(vg_hot *, int)') as Lib['defer'],
    takeDeferred: l.func('int vg_hot_take_deferred(vg_hot *)') as Lib['takeDeferred'],
    stats: l.func('void vg_hot_stats(vg_hot *, _Out_ uint64_t *)') as Lib['stats'],
    opIds: l.func('size_t vg_hot_op_ids(_Out_ uint32_t *, size_t)') as Lib['opIds'],
  };
  return lib;
}

const KIND_NUMBER: ReadonlyMap<HandleKind, number> = new Map(HANDLE_KINDS.map((h, i) => [h.kind, i + 1]));

export class NativeHotPath {
  private constructor(
    private readonly l: Lib,
    private h: unknown,
    /** The executor's end of the socketpair, over which the connection is handed back and forth. */
    readonly jsFd: number,
  ) {
    const ids = new Uint32Array(64);
    const n = l.opIds(ids, ids.length);
    if (n > ids.length) throw new Error(`the hot path serves ${n} ops, more than ${ids.length}`);
    this.ops = new Set(ids.subarray(0, n));
  }

  /** The wire ids of the ops the C side serves (from the library: one list, the generated one). */
  readonly ops: ReadonlySet<number>;

  /** Starts the hot path on the guest connection `guestFd` (duplicated: the caller closes its own)
   * with the driver loaded from `driverPath`. Throws when it cannot. */
  static start(guestFd: number, driverPath: string): NativeHotPath {
    const l = load();
    const out = new Int32Array(1);
    const h = l.start(guestFd, driverPath, out);
    if (h === null) throw new Error('vg_hot_start failed');
    return new NativeHotPath(l, h, out[0]!);
  }

  /** The counters as they were when the hot path stopped (it then serves nothing). */
  private final: NativeStats | undefined;

  // Once stopped, the session is over: nothing is served any more, so what follows are no-ops.

  /** The gate lets the session run calls (its GPU slice, held alone). */
  private gateAllows = false;
  /** A stream capture is in progress (ExecContext.captureBegan). */
  private capturing = false;

  /** Whether the native side may serve calls now (the gate allows and no capture is in progress):
   * only then is the connection worth handing to it. */
  get serves(): boolean {
    return this.gateAllows && !this.capturing;
  }

  /** Called (after the current call stack) when the native side becomes able to serve again. */
  onServes: () => void = () => {};

  /** Whether the gate lets native calls run now; returns once none is running. */
  allow(allowed: boolean): void {
    this.gateAllows = allowed;
    this.tell();
  }

  /** While a stream capture is in progress every call is served in TypeScript. */
  setCapturing(on: boolean): void {
    if (on === this.capturing) return;
    this.capturing = on;
    this.tell();
  }

  private told = false;

  private tell(): void {
    const serves = this.serves;
    if (this.h !== null) this.l.allow(this.h, serves ? 1 : 0);
    if (serves && !this.told) queueMicrotask(() => this.onServes());
    this.told = serves;
  }

  setNotices(on: boolean): void {
    if (this.h !== null) this.l.setNotices(this.h, on ? 1 : 0);
  }

  handleAdded(id: number, kind: HandleKind, real: number): void {
    if (this.h !== null) this.l.handleAdd(this.h, id, KIND_NUMBER.get(kind)!, real);
  }

  handleRemoved(id: number): void {
    if (this.h !== null) this.l.handleRemove(this.h, id);
  }

  rangeAdded(base: number, size: number): void {
    if (this.h !== null) this.l.rangeAdd(this.h, base, size);
  }

  rangeRemoved(base: number, size: number): void {
    if (this.h !== null) this.l.rangeRemove(this.h, base, size);
  }

  defer(res: number): void {
    if (this.h !== null) this.l.defer(this.h, res);
  }

  takeDeferred(): number {
    return this.h !== null ? this.l.takeDeferred(this.h) : 0;
  }

  stats(): NativeStats {
    if (this.h === null) return this.final ?? zeroStats();
    const b = new BigUint64Array(STAT_COUNT);
    this.l.stats(this.h, b);
    const n = (i: number): number => Number(b[i]);
    return { calls: n(0), asyncCalls: n(1), bytesIn: n(2), bytesOut: n(3), busyNs: n(4), droppedOutput: n(5), switches: n(6), handBacks: n(7) };
  }

  /** Ends the hot path (after the executor's end of the socketpair is closed: a notice it wrote
   * there is still delivered, and so are the answers the C side holds). */
  stop(): void {
    if (this.h === null) return;
    this.final = this.stats();
    const h = this.h;
    this.h = null;
    this.l.stop(h);
  }
}

/** The hand-back marker: the executor has served all it read, stopped reading the connection and
 * written all it had. */
export function handBackMarker(): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.writeUInt16LE(MARKER_TYPE, 4);
  return b;
}

/** Asks the C side for the connection now (the executor has a notice to write). */
export function connectionRequest(): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.writeUInt16LE(REQUEST_TYPE, 4);
  return b;
}

/** What the C side tells the executor on the socketpair. */
export interface ControlHandler {
  /** The connection is the executor's again; `unserved` was read of it but not served, and comes
   * first. */
  take(unserved: Buffer): void;
}

/** Reads the control frames of the socketpair, however they are split into chunks. */
export class ControlReader {
  /** Chunks of a frame not complete yet, joined once it is (not once per chunk). */
  private parts: Buffer[] = [];
  private partsBytes = 0;

  constructor(private readonly handler: ControlHandler) {}

  push(chunk: Buffer): void {
    this.parts.push(chunk);
    this.partsBytes += chunk.length;
    const head = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts.slice(0, 2));
    if (head.length >= HEADER_SIZE && this.partsBytes < HEADER_SIZE + head.readUInt32LE(0)) return;
    let buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsBytes);
    this.parts = [];
    this.partsBytes = 0;
    while (buf.length >= HEADER_SIZE) {
      const len = buf.readUInt32LE(0);
      if (buf.length < HEADER_SIZE + len) break;
      const type = buf.readUInt16LE(4);
      const payload = Buffer.from(buf.subarray(HEADER_SIZE, HEADER_SIZE + len));
      buf = buf.subarray(HEADER_SIZE + len);
      if (type === TAKE_TYPE) this.handler.take(payload);
      else throw new Error(`unknown control frame type 0x${type.toString(16)} from the native hot path`);
    }
    if (buf.length > 0) {
      this.parts = [buf];
      this.partsBytes = buf.length;
    }
  }
}
