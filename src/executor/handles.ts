export type { HandleKind } from '../protocol/handles.js';
