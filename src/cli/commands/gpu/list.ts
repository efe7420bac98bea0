// vgpu-admin gpu list: the GPUs this host has seen, their pool, and (with a running mediator)
// whether they are present and how many sessions run on each.

import { formatSize } from '../../../common/size.js';
import type { CommandContext } from '../../context.js';
import { table } from '../../output.js';

export async function run(ctx: CommandContext): Promise<void> {
  const ops = await ctx.ops();
  const gpus = await ops.listGpus();
  if (ctx.json) {
    ctx.result(gpus);
    return;
  }
  if (gpus.length === 0) {
    ctx.line('no GPUs recorded yet: the mediator records its GPUs when it starts');
    return;
  }
  const live = ops.live;
  const rows = gpus.map((g) => [
    g.uuid, g.name, g.backend, formatSize(g.totalMemory), g.pool,
    live ? (g.present ? String(g.ordinal) : 'absent') : '-',
    live ? String(g.sessions) : '-',
  ]);
  for (const l of table(['UUID', 'NAME', 'BACKEND', 'MEMORY', 'POOL', 'ORDINAL', 'SESSIONS'], rows)) ctx.line(l);
  if (!live) ctx.line('(no mediator running: presence and sessions unknown)');
}
