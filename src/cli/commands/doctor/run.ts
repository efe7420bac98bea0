// vgpu-admin doctor: checks this host's vgpu installation and names the fix for each problem
// (src/doctor/host.ts). Exit status 1 when a check fails; warnings alone exit 0.

import { EXIT, ExitError } from '../../../common/errors.js';
import type { BackendChoice } from '../../../mediator/backend.js';
import { hostChecks } from '../../../doctor/host.js';
import { report, reportLines, type Report } from '../../../doctor/report.js';
import type { CommandContext } from '../../context.js';

export interface DoctorOptions {
  backend?: string;
  socket?: string[];
}

/** The report, without printing it (the support bundle records it too). */
export async function doctorReport(ctx: CommandContext, o: DoctorOptions): Promise<Report> {
  const { url, token } = await ctx.adminEndpoint();
  const checks = await hostChecks({
    stateDir: ctx.stateDir,
    env: ctx.io.env,
    backend: (o.backend ?? 'auto') as BackendChoice,
    adminUrl: url,
    adminToken: token,
    sockets: o.socket ?? [],
    config: ctx.config,
  });
  return report(checks);
}

export async function run(ctx: CommandContext, o: DoctorOptions): Promise<void> {
  const r = await doctorReport(ctx, o);
  if (ctx.json) ctx.result(r);
  else for (const l of reportLines(r)) ctx.line(l);
  if (!r.ok) throw new ExitError(EXIT.internal);
}
