// Usage per VM over a chosen period (GET /v1/usage/series), as a chart of device time per bucket
// (the VMs' bars stacked, so each bucket's height is the GPU time all of them used) and as a CSV
// download of the same query (GET /v1/usage/series.csv).

import { useEffect, useMemo, useState } from 'preact/hooks';

import { api, seriesQuery, type UsageBucketView } from '../api.js';
import { Chart, type ChartProps } from '../chart.js';
import { ns } from '../format.js';

const PERIODS = [
  { since: '15m', label: 'last 15 minutes' },
  { since: '1h', label: 'last hour' },
  { since: '24h', label: 'last 24 hours' },
  { since: '7d', label: 'last 7 days' },
  { since: '30d', label: 'last 30 days' },
];

function chartData(buckets: UsageBucketView[]): { data: ChartProps['data']; vms: string[] } {
  const vms = [...new Set(buckets.map((b) => b.vm))].sort();
  const times = [...new Set(buckets.map((b) => b.at))].sort();
  const ys = vms.map((vm) => times.map((t) => buckets.find((b) => b.vm === vm && b.at === t)?.deviceTimeNs ?? 0));
  return { data: [times.map((t) => Date.parse(t) / 1000), ...ys], vms };
}

export function UsagePanel({ refresh }: { refresh: number }) {
  const [since, setSince] = useState('1h');
  const [buckets, setBuckets] = useState<UsageBucketView[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    api.usageSeries(since, undefined).then((b) => { setBuckets(b); setError(''); }, (e: unknown) => setError(String(e)));
  }, [since, refresh]);
  const { data, vms } = useMemo(() => chartData(buckets), [buckets]);
  const totals = vms.map((vm) => ({ vm, deviceTimeNs: buckets.filter((b) => b.vm === vm).reduce((n, b) => n + b.deviceTimeNs, 0), calls: buckets.filter((b) => b.vm === vm).reduce((n, b) => n + b.calls, 0) }));
  return (
    <section id="usage">
      <h2>Usage</h2>
      <form class="inline" onSubmit={(e) => e.preventDefault()}>
        <label>period <select name="since" value={since} onChange={(e) => setSince(e.currentTarget.value)}>
          {PERIODS.map((p) => <option key={p.since} value={p.since}>{p.label}</option>)}
        </select></label>
        <a class="button" href={`/v1/usage/series.csv?${seriesQuery(since, undefined)}`} download>Download CSV</a>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <Chart title="device time per interval" data={data} series={vms} format={ns} bars stacked />
      <table>
        <thead><tr><th>VM</th><th>device time</th><th>calls</th></tr></thead>
        <tbody>
          {totals.map((t) => <tr key={t.vm} data-vm={t.vm}><td>{t.vm}</td><td class="num">{ns(t.deviceTimeNs)}</td><td class="num">{t.calls}</td></tr>)}
        </tbody>
      </table>
    </section>
  );
}
