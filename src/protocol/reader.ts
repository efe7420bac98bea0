// Bounds-checked little-endian decoding of one payload. Every read past the end throws
// ProtocolError: a lying length never reads outside the payload. Integers are assembled from
// bytes after need() has checked the bounds: Buffer's own readers validate their offset again on
// every call, which shows on the launch path (tens of reads per fire-and-forget frame).

import { MAX_STR } from './constants.js';
import { ProtocolError } from './errors.js';

const TWO32 = 4294967296;

/** b[p, p+4) as a little-endian u32; the caller has checked the bounds. */
export function u32At(b: Buffer, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
}

export class Reader {
  private pos: number;
  private buf: Buffer;
  private limit: number;

  constructor(buf: Buffer, start = 0, limit = buf.length) {
    if (limit > buf.length) throw new RangeError(`payload end ${limit} is past the buffer's ${buf.length} bytes`);
    this.buf = buf;
    this.pos = start;
    this.limit = limit;
  }

  /** Points the reader at another payload (hot paths reuse one reader per connection). */
  reset(buf: Buffer, start = 0, end = buf.length): this {
    if (end > buf.length) throw new RangeError(`payload end ${end} is past the buffer's ${buf.length} bytes`);
    this.buf = buf;
    this.pos = start;
    this.limit = end;
    return this;
  }

  get offset(): number {
    return this.pos;
  }

  /** The payload's buffer, for hot paths that read a block checked by fixed() with u32At. */
  get data(): Buffer {
    return this.buf;
  }

  /** Steps over n bytes after one bounds check; returns where they start in `data`. */
  fixed(n: number, what: string): number {
    return this.need(n, what);
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
    const p = this.need(2, 'u16');
    const b = this.buf;
    return b[p]! | (b[p + 1]! << 8);
  }

  u32(): number {
    return u32At(this.buf, this.need(4, 'u32'));
  }

  i32(): number {
    const p = this.need(4, 'i32');
    const b = this.buf;
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
  }

  /** A u64 as a number. Values above 2^53 lose precision; callers treat them as absurd sizes or
   * foreign pointers, which every check rejects. */
  u64(): number {
    const p = this.need(8, 'u64');
    return u32At(this.buf, p) + u32At(this.buf, p + 4) * TWO32;
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
    // Kernel parameters are usually a few dozen bytes: a loop beats Buffer.copy's fixed cost.
    if (n <= 128) {
      const b = this.buf;
      for (let i = 0; i < n; i++) target[i] = b[p + i]!;
    } else {
      this.buf.copy(target, 0, p, p + n);
    }
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
