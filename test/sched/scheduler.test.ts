// The scheduling policy on its own, with a fake clock: class order, weighted fair share,
// FIFO within a class at equal use, the starvation guard, atomic yield-and-requeue, preemption.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Scheduler, type VmPolicy } from '../../src/sched/scheduler.js';

function harness(policies: Record<string, VmPolicy>, opts: { quantumMs?: number; starvationMs?: number } = {}) {
  let now = 0;
  const events: string[] = [];
  const s = new Scheduler({
    quantumMs: opts.quantumMs ?? 20,
    starvationMs: opts.starvationMs ?? 1000,
    now: () => now,
    policy: (vm) => policies[vm] ?? { priority: 'medium', weight: 100 },
    grant: (id) => events.push(`grant ${id}`),
    preempt: (id) => events.push(`preempt ${id}`),
    contended: (id) => events.push(`contended ${id}`),
  });
  return { s, events, advance: (ms: number) => (now += ms) };
}

test('a lone session is granted at once and told nothing else', () => {
  const { s, events } = harness({});
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.want(1);
  assert.deepEqual(events, ['grant 1']);
  assert.equal(s.holderOf(0), 1);
});

test('higher class first, whatever the order of requests', () => {
  const { s, events } = harness({ lo: { priority: 'low', weight: 100 }, hi: { priority: 'high', weight: 100 } });
  s.add({ id: 1, vm: 'x', gpu: 0 });
  s.add({ id: 2, vm: 'lo', gpu: 0 });
  s.add({ id: 3, vm: 'hi', gpu: 0 });
  s.want(1);
  s.want(2);
  s.want(3);
  assert.deepEqual(events, ['grant 1', 'contended 1']);
  s.yield(1, 1e6);
  assert.equal(s.holderOf(0), 3, 'high before low');
  s.yield(3, 1e6, true); // still has work: stays in line, and still outranks low
  assert.equal(s.holderOf(0), 3);
});

test('yield with work left is compared with the waiters in the same step', () => {
  const { s } = harness({});
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(1);
  s.want(2);
  s.yield(1, 50e6, true); // a used 50 ms, b none: b goes next
  assert.equal(s.holderOf(0), 2);
  s.yield(2, 10e6, true); // b has used less than a: b again
  assert.equal(s.holderOf(0), 2);
  s.yield(2, 45e6, true); // now b (55 ms) is ahead of a (50 ms): a
  assert.equal(s.holderOf(0), 1);
});

test('weights divide device time: weight 300 gets about three times weight 100', () => {
  const { s } = harness({ a: { priority: 'medium', weight: 300 }, b: { priority: 'medium', weight: 100 } });
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(1);
  s.want(2);
  const used: Record<number, number> = { 1: 0, 2: 0 };
  for (let i = 0; i < 400; i++) {
    const h = s.holderOf(0)!;
    used[h]! += 10;
    s.yield(h, 10e6, true);
  }
  const ratio = used[1]! / used[2]!;
  assert.ok(ratio > 2.8 && ratio < 3.2, `a/b = ${ratio}`);
});

test('the starvation guard lets a low class run after it has waited long enough', () => {
  const { s, advance } = harness({ hi: { priority: 'high', weight: 100 }, lo: { priority: 'low', weight: 100 } }, { starvationMs: 500 });
  s.add({ id: 1, vm: 'hi', gpu: 0 });
  s.add({ id: 2, vm: 'lo', gpu: 0 });
  s.want(1);
  s.want(2);
  advance(100);
  s.yield(1, 100e6, true);
  assert.equal(s.holderOf(0), 1, 'not starving yet');
  advance(450);
  s.yield(1, 450e6, true);
  assert.equal(s.holderOf(0), 2, 'low has waited 550 ms >= 500');
});

test('GPUs are scheduled independently; removing the holder hands over', () => {
  const { s } = harness({});
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.add({ id: 2, vm: 'b', gpu: 1 });
  s.add({ id: 3, vm: 'c', gpu: 0 });
  s.want(1);
  s.want(2);
  s.want(3);
  assert.equal(s.holderOf(0), 1);
  assert.equal(s.holderOf(1), 2);
  s.remove(1);
  assert.equal(s.holderOf(0), 3);
});

test('a contended holder is asked to yield after its quantum', async () => {
  const { s, events } = harness({}, { quantumMs: 5 });
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(1);
  s.want(2);
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(events.includes('preempt 1'), events.join(', '));
});
