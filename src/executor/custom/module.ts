// Modules, libraries and kernels. Images are kept on the host by SHA-256, per VM
// (src/executor/images.ts), so a second session of a VM loading the same image sends only its
// hash. Every lookup of a function or kernel answers with its parameter layout (offset and size
// of each parameter), which the guest keeps for packing launches without another round trip.

import koffi from 'koffi';

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_FOUND, CUDA_ERROR_NOT_SUPPORTED } from '../cuda.js';
import { FATBIN_MAGIC, FATBINC_MAGIC, containerStarts } from '../image-format.js';
import { readHostMemory } from '../host-memory.js';
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

/** cuda.h's CU_POINTER_ATTRIBUTE_IS_MANAGED, _RANGE_START_ADDR and _RANGE_SIZE. */
const ATTR_IS_MANAGED = 8;
const ATTR_RANGE_START = 11;
const ATTR_RANGE_SIZE = 12;
/** The most bytes of __managed__ variables one lookup sends the guest (one reply frame). */
const MAX_MANAGED_EXTENT = 16 * 1024 * 1024;

/** The driver's calls that find a variable of a module or library by name. */
const GLOBAL_LOOKUPS = {
  module: (x: ExecContext, p: Buffer, n: Buffer, owner: number, name: Buffer) => x.d.cuModuleGetGlobal_v2(p, n, owner, name),
  library: (x: ExecContext, p: Buffer, n: Buffer, owner: number, name: Buffer) => x.d.cuLibraryGetGlobal(p, n, owner, name),
  managed: (x: ExecContext, p: Buffer, n: Buffer, owner: number, name: Buffer) => x.d.cuLibraryGetManaged(p, n, owner, name),
} as const;

/**
 * The driver's managed allocation holding a __managed__ variable at dptr, or undefined for other
 * variables. The guest keeps a copy of that whole allocation at the same address
 * (docs/managed-memory.md), so the session may read and write all of it: the variables of a module
 * share one. Pointer attributes need no current context, which cudart does not have yet when it
 * looks its managed variables up.
 */
function managedExtent(x: ExecContext, dptr: number): { base: number; size: number } | undefined {
  const get = (attr: number): number | undefined => {
    const o = x.out(2);
    return x.d.cuPointerGetAttribute(o, attr, dptr) === 0 ? x.readU64(o) : undefined;
  };
  if (!get(ATTR_IS_MANAGED)) return undefined;
  const base = get(ATTR_RANGE_START);
  const size = get(ATTR_RANGE_SIZE);
  if (base === undefined || !size) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `no range for the managed variable at 0x${dptr.toString(16)}`);
  if (size > MAX_MANAGED_EXTENT) {
    throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `managed variables of ${size} bytes (vgpu sends at most ${MAX_MANAGED_EXTENT})`);
  }
  return { base, size };
}

/**
 * Wire: u64 owner, str name. Reply: u64 dptr, u64 bytes, then the managed allocation holding it
 * (u64 base, u64 size; both 0 for a variable that is not managed) and, for a managed one, its
 * bytes now (the variables' initial values), which also start the executor's shadow of the range.
 * Managed memory is the executor's host memory as well, so they are read without a context.
 */
function global(x: ExecContext, r: Reader, w: Writer, kind: keyof typeof GLOBAL_LOOKUPS): number {
  const ownerId = r.u64();
  const owner = x.handle(ownerId, kind === 'module' ? 'module' : 'library', false);
  const name = r.str();
  r.end();
  const p = x.out(0);
  const n = x.out(1);
  const res = GLOBAL_LOOKUPS[kind](x, p, n, owner, cstr(name));
  if (res !== 0) return res;
  const dptr = x.readU64(p);
  const bytes = x.readU64(n);
  const m = managedExtent(x, dptr);
  x.addGlobal(ownerId, m?.base ?? dptr, m?.size ?? bytes);
  w.u64(dptr);
  w.u64(bytes);
  w.u64(m?.base ?? 0);
  w.u64(m?.size ?? 0);
  if (m) {
    const now = readHostMemory(m.base, m.size);
    // Another variable of an allocation the guest already copies: its copy and the shadow stay as
    // they are (the guest keeps its copy too), or device writes it has not read back would be lost.
    if (!x.coherentShadows.has(m.base, m.size, x.allocs)) now.copy(x.coherentShadows.of(m.base, m.size, x.allocs));
    w.bytes(now);
  }
  return 0;
}

export function cuModuleGetGlobal_v2(x: ExecContext, r: Reader, w: Writer): number {
  return global(x, r, w, 'module');
}

export function cuLibraryGetManaged(x: ExecContext, r: Reader, w: Writer): number {
  return global(x, r, w, 'managed');
}

export function cuLibraryGetGlobal(x: ExecContext, r: Reader, w: Writer): number {
  return global(x, r, w, 'library');
}
