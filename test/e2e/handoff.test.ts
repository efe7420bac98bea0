// Guests that leave during the handoff to an executor. A guest may send HELLO, a PING or a STATUS
// and ATTACH in one write and close at once: the WELCOME, PONG or STATUS_REPLY the mediator writes
// then fails (EPIPE, ECONNRESET) while the connection is on its way to an executor. Each such
// connection must end alone; the mediator and the other sessions go on.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { FrameType, PROTO_MAJOR, PROTO_MINOR } from '../../src/protocol/constants.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { encodeHello } from '../../src/protocol/handshake.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { TestGuest } from '../helpers/guest.js';

let m: RunningMediator;
before(async () => {
  m = await startMediator({ tcp: true });
});
after(async () => {
  await m?.stop();
});

function hello(token: string): Buffer {
  return encodeFrame(FrameType.HELLO, 0, 0, 0, encodeHello({
    major: PROTO_MAJOR, minor: PROTO_MINOR, flags: 0, pid: process.pid, token, hostname: 'test', program: 'handoff-test',
  }));
}

/** HELLO, then nothing, a PING or a STATUS, then ATTACH: what the guest sends in one write. */
function sequences(token: string): Buffer[] {
  const attach = encodeFrame(FrameType.ATTACH, 0, 2, 0);
  return [
    Buffer.concat([hello(token), attach]),
    Buffer.concat([hello(token), encodeFrame(FrameType.PING, 0, 1, 0, Buffer.alloc(60_000, 7)), attach]),
    Buffer.concat([hello(token), encodeFrame(FrameType.STATUS, 0, 1, 0), attach]),
  ];
}

/** Connects, writes `bytes` in one write and closes as soon as the kernel has them. */
function hitAndRun(connect: () => net.Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect();
    s.on('error', () => resolve());
    s.on('connect', () => s.write(bytes, () => {
      s.destroy();
      resolve();
    }));
  });
}

async function stillServing(): Promise<void> {
  assert.equal(m.proc.exitCode, null, 'the mediator is still running');
  assert.equal(m.proc.signalCode, null, 'the mediator is still running');
  const g = await TestGuest.connect(m.socket);
  await g.hello();
  await g.attach();
  const rep = await g.call(OP.cuDevicePrimaryCtxRetain, 0, (w) => w.i32(0));
  assert.equal(rep?.result, 0);
  g.close();
}

test('HELLO + PING/STATUS + ATTACH in one write, then gone: the mediator survives', async () => {
  const [host, port] = m.tcp!.slice(4).split(':');
  const overUnix = (): net.Socket => net.connect(m.socket);
  const local = sequences('');
  for (let i = 0; i < 120; i++) await hitAndRun(overUnix, local[i % local.length]!);
  await stillServing();
  const overTcp = (): net.Socket => net.connect(Number(port), host);
  const remote = sequences(await m.addVm('handoff'));
  for (let i = 0; i < 120; i++) await hitAndRun(overTcp, remote[i % remote.length]!);
  await stillServing();
  assert.equal(m.logs.filter((l) => typeof l.raw === 'string' && /Unhandled|EPIPE/.test(l.raw)).length, 0);
});
