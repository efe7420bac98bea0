// vgpu-admin vm list (and show-vms): every VM, one per line.

import type { CommandContext } from '../../context.js';
import { memoryText, shortTime, table } from '../../output.js';

export async function run(ctx: CommandContext): Promise<void> {
  const vms = await (await ctx.ops()).listVms();
  if (ctx.json) {
    ctx.result(vms);
    return;
  }
  if (vms.length === 0) {
    ctx.line(`no VMs in ${ctx.stateDir}; add one with: vgpu-admin vm add NAME`);
    return;
  }
  const rows = vms.map((v) => [
    v.name, v.pool, v.priority, String(v.weight), memoryText(v.memoryQuota), String(v.vgpus), shortTime(v.createdAt),
  ]);
  for (const l of table(['NAME', 'POOL', 'PRIORITY', 'WEIGHT', 'MEMORY', 'VGPUS', 'CREATED'], rows)) ctx.line(l);
}
