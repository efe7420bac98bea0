// A doctor's report: named checks, each ok, warn or fail, a line of what was found and, where it
// is not ok, the one thing to do about it. Shared by `vgpu-admin doctor` and the support bundle.

import { z } from 'zod';

export const CHECK_STATES = ['ok', 'warn', 'fail'] as const;
export type CheckState = (typeof CHECK_STATES)[number];

export const checkSchema = z.object({
  name: z.string().min(1),
  state: z.enum(CHECK_STATES),
  detail: z.string(),
  /** The flag, variable or command that fixes it; absent when the check is ok. */
  fix: z.string().optional(),
});
export type Check = z.infer<typeof checkSchema>;

export const reportSchema = z.object({
  ok: z.boolean().describe('no check failed (warnings allowed)'),
  checks: z.array(checkSchema),
});
export type Report = z.infer<typeof reportSchema>;

export const ok = (name: string, detail: string): Check => ({ name, state: 'ok', detail });
export const warn = (name: string, detail: string, fix: string): Check => ({ name, state: 'warn', detail, fix });
export const fail = (name: string, detail: string, fix: string): Check => ({ name, state: 'fail', detail, fix });

export function report(checks: Check[]): Report {
  return { ok: checks.every((c) => c.state !== 'fail'), checks };
}

/** Human form: one line per check, its fix indented below it. */
export function reportLines(r: Report): string[] {
  const w = Math.max(...r.checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(`${c.state.padEnd(4)}  ${c.name.padEnd(w)}  ${c.detail}`);
    if (c.fix) lines.push(`${' '.repeat(6 + w + 2)}fix: ${c.fix}`);
  }
  const failed = r.checks.filter((c) => c.state === 'fail').length;
  const warned = r.checks.filter((c) => c.state === 'warn').length;
  lines.push(failed === 0 ? `no problem found${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}` : `${failed} check${failed > 1 ? 's' : ''} failed`);
  return lines;
}
