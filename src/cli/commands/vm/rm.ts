// vgpu-admin vm rm NAME: removes a VM; its token stops working at once, and a running mediator
// ends the VM's sessions.

import type { CommandContext } from '../../context.js';


export async function run(ctx: CommandContext, name: string): Promise<void> {
  const { vm, sessionsEnded } = await (await ctx.ops()).removeVm(name);
  if (ctx.json) {
    ctx.result({ removed: vm, sessionsEnded });
    return;
  }
  const ended = sessionsEnded > 0 ? `; ${sessionsEnded} running session${sessionsEnded === 1 ? '' : 's'} ended` : '';
  ctx.line(`removed VM ${vm.name}; its token no longer admits new connections${ended}`);
}
