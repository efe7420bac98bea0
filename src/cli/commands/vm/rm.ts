// vgpu-admin vm rm NAME: removes a VM; its token stops working at the next handshake.

import type { CommandContext } from '../../context.js';
import { vmJson } from '../../output.js';

export function run(ctx: CommandContext, name: string): void {
  const vm = ctx.store().removeVm(name);
  if (ctx.json) {
    ctx.result({ removed: vmJson(vm) });
    return;
  }
  ctx.line(`removed VM ${vm.name}; its token no longer admits new connections`);
}
