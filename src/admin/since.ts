// `--since` / `?since=`: an ISO 8601 time, or a duration back from now (90s, 15m, 2h, 7d).

import { VgpuError } from '../common/errors.js';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseSince(text: string, now: Date = new Date()): Date {
  const t = text.trim();
  const d = /^(\d{1,9})([smhd])$/.exec(t);
  if (d) {
    const at = new Date(now.getTime() - Number(d[1]) * UNIT_MS[d[2]!]!);
    if (Number.isFinite(at.getTime())) return at;
  }
  // Dates only in ISO form: Date.parse accepts much else, differently per engine.
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const at = new Date(Date.parse(t.replace(' ', 'T')));
    if (Number.isFinite(at.getTime())) return at;
  }
  throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', {
    field: 'since',
    detail: `"${text}" is neither an ISO time (2026-11-21T10:00Z) nor a duration back from now (90s, 15m, 2h, 7d)`,
  });
}
