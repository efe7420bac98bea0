// vgpu-admin doctor finds a host's problems and names the fix for each: no driver, socket
// permissions, no mediator; and passes on a host where everything works.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { reportSchema, type Check, type Report } from '../../src/doctor/report.js';
import { startMediator } from '../helpers/mediator.js';
import { cli, REPO, tempDir } from './helpers.js';

function parse(stdout: string): Report {
  return reportSchema.parse(JSON.parse(stdout));
}

function check(r: Report, name: string): Check {
  const c = r.checks.find((x) => x.name === name);
  assert.ok(c, `no check ${name} in ${JSON.stringify(r.checks.map((x) => x.name))}`);
  return c;
}

test('no NVIDIA driver: with --backend cuda the driver check fails with the reason and the fix, and doctor exits 1', async (t) => {
  const dir = tempDir(t);
  const env = { VGPU_HOST_LIBCUDA: '/nonexistent/libcuda.so.1', HOME: dir };
  const r = await cli(['--state-dir', dir, '--json', 'doctor', '--backend', 'cuda', '--socket', path.join(dir, 'none.sock')], env);
  assert.equal(r.status, 1, r.stderr);
  const rep = parse(r.stdout);
  assert.equal(rep.ok, false);
  const driver = check(rep, 'driver');
  assert.equal(driver.state, 'fail');
  assert.match(driver.detail, /cannot load \/nonexistent\/libcuda\.so\.1/);
  assert.match(driver.fix ?? '', /VGPU_HOST_LIBCUDA/);
  assert.equal(check(rep, 'backend').state, 'fail');

  // On auto the same host is not broken: softgpu stands in, and the driver check says why.
  const auto = parse((await cli(['--state-dir', dir, '--json', 'doctor', '--socket', path.join(dir, 'none.sock')], env)).stdout);
  assert.equal(check(auto, 'driver').state, 'warn');
  assert.match(check(auto, 'backend').detail, /^softgpu \(no usable NVIDIA driver\), 1 device/);
  assert.match(check(auto, 'gpu memory').detail, /GPU 0 .* free of /);

  // The human form: one line per check, the fix below a failed one.
  const human = await cli(['--state-dir', dir, 'doctor', '--backend', 'cuda', '--socket', path.join(dir, 'none.sock')], env);
  assert.equal(human.status, 1);
  assert.match(human.stdout, /^fail {2}driver +no usable NVIDIA driver: .*\n +fix: install NVIDIA's driver, or point VGPU_HOST_LIBCUDA/m);
  assert.match(human.stdout, /checks failed\n$/);
});

test('no mediator: the socket, admin API and listener checks fail, each naming how to start one', async (t) => {
  const dir = tempDir(t);
  const r = await cli(['--state-dir', dir, '--json', 'doctor', '--backend', 'softgpu', '--socket', path.join(dir, 'vgpu.sock')], { HOME: dir });
  assert.equal(r.status, 1);
  const rep = parse(r.stdout);
  const sock = check(rep, `socket ${path.join(dir, 'vgpu.sock')}`);
  assert.equal(sock.state, 'fail');
  assert.match(sock.fix ?? '', /vgpu-mediator --state-dir DIR/);
  assert.equal(check(rep, 'admin api').state, 'fail');
  assert.match(check(rep, 'admin api').fix ?? '', /--url http/);
  assert.equal(check(rep, 'listeners').state, 'fail');
  assert.equal(check(rep, 'store').state, 'warn');
  assert.equal(check(rep, 'driver').detail, 'not used (--backend softgpu)');
});

test('a running mediator: every check passes, listeners and the socket found through its admin API', async (t) => {
  const m = await startMediator({ tcp: true });
  t.after(() => m.stop());
  const r = await cli(['--state-dir', m.stateDir, '--json', 'doctor'], { HOME: m.stateDir, VGPU_HOST_LIBCUDA: '/nonexistent/libcuda.so.1' });
  const rep = parse(r.stdout);
  assert.equal(r.status, 0, r.stdout);
  assert.equal(rep.ok, true);
  // The mediator fell back to softgpu; the driver check says why, as a warning.
  assert.equal(check(rep, 'driver').state, 'warn');
  assert.equal(check(rep, 'backend').detail, 'the running mediator uses softgpu, 1 device(s)');
  assert.match(check(rep, 'store').detail, /opens, migration \d+ \(current\)/);
  assert.equal(check(rep, `socket ${m.socket}`).state, 'ok');
  const listeners = check(rep, 'listeners');
  assert.equal(listeners.state, 'ok');
  assert.ok(listeners.detail.includes(`unix:${m.socket}`), listeners.detail);
  assert.match(listeners.detail, /tcp:127\.0\.0\.1:\d+/);
  assert.equal(check(rep, 'admin api').state, 'ok');
});

// Root passes every permission check, so these run doctor as nobody (setpriv drops the ids).
const asNobody = process.getuid?.() !== 0
  ? 'needs root (to run doctor as nobody)'
  : spawnSync('setpriv', ['--version']).error ? 'needs setpriv (util-linux)' : false;

function doctorAsNobody(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--',
    process.execPath, path.join(REPO, 'bin/vgpu-admin'), ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent' }, timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function listeningSocket(file: string): Promise<net.Server> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(file, resolve));
  return server;
}

test('socket permissions: a user who may not connect is told who may and how to be let in', { skip: asNobody }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const file = path.join(dir, 'vgpu.sock');
  const server = await listeningSocket(file);
  t.after(() => server.close());
  chmodSync(file, 0o600);
  const r = doctorAsNobody(['--state-dir', dir, '--json', 'doctor', '--backend', 'softgpu', '--socket', file]);
  assert.equal(r.status, 1, r.stderr);
  const sock = check(parse(r.stdout), `socket ${file}`);
  assert.equal(sock.state, 'fail');
  assert.match(sock.detail, /^nobody \(uid 65534\) may not connect \(owner root:root, mode 0600\)$/);
  assert.match(sock.fix ?? '', /usermod -aG root USER/);

  // Made writable for all, the same socket passes, for nobody too.
  chmodSync(file, 0o666);
  const okNow = check(parse(doctorAsNobody(['--state-dir', dir, '--json', 'doctor', '--backend', 'softgpu', '--socket', file]).stdout), `socket ${file}`);
  assert.equal(okNow.state, 'ok', okNow.detail);
  assert.match(okNow.detail, /nobody \(uid 65534\) can connect/);
});

test('socket permissions: a directory above the socket that the user may not enter is named', { skip: asNobody }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const locked = path.join(dir, 'locked');
  mkdirSync(locked, { mode: 0o700 });
  const file = path.join(locked, 'vgpu.sock');
  const server = await listeningSocket(file);
  t.after(() => server.close());
  chmodSync(file, 0o666);
  const r = doctorAsNobody(['--state-dir', dir, '--json', 'doctor', '--backend', 'softgpu', '--socket', file]);
  const sock = check(parse(r.stdout), `socket ${file}`);
  assert.equal(sock.state, 'fail');
  assert.equal(sock.detail, `nobody (uid 65534) may not enter ${locked} (owner root:root, mode 0700)`);
  assert.match(sock.fix ?? '', /search access/);
});

test('the packaged mediator is found from its configuration file: its socket and admin API are checked, and a state directory that is not its own is named', async (t) => {
  const dir = tempDir(t);
  const conf = path.join(dir, 'mediator.toml');
  const packaged = path.join(dir, 'packaged');
  // Port 9 (discard): nothing listens there on a test host, so the API is unreachable.
  writeFileSync(conf, `state-dir = "${packaged}"\nlisten = ["unix:${path.join(dir, 'pkg.sock')}"]\nhttp = "127.0.0.1:9"\n`);
  const r = await cli(['--state-dir', dir, '--json', 'doctor', '--backend', 'softgpu', '--config', conf], { HOME: dir, VGPU_SERVER: undefined });
  assert.equal(r.status, 1, r.stderr);
  const rep = parse(r.stdout);
  const config = check(rep, 'config');
  assert.equal(config.state, 'warn');
  assert.match(config.detail, new RegExp(`puts the mediator's state in ${packaged}, but this check reads ${dir}`));
  assert.match(config.fix ?? '', new RegExp(`--state-dir ${packaged}`));
  assert.equal(check(rep, `socket ${path.join(dir, 'pkg.sock')}`).state, 'fail');
  assert.match(check(rep, 'admin api').detail, /^cannot reach http:\/\/127\.0\.0\.1:9: /);

  // A file that does not load fails the check with its line, as the mediator would refuse it.
  writeFileSync(conf, 'listen = 7\n');
  const bad = parse((await cli(['--state-dir', dir, '--json', 'doctor', '--backend', 'softgpu', '--config', conf], { HOME: dir })).stdout);
  assert.equal(check(bad, 'config').state, 'fail');
  assert.match(check(bad, 'config').detail, /mediator\.toml:1: listen: expected an address/);
  // --no-config: neither file nor check.
  const none = parse((await cli(['--state-dir', dir, '--json', 'doctor', '--backend', 'softgpu', '--no-config'], { HOME: dir })).stdout);
  assert.equal(none.checks.some((c) => c.name === 'config'), false);
});
