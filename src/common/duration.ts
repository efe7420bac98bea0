// Durations as operators write them: a number and a unit, ms, s, m, h or d ("500ms", "5s",
// "1.5m", "2h", "7d"; any case). Used by the hold limit (--max-hold) and by `--since` (a duration
// back from now).

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d{1,9}(?:\.\d{1,3})?)\s*(ms|s|m|h|d)$/i;

/** Whole milliseconds of `text` (fractions rounded), or undefined when it is not a duration. */
export function durationMs(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]!);
}

/** The short form of `ms` for logs and output: "500ms", "5s", "1.5s", "2m", "1h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms) / 1000}s`;
}
