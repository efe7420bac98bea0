// Module images for tests of the image store: PTX that softgpu loads (made distinct, and as large
// as a test needs, by a comment), a fatbin container holding it, and the frames of an upload.

import { createHash } from 'node:crypto';

import type { Writer } from '../../src/protocol/writer.js';

/** NUL-terminated PTX with one empty kernel `k` and `tag` in a comment: `size` bytes when that is
 * more than it needs (a comment fills it), fewer otherwise. */
export function ptxImage(tag: string, size = 0): Buffer {
  const head = `// image ${tag}\n`;
  const body = '.version 7.0\n.target sm_50\n.address_size 64\n\n.visible .entry k()\n{\n\tret;\n}\n';
  const pad = size - (head.length + body.length + 1);
  const padding = pad >= 3 ? `//${'.'.repeat(pad - 3)}\n` : '';
  return Buffer.from(`${head}${padding}${body}\0`, 'latin1');
}

/** A fatbin container (docs/reference/cudart-driver-interface.md §5.2, §5.3) with `ptx` as its one
 * uncompressed PTX entry, for sm_50. */
export function fatbinImage(ptx: Buffer): Buffer {
  const payload = Buffer.alloc(Math.ceil(ptx.length / 16) * 16);
  ptx.copy(payload);
  const entry = Buffer.alloc(80);
  entry.writeUInt16LE(1, 0); // PTX
  entry.writeUInt16LE(0x0101, 2);
  entry.writeUInt32LE(80, 4);
  entry.writeBigUInt64LE(BigInt(payload.length), 8);
  entry.writeUInt32LE(64, 20);
  entry.writeUInt16LE(0, 24);
  entry.writeUInt16LE(7, 26);
  entry.writeUInt32LE(50, 28);
  entry.writeBigUInt64LE(0x11n, 40); // 64-bit, Linux
  const header = Buffer.alloc(16);
  header.writeUInt32LE(0xba55ed50, 0);
  header.writeUInt16LE(1, 4);
  header.writeUInt16LE(16, 6);
  header.writeBigUInt64LE(BigInt(entry.length + payload.length), 8);
  return Buffer.concat([header, entry, payload]);
}

export function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** The arguments of the vgImagePut pieces of an upload (after the ctx prefix), `piece` bytes each. */
export function putPieces(image: Buffer, piece = 4 * 1024 * 1024, hash = sha256(image)): Array<(w: Writer) => void> {
  const out: Array<(w: Writer) => void> = [];
  for (let off = 0; off < image.length; off += piece) {
    const part = image.subarray(off, off + piece);
    const at = off;
    out.push((w) => {
      w.raw(hash);
      w.u64(image.length);
      w.u64(at);
      w.bytes(part);
    });
  }
  return out;
}
