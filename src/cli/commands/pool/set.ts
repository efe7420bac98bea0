// vgpu-admin pool set NAME --gpu UUID... | --no-gpus: replaces the GPUs a pool names. Running
// sessions keep the GPUs they were placed on; new sessions use the new set.

import { VgpuError } from '../../../common/errors.js';
import type { CommandContext } from '../../context.js';
import { poolLine } from '../../output.js';

export interface PoolSetOptions {
  gpu?: string[];
  gpus?: boolean;
}

export async function run(ctx: CommandContext, name: string, o: PoolSetOptions): Promise<void> {
  const given = o.gpu ?? [];
  // commander sets gpus=false for --no-gpus; it is true (its default) otherwise.
  const none = o.gpus === false;
  if (none && given.length > 0) throw new VgpuError('VGPU_ERR_USAGE', { detail: '--gpu and --no-gpus contradict each other' });
  if (!none && given.length === 0) {
    throw new VgpuError('VGPU_ERR_USAGE', { detail: 'nothing to change: give the pool\'s GPUs with --gpu UUID (repeatable), or --no-gpus' });
  }
  const pool = await (await ctx.ops()).setPool(name, { gpuUuids: given });
  if (ctx.json) {
    ctx.result(pool);
    return;
  }
  ctx.line(`updated ${poolLine(pool)}; running sessions keep their GPUs`);
}
