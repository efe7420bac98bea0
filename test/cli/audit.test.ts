// vgpu-admin audit and pool list.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store } from '../../src/store/index.js';
import { cli, tempDir } from './helpers.js';

test('audit lists changes oldest first, filtered by target and limited', async (t) => {
  const dir = tempDir(t);
  await cli(['vm', 'add', 'a', '--state-dir', dir]);
  await cli(['vm', 'add', 'b', '--state-dir', dir]);
  await cli(['vm', 'set', 'a', '--weight', '9', '--state-dir', dir]);
  await cli(['vm', 'token', 'a', '--rotate', '--state-dir', dir]);
  const all = await cli(['audit', '--state-dir', dir]);
  assert.equal(all.status, 0, all.stderr);
  const lines = all.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^TIME\s+ACTOR\s+ACTION\s+TARGET\s+DETAILS$/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(/\s{2,}/)[2]), ['vm.create', 'vm.create', 'vm.update', 'vm.token.rotate']);
  assert.match(lines[3] ?? '', /\{"weight":\{"from":100,"to":9\}\}/);
  const forA = JSON.parse((await cli(['audit', '--target', 'a', '--json', '--state-dir', dir])).stdout) as Array<{ action: string }>;
  assert.deepEqual(forA.map((e) => e.action), ['vm.create', 'vm.update', 'vm.token.rotate']);
  const last = JSON.parse((await cli(['audit', '--limit', '1', '--json', '--state-dir', dir])).stdout) as Array<{ action: string }>;
  assert.deepEqual(last.map((e) => e.action), ['vm.token.rotate']);
  const bad = await cli(['audit', '--limit', 'many', '--state-dir', dir]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /invalid --limit/);
  const empty = await cli(['audit', '--state-dir', tempDir(t)]);
  assert.match(empty.stdout, /no changes recorded/);
});

test('pool list shows the default pool, the others, and how many VMs each has', async (t) => {
  const dir = tempDir(t);
  const s = Store.open(dir, { actor: 'test' });
  s.addPool({ name: 'gold', gpuUuids: ['GPU-00000000-0000-0000-0000-000000000001'] });
  s.close();
  await cli(['vm', 'add', 'a', '--pool', 'gold', '--state-dir', dir]);
  await cli(['vm', 'add', 'b', '--state-dir', dir]);
  await cli(['vm', 'add', 'c', '--pool', 'gold', '--state-dir', dir]);
  const r = await cli(['pool', 'list', '--state-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^default\s+1\s+\(every GPU no other pool names\)$/m);
  assert.match(r.stdout, /^gold\s+2\s+GPU-00000000-0000-0000-0000-000000000001$/m);
  const j = JSON.parse((await cli(['pool', 'list', '--json', '--state-dir', dir])).stdout) as Array<{ name: string; vms: number }>;
  assert.deepEqual(j.map((p) => [p.name, p.vms]), [['default', 1], ['gold', 2]]);
});
