// A time chart drawn by uPlot: one line (or bar, or stacked bar) per series over shared timestamps
// (seconds).

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** Series colours, told apart in print as on screen. */
const COLOURS = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#e67700', '#0b7285', '#c2255c', '#5c940d'];

export interface ChartProps {
  title: string;
  /** Timestamps in seconds, then one array per series (null: no value there). */
  data: [number[], ...Array<Array<number | null>>];
  series: string[];
  /** How the y axis and the legend write a value. */
  format: (v: number) => string;
  bars?: boolean;
  /** With bars: each bucket's bars stacked (the first series on top), not drawn over one another. */
  stacked?: boolean;
  height?: number;
  /** Fixed y range (e.g. 0..100 for percentages). */
  range?: [number, number];
}

type Data = ChartProps['data'];

/**
 * What a stacked chart draws: each series' value plus those of the series after it. Drawn in order
 * with opaque fills, the first (tallest) bar goes behind the rest, so each series shows as the band
 * between its sum and the next one's; uPlot's bands are not needed, and bars never hide each other.
 */
export function stackData(data: Data): Data {
  const [xs, ...ys] = data;
  const sum = xs.map(() => 0);
  const out: Array<Array<number | null>> = [];
  for (let k = ys.length - 1; k >= 0; k--) {
    out[k] = (ys[k] ?? []).map((v, i) => (sum[i] = (sum[i] ?? 0) + (v ?? 0)));
  }
  return [xs, ...out];
}

function drawn(p: ChartProps): Data {
  return p.bars && p.stacked ? stackData(p.data) : p.data;
}

/** `raw` holds the data as given (not stacked), for the legend: it names each series' own value. */
function options(p: ChartProps, width: number, raw: { current: Data }): uPlot.Options {
  const value = (_u: uPlot, v: number | null, si: number, i: number | null): string => {
    const own = p.stacked && i !== null ? (raw.current[si]?.[i] ?? null) : v;
    return own === null || own === undefined ? '–' : p.format(own);
  };
  return {
    title: p.title,
    width,
    height: p.height ?? 180,
    scales: { x: { time: true }, y: p.range ? { range: p.range } : { range: (_u, min, max) => [Math.min(0, min), Math.max(max, 1)] } },
    axes: [{}, { values: (_u, ticks) => ticks.map((t) => p.format(t)), size: 80 }],
    series: [
      {},
      ...p.series.map((label, i) => ({
        label,
        stroke: COLOURS[i % COLOURS.length]!,
        width: 2,
        value,
        // Stacked bars are opaque: a translucent one would show the taller bars behind it.
        ...(p.bars && { fill: p.stacked ? COLOURS[i % COLOURS.length]! : `${COLOURS[i % COLOURS.length]!}55`, paths: uPlot.paths.bars!({ size: [0.8, 40] }) }),
      })),
    ],
  };
}

export function Chart(p: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const raw = useRef<Data>(p.data);
  raw.current = p.data;
  const key = `${p.title}|${p.series.join('|')}|${p.bars ? 1 : 0}|${p.stacked ? 1 : 0}`;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(options(p, Math.max(300, el.clientWidth), raw), drawn(p) as uPlot.AlignedData, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(300, el.clientWidth), height: p.height ?? 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt when the series change; new data alone goes through setData below.
  }, [key]);
  useEffect(() => {
    plot.current?.setData(drawn(p) as uPlot.AlignedData);
  }, [p.data]);
  return <div class="chart" ref={box} data-chart={p.title} />;
}
