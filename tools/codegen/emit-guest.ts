// Guest C output: the stub of every VG_REMOTE function, the unsupported stubs, wire ids and the
// linker version script. The stubs call the runtime in guest/common/impl/rpc.h.

import type { FnSpec, Param } from './spec.js';
import { HANDLE_KINDS } from '../../src/protocol/handles.js';
import { guestHandleEnum } from './ctypes.js';

const EXPORT = 'VG_GEN_EXPORT';

function putCall(p: Param): string {
  const info = p.info!;
  switch (info.kind) {
    case 'u32': return `vg_put_u32(&c, (uint32_t)${p.name});`;
    case 'i32': return `vg_put_i32(&c, (int32_t)${p.name});`;
    case 'u64': return `vg_put_u64(&c, (uint64_t)${p.name});`;
    case 'devptr': return `vg_put_u64(&c, (uint64_t)${p.name});`;
    case 'f32': return `vg_put_f32(&c, ${p.name});`;
    case 'handle': {
      const nullable = p.anno.nullable || info.handle === 'stream' ? 1 : 0;
      return `vg_put_handle(&c, ${guestHandleEnum(info.handle!)}, ${p.name}, ${nullable});`;
    }
  }
}

function getExpr(p: Param): string {
  const info = p.info!;
  switch (info.kind) {
    case 'u32': return `(${p.base})vg_get_u32(&c)`;
    case 'i32': return `(${p.base})vg_get_i32(&c)`;
    case 'u64':
    case 'devptr': return `(${p.base})vg_get_u64(&c)`;
    case 'f32': return `vg_get_f32(&c)`;
    case 'handle': return `(${p.base})vg_get_new_handle(&c, ${guestHandleEnum(info.handle!)})`;
  }
}

/** How the VGPU_LOG=debug trace shows a value of p (guest/common/impl/log.h, vg_targ_kind). */
function traceKind(p: Param): string {
  const info = p.info!;
  if (info.kind === 'handle') return 'VG_TA_PTR';
  if (info.kind === 'devptr' || /flags?$/i.test(p.name)) return 'VG_TA_HEX';
  if (p.base === 'size_t' && /size|bytes|bytecount/i.test(p.name)) return 'VG_TA_SIZE';
  return info.kind === 'i32' ? 'VG_TA_INT' : 'VG_TA_UINT';
}

/** The trace call describing value `expr` of p, as an argument (out 0) or an output (out 1). */
function traceArg(p: Param, expr: string, out: 0 | 1): string {
  if (p.info!.kind === 'f32') return `vg_targ_f32(&c.trace, ${out}, "${p.name}", ${expr});`;
  const v = p.info!.kind === 'handle' ? `(uint64_t)(uintptr_t)${expr}` : `(uint64_t)${expr}`;
  return `vg_targ(&c.trace, ${out}, ${traceKind(p)}, "${p.name}", ${v});`;
}

function isOutput(p: Param): boolean {
  return p.pointer === 1 && (p.anno.out || p.anno.inout);
}

function remoteStub(fn: FnSpec): string {
  const sig = fn.params.length ? fn.params.map((p) => `${p.ctype}${p.ctype.endsWith('*') ? '' : ' '}${p.name}`).join(', ') : 'void';
  const lines: string[] = [];
  for (const p of fn.params) {
    if (isOutput(p) && !p.anno.optional) lines.push(`  if (${p.name} == NULL) return CUDA_ERROR_INVALID_VALUE;`);
  }
  const flags = [fn.async ? 'VG_CALL_ASYNC' : '', fn.sync ? 'VG_CALL_SYNC' : ''].filter(Boolean).join(' | ') || '0';
  // Coherent memory (guest/cuda/impl/coherent.c) is freed by the guest, which knows its mirror; a
  // free that takes a stream is stream-ordered.
  const streamOrdered = fn.params.some((q) => q.base === 'CUstream') ? 1 : 0;
  for (const p of fn.params.filter((q) => q.anno.free)) {
    lines.push(`  { CUresult fr; if (vg_coherent_free_hook(${p.name}, ${streamOrdered}, &fr)) return fr; }`);
  }
  lines.push('  vg_call c;');
  lines.push(`  CUresult r = vg_call_begin(&c, VG_OP_${fn.name}, ${flags});`);
  lines.push('  if (r != CUDA_SUCCESS) return r;');
  const traced = fn.params.filter((p) => p.pointer === 0 || p.anno.inout);
  if (traced.length === 0) {
    lines.push('  if (vg_call_tracing(&c)) vg_targs_begin(&c.trace);');
  } else {
    lines.push('  if (vg_call_tracing(&c)) {');
    lines.push('    vg_targs_begin(&c.trace);');
    for (const p of traced) lines.push(`    ${traceArg(p, p.pointer === 0 ? p.name : `*${p.name}`, 0)}`);
    lines.push('  }');
  }
  for (const p of fn.params) {
    if (p.pointer === 0) lines.push(`  ${putCall(p)}`);
    else if (p.anno.inout) lines.push(`  ${putCall({ ...p, name: `*${p.name}` })}`);
  }
  lines.push('  r = vg_call_invoke(&c);');
  const outs = fn.params.filter(isOutput);
  const destroys = fn.params.filter((p) => p.pointer === 0 && p.anno.destroy);
  if (outs.length || destroys.length) {
    lines.push('  if (r == CUDA_SUCCESS) {');
    for (const p of outs) {
      if (p.anno.optional) {
        lines.push(`    ${p.base} v_${p.name} = ${getExpr(p)};`);
        lines.push(`    if (${p.name} != NULL) *${p.name} = v_${p.name};`);
        lines.push(`    if (vg_call_tracing(&c)) ${traceArg(p, `v_${p.name}`, 1)}`);
      } else {
        lines.push(`    *${p.name} = ${getExpr(p)};`);
        lines.push(`    if (vg_call_tracing(&c)) ${traceArg(p, `*${p.name}`, 1)}`);
      }
    }
    for (const p of destroys) lines.push(`    vg_handle_release(${p.name});`);
    lines.push('  }');
  }
  lines.push('  return vg_call_end(&c, r);');
  return `${EXPORT} CUresult ${fn.name}(${sig})\n{\n${lines.join('\n')}\n}\n`;
}

export function emitStubs(fns: FnSpec[], banner: string): string {
  const remote = fns.filter((f) => f.status === 'remote');
  const undefs = remote.map((f) => `#undef ${f.name}`).join('\n');
  return `${banner}
/* The guest side of every VG_REMOTE entry of spec/cuda.spec.h. */
#include <stddef.h>
#include <stdint.h>
#include "rpc.h"
#include "ops.h"
#include "coherent.h"

#define ${EXPORT} __attribute__((visibility("default")))

/* cuda.h maps some names to newer ABIs with macros; these definitions are the real symbols. */
${undefs}

${remote.map(remoteStub).join('\n')}`;
}

export function emitUnsupported(names: string[], banner: string): string {
  // No cuda.h here: each stub takes no arguments and returns NOT_SUPPORTED, which is ABI-compatible
  // with every real prototype on x86-64 and aarch64 (arguments are ignored, the int result is the
  // CUresult).
  const body = names.map((n) => `${EXPORT} int ${n}(void) { return vg_unsupported("${n}"); }`).join('\n');
  return `${banner}
/* Entry points of NVIDIA's libcuda.so.1 that vgpu does not implement: each returns
 * CUDA_ERROR_NOT_SUPPORTED and logs once (docs/compatibility.md lists them). */
#define ${EXPORT} __attribute__((visibility("default")))

extern int vg_unsupported(const char *name);

${body}
`;
}

export function emitOpsHeader(fns: FnSpec[], banner: string): string {
  const withId = fns.filter((f) => f.id !== undefined && f.status !== 'custom-alias').sort((a, b) => a.id! - b.id!);
  const defs = withId.map((f) => `#define VG_OP_${f.name} 0x${f.id!.toString(16).padStart(4, '0')}u`).join('\n');
  return `${banner}
/* Wire ids of forwarded functions (docs/protocol.md). */
#ifndef VG_GEN_OPS_H
#define VG_GEN_OPS_H

#include <stdint.h>

${defs}

/* Name of a wire id for tracing; "?" for an unknown id. */
const char *vg_op_name(uint32_t op);

#endif
`;
}

/** The guest's handle kinds (guest/common/impl/handles.h tags handle values with them). Local to
 * the guest: the wire carries remote ids, never these numbers. */
export function emitHandleKinds(banner: string): string {
  const kinds = HANDLE_KINDS.map((h, i) => `  ${guestHandleEnum(h.kind)} = ${i + 1}, /* ${h.cType} */`).join('\n');
  return `${banner}
/* Kinds of the guest's tagged handles, in the order of src/protocol/handles.ts. */
#ifndef VG_GEN_HANDLE_KINDS_H
#define VG_GEN_HANDLE_KINDS_H

typedef enum vg_hkind {
  VG_H_NONE = 0,
${kinds}
  VG_H_KIND_COUNT
} vg_hkind;

#endif
`;
}

export function emitOpsSource(fns: FnSpec[], banner: string): string {
  const withId = fns.filter((f) => f.id !== undefined && f.status !== 'custom-alias').sort((a, b) => a.id! - b.id!);
  const cases = withId.map((f) => `  case 0x${f.id!.toString(16).padStart(4, '0')}u: return "${f.name}";`).join('\n');
  return `${banner}
#include "ops.h"

const char *vg_op_name(uint32_t op)
{
  switch (op) {
${cases}
  default: return "?";
  }
}
`;
}

/** vgpu's own symbols, beside NVIDIA's: the doctor's entry point and the marker that tells
 * vgpu-doctor this libcuda.so.1 is vgpu's (docs/guest.md, "Checking a guest"). */
export const VGPU_EXPORTS = ['vgpu_doctor_report', 'vgpu_guest_library'] as const;

export function emitExportsMap(names: string[], banner: string): string {
  const body = [...names].sort().map((n) => `    ${n};`).join('\n');
  return `/* ${banner.replace(/^\/\*\s*|\s*\*\/$/g, '')} */
/* The only symbols libcuda.so.1 exports: NVIDIA's driver entry points, and vgpu's own two. */
{
  global:
${body}
${VGPU_EXPORTS.map((n) => `    ${n};`).join('\n')}
  local:
    *;
};
`;
}

/** Every name NVIDIA's libcuda.so.1 exports, for the doctor's symbol check (guest/cuda/impl/doctor.c). */
export function emitNvidiaExports(names: string[], banner: string): string {
  const sorted = [...names].sort();
  return `${banner}
/* Every symbol NVIDIA's libcuda.so.1 exports (spec/ref/libcuda_exported_versioned_names.txt). */
#include <stddef.h>

#include "doctor.h"

const char *const vg_nvidia_exports[] = {
${sorted.map((n) => `    "${n}",`).join('\n')}
};
const size_t vg_nvidia_export_count = sizeof vg_nvidia_exports / sizeof vg_nvidia_exports[0];
`;
}
