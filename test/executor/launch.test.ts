// The executor's launch form (src/executor/launch.cts, code-cache.cts) and its idle shrink
// (idle-shrink.ts): a code cache is used only for the bundle it was made for and only intact, and
// memory is given back once per idle spell. The mediator-level checks are in
// test/e2e/executor-launch.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { compileBundle, packCodeCache, unpackCodeCache } from '../../src/executor/code-cache.cjs';
import { IdleShrink, shrinkNow, type ShrinkReport } from '../../src/executor/idle-shrink.js';
import { EXECUTOR_BUNDLE, EXECUTOR_CODE_CACHE } from '../../src/executor/launch-form.cjs';

const SOURCE = 'module.exports.answer = 6 * 7;';

test('a code cache made for a bundle is read back for that bundle and V8 takes it', () => {
  const payload = compileBundle(SOURCE, '/x/bundle.cjs').createCachedData();
  const r = unpackCodeCache(SOURCE, packCodeCache(SOURCE, payload));
  assert.ok('payload' in r);
  assert.deepEqual(r.payload, payload);
  assert.equal(compileBundle(SOURCE, '/x/bundle.cjs', r.payload).cachedDataRejected, false);
});

test('a code cache made for another bundle is stale, even one of the same length', () => {
  const other = SOURCE.replace('6 * 7', '7 * 6');
  assert.equal(other.length, SOURCE.length, 'the case V8 itself cannot tell apart');
  const file = packCodeCache(other, compileBundle(other, '/x/bundle.cjs').createCachedData());
  assert.deepEqual(unpackCodeCache(SOURCE, file), { problem: 'stale' });
});

test('a damaged or truncated code cache is corrupt, and never reaches V8', () => {
  const file = packCodeCache(SOURCE, compileBundle(SOURCE, '/x/bundle.cjs').createCachedData());
  const flipped = Buffer.from(file);
  flipped[flipped.length - 5]! ^= 0xff;
  assert.deepEqual(unpackCodeCache(SOURCE, flipped), { problem: 'corrupt' });
  assert.deepEqual(unpackCodeCache(SOURCE, file.subarray(0, file.length - 1)), { problem: 'corrupt' });
  assert.deepEqual(unpackCodeCache(SOURCE, file.subarray(0, 40)), { problem: 'corrupt' });
  const badMagic = Buffer.from(file);
  badMagic[0] = 0;
  assert.deepEqual(unpackCodeCache(SOURCE, badMagic), { problem: 'corrupt' });
});

test('make writes the executor bundle with a code cache that fits it', () => {
  const r = unpackCodeCache(readFileSync(EXECUTOR_BUNDLE, 'utf8'), readFileSync(EXECUTOR_CODE_CACHE));
  assert.ok('payload' in r, 'the cache was made for this bundle');
});

function fakeReport(): ShrinkReport {
  return { gc: true, trimmed: true, rssBefore: 2, rssAfter: 1 };
}

test('memory is given back once per idle spell, and again after activity', () => {
  let activity = 0;
  const shrinks: ShrinkReport[] = [];
  const s = new IdleShrink(() => activity, (r) => shrinks.push(r), fakeReport);
  assert.equal(s.check(), false, 'the first check has nothing to compare with');
  assert.equal(s.check(), true, 'idle since the last check');
  assert.equal(s.check(), false, 'already given back in this idle spell');
  activity += 100;
  assert.equal(s.check(), false, 'busy');
  assert.equal(s.check(), true, 'idle again');
  assert.equal(shrinks.length, 2);
});

test('shrinkNow collects the heap when gc is exposed and trims malloc', () => {
  const r = shrinkNow();
  assert.equal(r.gc, typeof (globalThis as { gc?: unknown }).gc === 'function');
  assert.ok(r.rssBefore > 0 && r.rssAfter > 0);
  assert.equal(typeof r.trimmed, 'boolean');
});
