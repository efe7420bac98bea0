// Device time measured with events (src/executor/device-time.ts) through the whole path: a
// mediator told to use events (as it does by default on a real GPU) runs a compute-bound guest on
// softgpu, whose events are timestamped when the work has run. The VM's usage then shows device
// time close to the guest's own timing of that work. The model-GPU unit test
// (test/executor/device-time.test.ts) covers what softgpu cannot show: asynchronous streams.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, kernelsFatbin, runGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

let m: RunningMediator;
let fatbin: string;
let prog: string;

before(async () => {
  m = await startMediator({ env: { VGPU_DEVICE_TIME: 'events' } });
  fatbin = kernelsFatbin();
  prog = buildProgram('compute');
});
after(async () => {
  await m?.stop();
});

test('events-measured device time matches the work the guest timed', async (t) => {
  const token = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'dt', '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' })
    .trim().split('\n').at(-1)!;
  const r = await runGuest(prog, ['--server', m.server, '--token', token], {}, 120_000, [fatbin, '40', '150']);
  assert.equal(r.code, 0, r.stderr);
  const workMs = (JSON.parse(r.stdout) as { ms: number }).ms;
  const ended = await m.waitForLog((l) => l.msg === 'session ended' && l.vm === 'dt');
  assert.equal(ended.deviceTimeMode, 'events');
  const res = await fetch(`${m.admin}/v1/usage?vm=dt`);
  assert.equal(res.status, 200);
  const [u] = (await res.json()) as Array<{ deviceTimeNs: number }>;
  const deviceMs = u!.deviceTimeNs / 1e6;
  t.diagnostic(`device time ${deviceMs.toFixed(1)} ms (events), guest-timed work ${workMs} ms, executor call time ${(Number(ended.busyNs) / 1e6).toFixed(1)} ms`);
  // The events bracket each serving run's work: the launches and the kernels they run, not the
  // module load or the gaps between runs, so a little less than the guest's wall time of it.
  assert.ok(deviceMs > 0.5 * workMs && deviceMs < 1.2 * workMs, `device time ${deviceMs.toFixed(1)} ms for ${workMs} ms of work`);
});

test('a bad device-time mode stops the mediator with a clear message', () => {
  const env = { ...process.env, VGPU_DEVICE_TIME: 'sometimes' };
  const viaEnv = spawnSync(join(BIN, 'vgpu-mediator'), ['--state-dir', m.stateDir, '--listen', 'unix:/tmp/vgpu-never.sock'], { env, encoding: 'utf8' });
  assert.equal(viaEnv.status, 2);
  assert.match(viaEnv.stderr, /VGPU_DEVICE_TIME=sometimes: expected one of auto, events, host/);
  const viaFlag = spawnSync(join(BIN, 'vgpu-mediator'), ['--device-time', 'gpu', '--state-dir', m.stateDir], { encoding: 'utf8' });
  assert.equal(viaFlag.status, 2);
  assert.match(viaFlag.stderr, /--device-time.*gpu.*auto, events, host/s);
});
