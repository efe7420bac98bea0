// Primary and ordinary contexts. The guest keeps the current context per thread and the primary
// context's reference count; the executor maps guest device ordinals to physical ones and gives
// each driver context one stable remote id.

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
  w.u64(x.contextId(x.readU64(o)));
  return 0;
}

export function cuDevicePrimaryCtxRelease_v2(x: ExecContext, r: Reader): number {
  const dev = r.i32();
  r.end();
  const physical = x.device(dev);
  // The last release destroys the context, and the clock's events in it.
  x.contextEnding();
  const res = x.d.cuDevicePrimaryCtxRelease_v2(physical);
  if (res === 0) x.primaryRetained.delete(physical);
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
  if (res === 0 && x.primaryRetained.delete(physical)) x.d.cuDevicePrimaryCtxRelease_v2(physical);
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
  if (res === 0) x.dropHandle(id);
  return res;
}
