// vgpu-admin vm add NAME: creates a VM and its token.

import type { CommandContext } from '../../context.js';
import { vmSummary } from '../../output.js';
import { vmPatchOf, type VmSettingOptions } from '../../parse.js';

export interface VmAddOptions extends VmSettingOptions {
  printToken?: boolean;
}

export async function run(ctx: CommandContext, name: string, o: VmAddOptions): Promise<void> {
  const { vm, token } = await (await ctx.ops()).addVm({ name, ...vmPatchOf(o) });
  if (ctx.json) {
    ctx.result(o.printToken ? { vm, token } : { vm });
    return;
  }
  ctx.line(`created VM ${vm.name} (${vmSummary(vm)})`);
  if (o.printToken) {
    // Last line, alone, so scripts can take it with `tail -n 1`.
    ctx.line('token (shown only now; give it to the guest as VGPU_TOKEN):');
    ctx.line(token);
    return;
  }
  ctx.line('its token was not printed, and cannot be shown later (only a hash is stored).');
  ctx.line(`to issue one, run: vgpu-admin vm token ${vm.name} --rotate`);
}
