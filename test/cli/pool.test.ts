// vgpu-admin pool, gpu, session and usage commands on the store directly (no mediator running),
// run in-process through main(): pool rules, the live-only commands' refusal, usage periods.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Store } from '../../src/store/index.js';
import { cli, snapshot, tempDir } from './helpers.js';

const G1 = 'GPU-11111111-1111-1111-1111-111111111111';
const G2 = 'GPU-22222222-2222-2222-2222-222222222222';

function seed(dir: string): void {
  const s = Store.open(dir, { actor: 'test' });
  try {
    for (const uuid of [G1, G2]) s.recordGpu({ uuid, name: 'Test GPU', backend: 'softgpu', totalMemory: 2 ** 33, pciBusId: null });
  } finally {
    s.close();
  }
}

test('pool add, set, rm and gpu list on the store', async (t) => {
  const dir = tempDir(t);
  seed(dir);
  const add = await cli(['pool', 'add', 'fast', '--gpu', G1, '--gpu', G2.toUpperCase().replace('GPU-', 'GPU-'), '--state-dir', dir]);
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stdout, new RegExp(`created pool fast \\(${G1}, ${G2}\\)`));
  const gpus = JSON.parse((await cli(['gpu', 'list', '--json', '--state-dir', dir])).stdout) as Array<{ uuid: string; pool: string; present: boolean }>;
  assert.deepEqual(gpus.map((g) => [g.uuid, g.pool, g.present]), [[G1, 'fast', false], [G2, 'fast', false]]);
  const human = await cli(['gpu', 'list', '--state-dir', dir]);
  assert.match(human.stdout, /no mediator running/);

  const set = await cli(['pool', 'set', 'fast', '--gpu', G2, '--state-dir', dir]);
  assert.equal(set.status, 0, set.stderr);
  const pools = JSON.parse((await cli(['pool', 'list', '--json', '--state-dir', dir])).stdout) as Array<{ name: string; gpuUuids: string[]; vms: number }>;
  assert.deepEqual(pools.map((p) => [p.name, p.gpuUuids, p.vms]), [['default', [], 0], ['fast', [G2], 0]]);
  const none = await cli(['pool', 'set', 'fast', '--no-gpus', '--state-dir', dir]);
  assert.equal(none.status, 0, none.stderr);
  const rm = await cli(['pool', 'rm', 'fast', '--state-dir', dir]);
  assert.equal(rm.status, 0, rm.stderr);
  assert.match(rm.stdout, /removed pool fast/);
  const audit = JSON.parse((await cli(['audit', '--json', '--target', 'fast', '--state-dir', dir])).stdout) as Array<{ action: string }>;
  assert.deepEqual(audit.map((e) => e.action), ['pool.create', 'pool.update', 'pool.update', 'pool.delete']);
});

test('pool validation: unknown GPU, GPU in another pool, pool in use; nothing changes', async (t) => {
  const dir = tempDir(t);
  seed(dir);
  assert.equal((await cli(['pool', 'add', 'a', '--gpu', G1, '--state-dir', dir])).status, 0);
  assert.equal((await cli(['vm', 'add', 'user', '--pool', 'a', '--state-dir', dir])).status, 0);
  const before = snapshot(dir);
  const cases: Array<[string[], number, RegExp]> = [
    [['pool', 'add', 'b', '--gpu', 'GPU-99999999-9999-9999-9999-999999999999'], 3, /no GPU GPU-99999999-9999-9999-9999-999999999999 has been seen on this host\n.*gpu list/],
    [['pool', 'add', 'b', '--gpu', G1], 2, /already in another pool: GPU-11111111-1111-1111-1111-111111111111 \(pool a\)/],
    [['pool', 'add', 'b', '--gpu', 'GPU-1'], 2, /invalid gpuUuids/],
    [['pool', 'add', 'a'], 2, /a pool named "a" already exists/],
    [['pool', 'add', 'bad name'], 2, /invalid pool name "bad name"/],
    [['pool', 'set', 'a'], 2, /nothing to change/],
    [['pool', 'set', 'a', '--gpu', G2, '--no-gpus'], 2, /contradict/],
    [['pool', 'set', 'nope', '--gpu', G2], 3, /no pool named "nope"/],
    [['pool', 'set', 'default', '--gpu', G2], 2, /default pool/],
    [['pool', 'rm', 'a'], 4, /pool "a" is used by 1 VM\(s\): user\n.*vm set NAME --pool OTHER/],
    [['pool', 'rm', 'default'], 2, /cannot be removed/],
    [['pool', 'rm', 'nope'], 3, /no pool named "nope"/],
  ];
  for (const [argv, status, message] of cases) {
    const r = await cli([...argv, '--state-dir', dir]);
    assert.equal(r.status, status, `${argv.join(' ')}: status ${r.status}, stderr ${r.stderr}`);
    assert.match(r.stderr, message, argv.join(' '));
    assert.equal(r.stdout, '');
  }
  assert.equal(snapshot(dir), before);
});

test('session commands need a running mediator; an unreachable --url is an error, not a fallback', async (t) => {
  const dir = tempDir(t);
  for (const argv of [['session', 'list'], ['session', 'kill', '7']]) {
    const r = await cli([...argv, '--json', '--state-dir', dir]);
    assert.equal(r.status, 5, r.stderr);
    assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code, 'VGPU_ERR_NO_MEDIATOR');
  }
  const before = snapshot(dir);
  const r = await cli(['vm', 'add', 'x', '--url', 'http://127.0.0.1:1', '--state-dir', dir]);
  assert.equal(r.status, 5);
  assert.match(r.stderr, /cannot reach the mediator's admin API at http:\/\/127\.0\.0\.1:1/);
  const env = await cli(['vm', 'list', '--state-dir', dir], { VGPU_ADMIN_URL: 'ftp://nowhere' });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /expected http:\/\/HOST:PORT/);
  assert.equal(snapshot(dir), before, 'nothing was written to the store instead');
  // A stale admin.json (its process is gone) means no mediator: the store is used.
  writeFileSync(path.join(dir, 'admin.json'), JSON.stringify({ url: 'http://127.0.0.1:1', pid: 2 ** 22 + 12345 }));
  const stale = await cli(['vm', 'list', '--state-dir', dir]);
  assert.equal(stale.status, 0, stale.stderr);
});

test('usage per VM, all time and since a time', async (t) => {
  let now = new Date('2026-01-01T00:00:00Z');
  const dir = tempDir(t);
  const s = Store.open(dir, { actor: 'test', now: () => now });
  try {
    s.addVm({ name: 'u1' });
    s.addVm({ name: 'u2' });
    s.addUsage('u1', { calls: 10, deviceTimeNs: 2e9, bytesHtoD: 100, bytesDtoH: 50, memoryNow: 4096 });
    now = new Date('2026-01-02T00:00:00Z');
    s.addUsage('u1', { calls: 5, deviceTimeNs: 1e9, memoryNow: 1024 });
  } finally {
    s.close();
  }
  type U = { vm: string; calls: number; deviceTimeNs: number; peakMemory: number; since: string | null };
  const all = JSON.parse((await cli(['usage', '--json', '--state-dir', dir])).stdout) as U[];
  assert.deepEqual(all.map((u) => [u.vm, u.calls, u.deviceTimeNs, u.peakMemory, u.since]), [['u1', 15, 3e9, 4096, null], ['u2', 0, 0, 0, null]]);
  const since = JSON.parse((await cli(['usage', '--vm', 'u1', '--since', '2026-01-01T12:00Z', '--json', '--state-dir', dir])).stdout) as U[];
  assert.deepEqual(since.map((u) => [u.vm, u.calls, u.deviceTimeNs, u.peakMemory]), [['u1', 5, 1e9, 1024]]);
  const human = await cli(['usage', '--vm', 'u1', '--state-dir', dir]);
  assert.match(human.stdout, /^u1\s+3\.000s\s+15\s+100 B\s+50 B\s+4 KiB$/m);
  const bad = await cli(['usage', '--vm', 'ghost', '--state-dir', dir]);
  assert.equal(bad.status, 3);
  const badSince = await cli(['usage', '--since', 'soon', '--state-dir', dir]);
  assert.equal(badSince.status, 2);
  assert.match(badSince.stderr, /invalid since/);
});
