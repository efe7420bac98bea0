// The extension block that ends a WELCOME (protocol minor 1) and a STATUS_REPLY (docs/protocol.md,
// "WELCOME extensions"): u32 count, then count x (u16 tag, u32 len, len bytes). One codec for both
// messages; each message gives its tags their meaning. A decoder keeps entries of tags it does not
// know and its encoder writes them back, so a later host can add facts that older peers skip.

import { ProtocolError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/** More entries is a malformed message, never a long loop. */
export const MAX_EXTS = 256;

export interface ExtEntry {
  tag: number;
  data: Buffer;
}

/** Writes the block; `what` names the message in errors. */
export function encodeExtBlock(w: Writer, entries: readonly ExtEntry[], what: string): void {
  if (entries.length > MAX_EXTS) throw new RangeError(`more than ${MAX_EXTS} ${what} extensions`);
  w.u32(entries.length);
  for (const e of entries) {
    if (!Number.isInteger(e.tag) || e.tag < 0 || e.tag > 0xffff) throw new RangeError(`bad ${what} extension tag ${e.tag}`);
    w.u16(e.tag);
    w.u32(e.data.length);
    w.raw(e.data);
  }
}

/** Reads the block into its entries, in wire order (copies: they outlive the payload). */
export function decodeExtBlock(r: Reader, what: string): ExtEntry[] {
  const count = r.u32();
  if (count > MAX_EXTS) throw new ProtocolError(`${what} extension count ${count} exceeds ${MAX_EXTS}`);
  const out: ExtEntry[] = [];
  for (let i = 0; i < count; i++) {
    const tag = r.u16();
    const len = r.u32();
    if (len > r.remaining) throw new ProtocolError(`${what} extension ${tag} runs past the payload`);
    out.push({ tag, data: Buffer.from(r.raw(len)) });
  }
  return out;
}

/** Records of u32 fields, one per device, as one entry's data: the fields in `fields` order. */
export function encodeU32Records<K extends string>(records: ReadonlyArray<Record<K, number>>, fields: readonly K[]): Buffer {
  const w = new Writer(records.length * fields.length * 4);
  for (const rec of records) for (const f of fields) w.u32(rec[f]);
  return w.take();
}

/** The inverse of encodeU32Records; null when `data` is not exactly `count` records. */
export function decodeU32Records<K extends string>(data: Buffer, count: number, fields: readonly K[]): Record<K, number>[] | null {
  if (data.length !== count * fields.length * 4) return null;
  const r = new Reader(data);
  const out: Record<K, number>[] = [];
  for (let i = 0; i < count; i++) {
    const rec = {} as Record<K, number>;
    for (const f of fields) rec[f] = r.u32();
    out.push(rec);
  }
  return out;
}
