// vgpu-admin audit: the newest changes to the configuration, oldest first.

import type { CommandContext } from '../../context.js';
import { shortTime, table } from '../../output.js';
import { parseCount } from '../../parse.js';

export interface AuditOptions {
  target?: string;
  limit?: string;
}

export async function run(ctx: CommandContext, o: AuditOptions): Promise<void> {
  const limit = o.limit === undefined ? 50 : parseCount('--limit', o.limit);
  const entries = await (await ctx.ops()).audit({ target: o.target, limit: Math.max(1, limit) });
  if (ctx.json) {
    ctx.result(entries);
    return;
  }
  if (entries.length === 0) {
    ctx.line('no changes recorded');
    return;
  }
  const rows = entries.map((e) => [shortTime(e.at), e.actor, e.action, e.target, JSON.stringify(e.details)]);
  for (const l of table(['TIME', 'ACTOR', 'ACTION', 'TARGET', 'DETAILS'], rows)) ctx.line(l);
}
