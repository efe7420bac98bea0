// The generator: committed outputs are exactly what the spec produces, and bad specs fail with a
// message naming the file and line instead of being skipped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { generate } from '../../tools/codegen/main.js';
import { parseSpec, SpecError } from '../../tools/codegen/spec.js';
import { parseProcTable } from '../../tools/codegen/emit-procaddr.js';
import { parseCuresult } from '../../tools/codegen/emit-curesult.js';
import { parseWireStatus } from '../../tools/codegen/emit-wire-status.js';
import { emitHotOps, HOT_CUSTOM_OPS, HOT_OPS } from '../../tools/codegen/emit-hotpath.js';
import { WireStatus } from '../../src/protocol/errors.js';
import { cTypeInfo, guestHandleEnum } from '../../tools/codegen/ctypes.js';
import { HANDLE_KINDS } from '../../src/protocol/handles.js';
import { ROOT } from '../helpers/paths.js';

const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

function inputs(spec = read('spec/cuda.spec.h')) {
  return {
    spec,
    procTable: read('spec/ref/cuGetProcAddress_table.tsv'),
    exportedNames: read('spec/ref/libcuda_exported_versioned_names.txt'),
    dlsymTrace: read('spec/ref/cublas13_dlsym_trace.txt'),
    nvmlUnsupported: read('guest/nvml/impl/unsupported.c'),
    curesult: read('spec/curesult.tsv'),
    wireStatus: read('spec/wire-status.tsv'),
    protocolDoc: read('docs/protocol.md'),
  };
}

test('committed generated files match the spec (run make gen after editing spec/)', () => {
  const files = generate(inputs());
  assert.ok(files.size >= 10);
  for (const [rel, text] of files) assert.equal(read(rel), text, `${rel} is stale`);
});

test('every real driver name is exported exactly once', () => {
  const files = generate(inputs());
  const map = files.get('guest/cuda/gen/exports.map')!;
  const names = [...map.matchAll(/^\s+(cu\w+);$/gm)].map((m) => m[1]!);
  assert.equal(new Set(names).size, names.length, 'duplicate export');
  for (const n of ['cuGetProcAddress_v2', 'cuCtxCreate_v4', 'cuStreamWaitValue32', 'cuTensorMapEncodeTiled', 'cuGraphInstantiate', 'cuMemAlloc_v2']) {
    assert.ok(names.includes(n), `${n} is exported`);
  }
  const unsupported = files.get('guest/cuda/gen/unsupported.c')!;
  assert.ok(!/\bint cuMemAlloc_v2\(/.test(unsupported), 'implemented functions get no unsupported stub');
  assert.match(unsupported, /int cuStreamWaitValue32\(void\) \{ return vg_unsupported\("cuStreamWaitValue32"\); \}/);
});

test('a forwarded function validates on both sides', () => {
  const files = generate(inputs());
  const stubs = files.get('guest/cuda/gen/stubs.c')!;
  assert.match(stubs, /CUresult cuMemAlloc_v2\(CUdeviceptr \*dptr, size_t bytesize\)\n\{\n {2}if \(dptr == NULL\) return CUDA_ERROR_INVALID_VALUE;/);
  const dispatch = files.get('src/executor/gen/dispatch.ts')!;
  assert.match(dispatch, /function cuMemsetD32_v2[\s\S]*?x\.checkRange\(dstDevice, N \* 4\);/);
  assert.match(dispatch, /function cuMemFree_v2[\s\S]*?x\.checkAllocBase\(dptr\);[\s\S]*?x\.afterFree\(dptr\);/);
  assert.match(dispatch, /function cuStreamDestroy_v2[\s\S]*?x\.dropHandle\(hStream_id\);/);
});

test('every handle kind of the one list gets its CUDA type and its guest enum', () => {
  const header = generate(inputs()).get('guest/cuda/gen/handle-kinds.h')!;
  HANDLE_KINDS.forEach((h, i) => {
    assert.deepEqual(cTypeInfo(h.cType), { kind: 'handle', handle: h.kind });
    assert.match(header, new RegExp(`^  ${guestHandleEnum(h.kind)} = ${i + 1}, /\\* ${h.cType} \\*/$`, 'm'));
  });
  assert.match(header, /^ {2}VG_H_NONE = 0,\n[\s\S]*\n {2}VG_H_KIND_COUNT\n\} vg_hkind;/m);
});

test('the cuGetProcAddress table keeps versions highest first', () => {
  const rows = parseProcTable(read('spec/ref/cuGetProcAddress_table.tsv'), 't');
  const ctx = rows.find((r) => r.base === 'cuCtxGetDevice' && r.flags === 0)!;
  assert.deepEqual(ctx.versions.map((v) => v.symbol), ['cuCtxGetDevice_v2', 'cuCtxGetDevice']);
  const launch = rows.find((r) => r.base === 'cuLaunchKernel' && r.flags === 2)!;
  assert.equal(launch.versions[0]!.symbol, 'cuLaunchKernel_ptsz');
});

const bad: Array<[string, string, RegExp]> = [
  ['no status', 'CUresult cuFoo(int a);\nVG_ASYNC CUresult cuBar(int a);', /:2: cuBar has no status annotation/],
  ['unknown type', 'VG_REMOTE(0x0900) CUresult cuFoo(CUweird w);', /:1: cuFoo\(w\): type 'CUweird' has no wire encoding/],
  ['bare pointer', 'VG_REMOTE(0x0900) CUresult cuFoo(int *p);', /pointer parameter without VG_OUT/],
  ['bad size expr', 'VG_REMOTE(0x0900) CUresult cuFoo(VG_RANGE(n) CUdeviceptr p, size_t m);', /names 'n', which is not a parameter/],
  ['duplicate id', 'VG_REMOTE(0x0900) CUresult cuA(int a);\n\nVG_REMOTE(0x0900) CUresult cuB(int a);', /:3: wire id 0x900 of cuB is already used by cuA/],
  ['dangling alias', 'VG_CUSTOM_ALIAS(0x0901) CUresult cuA(int a);', /aliases wire id 0x901, which no VG_CUSTOM entry has/],
  ['output handle not NEW', 'VG_REMOTE(0x0900) CUresult cuA(VG_OUT CUstream *s);', /must be VG_NEW/],
  ['async and sync', 'VG_REMOTE(0x0900) VG_ASYNC VG_SYNC CUresult cuA(int a);', /both VG_ASYNC and VG_SYNC/],
  ['unknown annotation', 'VG_REMOTE(0x0900) CUresult cuA(VG_BOGUS int a);', /annotation VG_BOGUS is not allowed/],
  ['work on a hand-written entry', 'VG_CUSTOM(0x0900) VG_WORK CUresult cuA(CUstream s);', /VG_WORK\/VG_CAPTURE_\* apply to VG_REMOTE entries/],
  ['work on two streams', 'VG_REMOTE(0x0900) VG_WORK CUresult cuA(CUstream s, CUstream t);', /more than one CUstream/],
  ['capture without a stream', 'VG_REMOTE(0x0900) VG_CAPTURE_BEGIN CUresult cuA(int a);', /VG_CAPTURE_\* needs a CUstream/],
];
for (const [name, spec, re] of bad) {
  test(`spec error: ${name}`, () => {
    assert.throws(() => parseSpec(spec, 'spec/cuda.spec.h'), (e: unknown) => e instanceof SpecError && re.test(e.message));
  });
}

test('one CUresult table feeds the guest and softgpu, with the real driver\'s strings', () => {
  const files = generate(inputs());
  const c = files.get('common/gen/curesult.c')!;
  // A typo of NVIDIA's own, kept: the table is the driver's, not ours.
  assert.match(c, /\{"CUDA_ERROR_EXTERNAL_DEVICE", "an async error has occured in external entity outside of CUDA"\}/);
  assert.match(c, /case CUDA_ERROR_NO_DEVICE: return &rows\[\d+\];/);
  assert.match(files.get('common/gen/curesult.h')!, /#define VG_CURESULT_COUNT 101\n/);
});

test('the wire status codes come from one table: C, TypeScript and docs agree', () => {
  const rows = parseWireStatus(read('spec/wire-status.tsv'));
  const files = generate(inputs());
  const h = files.get('guest/common/gen/wire_status.h')!;
  const doc = files.get('docs/protocol.md')!;
  assert.deepEqual(Object.entries(WireStatus), rows.map((r) => [r.name, r.code]));
  for (const r of rows) {
    assert.ok(h.includes(`  VG_WIRE_STATUS_${r.name} = ${r.code}, /* ${r.meaning} */`), `C has ${r.name}`);
    assert.ok(h.includes(`case ${r.code}: return "VG_WIRE_STATUS_${r.name}";`), `C names ${r.name}`);
    assert.ok(doc.includes(`| ${r.code} | \`VG_WIRE_STATUS_${r.name}\` | ${r.meaning} |`), `docs list ${r.name}`);
  }
  assert.ok(!/VGPU_ERR_(PROTOCOL|AUTH|KILLED)/.test(doc), 'the old names, which the control plane\'s codes share, are gone');
});

const TSV_BAD: Array<[string, () => unknown, RegExp]> = [
  ['wire status: duplicate code', () => parseWireStatus('code\tname\tmeaning\n1\tA\ta\n1\tB\tb\n'), /wire-status\.tsv:3: code 1 is already used on line 2/],
  ['wire status: duplicate name', () => parseWireStatus('code\tname\tmeaning\n1\tA\ta\n2\tA\tb\n'), /:3: name A is already used/],
  ['wire status: UNKNOWN is reserved', () => parseWireStatus('code\tname\tmeaning\n9\tUNKNOWN\tx\n'), /not UNKNOWN/],
  ['wire status: missing header', () => parseWireStatus('1\tA\ta\n'), /:1: expected the header row/],
  ['curesult: bad name', () => parseCuresult('code\tname\tsource\tmessage\n1\tcudaErrorX\tdriver\tm\n'), /curesult\.tsv:2: 'cudaErrorX' is not a CUresult name/],
  ['curesult: unknown source', () => parseCuresult('code\tname\tsource\tmessage\n1\tCUDA_ERROR_X\tguess\tm\n'), /source 'guess'/],
  ['curesult: short row', () => parseCuresult('code\tname\tsource\tmessage\n1\tCUDA_ERROR_X\tdriver\n'), /expected 4 tab-separated columns/],
];
for (const [name, run, re] of TSV_BAD) {
  test(`table error: ${name}`, () => {
    assert.throws(run, (e: unknown) => e instanceof SpecError && re.test(e.message));
  });
}

test('the native hot path\'s table: every hot op with its spec id and flags; an op it cannot serve is refused', () => {
  const fns = parseSpec(read('spec/cuda.spec.h'), 'spec/cuda.spec.h');
  const header = emitHotOps(fns, '/* banner */');
  for (const name of [...HOT_OPS, ...HOT_CUSTOM_OPS]) {
    const f = fns.find((x) => x.name === name)!;
    assert.ok(header.includes(`{0x${f.id!.toString(16).padStart(4, '0')}, "${name}", ${f.async ? 1 : 0}, ${f.sync ? 1 : 0}, `), name);
  }
  // A stream handle is nullable (NULL and the legacy stream pass through) and checked by kind.
  assert.match(header, /vg_hot_handle\(c, VG_HOT_KIND_STREAM, hStream_id, 1, &hStream\)/);
  // A memset's range is its count times its element size.
  assert.match(header, /hot_cuMemsetD16_v2[\s\S]*?vg_hot_range\(c, dstDevice, N, 2\)/);
  const withPointer = parseSpec(read('spec/cuda.spec.h').replace('CUresult cuCtxSynchronize(void);', 'CUresult cuCtxSynchronize(VG_OUT int *x);'), 't.h');
  assert.throws(() => emitHotOps(withPointer, ''), /cuCtxSynchronize: parameter x cannot be served by the native hot path/);
  assert.throws(() => emitHotOps([], ''), /hot op cuCtxSynchronize is not a VG_REMOTE entry/);
});
