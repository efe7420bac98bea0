// Slots: at most `limit` tasks run at once; the rest start in arrival order as slots free up,
// whether the tasks before them succeeded or failed.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Slots } from '../../src/mediator/slots.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('at most limit tasks run at once, the others in order', async () => {
  const slots = new Slots(2);
  const gates = [deferred(), deferred(), deferred(), deferred()];
  const started: number[] = [];
  const runs = gates.map((g, i) => slots.run(async () => {
    started.push(i);
    await g.promise;
    return i;
  }));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1]);
  assert.equal(slots.queued, 2, 'two wait for a slot');
  gates[1]!.reject(new Error('task 1 failed'));
  await assert.rejects(runs[1]!, /task 1 failed/);
  assert.deepEqual(started, [0, 1, 2], 'a failed task frees its slot');
  assert.equal(slots.queued, 1, 'a task that got its slot no longer waits');
  gates[0]!.resolve();
  assert.equal(await runs[0], 0);
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.equal(slots.queued, 0);
  gates[2]!.resolve();
  gates[3]!.resolve();
  assert.deepEqual(await Promise.all([runs[2], runs[3]]), [2, 3]);
  // All slots are free again.
  const late: number[] = [];
  await Promise.all([slots.run(async () => late.push(1)), slots.run(async () => late.push(2))]);
  assert.deepEqual(late, [1, 2]);
});

test('a limit below one is refused', () => {
  assert.throws(() => new Slots(0), RangeError);
});
