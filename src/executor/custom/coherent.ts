// Coherent memory's transfers (docs/managed-memory.md): the guest sends the pages the host changed
// (vgCoherentWrite) before work and reads back the pages the device changed (vgCoherentRead) after
// synchronisation. Both keep the executor's shadow of the range (src/executor/coherent-shadows.ts)
// equal to what the guest last saw, so a read sends only the chunks that differ from it.

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE } from '../cuda.js';

/** The most bytes one read or write covers (the guest's refresh piece). */
const MAX_PIECE = 4 * 1024 * 1024;

/** Checks a piece [offset, offset+n) of the range [base, base+size) and returns the range's shadow. */
function piece(x: ExecContext, base: number, size: number, offset: number, n: number): Buffer {
  if (n === 0 || n > MAX_PIECE || offset + n > size || !Number.isSafeInteger(offset + n)) {
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, `coherent piece ${offset}+${n} of a ${size}-byte range`);
  }
  x.checkRange(base, size);
  return x.coherentShadows.of(base, size, x.allocs);
}

/** Wire: u64 base, u64 size, u64 offset, bytes data. Writes the device and the shadow. */
export function vgCoherentWrite(x: ExecContext, r: Reader, _w: Writer): number {
  const base = r.u64();
  const size = r.u64();
  const offset = r.u64();
  const data = r.bytes();
  r.end();
  const shadow = piece(x, base, size, offset, data.length);
  x.work(0, false);
  const res = x.d.cuMemcpyHtoD_v2(base + offset, data, data.length);
  if (res === 0) data.copy(shadow, offset);
  return res;
}

/** Wire: u64 base, u64 size, u64 offset, u64 n, u32 chunk (the guest's page size). Reply: a bitmap
 * of the chunks of [offset, offset+n) that differ from the shadow, then those chunks' bytes. */
export function vgCoherentRead(x: ExecContext, r: Reader, w: Writer): number {
  const base = r.u64();
  const size = r.u64();
  const offset = r.u64();
  const n = r.u64();
  const chunk = r.u32();
  r.end();
  if (chunk < 4096 || chunk > 65536 || (chunk & (chunk - 1)) !== 0 || offset % chunk !== 0) {
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, `coherent chunk ${chunk} at offset ${offset}`);
  }
  const shadow = piece(x, base, size, offset, n);
  x.work(0, false);
  const now = Buffer.allocUnsafe(n);
  const res = x.d.cuMemcpyDtoH_v2(now, base + offset, n);
  if (res !== 0) return res;
  const chunks = Math.ceil(n / chunk);
  const bitmap = Buffer.alloc(Math.ceil(chunks / 8));
  const changed: Buffer[] = [];
  for (let i = 0; i < chunks; i++) {
    const cur = now.subarray(i * chunk, Math.min(n, (i + 1) * chunk));
    const old = shadow.subarray(offset + i * chunk, offset + i * chunk + cur.length);
    if (cur.equals(old)) continue;
    bitmap[i >> 3]! |= 1 << (i & 7);
    cur.copy(old);
    changed.push(cur);
  }
  w.bytes(bitmap);
  w.bytes(Buffer.concat(changed));
  return 0;
}
