// Host<->device copies (docs/protocol.md, Bulk data). Host-to-device data arrives in pieces of at
// most CHUNK bytes, each a complete call; device-to-host data leaves as REPLY frames of at most
// CHUNK bytes, copied from the device straight into the frame that carries them.

import { CHUNK, Flag, FrameType, HEADER_SIZE } from '../../protocol/constants.js';
import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError } from '../cuda.js';

function htod(x: ExecContext, r: Reader, fn: 'cuMemcpyHtoD_v2' | 'cuMemcpyHtoD_v2_ptds'): number {
  const dst = r.u64();
  const data = r.bytes();
  r.end();
  x.checkRange(dst, data.length);
  x.work(0, fn.endsWith('_ptds'));
  return x.d[fn](dst, data, data.length);
}

function htodAsync(x: ExecContext, r: Reader, fn: 'cuMemcpyHtoDAsync_v2' | 'cuMemcpyHtoDAsync_v2_ptsz'): number {
  const dst = r.u64();
  const data = r.bytes();
  const sid = r.u64();
  r.end();
  x.checkRange(dst, data.length);
  const stream = x.handle(sid, 'stream', true);
  x.work(stream, fn.endsWith('_ptsz'));
  return x.d[fn](dst, data, data.length, stream);
}

/**
 * Streams `n` device bytes to the guest: the first REPLY frame carries the result and the first
 * piece; later pieces follow in REPLY frames of the same id, all but the last flagged MORE. The
 * first piece is copied before anything is sent, so a failing copy is an ordinary error reply.
 */
function dtoh(x: ExecContext, w: Writer, src: number, n: number, stream: number, ptsz: boolean,
  copy: (dst: Buffer, src: number, len: number) => number): number {
  x.checkRange(src, n);
  x.work(stream, ptsz);
  if (n <= CHUNK) {
    // One frame: the piece is copied straight into the reply being built.
    const at = w.reserve(n);
    const res = copy(w.buf.subarray(at, at + n), src, n);
    if (res !== 0) w.len = at;
    return res;
  }
  // More than one frame: the first piece goes straight into its frame, the rest is handed to the
  // sender, which writes after the first reply. The later pieces are copied between serving runs:
  // each is device work of its own.
  const frame = takeFrame();
  const res = copy(frame.subarray(HEADER_SIZE + 4, HEADER_SIZE + 4 + CHUNK), src, CHUNK);
  if (res !== 0) {
    giveFrame(frame);
    return res;
  }
  const first = CHUNK;
  const timed = (dst: Buffer, from: number, len: number): number => {
    x.work(stream, ptsz);
    const res = copy(dst, from, len);
    x.clock?.mark();
    return res;
  };
  x.pendingStream = { src: src + first, left: n - first, first: frame, copy: x.clock ? timed : copy };
  return 0;
}

export function cuMemcpyHtoD_v2(x: ExecContext, r: Reader): number {
  return htod(x, r, 'cuMemcpyHtoD_v2');
}
export function cuMemcpyHtoD_v2_ptds(x: ExecContext, r: Reader): number {
  return htod(x, r, 'cuMemcpyHtoD_v2_ptds');
}
export function cuMemcpyHtoDAsync_v2(x: ExecContext, r: Reader): number {
  return htodAsync(x, r, 'cuMemcpyHtoDAsync_v2');
}
export function cuMemcpyHtoDAsync_v2_ptsz(x: ExecContext, r: Reader): number {
  return htodAsync(x, r, 'cuMemcpyHtoDAsync_v2_ptsz');
}

export function cuMemcpyDtoH_v2(x: ExecContext, r: Reader, w: Writer): number {
  const src = r.u64();
  const n = r.u64();
  r.end();
  return dtoh(x, w, src, n, 0, false, (d, s, l) => x.d.cuMemcpyDtoH_v2(d, s, l));
}
export function cuMemcpyDtoH_v2_ptds(x: ExecContext, r: Reader, w: Writer): number {
  const src = r.u64();
  const n = r.u64();
  r.end();
  return dtoh(x, w, src, n, 0, true, (d, s, l) => x.d.cuMemcpyDtoH_v2_ptds(d, s, l));
}

function dtohAsync(x: ExecContext, r: Reader, w: Writer, ptsz: boolean): number {
  const src = r.u64();
  const n = r.u64();
  const sid = r.u64();
  r.end();
  const stream = x.handle(sid, 'stream', true);
  // The guest waits for this reply, so the copy completes before the data leaves: the copy runs on
  // its stream (ordered after earlier work) and the stream is synchronised before sending.
  return dtoh(x, w, src, n, stream, ptsz, (d, s, l) => {
    const res = ptsz ? x.d.cuMemcpyDtoHAsync_v2_ptsz(d, s, l, stream) : x.d.cuMemcpyDtoHAsync_v2(d, s, l, stream);
    if (res !== 0) return res;
    return ptsz ? x.d.cuStreamSynchronize_ptsz(stream) : x.d.cuStreamSynchronize(stream);
  });
}
export function cuMemcpyDtoHAsync_v2(x: ExecContext, r: Reader, w: Writer): number {
  return dtohAsync(x, r, w, false);
}
export function cuMemcpyDtoHAsync_v2_ptsz(x: ExecContext, r: Reader, w: Writer): number {
  return dtohAsync(x, r, w, true);
}

/** The header of one REPLY frame carrying `len` payload bytes. */
function replyHeader(b: Buffer, len: number, more: boolean, id: number): void {
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(FrameType.REPLY, 4);
  b.writeUInt16LE(more ? Flag.MORE : 0, 6);
  b.writeUInt32LE(id >>> 0, 8);
  b.writeUInt32LE(0, 12);
}

/** Frame buffers for device-to-host streams, reused once the socket has flushed them, so a large
 * copy costs neither fresh allocations nor their page faults. */
const framePool: Buffer[] = [];
const POOL_MAX = 4;

function takeFrame(): Buffer {
  return framePool.pop() ?? Buffer.allocUnsafe(HEADER_SIZE + 4 + CHUNK);
}

function giveFrame(b: Buffer): void {
  if (framePool.length < POOL_MAX) framePool.push(b);
}

/**
 * Sends a pending device-to-host stream: first frame = result + first piece, then one REPLY frame
 * per piece. Two frames are kept in flight: piece k+1 is copied from the device while the socket
 * still sends piece k, and the sender waits only for piece k-1 to have left (its write callback),
 * never for the socket to drain completely, which would leave it idle during every device copy.
 * Rejects if a later piece fails; the caller then drops the connection.
 */
export async function pumpPendingStream(
  x: ExecContext,
  id: number,
  result: Buffer,
  /** Queues one frame; `done` runs once the socket has taken it (or failed to). */
  write: (b: Buffer, done: () => void) => void,
): Promise<void> {
  const ps = x.pendingStream!;
  x.pendingStream = undefined;
  const send = (frame: Buffer, len: number): Promise<void> => new Promise((resolve) => {
    write(frame.subarray(0, HEADER_SIZE + len), () => {
      giveFrame(frame);
      resolve();
    });
  });
  replyHeader(ps.first, 4 + CHUNK, true, id);
  result.copy(ps.first, HEADER_SIZE, 0, 4);
  let inFlight = send(ps.first, 4 + CHUNK);
  let src = ps.src;
  let left = ps.left;
  while (left > 0) {
    const len = Math.min(left, CHUNK);
    const frame = takeFrame();
    replyHeader(frame, len, left > len, id);
    const res = ps.copy(frame.subarray(HEADER_SIZE, HEADER_SIZE + len), src, len);
    if (res !== 0) throw new CudaError(res, `device-to-host copy failed after the reply started (CUresult ${res})`);
    await inFlight;
    inFlight = send(frame, len);
    src += len;
    left -= len;
  }
  await inFlight;
}

/** With a VM quota: total = the quota, free = what the VM has not used of it (never more than
 * the device really has free). Without one, the driver's figures. */
export function cuMemGetInfo_v2(x: ExecContext, r: Reader, w: Writer): number {
  r.end();
  const f = x.out(0);
  const t = x.out(1);
  const res = x.d.cuMemGetInfo_v2(f, t);
  if (res !== 0) return res;
  let free = x.readU64(f);
  let total = x.readU64(t);
  const q = x.memoryQuota;
  if (q !== undefined) {
    const used = Math.max(0, x.vmUsed - x.vmUsedOwn) + x.held;
    total = Math.min(q, total);
    free = Math.max(0, Math.min(free, total - used));
  }
  w.u64(free);
  w.u64(total);
  return 0;
}
