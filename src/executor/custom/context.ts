// Primary and ordinary contexts. The guest keeps the current context per thread and the primary
// context's reference count; the executor maps guest device ordinals to physical ones and gives
// each driver context one stable remote id. Destroying a context frees what was allocated and
// loaded in it, so the session's quota is given back too (ExecContext.contextGone).

import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';

export function cuDevicePrimaryCtxRetain(x: ExecContext, r: Reader, w: Writer): number {
  const dev = r.i32();
  r.end();
  const o = x.out(0);
  const physical = x.device(dev);
  const res = x.d.cuDevicePrimaryCtxRetain(o, physical);
  if (res !== 0) return res;
  x.primaryRetained.add(physical);
  w.u64(x.primaryContextId(physical, x.readU64(o)));
  return 0;
}

/** Whether the driver still has `physical`'s primary context. The guest sends only its last
 * release, and the session holds one retain per active guest primary, so a release normally ends
 * it; but a client speaking the protocol itself may retain twice, and memory the driver still
 * holds must stay counted: the driver is asked. */
function primaryActive(x: ExecContext, physical: number): boolean {
  const flags = x.out(0);
  const active = x.out(1);
  if (x.d.cuDevicePrimaryCtxGetState(physical, flags, active) !== 0) return true;
  return active.readInt32LE(0) !== 0;
}

export function cuDevicePrimaryCtxRelease_v2(x: ExecContext, r: Reader): number {
  const dev = r.i32();
  r.end();
  const physical = x.device(dev);
  // The last release destroys the context, and the clock's events in it.
  x.contextEnding();
  const res = x.d.cuDevicePrimaryCtxRelease_v2(physical);
  if (res === 0) {
    x.primaryRetained.delete(physical);
    if (!primaryActive(x, physical)) x.primaryGone(physical);
  }
  return res;
}

export function cuDevicePrimaryCtxReset_v2(x: ExecContext, r: Reader): number {
  const dev = r.i32();
  r.end();
  const physical = x.device(dev);
  x.contextEnding();
  const res = x.d.cuDevicePrimaryCtxReset_v2(physical);
  x.invalidateCurrent();
  // A reset keeps the driver's retain count, but the guest retains again after one (it keeps its
  // own count and asks the host only to activate): the session's retain goes with the reset, so
  // the host holds one retain per active guest primary context and the last release ends it.
  // What lived in the context is gone with it, and its bytes go back to the quota.
  if (res === 0) {
    if (x.primaryRetained.delete(physical)) x.d.cuDevicePrimaryCtxRelease_v2(physical);
    x.primaryGone(physical);
  }
  return res;
}

export function cuDevicePrimaryCtxSetFlags_v2(x: ExecContext, r: Reader): number {
  const dev = r.i32();
  const flags = r.u32();
  r.end();
  return x.d.cuDevicePrimaryCtxSetFlags_v2(x.device(dev), flags);
}

export function cuCtxCreate_v2(x: ExecContext, r: Reader, w: Writer): number {
  const flags = r.u32();
  const dev = r.i32();
  r.end();
  const o = x.out(0);
  const res = x.d.cuCtxCreate_v2(o, flags, x.device(dev));
  // cuCtxCreate makes the new context current on the executor's thread.
  x.invalidateCurrent();
  if (res !== 0) return res;
  w.u64(x.contextId(x.readU64(o)));
  return 0;
}

export function cuCtxDestroy_v2(x: ExecContext, r: Reader): number {
  const id = r.u64();
  r.end();
  const real = x.handle(id, 'context', false);
  x.contextEnding();
  const res = x.d.cuCtxDestroy_v2(real);
  x.invalidateCurrent();
  if (res === 0) {
    x.contextGone(id);
    x.dropHandle(id);
  }
  return res;
}
