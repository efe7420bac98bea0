// Modules, libraries and kernels. Images are kept on the host by SHA-256, per VM
// (src/executor/images.ts), so a second session of a VM loading the same image sends only its
// hash. Every lookup of a function or kernel answers with its parameter layout (offset and size
// of each parameter), which the guest keeps for packing launches without another round trip.

import koffi from 'koffi';

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_FOUND } from '../cuda.js';
import { FATBIN_MAGIC, FATBINC_MAGIC, containerStarts } from '../image-format.js';
import type { SessionImages } from '../images.js';

/** CUDA caps kernel parameters at 32 KiB, so no kernel has more parameters than this. */
const MAX_PARAMS = 32768;
const CUDA_ERROR_FILE_NOT_FOUND = 301;

function images(x: ExecContext): SessionImages {
  const im = x.options.images;
  if (!im) throw new CudaError(CUDA_ERROR_NOT_FOUND, 'this executor has no image store');
  return im;
}

function hashOf(r: Reader): string {
  return r.raw(32).toString('hex');
}

/** The image if this session's VM uploaded it: another VM's answers exactly as no image at all. */
function image(x: ExecContext, hash: string): Buffer {
  const b = images(x).get(hash);
  if (!b) throw new CudaError(CUDA_ERROR_FILE_NOT_FOUND, `image ${hash} was never uploaded`);
  return b;
}

export function vgImageHave(x: ExecContext, r: Reader, w: Writer): number {
  const hash = hashOf(r);
  r.end();
  w.u8(images(x).get(hash) ? 1 : 0);
  return 0;
}

/** One piece of an upload; pieces arrive in order, the first is checked against the limits and
 * the image formats, the last completes the image, which is checked and stored. */
export function vgImagePut(x: ExecContext, r: Reader): number {
  const hash = hashOf(r);
  const total = r.u64();
  const offset = r.u64();
  const piece = r.bytes();
  r.end();
  const im = images(x);
  if (offset === 0) {
    x.upload = undefined;
    im.begin(total, piece);
    x.upload = { hash, buf: Buffer.allocUnsafe(total), got: 0 };
  }
  const up = x.upload;
  if (!up || up.hash !== hash || up.buf.length !== total || offset !== up.got || offset + piece.length > total) {
    x.upload = undefined;
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'image pieces out of order');
  }
  piece.copy(up.buf, offset);
  up.got += piece.length;
  if (up.got < total) return 0;
  x.upload = undefined;
  im.finish(hash, up.buf);
  return 0;
}

/** Writes `u32 n` then n × (u32 offset, u32 size) from the driver's param-info query. */
function writeLayout(x: ExecContext, w: Writer, info: (idx: number, off: Buffer, size: Buffer) => number): void {
  const off = x.out(6);
  const size = x.out(7);
  const pairs: number[] = [];
  for (let i = 0; i < MAX_PARAMS; i++) {
    if (info(i, off, size) !== 0) break;
    pairs.push(x.readU64(off), x.readU64(size));
  }
  w.u32(pairs.length / 2);
  for (const v of pairs) w.u32(v);
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

/**
 * What the driver is handed for a stored image: the image itself, or for an -rdc image (its
 * linked fatbin container followed by its pre-link containers, guest/cuda/impl/image.c) a
 * __fatBinC_Wrapper_t of version 2 over them, the shape cudart hands the driver in-process:
 * {magic, version, the linked container, a NULL-terminated array of the pre-link ones}. The
 * pointers point into `img`; the driver copies what it keeps during the load.
 */
function driverImage(img: Buffer): { image: Buffer; keep: Buffer[] } {
  if (img.length < 4 || img.readUInt32LE(0) !== FATBIN_MAGIC) return { image: img, keep: [] };
  const starts = containerStarts(img);
  if (typeof starts === 'string') throw new CudaError(CUDA_ERROR_INVALID_VALUE, starts);
  if (starts.length === 1) return { image: img, keep: [] };
  const base = BigInt(koffi.address(img) as bigint);
  const prelink = Buffer.alloc(starts.length * 8); // the pre-link containers, then NULL
  starts.slice(1).forEach((at, i) => prelink.writeBigUInt64LE(base + BigInt(at), i * 8));
  const wrapper = Buffer.alloc(24);
  wrapper.writeUInt32LE(FATBINC_MAGIC, 0);
  wrapper.writeUInt32LE(2, 4);
  wrapper.writeBigUInt64LE(base, 8);
  wrapper.writeBigUInt64LE(BigInt(koffi.address(prelink) as bigint), 16);
  return { image: wrapper, keep: [img, prelink] };
}

/** Loads count toward the quota like allocations: what the driver took for them (ExecContext.loadImage). */
export function cuModuleLoadData(x: ExecContext, r: Reader, w: Writer): number {
  const hash = hashOf(r);
  r.end();
  const img = driverImage(image(x, hash));
  const got = x.loadImage('module', (o) => x.d.cuModuleLoadData(o, img.image), (m) => x.d.cuModuleUnload(m));
  if ('res' in got) return got.res;
  w.u64(got.id);
  return 0;
}

export function cuLibraryLoadData(x: ExecContext, r: Reader, w: Writer): number {
  const hash = hashOf(r);
  r.end();
  const img = driverImage(image(x, hash));
  const got = x.loadImage('library', (o) => x.d.cuLibraryLoadData(o, img.image, null, null, 0, null, null, 0), (l) => x.d.cuLibraryUnload(l));
  if ('res' in got) return got.res;
  w.u64(got.id);
  return 0;
}

export function cuModuleGetFunction(x: ExecContext, r: Reader, w: Writer): number {
  const modId = r.u64();
  const mod = x.handle(modId, 'module', false);
  const name = r.str();
  r.end();
  const o = x.out(0);
  const res = x.d.cuModuleGetFunction(o, mod, cstr(name));
  if (res !== 0) return res;
  const f = x.readU64(o);
  w.u64(x.newHandle('function', f, modId));
  writeLayout(x, w, (i, off, size) => x.d.cuFuncGetParamInfo(f, i, off, size));
  return 0;
}

export function cuLibraryGetKernel(x: ExecContext, r: Reader, w: Writer): number {
  const libId = r.u64();
  const lib = x.handle(libId, 'library', false);
  const name = r.str();
  r.end();
  const o = x.out(0);
  const res = x.d.cuLibraryGetKernel(o, lib, cstr(name));
  if (res !== 0) return res;
  const k = x.readU64(o);
  w.u64(x.newHandle('kernel', k, libId));
  writeLayout(x, w, (i, off, size) => x.d.cuKernelGetParamInfo(k, i, off, size));
  return 0;
}

export function cuKernelGetFunction(x: ExecContext, r: Reader, w: Writer): number {
  const kId = r.u64();
  const k = x.handle(kId, 'kernel', false);
  r.end();
  const o = x.out(0);
  const res = x.d.cuKernelGetFunction(o, k);
  if (res !== 0) return res;
  const f = x.readU64(o);
  w.u64(x.newHandle('function', f, kId));
  writeLayout(x, w, (i, off, size) => x.d.cuFuncGetParamInfo(f, i, off, size));
  return 0;
}

function global(x: ExecContext, r: Reader, w: Writer, kind: 'module' | 'library'): number {
  const ownerId = r.u64();
  const owner = x.handle(ownerId, kind, false);
  const name = r.str();
  r.end();
  const p = x.out(0);
  const n = x.out(1);
  const res = kind === 'module'
    ? x.d.cuModuleGetGlobal_v2(p, n, owner, cstr(name))
    : x.d.cuLibraryGetGlobal(p, n, owner, cstr(name));
  if (res !== 0) return res;
  const dptr = x.readU64(p);
  const bytes = x.readU64(n);
  x.addGlobal(ownerId, dptr, bytes);
  w.u64(dptr);
  w.u64(bytes);
  return 0;
}

export function cuModuleGetGlobal_v2(x: ExecContext, r: Reader, w: Writer): number {
  return global(x, r, w, 'module');
}

export function cuLibraryGetGlobal(x: ExecContext, r: Reader, w: Writer): number {
  return global(x, r, w, 'library');
}
