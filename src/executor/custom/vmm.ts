// Virtual memory management (spec/cuda.spec.h; the session's book: src/executor/vmm.ts). Every
// address and handle a guest names is checked against its own reservations, mappings and physical
// allocations before the driver is called; the driver checks the rest (granularity, overlaps).
// Wire layouts are the guest's (guest/cuda/impl/vmm.c): properties travel as seven scalar fields,
// location ids as vGPU ordinals.

import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_MAP_FAILED, CUDA_ERROR_NOT_SUPPORTED } from '../cuda.js';

/** sizeof(CUmemAllocationProp) (cuda.h, x86-64 and aarch64 alike) and its offsets. */
const PROP_SIZE = 32;
const CU_MEM_LOCATION_TYPE_DEVICE = 1;
/** Most access descriptors one cuMemSetAccess may carry (one per device would do). */
const MAX_ACCESS_DESCS = 64;

interface Props {
  type: number;
  handleTypes: number;
  locType: number;
  locId: number;
  compression: number;
  rdma: number;
  usage: number;
}

function readProps(r: Reader): Props {
  return { type: r.u32(), handleTypes: r.u32(), locType: r.u32(), locId: r.i32(), compression: r.u32(), rdma: r.u32(), usage: r.u32() };
}

/** A location the executor can name to the driver: a device of the session (its physical ordinal). */
function deviceLocation(x: ExecContext, type: number, id: number): number {
  if (type !== CU_MEM_LOCATION_TYPE_DEVICE) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `memory location type ${type}: only devices are supported`);
  return x.device(id);
}

/** CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR: requested by PyTorch's expandable segments on every
 * cuMemCreate; what cuMemExportToShareableHandle exports (below). */
const HANDLE_TYPE_POSIX_FD = 1;

/** The driver's CUmemAllocationProp for p. Other shareable handle types are refused. */
function propsBuffer(x: ExecContext, p: Props): Buffer {
  if (p.compression > 0xff || p.rdma > 0xff || p.usage > 0xffff) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'allocation flags do not fit their fields');
  const dev = deviceLocation(x, p.locType, p.locId);
  if ((p.handleTypes & ~HANDLE_TYPE_POSIX_FD) !== 0) throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `shareable handle types ${p.handleTypes}: only a file descriptor may be requested`);
  const b = Buffer.alloc(PROP_SIZE);
  b.writeUInt32LE(p.type, 0);
  b.writeUInt32LE(p.handleTypes, 4);
  b.writeUInt32LE(p.locType, 8);
  b.writeInt32LE(dev, 12);
  b.writeUInt8(p.compression, 24);
  b.writeUInt8(p.rdma, 25);
  b.writeUInt16LE(p.usage, 26);
  return b;
}

function notOurs(what: string): CudaError {
  return new CudaError(CUDA_ERROR_INVALID_VALUE, `${what} is not this session's`);
}

export function cuMemAddressReserve(x: ExecContext, r: Reader, w: Writer): number {
  const size = r.u64();
  const alignment = r.u64();
  const addr = r.u64();
  const flags = r.u64();
  r.end();
  const o = x.out(0);
  const res = x.d.cuMemAddressReserve(o, size, alignment, addr, flags);
  if (res !== 0) return res;
  const p = x.readU64(o);
  x.vmm.reservations.set(p, size);
  w.u64(p);
  return 0;
}

export function cuMemAddressFree(x: ExecContext, r: Reader, _w: Writer): number {
  const ptr = r.u64();
  const size = r.u64();
  r.end();
  if (x.vmm.reservations.get(ptr) !== size) throw notOurs(`reservation 0x${ptr.toString(16)}+${size}`);
  const res = x.d.cuMemAddressFree(ptr, size);
  if (res !== 0) return res;
  x.vmm.reservations.delete(ptr);
  // Whatever the driver unmapped with it is gone from the session too.
  unmapped(x, ptr, size);
  return 0;
}

/** The driver has taken the mappings inside [ptr, ptr+size) away. */
function unmapped(x: ExecContext, ptr: number, size: number): void {
  for (const m of x.vmm.mappingsIn(ptr, size)) {
    x.vmm.mappings.delete(m.base);
    x.allocs.removeMapped(m.base);
    const p = x.vmm.get(m.id);
    if (p) p.maps--;
    freedIfUnused(x, m.id);
  }
}

function freedIfUnused(x: ExecContext, id: number): void {
  const p = x.vmm.dropIfUnused(id);
  if (!p) return;
  // Told before the quota is given back, so that what another session still has imported stays
  // charged to the VM (docs/ipc.md).
  if (p.exportedAs !== undefined) x.ipc.revoke('vmm', p.exportedAs);
  if (p.importedBy !== undefined && !x.vmm.hasImport(p.importedBy)) x.ipc.close('vmm', p.importedBy);
  if (p.size > 0) x.physicalFreed(p.size);
}

/** Wire: size u64, properties, flags u64; reply the handle (a session id). Counted toward the
 * quota like cuMemAlloc: a request that does not fit waits for quota and is replayed, or fails. */
export function cuMemCreate(x: ExecContext, r: Reader, w: Writer): number {
  const size = r.u64();
  const props = readProps(r);
  const flags = r.u64();
  r.end();
  const b = propsBuffer(x, props);
  x.beforeAlloc(size);
  const o = x.out(0);
  const res = x.d.cuMemCreate(o, size, b, flags);
  if (res !== 0) {
    x.allocFailed(size);
    return res;
  }
  const id = x.vmm.addPhysical(x.readU64(o), size);
  x.physicalTaken(size);
  w.u64(id);
  return 0;
}

export function cuMemRelease(x: ExecContext, r: Reader, _w: Writer): number {
  const id = r.u64();
  r.end();
  const p = x.vmm.held(id);
  if (!p) throw notOurs(`memory handle 0x${id.toString(16)}`);
  const res = x.d.cuMemRelease(p.real);
  if (res !== 0) return res;
  p.refs--;
  freedIfUnused(x, id);
  return 0;
}

export function cuMemMap(x: ExecContext, r: Reader, _w: Writer): number {
  const ptr = r.u64();
  const size = r.u64();
  const offset = r.u64();
  const id = r.u64();
  const flags = r.u64();
  r.end();
  const p = x.vmm.held(id);
  if (!p) throw notOurs(`memory handle 0x${id.toString(16)}`);
  if (!x.vmm.inReservation(ptr, size)) throw notOurs(`address range 0x${ptr.toString(16)}+${size}`);
  const res = x.d.cuMemMap(ptr, size, offset, p.real, flags);
  if (res !== 0) return res;
  x.vmm.mappings.set(ptr, { base: ptr, size, id });
  x.allocs.addMapped(ptr, size);
  p.maps++;
  return 0;
}

export function cuMemUnmap(x: ExecContext, r: Reader, _w: Writer): number {
  const ptr = r.u64();
  const size = r.u64();
  r.end();
  if (!x.vmm.inReservation(ptr, size)) throw notOurs(`address range 0x${ptr.toString(16)}+${size}`);
  // Device work that may still use the mapping is the driver's to wait for (cuMemUnmap synchronises).
  const res = x.d.cuMemUnmap(ptr, size);
  if (res !== 0) return res;
  unmapped(x, ptr, size);
  return 0;
}

/** Wire: ptr u64, size u64, count u32, then per descriptor location type u32, id i32, flags u32. */
export function cuMemSetAccess(x: ExecContext, r: Reader, _w: Writer): number {
  const ptr = r.u64();
  const size = r.u64();
  const count = r.u32();
  if (count > MAX_ACCESS_DESCS) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `${count} access descriptors`);
  const descs = Buffer.alloc(Math.max(1, count) * 12);
  for (let i = 0; i < count; i++) {
    const type = r.u32();
    const id = r.i32();
    const flags = r.u32();
    descs.writeUInt32LE(type, 12 * i);
    descs.writeInt32LE(deviceLocation(x, type, id), 12 * i + 4);
    descs.writeUInt32LE(flags, 12 * i + 8);
  }
  r.end();
  if (!x.vmm.inReservation(ptr, size)) throw notOurs(`address range 0x${ptr.toString(16)}+${size}`);
  return x.d.cuMemSetAccess(ptr, size, descs, count);
}

/** Wire: location type u32, id i32, ptr u64; reply the flags u64. */
export function cuMemGetAccess(x: ExecContext, r: Reader, w: Writer): number {
  const type = r.u32();
  const id = r.i32();
  const ptr = r.u64();
  r.end();
  const loc = Buffer.alloc(8);
  loc.writeUInt32LE(type, 0);
  loc.writeInt32LE(deviceLocation(x, type, id), 4);
  if (!x.vmm.inReservation(ptr, 1)) throw notOurs(`address 0x${ptr.toString(16)}`);
  const o = x.out(0);
  const res = x.d.cuMemGetAccess(o, loc, ptr);
  if (res !== 0) return res;
  w.u64(x.readU64(o));
  return 0;
}

/** Wire: properties, option u32; reply the granularity u64. */
export function cuMemGetAllocationGranularity(x: ExecContext, r: Reader, w: Writer): number {
  const props = readProps(r);
  const option = r.u32();
  r.end();
  const o = x.out(0);
  const res = x.d.cuMemGetAllocationGranularity(o, propsBuffer(x, props), option);
  if (res !== 0) return res;
  w.u64(x.readU64(o));
  return 0;
}

/** Reply: the properties as the guest sends them, the location as a vGPU ordinal. */
export function cuMemGetAllocationPropertiesFromHandle(x: ExecContext, r: Reader, w: Writer): number {
  const id = r.u64();
  r.end();
  const p = x.vmm.held(id);
  if (!p) throw notOurs(`memory handle 0x${id.toString(16)}`);
  const b = Buffer.alloc(PROP_SIZE);
  const res = x.d.cuMemGetAllocationPropertiesFromHandle(b, p.real);
  if (res !== 0) return res;
  const locType = b.readUInt32LE(8);
  const physical = b.readInt32LE(12);
  const vgpu = locType === CU_MEM_LOCATION_TYPE_DEVICE ? x.deviceMap.indexOf(physical) : physical;
  w.u32(b.readUInt32LE(0));
  w.u32(b.readUInt32LE(4));
  w.u32(locType);
  w.i32(vgpu);
  w.u32(b.readUInt8(24));
  w.u32(b.readUInt8(25));
  w.u32(b.readUInt16LE(26));
  return 0;
}

/** Wire: the address u64; reply the handle's session id (one more reference to release). */
export function cuMemRetainAllocationHandle(x: ExecContext, r: Reader, w: Writer): number {
  const addr = r.u64();
  r.end();
  const m = x.vmm.mappingAt(addr);
  if (!m) throw notOurs(`address 0x${addr.toString(16)}`);
  const o = x.out(0);
  // addr is a device address the driver only looks up: koffi passes a BigInt given for a
  // `void *` parameter as that address (a number would be cut to 32 bits).
  const retain = x.d.cuMemRetainAllocationHandle as unknown as (handle: Buffer, addr: bigint) => number;
  const res = retain(o, BigInt(addr));
  if (res !== 0) return res;
  const id = x.vmm.byReal(x.readU64(o));
  const p = id === undefined ? undefined : x.vmm.get(id);
  if (id === undefined || !p) {
    // The driver named an allocation this session never made: give the reference back.
    x.d.cuMemRelease(x.readU64(o));
    throw notOurs(`the allocation mapped at 0x${addr.toString(16)}`);
  }
  p.refs++;
  w.u64(id);
  return 0;
}

/** The bytes of a driver's shareable descriptor that the executor can carry to another session:
 * softgpu's is a small file describing the allocation (softgpu/api/vmm.c). A descriptor that is
 * not such a file (NVIDIA's driver gives a device file) cannot leave this process. */
const SHARE_DESC_SIZE = 64;

function descriptorBytes(fd: number): Buffer | undefined {
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== SHARE_DESC_SIZE) return undefined;
    const b = Buffer.alloc(SHARE_DESC_SIZE);
    return readSync(fd, b, 0, SHARE_DESC_SIZE, 0) === SHARE_DESC_SIZE ? b : undefined;
  } catch {
    return undefined;
  }
}

/** Wire: handle id u64, type u32, flags u64; reply the VM's token for the export (64 bytes), from
 * which the guest library makes the program's file descriptor (docs/ipc.md). */
export function cuMemExportToShareableHandle(x: ExecContext, r: Reader, w: Writer): number {
  const id = r.u64();
  const type = r.u32();
  const flags = r.u64();
  r.end();
  const p = x.vmm.held(id);
  if (!p) throw notOurs(`memory handle 0x${id.toString(16)}`);
  if (type !== HANDLE_TYPE_POSIX_FD) throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `shareable handle type ${type}: only file descriptors`);
  const o = x.out(0);
  const res = x.d.cuMemExportToShareableHandle(o, p.real, type, flags);
  if (res !== 0) return res;
  const fd = o.readInt32LE(0);
  const desc = descriptorBytes(fd);
  closeSync(fd);
  if (!desc) throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, "this driver's shareable descriptors cannot be carried to another session");
  const token = x.ipc.take({ op: 'export', kind: 'vmm', handle: desc.toString('hex'), bytes: p.size });
  if (token === null) return CUDA_ERROR_MAP_FAILED;
  p.exportedAs = desc.toString('hex');
  w.raw(Buffer.from(token, 'hex'));
  return 0;
}

/** Wire: the token (64 bytes), type u32; reply the new handle's session id. The allocation counts
 * toward the quota once, as its exporter's: here it is a handle the session may map, not memory
 * it holds. */
export function cuMemImportFromShareableHandle(x: ExecContext, r: Reader, w: Writer): number {
  const token = r.raw(64);
  const type = r.u32();
  r.end();
  if (type !== HANDLE_TYPE_POSIX_FD) throw new CudaError(CUDA_ERROR_NOT_SUPPORTED, `shareable handle type ${type}: only file descriptors`);
  const hex = token.toString('hex');
  const desc = x.ipc.take({ op: 'lookup', kind: 'vmm', token: hex });
  if (desc === null) throw new CudaError(CUDA_ERROR_INVALID_VALUE, 'the shareable handle was not exported in this VM');
  // The mediator counts the session as an importer from the lookup on: told when nothing is.
  let imported = false;
  // The driver reads the descriptor from a file: a private one, gone once the import is done.
  const path = join(tmpdir(), `vgpu-share-${process.pid}-${randomBytes(8).toString('hex')}`);
  let fd = -1;
  try {
    fd = openSync(path, 'wx+', 0o600);
    unlinkSync(path);
    writeSync(fd, Buffer.from(desc, 'hex'), 0, SHARE_DESC_SIZE, 0);
    const o = x.out(0);
    // osHandle carries the descriptor's number as a pointer-sized value (cuda.h); koffi passes a
    // BigInt given for a `void *` parameter as that value.
    const importFn = x.d.cuMemImportFromShareableHandle as unknown as (handle: Buffer, osHandle: bigint, type: number) => number;
    const res = importFn(o, BigInt(fd), type);
    if (res !== 0) return res;
    const real = x.readU64(o);
    const known = x.vmm.byReal(real);
    const held = known === undefined ? undefined : x.vmm.get(known);
    if (known !== undefined && held) {
      held.refs++; // imported where it was made: one more reference to the session's own
      w.u64(known);
    } else {
      const id = x.vmm.addPhysical(real, 0);
      x.vmm.get(id)!.importedBy = hex;
      w.u64(id);
    }
    imported = true;
    return 0;
  } finally {
    if (fd >= 0) closeSync(fd);
    if (!imported && !x.vmm.hasImport(hex)) x.ipc.close('vmm', hex);
  }
}
