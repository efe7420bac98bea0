// vgpu-admin against a running mediator: it finds the admin API through the state directory, so
// changes go through the mediator and apply live; it lists and ends sessions of real guests; and
// usage accounting grows as a guest runs kernels.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, kernelsFatbin, runGuest, startGuest, type InteractiveGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

let m: RunningMediator;
let quotaProg: string;
let computeProg: string;
let fatbin: string;

before(async () => {
  m = await startMediator({ env: { VGPU_SOFTGPU_MEMORY: '2G' } });
  quotaProg = buildProgram('quota');
  computeProg = buildProgram('compute');
  fatbin = kernelsFatbin();
});
after(async () => {
  await m?.stop();
});

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs bin/vgpu-admin against the test mediator's state directory (not blocking the event loop,
 * which collects the mediator's log). */
function admin(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(join(BIN, 'vgpu-admin'), [...args, '--state-dir', m.stateDir], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) => resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

async function adminJson<T>(...args: string[]): Promise<T> {
  const r = await admin(...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

async function token(name: string, ...opts: string[]): Promise<string> {
  const r = await admin('vm', 'add', name, ...opts, '--print-token');
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').at(-1)!;
}

/** The quota program as VM `tok`, running `steps`; "hold" waits for release(). */
function guest(tok: string, ...steps: string[]): InteractiveGuest {
  return startGuest(m.server, tok, quotaProg, steps);
}

interface SessionJson {
  id: number;
  vm: string;
  program: string;
  state: string;
  memoryUsed: number;
  gpus: string[];
  devices: Array<{ vgpu: number; guestUuid: string; gpu: string; gpuOrdinal: number }>;
}

/** Polls `session list` until `pred` holds (the executor reports about once a second). */
async function sessionWhere(pred: (s: SessionJson) => boolean, timeoutMs = 15_000): Promise<SessionJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await adminJson<SessionJson[]>('session', 'list')).find(pred);
    if (found) return found;
    if (Date.now() > deadline) throw new Error('no matching session');
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('vgpu-admin goes through the running mediator: audited as the admin-token file\'s operator, bad input refused, vm set applies live', async () => {
  const tok = await token('live1', '--priority', 'low');
  const audit = await adminJson<Array<{ actor: string; action: string }>>('audit', '--target', 'live1');
  assert.deepEqual(audit.map((e) => [e.action, e.actor]), [['vm.create', 'operator:admin']], 'the change went through the admin API with the admin token');

  const cases: Array<[string[], number, RegExp]> = [
    [['vm', 'add', 'live1'], 4, /VM named "live1" already exists/],
    [['vm', 'set', 'live1', '--priority', 'urgent'], 2, /invalid priority "urgent"/],
    [['vm', 'set', 'live1', '--memory', '12 bananas'], 2, /invalid size/],
    [['vm', 'set', 'ghost', '--weight', '5'], 3, /no VM named "ghost"/],
    [['pool', 'add', 'px', '--gpu', 'GPU-00000000-0000-0000-0000-000000000000'], 3, /no GPU GPU-00000000-0000-0000-0000-000000000000 has been seen/],
    [['pool', 'rm', 'default'], 2, /cannot be removed/],
    [['session', 'kill', '999'], 3, /no running session 999/],
    [['session', 'kill', 'abc'], 2, /expected a whole number/],
    [['usage', '--since', 'last tuesday'], 2, /"last tuesday" is neither an ISO time .* nor a duration/],
  ];
  const before = JSON.stringify(await adminJson('vm', 'list')) + JSON.stringify(await adminJson('pool', 'list'));
  const auditCount = (await adminJson<unknown[]>('audit', '--limit', '1000')).length;
  for (const [args, status, re] of cases) {
    const r = await admin(...args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  assert.equal(JSON.stringify(await adminJson('vm', 'list')) + JSON.stringify(await adminJson('pool', 'list')), before, 'nothing changed');
  assert.equal((await adminJson<unknown[]>('audit', '--limit', '1000')).length, auditCount, 'nothing audited');

  const g = guest(tok, 'alloc:16', 'hold');
  await g.waitFor(/holding/);
  const set = await admin('vm', 'set', 'live1', '--priority', 'high');
  assert.equal(set.status, 0, set.stderr);
  assert.match(set.stdout, /priority low -> high/);
  const applied = await m.waitForLog((l) => l.msg === 'VM settings changed; applied to its running sessions' && l.vm === 'live1');
  assert.equal(applied.priority, 'high', 'the mediator uses the new priority for the running session');
  g.release();
  assert.equal(await g.done, 0);
});

test('session list shows an attached guest; session kill ends it: the guest is told, the executor reclaimed', async () => {
  const tok = await token('victim', '--memory', '1G');
  const g = guest(tok, 'alloc:64', 'hold', 'info');
  await g.waitFor(/holding/);
  const s = await sessionWhere((x) => x.vm === 'victim' && x.memoryUsed === 64 * 1024 * 1024);
  assert.match(s.program, /quota/);
  assert.equal(s.state, 'attached');
  assert.equal(s.gpus.length, 1);
  const human = await admin('session', 'list');
  assert.match(human.stdout, new RegExp(`^${s.id}\\s+victim\\s+attached`, 'm'));
  // Guest and host UUIDs side by side: the guest's own, and the host GPU (ordinal, UUID) behind it.
  const [d] = s.devices;
  assert.ok(d, 'one vGPU');
  assert.deepEqual([d.vgpu, d.gpu, d.gpuOrdinal], [0, s.gpus[0], 0]);
  assert.match(d.guestUuid, /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(d.guestUuid, d.gpu);
  assert.match(human.stdout, /GUEST GPU UUID\s+HOST GPU$/m);
  assert.match(human.stdout, new RegExp(`^${s.id}\\s.*\\s${d.guestUuid}\\s+0 ${d.gpu}$`, 'm'));
  const api = await (await fetch(`${m.admin}/v1/sessions`)).json() as SessionJson[];
  assert.deepEqual(api.find((x) => x.id === s.id)?.devices, s.devices, 'GET /v1/sessions has the same mapping');

  const kill = await admin('session', 'kill', String(s.id), '--reason', 'maintenance window');
  assert.equal(kill.status, 0, kill.stderr);
  assert.match(kill.stdout, new RegExp(`ended session ${s.id} of VM victim`));
  g.release();
  assert.equal(await g.done, 0, 'the program itself goes on; its CUDA calls fail');
  assert.match(g.lines.at(-1)!, /^info .* r=(?!0,0)/, 'the call after the kill fails');
  assert.match(g.stderr(), /VG_WIRE_STATUS_KILLED.*maintenance window/, "the guest's log says why");

  await m.waitForLog((l) => l.msg === 'executor exited' && l.session === String(s.id), 20_000);
  const after = await adminJson<SessionJson[]>('session', 'list');
  assert.ok(!after.some((x) => x.id === s.id), 'the session is gone');
  const metrics = await (await fetch(`${m.admin}/metrics`)).text();
  assert.match(metrics, /^vgpu_vm_memory_used_bytes\{vm="victim"\} 0$/m, 'its memory is free again');
  const audit = await adminJson<Array<{ action: string; details: Record<string, unknown> }>>('audit', '--target', 'victim');
  assert.equal(audit.at(-1)?.action, 'session.kill');
  assert.equal(audit.at(-1)?.details.reason, 'maintenance window');
});

test('gpu list --vm shows the UUID that VM\'s guest sees on each GPU, as the guest reports it', async () => {
  const tok = await token('uuidvm');
  const r = await runGuest(buildProgram('uuid'), ['--server', m.server, '--token', tok], {});
  assert.equal(r.code, 0, r.stderr);
  const seen = r.stdout.trim();
  const gpus = await adminJson<Array<{ uuid: string; guestUuid: string }>>('gpu', 'list', '--vm', 'uuidvm');
  assert.equal(gpus.length, 1);
  assert.equal(gpus[0]!.guestUuid, seen, 'the derivation gpu list shows is the one the mediator applies');
  assert.notEqual(gpus[0]!.uuid, seen);
  const human = await admin('gpu', 'list', '--vm', 'uuidvm');
  assert.match(human.stdout, /UUID IN uuidvm \(vGPU 0\)$/m);
  assert.match(human.stdout, new RegExp(`^${gpus[0]!.uuid}\\s.*\\s${seen}$`, 'm'));
  await token('uuidvm2');
  const other = await adminJson<Array<{ guestUuid: string }>>('gpu', 'list', '--vm', 'uuidvm2');
  assert.notEqual(other[0]!.guestUuid, seen, 'each VM sees its own UUID');
  const unknown = await admin('gpu', 'list', '--vm', 'nosuchvm');
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /nosuchvm/);
  const slot = await admin('gpu', 'list', '--vm', 'uuidvm', '--vgpu', '1');
  assert.equal(slot.status, 2);
  assert.match(slot.stderr, /VM uuidvm has 1 vGPU \(0 to 0\)/);
});

test('vm rm ends the running sessions of the VM', async () => {
  const tok = await token('doomed');
  const g = guest(tok, 'hold', 'info');
  await g.waitFor(/holding/);
  await sessionWhere((x) => x.vm === 'doomed');
  const rm = await admin('vm', 'rm', 'doomed');
  assert.equal(rm.status, 0, rm.stderr);
  assert.match(rm.stdout, /1 running session ended/);
  g.release();
  assert.equal(await g.done, 0);
  assert.match(g.stderr(), /VG_WIRE_STATUS_KILLED.*VM doomed was removed/);
});

test('usage totals grow after a guest runs kernels', async () => {
  const tok = await token('worker');
  const zero = (await adminJson<Array<{ calls: number; deviceTimeNs: number }>>('usage', '--vm', 'worker'))[0]!;
  assert.equal(zero.calls, 0);
  const r = await runGuest(computeProg, ['--server', m.server, '--token', tok], {}, 120_000, [fatbin, '4', '20']);
  assert.equal(r.code, 0, r.stderr);
  await m.waitForLog((l) => l.msg === 'executor exited' && l.vm === 'worker', 20_000);
  const all = (await adminJson<Array<{ vm: string; calls: number; deviceTimeNs: number; bytesHtoD: number; bytesDtoH: number }>>('usage', '--vm', 'worker'))[0]!;
  assert.equal(all.vm, 'worker');
  assert.ok(all.calls >= 4, `calls ${all.calls}`);
  assert.ok(all.deviceTimeNs > 0);
  assert.ok(all.bytesHtoD > 0 && all.bytesDtoH > 0);
  const recent = (await adminJson<Array<{ calls: number; since: string }>>('usage', '--vm', 'worker', '--since', '1h'))[0]!;
  assert.equal(recent.calls, all.calls, 'all of it happened in the last hour');
  assert.ok(recent.since);
  const future = (await adminJson<Array<{ calls: number }>>('usage', '--vm', 'worker', '--since', '2099-01-01'))[0]!;
  assert.equal(future.calls, 0);
  const show = await adminJson<{ usage: { calls: number } }>('vm', 'show', 'worker');
  assert.equal(show.usage.calls, all.calls);
  const metrics = await (await fetch(`${m.admin}/metrics`)).text();
  const calls = Number(/^vgpu_vm_calls_total\{vm="worker"\} (\d+)$/m.exec(metrics)?.[1]);
  assert.equal(calls, all.calls, '/metrics counts the same calls');
  assert.match(metrics, /^vgpu_vm_device_seconds_total\{vm="worker"\} [0-9.e-]+$/m);
  const human = await admin('usage');
  assert.match(human.stdout, /^worker\s+\d+\.\d{3}s\s+\d+/m);
});
