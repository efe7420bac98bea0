// The live fuzzer, bounded: 20 000 frames of a fixed seed against a running mediator, its
// executors and a bystander tenant (test/fuzz; `make fuzz` runs a million). Any finding fails the
// test with what was found and the seed to reproduce it.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { fuzz } from '../fuzz/run.js';
import { KINDS } from '../fuzz/episodes.js';

test('20 000 hostile frames: the mediator, its executors and a bystander tenant are fine', async () => {
  const r = await fuzz({ frames: 20_000, seed: 20_251, batch: 5_000, maxAttachedFrames: 2_000 });
  assert.ok(r.frames >= 20_000);
  assert.ok(r.batches >= 2, 'health was checked between batches, not only at the end');
  for (const k of KINDS) assert.ok((r.episodes[k] ?? 0) > 0, `some ${k} episodes ran`);
  assert.ok(r.attachedSessions > 0, 'some hostile sessions reached an executor');
  assert.ok((r.errorsFromHost.VG_WIRE_STATUS_PROTOCOL ?? 0) > 0, 'malformed input was refused with VG_WIRE_STATUS_PROTOCOL');
  assert.ok(r.bystanderRounds > 0);
});
