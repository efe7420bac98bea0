// A host whose executors stop answering (SIGSTOP: a hung driver, a stalled machine) must not hang
// anyone forever: the mediator still answers handshakes and STATUS at once, a guest's ATTACH to
// a stuck executor gives up after VGPU_ATTACH_TIMEOUT_MS, a guest that set VGPU_CALL_TIMEOUT_MS
// gives up on a call, and an operator's kill of a stuck session closes its connection, which
// fails the guest's pending call (docs/guest.md, "Waiting for the host").

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { FrameType } from '../../src/protocol/constants.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, kernelsFatbin, runGuest, startGuest } from '../helpers/programs.js';
import { TestGuest } from '../helpers/guest.js';
import { childrenOf, commandLine } from '../helpers/procs.js';

const CUDA_ERROR_DEVICE_UNAVAILABLE = 46;

let m: RunningMediator;
let busy: string;
let fatbin: string;
before(async () => {
  m = await startMediator();
  busy = buildProgram('busy');
  fatbin = kernelsFatbin();
});
after(async () => {
  await m?.stop();
});

/** The mediator's executors: its children, and its zygote's (docs/executors.md, "Zygote"), but
 * not the zygote itself, which keeps forking spares. */
function executors(mediator: number): number[] {
  const children = childrenOf(mediator);
  const zygotes = children.filter((p) => commandLine(p).includes('--zygote'));
  return [...children.filter((p) => !zygotes.includes(p)), ...zygotes.flatMap(childrenOf)];
}

async function attachedSession(vm: string): Promise<{ executorPid: number; session: string }> {
  const l = await m.waitForLog((x) => x.msg === 'session attached to executor' && x.vm === vm, 30_000);
  return { executorPid: Number(l.executorPid), session: String(l.session) };
}

test('with every executor stopped: handshakes answered, ATTACH and calls bounded, a kill frees the guest', async () => {
  const [tokTimed, tokPlain] = [await m.addVm('timed'), await m.addVm('plain')];
  const timed = startGuest(m.server, tokTimed, busy, [fatbin, '1', '10'], { VGPU_CALL_TIMEOUT_MS: '5000' });
  const plain = startGuest(m.server, tokPlain, busy, [fatbin, '1', '10']);
  await Promise.all([timed.waitFor(/"pid"/), plain.waitFor(/"pid"/)]);
  const plainSession = await attachedSession('plain');
  await attachedSession('timed');
  const stopped = executors(m.proc.pid!);
  assert.ok(stopped.length >= 3, 'two session executors and a spare');
  for (const p of stopped) process.kill(p, 'SIGSTOP');
  try {
    // The mediator answers whatever its executors are doing.
    const g = await TestGuest.connect(m.socket);
    await g.hello();
    g.send(encodeFrame(FrameType.STATUS, 0, 9, 0));
    const reply = await g.next();
    assert.equal(reply?.type, FrameType.STATUS_REPLY);
    g.close();

    // A call waiting on a stopped executor gives up after VGPU_CALL_TIMEOUT_MS.
    assert.equal(await timed.done, 1);
    assert.match(timed.stderr(), /no progress within 5000 ms \(VGPU_CALL_TIMEOUT_MS\)/);
    assert.match(timed.stderr(), new RegExp(`failed: ${CUDA_ERROR_DEVICE_UNAVAILABLE}`));

    // A new guest's ATTACH lands on the stopped spare and gives up after VGPU_ATTACH_TIMEOUT_MS.
    const late = await runGuest(busy, ['--server', m.server, '--token', tokTimed], { VGPU_ATTACH_TIMEOUT_MS: '1500' }, 60_000, [fatbin, '1', '10']);
    assert.equal(late.code, 1);
    assert.match(late.stderr, /no answer to ATTACH within 1500 ms \(VGPU_ATTACH_TIMEOUT_MS\)/);

    // Without a call timeout the guest waits; an operator's kill closes the connection and the
    // pending call fails at once.
    const kill = await m.api('POST', `/v1/sessions/${plainSession.session}/kill`, { reason: 'stuck' });
    assert.equal(kill.status, 200);
    assert.equal(await plain.done, 1);
    assert.match(plain.stderr(), /receive failed: (connection closed by the host|Connection reset by peer)/);
    assert.match(plain.stderr(), new RegExp(`failed: ${CUDA_ERROR_DEVICE_UNAVAILABLE}`));
  } finally {
    for (const p of stopped) {
      try {
        process.kill(p, 'SIGCONT');
      } catch {
        /* killed meanwhile */
      }
    }
  }
});
