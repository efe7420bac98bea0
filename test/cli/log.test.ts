// The logger factory: src/common/log.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { createAdjustableLogger, createLogger, envLogLevel, prettyStream, sessionLogger, vmLogger, wantsPretty } from '../../src/common/log.js';

function capture(): { lines: Array<Record<string, unknown>>; stream: { write(s: string): void } } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, stream: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } };
}

test('lines are JSON with level label, ISO time, name and message; info is the default level', () => {
  const c = capture();
  const log = createLogger({ name: 'vgpu-test', destination: c.stream, env: {} });
  log.debug('hidden');
  log.info({ n: 1 }, 'shown');
  assert.equal(c.lines.length, 1);
  const l = c.lines[0] ?? {};
  assert.equal(l['level'], 'info');
  assert.equal(l['name'], 'vgpu-test');
  assert.equal(l['msg'], 'shown');
  assert.equal(l['n'], 1);
  assert.match(String(l['time']), /^\d{4}-\d\d-\d\dT/);
});

test('VGPU_LOG_LEVEL sets the level; an unknown one falls back to info with a warning', () => {
  const c = capture();
  createLogger({ name: 'x', destination: c.stream, env: { VGPU_LOG_LEVEL: 'DEBUG' } }).debug('d');
  assert.deepEqual(c.lines.map((l) => l['msg']), ['d']);
  const w = capture();
  const log = createLogger({ name: 'x', destination: w.stream, env: { VGPU_LOG_LEVEL: 'loud' } });
  log.debug('d');
  log.info('i');
  assert.equal(w.lines.length, 2);
  assert.equal(w.lines[0]?.['level'], 'warn');
  assert.match(String(w.lines[0]?.['msg']), /VGPU_LOG_LEVEL/);
  assert.equal(w.lines[1]?.['msg'], 'i');
  const s = capture();
  createLogger({ name: 'x', destination: s.stream, env: { VGPU_LOG_LEVEL: 'silent' } }).fatal('f');
  assert.equal(s.lines.length, 0);
});

test('session and VM child loggers carry their ids; tokens are redacted', () => {
  const c = capture();
  const root = createLogger({ name: 'm', destination: c.stream, env: {} });
  sessionLogger(root, { session: 18446744073709551615n, vm: 'web1' }).info({ token: 'vgpu_secret' }, 'hello');
  vmLogger(root, 'db').warn({ req: { token: 'vgpu_secret2' } }, 'quota');
  assert.equal(c.lines[0]?.['session'], '18446744073709551615');
  assert.equal(c.lines[0]?.['vm'], 'web1');
  assert.equal(c.lines[0]?.['token'], '[redacted]');
  assert.equal(c.lines[1]?.['vm'], 'db');
  assert.deepEqual(c.lines[1]?.['req'], { token: '[redacted]' });
  assert.ok(!JSON.stringify(c.lines).includes('vgpu_secret'));
});

test('VGPU_LOG, the guest\'s variable, sets the level too and wins over VGPU_LOG_LEVEL', () => {
  assert.deepEqual(envLogLevel({ VGPU_LOG: 'Debug' }), { level: 'debug' });
  assert.deepEqual(envLogLevel({ VGPU_LOG: 'error', VGPU_LOG_LEVEL: 'trace' }), { level: 'error' });
  assert.deepEqual(envLogLevel({ VGPU_LOG: '', VGPU_LOG_LEVEL: 'trace' }), { level: 'trace' });
  assert.deepEqual(envLogLevel({ VGPU_LOG: 'loud' }), { bad: { variable: 'VGPU_LOG', value: 'loud' } });
  const c = capture();
  const log = createLogger({ name: 'x', destination: c.stream, env: { VGPU_LOG: 'warn', VGPU_LOG_LEVEL: 'debug' } });
  log.info('hidden');
  log.warn('shown');
  assert.deepEqual(c.lines.map((l) => l['msg']), ['shown']);
  const w = capture();
  createLogger({ name: 'x', destination: w.stream, env: { VGPU_LOG: 'loud' } });
  assert.match(String(w.lines[0]?.['msg']), /^VGPU_LOG is not a log level/);
});

test('log format: pretty on a terminal, JSON otherwise, VGPU_LOG_FORMAT or the option forces either', () => {
  assert.equal(wantsPretty(undefined, {}, true).pretty, true);
  assert.equal(wantsPretty(undefined, {}, false).pretty, false);
  assert.equal(wantsPretty(undefined, { VGPU_LOG_FORMAT: 'json' }, true).pretty, false);
  assert.equal(wantsPretty(undefined, { VGPU_LOG_FORMAT: 'PRETTY' }, false).pretty, true);
  assert.equal(wantsPretty('json', { VGPU_LOG_FORMAT: 'pretty' }, true).pretty, false);
  assert.deepEqual(wantsPretty(undefined, { VGPU_LOG_FORMAT: 'fancy' }, false), { pretty: false, bad: 'fancy' });
});

test('pretty lines keep the UTC time, level, name, VM and session ids, and other fields', () => {
  let text = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { text += chunk.toString(); cb(); } });
  const log = createLogger({ name: 'vgpu-mediator', destination: prettyStream(sink, false), env: {} });
  sessionLogger(log, { session: 42n, vm: 'web1' }).warn({ token: 'vgpu_secret', bytes: 5 }, 'quota reached');
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 1, text);
  assert.match(lines[0]!, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] WARN \(vgpu-mediator\): vm=web1 session=42 quota reached /);
  assert.match(lines[0]!, /"bytes":5/);
  assert.ok(!text.includes('vgpu_secret'));
});

test('an adjustable logger changes the level of the children made before the change too', () => {
  const c = capture();
  const { log, setLevel } = createAdjustableLogger({ name: 'x', destination: c.stream, env: {} });
  const child = log.child({ session: 1 });
  const grandchild = child.child({ part: 'b' });
  child.debug('before');
  setLevel('debug');
  child.debug('child');
  grandchild.debug('grandchild');
  log.child({ session: 2 }).debug('new child');
  setLevel('warn');
  grandchild.info('hidden again');
  assert.deepEqual(c.lines.map((l) => l['msg']), ['child', 'grandchild', 'new child']);
});
