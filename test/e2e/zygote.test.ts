// Executors are forked by the executor zygote (docs/executors.md, "Zygote"): a Node process that
// has loaded the executor but no driver. Each forked executor is still a process and a session of
// its own that loads the driver itself, serves one guest and exits cleanly; its death ends its
// session only; the zygote's death costs no session, and executors start the other way until a
// new zygote is ready. VGPU_EXECUTOR_ZYGOTE=0 turns it off.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest, startGuest } from '../helpers/programs.js';
import { alive, mappedFiles, parentOf, sessionOf } from '../helpers/procs.js';

type Line = Record<string, unknown>;

async function until(what: string, pred: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const zygoteReady = (l: Line): boolean => l.msg === 'executor zygote ready' && typeof l.zygotePid === 'number';

/** The executor pid of the session attached after `seen` such lines. */
async function attachedExecutor(m: RunningMediator, seen: number): Promise<number> {
  await until('a session attached', () => m.logs.filter((l) => l.msg === 'session attached to executor').length > seen);
  return Number(m.logs.filter((l) => l.msg === 'session attached to executor')[seen]!.executorPid);
}

function exitOf(m: RunningMediator, pid: number): Line | undefined {
  return m.logs.find((l) => l.msg === 'executor exited' && l.executorPid === pid);
}

const isDriver = (f: string): boolean => /libvgpu-softgpu|libcuda\.so/.test(f);

test('executors are forked by a zygote that holds no driver; each is a session of its own, serves, and exits cleanly', async () => {
  const m = await startMediator();
  try {
    const zygote = Number((await m.waitForLog(zygoteReady, 30_000)).zygotePid);
    assert.equal(parentOf(zygote), m.proc.pid);
    assert.ok(!mappedFiles(zygote).some(isDriver), 'the zygote has loaded no driver: a driver is never forked');
    const token = await m.addVm('z1');
    const g = startGuest(m.server, token, buildProgram('quota'), ['alloc:8', 'hold', 'alloc:4']);
    assert.match(await g.waitFor(/^alloc 8 /), /-> 0$/);
    await g.waitFor(/^holding$/);
    const pid = await attachedExecutor(m, 0);
    assert.equal(parentOf(pid), zygote, 'the session\'s executor is the zygote\'s child');
    assert.equal(sessionOf(pid), pid, 'it leads a session (and process group) of its own');
    assert.ok(mappedFiles(pid).some(isDriver), 'it loaded the driver itself');
    // Its greeting named its own pid (Node keeps the pid it started with: the zygote's).
    assert.ok(m.logs.some((l) => l.msg === 'executor ready' && l.executorPid === pid));
    g.step();
    assert.match(await g.waitFor(/^alloc 4 /), /-> 0$/);
    assert.equal(await g.done, 0, g.stderr());
    await until('its exit is reported', () => exitOf(m, pid) !== undefined);
    assert.equal(exitOf(m, pid)!.code, 0);
    // Node's own exit would wait forever for the zygote's V8 threads: it must not be used.
    await until('the executor process is gone', () => !alive(pid), 10_000);
  } finally {
    await m.stop();
  }
});

test('a forked executor killed mid-session ends its session only, and the zygote says how it ended', async () => {
  const m = await startMediator({ spareExecutors: 2 });
  try {
    await m.waitForLog(zygoteReady, 30_000);
    const token = await m.addVm('z2');
    const quota = buildProgram('quota');
    const a = startGuest(m.server, token, quota, ['alloc:8', 'hold', 'alloc:4']);
    await a.waitFor(/^holding$/);
    const pidA = await attachedExecutor(m, 0);
    const b = startGuest(m.server, token, quota, ['alloc:8', 'hold', 'alloc:4']);
    await b.waitFor(/^holding$/);
    const pidB = await attachedExecutor(m, 1);
    process.kill(pidA, 'SIGKILL');
    await until('the killed executor\'s end is reported', () => exitOf(m, pidA) !== undefined);
    assert.equal(exitOf(m, pidA)!.signal, 'SIGKILL');
    a.step();
    assert.doesNotMatch(await a.waitFor(/^alloc 4 /), /-> 0$/, 'the guest of the killed executor sees its session end');
    await a.done;
    b.step();
    assert.match(await b.waitFor(/^alloc 4 /), /-> 0$/, 'the other session goes on');
    assert.equal(await b.done, 0, b.stderr());
    assert.ok(exitOf(m, pidB) === undefined || exitOf(m, pidB)!.code === 0);
  } finally {
    await m.stop();
  }
});

test('when the zygote dies, sessions go on, executors start the other way, and a new zygote takes over', async () => {
  const m = await startMediator();
  try {
    const first = Number((await m.waitForLog(zygoteReady, 30_000)).zygotePid);
    const token = await m.addVm('z3');
    const g = startGuest(m.server, token, buildProgram('quota'), ['alloc:8', 'hold', 'alloc:4']);
    await g.waitFor(/^holding$/);
    const pid = await attachedExecutor(m, 0);
    assert.equal(parentOf(pid), first);
    process.kill(first, 'SIGKILL');
    await m.waitForLog((l) => l.msg === 'executor zygote ended; executors start as processes of their own until another is ready');
    // Meanwhile a guest is served by an executor the mediator starts itself.
    const r = await runGuest(buildProgram('alloc_paths'), ['--server', m.server], {}, 120_000, ['alloc:1']);
    assert.equal(r.code, 0, r.stderr);
    // The orphaned executor goes on serving, and its end is still seen (its handoff socket).
    g.step();
    assert.match(await g.waitFor(/^alloc 4 /), /-> 0$/);
    assert.equal(await g.done, 0, g.stderr());
    await until('the orphaned executor\'s end is seen', () => exitOf(m, pid) !== undefined);
    const second = Number((await m.waitForLog((l) => zygoteReady(l) && l.zygotePid !== first, 30_000)).zygotePid);
    // Executors forked by the new zygote serve again (after the spare started meanwhile is used).
    const before = m.logs.filter((l) => l.msg === 'session attached to executor').length;
    let forked = false;
    for (let i = 0; i < 3 && !forked; i++) {
      const h = startGuest(m.server, token, buildProgram('quota'), ['alloc:8', 'hold']);
      await h.waitFor(/^holding$/);
      forked = parentOf(await attachedExecutor(m, before + i)) === second;
      h.release();
      assert.equal(await h.done, 0, h.stderr());
    }
    assert.ok(forked, 'the new zygote forks executors');
  } finally {
    await m.stop();
  }
});

test('VGPU_EXECUTOR_ZYGOTE=0 starts every executor as a process of its own; a bad value is refused at start', async () => {
  const m = await startMediator({ env: { VGPU_EXECUTOR_ZYGOTE: '0' } });
  try {
    const token = await m.addVm('z4');
    const g = startGuest(m.server, token, buildProgram('quota'), ['alloc:8', 'hold']);
    await g.waitFor(/^holding$/);
    assert.equal(parentOf(await attachedExecutor(m, 0)), m.proc.pid);
    g.release();
    assert.equal(await g.done, 0, g.stderr());
    assert.ok(!m.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('zygote')));
  } finally {
    await m.stop();
  }
  await assert.rejects(startMediator({ env: { VGPU_EXECUTOR_ZYGOTE: 'maybe' } }), /VGPU_EXECUTOR_ZYGOTE must be 0, 1, on or off/);
});
