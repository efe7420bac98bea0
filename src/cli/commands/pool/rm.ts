// vgpu-admin pool rm NAME: removes a pool that no VM uses.

import type { CommandContext } from '../../context.js';

export async function run(ctx: CommandContext, name: string): Promise<void> {
  const pool = await (await ctx.ops()).removePool(name);
  if (ctx.json) {
    ctx.result({ removed: pool });
    return;
  }
  ctx.line(`removed pool ${pool.name}; its GPUs are in the default pool again`);
}
