// How the page writes numbers: binary sizes, durations, times in the browser's zone with its offset.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : Number(v.toFixed(v < 10 ? 2 : 1))} ${UNITS[u]}`;
}

export function ns(n: number): string {
  if (n < 1e6) return `${(n / 1e3).toFixed(0)} µs`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} ms`;
  if (n < 60e9) return `${(n / 1e9).toFixed(2)} s`;
  return `${(n / 60e9).toFixed(1)} min`;
}

export function time(iso: string): string {
  const d = new Date(iso);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, '0');
  const mm = String(Math.abs(off) % 60).padStart(2, '0');
  return `${d.toLocaleString(undefined, { hour12: false })} ${sign}${hh}:${mm}`;
}

export function shortUuid(uuid: string): string {
  return uuid.length > 13 ? `${uuid.slice(0, 12)}…` : uuid;
}
