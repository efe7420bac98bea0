// vgpu-admin session list: the running mediator's guest sessions.

import { formatSize } from '../../../common/size.js';
import type { CommandContext } from '../../context.js';
import { shortTime, table } from '../../output.js';

export async function run(ctx: CommandContext): Promise<void> {
  const sessions = await (await ctx.ops()).listSessions();
  if (ctx.json) {
    ctx.result(sessions);
    return;
  }
  if (sessions.length === 0) {
    ctx.line('no sessions');
    return;
  }
  const rows = sessions.map((s) => [
    String(s.id), s.vm, s.state, `${s.hostname}:${s.guestPid}`, s.program, formatSize(s.memoryUsed),
    String(s.calls), `${(s.deviceTimeNs / 1e9).toFixed(3)}s`, shortTime(s.startedAt),
    s.devices.map((d) => d.guestUuid).join(', ') || '-',
    s.devices.map((d) => `${d.gpuOrdinal} ${d.gpu}`).join(', ') || '-',
  ]);
  // The guest sees UUIDs of its own (made per VM and vGPU, docs/operations.md); the last two
  // columns map each to the host GPU that `gpu list` shows.
  const header = ['ID', 'VM', 'STATE', 'GUEST', 'PROGRAM', 'MEMORY', 'CALLS', 'DEVICE', 'STARTED', 'GUEST GPU UUID', 'HOST GPU'];
  for (const l of table(header, rows)) ctx.line(l);
}
