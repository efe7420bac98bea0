// Little-endian encoding into a growable buffer. A frame is built in place: the header is reserved
// first and patched by finish().

import { HEADER_SIZE, MAX_STR } from './constants.js';

const TWO32 = 4294967296;

export class Writer {
  buf: Buffer;
  len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  reset(): this {
    this.len = 0;
    return this;
  }

  private room(n: number): number {
    const p = this.len;
    if (p + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < p + n) cap *= 2;
      const nb = Buffer.allocUnsafe(cap);
      this.buf.copy(nb, 0, 0, p);
      this.buf = nb;
    }
    this.len = p + n;
    return p;
  }

  u8(v: number): void {
    this.buf[this.room(1)] = v;
  }

  u16(v: number): void {
    this.buf.writeUInt16LE(v, this.room(2));
  }

  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.room(4));
  }

  i32(v: number): void {
    this.buf.writeInt32LE(v | 0, this.room(4));
  }

  u64(v: number): void {
    const p = this.room(8);
    this.buf.writeUInt32LE(v % TWO32 >>> 0, p);
    this.buf.writeUInt32LE(Math.floor(v / TWO32) >>> 0, p + 4);
  }

  f32(v: number): void {
    this.buf.writeFloatLE(v, this.room(4));
  }

  raw(b: Uint8Array): void {
    const p = this.room(b.length);
    this.buf.set(b, p);
  }

  /** Reserves `n` bytes to be filled in place (by a device copy, say); returns their offset. */
  reserve(n: number): number {
    return this.room(n);
  }

  bytes(b: Uint8Array): void {
    this.u64(b.length);
    this.raw(b);
  }

  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.length > MAX_STR) throw new RangeError(`string of ${b.length} bytes exceeds ${MAX_STR}`);
    this.u16(b.length);
    this.raw(b);
  }

  /** Reserves a frame header; returns its offset for finishFrame(). */
  beginFrame(): number {
    return this.room(HEADER_SIZE);
  }

  finishFrame(at: number, type: number, flags: number, id: number, op: number): void {
    const b = this.buf;
    b.writeUInt32LE(this.len - at - HEADER_SIZE, at);
    b.writeUInt16LE(type, at + 4);
    b.writeUInt16LE(flags, at + 6);
    b.writeUInt32LE(id >>> 0, at + 8);
    b.writeUInt32LE(op >>> 0, at + 12);
  }

  /** A copy of what was written (the internal buffer is reused). */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}
