// Kernel launches. The guest sends the parameters already packed per the kernel's layout; the
// executor hands them to the driver through the `extra` form (CU_LAUNCH_PARAM_BUFFER_POINTER /
// _SIZE), from buffers allocated once whose addresses are fixed, so a launch costs one copy of the
// parameter bytes and one driver call.
//
// A plain launch goes to the driver as cuLaunchKernelEx with no attributes (CUDA documents the two
// as equivalent): the configuration is written into a fixed CUlaunchConfig and the call takes 4
// integer arguments instead of 11, and koffi's cost grows with the argument count - it was a
// quarter of an empty launch's time through vgpu. Drivers without cuLaunchKernelEx (before CUDA
// 11.8) get the 11-argument call.

import koffi from 'koffi';

import { u32At, type Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import { CudaError, CUDA_ERROR_INVALID_VALUE } from '../cuda.js';

/** CUDA's limit on kernel parameter bytes (since 12.1). */
const MAX_PARAM_BYTES = 32764;
const MAX_ATTRS = 32;
const ATTR_SIZE = 72; // sizeof(CUlaunchAttribute): u32 id, padding, 64-byte value union
const CONFIG_SIZE = 56; // sizeof(CUlaunchConfig)
const TWO32 = 4294967296;

interface LaunchBuffers {
  /** The CUlaunchConfig of plain launches, as 32-bit words (attributes: none). */
  plainConfig: Uint32Array;
  plainConfigAddr: number;
  params: Buffer;
  size: Buffer;
  extra: Buffer;
  extraAddr: number;
  config: Buffer;
  attrs: Buffer;
  attrsAddr: number;
}

type RawLaunch = (f: number, gx: number, gy: number, gz: number, bx: number, by: number, bz: number, shmem: number,
  stream: number, kernelParams: number, extra: number) => number;

type RawLaunchEx = (config: number, f: number, kernelParams: number, extra: number) => number;

/** cuLaunchKernel(_ptsz) and cuLaunchKernelEx(_ptsz) bound with every pointer as a 64-bit
 * integer: marshalling integers is much cheaper than Buffers, and this is the hottest call there
 * is. Set by the executor. */
export const rawLaunch: {
  plain?: RawLaunch | undefined;
  ptsz?: RawLaunch | undefined;
  ex?: RawLaunchEx | undefined;
  exPtsz?: RawLaunchEx | undefined;
} = {};
const RAW_PROTO = (name: string): string =>
  `int32_t ${name}(uint64_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz, uint32_t shmem, uint64_t stream, uint64_t kernelParams, uint64_t extra)`;
const RAW_EX_PROTO = (name: string): string => `int32_t ${name}(uint64_t config, uint64_t f, uint64_t kernelParams, uint64_t extra)`;

export function bindRawLaunch(raw: (proto: string) => ((...args: unknown[]) => number) | undefined): void {
  rawLaunch.plain = raw(RAW_PROTO('cuLaunchKernel')) as RawLaunch | undefined;
  rawLaunch.ptsz = raw(RAW_PROTO('cuLaunchKernel_ptsz')) as RawLaunch | undefined;
  rawLaunch.ex = raw(RAW_EX_PROTO('cuLaunchKernelEx')) as RawLaunchEx | undefined;
  rawLaunch.exPtsz = raw(RAW_EX_PROTO('cuLaunchKernelEx_ptsz')) as RawLaunchEx | undefined;
}

let bufs: LaunchBuffers | undefined;

function addr(b: Buffer): number {
  return Number(koffi.address(b));
}

function buffers(): LaunchBuffers {
  if (bufs) return bufs;
  const params = Buffer.alloc(MAX_PARAM_BYTES + 4);
  const size = Buffer.alloc(8);
  const extra = Buffer.alloc(5 * 8);
  // {CU_LAUNCH_PARAM_BUFFER_POINTER, params, CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END}
  extra.writeBigUInt64LE(1n, 0);
  extra.writeBigUInt64LE(BigInt(addr(params)), 8);
  extra.writeBigUInt64LE(2n, 16);
  extra.writeBigUInt64LE(BigInt(addr(size)), 24);
  extra.writeBigUInt64LE(0n, 32);
  const attrs = Buffer.alloc(MAX_ATTRS * ATTR_SIZE);
  // An ArrayBuffer of its own (off the V8 heap, so it never moves), so the 32-bit view is aligned;
  // attrs (words 10-11) and numAttrs stay 0.
  const plainConfigMem = new ArrayBuffer(CONFIG_SIZE);
  const plainConfig = new Uint32Array(plainConfigMem);
  const plainConfigAddr = addr(Buffer.from(plainConfigMem));
  bufs = { plainConfig, plainConfigAddr, params, size, extra, extraAddr: addr(extra), config: Buffer.alloc(CONFIG_SIZE), attrs, attrsAddr: addr(attrs) };
  return bufs;
}

/** The parameter size last written to the `size` buffer (launches in a row mostly repeat it). */
let stagedSize = -1;

/** Copies the packed parameters straight from the frame into the launch buffer. */
function stageParams(b: LaunchBuffers, r: Reader): void {
  const n = r.bytesInto(b.params);
  if (n < 0 || n > MAX_PARAM_BYTES) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `kernel parameters exceed ${MAX_PARAM_BYTES} bytes`);
  if (n !== stagedSize) {
    b.size.writeUInt32LE(n, 0); // the high half stays 0: at most 32 KiB
    stagedSize = n;
  }
}

/** Reads packed kernel parameters (a `bytes` field) into the launch buffer and returns the
 * `extra` array that passes them: for kernel graph nodes, whose parameters the driver copies when
 * the node is made or changed. */
export function stagedParamsExtra(r: Reader): Buffer {
  const b = buffers();
  stageParams(b, r);
  return b.extra;
}

function launch(x: ExecContext, r: Reader, ptsz: boolean): number {
  const f = x.handle(r.u64(), 'function', false);
  // grid xyz, block xyz, shared memory: one bounds check for the seven words.
  const at = r.fixed(28, 'launch configuration');
  const d = r.data;
  const gx = u32At(d, at), gy = u32At(d, at + 4), gz = u32At(d, at + 8);
  const bx = u32At(d, at + 12), by = u32At(d, at + 16), bz = u32At(d, at + 20);
  const shmem = u32At(d, at + 24);
  const stream = x.handle(r.u64(), 'stream', true);
  const b = buffers();
  stageParams(b, r);
  r.end();
  x.work(stream, ptsz);
  const ex = ptsz ? rawLaunch.exPtsz : rawLaunch.ex;
  if (ex) {
    const c = b.plainConfig;
    c[0] = gx;
    c[1] = gy;
    c[2] = gz;
    c[3] = bx;
    c[4] = by;
    c[5] = bz;
    c[6] = shmem;
    c[8] = stream % TWO32;
    c[9] = Math.floor(stream / TWO32);
    return ex(b.plainConfigAddr, f, 0, b.extraAddr);
  }
  const fast = ptsz ? rawLaunch.ptsz : rawLaunch.plain;
  if (fast) return fast(f, gx, gy, gz, bx, by, bz, shmem, stream, 0, b.extraAddr);
  return ptsz
    ? x.d.cuLaunchKernel_ptsz(f, gx, gy, gz, bx, by, bz, shmem, stream, null, b.extra)
    : x.d.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, stream, null, b.extra);
}

export function cuLaunchKernel(x: ExecContext, r: Reader): number {
  return launch(x, r, false);
}

export function cuLaunchKernel_ptsz(x: ExecContext, r: Reader): number {
  return launch(x, r, true);
}

/** Reads a CUlaunchConfig (grid, block, shared memory, stream, attributes as (u32 id, 64 value
 * bytes) each) into the fixed config buffer. */
function readConfig(x: ExecContext, r: Reader, b: LaunchBuffers): Buffer {
  const c = b.config;
  for (let i = 0; i < 7; i++) c.writeUInt32LE(r.u32(), i * 4); // grid xyz, block xyz, shared mem
  c.writeUInt32LE(0, 28);
  const stream = x.handle(r.u64(), 'stream', true);
  c.writeBigUInt64LE(BigInt(stream), 32);
  const n = r.u32();
  if (n > MAX_ATTRS) throw new CudaError(CUDA_ERROR_INVALID_VALUE, `${n} launch attributes exceed ${MAX_ATTRS}`);
  for (let i = 0; i < n; i++) {
    b.attrs.writeUInt32LE(r.u32(), i * ATTR_SIZE);
    b.attrs.writeUInt32LE(0, i * ATTR_SIZE + 4);
    r.raw(64).copy(b.attrs, i * ATTR_SIZE + 8);
  }
  c.writeBigUInt64LE(BigInt(n ? b.attrsAddr : 0), 40);
  c.writeUInt32LE(n, 48);
  c.writeUInt32LE(0, 52);
  return c;
}

function launchEx(x: ExecContext, r: Reader, ptsz: boolean): number {
  const f = x.handle(r.u64(), 'function', false);
  const b = buffers();
  const c = readConfig(x, r, b);
  stageParams(b, r);
  r.end();
  x.work(c.readUInt32LE(32) + c.readUInt32LE(36) * TWO32, ptsz);
  return ptsz ? x.d.cuLaunchKernelEx_ptsz(c, f, null, b.extra) : x.d.cuLaunchKernelEx(c, f, null, b.extra);
}

export function cuLaunchKernelEx(x: ExecContext, r: Reader): number {
  return launchEx(x, r, false);
}

export function cuLaunchKernelEx_ptsz(x: ExecContext, r: Reader): number {
  return launchEx(x, r, true);
}

export function cuOccupancyMaxActiveClusters(x: ExecContext, r: Reader, w: Writer): number {
  const f = x.handle(r.u64(), 'function', false);
  const c = readConfig(x, r, buffers());
  r.end();
  const o = x.out(0);
  const res = x.d.cuOccupancyMaxActiveClusters(o, f, c);
  if (res !== 0) return res;
  w.i32(o.readInt32LE(0));
  return 0;
}
