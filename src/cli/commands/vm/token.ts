// vgpu-admin vm token NAME --rotate: issues a new token. Without --rotate it explains why the
// current token cannot be shown, since that is what an operator typing `vm token` wants to know.

import { VgpuError } from '../../../common/errors.js';
import type { CommandContext } from '../../context.js';


export interface VmTokenOptions {
  rotate?: boolean;
}

export async function run(ctx: CommandContext, name: string, o: VmTokenOptions): Promise<void> {
  const ops = await ctx.ops();
  if (!o.rotate) {
    await ops.getVm(name); // an unknown VM is the more useful error
    throw new VgpuError('VGPU_ERR_TOKEN_NOT_RECOVERABLE', { kind: 'VM', name, command: 'vm' });
  }
  const { vm, token } = await ops.rotateToken(name);
  if (ctx.json) {
    ctx.result({ vm, token });
    return;
  }
  ctx.line(`new token for VM ${vm.name}; the previous one no longer works:`);
  ctx.line(token);
}
