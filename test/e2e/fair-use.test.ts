// Fair use of the GPU (docs/operations.md): a kernel that would run for hours stops as soon as its
// guest disconnects, and a session that holds the GPU in one call past its VM's hold limit while
// another VM waits is ended, with a reason its guest logs, and the waiting VM goes on. Everything
// asserted is what the mediator, the executors and the guests recorded, never how long it took.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, kernelsFatbin, startGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

/** Iterations per thread of the hog's kernel: hours of CPU on softgpu. */
const FOREVER = '2000000000';

let m: RunningMediator;
let fatbin: string;
let hog: string;
let busy: string;

before(async () => {
  m = await startMediator();
  fatbin = kernelsFatbin();
  hog = buildProgram('hog');
  busy = buildProgram('busy');
});
after(async () => {
  await m?.stop();
});

function addVm(name: string, ...opts: string[]): string {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', name, ...opts, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
  return out.trim().split('\n').at(-1)!;
}

/** The mediator's record of the VM's session (the first 'session opened' line of that VM). */
async function sessionOf(vm: string): Promise<string> {
  const l = await m.waitForLog((x) => x.msg === 'session opened' && x.vm === vm, 60_000);
  return String(l.session);
}

/** CPU time (clock ticks) the process has used. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

/** Waits until the session's executor is running the hog's kernel: its CPU time grows by about
 * a second of work (the guest waits in cuCtxSynchronize meanwhile). A sequencing step only. */
async function kernelRunning(session: string): Promise<void> {
  let pid = 0;
  for (let i = 0; i < 600 && pid === 0; i++) {
    const list = (await (await fetch(`${m.admin}/v1/sessions`)).json()) as Array<{ id: number; executorPid: number | null }>;
    pid = list.find((s) => String(s.id) === session)?.executorPid ?? 0;
    if (pid === 0) await sleep(100);
  }
  assert.ok(pid > 0, 'the session has an executor');
  const start = cpuTicks(pid);
  for (let i = 0; i < 1200 && cpuTicks(pid) - start < 100; i++) await sleep(50);
}

test('a guest that disconnects inside a long kernel has it abandoned: its executor stops it and exits', async (t) => {
  const tok = addVm('leaver');
  const a = startGuest(m.server, tok, hog, [fatbin, FOREVER]);
  await a.waitFor(/syncing/);
  const session = await sessionOf('leaver');
  await kernelRunning(session);
  a.kill('SIGKILL'); // no word to the host: its connection just closes

  const ended = await m.waitForLog((l) => l.msg === 'session ended' && l.session === session, 60_000);
  assert.equal(ended.reason, 'guest disconnected');
  const abandoned = ended.abandoned as { launchesAbandoned: number; blocksAfterCancel: number; stopMs: number } | undefined;
  assert.ok(abandoned, 'the executor recorded abandoning work');
  assert.equal(abandoned.launchesAbandoned, 1, 'the running kernel was abandoned');
  assert.equal(abandoned.blocksAfterCancel, 0, 'no block ran to its end after the guest left');
  t.diagnostic(`kernel stopped ${abandoned.stopMs.toFixed(1)} ms after the guest's connection closed`);
  const exited = await m.waitForLog((l) => l.msg === 'executor exited' && l.session === session, 30_000);
  assert.equal(exited.code, 0, 'it exited by itself, not killed');
});

test('a session holding the GPU in one call past its max-hold while another VM waits is ended; the other goes on', async (t) => {
  const hogTok = addVm('hogger', '--max-hold', '1s');
  const waitTok = addVm('patient');
  const a = startGuest(m.server, hogTok, hog, [fatbin, FOREVER]);
  await a.waitFor(/syncing/);
  // Short kernels in a loop until released: whichever of the two gets the GPU first, the hog's
  // kernel soon runs while this one waits.
  const b = startGuest(m.server, waitTok, busy, [fatbin, '1', '10']);
  const hogSession = await sessionOf('hogger');

  const kill = await m.waitForLog((l) => l.msg === 'session ended by the watchdog', 120_000);
  assert.equal(kill.session, hogSession);
  assert.equal(kill.limitMs, 1000);
  assert.match(String(kill.reason), /GPU watchdog: one call held the GPU for .* while other sessions waited \(limit 1s, max-hold\)/);
  const at = m.logs.indexOf(kill);
  await m.waitForLog((l) => l.msg === 'GPU slice granted' && l.vm === 'patient' && m.logs.indexOf(l) > at, 60_000);

  // The hog's guest is told why, and its call fails.
  assert.equal(await a.done, 0);
  assert.match(a.lines.at(-1) ?? '', /^sync -> (?!0$)\d+$/, 'cuCtxSynchronize failed');
  assert.match(a.stderr(), /VG_WIRE_STATUS_KILLED: session ended by the GPU watchdog: .*limit 1s, max-hold/);
  // Its executor abandoned the kernel and ended the session itself (no kill needed).
  const ended = await m.waitForLog((l) => l.msg === 'session ended' && l.session === hogSession, 30_000);
  assert.equal((ended.abandoned as { launchesAbandoned: number } | undefined)?.launchesAbandoned, 1);
  const exited = await m.waitForLog((l) => l.msg === 'executor exited' && l.session === hogSession, 30_000);
  assert.equal(exited.code, 0);

  // The waiting VM completes its work.
  await b.waitFor(/"pid"/);
  b.release();
  assert.equal(await b.done, 0, b.stderr());
  assert.match(b.lines.at(-1) ?? '', /"batches": \d+/);

  const audit = JSON.parse(execFileSync(join(BIN, 'vgpu-admin'), ['audit', '--target', 'hogger', '--json', '--state-dir', m.stateDir], { encoding: 'utf8' })) as
    Array<{ action: string; actor: string; details: Record<string, unknown> }>;
  const entry = audit.find((e) => e.action === 'session.watchdog');
  assert.ok(entry, 'the watchdog kill is audited');
  assert.equal(entry.actor, 'mediator');
  assert.equal(String(entry.details.session), hogSession);
  assert.match(String(entry.details.reason), /max-hold/);
  t.diagnostic(`held ${String(kill.heldMs)} ms past the request to yield before it was ended`);
});
