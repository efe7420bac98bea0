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

/** A high-class and a low-class session asking for GPU 0 in the order given, with a 500 ms
 * starvation guard. */
function highAndLow(first: 'hi' | 'lo') {
  const h = harness({ hi: { priority: 'high', weight: 100 }, lo: { priority: 'low', weight: 100 } }, { starvationMs: 500 });
  const ids = first === 'hi' ? { hi: 1, lo: 2 } : { lo: 1, hi: 2 };
  for (const vm of [first, first === 'hi' ? 'lo' : 'hi'] as const) h.s.add({ id: ids[vm], vm, gpu: 0 });
  h.s.want(1);
  h.s.want(2);
  return { ...h, ids };
}

test('the starvation guard lets a low class run after it has waited long enough; grants are recorded with why', () => {
  const { s, advance, ids } = highAndLow('hi'); // hi is granted alone: lo asks after it
  advance(100);
  s.yield(ids.hi, 100e6, true);
  assert.equal(s.holderOf(0), ids.hi, 'not starving yet');
  advance(450);
  s.yield(ids.hi, 450e6, true);
  assert.equal(s.holderOf(0), ids.lo, 'low has waited 550 ms >= 500');
  s.yield(ids.lo, 5e6); // lo is done: hi, alone
  assert.deepEqual(s.stats.get('hi')?.grants, { alone: 2, policy: 1, starvation: 0 });
  assert.deepEqual(s.stats.get('lo')?.grants, { alone: 0, policy: 0, starvation: 1 });
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

test('a VM that arrives late starts level with those running, not with a credit for their past use', () => {
  const { s } = harness({});
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.want(1);
  s.yield(1, 500e6, true); // alone: a keeps the GPU, and has used 500 ms
  assert.equal(s.holderOf(0), 1);
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(2);
  s.yield(1, 10e6, true); // a 510 ms, b starts at 500: b
  assert.equal(s.holderOf(0), 2);
  s.yield(2, 20e6, true); // b 520, a 510: a again, not b for another half second
  assert.equal(s.holderOf(0), 1);
});

test('a VM back after its sessions ended is owed nothing for the time it was away', () => {
  const { s } = harness({});
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.want(1);
  s.yield(1, 100e6); // a used 100 ms, then its session ends
  s.remove(1);
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(2);
  s.yield(2, 2000e6, true); // b alone for 2 s
  s.add({ id: 3, vm: 'a', gpu: 0 });
  s.want(3);
  s.yield(2, 10e6, true); // b 2010 ms, a back at 2000: a
  assert.equal(s.holderOf(0), 3);
  s.yield(3, 20e6, true); // a 2020: b again, not a for another 1.9 s
  assert.equal(s.holderOf(0), 2);
});

test('a starving session that the policy would pick anyway is a policy grant', () => {
  const { s, advance, ids } = highAndLow('lo');
  advance(600); // hi has waited past the guard, but its class puts it first as well
  s.yield(ids.lo, 600e6, true);
  assert.equal(s.holderOf(0), ids.hi);
  assert.deepEqual(s.stats.get('hi')?.grants, { alone: 0, policy: 1, starvation: 0 });
});

test('device time is recorded as contended for the part of a slice in which another session waited', () => {
  const { s, advance } = harness({});
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(1);
  advance(30); // a alone for 30 ms...
  s.want(2);
  advance(10); // ...then b waits for the last 10
  s.yield(1, 40e6, true);
  assert.equal(s.stats.get('a')?.deviceNs, 40e6);
  assert.equal(s.stats.get('a')?.contendedNs, 10e6);
  advance(20); // b's slice, granted while a waits: all contended
  s.yield(2, 20e6);
  assert.equal(s.stats.get('b')?.contendedNs, 20e6);
  advance(50); // a alone again: none
  s.yield(1, 50e6);
  assert.equal(s.stats.get('a')?.deviceNs, 90e6);
  assert.equal(s.stats.get('a')?.contendedNs, 10e6);
});

test('contention ends when the waiting session goes away; a slice of no measured length counts by whether anyone waited', () => {
  const { s, advance } = harness({});
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(1);
  s.want(2);
  s.yield(1, 1e6, true); // granted with b waiting, no time passed on the clock: contended
  assert.equal(s.stats.get('a')?.contendedNs, 1e6);
  assert.equal(s.holderOf(0), 2);
  advance(10); // b holds with a waiting for 10 ms, then a ends
  s.remove(1);
  advance(30);
  s.yield(2, 40e6);
  assert.equal(s.stats.get('b')?.contendedNs, 10e6);
});

test('preemptions are recorded for the VM whose slice was ended', async () => {
  const { s } = harness({}, { quantumMs: 5 });
  s.add({ id: 1, vm: 'a', gpu: 0 });
  s.add({ id: 2, vm: 'b', gpu: 0 });
  s.want(1);
  s.want(2);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(s.stats.get('a')?.preemptions, 1);
  assert.equal(s.stats.get('b')?.preemptions ?? 0, 0);
});
