// vgpu-admin operator rm NAME: removes an operator; its token stops working at once.

import type { CommandContext } from '../../context.js';

export async function run(ctx: CommandContext, name: string): Promise<void> {
  const operator = await (await ctx.ops()).removeOperator(name);
  if (ctx.json) {
    ctx.result({ removed: operator });
    return;
  }
  ctx.line(`removed operator ${operator.name}; its token no longer works`);
}
