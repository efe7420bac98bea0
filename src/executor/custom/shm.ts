// Copies through the shared region (docs/protocol.md, "Shared memory"; src/executor/shm.ts): the
// guest names a range of the region instead of sending bytes, and the driver is handed a view of
// this executor's mapping, so a copy is the driver's own copy from or into that memory. Every
// range is checked against the region as mapped here.

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_FOUND, CUDA_ERROR_NOT_SUPPORTED } from '../cuda.js';
import { SHM_MAX_BYTES, type SharedRegion } from '../shm.js';

/** `flags` of the copies: the per-thread default stream variant (_ptds / _ptsz). */
const SHM_PTDS = 1;
/** vgShmCheck's nonce: the guest wrote it at `offset` in its view of the region. */
const NONCE_BYTES = 16;

function region(x: ExecContext): SharedRegion {
  const g = x.shm.region;
  if (!g) throw new CudaError(CUDA_ERROR_NOT_FOUND, 'this session has no shared region');
  return g;
}

function copyFlags(r: Reader): boolean {
  const flags = r.u32();
  if ((flags & ~SHM_PTDS) !== 0) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `unknown copy flags 0x${flags.toString(16)}`);
  return flags === SHM_PTDS;
}

/** The guest's memfd follows the reply on the socket (read by the serving loop, serve.ts). */
export function vgShmOffer(x: ExecContext, r: Reader): number {
  const bytes = r.u64();
  r.end();
  if (!x.shm.canReceive) throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, 'this connection cannot carry a descriptor');
  if (x.shm.region) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'this session already has a shared region');
  if (bytes === 0 || bytes > SHM_MAX_BYTES) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `a region of ${bytes} bytes`);
  x.shm.refused = undefined;
  x.shm.awaiting = true;
  return 0;
}

/** Both sides map the same bytes: the guest's nonce is at `offset` in this executor's mapping. */
export function vgShmCheck(x: ExecContext, r: Reader, w: Writer): number {
  const offset = r.u64();
  const nonce = r.raw(NONCE_BYTES);
  r.end();
  const g = x.shm.region;
  if (!g) throw new CudaError(CUDA_ERROR_NOT_FOUND, x.shm.refused ?? 'this session has no shared region');
  if (!g.slice(offset, NONCE_BYTES).equals(nonce)) throw new CudaError(CUDA_ERROR_NOT_FOUND, 'the guest and the executor map different memory');
  w.u64(g.size);
  return 0;
}

function htod(x: ExecContext, r: Reader, async: boolean): number {
  const dst = r.u64();
  const offset = r.u64();
  const n = r.u64();
  const sid = async ? r.u64() : 0;
  const ptds = copyFlags(r);
  r.end();
  const src = region(x).slice(offset, n);
  x.checkRange(dst, n);
  const stream = async ? x.handle(sid, 'stream', true) : 0;
  x.work(stream, ptds);
  x.shm.bytesIn += n;
  if (!async) return ptds ? x.d.cuMemcpyHtoD_v2_ptds(dst, src, n) : x.d.cuMemcpyHtoD_v2(dst, src, n);
  return ptds ? x.d.cuMemcpyHtoDAsync_v2_ptsz(dst, src, n, stream) : x.d.cuMemcpyHtoDAsync_v2(dst, src, n, stream);
}

/** Device to region; the asynchronous form waits for its stream, since the guest reads the bytes
 * as soon as the reply is in (as for cuMemcpyDtoHAsync over the socket, custom/memory.ts). */
function dtoh(x: ExecContext, r: Reader, async: boolean): number {
  const offset = r.u64();
  const src = r.u64();
  const n = r.u64();
  const sid = async ? r.u64() : 0;
  const ptds = copyFlags(r);
  r.end();
  const dst = region(x).slice(offset, n);
  x.checkRange(src, n);
  const stream = async ? x.handle(sid, 'stream', true) : 0;
  x.work(stream, ptds);
  x.shm.bytesOut += n;
  if (!async) return ptds ? x.d.cuMemcpyDtoH_v2_ptds(dst, src, n) : x.d.cuMemcpyDtoH_v2(dst, src, n);
  const res = ptds ? x.d.cuMemcpyDtoHAsync_v2_ptsz(dst, src, n, stream) : x.d.cuMemcpyDtoHAsync_v2(dst, src, n, stream);
  if (res !== 0) return res;
  return ptds ? x.d.cuStreamSynchronize_ptsz(stream) : x.d.cuStreamSynchronize(stream);
}

/** CU_MEMHOSTREGISTER_PORTABLE: the block is page-locked for every context of the session. */
const REGISTER_PORTABLE = 1;

/**
 * Registers a page-locked block of the region with the driver while the guest holds it: a real
 * GPU then copies it by DMA instead of staging it. At most the region is registered, and blocks
 * never overlap (the driver refuses a second registration of the same pages).
 */
export function vgShmPin(x: ExecContext, r: Reader): number {
  const offset = r.u64();
  const n = r.u64();
  r.end();
  const block = region(x).slice(offset, n);
  if (n === 0 || x.shm.pinned.has(offset)) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `cannot pin ${offset}+${n}`);
  const res = x.d.cuMemHostRegister_v2(block, n, REGISTER_PORTABLE);
  if (res === 0) x.shm.pinned.set(offset, n);
  return res;
}

export function vgShmUnpin(x: ExecContext, r: Reader): number {
  const offset = r.u64();
  r.end();
  const n = x.shm.pinned.get(offset);
  if (n === undefined) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `no pinned block at ${offset}`);
  x.shm.pinned.delete(offset);
  return x.d.cuMemHostUnregister(region(x).slice(offset, n));
}

export function vgShmHtoD(x: ExecContext, r: Reader): number {
  return htod(x, r, false);
}
export function vgShmHtoDAsync(x: ExecContext, r: Reader): number {
  return htod(x, r, true);
}
export function vgShmDtoH(x: ExecContext, r: Reader): number {
  return dtoh(x, r, false);
}
export function vgShmDtoHAsync(x: ExecContext, r: Reader): number {
  return dtoh(x, r, true);
}
