// Executor TypeScript output: koffi prototypes of the driver functions, the typed driver interface,
// and the decode-validate-call-encode handler of every VG_REMOTE entry.

import type { FnSpec, Param } from './spec.js';
import { cTypeInfo } from './ctypes.js';

/** Structs the driver takes by value, as koffi types declared by the executor (src/executor/driver.ts). */
const BY_VALUE: Record<string, string> = { CUipcMemHandle: 'CUipcHandle', CUipcEventHandle: 'CUipcHandle' };

function koffiType(p: Param): string | undefined {
  if (p.pointer > 0) return 'void *';
  if (BY_VALUE[p.base]) return BY_VALUE[p.base];
  const info = p.info ?? cTypeInfo(p.base);
  if (!info) return undefined;
  switch (info.kind) {
    case 'i32': return 'int32_t';
    case 'u32': return 'uint32_t';
    case 'f32': return 'float';
    default: return 'uint64_t';
  }
}

/** Functions the executor can call on a driver: everything in the spec whose types it can express. */
export function ffiFunctions(fns: FnSpec[]): FnSpec[] {
  return fns.filter((f) => f.status !== 'private' && f.params.every((p) => koffiType(p) !== undefined));
}

export function emitFfi(fns: FnSpec[], banner: string): string {
  const list = ffiFunctions(fns);
  const protos = list
    .map((f) => `  ${f.name}: 'int32_t ${f.name}(${f.params.map((p) => `${koffiType(p)} ${p.name}`).join(', ')})',`)
    .join('\n');
  const iface = list
    .map((f) => `  ${f.name}(${f.params.map((p) => `${p.name}: ${p.pointer > 0 ? 'Buffer | null' : BY_VALUE[p.base] ? 'IpcHandleValue' : 'number'}`).join(', ')}): number;`)
    .join('\n');
  return `${banner}
// koffi prototypes of the driver entry points the executor calls. Pointers are passed as Buffers;
// handles and device pointers travel as 64-bit integers (opaque values, never dereferenced here).

export const PROTOTYPES = {
${protos}
} as const;

export type DriverFnName = keyof typeof PROTOTYPES;

/** A 64-byte IPC handle passed by value (koffi struct CUipcHandle). */
export interface IpcHandleValue {
  reserved: Uint8Array;
}

export interface DriverApi {
${iface}
}
`;
}

function readExpr(p: Param): string {
  switch (p.info!.kind) {
    case 'u32': return 'r.u32()';
    case 'i32': return 'r.i32()';
    case 'f32': return 'r.f32()';
    default: return 'r.u64()';
  }
}

function outRead(p: Param, buf: string): string {
  switch (p.info!.kind) {
    case 'u32': return `${buf}.readUInt32LE(0)`;
    case 'i32': return `${buf}.readInt32LE(0)`;
    case 'f32': return `${buf}.readFloatLE(0)`;
    default: return `x.readU64(${buf})`;
  }
}

function outWrite(p: Param, v: string): string {
  switch (p.info!.kind) {
    case 'u32': return `w.u32(${v});`;
    case 'i32': return `w.i32(${v});`;
    case 'f32': return `w.f32(${v});`;
    default: return `w.u64(${v});`;
  }
}

function remoteHandler(fn: FnSpec): string {
  // Per-thread default-stream variants: stream 0 means the calling thread's stream.
  const ptsz = /_pt(sz|ds)$/.test(fn.name);
  const stream = fn.params.find((p) => p.pointer === 0 && p.info?.kind === 'handle' && p.info.handle === 'stream');
  const L: string[] = [];
  const args: string[] = [];
  let outIdx = 0;
  const post: string[] = [];
  const pre: string[] = [];
  const freePre: string[] = [];
  for (const p of fn.params) {
    const a = p.anno;
    if (p.pointer === 0) {
      if (p.info!.kind === 'handle') {
        const nullable = a.nullable || p.info!.handle === 'stream';
        L.push(`  const ${p.name}_id = r.u64();`);
        args.push(`${p.name}`);
        pre.push(`  const ${p.name} = x.handle(${p.name}_id, '${p.info!.handle}', ${nullable});`);
        if (a.destroy) post.push(`  x.dropHandle(${p.name}_id);`);
        // Its device-time window must end while the stream still exists.
        if (a.destroy && p.info!.handle === 'stream') pre.push(`  x.streamEnding(${p.name}, ${ptsz});`);
      } else if (p.base === 'CUdevice') {
        // The guest names its vGPU ordinal; the driver needs the physical device behind it.
        L.push(`  const ${p.name}_vgpu = ${readExpr(p)};`);
        pre.push(`  const ${p.name} = x.device(${p.name}_vgpu);`);
        args.push(p.name);
      } else {
        L.push(`  const ${p.name} = ${readExpr(p)};`);
        args.push(p.name);
      }
      if (a.range) pre.push(`  x.checkRange(${p.name}, ${a.range});`);
      else if (p.info!.kind === 'devptr' && !a.free) pre.push(`  x.checkRange(${p.name}, 1);`);
      if (a.free) {
        // Freeing NULL is a no-op that succeeds (cudaFree(NULL) relies on it).
        // After every other argument is resolved: the NULL call passes them too (a stream, say).
        freePre.push(`  if (${p.name} === 0) return x.d.${fn.name}(${fn.params.map((q) => (q === p ? '0' : q.name)).join(', ')});`);
        freePre.push(`  x.checkAllocBase(${p.name});`);
        post.push(`  x.afterFree(${p.name});`);
      }
    } else {
      const buf = `o_${p.name}`;
      pre.push(`  const ${buf} = x.out(${outIdx++});`);
      if (a.inout) {
        L.push(`  const in_${p.name} = ${readExpr(p)};`);
        pre.push(`  x.writeOut(${buf}, '${p.info!.kind}', in_${p.name});`);
      }
      args.push(buf);
      if (p.info!.kind === 'handle') {
        post.push(`  w.u64(x.newHandle('${p.info!.handle}', x.readU64(${buf})));`);
      } else if (a.alloc) {
        post.push(`  const ${p.name} = ${outRead(p, buf)};`);
        // Made on a stream: a stream-ordered allocation, which its pool owns (not the context).
        const owner = stream ? ", 'pool'" : '';
        post.push(`  x.afterAlloc(${p.name}, ${a.alloc.replace(/\b([A-Za-z_]\w*)\b/g, '$1')}${owner});`);
        post.push(`  ${outWrite(p, p.name)}`);
      } else {
        post.push(`  ${outWrite(p, outRead(p, buf))}`);
      }
    }
  }
  pre.push(...freePre);
  const allocs = fn.params.filter((p) => p.anno.alloc);
  for (const p of allocs) pre.push(`  x.beforeAlloc(${p.anno.alloc});`);
  if (fn.work) pre.push(`  x.work(${stream ? stream.name : '0'}, ${ptsz});`);
  if (fn.capture === 'begin') {
    pre.push('  x.captureBegins();');
    post.push(`  x.captureBegan(${stream!.name}, ${ptsz});`);
  }
  // Whatever the result, the stream is not capturing afterwards.
  if (fn.capture === 'end') pre.push(`  x.captureEnds(${stream!.name}, ${ptsz});`);
  const call = `x.d.${fn.name}(${args.join(', ')})`;
  const failCleanup = allocs.map((p) => `x.allocFailed(${p.anno.alloc});`).join(' ');
  const body = [
    ...L,
    '  r.end();',
    ...pre,
    `  const res = ${call};`,
    `  if (res !== 0) {${failCleanup ? ` ${failCleanup}` : ''} return res; }`,
    ...post,
    '  return 0;',
  ];
  return `function ${fn.name}(x: ExecContext, r: Reader, w: Writer): number {\n${body.join('\n')}\n}\n`;
}

export function emitDispatch(fns: FnSpec[], banner: string): string {
  const remote = fns.filter((f) => f.status === 'remote');
  const custom = fns.filter((f) => f.status === 'custom' || f.status === 'private');
  const entries = [...remote, ...custom]
    .sort((a, b) => a.id! - b.id!)
    .map((f) => {
      const run = f.status === 'remote' ? f.name : `custom.${f.name}`;
      return `  [0x${f.id!.toString(16).padStart(4, '0')}, { name: '${f.name}', async: ${f.async}, sync: ${f.sync}, run: ${run} }],`;
    })
    .join('\n');
  return `${banner}
// The executor side of every forwarded function of spec/cuda.spec.h: decode the arguments, check
// every handle, device pointer and size against the session, call the driver, encode the outputs.
/* eslint-disable */
import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import type { ExecContext } from '../context.js';
import * as custom from '../custom/index.js';

export interface OpInfo {
  name: string;
  async: boolean;
  sync: boolean;
  /** Returns a CUresult; outputs are written to w only on success. Throws CudaError or ProtocolError. */
  run(x: ExecContext, r: Reader, w: Writer): number;
}

${remote.map(remoteHandler).join('\n')}
export const OPS: ReadonlyMap<number, OpInfo> = new Map<number, OpInfo>([
${entries}
]);
`;
}

export function emitOpsTs(fns: FnSpec[], banner: string): string {
  const withId = fns.filter((f) => f.id !== undefined && f.status !== 'custom-alias').sort((a, b) => a.id! - b.id!);
  return `${banner}
// Wire ids of forwarded functions (docs/protocol.md).

export const OP = {
${withId.map((f) => `  ${f.name}: 0x${f.id!.toString(16).padStart(4, '0')},`).join('\n')}
} as const;

export type OpName = keyof typeof OP;

export const OP_NAMES: ReadonlyMap<number, OpName> = new Map(
  (Object.entries(OP) as Array<[OpName, number]>).map(([k, v]) => [v, k]),
);
`;
}
