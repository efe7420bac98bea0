// vgpu-admin session kill ID: ends a session. Its guest's CUDA calls fail from then on and its log
// says why (VG_WIRE_STATUS_KILLED and the reason); the executor exits and what it held is freed.

import type { CommandContext } from '../../context.js';
import { parseCount } from '../../parse.js';

export interface SessionKillOptions {
  reason?: string;
}

export async function run(ctx: CommandContext, idText: string, o: SessionKillOptions): Promise<void> {
  const id = parseCount('session id', idText);
  const s = await (await ctx.ops()).killSession(id, o.reason);
  if (ctx.json) {
    ctx.result({ killed: s });
    return;
  }
  ctx.line(`ended session ${s.id} of VM ${s.vm} (${s.program}, pid ${s.guestPid} on ${s.hostname})`);
}
