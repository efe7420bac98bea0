// vgpu-admin operator list: the operators of the admin API, one per line.

import type { CommandContext } from '../../context.js';
import { shortTime, table } from '../../output.js';

export async function run(ctx: CommandContext): Promise<void> {
  const ops = await (await ctx.ops()).listOperators();
  if (ctx.json) {
    ctx.result(ops);
    return;
  }
  if (ops.length === 0) {
    ctx.line('no operators; the admin token (admin-token in the state directory) is the only way in from other hosts. Add one with: vgpu-admin operator add NAME');
    return;
  }
  for (const l of table(['NAME', 'CREATED', 'TOKEN CHANGED'], ops.map((o) => [o.name, shortTime(o.createdAt), shortTime(o.updatedAt)]))) ctx.line(l);
}
