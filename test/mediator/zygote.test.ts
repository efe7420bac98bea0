// The mediator's side of the executor zygote (src/mediator/zygote.ts) against stand-in zygotes, so
// that what a real one never does can be tested: a zygote that never answers a fork, one that
// sends what the schema refuses, one that dies with forks asked for. Each fork fails with a reason
// (the pool then spawns that executor), and the mediator goes on. The real zygote is tested end to
// end in test/e2e/zygote.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';

import { Zygote } from '../../src/mediator/zygote.js';

function standIn(body: string): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-zygote-'));
  const path = join(dir, 'zygote.mjs');
  writeFileSync(path, body);
  return { path, done: () => rmSync(dir, { recursive: true, force: true }) };
}

function start(path: string): { z: Zygote; logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => logs.push(JSON.parse(s) as Record<string, unknown>) });
  return { z: new Zygote({ launcher: path, args: [], execArgv: [] }, log), logs };
}

test('a zygote that greets but never answers a fork: the fork fails within its time, the next one is asked', async () => {
  const s = standIn(`
let asked = 0;
process.on('message', (m, handle) => { asked++; handle?.destroy(); if (asked === 2) process.send({ type: 'forkFailed', id: m.id, error: 'second refused' }); });
process.send({ type: 'zygote', pid: process.pid });
`);
  const { z } = start(s.path);
  try {
    await z.ready;
    assert.equal(z.usable, true);
    const first = z.fork();
    const second = z.fork();
    assert.equal(z.forking, true);
    await assert.rejects(first, /did not answer a fork within 5000 ms/);
    await assert.rejects(second, /second refused/, 'asked only once the first was over, and its answer is taken');
    assert.equal(z.forking, false);
  } finally {
    z.close();
    s.done();
  }
});

test('a zygote that sends what the schema refuses is ended, and its forks fail', async () => {
  const s = standIn(`
process.on('message', (m, handle) => { handle?.destroy(); process.send({ type: 'forked', id: m.id, pid: -5 }); });
process.send({ type: 'zygote', pid: process.pid });
setInterval(() => {}, 1000);
`);
  const { z, logs } = start(s.path);
  let lost = '';
  z.onLost = (why) => (lost = why);
  try {
    await z.ready;
    await assert.rejects(z.fork(), /the executor zygote exited/);
    assert.ok(logs.some((l) => l.msg === 'invalid message from the executor zygote; ending it'));
    assert.match(lost, /SIGKILL/);
    assert.equal(z.usable, false);
    await assert.rejects(z.fork(), /the executor zygote is gone/);
  } finally {
    z.close();
    s.done();
  }
});

test('a zygote that exits before it is ready: ready rejects and its loss is reported', async () => {
  const s = standIn(`process.exit(4);`);
  const { z } = start(s.path);
  let lost = '';
  z.onLost = (why) => (lost = why);
  try {
    await assert.rejects(z.ready, /exited before it was ready \(code 4/);
    assert.match(lost, /code 4/);
  } finally {
    z.close();
    s.done();
  }
});
