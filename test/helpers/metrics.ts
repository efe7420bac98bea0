// Reads a running mediator's Prometheus metrics (docs/admin-api.md, Metrics): what the tests
// assert on is what the mediator recorded, read where an operator reads it.

/** One scrape: sample values by series name and label set. */
export class Scrape {
  private readonly samples = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();

  constructor(text: string) {
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      const list = this.samples.get(m[1]!) ?? [];
      list.push({ labels, value: Number(m[3]) });
      this.samples.set(m[1]!, list);
    }
  }

  /** Names of the samples in the scrape (a histogram's as `_bucket`, `_sum` and `_count`). */
  names(): Set<string> {
    return new Set(this.samples.keys());
  }

  /** The sum of the series' samples whose labels include `match` (0 when there are none). */
  value(name: string, match: Record<string, string> = {}): number {
    let sum = 0;
    for (const s of this.samples.get(name) ?? []) {
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }
}

export async function scrape(adminUrl: string): Promise<Scrape> {
  const r = await fetch(`${adminUrl}/metrics`);
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
  return new Scrape(await r.text());
}
