// Kinds of driver objects the guest refers to by remote id (docs/spec-language.md), each with the
// CUDA handle type that carries it. This list is the one source: the codegen's C type table
// (tools/codegen/ctypes.ts) is derived from it and the guest's `vg_hkind` enum
// (guest/cuda/gen/handle-kinds.h) is generated from it, numbered in this order from 1.

export const HANDLE_KINDS = [
  { kind: 'context', cType: 'CUcontext' },
  { kind: 'stream', cType: 'CUstream' },
  { kind: 'event', cType: 'CUevent' },
  { kind: 'module', cType: 'CUmodule' },
  { kind: 'function', cType: 'CUfunction' },
  { kind: 'library', cType: 'CUlibrary' },
  { kind: 'kernel', cType: 'CUkernel' },
  { kind: 'graph', cType: 'CUgraph' },
  { kind: 'graphexec', cType: 'CUgraphExec' },
  { kind: 'mempool', cType: 'CUmemoryPool' },
  { kind: 'graphnode', cType: 'CUgraphNode' },
  { kind: 'array', cType: 'CUarray' },
  { kind: 'mipmappedarray', cType: 'CUmipmappedArray' },
] as const;

export type HandleKind = (typeof HANDLE_KINDS)[number]['kind'];
