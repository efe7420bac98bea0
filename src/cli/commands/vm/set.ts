// vgpu-admin vm set NAME --option value...: changes a VM. A running mediator applies the change
// to sessions that start after it.

import { VgpuError } from '../../../common/errors.js';
import type { Vm, VmPatch } from '../../../store/index.js';
import type { CommandContext } from '../../context.js';
import { memoryText, vmJson } from '../../output.js';
import { parseCount, parseMemoryOption, parseNullable, parsePriority } from '../../parse.js';

export interface VmSetOptions {
  priority?: string;
  pool?: string;
  memory?: string;
  weight?: string;
  vgpus?: string;
  pciBusId?: string;
  notes?: string;
}

function patchOf(o: VmSetOptions): VmPatch {
  return {
    ...(o.priority !== undefined && { priority: parsePriority(o.priority) }),
    ...(o.pool !== undefined && { pool: o.pool }),
    ...(o.memory !== undefined && { memoryQuota: parseMemoryOption(o.memory) }),
    ...(o.weight !== undefined && { weight: parseCount('--weight', o.weight) }),
    ...(o.vgpus !== undefined && { vgpus: parseCount('--vgpus', o.vgpus) }),
    ...(o.pciBusId !== undefined && { pciBusId: parseNullable(o.pciBusId) }),
    ...(o.notes !== undefined && { notes: o.notes }),
  };
}

export function run(ctx: CommandContext, name: string, o: VmSetOptions): void {
  const patch = patchOf(o);
  if (Object.keys(patch).length === 0) {
    throw new VgpuError('VGPU_ERR_USAGE', {
      detail: 'nothing to change: give at least one of --priority, --pool, --memory, --weight, --vgpus, --pci-bus-id, --notes',
    });
  }
  const store = ctx.store();
  const before = store.getVm(name);
  const after = store.setVm(name, patch);
  if (ctx.json) {
    ctx.result(vmJson(after));
    return;
  }
  // Changes are named by their option, which is what the operator typed.
  const fields = [
    ['pool', 'pool'], ['priority', 'priority'], ['weight', 'weight'], ['memoryQuota', 'memory'],
    ['vgpus', 'vgpus'], ['pciBusId', 'pci-bus-id'], ['notes', 'notes'],
  ] as const;
  const show = (k: (typeof fields)[number][0], v: Vm[typeof k]): string =>
    k === 'memoryQuota' ? memoryText(v as number | null) : v === null ? 'none' : k === 'notes' ? JSON.stringify(v) : String(v);
  const changes = fields
    .filter(([k]) => before[k] !== after[k])
    .map(([k, label]) => `${label} ${show(k, before[k])} -> ${show(k, after[k])}`);
  ctx.line(changes.length === 0 ? `VM ${name} unchanged` : `updated VM ${name}: ${changes.join(', ')}`);
}
