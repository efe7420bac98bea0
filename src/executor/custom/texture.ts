// CUDA arrays, copies between them and host memory, and texture and surface objects
// (spec/cuda.spec.h). Nothing the guest describes reaches the driver unchecked: array handles are
// the session's, device memory a descriptor names lies inside one allocation of the session, and
// texture and surface object values are those this session created. The driver's structures are
// built here from the wire's fields (offsets: cuda.h on x86-64 and aarch64 alike).

import koffi from 'koffi';

import { CHUNK } from '../../protocol/constants.js';
import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import type { TextureObject } from '../texture-objects.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_SUPPORTED } from '../cuda.js';

const CU_RESOURCE_TYPE_ARRAY = 0;
const CU_RESOURCE_TYPE_MIPMAPPED_ARRAY = 1;
const CU_RESOURCE_TYPE_LINEAR = 2;
const CU_RESOURCE_TYPE_PITCH2D = 3;
const CU_MEMORYTYPE_HOST = 1;
const CU_MEMORYTYPE_DEVICE = 2;
const CU_MEMORYTYPE_ARRAY = 3;

const RESOURCE_DESC_SIZE = 144;
const TEXTURE_DESC_SIZE = 104;
const VIEW_DESC_SIZE = 112;
const MEMCPY3D_SIZE = 200;

/** Bytes per channel of the formats an array or texture may have; others are refused here. */
function formatSize(format: number): number {
  switch (format) {
    case 0x01: case 0x08: return 1; // UNSIGNED_INT8, SIGNED_INT8
    case 0x02: case 0x09: case 0x10: return 2; // UNSIGNED_INT16, SIGNED_INT16, HALF
    case 0x03: case 0x0a: case 0x20: return 4; // UNSIGNED_INT32, SIGNED_INT32, FLOAT
    default:
      // cuda.h's packed, planar and block-compressed formats are real but not offered here.
      if (format === 0x50 || (format >= 0x91 && format <= 0xb3) || (format >= 0xc0 && format <= 0xcb)) {
        throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `array format 0x${format.toString(16)} is not offered through vgpu`);
      }
      throw new CudaError(CUDA_ERROR_INVALID_VALUE, `unknown array format 0x${format.toString(16)}`);
  }
}

function elementSize(format: number, channels: number): number {
  if (channels !== 1 && channels !== 2 && channels !== 4) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `${channels} channels`);
  return formatSize(format) * channels;
}

function product(...n: number[]): number {
  const p = n.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(p)) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'array too large');
  return p;
}

/** Wire: width, height, depth u64, format, channels, flags u32. The bytes it takes count toward
 * the quota (measured from the descriptor: the least the driver can take) until it is destroyed. */
function createArray(x: ExecContext, r: Reader, w: Writer, threeD: boolean): number {
  const width = r.u64();
  const height = r.u64();
  const depth = threeD ? r.u64() : 0;
  const format = r.u32();
  const channels = r.u32();
  const flags = threeD ? r.u32() : 0;
  r.end();
  const bytes = product(width, Math.max(height, 1), Math.max(depth, 1), elementSize(format, channels));
  const d = Buffer.alloc(threeD ? 40 : 24);
  d.writeBigUInt64LE(BigInt(width), 0);
  d.writeBigUInt64LE(BigInt(height), 8);
  if (threeD) {
    d.writeBigUInt64LE(BigInt(depth), 16);
    d.writeUInt32LE(format, 24);
    d.writeUInt32LE(channels, 28);
    d.writeUInt32LE(flags, 32);
  } else {
    d.writeUInt32LE(format, 16);
    d.writeUInt32LE(channels, 20);
  }
  x.beforeAlloc(bytes);
  const o = x.out(0);
  const res = threeD ? x.d.cuArray3DCreate_v2(o, d) : x.d.cuArrayCreate_v2(o, d);
  if (res !== 0) {
    x.allocFailed(bytes);
    return res;
  }
  w.u64(x.chargedHandle('array', x.readU64(o), bytes));
  return 0;
}

export function cuArrayCreate_v2(x: ExecContext, r: Reader, w: Writer): number {
  return createArray(x, r, w, false);
}
export function cuArray3DCreate_v2(x: ExecContext, r: Reader, w: Writer): number {
  return createArray(x, r, w, true);
}

/** Bytes of level 0 and each smaller level: every extent halves (never below 1; layers stay). */
function mipmapBytes(width: number, height: number, depth: number, layered: boolean, levels: number, elem: number): number {
  let total = 0;
  for (let k = 0, w = width, h = height, d = depth; k < levels; k++) {
    total += product(w, Math.max(h, 1), Math.max(d, 1), elem);
    w = w > 1 ? Math.floor(w / 2) : w;
    h = h > 1 ? Math.floor(h / 2) : h;
    if (!layered) d = d > 1 ? Math.floor(d / 2) : d;
  }
  return total;
}

const CUDA_ARRAY3D_LAYERED = 1;
const MAX_MIP_LEVELS = 32;

/** Wire: the 3D descriptor's fields as for cuArray3DCreate, then the level count. All levels count
 * toward the quota until the mipmapped array is destroyed. */
export function cuMipmappedArrayCreate(x: ExecContext, r: Reader, w: Writer): number {
  const [width, height, depth] = [r.u64(), r.u64(), r.u64()];
  const format = r.u32();
  const channels = r.u32();
  const flags = r.u32();
  const levels = r.u32();
  r.end();
  if (levels === 0 || levels > MAX_MIP_LEVELS) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `${levels} mipmap levels`);
  const bytes = mipmapBytes(width, height, depth, (flags & CUDA_ARRAY3D_LAYERED) !== 0, levels, elementSize(format, channels));
  const d = Buffer.alloc(40);
  d.writeBigUInt64LE(BigInt(width), 0);
  d.writeBigUInt64LE(BigInt(height), 8);
  d.writeBigUInt64LE(BigInt(depth), 16);
  d.writeUInt32LE(format, 24);
  d.writeUInt32LE(channels, 28);
  d.writeUInt32LE(flags, 32);
  x.beforeAlloc(bytes);
  const o = x.out(0);
  const res = x.d.cuMipmappedArrayCreate(o, d, levels);
  if (res !== 0) {
    x.allocFailed(bytes);
    return res;
  }
  w.u64(x.chargedHandle('mipmappedarray', x.readU64(o), bytes));
  return 0;
}

/** Reply: the level's array id, owned by the mipmapped array (one id per level). */
export function cuMipmappedArrayGetLevel(x: ExecContext, r: Reader, w: Writer): number {
  const id = r.u64();
  const level = r.u32();
  r.end();
  const m = x.handle(id, 'mipmappedarray', false);
  const o = x.out(0);
  const res = x.d.cuMipmappedArrayGetLevel(o, m, level);
  if (res !== 0) return res;
  w.u64(x.newHandle('array', x.readU64(o), id));
  return 0;
}

/** Reply: the driver's descriptor as it fills it (sizes and enums only, no pointers). */
function arrayDescriptor(x: ExecContext, r: Reader, w: Writer, threeD: boolean): number {
  const arr = x.handle(r.u64(), 'array', false);
  r.end();
  const d = Buffer.alloc(threeD ? 40 : 24);
  const res = threeD ? x.d.cuArray3DGetDescriptor_v2(d, arr) : x.d.cuArrayGetDescriptor_v2(d, arr);
  if (res === 0) w.raw(d);
  return res;
}
export function cuArrayGetDescriptor_v2(x: ExecContext, r: Reader, w: Writer): number {
  return arrayDescriptor(x, r, w, false);
}
export function cuArray3DGetDescriptor_v2(x: ExecContext, r: Reader, w: Writer): number {
  return arrayDescriptor(x, r, w, true);
}

type Form = 'sync' | 'ptds' | 'async' | 'ptsz';

const CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900;

/** A copy with host bytes on a stream being captured would leave the graph pointing at a buffer
 * that lives only for this call, so it is refused as the driver refuses what capture cannot hold. */
function refuseCapture(x: ExecContext, stream: number, ptsz: boolean): void {
  const o = x.out(1);
  const rc = ptsz ? x.d.cuStreamIsCapturing_ptsz(stream, o) : x.d.cuStreamIsCapturing(stream, o);
  if (rc === 0 && o.readUInt32LE(0) !== 0) {
    throw new CudaError(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, 'a copy between host memory and an array cannot be captured through vgpu');
  }
}

/** Wire: array id, offset u64, the bytes (at most CHUNK); async forms: stream id. */
function htoa(x: ExecContext, r: Reader, form: Form): number {
  const arr = x.handle(r.u64(), 'array', false);
  const off = r.u64();
  const data = r.bytes();
  const stream = form === 'async' || form === 'ptsz' ? x.handle(r.u64(), 'stream', true) : 0;
  r.end();
  const ptsz = form === 'ptds' || form === 'ptsz';
  refuseCapture(x, stream, ptsz);
  x.work(stream, ptsz);
  switch (form) {
    case 'sync': return x.d.cuMemcpyHtoA_v2(arr, off, data, data.length);
    case 'ptds': return x.d.cuMemcpyHtoA_v2_ptds(arr, off, data, data.length);
    case 'async': return x.d.cuMemcpyHtoAAsync_v2(arr, off, data, data.length, stream);
    case 'ptsz': return x.d.cuMemcpyHtoAAsync_v2_ptsz(arr, off, data, data.length, stream);
  }
}

/** Wire: array id, offset u64, count u64 (at most CHUNK); async forms: stream id. Reply: the bytes. */
function atoh(x: ExecContext, r: Reader, w: Writer, form: Form): number {
  const arr = x.handle(r.u64(), 'array', false);
  const off = r.u64();
  const n = r.u64();
  const stream = form === 'async' || form === 'ptsz' ? x.handle(r.u64(), 'stream', true) : 0;
  r.end();
  if (n > CHUNK) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `${n} bytes in one array read (at most ${CHUNK})`);
  const ptsz = form === 'ptds' || form === 'ptsz';
  refuseCapture(x, stream, ptsz);
  x.work(stream, ptsz);
  const b = Buffer.alloc(n);
  let res: number;
  switch (form) {
    case 'sync': res = x.d.cuMemcpyAtoH_v2(b, arr, off, n); break;
    case 'ptds': res = x.d.cuMemcpyAtoH_v2_ptds(b, arr, off, n); break;
    case 'async': res = x.d.cuMemcpyAtoHAsync_v2(b, arr, off, n, stream) || x.d.cuStreamSynchronize(stream); break;
    case 'ptsz': res = x.d.cuMemcpyAtoHAsync_v2_ptsz(b, arr, off, n, stream) || x.d.cuStreamSynchronize_ptsz(stream); break;
  }
  if (res === 0) w.raw(b);
  return res;
}

export function cuMemcpyHtoA_v2(x: ExecContext, r: Reader): number { return htoa(x, r, 'sync'); }
export function cuMemcpyHtoA_v2_ptds(x: ExecContext, r: Reader): number { return htoa(x, r, 'ptds'); }
export function cuMemcpyHtoAAsync_v2(x: ExecContext, r: Reader): number { return htoa(x, r, 'async'); }
export function cuMemcpyHtoAAsync_v2_ptsz(x: ExecContext, r: Reader): number { return htoa(x, r, 'ptsz'); }
export function cuMemcpyAtoH_v2(x: ExecContext, r: Reader, w: Writer): number { return atoh(x, r, w, 'sync'); }
export function cuMemcpyAtoH_v2_ptds(x: ExecContext, r: Reader, w: Writer): number { return atoh(x, r, w, 'ptds'); }
export function cuMemcpyAtoHAsync_v2(x: ExecContext, r: Reader, w: Writer): number { return atoh(x, r, w, 'async'); }
export function cuMemcpyAtoHAsync_v2_ptsz(x: ExecContext, r: Reader, w: Writer): number { return atoh(x, r, w, 'ptsz'); }

/**
 * One side of a box copy. Wire: u32 memory type, then ARRAY: array id, x, y, z; DEVICE: pointer,
 * x, y, z, pitch, height (all u64); HOST: nothing (the bytes follow the box, or return in the
 * reply, packed). A device side's whole span must lie in one allocation of the session.
 */
function readSide(x: ExecContext, r: Reader, b: Buffer, base: number, box: { w: number; h: number; d: number }): number {
  const type = r.u32();
  b.writeUInt32LE(type, base + 32);
  if (type === CU_MEMORYTYPE_HOST) return type;
  if (type === CU_MEMORYTYPE_ARRAY) {
    b.writeBigUInt64LE(BigInt(x.handle(r.u64(), 'array', false)), base + 56);
    for (const o of [0, 8, 16]) b.writeBigUInt64LE(BigInt(r.u64()), base + o);
    return type;
  }
  if (type !== CU_MEMORYTYPE_DEVICE) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `memory type ${type}`);
  const ptr = r.u64();
  const [px, py, pz, pitch, height] = [r.u64(), r.u64(), r.u64(), r.u64(), r.u64()];
  if (box.h > 1 && pitch < px + box.w) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'pitch below the row');
  if (box.d > 1 && height < box.h) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'height below the box');
  const first = product(pz, height, pitch) + product(py, pitch) + px;
  const span = product(box.d - 1, height, pitch) + product(box.h - 1, pitch) + box.w;
  x.checkRange(ptr + first, span);
  b.writeBigUInt64LE(BigInt(ptr), base + 48);
  b.writeBigUInt64LE(BigInt(px), base + 0);
  b.writeBigUInt64LE(BigInt(py), base + 8);
  b.writeBigUInt64LE(BigInt(pz), base + 16);
  b.writeBigUInt64LE(BigInt(pitch), base + 72);
  b.writeBigUInt64LE(BigInt(height), base + 80);
  return type;
}

/** Wire: stream id (0: the default), u8 per-thread, width, height, depth (u64), the source side,
 * the destination side, then the source bytes when the source is host memory. */
export function vgMemcpy3DArray(x: ExecContext, r: Reader, w: Writer): number {
  const stream = x.handle(r.u64(), 'stream', true);
  const ptsz = r.u8() !== 0;
  const box = { w: r.u64(), h: r.u64(), d: r.u64() };
  const p = Buffer.alloc(MEMCPY3D_SIZE);
  const st = readSide(x, r, p, 0, box);
  const dt = readSide(x, r, p, 88, box);
  if (st !== CU_MEMORYTYPE_ARRAY && dt !== CU_MEMORYTYPE_ARRAY) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'no array side');
  const packed = product(box.w, box.h, box.d);
  const withHost = st === CU_MEMORYTYPE_HOST || dt === CU_MEMORYTYPE_HOST;
  if (withHost && packed > CHUNK) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `${packed} host bytes in one call (at most ${CHUNK})`);
  let host: Buffer | undefined;
  if (st === CU_MEMORYTYPE_HOST) {
    host = r.bytes();
    if (host.length !== packed) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'host bytes do not fill the box');
  } else if (dt === CU_MEMORYTYPE_HOST) {
    host = Buffer.alloc(packed);
  }
  r.end();
  if (host) {
    refuseCapture(x, stream, ptsz);
    const at = st === CU_MEMORYTYPE_HOST ? 0 : 88;
    p.writeBigUInt64LE(BigInt(koffi.address(host)), at + 40);
    p.writeBigUInt64LE(BigInt(box.w), at + 72);
    p.writeBigUInt64LE(BigInt(box.h), at + 80);
  }
  p.writeBigUInt64LE(BigInt(box.w), 176);
  p.writeBigUInt64LE(BigInt(box.h), 184);
  p.writeBigUInt64LE(BigInt(box.d), 192);
  x.work(stream, ptsz);
  let res = ptsz ? x.d.cuMemcpy3DAsync_v2_ptsz(p, stream) : x.d.cuMemcpy3DAsync_v2(p, stream);
  // The host buffer lives only for this call, and the guest waits for what it reads.
  if (res === 0 && host) res = ptsz ? x.d.cuStreamSynchronize_ptsz(stream) : x.d.cuStreamSynchronize(stream);
  if (res === 0 && dt === CU_MEMORYTYPE_HOST && host) w.raw(host);
  return res;
}

// ---- texture and surface objects ----------------------------------------------------------------

/** Wire: resType u32, flags u32, then ARRAY: array id; MIPMAPPED_ARRAY: its id; LINEAR: devPtr u64, format u32, channels u32,
 * size u64; PITCH2D: devPtr u64, format u32, channels u32, width, height, pitch (u64). */
function readResource(x: ExecContext, r: Reader): { desc: Buffer; wire: Buffer } {
  const type = r.u32();
  const flags = r.u32();
  const d = Buffer.alloc(RESOURCE_DESC_SIZE);
  d.writeUInt32LE(type, 0);
  d.writeUInt32LE(flags, 136);
  const u64s: number[] = [];
  const u32s: number[] = [];
  if (type === CU_RESOURCE_TYPE_ARRAY || type === CU_RESOURCE_TYPE_MIPMAPPED_ARRAY) {
    const id = r.u64();
    d.writeBigUInt64LE(BigInt(x.handle(id, type === CU_RESOURCE_TYPE_ARRAY ? 'array' : 'mipmappedarray', false)), 8);
    u64s.push(id);
  } else if (type === CU_RESOURCE_TYPE_LINEAR || type === CU_RESOURCE_TYPE_PITCH2D) {
    const ptr = r.u64();
    const format = r.u32();
    const channels = r.u32();
    const es = elementSize(format, channels);
    d.writeBigUInt64LE(BigInt(ptr), 8);
    d.writeUInt32LE(format, 16);
    d.writeUInt32LE(channels, 20);
    u64s.push(ptr);
    u32s.push(format, channels);
    if (type === CU_RESOURCE_TYPE_LINEAR) {
      const size = r.u64();
      x.checkRange(ptr, Math.max(size, 1));
      d.writeBigUInt64LE(BigInt(size), 24);
      u64s.push(size);
    } else {
      const [width, height, pitch] = [r.u64(), r.u64(), r.u64()];
      if (width === 0 || height === 0 || pitch < product(width, es)) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'pitched resource smaller than its rows');
      x.checkRange(ptr, product(height - 1, pitch) + product(width, es));
      d.writeBigUInt64LE(BigInt(width), 24);
      d.writeBigUInt64LE(BigInt(height), 32);
      d.writeBigUInt64LE(BigInt(pitch), 40);
      u64s.push(width, height, pitch);
    }
  } else {
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, `resource type ${type}`);
  }
  return { desc: d, wire: resourceWire(type, flags, u64s, u32s) };
}

/** The getters' reply: resType u32, flags u32, then the 64-bit fields (array id; or pointer, size;
 * or pointer, width, height, pitch), then the 32-bit ones (format, channels). */
function resourceWire(type: number, flags: number, u64s: number[], u32s: number[]): Buffer {
  const b = Buffer.alloc(8 + 8 * u64s.length + 4 * u32s.length);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(flags, 4);
  u64s.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 + 8 * i));
  u32s.forEach((v, i) => b.writeUInt32LE(v, 8 + 8 * u64s.length + 4 * i));
  return b;
}

/** Wire: the resource, the texture descriptor (its 104 bytes: enums, flags and floats only), u8 and
 * the view descriptor's 112 bytes when there is one. Reply: the object's value. */
export function cuTexObjectCreate(x: ExecContext, r: Reader, w: Writer): number {
  const res = readResource(x, r);
  const tex = Buffer.from(r.raw(TEXTURE_DESC_SIZE));
  const view = r.u8() ? Buffer.from(r.raw(VIEW_DESC_SIZE)) : undefined;
  r.end();
  const o = x.out(0);
  const rc = x.d.cuTexObjectCreate(o, res.desc, tex, view ?? null);
  if (rc !== 0) return rc;
  const value = x.readU64(o);
  x.textureObjects.add(value, { surface: false, res: res.wire, tex, view }, x.currentContext);
  w.u64(value);
  return 0;
}

export function cuSurfObjectCreate(x: ExecContext, r: Reader, w: Writer): number {
  const res = readResource(x, r);
  r.end();
  const o = x.out(0);
  const rc = x.d.cuSurfObjectCreate(o, res.desc);
  if (rc !== 0) return rc;
  const value = x.readU64(o);
  x.textureObjects.add(value, { surface: true, res: res.wire }, x.currentContext);
  w.u64(value);
  return 0;
}

/** The session's object behind `value`; the driver answers INVALID_VALUE for any other, one
 * destroyed with its context included. */
function ours(x: ExecContext, value: number, surface: boolean): TextureObject {
  const rec = x.textureObjects.get(value);
  if (!rec || rec.surface !== surface) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `0x${value.toString(16)} is not a ${surface ? 'surface' : 'texture'} object of this session`);
  return rec;
}

function destroyObject(x: ExecContext, r: Reader, surface: boolean): number {
  const value = r.u64();
  r.end();
  ours(x, value, surface);
  const rc = surface ? x.d.cuSurfObjectDestroy(value) : x.d.cuTexObjectDestroy(value);
  if (rc === 0) x.textureObjects.delete(value);
  return rc;
}

export function cuTexObjectDestroy(x: ExecContext, r: Reader): number { return destroyObject(x, r, false); }
export function cuSurfObjectDestroy(x: ExecContext, r: Reader): number { return destroyObject(x, r, true); }

/** Reply: what the object was made with, as the guest sent it. */
function describe(x: ExecContext, r: Reader, w: Writer, surface: boolean, part: 'res' | 'tex' | 'view'): number {
  const value = r.u64();
  r.end();
  const rec = ours(x, value, surface);
  if (part === 'res') w.raw(rec.res);
  else if (part === 'tex') w.raw(rec.tex ?? Buffer.alloc(TEXTURE_DESC_SIZE));
  else w.raw(rec.view ?? Buffer.alloc(VIEW_DESC_SIZE));
  return 0;
}

export function cuTexObjectGetResourceDesc(x: ExecContext, r: Reader, w: Writer): number { return describe(x, r, w, false, 'res'); }
export function cuTexObjectGetTextureDesc(x: ExecContext, r: Reader, w: Writer): number { return describe(x, r, w, false, 'tex'); }
export function cuTexObjectGetResourceViewDesc(x: ExecContext, r: Reader, w: Writer): number { return describe(x, r, w, false, 'view'); }
export function cuSurfObjectGetResourceDesc(x: ExecContext, r: Reader, w: Writer): number { return describe(x, r, w, true, 'res'); }
