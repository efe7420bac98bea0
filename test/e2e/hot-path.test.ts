// The executor's native hot path (docs/executors.md, "Native hot path"): the same guest programs
// give the same results with it on and off (VGPU_HOT_PATH=0), and the native-calls metric shows
// that it served calls only when on. test/programs/hot_mix.c mixes hot calls (launch storms, event
// records and queries, stream and context synchronization) with cold ones, a failing
// fire-and-forget launch whose error must come back at the next synchronization, and handles that
// are gone; test/programs/printf.c adds kernel printf at the hot synchronizations.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape } from '../helpers/metrics.js';
import { nvccAvailable, printfFatbin } from '../helpers/nvcc.js';
import { buildProgram, kernelsFatbin, runGuest, type RunResult } from '../helpers/programs.js';

const skip = nvccAvailable() ? false : 'nvcc not found (set CUDA_HOME)';

let on: RunningMediator;
let off: RunningMediator;
before(async () => {
  on = await startMediator();
  off = await startMediator({ env: { VGPU_HOT_PATH: '0' } });
});
after(async () => {
  await on?.stop();
  await off?.stop();
});

/** The VM's calls and native calls once the mediator has its sessions' final usage reports. */
async function callCounts(m: RunningMediator, atLeast: number): Promise<{ calls: number; native: number }> {
  for (let i = 0; ; i++) {
    const s = await scrape(m.admin!);
    const calls = s.value('vgpu_vm_calls_total', { vm: 'local' });
    if (calls >= atLeast || i >= 100) return { calls, native: s.value('vgpu_vm_native_calls_total', { vm: 'local' }) };
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function both(prog: string, fatbin: string): Promise<{ on: RunResult; off: RunResult }> {
  return {
    on: await runGuest(prog, ['--server', on.server], {}, 180_000, [fatbin]),
    off: await runGuest(prog, ['--server', off.server], {}, 180_000, [fatbin]),
  };
}

test('hot and cold calls mixed: the same results with the hot path on and off; only "on" serves natively', { skip }, async () => {
  const prog = buildProgram('hot_mix');
  const r = await both(prog, kernelsFatbin());
  assert.equal(r.on.code, 0, r.on.stderr.slice(-3000));
  assert.equal(r.on.stdout, r.off.stdout, `stderr (on):\n${r.on.stderr.slice(-3000)}`);
  const lines = new Map(r.on.stdout.trim().split('\n').map((l) => l.split(': ') as [string, string]));
  assert.equal(lines.get('storm launches failed'), '0');
  assert.equal(lines.get('counter'), String(1000 * 32), 'every counting launch ran');
  assert.equal(lines.get('poked'), '42', 'cuLaunchKernelEx ran');
  assert.equal(lines.get('bad launch'), '0', 'launches are fire-and-forget');
  assert.notEqual(lines.get('synchronize after the bad launch'), '0', "the failed launch's error comes with the next synchronization");
  assert.equal(lines.get('synchronize again'), '0', 'and only once');
  assert.notEqual(lines.get('query a destroyed event'), '0');
  assert.equal(lines.get('out[63] x 1000'), '1000', 'the asynchronous memset ran');
  assert.equal(lines.get('p'), String(0x07070707), 'the memset ran');
  assert.notEqual(lines.get('memset d32 past the end'), '0', "a range outside the session's allocations is refused");
  // 21,000 launches and the synchronizations: most of the session's calls.
  const c = await callCounts(on, 21_000);
  assert.ok(c.native > 20_000, `native calls ${c.native} of ${c.calls}`);
  assert.ok(c.native < c.calls, 'the cold calls were served in TypeScript');
  const o = await callCounts(off, 21_000);
  assert.ok(o.calls > 21_000, `calls ${o.calls}`);
  assert.equal(o.native, 0, 'VGPU_HOT_PATH=0 serves nothing natively');
});

test('kernel printf at hot synchronizations, and a failed assert reported by the next one, as without the hot path', { skip }, async () => {
  const prog = buildProgram('printf');
  const r = await both(prog, printfFatbin());
  assert.equal(r.on.code, 0, r.on.stderr.slice(-3000));
  assert.match(r.on.stdout, /# cuCtxSynchronize\nkernel 1: thread 0 of 3\n/);
  assert.equal(r.on.stdout, r.off.stdout);
  assert.match(r.on.stderr, /Assertion `n < 100` failed/);
});
