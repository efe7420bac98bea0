// CUDA IPC within a VM (spec/cuda.spec.h; the session's book and the mediator's part:
// src/executor/ipc.ts, docs/ipc.md). The guest's handles are the mediator's tokens; the driver's
// handle bytes stay on the host. Wire: a handle is 64 raw bytes.

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_MAP_FAILED } from '../cuda.js';
import type { IpcKind } from '../ipc.js';

const HANDLE_SIZE = 64;

/** Registers the driver's handle in `o` (of `bytes` of device memory) with the mediator; replies
 * the token. */
function exported(x: ExecContext, kind: IpcKind, o: Buffer, bytes: number, w: Writer): number {
  const token = x.ipc.take({ op: 'export', kind, handle: o.subarray(0, HANDLE_SIZE).toString('hex'), bytes });
  // No mediator to keep the export (docs/ipc.md): nothing could ever open it.
  if (token === null) return CUDA_ERROR_MAP_FAILED;
  w.raw(Buffer.from(token, 'hex'));
  return 0;
}

/** The driver's handle behind the guest's token, as the koffi struct CUipcHandle. A token the
 * mediator does not know for this VM is refused as the driver refuses a handle it cannot open. */
function driverHandle(x: ExecContext, kind: IpcKind, token: Buffer): { reserved: Uint8Array } {
  const real = x.ipc.take({ op: 'lookup', kind, token: token.toString('hex') });
  if (real === null) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `the ${kind} IPC handle was not exported in this VM`);
  return { reserved: Buffer.from(real, 'hex') };
}

/** Wire: dptr u64; reply the handle. Only memory of the session is passed to the driver. */
export function cuIpcGetMemHandle(x: ExecContext, r: Reader, w: Writer): number {
  const dptr = r.u64();
  r.end();
  x.checkRange(dptr, 1);
  const o = Buffer.alloc(HANDLE_SIZE);
  const res = x.d.cuIpcGetMemHandle(o, dptr);
  if (res !== 0) return res;
  // The allocation's size stays charged to the VM while another session has it open; by its base
  // the handle is revoked when the allocation is freed.
  const b = x.out(1);
  const s = x.out(2);
  const res2 = x.d.cuMemGetAddressRange_v2(b, s, dptr);
  if (res2 !== 0) return res2;
  const r2 = exported(x, 'mem', o, x.readU64(s), w);
  if (r2 === 0) x.ipc.exportedAt(x.readU64(b), o.toString('hex'));
  return r2;
}

/** Wire: the handle, flags u32; reply the pointer. The memory counts toward the quota as the
 * exporter's only: here it is a range the session may use, not an allocation it holds. */
export function cuIpcOpenMemHandle_v2(x: ExecContext, r: Reader, w: Writer): number {
  const token = r.raw(HANDLE_SIZE);
  const flags = r.u32();
  r.end();
  const h = driverHandle(x, 'mem', token);
  const hex = token.toString('hex');
  const o = x.out(0);
  const res = x.d.cuIpcOpenMemHandle_v2(o, h, flags);
  if (res !== 0) {
    // The mediator counts the session as an opener from the lookup on: nothing is open after all.
    if (x.ipc.openedBy(hex) === undefined) x.ipc.close('mem', hex);
    return res;
  }
  const p = x.readU64(o);
  const known = x.ipc.opened.get(p);
  if (known) {
    known.refs++; // the driver counts a second open of one handle as a reference
  } else {
    const s = x.out(1);
    const size = x.d.cuMemGetAddressRange_v2(null, s, p) === 0 ? x.readU64(s) : 1;
    x.ipc.opened.set(p, { size, refs: 1, token: hex, ctx: x.currentContext });
    x.allocs.addFixed(p, size);
  }
  w.u64(p);
  return 0;
}

/** Wire: dptr u64. Only what this session opened. */
export function cuIpcCloseMemHandle(x: ExecContext, r: Reader, _w: Writer): number {
  const dptr = r.u64();
  r.end();
  const m = x.ipc.opened.get(dptr);
  if (!m) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `0x${dptr.toString(16)} was not opened from an IPC handle by this session`);
  const res = x.d.cuIpcCloseMemHandle(dptr);
  if (res !== 0) return res;
  if (--m.refs === 0) {
    x.ipc.unmapped(dptr);
    x.allocs.removeFixed(dptr);
  }
  return 0;
}

/** Wire: event u64; reply the handle. */
export function cuIpcGetEventHandle(x: ExecContext, r: Reader, w: Writer): number {
  const id = r.u64();
  r.end();
  const ev = x.handle(id, 'event', false);
  const o = Buffer.alloc(HANDLE_SIZE);
  const res = x.d.cuIpcGetEventHandle(o, ev);
  if (res !== 0) return res;
  return exported(x, 'event', o, 0, w);
}

/** Wire: the handle; reply the new event's id. */
export function cuIpcOpenEventHandle(x: ExecContext, r: Reader, w: Writer): number {
  const token = r.raw(HANDLE_SIZE);
  r.end();
  const h = driverHandle(x, 'event', token);
  const o = x.out(0);
  const res = x.d.cuIpcOpenEventHandle(o, h);
  if (res !== 0) return res;
  w.u64(x.newHandle('event', x.readU64(o)));
  return 0;
}
