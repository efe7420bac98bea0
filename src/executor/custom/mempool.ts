// Pitched allocations and memory-pool objects: the calls whose arguments the generated dispatch
// cannot express (an output that sizes the allocation, a struct, a value typed by an enum).
// Stream-ordered allocations themselves are generated (spec/cuda.spec.h, VG_ALLOC/VG_FREE).

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_SUPPORTED, CUDA_ERROR_OUT_OF_MEMORY } from '../cuda.js';

/**
 * The quota is checked before the call against the least the allocation can take (pitch >= width)
 * and, once the driver has chosen its pitch, against the real size: an allocation that does not
 * fit is freed again, so it fails (or waits for more quota and is replayed) like cuMemAlloc.
 */
export function cuMemAllocPitch_v2(x: ExecContext, r: Reader, w: Writer): number {
  const width = r.u64();
  const height = r.u64();
  const elementSize = r.u32();
  r.end();
  if (elementSize !== 4 && elementSize !== 8 && elementSize !== 16) {
    throw new CudaError(CUDA_ERROR_INVALID_VALUE, `element size ${elementSize} is not 4, 8 or 16`);
  }
  const least = width * height;
  if (!Number.isSafeInteger(least)) throw new CudaError(CUDA_ERROR_OUT_OF_MEMORY, `${width} x ${height} bytes is too large`);
  x.beforeAlloc(least);
  const oPtr = x.out(0);
  const oPitch = x.out(1);
  const res = x.d.cuMemAllocPitch_v2(oPtr, oPitch, width, height, elementSize);
  if (res !== 0) {
    x.allocFailed(least);
    return res;
  }
  const ptr = x.readU64(oPtr);
  const pitch = x.readU64(oPitch);
  const size = pitch * height;
  if (size > least) {
    try {
      x.beforeAlloc(size);
    } catch (e) {
      x.d.cuMemFree_v2(ptr);
      // Refused for good: the quota reserved for the smaller size goes back. (NeedQuota replays.)
      if (e instanceof CudaError) x.allocFailed(size);
      throw e;
    }
  }
  x.afterAlloc(ptr, size);
  w.u64(ptr);
  w.u64(pitch);
  return 0;
}

/** sizeof(CUmemPoolProps) and its field offsets (cuda.h, x86-64 and aarch64 alike). */
const PROPS_SIZE = 88;
const CU_MEM_ALLOCATION_TYPE_PINNED = 1;
const CU_MEM_LOCATION_TYPE_DEVICE = 1;

/**
 * Wire: allocType u32, handleTypes u32, location.type u32, location.id i32 (a vGPU ordinal),
 * maxSize u64, usage u32. Only device pools without export handles: shareable handles would give
 * another process (outside the VM) access to the memory, and host pools are not device memory.
 */
export function cuMemPoolCreate(x: ExecContext, r: Reader, w: Writer): number {
  const allocType = r.u32();
  const handleTypes = r.u32();
  const locType = r.u32();
  const locId = r.i32();
  // 64-bit values are copied as bytes: a JavaScript number cannot hold every one exactly.
  const maxSize = r.raw(8);
  const usage = r.u32();
  r.end();
  if (allocType !== CU_MEM_ALLOCATION_TYPE_PINNED) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `allocation type ${allocType} is not PINNED`);
  if (handleTypes !== 0) throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, 'memory pools with shareable handle types are not supported');
  if (locType !== CU_MEM_LOCATION_TYPE_DEVICE) throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `memory pool location type ${locType}: only device pools are supported`);
  if (usage > 0xffff) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `usage ${usage} does not fit its 16-bit field`);
  const props = Buffer.alloc(PROPS_SIZE);
  props.writeUInt32LE(allocType, 0);
  props.writeUInt32LE(handleTypes, 4);
  props.writeUInt32LE(locType, 8);
  props.writeInt32LE(x.device(locId), 12);
  maxSize.copy(props, 24);
  props.writeUInt16LE(usage, 32);
  const o = x.out(0);
  const res = x.d.cuMemPoolCreate(o, props);
  if (res !== 0) return res;
  w.u64(x.newHandle('mempool', x.readU64(o)));
  return 0;
}

/** CU_MEMPOOL_ATTR_*: the three reuse flags are ints, the rest cuuint64_t (cuda.h). */
const INT_ATTRS = new Set([1, 2, 3]);
const U64_ATTRS = new Set([4, 5, 6, 7, 8]);

/** Only known attributes reach the driver: it writes at most 8 bytes for those, never more. */
function checkAttr(attr: number): void {
  if (INT_ATTRS.has(attr) || U64_ATTRS.has(attr)) return;
  throw new CudaError(CUDA_ERROR_INVALID_VALUE, `unknown memory pool attribute ${attr}`);
}

/**
 * Wire: pool id u64, attr u32, value as 8 little-endian bytes (an int attribute's in the low 4).
 * Values travel as bytes, never as a JavaScript number, so UINT64_MAX thresholds stay exact.
 */
export function cuMemPoolSetAttribute(x: ExecContext, r: Reader, _w: Writer): number {
  const id = r.u64();
  const attr = r.u32();
  const value = r.raw(8);
  r.end();
  const pool = x.handle(id, 'mempool', false);
  checkAttr(attr);
  const b = x.out(0);
  value.copy(b, 0);
  return x.d.cuMemPoolSetAttribute(pool, attr, b);
}

/** Wire: pool id u64, attr u32; reply the value as 8 little-endian bytes (as for the setter). */
export function cuMemPoolGetAttribute(x: ExecContext, r: Reader, w: Writer): number {
  const id = r.u64();
  const attr = r.u32();
  r.end();
  const pool = x.handle(id, 'mempool', false);
  checkAttr(attr);
  const b = x.out(0);
  b.fill(0, 0, 8);
  const res = x.d.cuMemPoolGetAttribute(pool, attr, b);
  if (res !== 0) return res;
  w.raw(b.subarray(0, 8));
  return 0;
}
