// STATUS / STATUS_REPLY payloads (docs/protocol.md, "Status before ATTACH", protocol minor 2): the
// host's accounting of one VM, for the guest's NVML. STATUS carries nothing; the reply lists, per
// vGPU of the VM's WELCOME table, utilization over the last sampling window, the VM's memory in
// use and its attached guest processes. A trailing extension block (src/protocol/ext.ts, as in the
// WELCOME) lets a later host add facts that older guests skip.

import { ProtocolError } from './errors.js';
import { decodeExtBlock, decodeU32Records, encodeExtBlock, encodeU32Records, type ExtEntry } from './ext.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/** Sanity bounds: more is a malformed reply, never a large allocation. */
export const MAX_STATUS_DEVICES = 64;
export const MAX_STATUS_PROCESSES = 1024;

/** STATUS_REPLY extension tags. */
export const StatusExtTag = {
  /** Board values read from the host's NVML (`BoardValues`, one record per device). */
  BOARD: 1,
  /** More board values, in a tag of their own so tag 1 keeps its size (`BoardClocks`, one record per device). */
  BOARD_CLOCKS: 2,
} as const;

/** Value meaning "the host does not know this board value" (answered NOT_SUPPORTED). */
export const BOARD_UNKNOWN = 0xffffffff;

/** Physical-board readings for one vGPU, in NVML units and in wire order; BOARD_UNKNOWN where not
 * read. */
const BOARD_FIELDS = ['temperatureC', 'powerMw', 'powerLimitMw', 'smClockMhz', 'memClockMhz', 'fanPercent'] as const;
export type BoardValues = Record<(typeof BOARD_FIELDS)[number], number>;

/** The rest of the board's readings for one vGPU, likewise; performanceState is NVML's, 0 (P0)
 * .. 15. */
const CLOCK_FIELDS = ['graphicsClockMhz', 'smMaxClockMhz', 'memMaxClockMhz', 'graphicsMaxClockMhz', 'performanceState'] as const;
export type BoardClocks = Record<(typeof CLOCK_FIELDS)[number], number>;

export interface StatusProcess {
  /** The guest process id from its HELLO. */
  pid: number;
  /** Device memory the process's session holds, bytes. */
  memoryUsed: number;
}

export interface DeviceStatus {
  /** Percent of the window in which the VM's work ran on the GPU (0..100). */
  gpuPercent: number;
  /** Percent of the window in which device memory was being read or written (0..100). */
  memoryPercent: number;
  /** Device memory the VM uses on this vGPU, bytes: what cuMemGetInfo reports as used. */
  memoryUsed: number;
  processes: StatusProcess[];
}

export interface StatusReply {
  /** Length of the window the utilization covers, ms (0: no sample yet). */
  windowMs: number;
  devices: DeviceStatus[];
  /** One per device when present (tag BOARD). */
  board?: BoardValues[];
  /** One per device when present (tag BOARD_CLOCKS). */
  boardClocks?: BoardClocks[];
  /** Extension entries of tags this codec does not know: kept, and written back. */
  unknown?: ExtEntry[];
}

/** STATUS has no payload. */
export function decodeStatusRequest(payload: Buffer): void {
  if (payload.length !== 0) throw new ProtocolError(`STATUS carries no payload (got ${payload.length} bytes)`);
}

function malformed(what: string): never {
  throw new ProtocolError(`malformed ${what} extension`);
}

function percent(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 100) throw new RangeError(`${what} ${v} is not a percentage`);
  return v;
}

function u64(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} ${v} is not a byte count`);
  return v;
}

export function encodeStatusReply(s: StatusReply): Buffer {
  if (s.devices.length > MAX_STATUS_DEVICES) throw new RangeError(`more than ${MAX_STATUS_DEVICES} devices`);
  const w = new Writer(256);
  w.u32(s.windowMs);
  w.u32(s.devices.length);
  for (const d of s.devices) {
    w.u32(percent(d.gpuPercent, 'gpu utilization'));
    w.u32(percent(d.memoryPercent, 'memory utilization'));
    w.u64(u64(d.memoryUsed, 'memory used'));
    if (d.processes.length > MAX_STATUS_PROCESSES) throw new RangeError(`more than ${MAX_STATUS_PROCESSES} processes`);
    w.u32(d.processes.length);
    for (const p of d.processes) {
      w.u32(p.pid);
      w.u64(u64(p.memoryUsed, 'process memory'));
    }
  }
  const entries: ExtEntry[] = [];
  if (s.board) {
    if (s.board.length !== s.devices.length) throw new RangeError('one board record per device');
    entries.push({ tag: StatusExtTag.BOARD, data: encodeU32Records(s.board, BOARD_FIELDS) });
  }
  if (s.boardClocks) {
    if (s.boardClocks.length !== s.devices.length) throw new RangeError('one board clocks record per device');
    entries.push({ tag: StatusExtTag.BOARD_CLOCKS, data: encodeU32Records(s.boardClocks, CLOCK_FIELDS) });
  }
  encodeExtBlock(w, [...entries, ...(s.unknown ?? [])], 'STATUS_REPLY');
  return w.take();
}

export function decodeStatusReply(payload: Buffer): StatusReply {
  const r = new Reader(payload);
  const windowMs = r.u32();
  const n = r.u32();
  if (n > MAX_STATUS_DEVICES) throw new ProtocolError(`STATUS_REPLY device count ${n} exceeds ${MAX_STATUS_DEVICES}`);
  const devices: DeviceStatus[] = [];
  for (let i = 0; i < n; i++) {
    const gpuPercent = r.u32();
    const memoryPercent = r.u32();
    if (gpuPercent > 100 || memoryPercent > 100) throw new ProtocolError(`STATUS_REPLY utilization over 100% (device ${i})`);
    const memoryUsed = r.u64();
    const np = r.u32();
    if (np > MAX_STATUS_PROCESSES) throw new ProtocolError(`STATUS_REPLY process count ${np} exceeds ${MAX_STATUS_PROCESSES}`);
    const processes: StatusProcess[] = [];
    for (let j = 0; j < np; j++) processes.push({ pid: r.u32(), memoryUsed: r.u64() });
    devices.push({ gpuPercent, memoryPercent, memoryUsed, processes });
  }
  const out: StatusReply = { windowMs, devices };
  for (const e of decodeExtBlock(r, 'STATUS_REPLY')) {
    if (e.tag === StatusExtTag.BOARD) {
      out.board = decodeU32Records(e.data, n, BOARD_FIELDS) ?? malformed('board');
    } else if (e.tag === StatusExtTag.BOARD_CLOCKS) {
      out.boardClocks = decodeU32Records(e.data, n, CLOCK_FIELDS) ?? malformed('board clocks');
    } else {
      (out.unknown ??= []).push(e);
    }
  }
  r.end();
  return out;
}
