// Removing a VM or replacing its token takes effect for every connection it admitted: attached
// sessions, and connections past the handshake that have not attached yet (which could otherwise
// ATTACH and allocate long after the operator let them go).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';

import { FrameType } from '../../src/protocol/constants.js';
import { WireStatus } from '../../src/protocol/errors.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { decodeStatus } from '../../src/protocol/handshake.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { BIN } from '../helpers/paths.js';
import { TestGuest } from '../helpers/guest.js';

let m: RunningMediator;
before(async () => {
  m = await startMediator();
});
after(async () => {
  await m?.stop();
});

/** A guest past the handshake, not attached. */
async function discovering(token: string, at = m.socket): Promise<TestGuest> {
  const g = await TestGuest.connect(at);
  await g.hello(token);
  return g;
}

/** A guest attached to an executor, with a retained primary context. */
async function attached(token: string): Promise<TestGuest> {
  const g = await discovering(token);
  await g.attach();
  const rep = await g.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0));
  assert.equal(rep?.result, 0);
  return g;
}

/** The host ended the connection with ERROR `code`: the frame is there, then the close. */
async function endedWith(g: TestGuest, code: number, why: RegExp): Promise<void> {
  const f = await g.next();
  assert.equal(f?.type, FrameType.ERROR, 'an ERROR frame says why');
  const st = decodeStatus(f!.payload);
  assert.equal(st.code, code, st.message);
  assert.match(st.message, why);
  await g.waitClosed();
}

test('vm rm ends its connections that have not attached, and its attached ones', async () => {
  const token = await m.addVm('doomed');
  const idle = await discovering(token);
  const busy = await attached(token);
  const rm = await m.api('DELETE', '/v1/vms/doomed');
  assert.equal(rm.status, 200);
  assert.equal((rm.json as { sessionsEnded: number }).sessionsEnded, 1);
  await endedWith(idle, WireStatus.KILLED, /VM doomed was removed/);
  await endedWith(busy, WireStatus.KILLED, /VM doomed was removed/);
  await assert.rejects(discovering(token), /unknown VM token/);
});

test('a replaced token ends what it admitted; the new one works; token-less local guests stay', async () => {
  const old = await m.addVm('rotated');
  const idle = await discovering(old);
  const busy = await attached(old);
  const local = await attached('');
  const rot = await m.api('POST', '/v1/vms/rotated/token');
  assert.equal(rot.status, 200);
  const fresh = (rot.json as { token: string }).token;
  await endedWith(idle, WireStatus.KILLED, /token of VM rotated was replaced/);
  await endedWith(busy, WireStatus.KILLED, /token of VM rotated was replaced/);
  await assert.rejects(discovering(old), /unknown VM token/);
  (await attached(fresh)).close();
  // Replacing the default VM's token leaves the guests that never used one.
  const rotLocal = await m.api('POST', '/v1/vms/local/token');
  assert.equal(rotLocal.status, 200);
  const rep = await local.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0));
  assert.equal(rep?.result, 0, 'the token-less local session keeps working');
  local.close();
});

test('without the admin API, a connection whose VM was removed from the store cannot ATTACH', async () => {
  const direct = await startMediator({ http: false });
  try {
    const add = await new Promise<string>((resolve, reject) => execFile(join(BIN, 'vgpu-admin'),
      ['vm', 'add', 'offline', '--print-token', '--state-dir', direct.stateDir], { encoding: 'utf8' },
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim().split('\n').at(-1)!))));
    const g = await discovering(add, direct.socket);
    await new Promise<void>((resolve, reject) => execFile(join(BIN, 'vgpu-admin'),
      ['vm', 'rm', 'offline', '--state-dir', direct.stateDir], (err) => (err ? reject(err) : resolve())));
    g.send(encodeFrame(FrameType.ATTACH, 0, 0, 0));
    await endedWith(g, WireStatus.AUTH, /no longer valid/);
    assert.equal(direct.logs.filter((l) => l.msg === 'session attached to executor').length, 0);
  } finally {
    await direct.stop();
  }
});
