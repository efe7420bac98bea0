// Turning option strings into the values the store takes. Only the shape of the text is checked
// here; ranges and meaning are the store's to judge, so the CLI and the HTTP API agree.

import { VgpuError } from '../common/errors.js';
import { PRIORITIES, type Priority, type VmPatch } from '../store/index.js';

/** A whole number, for --weight and --vgpus. */
export function parseCount(option: string, text: string): number {
  if (!/^\s*\d{1,9}\s*$/.test(text)) {
    throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: option, detail: `expected a whole number, got "${text}"` });
  }
  return Number(text);
}

/** --memory SIZE|none: null for none, the size text otherwise (the store parses it). */
export function parseMemoryOption(text: string): string | null {
  return text.trim().toLowerCase() === 'none' ? null : text;
}

/** --max-hold DURATION|off|default: null for the mediator's default, the text otherwise (the
 * store parses it, "off" included). */
export function parseMaxHoldOption(text: string): string | null {
  return text.trim().toLowerCase() === 'default' ? null : text;
}

/** --pci-bus-id ID|none */
export function parseNullable(text: string): string | null {
  return text.trim().toLowerCase() === 'none' ? null : text.trim();
}

/** --vsock-cid N|none (the store checks the range). */
export function parseVsockCid(text: string): number | null {
  if (text.trim().toLowerCase() === 'none') return null;
  if (!/^\s*\d{1,10}\s*$/.test(text)) {
    throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: '--vsock-cid', detail: `expected a guest CID (a whole number) or none, got "${text}"` });
  }
  return Number(text);
}

/** Priorities are lower-case in the store; accept "High" too. */
export function parsePriority(text: string): Priority {
  const p = text.trim().toLowerCase();
  const found = PRIORITIES.find((x) => x === p);
  if (!found) throw new VgpuError('VGPU_ERR_INVALID_PRIORITY', { input: text });
  return found;
}

/** The VM settings `vm add` and `vm set` take, as their options give them. */
export interface VmSettingOptions {
  priority?: string;
  pool?: string;
  memory?: string;
  weight?: string;
  vgpus?: string;
  pciBusId?: string;
  notes?: string;
  maxHold?: string;
  vsockCid?: string;
  vsockPath?: string;
  tlsClientCertSha256?: string;
  shmPath?: string;
}

/** The settings given, as the store takes them; the ones not given are left out. */
export function vmPatchOf(o: VmSettingOptions): VmPatch {
  return {
    ...(o.priority !== undefined && { priority: parsePriority(o.priority) }),
    ...(o.pool !== undefined && { pool: o.pool }),
    ...(o.memory !== undefined && { memoryQuota: parseMemoryOption(o.memory) }),
    ...(o.weight !== undefined && { weight: parseCount('--weight', o.weight) }),
    ...(o.vgpus !== undefined && { vgpus: parseCount('--vgpus', o.vgpus) }),
    ...(o.pciBusId !== undefined && { pciBusId: parseNullable(o.pciBusId) }),
    ...(o.notes !== undefined && { notes: o.notes }),
    ...(o.maxHold !== undefined && { maxHoldMs: parseMaxHoldOption(o.maxHold) }),
    ...(o.vsockCid !== undefined && { vsockCid: parseVsockCid(o.vsockCid) }),
    ...(o.vsockPath !== undefined && { vsockPath: parseNullable(o.vsockPath) }),
    ...(o.tlsClientCertSha256 !== undefined && { tlsClientCertSha256: parseNullable(o.tlsClientCertSha256) }),
    ...(o.shmPath !== undefined && { shmPath: parseNullable(o.shmPath) }),
  };
}
