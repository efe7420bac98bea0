// The quota ledger's trim: requests that wait on one trim are all decided on what the VM holds once
// the trim is answered, and slack given to the first never refuses the others (the 60-minute soak
// found that: a session of its 96 MiB VM was refused while the VM's sessions held 32 MiB).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { ToExecutor } from '../../src/common/executor-ipc.js';
import { QUOTA_SLACK, QuotaLedger } from '../../src/mediator/ledger.js';

const MIB = 1 << 20;

function ledger(quota: number): { l: QuotaLedger; sent: Array<[number, ToExecutor]>; refusals: number[] } {
  const sent: Array<[number, ToExecutor]> = [];
  const refusals: number[] = [];
  const l = new QuotaLedger({ quota: () => quota, send: (id, m) => (sent.push([id, m]), true), refused: (id) => refusals.push(id) });
  return { l, sent, refusals };
}

const grants = (sent: Array<[number, ToExecutor]>): Array<[number, number]> =>
  sent.flatMap(([id, m]) => (m.type === 'quota' ? [[id, m.granted] as [number, number]] : []));

test('requests queued behind one trim are all granted when they fit together', () => {
  const { l, sent, refusals } = ledger(96 * MIB);
  for (const id of [1, 2, 3, 4]) l.open(id, 'v');
  l.reserve(1, 8 * MIB);
  l.setUsed(1, 8 * MIB);
  l.reserve(2, 8 * MIB);
  l.setUsed(2, 8 * MIB);
  assert.deepEqual(grants(sent), [[1, 8 * MIB + QUOTA_SLACK], [2, 24 * MIB]]);
  assert.equal(l.vmReserved('v'), 96 * MIB);
  sent.length = 0;
  // 3 does not fit beside the others' slack: they are asked to trim, and 4 and 2 queue behind it.
  l.reserve(3, 8 * MIB);
  l.reserve(4, 8 * MIB);
  l.reserve(2, 8 * MIB);
  assert.deepEqual(sent.filter(([, m]) => m.type === 'trim').map(([id]) => id).sort(), [1, 2]);
  assert.deepEqual(grants(sent), [], 'every request waits for the trim');
  l.release(1, 64 * MIB);
  l.release(2, 16 * MIB);
  // 16 MiB held, 24 MiB asked: all three fit, and the slack left over goes to the first.
  assert.deepEqual(grants(sent), [[3, 64 * MIB], [4, 8 * MIB], [2, 8 * MIB]]);
  assert.deepEqual(refusals, []);
  assert.equal(l.vmReserved('v'), 96 * MIB);
});

test('a queued request that does not fit beside the others is refused, the rest granted', () => {
  const { l, sent, refusals } = ledger(64 * MIB);
  for (const id of [1, 2, 3]) l.open(id, 'v');
  l.reserve(1, 40 * MIB);
  l.setUsed(1, 40 * MIB);
  assert.equal(l.vmReserved('v'), 64 * MIB);
  sent.length = 0;
  l.reserve(2, 16 * MIB);
  l.reserve(3, 16 * MIB);
  l.release(1, 24 * MIB);
  // 40 held: 16 more fits once, not twice.
  assert.deepEqual(grants(sent), [[2, 16 * MIB], [3, 0]]);
  assert.deepEqual(refusals, [3]);
  assert.equal(l.vmReserved('v'), 56 * MIB);
});
