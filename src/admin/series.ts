// Usage over a period in time buckets (GET /v1/usage/series and its CSV form): the period and
// bucket length from the query, and the CSV rendering.

import { durationMs } from '../common/duration.js';
import { VgpuError } from '../common/errors.js';
import type { UsageBucketView } from './schemas.js';
import { parseSince } from './since.js';

/** Buckets one answer may hold, per VM: enough for a minute's buckets over a day. */
export const MAX_BUCKETS = 2000;
/** Buckets chosen when the query names no step. */
const DEFAULT_BUCKETS = 100;
/** Steps a default is rounded up to, so that buckets start at round times. */
const ROUND_STEPS_S = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400];

export interface SeriesPeriod {
  since: Date;
  until: Date;
  stepS: number;
}

export interface SeriesQueryText {
  since?: string | undefined;
  until?: string | undefined;
  step?: string | undefined;
}

function invalid(field: string, detail: string): never {
  throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field, detail });
}

/** The period and bucket length a query asks for (default: the last 24 hours in about 100 buckets). */
export function seriesPeriod(q: SeriesQueryText, now: Date = new Date()): SeriesPeriod {
  const since = parseSince(q.since ?? '24h', now);
  const until = q.until === undefined ? now : parseSince(q.until, now, 'until');
  const spanS = (until.getTime() - since.getTime()) / 1000;
  if (spanS <= 0) invalid('until', `the period must end after it starts (${since.toISOString()} .. ${until.toISOString()})`);
  let stepS: number;
  if (q.step === undefined) {
    const want = spanS / DEFAULT_BUCKETS;
    stepS = ROUND_STEPS_S.find((s) => s >= want) ?? Math.ceil(want / 86_400) * 86_400;
  } else {
    const ms = durationMs(q.step);
    if (ms === undefined || ms < 1000 || ms % 1000 !== 0) invalid('step', `"${q.step}" is not a whole number of seconds, at least 1s (10s, 5m, 1h)`);
    stepS = ms / 1000;
  }
  if (spanS / stepS > MAX_BUCKETS) invalid('step', `${Math.ceil(spanS / stepS)} buckets of ${stepS}s in the period; at most ${MAX_BUCKETS}: choose a longer step`);
  return { since, until, stepS };
}

const CSV_COLUMNS = ['at', 'vm', 'deviceTimeNs', 'bytesHtoD', 'bytesDtoH', 'calls', 'peakMemory'] as const;

/** RFC 4180 quoting: VM names are free of commas and quotes today, but the CSV must not rely on it. */
function field(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function usageCsv(buckets: readonly UsageBucketView[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const b of buckets) lines.push(CSV_COLUMNS.map((c) => field(b[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}
