// vgpu-admin vm set NAME --option value...: changes a VM. A running mediator applies priority and
// weight at its next dispatch decision, the quota at the next allocation and the hold limit at
// the next request to yield; pool, vGPUs, PCI id, the vsock and client-certificate bindings and
// the shared memory file apply to sessions that start after the change.

import { VgpuError } from '../../../common/errors.js';
import type { VmView } from '../../../admin/schemas.js';
import type { CommandContext } from '../../context.js';
import { maxHoldText, memoryText } from '../../output.js';
import { vmPatchOf, type VmSettingOptions } from '../../parse.js';

export async function run(ctx: CommandContext, name: string, o: VmSettingOptions): Promise<void> {
  const patch = vmPatchOf(o);
  if (Object.keys(patch).length === 0) {
    throw new VgpuError('VGPU_ERR_USAGE', {
      detail: 'nothing to change: give at least one of --priority, --pool, --memory, --weight, --vgpus, --pci-bus-id, --notes, --max-hold, --vsock-cid, --vsock-path, --tls-client-cert-sha256, --shm-path',
    });
  }
  const { before, after } = await (await ctx.ops()).setVm(name, patch);
  if (ctx.json) {
    ctx.result(after);
    return;
  }
  // Changes are named by their option, which is what the operator typed.
  const fields = [
    ['pool', 'pool'], ['priority', 'priority'], ['weight', 'weight'], ['memoryQuota', 'memory'],
    ['vgpus', 'vgpus'], ['pciBusId', 'pci-bus-id'], ['notes', 'notes'], ['maxHoldMs', 'max-hold'],
    ['vsockCid', 'vsock-cid'], ['vsockPath', 'vsock-path'], ['tlsClientCertSha256', 'tls-client-cert-sha256'], ['shmPath', 'shm-path'],
  ] as const;
  const show = (k: (typeof fields)[number][0], v: VmView[typeof k]): string =>
    k === 'memoryQuota' ? memoryText(v as number | null)
      : k === 'maxHoldMs' ? maxHoldText(v as number | null)
        : v === null ? 'none' : k === 'notes' ? JSON.stringify(v) : String(v);
  const changes = fields
    .filter(([k]) => before[k] !== after[k])
    .map(([k, label]) => `${label} ${show(k, before[k])} -> ${show(k, after[k])}`);
  ctx.line(changes.length === 0 ? `VM ${name} unchanged` : `updated VM ${name}: ${changes.join(', ')}`);
}
