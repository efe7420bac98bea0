// vgpu-admin operator add NAME: a new operator of the admin API and its token, shown this once.

import type { CommandContext } from '../../context.js';

export async function run(ctx: CommandContext, name: string): Promise<void> {
  const { operator, token } = await (await ctx.ops()).addOperator(name);
  if (ctx.json) {
    ctx.result({ operator, token });
    return;
  }
  ctx.line(`created operator ${operator.name}; give them this token (shown only now) for --token or VGPU_ADMIN_TOKEN:`);
  ctx.line(token);
}
