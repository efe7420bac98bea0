// A guest that sends and never reads (a slow or hostile reader) must not make the host hold its
// answers without limit: the mediator before ATTACH and the executor after it stop reading once
// the guest has left enough of their answers unread, so the guest's own writes back up instead of
// the host's memory growing.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { FrameType } from '../../src/protocol/constants.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { DEFAULT_STAGING } from '../../src/mediator/staging.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { hello } from '../fuzz/frames.js';

let m: RunningMediator;
before(async () => {
  m = await startMediator();
});
after(async () => {
  await m?.stop();
});

/** What the guest wrote before the host stopped taking more, when it reads nothing: PINGs of
 * 60 KB until its writes have not drained for 2 s, or `cap` bytes. */
async function acceptedWithoutReading(attach: boolean, cap: number): Promise<number> {
  const s = net.connect(m.socket);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.write(hello(''));
  if (attach) {
    s.write(encodeFrame(FrameType.ATTACH, 0, 0, 0));
    await new Promise<void>((resolve) => s.once('data', () => resolve())); // WELCOME, ATTACHED on the way
  }
  s.pause();
  const ping = encodeFrame(FrameType.PING, 0, 1, 0, Buffer.alloc(60_000));
  let sent = 0;
  while (sent < cap) {
    sent += ping.length;
    if (s.write(ping)) continue;
    let t: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((r) => s.once('drain', () => r(true))),
      new Promise<boolean>((r) => (t = setTimeout(() => r(false), 2000))),
    ]);
    clearTimeout(t);
    if (!drained) break;
  }
  const accepted = sent - s.writableLength;
  s.destroy();
  return accepted;
}

const CAP = 256 * 1024 * 1024;
/** The executor's staging share (docs/executors.md, Staging; one session, so the per-session
 * bound), plus socket buffers on both sides (4 MiB each way) and the host's unread answers. */
const BOUND = DEFAULT_STAGING.perSession + 16 * 1024 * 1024;

test('before ATTACH: the mediator stops reading a guest that leaves its PONGs unread', async () => {
  const accepted = await acceptedWithoutReading(false, CAP);
  assert.ok(accepted < BOUND, `the mediator took ${accepted} bytes from a guest that read nothing`);
});

test('after ATTACH: the executor stops reading a guest that leaves its answers unread', async () => {
  const accepted = await acceptedWithoutReading(true, CAP);
  assert.ok(accepted < BOUND, `the executor took ${accepted} bytes from a guest that read nothing`);
});

test('the host is still fine for a guest that reads', async () => {
  const { TestGuest } = await import('../helpers/guest.js');
  const g = await TestGuest.connect(m.socket);
  await g.hello();
  await g.attach();
  g.send(encodeFrame(FrameType.PING, 0, 5, 0, Buffer.from('hi')));
  assert.equal((await g.next())?.type, FrameType.PONG);
  g.close();
});
