// Kinds of driver objects the guest refers to by remote id (docs/spec-language.md).
export type HandleKind =
  | 'context' | 'stream' | 'event' | 'module' | 'function' | 'library' | 'kernel' | 'graph' | 'graphexec' | 'mempool';
