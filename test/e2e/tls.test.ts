// TLS between guest and mediator (docs/virtual-machines.md, "TLS"): a mediator with tls:
// listeners and a certificate made here; the driver-API program through it, verified by a pinned
// fingerprint or a CA file, from this machine and from a "remote host" (a network namespace of
// its own, joined by a veth pair); a wrong pin or CA makes cuInit fail at once with the reason,
// and the token never reaches the mediator; SIGHUP swaps the certificate for new connections
// while a running session goes on; plain tcp: beyond loopback needs --insecure-tcp. Client
// certificates (mutual TLS, a second mediator with --tls-client-ca): a certificate bound to a VM
// stands in for its token and cannot claim another VM; unbound ones need a token; a required
// certificate (a third mediator, configured by file) refuses guests without one; SIGHUP reloads
// the client CA.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest, startGuest, type RunResult } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

let m: RunningMediator;
let dir: string;
let token: string;
/** The loopback tls: address, and the one the namespace's guest reaches (when there is one). */
let local: string;
let remote: string | undefined;
let netnsSkip: string | false = false;
const ns = `vgpu-tls-${process.pid}`;
const vethHost = `vgt${process.pid % 100000}h`;
const vethGuest = `vgt${process.pid % 100000}g`;
// A /30 per test process, so that two runs at once do not meet.
const subnet = `10.213.${process.pid % 250}`;
const hostIp = `${subnet}.1`;
const guestIp = `${subnet}.2`;

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `sha256:HEX` of a PEM certificate, as `openssl x509 -fingerprint -sha256` prints it. */
function pinOf(cert: string): string {
  const out = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  return `sha256:${out.trim().split('=')[1]!}`;
}

/** A CA and a server certificate it signs (names: localhost, 127.0.0.1 and the namespace's host side). */
function makeCerts(prefix: string): { ca: string; cert: string; key: string } {
  const p = (f: string): string => join(dir, `${prefix}-${f}`);
  sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${prefix} test CA`,
    '-keyout', p('ca.key'), '-out', p('ca.pem')]);
  sh('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=vgpu-host',
    '-keyout', p('server.key'), '-out', p('server.csr')]);
  writeFileSync(p('ext'), `subjectAltName=DNS:localhost,IP:127.0.0.1,IP:${hostIp}\n`);
  sh('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2',
    '-extfile', p('ext'), '-out', p('server.pem')]);
  return { ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key') };
}

/** A CA of guests' certificates: `issue(name)` makes a client certificate it signs. */
function makeClientCa(prefix: string): { ca: string; issue(name: string): { cert: string; key: string; sha256: string } } {
  const p = (f: string): string => join(dir, `${prefix}-${f}`);
  sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${prefix} guest CA`,
    '-keyout', p('ca.key'), '-out', p('ca.pem')]);
  writeFileSync(p('ext'), 'extendedKeyUsage=clientAuth\n');
  return {
    ca: p('ca.pem'),
    issue(name) {
      sh('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
        '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`)]);
      sh('openssl', ['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2',
        '-extfile', p('ext'), '-out', p(`${name}.pem`)]);
      return { cert: p(`${name}.pem`), key: p(`${name}.key`), sha256: pinOf(p(`${name}.pem`)) };
    },
  };
}

/** The network namespace of the "remote host", or why there is none. */
function makeNetns(): string | false {
  try {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethGuest]);
    sh('ip', ['link', 'set', vethGuest, 'netns', ns]);
    sh('ip', ['addr', 'add', `${hostIp}/30`, 'dev', vethHost]);
    sh('ip', ['link', 'set', vethHost, 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${guestIp}/30`, 'dev', vethGuest]);
    sh('ip', ['-n', ns, 'link', 'set', vethGuest, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return false;
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message;
    return `ip netns cannot be used here (${err}); the "remote host" tests need root and network namespaces`;
  }
}

function dropNetns(): void {
  spawnSync('ip', ['link', 'del', vethHost], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

let certs: { ca: string; cert: string; key: string };
let other: { ca: string; cert: string; key: string };
/** The files the mediator reads (copies: the reload test replaces them). */
let certFile: string;
let keyFile: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vgpu-tls-'));
  netnsSkip = makeNetns();
  certs = makeCerts('first');
  other = makeCerts('second');
  certFile = join(dir, 'live.pem');
  keyFile = join(dir, 'live.key');
  copyFileSync(certs.cert, certFile);
  copyFileSync(certs.key, keyFile);
  const listen = ['--listen', 'tls:127.0.0.1:0', ...(netnsSkip ? [] : ['--listen', `tls:${hostIp}:0`])];
  m = await startMediator({ args: [...listen, '--tls-cert', certFile, '--tls-key', keyFile] });
  const ready = JSON.parse(m.stdout().split('\n')[0]!) as { listen: string[] };
  local = ready.listen.find((l) => l.startsWith('tls:127.0.0.1:'))!;
  remote = ready.listen.find((l) => l.startsWith(`tls:${hostIp}:`));
  token = await m.addVm('tls-tenant');
});

after(async () => {
  await m?.stop();
  dropNetns();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function assertAllOk(r: RunResult): void {
  const bad = r.stdout.split('\n').filter((l) => l.startsWith('not ok'));
  assert.deepEqual(bad, [], `failed checks:\n${bad.join('\n')}\nstderr:\n${r.stderr.slice(-4000)}`);
  assert.ok(r.stdout.split('\n').filter((l) => l.startsWith('ok - ')).length > 80, 'the program ran its checks');
  assert.equal(r.code, 0, r.stderr.slice(-4000));
}

/** init_only through `server` with `env`: its one line and the guest library's log. */
function initOnly(server: string, env: Record<string, string>): Promise<RunResult> {
  return runGuest(buildProgram('init_only'), ['--server', server, '--token', token], { VGPU_LOG: 'warn', ...env }, 60_000);
}

/** A pin in the form the mediator logs: lower case, no colons. */
const canonical = (pin: string): string => `sha256:${pin.slice(7).replaceAll(':', '').toLowerCase()}`;

/**
 * A wrong pin or CA: cuInit fails with the reason, and no HELLO (which carries the token) ever
 * reached the mediator. A verified guest run after it orders the log: once its session opened,
 * any HELLO of the refused guest would be logged, and the verified one's is the only new one.
 */
async function assertRefused(run: (env: Record<string, string>) => Promise<RunResult>, bad: Record<string, string>, good: Record<string, string>,
  reason: RegExp): Promise<void> {
  const start = m.logs.length;
  const r = await run({ VGPU_LOG: 'warn', ...bad });
  assert.match(r.stdout, /cuInit=100 /, r.stdout + r.stderr);
  assert.match(r.stderr, reason);
  assert.match(r.stderr, /CUDA reports no device/);
  const ok = await run(good);
  assert.match(ok.stdout, /cuInit=0 /, ok.stderr);
  await m.waitForLog((l) => l.msg === 'session opened' && m.logs.indexOf(l) >= start);
  assert.equal(m.logs.slice(start).filter((l) => l.msg === 'HELLO received').length, 1, 'only the verified guest said HELLO');
}

const viaLoopback = (env: Record<string, string>): Promise<RunResult> => initOnly(local, env);

test('the driver-API program passes over tls: with the certificate pinned', async () => {
  const r = await runGuest(buildProgram('driver_api'), ['--server', local, '--token', token], { VGPU_TLS_PIN: pinOf(certs.cert) });
  assertAllOk(r);
  assert.ok(m.logs.some((l) => l.msg === 'session attached to executor' && String(l.peer).startsWith('tls ')), 'the session came over TLS');
});

test('the server verified against a CA file, by IP address and by name; guest.conf keys work as the environment does', async () => {
  const r = await initOnly(local, { VGPU_TLS_CA: certs.ca });
  assert.match(r.stdout, /cuInit=0 cuDeviceGetCount=0 count=1/, r.stderr);
  const byName = await initOnly(local.replace('127.0.0.1', 'localhost'), { VGPU_TLS_CA: certs.ca });
  assert.match(byName.stdout, /cuInit=0 /, byName.stderr);
  const conf = join(dir, 'guest.conf');
  writeFileSync(conf, `server = ${local}\ntls_pin = ${pinOf(certs.cert)}\n`);
  const viaConf = await runGuest(buildProgram('init_only'), ['--server', local, '--token', token], { VGPU_CONFIG: conf }, 60_000);
  assert.match(viaConf.stdout, /cuInit=0 /, viaConf.stderr);
});

test('a forked child makes its own TLS session, and the parent\'s goes on', async () => {
  const r = await runGuest(buildProgram('fork_session'), ['--server', local, '--token', token], { VGPU_TLS_PIN: pinOf(certs.cert) }, 60_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^parent ok\nchild ok\nparent again ok\n$/);
});

test('a wrong pin makes cuInit fail at once with the reason, and the token is never sent', async () => {
  await assertRefused(viaLoopback, { VGPU_TLS_PIN: `sha256:${'ab'.repeat(32)}` }, { VGPU_TLS_PIN: pinOf(certFile) }, /does not match the pinned fingerprint sha256:abab/);
});

test('a CA that did not sign the server makes cuInit fail with the reason, and the token is never sent', async () => {
  await assertRefused(viaLoopback, { VGPU_TLS_CA: other.ca }, { VGPU_TLS_PIN: pinOf(certFile) }, /does not verify against \S+second-ca\.pem: unable to get local issuer certificate/);
});

test('tls: with neither a CA nor a pin is refused before connecting, saying what to set', async () => {
  await assertRefused(viaLoopback, {}, { VGPU_TLS_PIN: pinOf(certFile) }, /no way to verify the server: set VGPU_TLS_CA .* or VGPU_TLS_PIN/);
});

test('a guest in another network namespace runs the driver-API program over tls:, and a wrong pin is refused there', async (t) => {
  if (netnsSkip) return t.skip(netnsSkip);
  const run = (env: Record<string, string>, p = buildProgram('init_only')): Promise<RunResult> => new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, join(BIN, 'vgpu-run'), '--server', remote!, '--token', token, '--', p],
      { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const r = await run({ VGPU_TLS_CA: certs.ca }, buildProgram('driver_api'));
  assertAllOk(r);
  assert.ok(m.logs.some((l) => l.msg === 'session opened' && String(l.peer).startsWith(`tls ${guestIp}:`)), 'the mediator saw the namespace\'s address');
  await assertRefused(run, { VGPU_TLS_PIN: `sha256:${'cd'.repeat(32)}` }, { VGPU_TLS_CA: certs.ca }, /does not match the pinned fingerprint/);
});

test('SIGHUP: new connections get the new certificate, a running session goes on, a bad file keeps the old one', async (t) => {
  const oldPin = pinOf(certs.cert);
  const newPin = pinOf(other.cert);
  // A session that lives across the reloads.
  const live = startGuest(local, token, buildProgram('quota'), ['alloc:1', 'hold', 'info'], { VGPU_TLS_PIN: oldPin });
  t.after(() => live.kill('SIGKILL'));
  await live.waitFor(/^holding/);

  copyFileSync(other.cert, certFile);
  copyFileSync(other.key, keyFile);
  const reloaded = m.waitForLog((l) => l.msg === 'TLS certificate reloaded' && l.pin === canonical(newPin));
  m.proc.kill('SIGHUP');
  await reloaded;
  assert.match((await initOnly(local, { VGPU_TLS_PIN: newPin })).stdout, /cuInit=0 /);
  const stale = await initOnly(local, { VGPU_TLS_PIN: oldPin });
  assert.match(stale.stderr, /does not match the pinned fingerprint/);

  // A certificate that is not one: logged, and the pair in use stays.
  writeFileSync(certFile, 'not a certificate\n');
  const failed = m.waitForLog((l) => l.msg === 'TLS certificate reload failed; keeping the one in use' && l.keeping === canonical(newPin));
  m.proc.kill('SIGHUP');
  await failed;
  assert.match((await initOnly(local, { VGPU_TLS_PIN: newPin })).stdout, /cuInit=0 /);

  live.release();
  assert.equal(await live.done, 0, live.stderr());
  assert.match(live.lines.join('\n'), /info free=\d+ total=\d+ devtotal=\d+ r=0,0/, 'the session begun before the reloads still works');
});

/** vgpu-mediator with `args`, until it is ready or exits: its exit code (null: it started) and stderr. */
function mediatorStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const state = mkdtempSync(join(tmpdir(), 'vgpu-tls-state-'));
  return new Promise((resolve) => {
    const p = spawn(join(BIN, 'vgpu-mediator'), ['--state-dir', state, '--backend', 'softgpu', '--http', 'off', '--spare-executors', '0', ...args],
      { env: { ...process.env, VGPU_SOFTGPU_MEMORY: '1G' } });
    let stderr = '';
    let settled = false;
    p.stderr.on('data', (d) => (stderr += d));
    p.stdout.on('data', (d: Buffer) => {
      if (!settled && d.toString().includes('"ready":true')) {
        settled = true;
        p.once('exit', () => {
          rmSync(state, { recursive: true, force: true });
          resolve({ code: null, stderr });
        });
        p.kill('SIGTERM');
      }
    });
    p.on('exit', (code) => {
      if (settled) return;
      settled = true;
      rmSync(state, { recursive: true, force: true });
      resolve({ code, stderr });
    });
  });
}

test('plain tcp: beyond loopback needs --insecure-tcp, and then warns; tls: needs a certificate', async () => {
  const refused = await mediatorStart(['--listen', 'tcp:0.0.0.0:0']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /tcp:0\.0\.0\.0:0: plain TCP beyond loopback .* listen on tls:0\.0\.0\.0:0 instead .* --insecure-tcp/);
  const allowed = await mediatorStart(['--listen', 'tcp:0.0.0.0:0', '--insecure-tcp']);
  assert.equal(allowed.code, null, allowed.stderr);
  assert.match(allowed.stderr, /"level":"warn".*plain TCP beyond loopback \(--insecure-tcp\)/);
  const loopback = await mediatorStart(['--listen', 'tcp:127.0.0.1:0']);
  assert.equal(loopback.code, null, loopback.stderr);
  assert.doesNotMatch(loopback.stderr, /insecure/);
  const noCert = await mediatorStart(['--listen', 'tls:127.0.0.1:0']);
  assert.equal(noCert.code, 2);
  assert.match(noCert.stderr, /needs --tls-cert FILE and --tls-key FILE/);
});

// ---- client certificates (mutual TLS) -------------------------------------------------------

interface SessionRow { vm: string; state: string }

/** A mediator whose tls: listener asks guests for certificates signed by `caFile`. */
async function mtlsMediator(extra: string[]): Promise<{ m: RunningMediator; addr: string }> {
  const mm = await startMediator({ args: ['--listen', 'tls:127.0.0.1:0', '--tls-cert', certs.cert, '--tls-key', certs.key, ...extra] });
  const ready = JSON.parse(mm.stdout().split('\n')[0]!) as { listen: string[] };
  return { m: mm, addr: ready.listen.find((l) => l.startsWith('tls:'))! };
}

test('client certificates: a bound one is its VM without a token, cannot claim another VM; unbound ones need a token; SIGHUP reloads the CA', async (t) => {
  const guests = makeClientCa('guests');
  const later = makeClientCa('later');
  const a = guests.issue('vm-a');
  const b = guests.issue('vm-b');
  const loose = guests.issue('unbound');
  const newcomer = later.issue('newcomer');
  const caFile = join(dir, 'client-ca.pem');
  copyFileSync(guests.ca, caFile);
  const { m: mm, addr } = await mtlsMediator(['--tls-client-ca', caFile]);
  t.after(() => mm.stop());
  const tokenA = await mm.addVm('vm-a');
  const tokenB = await mm.addVm('vm-b');
  // Bound through the CLI in openssl's spelling (upper case, colons), and through the API bare.
  const cli = spawnSync(join(BIN, 'vgpu-admin'), ['--state-dir', mm.stateDir, 'vm', 'set', 'vm-a', '--tls-client-cert-sha256', a.sha256.slice(7)], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`tls-client-cert-sha256 none -> ${canonical(a.sha256).slice(7)}`));
  assert.equal((await mm.api('PATCH', '/v1/vms/vm-b', { tlsClientCertSha256: canonical(b.sha256) })).status, 200);
  const taken = await mm.api('PATCH', '/v1/vms/vm-b', { tlsClientCertSha256: a.sha256 });
  assert.equal(taken.status, 409, JSON.stringify(taken.json));

  const pin = pinOf(certs.cert);
  const as = (c: { cert: string; key: string }, tok: string): Promise<RunResult> =>
    runGuest(buildProgram('init_only'), ['--server', addr, '--token', tok], { VGPU_LOG: 'warn', VGPU_TLS_PIN: pin, VGPU_TLS_CERT: c.cert, VGPU_TLS_KEY: c.key }, 60_000);

  // No token: the certificate says which VM; the session is listed under it while it runs.
  const held = startGuest(addr, '', buildProgram('quota'), ['alloc:1', 'hold'], { VGPU_TLS_PIN: pin, VGPU_TLS_CERT: a.cert, VGPU_TLS_KEY: a.key });
  t.after(() => held.kill('SIGKILL'));
  await held.waitFor(/^holding/);
  const sessions = (await mm.api('GET', '/v1/sessions')).json as SessionRow[];
  assert.deepEqual(sessions.map((x) => x.vm), ['vm-a'], JSON.stringify(sessions));
  held.release();
  assert.equal(await held.done, 0, held.stderr());
  await mm.waitForLog((l) => l.msg === 'session opened' && l.vm === 'vm-a');
  // Its own token with it is fine; another VM's token is refused, saying why.
  assert.match((await as(a, tokenA)).stdout, /cuInit=0 /);
  const claim = await as(a, tokenB);
  assert.match(claim.stdout, /cuInit=100 /, claim.stderr);
  assert.match(claim.stderr, new RegExp(`client certificate ${canonical(a.sha256)} is bound to VM vm-a; a token for another VM is refused`));
  assert.match((await as(b, '')).stdout, /cuInit=0 /);
  await mm.waitForLog((l) => l.msg === 'session opened' && l.vm === 'vm-b');

  // An unbound certificate: a token works, and without one the guest is told how to bind it.
  assert.match((await as(loose, tokenB)).stdout, /cuInit=0 /);
  const bare = await as(loose, '');
  assert.match(bare.stderr, new RegExp(`no VM token given, and the client certificate ${canonical(loose.sha256)} is bound to no VM .*--tls-client-cert-sha256`));
  // No certificate at all: requested, not required, so the token alone still works.
  const plain = await runGuest(buildProgram('init_only'), ['--server', addr, '--token', tokenA], { VGPU_LOG: 'warn', VGPU_TLS_PIN: pin }, 60_000);
  assert.match(plain.stdout, /cuInit=0 /, plain.stderr);

  // A certificate from a CA the mediator does not trust is refused even with a good token ...
  await mm.api('PATCH', '/v1/vms/vm-a', { tlsClientCertSha256: newcomer.sha256 }).then((r) => assert.equal(r.status, 200));
  const stranger = await as(newcomer, tokenA);
  assert.match(stranger.stderr, /does not verify against the mediator's --tls-client-ca \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  // ... until SIGHUP reloads a CA file that has its CA: then it is vm-a without a token.
  writeFileSync(caFile, readFileSync(guests.ca, 'utf8') + readFileSync(later.ca, 'utf8'));
  const reloaded = mm.waitForLog((l) => l.msg === 'TLS certificate reloaded' && l.clientCaChanged === true);
  mm.proc.kill('SIGHUP');
  await reloaded;
  const welcomed = await as(newcomer, '');
  assert.match(welcomed.stdout, /cuInit=0 /, welcomed.stderr);
  // A client CA file that is not one is reported, and the CA in use stays.
  writeFileSync(caFile, 'not a certificate\n');
  const failed = mm.waitForLog((l) => l.msg === 'TLS certificate reload failed; keeping the one in use' && /--tls-client-ca .*no PEM certificate/.test(String(l.err)));
  mm.proc.kill('SIGHUP');
  await failed;
  assert.match((await as(newcomer, '')).stdout, /cuInit=0 /);
  // The guest names a client certificate it cannot read.
  const unreadable = await as({ cert: join(dir, 'missing.pem'), key: a.key }, '');
  assert.match(unreadable.stderr, /cannot read the client certificate \S+missing\.pem \(VGPU_TLS_CERT/);
});

test('client certificates required (by the configuration file): a guest without one is refused even with a token', async (t) => {
  const guests = makeClientCa('required');
  const a = guests.issue('vm-r');
  const conf = join(dir, 'mediator.toml');
  writeFileSync(conf, `tls-client-ca = ${JSON.stringify(guests.ca)}\ntls-require-client-cert = true\n`);
  const { m: mm, addr } = await mtlsMediator(['--config', conf]);
  t.after(() => mm.stop());
  const tokenR = await mm.addVm('vm-r', { tlsClientCertSha256: a.sha256 });
  const pin = pinOf(certs.cert);
  const without = await runGuest(buildProgram('init_only'), ['--server', addr, '--token', tokenR], { VGPU_LOG: 'warn', VGPU_TLS_PIN: pin }, 60_000);
  assert.match(without.stdout, /cuInit=100 /, without.stderr);
  assert.match(without.stderr, /requires a client certificate signed by the mediator's --tls-client-ca \(set VGPU_TLS_CERT and VGPU_TLS_KEY\)/);
  const withCert = await runGuest(buildProgram('init_only'), ['--server', addr, '--token', ''],
    { VGPU_LOG: 'warn', VGPU_TLS_PIN: pin, VGPU_TLS_CERT: a.cert, VGPU_TLS_KEY: a.key }, 60_000);
  assert.match(withCert.stdout, /cuInit=0 /, withCert.stderr);
});

test('--tls-require-client-cert needs --tls-client-ca, and --tls-client-ca needs a certificate', async () => {
  const noCa = await mediatorStart(['--listen', 'tls:127.0.0.1:0', '--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-require-client-cert']);
  assert.equal(noCa.code, 2);
  assert.match(noCa.stderr, /--tls-require-client-cert needs --tls-client-ca FILE/);
  const noCert = await mediatorStart(['--listen', 'tcp:127.0.0.1:0', '--tls-client-ca', certs.ca]);
  assert.equal(noCert.code, 2);
  assert.match(noCert.stderr, /--tls-client-ca needs --tls-cert and --tls-key/);
  const badCa = await mediatorStart(['--listen', 'tls:127.0.0.1:0', '--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-client-ca', certs.key]);
  assert.notEqual(badCa.code, null);
  assert.match(badCa.stderr, /--tls-client-ca \S+: no PEM certificate in it/);
});
