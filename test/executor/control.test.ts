// The executor's last words to its mediator (src/executor/control.ts, ControlClient.finish): the
// executor may exit only once the mediator has read them. An executor that exited as soon as its
// last lines were written lost them now and then: the mediator, writing to it meanwhile (a GPU
// grant), got EPIPE and its socket was destroyed with those lines unread (a session's final usage
// report, so its VM's counters came up short).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ControlClient } from '../../src/executor/control.js';

test('finish: the last message is read by the mediator before the executor is told it may exit, and no reconnection follows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-control-'));
  const path = join(dir, 'executors.sock');
  const received: string[] = [];
  let grants = 0;
  const server = net.createServer((s) => {
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        received.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    s.on('error', () => {});
    // The mediator keeps writing to the executor while it says its last words.
    const t = setInterval(() => {
      if (s.writable) {
        s.write(`${JSON.stringify({ type: 'grant', contended: false })}\n`);
        grants++;
      }
    }, 1);
    s.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(path, r));
  let lost = 0;
  try {
    const c = new ControlClient(path, {
      greeting: () => ({ type: 'killing' }),
      message: () => {},
      invalid: () => assert.fail('the test mediator sends valid messages'),
      lost: () => {
        lost++;
        return true;
      },
      restored: () => {},
    });
    await c.connect();
    while (grants < 5) await new Promise((r) => setTimeout(r, 5));
    const seenAtClose = await new Promise<string[]>((resolve) => {
      assert.equal(c.finish({ type: 'used', bytes: 7 }, () => resolve([...received])), true);
    });
    assert.equal(seenAtClose.length, 2, `the greeting and the last message were read before the close: ${JSON.stringify(seenAtClose)}`);
    assert.deepEqual(JSON.parse(seenAtClose[1]!), { type: 'used', bytes: 7 });
    assert.equal(c.connected, false);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(lost, 0, 'a finished connection is not a lost mediator: no reconnection');
    assert.equal(c.finish({ type: 'killing' }, () => {}), false, 'nothing to finish once closed');
  } finally {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
