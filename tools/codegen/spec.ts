// Reads spec/cuda.spec.h (docs/spec-language.md) into a checked model. Any entry the generator
// cannot understand is an error naming file and line: nothing is skipped or guessed.

import { cTypeInfo, type CTypeInfo } from './ctypes.js';

export type FnStatus = 'remote' | 'custom' | 'custom-alias' | 'local' | 'private';

export interface ParamAnno {
  out: boolean;
  inout: boolean;
  optional: boolean;
  nullable: boolean;
  alloc?: string; // size expression
  free: boolean;
  isNew: boolean;
  destroy: boolean;
  range?: string; // size expression
  inBytes?: string;
  outBytes?: string;
  inArray?: string;
  outArray?: string;
  string: boolean;
  outString?: string;
}

export interface Param {
  name: string;
  /** C type as written, without the parameter name, e.g. `const void *`. */
  ctype: string;
  /** Base type with qualifiers and pointer stars removed, e.g. `CUdeviceptr`. */
  base: string;
  pointer: number;
  isConst: boolean;
  anno: ParamAnno;
  /** Wire info of the base type (for pointers: of the pointee). */
  info: CTypeInfo | undefined;
}

export interface FnSpec {
  name: string;
  status: FnStatus;
  id?: number;
  async: boolean;
  sync: boolean;
  /** VG_WORK: the call puts device work on a stream, which the executor times. */
  work: boolean;
  /** VG_CAPTURE_BEGIN / VG_CAPTURE_END: the call starts or ends a stream capture. */
  capture?: 'begin' | 'end';
  params: Param[];
  /** Prototype text without annotations, as in cuda.h. */
  prototype: string;
  line: number;
  family: string;
}

export class SpecError extends Error {}

const FN_ANNOS = new Set(['VG_REMOTE', 'VG_CUSTOM', 'VG_CUSTOM_ALIAS', 'VG_PRIVATE', 'VG_LOCAL', 'VG_UNSUPPORTED', 'VG_ASYNC', 'VG_SYNC',
  'VG_WORK', 'VG_CAPTURE_BEGIN', 'VG_CAPTURE_END']);
const PARAM_ANNOS = new Set([
  'VG_OUT', 'VG_INOUT', 'VG_OPTIONAL', 'VG_IN_ARRAY', 'VG_OUT_ARRAY', 'VG_IN_BYTES', 'VG_OUT_BYTES', 'VG_STRING',
  'VG_OUT_STRING', 'VG_RANGE', 'VG_ALLOC', 'VG_FREE', 'VG_NEW', 'VG_DESTROY', 'VG_NULLABLE',
]);

/** Family of a function for the name->file rule (ZLUDA style): cuMemAlloc -> memory. */
export function familyOf(name: string): string {
  const rules: Array<[RegExp, string]> = [
    [/^cu(DevicePrimaryCtx|Ctx)/, 'context'],
    [/^cuDevice/, 'device'],
    [/^cuMem/, 'memory'],
    [/^cuStream/, 'stream'],
    [/^cuEvent/, 'event'],
    [/^cu(Module|Library|Kernel|Func|Launch|Occupancy)/, 'module'],
    [/^cuGraph/, 'graph'],
    [/^cu(Init|DriverGetVersion|GetErrorName|GetErrorString|GetProcAddress|GetExportTable)/, 'driver'],
  ];
  for (const [re, fam] of rules) if (re.test(name)) return fam;
  return 'other';
}

function stripComments(src: string): string {
  // Keep newlines so line numbers stay right.
  return src.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

/** Splits at top-level commas (annotation arguments may contain commas inside parentheses). */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') parts.push(cur);
  return parts.map((p) => p.trim());
}

interface Anno {
  name: string;
  arg?: string;
}

/** Takes leading annotation macros off a string: `VG_OUT VG_RANGE(n) T x` -> [[OUT, RANGE(n)], 'T x']. */
function takeAnnos(s: string, allowed: Set<string>, where: string): [Anno[], string] {
  const annos: Anno[] = [];
  let rest = s.trim();
  for (;;) {
    const m = /^(VG_[A-Z_]+)\s*/.exec(rest);
    if (!m) break;
    const name = m[1]!;
    if (!allowed.has(name)) throw new SpecError(`${where}: annotation ${name} is not allowed here`);
    rest = rest.slice(m[0].length);
    let arg: string | undefined;
    if (rest.startsWith('(')) {
      let depth = 0;
      let i = 0;
      for (; i < rest.length; i++) {
        if (rest[i] === '(') depth++;
        else if (rest[i] === ')' && --depth === 0) break;
      }
      if (depth !== 0 || i >= rest.length) throw new SpecError(`${where}: unbalanced parentheses after ${name}`);
      arg = rest.slice(1, i).trim();
      rest = rest.slice(i + 1).trim();
    }
    annos.push(arg === undefined ? { name } : { name, arg });
  }
  return [annos, rest];
}

function parseParam(text: string, where: string, paramNames: Set<string>): Param {
  const [annos, decl] = takeAnnos(text, PARAM_ANNOS, where);
  const m = /^(.*?)([A-Za-z_][A-Za-z0-9_]*)$/.exec(decl.replace(/\s+/g, ' ').trim());
  if (!m) throw new SpecError(`${where}: cannot read parameter '${text}'`);
  const ctype = m[1]!.trim();
  const name = m[2]!;
  const pointer = (ctype.match(/\*/g) ?? []).length;
  const isConst = /\bconst\b/.test(ctype);
  const base = ctype.replace(/\bconst\b/g, '').replace(/\*/g, '').replace(/\s+/g, ' ').trim();
  if (base === '') throw new SpecError(`${where}: parameter '${text}' has no type`);
  const anno: ParamAnno = {
    out: false, inout: false, optional: false, nullable: false, free: false, isNew: false, destroy: false, string: false,
  };
  for (const a of annos) {
    const needArg = (): string => {
      if (!a.arg) throw new SpecError(`${where}: ${a.name} needs an argument`);
      for (const id of a.arg.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) {
        if (!paramNames.has(id)) throw new SpecError(`${where}: ${a.name}(${a.arg}) names '${id}', which is not a parameter`);
      }
      return a.arg;
    };
    switch (a.name) {
      case 'VG_OUT': anno.out = true; break;
      case 'VG_INOUT': anno.inout = true; break;
      case 'VG_OPTIONAL': anno.optional = true; break;
      case 'VG_NULLABLE': anno.nullable = true; break;
      case 'VG_FREE': anno.free = true; break;
      case 'VG_NEW': anno.isNew = true; break;
      case 'VG_DESTROY': anno.destroy = true; break;
      case 'VG_STRING': anno.string = true; break;
      case 'VG_ALLOC': anno.alloc = needArg(); break;
      case 'VG_RANGE': anno.range = needArg(); break;
      case 'VG_IN_BYTES': anno.inBytes = needArg(); break;
      case 'VG_OUT_BYTES': anno.outBytes = needArg(); break;
      case 'VG_IN_ARRAY': anno.inArray = needArg(); break;
      case 'VG_OUT_ARRAY': anno.outArray = needArg(); break;
      case 'VG_OUT_STRING': anno.outString = needArg(); break;
      default: throw new SpecError(`${where}: unknown annotation ${a.name}`);
    }
  }
  return { name, ctype, base, pointer, isConst, anno, info: cTypeInfo(base) };
}

/** Checks that a forwarded function is fully described: every parameter has a wire meaning. */
function checkForwarded(fn: FnSpec, where: string): void {
  for (const p of fn.params) {
    const at = `${where}: ${fn.name}(${p.name})`;
    const a = p.anno;
    if (p.pointer === 0) {
      if (!p.info) throw new SpecError(`${at}: type '${p.base}' has no wire encoding (add it to tools/codegen/ctypes.ts)`);
      if (a.out || a.inout) throw new SpecError(`${at}: VG_OUT on a non-pointer`);
      if ((a.range || a.free) && p.base !== 'CUdeviceptr') throw new SpecError(`${at}: VG_RANGE/VG_FREE only apply to CUdeviceptr`);
      if ((a.isNew || a.destroy) && p.info.kind !== 'handle') throw new SpecError(`${at}: VG_NEW/VG_DESTROY only apply to handles`);
      continue;
    }
    if (p.pointer === 1 && (a.out || a.inout)) {
      if (!p.info) throw new SpecError(`${at}: pointee type '${p.base}' has no wire encoding`);
      if (a.alloc && p.base !== 'CUdeviceptr') throw new SpecError(`${at}: VG_ALLOC only applies to CUdeviceptr outputs`);
      if (a.isNew && p.info.kind !== 'handle') throw new SpecError(`${at}: VG_NEW only applies to handle outputs`);
      if (p.info.kind === 'handle' && !a.isNew && a.out) {
        throw new SpecError(`${at}: an output handle must be VG_NEW (the executor registers it)`);
      }
      continue;
    }
    if (a.inBytes || a.outBytes || a.string || a.outString || a.inArray || a.outArray) {
      throw new SpecError(`${at}: buffer annotations are reserved for VG_CUSTOM entries in protocol v1`);
    }
    throw new SpecError(`${at}: pointer parameter without VG_OUT/VG_INOUT/VG_*_BYTES annotation`);
  }
}

export function parseSpec(src: string, file: string): FnSpec[] {
  const text = stripComments(src);
  const fns: FnSpec[] = [];
  const names = new Set<string>();
  const ids = new Map<number, string>();
  // Each entry is one statement that starts with a VG_ annotation and ends with ';'.
  const re = /(^|\n)\s*(VG_[\s\S]*?;)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const stmt = m[2]!;
    const line = text.slice(0, m.index + m[0].length - stmt.length).split('\n').length;
    const where = `${file}:${line}`;
    const [annos, rest] = takeAnnos(stmt, FN_ANNOS, where);
    const pm = /^CUresult\s+(?:CUDAAPI\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\(([\s\S]*)\)\s*;$/.exec(rest.trim());
    if (!pm) throw new SpecError(`${where}: expected 'CUresult name(params);' after the annotations`);
    const name = pm[1]!;
    if (names.has(name)) throw new SpecError(`${where}: ${name} is described twice`);
    names.add(name);
    const rawParams = pm[2]!.trim();
    const paramTexts = rawParams === 'void' || rawParams === '' ? [] : splitTopLevel(rawParams);
    const paramNames = new Set(
      paramTexts.map((t) => /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(t)?.[1] ?? ''),
    );
    let status: FnStatus | undefined;
    let id: number | undefined;
    let isAsync = false;
    let isSync = false;
    let work = false;
    let capture: 'begin' | 'end' | undefined;
    for (const a of annos) {
      const setStatus = (s: FnStatus): void => {
        if (status) throw new SpecError(`${where}: ${name} has two status annotations`);
        status = s;
      };
      switch (a.name) {
        case 'VG_REMOTE': setStatus('remote'); break;
        case 'VG_CUSTOM': setStatus('custom'); break;
        case 'VG_CUSTOM_ALIAS': setStatus('custom-alias'); break;
        case 'VG_PRIVATE': setStatus('private'); break;
        case 'VG_LOCAL': setStatus('local'); break;
        case 'VG_UNSUPPORTED':
          throw new SpecError(`${where}: VG_UNSUPPORTED entries are implied; delete the entry instead`);
        case 'VG_ASYNC': isAsync = true; break;
        case 'VG_SYNC': isSync = true; break;
        case 'VG_WORK': work = true; break;
        case 'VG_CAPTURE_BEGIN': capture = 'begin'; break;
        case 'VG_CAPTURE_END': capture = 'end'; break;
      }
      if (a.name === 'VG_REMOTE' || a.name === 'VG_CUSTOM' || a.name === 'VG_CUSTOM_ALIAS' || a.name === 'VG_PRIVATE') {
        if (!a.arg || !/^0x[0-9a-fA-F]{1,4}$/.test(a.arg)) throw new SpecError(`${where}: ${a.name} needs a hex wire id like 0x0210`);
        id = parseInt(a.arg, 16);
        if (id === 0) throw new SpecError(`${where}: wire id 0 is reserved`);
      }
    }
    if (!status) throw new SpecError(`${where}: ${name} has no status annotation (VG_REMOTE, VG_CUSTOM, VG_LOCAL)`);
    if (isAsync && isSync) throw new SpecError(`${where}: ${name} cannot be both VG_ASYNC and VG_SYNC`);
    if (status === 'local' && (isAsync || isSync)) throw new SpecError(`${where}: VG_ASYNC/VG_SYNC make no sense on VG_LOCAL`);
    if (status === 'private' && name.startsWith('cu')) throw new SpecError(`${where}: VG_PRIVATE ops are vgpu's own; name them vg..., not ${name}`);
    if (id !== undefined && (status === 'remote' || status === 'custom' || status === 'private')) {
      const prev = ids.get(id);
      if (prev) throw new SpecError(`${where}: wire id 0x${id.toString(16)} of ${name} is already used by ${prev}`);
      ids.set(id, name);
    }
    const params = paramTexts.map((t) => parseParam(t, where, paramNames));
    const prototype = `CUresult ${name}(${params.length ? params.map((p) => `${p.ctype}${p.ctype.endsWith('*') ? '' : ' '}${p.name}`).join(', ') : 'void'})`;
    const fn: FnSpec = { name, status, async: isAsync, sync: isSync, work, params, prototype, line, family: familyOf(name) };
    if (id !== undefined) fn.id = id;
    if (capture) fn.capture = capture;
    if ((work || capture) && status !== 'remote') {
      throw new SpecError(`${where}: VG_WORK/VG_CAPTURE_* apply to VG_REMOTE entries (hand-written handlers call the clock themselves)`);
    }
    const streams = params.filter((p) => p.pointer === 0 && p.info?.kind === 'handle' && p.info.handle === 'stream');
    if (streams.length > 1 && (work || capture)) throw new SpecError(`${where}: ${name} has more than one CUstream; VG_WORK/VG_CAPTURE_* need one`);
    if (capture && streams.length === 0) throw new SpecError(`${where}: VG_CAPTURE_* needs a CUstream parameter`);
    if (status === 'remote') checkForwarded(fn, where);
    fns.push(fn);
  }
  for (const fn of fns) {
    if (fn.status === 'custom-alias' && !fns.some((f) => f.status === 'custom' && f.id === fn.id)) {
      throw new SpecError(`${file}:${fn.line}: ${fn.name} aliases wire id 0x${fn.id?.toString(16)}, which no VG_CUSTOM entry has`);
    }
  }
  if (fns.length === 0) throw new SpecError(`${file}: no entries found`);
  return fns;
}
