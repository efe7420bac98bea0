// The mediator's TLS pieces without a mediator (src/mediator/tls.ts, listen.ts): tls: addresses,
// the --insecure-tcp rule, certificate loading and reload, and the cleartext relay between a TLS
// connection and the executor's Unix socket: bytes both ways in order, back-pressure, and one
// relay's failure ending only its own connection.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';

import { checkListenSecurity, formatListen, isLoopback, parseListen } from '../../src/mediator/listen.js';
import { certificatePin, relayCleartext, TlsCredentials } from '../../src/mediator/tls.js';

const log = pino({ level: 'silent' });
let dir: string;
let cert: string;
let key: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vgpu-tls-unit-'));
  cert = join(dir, 'cert.pem');
  key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=t',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('tls: addresses parse like tcp: ones', () => {
  assert.deepEqual(parseListen('tls:0.0.0.0:7443'), { kind: 'tls', host: '0.0.0.0', port: 7443 });
  assert.deepEqual(parseListen('tls:[::]:7443'), { kind: 'tls', host: '::', port: 7443 });
  assert.equal(formatListen(parseListen('tls:gpu-host:1')), 'tls:gpu-host:1');
  assert.throws(() => parseListen('tls:host:99999'), /port out of range/);
  assert.throws(() => parseListen('tls:host'), /expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT/);
});

test('plain tcp: beyond loopback needs --insecure-tcp; tls: needs a certificate', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', 'gpu-host', '128.0.0.1']) assert.ok(!isLoopback(h), h);
  assert.deepEqual(checkListenSecurity([parseListen('tcp:127.0.0.1:1'), parseListen('unix:/x')], false, false), []);
  assert.throws(() => checkListenSecurity([parseListen('tcp:0.0.0.0:7350')], false, false),
    /tcp:0\.0\.0\.0:7350: plain TCP beyond loopback .* listen on tls:0\.0\.0\.0:7350 instead .* --insecure-tcp/);
  assert.throws(() => checkListenSecurity([parseListen('tcp:[::]:1')], false, false), /tls:\[::\]:1/);
  const warned = checkListenSecurity([parseListen('tcp:0.0.0.0:7350')], true, false);
  assert.equal(warned.length, 1);
  assert.match(warned[0]!, /cleartext/);
  assert.throws(() => checkListenSecurity([parseListen('tls:0.0.0.0:1')], false, false), /needs --tls-cert FILE and --tls-key FILE/);
  assert.deepEqual(checkListenSecurity([parseListen('tls:0.0.0.0:1')], false, true), []);
});

test('credentials: a key that is not the certificate\'s is refused; a bad reload keeps the pair in use', () => {
  const other = join(dir, 'other.key');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', other], { stdio: 'ignore' });
  assert.throws(() => new TlsCredentials(cert, other, log), /--tls-cert .* --tls-key .*other\.key/);
  assert.throws(() => new TlsCredentials(join(dir, 'missing.pem'), key, log), /--tls-cert \S+missing\.pem: ENOENT/);
  const live = join(dir, 'live.pem');
  writeFileSync(live, execFileSync('cat', [cert]));
  const c = new TlsCredentials(live, key, log);
  assert.equal(c.pin, certificatePin(execFileSync('cat', [cert])));
  assert.match(c.pin, /^sha256:[0-9a-f]{64}$/);
  writeFileSync(live, 'garbage');
  assert.equal(c.reload(), false);
  assert.equal(c.pin, certificatePin(execFileSync('cat', [cert])));
});

/** A TLS server on loopback whose connections are relayed; `onExecutor` gets each relay's
 * executor end. Returns the port and a closer. */
async function relayServer(onExecutor: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const creds = new TlsCredentials(cert, key, log);
  const server = creds.createServer({}, (s) => {
    s.pause();
    relayCleartext(s, dir, log).then(onExecutor, (e: unknown) => assert.fail(String(e)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

function connect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(c));
    c.once('error', reject);
  });
}

test('the relay carries bytes both ways in order, holds back a slow reader, and leaves no socket file', async () => {
  const execs: net.Socket[] = [];
  const srv = await relayServer((s) => execs.push(s));
  const c = await connect(srv.port);
  while (execs.length === 0) await new Promise((r) => setTimeout(r, 5));
  const exec = execs[0]!;
  // The executor does not read yet: the guest's writes must stop being accepted (back-pressure
  // reaches the guest) rather than pile up in the mediator.
  exec.pause();
  const chunk = Buffer.alloc(1 << 20, 7);
  let written = 0;
  while (c.write(chunk)) written += chunk.length;
  assert.ok(written < 64 << 20, 'writes were held back');
  // Now the executor reads: everything arrives, in order, and its answer reaches the guest.
  const total = written + chunk.length;
  let got = 0;
  exec.on('data', (d: Buffer) => {
    assert.ok(d.every((b) => b === 7));
    got += d.length;
    if (got === total) exec.write('done');
  });
  exec.resume();
  const answer = await new Promise<string>((r) => c.once('data', (d: Buffer) => r(d.toString())));
  assert.equal(answer, 'done');
  assert.equal(got, total);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('tr-')), []);
  c.destroy();
  await new Promise((r) => exec.once('close', r));
  srv.close();
});

test('one relay failing ends its own connection only', async () => {
  const execs: net.Socket[] = [];
  const srv = await relayServer((s) => execs.push(s));
  const a = await connect(srv.port);
  const b = await connect(srv.port);
  while (execs.length < 2) await new Promise((r) => setTimeout(r, 5));
  const aClosed = new Promise((r) => a.once('close', r));
  a.on('error', () => {});
  execs[0]!.destroy(); // one executor goes away: its guest's connection ends
  await aClosed;
  // The other relay still works both ways.
  const echo = (s: net.Socket): void => void s.on('data', (d) => s.write(d));
  echo(execs[1]!);
  b.write('still here');
  const back = await new Promise<string>((r) => b.once('data', (d: Buffer) => r(d.toString())));
  assert.equal(back, 'still here');
  b.destroy();
  srv.close();
});
