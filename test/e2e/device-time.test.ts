// Device time measured with events (src/executor/device-time.ts) through the whole path: a
// mediator told to use events (as it does by default on a real GPU) runs a compute-bound guest on
// softgpu, whose events are timestamped when the work has run. The VM's usage then shows the
// device time the events measured, which lies within the session's life. How close it comes to
// the executor's time in calls or the guest's own timing of the work depends on how the machine
// schedules the processes, so those are only printed. The model-GPU unit test
// (test/executor/device-time.test.ts) covers what softgpu cannot show: asynchronous streams, on a
// virtual clock, where exact figures can be asserted.
//
// Checked under load on 2026-12-06 with test/e2e/scheduling.test.ts (see there): 5 runs in a row
// with both cores kept busy, all passed; device time 1.7-3.6 s, 67-170 ms under the session's
// duration and within 40 ms of the call time (once 0.5 ms above it: a serving run's closing mark is
// recorded after its last call, so the call time is not a bound).

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

test('events-measured device time is recorded in the usage, within the session', async (t) => {
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
  const sessionMs = Number(ended.durationMs);
  t.diagnostic(`device time ${deviceMs.toFixed(1)} ms (events), guest-timed work ${workMs} ms, executor call time ${(Number(ended.busyNs) / 1e6).toFixed(1)} ms, session ${sessionMs} ms`);
  assert.ok(deviceMs > 0, 'the events measured the launches');
  // Every window the events bracket (each serving run's launches and the kernels they run) lies
  // within the session, timed on the same monotonic clock; its duration is logged rounded to 1 ms.
  assert.ok(deviceMs <= sessionMs + 1, `device time ${deviceMs.toFixed(1)} ms in a session of ${sessionMs} ms`);
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
