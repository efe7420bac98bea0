// The wire encoding of each C type the spec may use. A type missing here makes the generator fail
// with the spec's file and line: add it deliberately, with its size and signedness.

export type WireKind = 'u32' | 'i32' | 'u64' | 'f32' | 'handle' | 'devptr';

export interface CTypeInfo {
  kind: WireKind;
  /** For handles: the guest handle kind (guest/cuda/gen/handle-kinds.h) and executor table kind. */
  handle?: HandleKind;
}

import { HANDLE_KINDS, type HandleKind } from '../../src/protocol/handles.js';

export type { HandleKind };

/** CUDA handle type -> kind, from the one list of kinds (src/protocol/handles.ts). */
export const HANDLE_TYPES: ReadonlyMap<string, HandleKind> = new Map(HANDLE_KINDS.map((h) => [h.cType, h.kind]));

const SCALARS: Record<string, WireKind> = {
  int: 'i32',
  'unsigned int': 'u32',
  'unsigned char': 'u32',
  'unsigned short': 'u32',
  CUdevice: 'i32',
  size_t: 'u64',
  'unsigned long long': 'u64',
  cuuint64_t: 'u64',
  cuuint32_t: 'u32',
  float: 'f32',
  CUdeviceptr: 'devptr',
  // Enums are 4 bytes in the CUDA ABI.
  CUlimit: 'u32',
  CUdevice_attribute: 'u32',
  CUdevice_P2PAttribute: 'u32',
  CUfunction_attribute: 'u32',
  CUstreamCaptureMode: 'u32',
  CUfunc_cache: 'u32',
  CUsharedconfig: 'u32',
  CUpointer_attribute: 'u32',
  CUstreamCaptureStatus: 'u32',
  CUgraphNodeType: 'u32',
  CUmemPool_attribute: 'u32',
  CUmemAllocationGranularity_flags: 'u32',
  CUmemAllocationHandleType: 'u32',
  CUmemGenericAllocationHandle: 'u64',
  CUtexObject: 'u64',
  CUsurfObject: 'u64',
};

export function cTypeInfo(base: string): CTypeInfo | undefined {
  const h = HANDLE_TYPES.get(base);
  if (h) return { kind: 'handle', handle: h };
  const k = SCALARS[base];
  return k ? { kind: k } : undefined;
}

/** Guest C enum name of a handle kind (guest/cuda/gen/handle-kinds.h). */
export function guestHandleEnum(h: HandleKind): string {
  return `VG_H_${h.toUpperCase()}`;
}

/** Bytes a wire kind takes. */
export function wireSize(k: WireKind): number {
  return k === 'u64' || k === 'handle' || k === 'devptr' ? 8 : 4;
}
