// Sizes: src/common/size.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VgpuError } from '../../src/common/errors.js';
import { formatSize, parseSize } from '../../src/common/size.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

test('parseSize accepts bytes and binary units in the usual spellings', () => {
  const cases: Array<[string | number, number]> = [
    ['0', 0], ['1048576', MiB], [' 7 ', 7], ['100B', 100], ['100 b', 100],
    ['2G', 2 * GiB], ['2GiB', 2 * GiB], ['2gib', 2 * GiB], ['2GB', 2 * GiB], ['2 G', 2 * GiB],
    ['512M', 512 * MiB], ['512m', 512 * MiB], ['64K', 64 * KiB], ['64 KiB', 64 * KiB],
    ['1.5G', 1.5 * GiB], ['.5M', 512 * KiB], ['1.1G', Math.floor(1.1 * GiB)], ['1.0B', 1],
    ['1T', 1024 ** 4], ['7P', 7 * 1024 ** 5], ['0.001K', 1], [4096, 4096],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ];
  for (const [input, want] of cases) assert.equal(parseSize(input), want, `parseSize(${JSON.stringify(input)})`);
  // 1.1 GiB is 1181116006.4 bytes: exact decimal arithmetic, rounded down
  assert.equal(parseSize('1.1G'), 1181116006);
});

test('parseSize refuses negatives, garbage and overflow, saying why', () => {
  const cases: Array<[string | number, RegExp]> = [
    ['-1', /cannot be negative/], ['-2G', /cannot be negative/], ['', /empty/], ['   ', /empty/],
    ['G', /expected a number/], ['2X', /expected a number/], ['2 apples', /expected a number/], ['1e9', /expected a number/],
    ['0x10', /expected a number/], ['1,5G', /expected a number/], ['2GiBs', /expected a number/], ['2iB', /expected a number/],
    ['1.5', /whole number/], ['1.5B', /whole number/], ['8P', /larger than the largest/],
    ['9007199254740992', /larger than the largest/], ['9'.repeat(60), /too long/],
    [-1, /whole number from 0/], [1.5, /whole number from 0/], [Number.NaN, /whole number from 0/], [2 ** 53, /whole number from 0/],
  ];
  for (const [input, reason] of cases) {
    assert.throws(() => parseSize(input), (e: unknown) => {
      assert.ok(e instanceof VgpuError);
      assert.equal(e.code, 'VGPU_ERR_INVALID_SIZE');
      assert.match(e.message, reason, `parseSize(${JSON.stringify(input)}): ${e.message}`);
      return true;
    });
  }
});

test('formatSize picks the largest binary unit and parses back', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1024), '1 KiB');
  assert.equal(formatSize(1.5 * GiB), '1.5 GiB');
  assert.equal(formatSize(2 * GiB), '2 GiB');
  assert.equal(formatSize(1024 ** 5 * 3), '3 PiB');
  for (const n of [0, 1, 1024, 512 * MiB, 3 * GiB, 1.25 * GiB]) assert.equal(parseSize(formatSize(n)), n);
});
