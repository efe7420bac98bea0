// vgpu-admin vm add NAME: creates a VM and its token.

import type { CommandContext } from '../../context.js';
import { vmJson, vmSummary } from '../../output.js';
import { parseCount, parseMemoryOption, parseNullable, parsePriority } from '../../parse.js';

export interface VmAddOptions {
  priority?: string;
  pool?: string;
  memory?: string;
  weight?: string;
  vgpus?: string;
  pciBusId?: string;
  notes?: string;
  printToken?: boolean;
}

export async function run(ctx: CommandContext, name: string, o: VmAddOptions): Promise<void> {
  const { vm, token } = await (await ctx.ops()).addVm({
    name,
    ...(o.priority !== undefined && { priority: parsePriority(o.priority) }),
    ...(o.pool !== undefined && { pool: o.pool }),
    ...(o.memory !== undefined && { memoryQuota: parseMemoryOption(o.memory) }),
    ...(o.weight !== undefined && { weight: parseCount('--weight', o.weight) }),
    ...(o.vgpus !== undefined && { vgpus: parseCount('--vgpus', o.vgpus) }),
    ...(o.pciBusId !== undefined && { pciBusId: parseNullable(o.pciBusId) }),
    ...(o.notes !== undefined && { notes: o.notes }),
  });
  if (ctx.json) {
    ctx.result(o.printToken ? { vm: vmJson(vm), token } : { vm: vmJson(vm) });
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
