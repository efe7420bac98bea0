// The host's staging bound divided among sessions (src/mediator/staging.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { stagingShare } from '../../src/mediator/staging.js';

const MIB = 2 ** 20;

test('each session gets an even part of the host bound, capped by the per-session bound', () => {
  const limits = { perSession: 32 * MIB, total: 128 * MIB };
  assert.equal(stagingShare(limits, 0), 32 * MIB, 'the first session to attach');
  assert.equal(stagingShare(limits, 1), 32 * MIB);
  assert.equal(stagingShare(limits, 4), 32 * MIB);
  assert.equal(stagingShare(limits, 8), 16 * MIB);
  assert.equal(stagingShare(limits, 3 * 1024), Math.floor((128 * MIB) / (3 * 1024)));
  for (const n of [1, 2, 3, 5, 7, 100, 1000]) assert.ok(n * stagingShare(limits, n) <= limits.total, `${n} sessions stay within the host bound`);
});
