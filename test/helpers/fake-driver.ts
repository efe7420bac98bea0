// A fake host driver for the executor's handlers: the functions given, every other one answers 0.
// `call` runs one wire op the way the serving loop does and returns its result and reply payload.

import type { ExecContext } from '../../src/executor/context.js';
import type { DriverApi } from '../../src/executor/gen/ffi.js';
import { OPS } from '../../src/executor/gen/dispatch.js';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';

export type Fake = Partial<Record<keyof DriverApi, (...a: Array<Buffer | number | null>) => number>>;

export function driver(fns: Fake): DriverApi {
  return new Proxy({}, { get: (_t, k: string) => fns[k as keyof DriverApi] ?? (() => 0) }) as unknown as DriverApi;
}

export function call(x: ExecContext, op: number, args: Buffer): { res: number; out: Buffer } {
  const w = new Writer();
  const res = OPS.get(op)!.run(x, new Reader(args), w);
  return { res, out: Buffer.from(w.buf.subarray(0, w.len)) };
}
