// Human output: aligned tables and key/value blocks. Machine output is JSON via ctx.result().

import { formatDuration } from '../common/duration.js';
import { formatSize } from '../common/size.js';
import type { VmView } from '../admin/schemas.js';

/** Left-aligned columns separated by two spaces; no trailing blanks. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

/** "key:  value" lines with the values aligned. */
export function keyValues(pairs: ReadonlyArray<readonly [string, string]>): string[] {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${(k + ':').padEnd(w)}  ${v}`.trimEnd());
}

export function memoryText(bytes: number | null): string {
  return bytes === null ? 'none' : formatSize(bytes);
}

export function maxHoldText(ms: number | null): string {
  return ms === null ? "default (the mediator's --max-hold)" : ms === 0 ? 'off' : formatDuration(ms);
}

/** "2026-11-21 23:10Z" from an ISO time in UTC: tables show UTC, marked as ISO 8601 marks it, as the
 * logs do; the full time is in --json and `vm show`. */
export function shortTime(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]}Z` : iso;
}

export function vmSummary(vm: VmView): string {
  const gpus = vm.vgpus === 1 ? '1 vGPU' : `${vm.vgpus} vGPUs`;
  return `pool ${vm.pool}, priority ${vm.priority}, weight ${vm.weight}, memory quota ${memoryText(vm.memoryQuota)}, ${gpus}`;
}

export function poolLine(p: { name: string; gpuUuids: readonly string[] }): string {
  return `pool ${p.name} (${p.gpuUuids.length === 0 ? 'no GPUs' : p.gpuUuids.join(', ')})`;
}
