// Placement on a host with two GPUs (softgpu with VGPU_SOFTGPU_DEVICES=2): sessions go to the
// least loaded GPU of their VM's pool, a VM may hold several vGPUs, and admission refuses with a
// clear message in the guest's log when the pool has no room. Also the pure parts: the placement
// rule and the usage meter's windows.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';
import { choosePlacement, gpuUuid } from '../../src/mediator/placement.js';
import { UsageMeter } from '../../src/mediator/usage-meter.js';
import type { ProbedDevice } from '../../src/executor/probe.js';

let m: RunningMediator;
let prog: string;

before(async () => {
  m = await startMediator({ env: { VGPU_SOFTGPU_DEVICES: '2', VGPU_SOFTGPU_MEMORY: '2G' } });
  prog = buildProgram('quota');
});
after(async () => {
  await m?.stop();
});

function admin(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(BIN, 'vgpu-admin'), [...args, '--state-dir', m.stateDir], { encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

async function json<T>(...args: string[]): Promise<T> {
  const r = await admin(...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

async function addVm(name: string, ...opts: string[]): Promise<string> {
  const r = await admin('vm', 'add', name, ...opts, '--print-token');
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').at(-1)!;
}

interface Guest {
  waitFor(re: RegExp): Promise<void>;
  release(): void;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function guest(token: string, ...steps: string[]): Guest {
  const p = spawn(join(BIN, 'vgpu-run'), ['--server', m.server, '--token', token, '--', prog, ...steps]);
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  p.stdout.setEncoding('utf8');
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (d: string) => (stderr += d));
  p.stdout.on('data', (d: string) => {
    stdout += d;
    for (const w of [...waiters]) if (w.re.test(stdout)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  return {
    waitFor: (re) => (re.test(stdout) ? Promise.resolve() : new Promise((resolve) => waiters.push({ re, resolve }))),
    release: () => p.stdin.end('\n'),
    done: new Promise((r) => p.on('close', (code) => r({ code, stdout, stderr }))),
  };
}

interface SessionJson { id: number; vm: string; gpus: string[] }

async function sessionOf(vm: string): Promise<SessionJson> {
  for (let i = 0; i < 100; i++) {
    const s = (await json<SessionJson[]>('session', 'list')).find((x) => x.vm === vm);
    if (s) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no session of ${vm}`);
}

test('two softgpu devices are recorded; sessions go to the least loaded GPU; a VM may hold two vGPUs', async () => {
  const gpus = await json<Array<{ uuid: string; ordinal: number; present: boolean }>>('gpu', 'list');
  assert.equal(gpus.length, 2);
  assert.ok(gpus.every((g) => g.present));
  assert.notEqual(gpus[0]!.uuid, gpus[1]!.uuid);

  const a = guest(await addVm('place-a'), 'hold');
  await a.waitFor(/holding/);
  const sa = await sessionOf('place-a');
  const b = guest(await addVm('place-b'), 'hold');
  await b.waitFor(/holding/);
  const sb = await sessionOf('place-b');
  assert.equal(sa.gpus.length, 1);
  assert.notEqual(sb.gpus[0], sa.gpus[0], 'the second session goes to the idle GPU');
  const listed = await json<Array<{ uuid: string; sessions: number }>>('gpu', 'list');
  assert.deepEqual(listed.map((g) => g.sessions), [1, 1]);

  const two = guest(await addVm('place-two', '--vgpus', '2'), 'info', 'hold');
  await two.waitFor(/holding/);
  const st = await sessionOf('place-two');
  assert.equal(st.gpus.length, 2);
  assert.notEqual(st.gpus[0], st.gpus[1], 'its two vGPUs are two GPUs');

  for (const g of [a, b, two]) g.release();
  for (const g of [a, b, two]) assert.equal((await g.done).code, 0);
});

test('a VM runs only on its pool; admission refuses with the reason in the guest log', async () => {
  const gpus = await json<Array<{ uuid: string; ordinal: number }>>('gpu', 'list');
  const second = gpus.find((g) => g.ordinal === 1)!.uuid;
  assert.equal((await admin('pool', 'add', 'solo', '--gpu', second)).status, 0);
  assert.equal((await admin('pool', 'add', 'empty')).status, 0);

  const tok1 = await addVm('solo-1', '--pool', 'solo', '--memory', '1.5G');
  const g1 = guest(tok1, 'hold');
  await g1.waitFor(/holding/);
  assert.deepEqual((await sessionOf('solo-1')).gpus, [second], 'placed on its pool\'s GPU');

  // 1.5 GiB of the 2 GiB GPU is promised to solo-1: a second VM wanting 1 GiB does not fit.
  const full = await guest(await addVm('solo-2', '--pool', 'solo', '--memory', '1G'), 'info').done;
  assert.notEqual(full.code, 0);
  assert.match(full.stderr, /VM solo-2: its pool solo has no room/);
  const same = guest(tok1, 'info');
  assert.equal((await same.done).code, 0, 'the VM already there shares its own quota: admitted');

  const none = await guest(await addVm('nowhere', '--pool', 'empty'), 'info').done;
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /VM nowhere: its pool empty has no GPU on this host/);
  const many = await guest(await addVm('greedy', '--vgpus', '3'), 'info').done;
  assert.match(many.stderr, /VM greedy wants 3 vGPUs but its pool default has 1 GPU/, 'solo took one GPU out of default');
  await m.waitForLog((l) => l.msg === 'admission refused' && l.vm === 'greedy');

  g1.release();
  assert.equal((await g1.done).code, 0);
});

// ---- the pure parts -------------------------------------------------------------------------------

function dev(ordinal: number, totalMem = 1000): ProbedDevice {
  return { ordinal, name: 'g', uuid: ordinal.toString(16).padStart(32, '0'), totalMem, pciDomain: 0, pciBus: ordinal, pciDevice: 0, attributes: [] };
}

test('choosePlacement: fewest sessions, then least busy, then lowest ordinal; room by committed quotas', () => {
  const devices = [dev(0), dev(1), dev(2)];
  const pools = [{ name: 'default', gpuUuids: [] }, { name: 'p', gpuUuids: [gpuUuid(devices[2]!.uuid)] }];
  const vm = { name: 'v', pool: 'default', vgpus: 1, memoryQuota: 400 };
  const load = (l: Record<number, { sessions: number; busyNs: number; committed: number; hasVm?: boolean }>) =>
    (o: number) => ({ sessions: 0, busyNs: 0, committed: 0, hasVm: false, ...l[o] });

  assert.deepEqual(choosePlacement({ vm, pools, devices, load: load({}) }), { ok: true, ordinals: [0] }, 'p owns GPU 2');
  assert.deepEqual(choosePlacement({ vm, pools, devices, load: load({ 0: { sessions: 1, busyNs: 0, committed: 0 } }) }), { ok: true, ordinals: [1] });
  assert.deepEqual(choosePlacement({ vm, pools, devices, load: load({ 0: { sessions: 1, busyNs: 5, committed: 0 }, 1: { sessions: 1, busyNs: 9, committed: 0 } }) }), { ok: true, ordinals: [0] });
  assert.deepEqual(choosePlacement({ vm, pools, devices, load: load({ 0: { sessions: 0, busyNs: 0, committed: 700 } }) }), { ok: true, ordinals: [1] }, 'no room on 0');
  assert.deepEqual(choosePlacement({ vm: { ...vm, vgpus: 2 }, pools, devices, load: load({}) }), { ok: true, ordinals: [0, 1] });
  const full = choosePlacement({ vm, pools, devices, load: load({ 0: { sessions: 1, busyNs: 0, committed: 700 }, 1: { sessions: 1, busyNs: 0, committed: 601 } }) });
  assert.equal(full.ok, false);
  const own = choosePlacement({ vm, pools, devices, load: load({ 0: { sessions: 1, busyNs: 0, committed: 900, hasVm: true } }) });
  assert.deepEqual(own, { ok: true, ordinals: [1] }, 'least loaded first even when its own GPU has room');
  assert.deepEqual(choosePlacement({ vm: { ...vm, pool: 'p' }, pools, devices, load: load({}) }), { ok: true, ordinals: [2] });
  const missing = choosePlacement({ vm: { ...vm, pool: 'gone' }, pools, devices, load: load({}) });
  assert.deepEqual(missing, { ok: false, reason: 'VM v: its pool gone has no GPU on this host' });
});

test('UsageMeter: totals, busy fraction over the window, sessions per VM, drained deltas', () => {
  let now = 10_000;
  const meter = new UsageMeter({ now: () => now, windowMs: 2000 });
  meter.open({ sessionId: 1, vm: 'a', guestPid: 11, gpus: [0] });
  meter.open({ sessionId: 2, vm: 'b', guestPid: 22, gpus: [1] });
  const rep = { type: 'usage' as const, calls: 10, asyncCalls: 2, bytesIn: 1000, bytesOut: 500, busyNs: 1e9, memoryNow: 4096, peakMemory: 8192 };
  meter.record(1, rep);
  assert.deepEqual(meter.utilization('a'), { gpuPercent: 50, memoryPercent: 0 });
  assert.deepEqual(meter.utilization('a', 1), { gpuPercent: 0, memoryPercent: 0 }, 'not on that GPU');
  assert.deepEqual(meter.utilization('b'), { gpuPercent: 0, memoryPercent: 0 }, 'another VM is not counted');
  assert.deepEqual(meter.sessions('a'), [{ sessionId: 1, guestPid: 11, memoryUsed: 4096 }]);
  now += 1000;
  meter.record(1, { ...rep, busyNs: 2e9 });
  assert.equal(meter.utilization('a').gpuPercent, 100, 'capped');
  now += 2500;
  assert.equal(meter.utilization('a').gpuPercent, 0, 'old samples leave the window');
  const d = meter.drain();
  assert.deepEqual(d, [{ vm: 'a', deviceTimeNs: 3e9, bytesHtoD: 2000, bytesDtoH: 1000, calls: 20, memoryNow: 8192 }]);
  assert.deepEqual(meter.drain(), [], 'drained');
  meter.close(1);
  assert.deepEqual(meter.sessions('a'), []);
  assert.equal(meter.totals().get('a')?.calls, 20, 'totals outlive the session');
  meter.record(1, rep);
  assert.equal(meter.totals().get('a')?.calls, 30, "a report arriving after the executor's exit still counts");
  assert.equal(meter.drain()[0]?.calls, 10);
  meter.record(99, rep);
  assert.deepEqual(meter.drain(), [], 'a session never opened is ignored');
});
