// vgpu-admin gpu list: the GPUs this host has seen, their pool, and (with a running mediator)
// whether they are present, how many sessions run on each, and their telemetry: memory in use,
// utilization, and temperature and power where the host's NVML reads them (docs/operations.md,
// GPU telemetry; `-` where nothing measured them, as on softgpu).

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
  const rows = gpus.map((g) => {
    const t = g.telemetry;
    return [
      g.uuid, g.name, g.backend, formatSize(g.totalMemory), g.pool,
      live ? (g.present ? String(g.ordinal) : 'absent') : '-',
      live ? String(g.sessions) : '-',
      t ? formatSize(t.memory.used) : '-',
      t ? `${t.utilization.gpuPercent}%` : '-',
      t?.temperatureC !== undefined ? `${t.temperatureC} C` : '-',
      t?.powerW !== undefined ? `${Math.round(t.powerW)} W` : '-',
    ];
  });
  for (const l of table(['UUID', 'NAME', 'BACKEND', 'MEMORY', 'POOL', 'ORDINAL', 'SESSIONS', 'USED', 'UTIL', 'TEMP', 'POWER'], rows)) ctx.line(l);
  if (!live) ctx.line('(no mediator running: presence and sessions unknown)');
}
