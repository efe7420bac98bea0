// vgpu-admin pool list: the pools and the GPUs each names.

import type { CommandContext } from '../../context.js';
import { table } from '../../output.js';

export function run(ctx: CommandContext): void {
  const store = ctx.store();
  const pools = store.listPools();
  const vms = store.listVms();
  if (ctx.json) {
    ctx.result(pools.map((p) => ({ name: p.name, gpuUuids: p.gpuUuids, vms: vms.filter((v) => v.pool === p.name).length })));
    return;
  }
  const rows = pools.map((p) => [
    p.name,
    String(vms.filter((v) => v.pool === p.name).length),
    p.gpuUuids.length > 0 ? p.gpuUuids.join(',') : p.name === 'default' ? '(every GPU no other pool names)' : '(none)',
  ]);
  for (const l of table(['POOL', 'VMS', 'GPUS'], rows)) ctx.line(l);
}
