// The hold watchdog wired to the scheduler as the mediator wires them, on mocked timers and
// clock: a holder asked to yield that does not within its limit while someone waits is
// ended, once; one that yields, one whose waiters left, or one without a limit is not.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';

import { Scheduler } from '../../src/sched/scheduler.js';
import { HoldWatchdog } from '../../src/mediator/watchdog.js';

function harness(t: TestContext, limits: Record<number, number>) {
  // The mocked Date is the clock both read, and moves with the mocked timers.
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const now = (): number => Date.now();
  const ended: Array<{ id: number; heldMs: number; limitMs: number }> = [];
  let dog: HoldWatchdog | undefined;
  const sched = new Scheduler({
    quantumMs: 20,
    starvationMs: 1000,
    now,
    policy: () => ({ priority: 'medium', weight: 100 }),
    grant: () => {},
    preempt: (id) => dog?.asked(id),
    contended: (id) => dog?.contended(id),
  });
  dog = new HoldWatchdog({
    now,
    limitMs: (id) => limits[id] ?? 0,
    holdsContended: (id) => sched.holderOf(0) === id && sched.waitingOn(0).length > 0,
    end: (id, heldMs, limitMs) => ended.push({ id, heldMs, limitMs }),
  });
  for (const id of [1, 2, 3]) sched.add({ id, vm: `vm${id}`, gpu: 0 });
  // A timer that comes due inside a tick sees the clock at the tick's end: tick up to each
  // expected event, then past it.
  const advance = (ms: number): void => t.mock.timers.tick(ms);
  return { sched, dog: dog as HoldWatchdog, ended, advance };
}

test('a holder that does not yield within its limit while another waits is ended once', (t) => {
  const { sched, ended, advance } = harness(t, { 1: 1000 });
  sched.want(1);
  advance(500);
  sched.want(2); // the quantum is long over: 1 is asked to yield now
  advance(0);
  advance(999);
  assert.equal(ended.length, 0);
  advance(1);
  assert.deepEqual(ended, [{ id: 1, heldMs: 1000, limitMs: 1000 }]);
  advance(5000);
  assert.equal(ended.length, 1);
});

test('a holder that yields in time is not ended, and its next hold is counted afresh', (t) => {
  const { sched, dog, ended, advance } = harness(t, { 1: 1000 });
  sched.want(1);
  sched.want(2);
  advance(20); // quantum: 1 is asked
  advance(900);
  sched.yield(1, 0, true);
  dog.released(1);
  assert.equal(sched.holderOf(0), 2);
  advance(5000); // 2 has no limit; 1 waits
  sched.yield(2, 0, false);
  assert.equal(sched.holderOf(0), 1);
  sched.want(3);
  advance(20);
  advance(999);
  assert.equal(ended.length, 0);
  advance(1);
  assert.deepEqual(ended.map((e) => e.id), [1]);
});

test('the count stops while nobody waits and starts again with the next waiter', (t) => {
  const { sched, ended, advance } = harness(t, { 1: 1000 });
  sched.want(1);
  sched.want(2);
  advance(20 + 500);
  sched.remove(2); // the waiter leaves
  advance(2000);
  assert.equal(ended.length, 0);
  sched.want(3);
  advance(999);
  assert.equal(ended.length, 0);
  advance(1);
  assert.deepEqual(ended.map((e) => e.id), [1]);
});

test('a VM without a limit holds as long as its call lasts', (t) => {
  const { sched, ended, advance } = harness(t, {});
  sched.want(1);
  sched.want(2);
  advance(3_600_000);
  assert.equal(ended.length, 0);
  assert.equal(sched.holderOf(0), 1);
});
