// `make burst`: BURSTS (default 20) bursts of BURST_SIZE (default 16) guests started at once
// against one mediator, one burst after the other (docs/operations.md, "Bursts of sessions").
// Each guest launches a kernel and checks its result. Fails (exit 1) when a guest fails or hangs,
// the mediator exits, or sessions are left listed after a burst. While a burst runs, the
// mediator's session list is printed each minute, so a hang shows what the mediator holds.

import { startMediator } from '../helpers/mediator.js';
import { burstFailures, burstProgram, runBurst, sessionList, sessionsAfter } from '../helpers/burst.js';
import { scrape } from '../helpers/metrics.js';

function count(name: string, def: number): number {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

async function main(): Promise<number> {
  const bursts = count('BURSTS', 20);
  const size = count('BURST_SIZE', 16);
  const p = burstProgram();
  const m = await startMediator({ env: { VGPU_LOG: 'info' } });
  let failed = 0;
  try {
    for (let b = 0; b < bursts; b++) {
      const t0 = Date.now();
      const watch = setInterval(() => {
        void (async () => {
          const s = await sessionList(m);
          const waiting = (await scrape(m.admin!)).value('vgpu_sched_waiting');
          console.log(`  still running after ${Math.round((Date.now() - t0) / 1000)} s: ${waiting} waiting for a GPU; sessions: ${JSON.stringify(s.map((x) => ({ id: x.id, state: x.state, calls: x.calls, executorPid: x.executorPid })))}`);
        })().catch((e: unknown) => console.log(`  (cannot read the mediator: ${(e as Error).message})`));
      }, 60_000);
      const guests = await runBurst(m, p, size, b * 1000);
      clearInterval(watch);
      const bad = burstFailures(guests);
      const alive = m.proc.exitCode === null && m.proc.signalCode === null;
      const left = alive ? await sessionsAfter(m) : [];
      const first = guests.flatMap((g) => (g.firstCallMs === undefined ? [] : [g.firstCallMs])).sort((x, y) => x - y);
      const firstCall = first.length ? `first GPU call median ${(first[first.length >> 1]! / 1000).toFixed(1)} s, max ${(first.at(-1)! / 1000).toFixed(1)} s` : 'no first call';
      console.log(`burst ${b + 1}/${bursts}: ${size - bad.length}/${size} verified in ${((Date.now() - t0) / 1000).toFixed(1)} s (${firstCall}); mediator ${alive ? 'up' : 'DOWN'}; sessions left ${left.length}`);
      for (const line of bad) console.log(`  ${line}`);
      if (bad.length > 0 || !alive || left.length > 0) failed++;
      if (!alive) break;
    }
  } finally {
    await m.stop();
  }
  console.log(`${bursts - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
