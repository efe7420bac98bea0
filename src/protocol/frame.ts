// Framing (docs/protocol.md): a 16-byte header, then the payload. FrameParser turns a byte stream
// into frames without copying small frames (payloads are views into the received chunk) and with
// a single copy for frames split across chunks. Every header is validated before its payload is
// awaited, so a lying length is rejected before any memory is reserved for it.

import { ALLOWED_FLAGS, HEADER_SIZE, MAX_PAYLOAD } from './constants.js';
import { ProtocolError } from './errors.js';

export interface Frame {
  type: number;
  flags: number;
  id: number;
  op: number;
  payload: Buffer;
}

export interface FrameHeader {
  len: number;
  type: number;
  flags: number;
  id: number;
  op: number;
}

export function decodeHeader(b: Buffer, at = 0): FrameHeader {
  const h = {
    len: b.readUInt32LE(at),
    type: b.readUInt16LE(at + 4),
    flags: b.readUInt16LE(at + 6),
    id: b.readUInt32LE(at + 8),
    op: b.readUInt32LE(at + 12),
  };
  checkHeader(h);
  return h;
}

export function checkHeader(h: FrameHeader): void {
  const allowed = ALLOWED_FLAGS[h.type];
  if (allowed === undefined) throw new ProtocolError(`unknown frame type ${h.type}`);
  if ((h.flags & ~allowed) !== 0) throw new ProtocolError(`flags 0x${h.flags.toString(16)} not allowed on frame type ${h.type}`);
  if (h.len > MAX_PAYLOAD) throw new ProtocolError(`frame payload of ${h.len} bytes exceeds the ${MAX_PAYLOAD}-byte limit`);
}

export function encodeFrame(type: number, flags: number, id: number, op: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  b.writeUInt32LE(payload.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(id >>> 0, 8);
  b.writeUInt32LE(op >>> 0, 12);
  b.set(payload, HEADER_SIZE);
  return b;
}

/** Reads of at least this size go straight into a frame body. */
const DIRECT_MIN = 64 * 1024;

export interface FrameParserOptions {
  /** Hot path for CALL frames that lie whole inside one received chunk: called with the payload's
   * position instead of allocating a Frame and a view; returns false to get the Frame after all. */
  onCallInPlace?: (flags: number, id: number, op: number, buf: Buffer, start: number, end: number) => boolean;
  /** Reuse one buffer for the bodies of frames split across chunks. Only for consumers that are
   * done with a payload when onFrame returns (the executor); saves a fresh multi-MiB allocation
   * and its page faults for every bulk piece. */
  reuseBodies?: boolean;
}

export class FrameParser {
  private readonly hdr = Buffer.alloc(HEADER_SIZE);
  private spare: Buffer | null = null;

  constructor(private readonly opts: FrameParserOptions = {}) {}

  private hdrGot = 0;
  private cur: FrameHeader | null = null;
  private body: Buffer | null = null;
  private bodyGot = 0;

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.hdrGot === 0 && this.cur === null;
  }

  /** Feeds received bytes; calls onFrame for each complete frame, in order. Throws ProtocolError. */
  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    let p = 0;
    const n = chunk.length;
    while (p < n) {
      if (this.cur === null) {
        if (this.hdrGot === 0 && n - p >= HEADER_SIZE) {
          const len = chunk.readUInt32LE(p);
          const type = chunk.readUInt16LE(p + 4);
          const flags = chunk.readUInt16LE(p + 6);
          const id = chunk.readUInt32LE(p + 8);
          const op = chunk.readUInt32LE(p + 12);
          const h = { len, type, flags, id, op };
          checkHeader(h);
          p += HEADER_SIZE;
          if (n - p >= len) {
            const inPlace = this.opts.onCallInPlace;
            if (!(type === 3 /* CALL */ && inPlace && inPlace(flags, id, op, chunk, p, p + len))) {
              onFrame({ type, flags, id, op, payload: chunk.subarray(p, p + len) });
            }
            p += len;
            continue;
          }
          this.start(h);
          continue;
        }
        const take = Math.min(HEADER_SIZE - this.hdrGot, n - p);
        chunk.copy(this.hdr, this.hdrGot, p, p + take);
        this.hdrGot += take;
        p += take;
        if (this.hdrGot < HEADER_SIZE) return;
        this.hdrGot = 0;
        const h = decodeHeader(this.hdr);
        if (h.len === 0) {
          onFrame({ type: h.type, flags: h.flags, id: h.id, op: h.op, payload: Buffer.alloc(0) });
          continue;
        }
        this.start(h);
        continue;
      }
      const body = this.body!;
      const take = Math.min(body.length - this.bodyGot, n - p);
      chunk.copy(body, this.bodyGot, p, p + take);
      this.bodyGot += take;
      p += take;
      if (this.bodyGot === body.length) {
        const h = this.cur;
        this.cur = null;
        this.body = null;
        onFrame({ type: h.type, flags: h.flags, id: h.id, op: h.op, payload: body });
      }
    }
  }

  /**
   * For sockets read with `onread`: the buffer the next read should fill. While a large frame body
   * is incomplete, that is the body's unfilled rest, so the kernel copies payload bytes straight
   * into place; otherwise the caller's scratch buffer.
   */
  nextReadTarget(scratch: Buffer): Buffer {
    const body = this.body;
    if (this.cur !== null && body !== null && body.length - this.bodyGot >= DIRECT_MIN) return body.subarray(this.bodyGot);
    return scratch;
  }

  /** `n` bytes were read into `target` (a buffer nextReadTarget returned). */
  pushRead(target: Buffer, n: number, onFrame: (f: Frame) => void): void {
    const body = this.body;
    if (this.cur !== null && body !== null && target.buffer === body.buffer && target.byteOffset === body.byteOffset + this.bodyGot) {
      this.bodyGot += n;
      if (this.bodyGot === body.length) {
        const h = this.cur;
        this.cur = null;
        this.body = null;
        onFrame({ type: h.type, flags: h.flags, id: h.id, op: h.op, payload: body });
      }
      return;
    }
    this.push(target.subarray(0, n), onFrame);
  }

  private start(h: FrameHeader): void {
    this.cur = h;
    if (this.opts.reuseBodies) {
      if (!this.spare || this.spare.length < h.len) this.spare = Buffer.allocUnsafe(Math.max(h.len, 64 * 1024));
      this.body = this.spare.subarray(0, h.len);
    } else {
      this.body = Buffer.allocUnsafe(h.len);
    }
    this.bodyGot = 0;
  }
}
