// GPUs: each one now, and memory, utilization, temperature and power over the last minutes.

import { useMemo } from 'preact/hooks';

import type { GpuSample, LiveGpu } from '../api.js';
import { Chart, type ChartProps } from '../chart.js';
import { bytes, shortUuid } from '../format.js';

type Field = 'memoryUsed' | 'utilization' | 'temperatureC' | 'powerW';

function series(history: GpuSample[], uuids: string[], field: Field): ChartProps['data'] {
  const xs = history.map((s) => Date.parse(s.at) / 1000);
  const ys = uuids.map((u) => history.map((s) => s.gpus.find((g) => g.uuid === u)?.[field] ?? null));
  return [xs, ...ys];
}

const reading = (v: number | null, unit: string): string => (v === null ? 'n/a' : `${Math.round(v * 10) / 10} ${unit}`);

export function GpusPanel({ gpus, history }: { gpus: LiveGpu[]; history: GpuSample[] }) {
  const uuids = gpus.map((g) => g.uuid);
  const labels = gpus.map((g) => `GPU ${g.ordinal}`);
  const charts = useMemo(() => ({
    memory: series(history, uuids, 'memoryUsed'),
    utilization: series(history, uuids, 'utilization'),
    temperature: series(history, uuids, 'temperatureC'),
    power: series(history, uuids, 'powerW'),
  }), [history, uuids.join()]);
  const noBoard = gpus.every((g) => g.temperatureC === null && g.powerW === null);
  return (
    <section id="gpus">
      <h2>GPUs</h2>
      <table>
        <thead>
          <tr><th>#</th><th>name</th><th>UUID</th><th>memory used</th><th>utilization</th><th>temperature</th><th>power</th><th>held by</th><th>waiting</th></tr>
        </thead>
        <tbody>
          {gpus.map((g) => (
            <tr key={g.uuid} data-gpu={g.uuid}>
              <td>{g.ordinal}</td>
              <td>{g.name}</td>
              <td title={g.uuid}>{shortUuid(g.uuid)}</td>
              <td class="num">{bytes(g.memoryUsed)} / {bytes(g.memoryTotal)}</td>
              <td class="num">{g.utilization} %</td>
              <td class="num">{reading(g.temperatureC, '°C')}</td>
              <td class="num">{reading(g.powerW, 'W')}</td>
              <td>{g.holder === null ? 'idle' : `session ${g.holder}`}</td>
              <td>{g.waiting.length === 0 ? '–' : g.waiting.map((id) => `session ${id}`).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {noBoard && <p class="note">Temperature and power come from the host's NVML, which this mediator has not loaded (softgpu without VGPU_HOST_NVML).</p>}
      <div class="charts">
        <Chart title="memory used" data={charts.memory} series={labels} format={bytes} />
        <Chart title="utilization" data={charts.utilization} series={labels} format={(v) => `${v} %`} range={[0, 100]} />
        <Chart title="temperature" data={charts.temperature} series={labels} format={(v) => `${v} °C`} />
        <Chart title="power" data={charts.power} series={labels} format={(v) => `${v} W`} />
      </div>
    </section>
  );
}
