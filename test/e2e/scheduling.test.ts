// Two tenants running the same compute-bound kernels at the same time on softgpu (kernels use
// CPU time, so they contend): a high-priority VM finishes well before a low-priority one, two
// equal VMs finish within 15% of each other, and changing a VM's priority with vgpu-admin while
// both run changes the outcome without a restart.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, kernelsFatbin, runGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

// Long enough that start-up skew (one tenant attaching a few hundred ms before the other) is small
// against the whole run.
const LAUNCHES = '80';
const ITERS = '250';

let m: RunningMediator;
let fatbin: string;
let prog: string;

function admin(...args: string[]): string {
  return execFileSync(join(BIN, 'vgpu-admin'), [...args, '--state-dir', m.stateDir], { encoding: 'utf8' });
}

function addVm(name: string, priority: string): string {
  return admin('vm', 'add', name, '--priority', priority, '--print-token').trim().split('\n').at(-1)!;
}

/** Runs the compute program as the VM of `token`; resolves with the time from start to exit (a
 * tenant kept waiting for the GPU during its setup must count that wait too). */
async function compute(token: string): Promise<number> {
  const t0 = Date.now();
  const r = await runGuest(prog, ['--server', m.server, '--token', token], {}, 300_000, [fatbin, LAUNCHES, ITERS]);
  assert.equal(r.code, 0, r.stderr);
  return Date.now() - t0;
}

before(async () => {
  // Two warm executors: with one, whichever tenant attaches second waits ~0.8 s for a process to
  // start, a head start for the other that has nothing to do with the scheduler under test.
  m = await startMediator({ spareExecutors: 2 });
  fatbin = kernelsFatbin();
  prog = buildProgram('compute');
});
after(async () => {
  await m?.stop();
});

test('a high-priority VM finishes at least 1.5x faster than a low-priority one', async (t) => {
  const hi = addVm('sched-hi', 'high');
  const lo = addVm('sched-lo', 'low');
  const [tHi, tLo] = await Promise.all([compute(hi), compute(lo)]);
  t.diagnostic(`high ${tHi} ms, low ${tLo} ms: ratio ${(tLo / tHi).toFixed(2)}`);
  assert.ok(tLo / tHi >= 1.5, `high ${tHi} ms, low ${tLo} ms: ratio ${(tLo / tHi).toFixed(2)}`);
});

test('two VMs of equal priority and weight finish within 15% of each other', async (t) => {
  const a = addVm('sched-eq-a', 'medium');
  const b = addVm('sched-eq-b', 'medium');
  const [ta, tb] = await Promise.all([compute(a), compute(b)]);
  const spread = Math.abs(ta - tb) / Math.max(ta, tb);
  t.diagnostic(`a ${ta} ms, b ${tb} ms: ${(spread * 100).toFixed(1)}% apart`);
  assert.ok(spread <= 0.15, `a ${ta} ms, b ${tb} ms: ${(spread * 100).toFixed(0)}% apart`);
});

test('vgpu-admin vm set changes the outcome while both run, without a restart', async (t) => {
  const a = addVm('sched-live-a', 'medium');
  const b = addVm('sched-live-b', 'medium');
  const pa = compute(a);
  const pb = compute(b);
  // Once both are attached and sharing the GPU, raise A's priority.
  for (const vm of ['sched-live-a', 'sched-live-b']) {
    await m.waitForLog((l) => l.msg === 'session attached to executor' && l.vm === vm, 60_000);
  }
  await new Promise((r) => setTimeout(r, 300));
  admin('vm', 'set', 'sched-live-a', '--priority', 'high');
  const [ta, tb] = await Promise.all([pa, pb]);
  t.diagnostic(`A (raised to high) ${ta} ms, B ${tb} ms: ratio ${(tb / ta).toFixed(2)}`);
  assert.ok(tb / ta >= 1.25, `A (raised to high) ${ta} ms, B ${tb} ms: ratio ${(tb / ta).toFixed(2)}`);
  assert.match(admin('audit'), /sched-live-a/, 'the change is in the audit log');
});
