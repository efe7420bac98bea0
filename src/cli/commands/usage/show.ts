// vgpu-admin usage [--vm NAME] [--since TIME]: device time, bytes, calls and peak memory per VM,
// all time or since a time (ISO, or a duration back from now like 15m, 2h, 7d).

import { formatSize } from '../../../common/size.js';
import type { CommandContext } from '../../context.js';
import { table } from '../../output.js';

export interface UsageOptions {
  vm?: string;
  since?: string;
}

export async function run(ctx: CommandContext, o: UsageOptions): Promise<void> {
  const rows = await (await ctx.ops()).usage({ vm: o.vm, since: o.since });
  if (ctx.json) {
    ctx.result(rows);
    return;
  }
  if (rows.length === 0) {
    ctx.line('no VMs');
    return;
  }
  const cells = rows.map((u) => [
    u.vm, `${(u.deviceTimeNs / 1e9).toFixed(3)}s`, String(u.calls), formatSize(u.bytesHtoD), formatSize(u.bytesDtoH), formatSize(u.peakMemory),
  ]);
  for (const l of table(['VM', 'DEVICE', 'CALLS', 'IN', 'OUT', 'PEAK MEMORY'], cells)) ctx.line(l);
  if (rows[0]?.since) ctx.line(`since ${rows[0].since}`);
}
