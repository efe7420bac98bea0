// Framing (docs/protocol.md): a 16-byte header, then the payload. FrameParser turns a byte stream
// into frames without copying small frames (payloads are views into the received chunk) and with
// a single copy for frames split across chunks. Every header is validated before its payload is
// awaited, so a lying length is rejected before any memory is reserved for it. A consumer that
// cannot take a frame yet stops the parser, which keeps the rest until resume() (FrameConsumer).

import { ALLOWED_FLAGS, FrameType, HEADER_SIZE, MAX_PAYLOAD } from './constants.js';
import { ProtocolError } from './errors.js';
import { u32At } from './reader.js';

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
/** The most one read appends to the backlog: what a reader holds can pass its bound by this. */
export const READ_MAX = 1024 * 1024;
/** A backlog buffer larger than this is let go when its reader goes idle (releaseBacklog). */
const KEEP_BACKLOG = 4 * 1024 * 1024;

/**
 * Takes frames from a FrameParser, which asks before each one. A consumer that is not ready (or
 * refuses a call) stops the parser right before that frame: it and everything after it stay in
 * the parser, in order, until resume(). This is how the executor waits for its GPU slice, a quota
 * answer or a streamed reply without copying or queueing frames one by one.
 */
export interface FrameConsumer {
  /** Whether a frame of `type` may be taken now. */
  ready(type: number, op: number): boolean;
  /** A CALL frame, its payload at buf[start, end) (valid only during this call). Returns false to
   * leave it untaken: the parser stops before it and delivers it again on resume(). */
  call(flags: number, id: number, op: number, buf: Buffer, start: number, end: number): boolean;
  /** Any other frame. */
  frame(f: Frame): void;
}

export interface FrameParserOptions {
  /** Reuse one buffer for the bodies of frames split across chunks. Only for consumers that are
   * done with a payload when they return (the executor); saves a fresh multi-MiB allocation and
   * its page faults for every bulk piece. */
  reuseBodies?: boolean;
}

function checkFields(len: number, type: number, flags: number): void {
  const allowed = ALLOWED_FLAGS[type];
  if (allowed === undefined || (flags & ~allowed) !== 0 || len > MAX_PAYLOAD) checkHeader({ len, type, flags, id: 0, op: 0 });
}

const CALL: number = FrameType.CALL;

export class FrameParser {
  private readonly hdr = Buffer.alloc(HEADER_SIZE);
  private spare: Buffer | null = null;

  constructor(private readonly opts: FrameParserOptions = {}) {}

  private hdrGot = 0;
  private cur: FrameHeader | null = null;
  private body: Buffer | null = null;
  private bodyGot = 0;
  /** Bytes received after the consumer stopped the parser, not parsed yet: [blStart, blEnd) of an
   * owned buffer (received chunks may be reused by the caller once handed over). */
  private backlog: Buffer | null = null;
  private blStart = 0;
  private blEnd = 0;

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.hdrGot === 0 && this.cur === null && this.blEnd === this.blStart;
  }

  /** True while the consumer has stopped the parser and frames wait for resume(). */
  get stopped(): boolean {
    return this.blEnd > this.blStart || (this.cur !== null && this.bodyGot === this.cur.len);
  }

  /**
   * Bytes are about to be fed from elsewhere than a read, while the reader already holds the
   * target of its next read (Node asks for it right after a read): lets go of the buffers that
   * target may point into (the backlog, the reused body buffer), so what is fed now is never
   * written over by that read, which then arrives as a foreign buffer and is copied. Only while
   * idle, where nothing in them is kept.
   */
  forgetReadTarget(): void {
    const t = this.lastTarget;
    if (!this.idle || t === null) return;
    if (this.backlog !== null && t.buffer === this.backlog.buffer) {
      this.backlog = null;
      this.blStart = this.blEnd = 0;
    }
    if (this.spare !== null && t.buffer === this.spare.buffer) this.spare = null;
  }

  /** The buffer nextReadTarget last handed out (the one the reader's next read fills). */
  private lastTarget: Buffer | null = null;

  /** Bytes kept since the parser was made: received while it was stopped, or behind (or as the
   * body of) a frame the consumer did not take when it came; each byte counted once, however
   * often the consumer declines it again. What a reader reports as received ahead of serving. */
  keptBytes = 0;
  /** Bytes of the current split frame already counted in keptBytes: those that came from the
   * backlog, or all of it once it was declined. */
  private curKept = 0;

  /** Bytes waiting while stopped (what a reader limits before it stops reading). */
  get backlogBytes(): number {
    return this.blEnd - this.blStart;
  }

  /** Feeds received bytes; calls onFrame for each complete frame, in order. Throws ProtocolError. */
  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    this.feed(chunk, {
      ready: () => true,
      call: (flags, id, op, buf, start, end) => {
        onFrame({ type: CALL, flags, id, op, payload: buf.subarray(start, end) });
        return true;
      },
      frame: onFrame,
    });
  }

  /**
   * Feeds received bytes to `c`, whose frames are valid only while it handles them. Returns false
   * when `c` stopped the parser: what was not taken is kept (copied) and waits for resume(); bytes
   * fed meanwhile are appended behind it. Throws ProtocolError.
   */
  feed(chunk: Buffer, c: FrameConsumer): boolean {
    if (this.stopped) {
      this.append(chunk, 0, chunk.length);
      return false;
    }
    return this.run(chunk, 0, chunk.length, c, false);
  }

  /** Continues after a stop; returns false when `c` stopped the parser again. */
  resume(c: FrameConsumer): boolean {
    if (this.cur !== null && this.bodyGot === this.cur.len && !this.deliverBody(c)) return false;
    const b = this.backlog;
    if (b === null || this.blEnd === this.blStart) return true;
    const start = this.blStart, end = this.blEnd;
    // Everything is handed to run(); it puts back what it does not take.
    this.blStart = this.blEnd = 0;
    return this.run(b, start, end, c, true);
  }

  /** Bytes a reader may let wait (its bound): a backlog that outgrows its first small buffer is
   * given room for all of it at once, so staging bulk data allocates (and faults in) one buffer,
   * not one per doubling. Room is twice the bound, so compaction always suffices after that. */
  backlogHint = 0;

  /** Lets go of a large backlog buffer that holds nothing (the reader went idle); false while a
   * large one still holds bytes. */
  releaseBacklog(): boolean {
    if (this.backlog === null || this.backlog.length <= KEEP_BACKLOG) return true;
    if (this.blEnd !== this.blStart) return false;
    this.backlog = null;
    return true;
  }

  /**
   * For sockets read with `onread`: the buffer the next read should fill. While a large frame body
   * is incomplete, that is the body's unfilled rest, so the kernel copies payload bytes straight
   * into place; otherwise the caller's scratch buffer. Node calls this right after a read, not
   * right before the next, so resume() may run in between: feedRead() copes with both orders.
   */
  nextReadTarget(scratch: Buffer): Buffer {
    this.lastTarget = this.chooseReadTarget(scratch);
    return this.lastTarget;
  }

  private chooseReadTarget(scratch: Buffer): Buffer {
    const body = this.body;
    if (this.cur !== null && body !== null && body.length - this.bodyGot >= DIRECT_MIN) return body.subarray(this.bodyGot);
    // While stopped, read straight behind the backlog instead of copying the chunk there after.
    if (this.stopped) {
      this.reserve(DIRECT_MIN);
      // At most READ_MAX at once: the reader checks its bound between reads.
      return this.backlog!.subarray(this.blEnd, Math.min(this.backlog!.length, this.blEnd + READ_MAX));
    }
    return scratch;
  }

  /** `n` bytes were read into `target` (a buffer nextReadTarget returned); as feed(). */
  feedRead(target: Buffer, n: number, c: FrameConsumer): boolean {
    const body = this.body;
    if (this.cur !== null && body !== null && target.buffer === body.buffer && target.byteOffset === body.byteOffset + this.bodyGot) {
      this.bodyGot += n;
      return this.bodyGot < body.length || this.deliverBody(c);
    }
    const bl = this.backlog;
    if (bl !== null && target.buffer === bl.buffer && target.byteOffset === bl.byteOffset + this.blEnd) {
      // Node asks for the next read's buffer right after a read, so the parser may have been
      // resumed (and emptied) since: whatever it holds now, resume() serves it in order.
      this.blEnd += n;
      this.keptBytes += n;
      return this.resume(c);
    }
    return this.feed(n === target.length ? target : target.subarray(0, n), c);
  }

  /** Keeps b[from, to) behind what already waits. */
  private append(b: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    this.reserve(n);
    b.copy(this.backlog!, this.blEnd, from, to);
    this.blEnd += n;
    this.keptBytes += n;
  }

  /** Makes room for n more bytes behind the backlog. */
  private reserve(n: number): void {
    const bl = this.backlog;
    if (bl !== null && this.blEnd + n <= bl.length) return;
    const used = this.blEnd - this.blStart;
    // Compacting only while at most half full keeps appends amortised O(1) under a backlog that
    // stays large (a guest far ahead of the executor).
    if (bl !== null && (used + n) * 2 <= bl.length) {
      bl.copy(bl, 0, this.blStart, this.blEnd);
    } else {
      let size = Math.max(4 * DIRECT_MIN, 2 ** Math.ceil(Math.log2((used + n) * 2)));
      if (used + n > KEEP_BACKLOG / 4) size = Math.max(size, 2 * (this.backlogHint + READ_MAX));
      const nb = Buffer.allocUnsafe(size);
      if (bl !== null) bl.copy(nb, 0, this.blStart, this.blEnd);
      this.backlog = nb;
    }
    this.blStart = 0;
    this.blEnd = used;
  }

  /** Stops before b[p, n): keeps it (in place when b is the backlog itself). */
  private stop(b: Buffer, p: number, n: number, fromBacklog: boolean): false {
    if (fromBacklog) {
      this.blStart = p;
      this.blEnd = n;
    } else {
      this.append(b, p, n);
    }
    return false;
  }

  /** The split frame whose body is complete goes to the consumer; false if it was not taken. */
  private deliverBody(c: FrameConsumer): boolean {
    const h = this.cur!;
    const body = this.body!;
    if (!c.ready(h.type, h.op) || (h.type === CALL && !c.call(h.flags, h.id, h.op, body, 0, body.length))) {
      this.keptBytes += HEADER_SIZE + body.length - this.curKept;
      this.curKept = HEADER_SIZE + body.length;
      return false;
    }
    if (h.type !== CALL) c.frame({ type: h.type, flags: h.flags, id: h.id, op: h.op, payload: body });
    this.cur = null;
    this.body = null;
    this.curKept = 0;
    return true;
  }

  private run(b: Buffer, p: number, n: number, c: FrameConsumer, fromBacklog: boolean): boolean {
    while (p < n) {
      if (this.cur === null) {
        if (this.hdrGot === 0 && n - p >= HEADER_SIZE) {
          // Bytes assembled by hand: Buffer's readers re-validate the offset on every call.
          const len = u32At(b, p);
          const type = b[p + 4]! | (b[p + 5]! << 8);
          const flags = b[p + 6]! | (b[p + 7]! << 8);
          checkFields(len, type, flags);
          const s = p + HEADER_SIZE;
          if (n - s >= len) {
            if (!c.ready(type, u32At(b, p + 12))) return this.stop(b, p, n, fromBacklog);
            const id = u32At(b, p + 8);
            const op = u32At(b, p + 12);
            if (type === CALL) {
              if (!c.call(flags, id, op, b, s, s + len)) return this.stop(b, p, n, fromBacklog);
            } else {
              c.frame({ type, flags, id, op, payload: b.subarray(s, s + len) });
            }
            p = s + len;
            continue;
          }
          this.start({ len, type, flags, id: b.readUInt32LE(p + 8), op: b.readUInt32LE(p + 12) });
          if (fromBacklog) this.curKept = HEADER_SIZE;
          p = s;
          continue;
        }
        const take = Math.min(HEADER_SIZE - this.hdrGot, n - p);
        b.copy(this.hdr, this.hdrGot, p, p + take);
        this.hdrGot += take;
        p += take;
        if (fromBacklog) this.curKept += take;
        if (this.hdrGot < HEADER_SIZE) return true;
        this.hdrGot = 0;
        this.start(decodeHeader(this.hdr));
      } else {
        const body = this.body!;
        const take = Math.min(body.length - this.bodyGot, n - p);
        b.copy(body, this.bodyGot, p, p + take);
        this.bodyGot += take;
        p += take;
        if (fromBacklog) this.curKept += take;
      }
      if (this.bodyGot === this.body!.length && !this.deliverBody(c)) return this.stop(b, p, n, fromBacklog);
    }
    return true;
  }

  private start(h: FrameHeader): void {
    this.cur = h;
    if (h.len === 0) {
      this.body = EMPTY;
    } else if (this.opts.reuseBodies) {
      if (!this.spare || this.spare.length < h.len) this.spare = Buffer.allocUnsafe(Math.max(h.len, 64 * 1024));
      this.body = this.spare.subarray(0, h.len);
    } else {
      this.body = Buffer.allocUnsafe(h.len);
    }
    this.bodyGot = 0;
  }
}

const EMPTY = Buffer.alloc(0);
