// Bursts of guests against one mediator (docs/operations.md, "Bursts of sessions"): guests started
// at the same moment must all get their device and run their kernel (the mediator answers every
// handshake while it starts executors a few at a time; the other sessions wait in line), and
// sessions ending at the same moment must leave the mediator up, listing nothing. Only outcomes
// are asserted: every guest exits 0 with its result verified, the mediator still serves, no
// session is left; never how long anything took. `make burst` runs the long version (20 bursts of
// 16 in a row).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { burstFailures, burstProgram, holdBurst, runBurst, sessionList, sessionsAfter, type BurstProgram } from '../helpers/burst.js';

let m: RunningMediator;
let p: BurstProgram;

before(async () => {
  p = burstProgram();
  m = await startMediator({ env: { VGPU_LOG: 'info' } });
});

after(async () => {
  await m?.stop();
});

function assertMediatorUp(): void {
  assert.equal(m.proc.exitCode, null, 'the mediator is still running');
  assert.equal(m.proc.signalCode, null, 'the mediator is still running');
}

test('64 guests started at once all run their kernel, and 64 sessions ending at once leave the mediator up', { timeout: 600_000 }, async () => {
  const guests = await holdBurst(m, p, 64, 1000);
  const held = await sessionList(m);
  assert.equal(held.filter((s) => s.state === 'attached').length, 64, 'all 64 sessions are attached at once');
  // All end at the same moment: half leave as programs do, half are killed.
  guests.forEach((g, i) => (i % 2 === 0 ? g.release() : g.kill('SIGKILL')));
  const codes = await Promise.all(guests.map((g) => g.done));
  assert.deepEqual(codes.filter((c, i) => i % 2 === 0 && c !== 0), [], 'the guests that left normally exit 0');
  assertMediatorUp();
  assert.deepEqual(await sessionsAfter(m), [], 'no session is left');
  // Still serving.
  assert.deepEqual(burstFailures(await runBurst(m, p, 1, 1999)), []);
});

test('three bursts of 16 in a row: no guest hangs or fails, every result verified', { timeout: 600_000 }, async () => {
  for (let b = 0; b < 3; b++) {
    const guests = await runBurst(m, p, 16, 2000 + b * 100);
    assert.deepEqual(burstFailures(guests), [], `burst ${b + 1} of 3`);
    assertMediatorUp();
    assert.deepEqual(await sessionsAfter(m), [], `no session is left after burst ${b + 1}`);
  }
});
