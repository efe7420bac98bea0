// Pointer attributes of the session's device memory (docs/pointers.md). The guest answers for its
// own host memory; it asks here about every other address. Only addresses inside the session's
// allocations (and module globals) reach the driver: anything else is "not found", which the guest
// answers as an unknown host pointer, so one session never learns about another's memory.
// Driver handles and physical device ordinals in the answers become the session's ids and vGPU
// ordinals.

import koffi from 'koffi';

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_FOUND } from '../cuda.js';

/** Query modes of vgPointerQuery (guest/cuda/impl/pointer.c). */
const MODE_CLASSIFY = 0;
const MODE_SINGLE = 1;
const MODE_MULTI = 2;
/** Bytes reserved for each attribute's value: the largest (P2P tokens) is 16. */
const VALUE_SIZE = 16;
/** cuPointerGetAttributes takes at most this many attributes per call here (CUDA 13 defines 21). */
export const MAX_POINTER_ATTRS = 64;

const ATTR_CONTEXT = 1;
/** CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE, the last attribute CUDA 13.0's cuda.h defines. */
const LAST_ATTR = 21;
const ATTR_DEVICE_ORDINAL = 9;
const ATTR_MEMPOOL_HANDLE = 17;

function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

function writeU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v % 4294967296 >>> 0, at);
  b.writeUInt32LE(Math.floor(v / 4294967296) >>> 0, at + 4);
}

/** Rewrites driver handles and ordinals in place into what the guest knows them as. */
function translate(x: ExecContext, attr: number, v: Buffer, at: number): void {
  if (attr === ATTR_CONTEXT) {
    const real = readU64(v, at);
    writeU64(v, at, real === 0 ? 0 : x.contextId(real));
  } else if (attr === ATTR_MEMPOOL_HANDLE) {
    const real = readU64(v, at);
    writeU64(v, at, real === 0 ? 0 : x.newHandle('mempool', real));
  } else if (attr === ATTR_DEVICE_ORDINAL) {
    const physical = v.readInt32LE(at);
    const vgpu = x.deviceMap.indexOf(physical);
    if (vgpu >= 0) v.writeInt32LE(vgpu, at);
  }
}

export function vgPointerQuery(x: ExecContext, r: Reader, w: Writer): number {
  const ptr = r.u64();
  const mode = r.u32();
  const n = r.u32();
  if (mode > MODE_MULTI || n > MAX_POINTER_ATTRS || (mode === MODE_SINGLE && n !== 1)) {
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, `vgPointerQuery: mode ${mode} with ${n} attributes`);
  }
  const attrs: number[] = [];
  for (let i = 0; i < n; i++) attrs.push(r.u32());
  r.end();
  // The driver writes each value by its attribute's type: only attributes whose value is known to
  // fit a VALUE_SIZE slot reach it, whatever a guest sends (the guest checks the same list).
  const bad = attrs.find((a) => a < 1 || a > LAST_ATTR);
  if (bad !== undefined) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `pointer attribute ${bad} is not one of CUDA 13's`);
  if (!x.allocs.contains(ptr)) {
    w.u8(0);
    return 0;
  }
  const values = Buffer.alloc(Math.max(1, n) * VALUE_SIZE);
  if (mode === MODE_SINGLE) {
    const res = x.d.cuPointerGetAttribute(values, attrs[0]!, ptr);
    if (res !== 0) return res;
  } else if (mode === MODE_MULTI) {
    const list = Buffer.alloc(n * 4);
    const slots = Buffer.alloc(n * 8);
    const base = Number(koffi.address(values));
    attrs.forEach((a, i) => {
      list.writeUInt32LE(a, 4 * i);
      writeU64(slots, 8 * i, base + VALUE_SIZE * i);
    });
    const res = x.d.cuPointerGetAttributes(n, list, slots, ptr);
    if (res !== 0) return res;
  }
  w.u8(1);
  if (mode === MODE_CLASSIFY) return 0;
  attrs.forEach((a, i) => translate(x, a, values, VALUE_SIZE * i));
  w.bytes(values.subarray(0, n * VALUE_SIZE));
  return 0;
}

/** CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, the one attribute cuPointerSetAttribute sets. */
const ATTR_SYNC_MEMOPS = 6;

/** Wire: u32 attribute, u32 value, u64 ptr (the guest refuses every other attribute first). Only
 * the session's own device memory reaches the driver. */
export function cuPointerSetAttribute(x: ExecContext, r: Reader, _w: Writer): number {
  const attr = r.u32();
  const value = r.u32();
  const ptr = r.u64();
  r.end();
  if (attr !== ATTR_SYNC_MEMOPS) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `pointer attribute ${attr} cannot be set`);
  x.checkRange(ptr, 1);
  const v = Buffer.alloc(4);
  v.writeUInt32LE(value, 0);
  return x.d.cuPointerSetAttribute(v, attr, ptr);
}

/** What the generated forwarder did, now that the guest answers for its own host memory first. */
export function cuMemGetAddressRange_v2(x: ExecContext, r: Reader, w: Writer): number {
  const dptr = r.u64();
  r.end();
  const base = x.out(0);
  const size = x.out(1);
  // The driver answers NOT_FOUND for an address in no allocation: so does an address in none of
  // this session's (after the context check that checkRange makes first).
  if (!x.allocs.contains(dptr)) {
    x.checkRange(0, 0);
    return CUDA_ERROR_NOT_FOUND;
  }
  const res = x.d.cuMemGetAddressRange_v2(base, size, dptr);
  if (res !== 0) return res;
  w.u64(x.readU64(base));
  w.u64(x.readU64(size));
  return 0;
}
