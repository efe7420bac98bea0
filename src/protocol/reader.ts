// Bounds-checked little-endian decoding of one payload. Every read past the end throws
// ProtocolError: a lying length never reads outside the payload.

import { MAX_STR } from './constants.js';
import { ProtocolError } from './errors.js';

const TWO32 = 4294967296;

export class Reader {
  private pos: number;
  private buf: Buffer;
  private limit: number;

  constructor(buf: Buffer, start = 0, limit = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.limit = limit;
  }

  /** Points the reader at another payload (hot paths reuse one reader per connection). */
  reset(buf: Buffer, start = 0, end = buf.length): this {
    this.buf = buf;
    this.pos = start;
    this.limit = end;
    return this;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.limit - this.pos;
  }

  private need(n: number, what: string): number {
    const p = this.pos;
    if (n > this.limit - p) throw new ProtocolError(`payload too short for ${what} at offset ${p}`);
    this.pos = p + n;
    return p;
  }

  u8(): number {
    return this.buf[this.need(1, 'u8')]!;
  }

  u16(): number {
    return this.buf.readUInt16LE(this.need(2, 'u16'));
  }

  u32(): number {
    return this.buf.readUInt32LE(this.need(4, 'u32'));
  }

  i32(): number {
    return this.buf.readInt32LE(this.need(4, 'i32'));
  }

  /** A u64 as a number. Values above 2^53 lose precision; callers treat them as absurd sizes or
   * foreign pointers, which every check rejects. */
  u64(): number {
    const p = this.need(8, 'u64');
    return this.buf.readUInt32LE(p) + this.buf.readUInt32LE(p + 4) * TWO32;
  }

  f32(): number {
    return this.buf.readFloatLE(this.need(4, 'f32'));
  }

  /** `u64 n` + n bytes, returned as a view (no copy). */
  bytes(): Buffer {
    const n = this.u64();
    if (n > this.remaining) throw new ProtocolError(`bytes field of ${n} exceeds the ${this.remaining} bytes left`);
    const p = this.need(n, 'bytes');
    return this.buf.subarray(p, p + n);
  }

  /** Copies a `bytes` field into target at 0 without creating a view; returns its length. */
  bytesInto(target: Buffer): number {
    const n = this.u64();
    if (n > this.remaining) throw new ProtocolError(`bytes field of ${n} exceeds the ${this.remaining} bytes left`);
    if (n > target.length) return -1;
    const p = this.need(n, 'bytes');
    this.buf.copy(target, 0, p, p + n);
    return n;
  }

  raw(n: number): Buffer {
    const p = this.need(n, 'raw bytes');
    return this.buf.subarray(p, p + n);
  }

  str(): string {
    const n = this.u16();
    if (n > MAX_STR) throw new ProtocolError(`string of ${n} bytes exceeds ${MAX_STR}`);
    const p = this.need(n, 'string');
    return this.buf.toString('utf8', p, p + n);
  }

  /** The payload must be fully consumed: trailing bytes mean the peer disagrees on the layout. */
  end(): void {
    if (this.pos !== this.limit) throw new ProtocolError(`${this.limit - this.pos} unexpected trailing bytes`);
  }
}
