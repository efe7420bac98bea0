// Sessions survive the mediator (docs/executors.md): kill -9 of the mediator during a run of
// guests doing verified work, and SIGUSR2 (stop, leaving the sessions running), are followed by a
// new mediator on the same state directory that adopts the executors: every guest finishes its
// work correctly, `session list` shows the adopted sessions with their VM and memory, the VM's
// quota counts what adopted sessions hold, and the scheduler grants slices again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Store } from '../../src/store/index.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { sessionList } from '../helpers/burst.js';
import { buildProgram, kernelsFatbin, startGuest, type InteractiveGuest } from '../helpers/programs.js';
import { alive, childrenOf, commandLine } from '../helpers/procs.js';

const MIB = 1 << 20;

/** Waits (bounded) for `pred`; fails with `what` if it never holds. */
async function until(what: string, pred: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The soak program's per-round lines: `round CALLS VERIFIED CORRUPT`. */
function rounds(g: InteractiveGuest): Array<{ verified: number; corrupt: number }> {
  return g.lines.filter((l) => l.startsWith('round ')).map((l) => {
    const [, , v, c] = l.split(' ');
    return { verified: Number(v), corrupt: Number(c) };
  });
}

async function killHard(m: RunningMediator): Promise<void> {
  const exited = new Promise((r) => m.proc.once('exit', r));
  m.proc.kill('SIGKILL');
  await exited;
}

test('kill -9 of the mediator mid-run: a new one adopts every session; work, quota and scheduling go on', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vgpu-adopt-'));
  const soak = buildProgram('soak');
  const quota = buildProgram('quota');
  const fatbin = kernelsFatbin();
  let m1: RunningMediator | undefined;
  let m2: RunningMediator | undefined;
  const guests: InteractiveGuest[] = [];
  try {
    m1 = await startMediator({ stateDir });
    const tokA = await m1.addVm('adopt-a', { memoryQuota: 512 * MIB });
    const tokB = await m1.addVm('adopt-b', { memoryQuota: 1024 * MIB });
    // A session of the quota VM that holds 300 MiB across the restart.
    const holder = startGuest(m1.server, tokA, quota, ['alloc:300', 'hold', 'alloc:8', 'info']);
    guests.push(holder);
    assert.match(await holder.waitFor(/^alloc 300 /), /-> 0$/);
    await holder.waitFor(/^holding$/);
    const workers = [tokA, tokA, tokB, tokB].map((tok, i) => startGuest(m1!.server, tok, soak, [fatbin, String(100 + i), '40']));
    guests.push(...workers);
    await until('every worker is in its run', () => workers.every((w) => rounds(w).length >= 3));
    const before = await sessionList(m1);
    assert.equal(before.length, 5);

    // Executors are the mediator's children, or its zygote's (docs/executors.md, "Zygote").
    const children = childrenOf(m1.proc.pid!);
    const zygotes = children.filter((p) => commandLine(p).includes('--zygote'));
    const spares = [...children, ...zygotes.flatMap(childrenOf)].filter((p) => !zygotes.includes(p) && !before.some((b) => b.executorPid === p));
    assert.ok(spares.length >= 1, 'the mediator has a spare executor');
    await killHard(m1);
    // The spare had no session: it ends by itself rather than wait for a mediator; the zygote
    // ends with its mediator too.
    await until('the dead mediator\'s spare executors and zygote exit', () => [...spares, ...zygotes].every((p) => !alive(p)), 20_000);
    // The lock died with the mediator; the executors (which never held it) live on.
    m2 = await startMediator({ stateDir });
    const m = m2;
    const adoptedIds = (): number[] => m.logs.filter((l) => l.msg === 'session adopted from a previous mediator').map((l) => Number(l.session));
    await until('every session is adopted', () => adoptedIds().length === 5);
    const byId = (a: number, b: number): number => a - b;
    assert.deepEqual(adoptedIds().sort(byId), before.map((s) => s.id).sort(byId), 'the same sessions, by id');
    // A worker may finish its run (and its session end) between its adoption and this listing, so
    // the list holds adopted sessions, the holder (which holds until released) among them.
    const listed = await sessionList(m);
    assert.ok(listed.every((s) => before.some((b) => b.id === s.id)), `only adopted sessions: ${JSON.stringify(listed)}`);
    for (const s of listed) {
      const was = before.find((b) => b.id === s.id)!;
      assert.equal(s.vm, was.vm);
      assert.equal(s.guestPid, was.guestPid);
      assert.equal(s.executorPid, was.executorPid);
      assert.equal(s.state, 'attached');
    }
    const held = listed.find((s) => s.executorPid === before.find((b) => b.vm === 'adopt-a' && b.memoryUsed >= 300 * MIB)?.executorPid);
    assert.ok(held && held.memoryUsed >= 300 * MIB, `the holder's memory is listed: ${JSON.stringify(listed)}`);

    // The quota is enforced with what the adopted sessions hold: 300 MiB more does not fit.
    const over = startGuest(m.server, tokA, quota, ['alloc:300']);
    assert.match(await over.waitFor(/^alloc 300 /), /-> 2$/, 'an allocation beyond the quota fails (CUDA_ERROR_OUT_OF_MEMORY)');
    assert.equal(await over.done, 0);
    // A new session's id is not one of the adopted ones.
    const ids = new Set(listed.map((s) => s.id));
    const newIds = m.logs.filter((l) => l.msg === 'session opened' && l.session !== undefined).map((l) => Number(l.session));
    assert.ok(newIds.length > 0 && newIds.every((id) => !ids.has(id)), 'new sessions get fresh ids');

    // Everyone finishes its work, correctly.
    const codes = await Promise.all(workers.map((w) => w.done));
    assert.deepEqual(codes, [0, 0, 0, 0], workers.map((w) => w.stderr()).join('\n'));
    for (const w of workers) {
      const r = rounds(w);
      assert.equal(r.length, 40);
      assert.equal(r.reduce((a, x) => a + x.corrupt, 0), 0, 'no corrupt byte');
      assert.ok(r.reduce((a, x) => a + x.verified, 0) > 0);
    }
    // The mediator's death abandoned no work (the cancel FIFO is not tied to it): no executor's
    // `session ended` line (logged to the first mediator's stderr, which they inherited) records
    // an abandoned launch. (The guest's own close at its end raises the flag too, with nothing
    // left to abandon.)
    const ended = [...m1.logs, ...m.logs].filter((l) => l.msg === 'session ended');
    assert.ok(ended.length >= 4, 'the workers\' executors logged their end');
    assert.deepEqual(ended.filter((l) => ((l.abandoned as { launchesAbandoned?: number } | undefined)?.launchesAbandoned ?? 0) > 0), []);
    // Slices were granted by the new mediator to adopted sessions.
    assert.ok(m.logs.some((l) => l.msg === 'GPU slice granted' && ids.has(Number(l.session))), 'the new scheduler grants adopted sessions');
    // The holder's session still gets quota (from the new mediator) and ends normally.
    holder.release();
    assert.match(await holder.waitFor(/^alloc 8 /), /-> 0$/);
    assert.equal(await holder.done, 0);
  } finally {
    for (const g of guests) g.kill('SIGKILL');
    if (m1 && m1.proc.exitCode === null && m1.proc.signalCode === null) await killHard(m1);
    await m2?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('SIGUSR2 stops the mediator and leaves its sessions running for the next one', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vgpu-adopt-'));
  const quota = buildProgram('quota');
  let m2: RunningMediator | undefined;
  let g: InteractiveGuest | undefined;
  try {
    const m1 = await startMediator({ stateDir });
    const tok = await m1.addVm('usr2', { memoryQuota: 256 * MIB });
    g = startGuest(m1.server, tok, quota, ['alloc:100', 'hold', 'alloc:100', 'alloc:100', 'info']);
    assert.match(await g.waitFor(/^alloc 100 /), /-> 0$/);
    await g.waitFor(/^holding$/);
    const exited = new Promise<number | null>((r) => m1.proc.once('exit', (code) => r(code)));
    m1.proc.kill('SIGUSR2');
    assert.equal(await exited, 0, 'the mediator exits by itself');
    assert.ok(m1.logs.some((l) => l.msg === 'leaving the sessions running for the next mediator'));
    m2 = await startMediator({ stateDir });
    const m = m2;
    await m.waitForLog((l) => l.msg === 'session adopted from a previous mediator', 30_000);
    const [s] = await sessionList(m);
    assert.equal(s?.vm, 'usr2');
    assert.ok((s?.memoryUsed ?? 0) >= 100 * MIB);
    g.release();
    // 100 + 100 fit the 256 MiB quota; the third 100 does not: the adopted reservation counts.
    assert.match(await g.waitFor(/^alloc 100 -> \d+$/), /-> 0$/);
    await until('the guest is done', () => g!.lines.filter((l) => l.startsWith('alloc 100')).length === 3);
    const allocs = g.lines.filter((l) => l.startsWith('alloc 100'));
    assert.deepEqual(allocs, ['alloc 100 -> 0', 'alloc 100 -> 0', 'alloc 100 -> 2']);
    assert.equal(await g.done, 0);
  } finally {
    g?.kill('SIGKILL');
    await m2?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('an adopted session can be ended by an operator; one whose VM was removed meanwhile is not adopted', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vgpu-adopt-'));
  const quota = buildProgram('quota');
  let m1: RunningMediator | undefined;
  let m2: RunningMediator | undefined;
  const guests: InteractiveGuest[] = [];
  try {
    m1 = await startMediator({ stateDir });
    const kept = startGuest(m1.server, await m1.addVm('kept'), quota, ['alloc:10', 'hold', 'alloc:10']);
    const gone = startGuest(m1.server, await m1.addVm('gone'), quota, ['alloc:10', 'hold', 'alloc:10']);
    guests.push(kept, gone);
    await kept.waitFor(/^holding$/);
    await gone.waitFor(/^holding$/);
    await killHard(m1);
    // Removed while no mediator runs: the next one finds the VM gone when the executor reports in.
    const store = Store.open(stateDir, { actor: 'test' });
    store.removeVm('gone');
    store.close();
    m2 = await startMediator({ stateDir });
    const m = m2;
    const refused = await m.waitForLog((l) => l.msg === 'executor not adopted; its session ends', 30_000);
    assert.match(String(refused.reason), /its VM gone no longer exists/);
    await m.waitForLog((l) => l.msg === 'session adopted from a previous mediator', 30_000);
    gone.release();
    assert.notEqual(await gone.done, null);
    assert.match(gone.stderr(), /could not take the session over: its VM gone no longer exists/);

    const [s] = await sessionList(m);
    assert.equal(s?.vm, 'kept');
    const kill = await m.api('POST', `/v1/sessions/${s!.id}/kill`, { reason: 'maintenance' });
    assert.equal(kill.status, 200);
    kept.release();
    await kept.done;
    assert.match(kept.stderr(), /session ended by an operator: maintenance/);
    await until('the killed session is gone', async () => (await sessionList(m)).length === 0, 20_000);
  } finally {
    for (const g of guests) g.kill('SIGKILL');
    if (m1 && m1.proc.exitCode === null && m1.proc.signalCode === null) await killHard(m1);
    await m2?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
