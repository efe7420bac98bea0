// vgpu-admin pool add NAME [--gpu UUID]...: a named set of GPUs VMs can be placed on.

import type { CommandContext } from '../../context.js';
import { poolLine } from '../../output.js';

export interface PoolAddOptions {
  gpu?: string[];
}

export async function run(ctx: CommandContext, name: string, o: PoolAddOptions): Promise<void> {
  const pool = await (await ctx.ops()).addPool({ name, gpuUuids: o.gpu ?? [] });
  if (ctx.json) {
    ctx.result(pool);
    return;
  }
  ctx.line(`created ${poolLine(pool)}`);
}
