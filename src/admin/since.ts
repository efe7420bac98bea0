// `--since` / `?since=`: an ISO 8601 time, or a duration back from now (90s, 15m, 2h, 7d).

import { durationMs } from '../common/duration.js';
import { VgpuError } from '../common/errors.js';

/** `field` names the parameter in the error (`since`, or `until`, which takes the same forms). */
export function parseSince(text: string, now: Date = new Date(), field = 'since'): Date {
  const t = text.trim();
  const back = durationMs(t);
  if (back !== undefined) {
    const at = new Date(now.getTime() - back);
    if (Number.isFinite(at.getTime())) return at;
  }
  // Dates only in ISO form: Date.parse accepts much else, differently per engine.
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const at = new Date(Date.parse(t.replace(' ', 'T')));
    if (Number.isFinite(at.getTime())) return at;
  }
  throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', {
    field,
    detail: `"${text}" is neither an ISO time (2026-11-21T10:00Z) nor a duration back from now (90s, 15m, 2h, 7d)`,
  });
}
