// vgpu-admin pool list: the pools and the GPUs each names.

import type { CommandContext } from '../../context.js';
import { table } from '../../output.js';

export async function run(ctx: CommandContext): Promise<void> {
  const pools = await (await ctx.ops()).listPools();
  if (ctx.json) {
    ctx.result(pools);
    return;
  }
  const rows = pools.map((p) => [
    p.name,
    String(p.vms),
    p.gpuUuids.length > 0 ? p.gpuUuids.join(',') : p.name === 'default' ? '(every GPU no other pool names)' : '(none)',
  ]);
  for (const l of table(['POOL', 'VMS', 'GPUS'], rows)) ctx.line(l);
}
