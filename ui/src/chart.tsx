// A time chart drawn by uPlot: one line (or bar) per series over shared timestamps (seconds).

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
  height?: number;
  /** Fixed y range (e.g. 0..100 for percentages). */
  range?: [number, number];
}

function options(p: ChartProps, width: number): uPlot.Options {
  const value = (_u: uPlot, v: number | null): string => (v === null || v === undefined ? '–' : p.format(v));
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
        ...(p.bars && { fill: `${COLOURS[i % COLOURS.length]!}55`, paths: uPlot.paths.bars!({ size: [0.8, 40] }) }),
      })),
    ],
  };
}

export function Chart(p: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = `${p.title}|${p.series.join('|')}|${p.bars ? 1 : 0}`;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(options(p, Math.max(300, el.clientWidth)), p.data as uPlot.AlignedData, el);
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
    plot.current?.setData(p.data as uPlot.AlignedData);
  }, [p.data]);
  return <div class="chart" ref={box} data-chart={p.title} />;
}
