// Stopping the mediator (docs/operations.md, "Stopping the mediator"): SIGTERM drains. Every guest
// is told (a SHUTDOWN notice), new sessions are refused with VG_WIRE_STATUS_SHUTDOWN, running
// ones may finish within the grace time, and the mediator exits when the last one has ended or
// the grace time is over; a second signal ends the sessions at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { FrameType, Notice } from '../../src/protocol/constants.js';
import { WireStatus } from '../../src/protocol/errors.js';
import { decodeStatus } from '../../src/protocol/handshake.js';
import { decodeShutdownNotice } from '../../src/protocol/notice.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { TestGuest } from '../helpers/guest.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { BIN } from '../helpers/paths.js';
import { buildProgram, startGuest } from '../helpers/programs.js';

const DRAINING = 'shutting down: new sessions are refused, running ones may finish';

function exited(m: RunningMediator): Promise<number | null> {
  return new Promise((resolve) => m.proc.once('exit', (code) => resolve(code)));
}

async function attached(m: RunningMediator): Promise<TestGuest> {
  const g = await TestGuest.connect(m.socket);
  await g.hello();
  await g.attach();
  assert.equal((await g.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0)))!.result, 0);
  return g;
}

/** The next frame must be the SHUTDOWN notice; returns its grace time. */
async function shutdownNoticeOf(g: TestGuest): Promise<number> {
  const f = await g.next();
  assert.equal(f?.type, FrameType.NOTIFY);
  assert.equal(f!.op, Notice.SHUTDOWN);
  const n = decodeShutdownNotice(f!.payload);
  assert.equal(n.message, 'vgpu-mediator received SIGTERM');
  return n.graceMs;
}

/** The next frame must be ERROR VG_WIRE_STATUS_SHUTDOWN; returns its message. */
async function shutdownError(g: TestGuest): Promise<string> {
  const f = await g.next();
  assert.equal(f?.type, FrameType.ERROR);
  const st = decodeStatus(f!.payload);
  assert.equal(st.code, WireStatus.SHUTDOWN);
  return st.message;
}

test('SIGTERM drains: guests are told, new sessions refused, a running program finishes, then the mediator exits', async () => {
  const m = await startMediator({ env: { VGPU_SHUTDOWN_GRACE: '30' } });
  try {
    const discovery = await TestGuest.connect(m.socket);
    await discovery.hello();
    const prog = buildProgram('quota');
    const g = startGuest(m.server, '', prog, ['alloc:1', 'hold', 'alloc:1', 'info']);
    await g.waitFor(/^holding/);
    const exit = exited(m);
    m.proc.kill('SIGTERM');
    await m.waitForLog((l) => l.msg === DRAINING);

    // A session without an executor is told by the mediator itself.
    const grace = await shutdownNoticeOf(discovery);
    assert.ok(grace > 0 && grace <= 30_000, `grace ${grace} ms`);
    const late = await TestGuest.connect(m.socket);
    await assert.rejects(late.hello(), /the host is shutting down/);

    // The running program is told at its next call and finishes its work.
    g.release();
    assert.equal(await g.done, 0, g.stderr());
    assert.match(g.stderr(), /the host is shutting down; \d+ s to finish \(vgpu-mediator received SIGTERM\)/);
    assert.equal(g.lines.filter((l) => l === 'alloc 1 -> 0').length, 2, g.lines.join('\n'));
    assert.match(g.lines.at(-1) ?? '', /^info /);

    assert.equal(await exit, 0);
    assert.ok(m.logs.some((l) => l.msg === 'drain over' && l.ended === 'sessions ended'), 'the drain ended with the last session');
    assert.match(await shutdownError(discovery), /the host is shutting down/);
  } finally {
    await m.stop();
  }
});

test('when the grace time is over, the sessions left are ended with VG_WIRE_STATUS_SHUTDOWN', async () => {
  const m = await startMediator({ env: { VGPU_SHUTDOWN_GRACE: '1' } });
  try {
    const g = await attached(m);
    const exit = exited(m);
    m.proc.kill('SIGTERM');
    assert.ok((await shutdownNoticeOf(g)) <= 1000);
    assert.match(await shutdownError(g), /the grace time of 1 s is over/);
    await g.waitClosed();
    assert.equal(await exit, 0);
    assert.ok(m.logs.some((l) => l.msg === 'drain over' && l.ended === 'grace time over'));
  } finally {
    await m.stop();
  }
});

test('a second signal ends the sessions at once', async () => {
  const m = await startMediator({ env: { VGPU_SHUTDOWN_GRACE: '600' } });
  try {
    const g = await attached(m);
    const exit = exited(m);
    m.proc.kill('SIGTERM');
    await shutdownNoticeOf(g);
    m.proc.kill('SIGINT');
    assert.match(await shutdownError(g), /ended at once/);
    assert.equal(await exit, 0);
    assert.ok(m.logs.some((l) => l.msg === 'drain over' && l.ended === 'a second signal (SIGINT)'));
  } finally {
    await m.stop();
  }
});

test('--shutdown-grace and VGPU_SHUTDOWN_GRACE take seconds from 0 to 86400', () => {
  for (const [args, env] of [[['--shutdown-grace', '-1'], {}], [['--shutdown-grace', 'soon'], {}], [[], { VGPU_SHUTDOWN_GRACE: '90000' }]] as const) {
    const r = spawnSync(join(BIN, 'vgpu-mediator'), [...args, '--listen', 'unix:/tmp/vgpu-never.sock'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--shutdown-grace .*: expected seconds from 0 to 86400/);
  }
});
