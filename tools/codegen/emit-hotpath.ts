// The executor's native hot path (src/native/hotpath.c, docs/executors.md "Native hot path"): the
// C decoder and validator of each hot op, generated from the same spec entries as the TypeScript
// handlers (emit-executor.ts), so that the wire layout has one source. A generated handler either
// runs its call or declines it; a declined frame is served by the TypeScript path, which gives
// the exact error (bad handle, short payload) the session has always had.

import type { FnSpec, Param } from './spec.js';
import { SpecError } from './spec.js';
import { HANDLE_KINDS } from '../../src/protocol/handles.js';

/** The ops served natively, in the order they were made native. Only plain VG_REMOTE entries whose
 * parameters are scalars, handles and device pointers (checked against the session's ranges):
 * anything needing quota, capture bookkeeping or outputs stays in TypeScript. The _ptsz variants are left out on purpose: the per-thread default stream
 * is the calling thread's, and the hot path runs on a thread of its own. */
/** Hot VG_CUSTOM ops: their wire layout is hand-written on both sides (src/executor/custom/*.ts and
 * the guest), so their C decoder is too (`hot_custom_<name>` in src/native/hotpath.c); their ids and
 * flags still come from the spec. */
export const HOT_CUSTOM_OPS = ['cuLaunchKernel', 'cuLaunchKernelEx'] as const;

export const HOT_OPS = [
  'cuCtxSynchronize',
  'cuStreamSynchronize',
  'cuStreamQuery',
  'cuEventRecord',
  'cuEventRecordWithFlags',
  'cuEventQuery',
  'cuEventSynchronize',
  'cuMemsetD8_v2',
  'cuMemsetD16_v2',
  'cuMemsetD32_v2',
  'cuMemsetD8Async',
  'cuMemsetD16Async',
  'cuMemsetD32Async',
] as const;

function cArg(p: Param): { decl: string; read: string; type: string } {
  const k = p.info!.kind;
  switch (k) {
    // The driver's own parameter type (cuda.h), e.g. unsigned char for cuMemsetD8's value.
    case 'u32': return { decl: `uint32_t ${p.name}`, read: `vg_hot_rd_u32(c, &${p.name})`, type: p.base };
    case 'i32': return { decl: `int32_t ${p.name}`, read: `vg_hot_rd_i32(c, &${p.name})`, type: p.base };
    case 'f32': return { decl: `float ${p.name}`, read: `vg_hot_rd_f32(c, &${p.name})`, type: p.base };
    case 'handle': return { decl: `uint64_t ${p.name}_id`, read: `vg_hot_rd_u64(c, &${p.name}_id)`, type: p.base };
    default: return { decl: `uint64_t ${p.name}`, read: `vg_hot_rd_u64(c, &${p.name})`, type: p.base };
  }
}

/** The handle kind's number: its place in src/protocol/handles.ts, from 1 (as in handle-kinds.h). */
function kindNumber(kind: string): number {
  return HANDLE_KINDS.findIndex((h) => h.kind === kind) + 1;
}

function hotHandler(fn: FnSpec): string {
  const L: string[] = [];
  const reads: string[] = [];
  const checks: string[] = [];
  const ranges: string[] = [];
  const args: string[] = [];
  for (const p of fn.params) {
    if (p.pointer > 0 || !p.info || p.base === 'CUdevice' || p.anno.destroy || p.anno.free || p.anno.alloc) {
      throw new SpecError(`${fn.name}: parameter ${p.name} cannot be served by the native hot path`);
    }
    const a = cArg(p);
    L.push(`  ${a.decl};`);
    reads.push(a.read);
    if (p.info.kind === 'handle') {
      const h = p.info.handle!;
      const nullable = p.anno.nullable || h === 'stream';
      L.push(`  uint64_t ${p.name};`);
      checks.push(`vg_hot_handle(c, VG_HOT_KIND_${h.toUpperCase()}, ${p.name}_id, ${nullable ? 1 : 0}, &${p.name})`);
      args.push(`(${a.type})(uintptr_t)${p.name}`);
    } else if (p.info.kind === 'devptr') {
      // As x.checkRange: the range its VG_RANGE names (`COUNT` or `COUNT * SIZE`), else one byte.
      const m = /^([A-Za-z_]\w*)(?:\s*\*\s*(\d+))?$/.exec(p.anno.range ?? '1');
      const count = p.anno.range === undefined ? '1' : m?.[1];
      if (!count || (p.anno.range !== undefined && !fn.params.some((q) => q.name === count))) {
        throw new SpecError(`${fn.name}: VG_RANGE(${p.anno.range}) of ${p.name} is not COUNT or COUNT * SIZE`);
      }
      ranges.push(`vg_hot_range(c, ${p.name}, ${count}, ${m?.[2] ?? '1'})`);
      args.push(`(${a.type})${p.name}`);
    } else {
      args.push(`(${a.type})${p.name}`);
    }
  }
  const type = `CUresult (*)(${fn.params.length === 0 ? 'void' : fn.params.map((p) => cArg(p).type).join(', ')})`;
  const body = [
    ...L,
    `  if (!(${[...reads, 'vg_hot_rd_end(c)'].join(' && ')})) return VG_HOT_DECLINE;`,
    ...(checks.length > 0 ? [`  if (!(${checks.join(' && ')})) return VG_HOT_DECLINE;`] : []),
    ...(ranges.length > 0 ? [`  if (!(${ranges.join(' && ')})) return VG_HOT_DECLINE;`] : []),
    `  c->res = ((${type})fn)(${args.join(', ')});`,
    '  return VG_HOT_DONE;',
  ];
  return `static int hot_${fn.name}(struct vg_hot_call *c, void *fn) {\n${body.join('\n')}\n}\n`;
}

/** The handle kinds' numbers for the C side (the mirror's `kind`), from the one list of kinds. */
export function emitHotKinds(banner: string): string {
  const lines = HANDLE_KINDS.map((h) => `#define VG_HOT_KIND_${h.kind.toUpperCase()} ${kindNumber(h.kind)}`);
  return `${banner}
/* Handle kinds of the hot path's mirror (src/native/hotpath.c), numbered as src/protocol/handles.ts. */
#ifndef VG_HOT_KINDS_H
#define VG_HOT_KINDS_H

${lines.join('\n')}

#endif
`;
}

export function emitHotOps(fns: FnSpec[], banner: string): string {
  const byName = new Map(fns.map((f) => [f.name, f]));
  const hot = HOT_OPS.map((n) => {
    const f = byName.get(n);
    if (!f || f.status !== 'remote' || f.id === undefined) throw new SpecError(`hot op ${n} is not a VG_REMOTE entry of spec/cuda.spec.h`);
    // VG_WORK is fine: the hot path runs only where device time is the calls' time (host mode).
    if (f.capture) throw new SpecError(`hot op ${n} needs capture bookkeeping`);
    return f;
  });
  const custom = HOT_CUSTOM_OPS.map((n) => {
    const f = byName.get(n);
    if (!f || f.status !== 'custom' || f.id === undefined) throw new SpecError(`hot custom op ${n} is not a VG_CUSTOM entry of spec/cuda.spec.h`);
    return f;
  });
  const row = (f: FnSpec, run: string): string => `  {0x${f.id!.toString(16).padStart(4, '0')}, "${f.name}", ${f.async ? 1 : 0}, ${f.sync ? 1 : 0}, ${run}},`;
  const table = [...hot.map((f) => row(f, `hot_${f.name}`)), ...custom.map((f) => row(f, `hot_custom_${f.name}`))].join('\n');
  return `${banner}
/* The native hot path's ops (src/native/hotpath.c): decode the payload after the CALL's u64 ctx,
 * check each handle against the session's mirror, call the driver. Included by hotpath.c only. */

${hot.map(hotHandler).join('\n')}
/* Hand-written in hotpath.c (their wire layout is custom). */
${custom.map((f) => `static int hot_custom_${f.name}(struct vg_hot_call *c, void *fn);`).join('\n')}

static const struct vg_hot_op vg_hot_ops[] = {
${table}
};

#define VG_HOT_NOPS (sizeof vg_hot_ops / sizeof vg_hot_ops[0])
`;
}
