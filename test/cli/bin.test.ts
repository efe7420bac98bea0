// The launchers as real processes: bin/vgpu-admin (exit statuses, missing build) and bin/vgpu-run
// (argument errors, the environment it gives the command).

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, runBin, tempDir } from './helpers.js';

const ADMIN = path.join(REPO, 'bin', 'vgpu-admin');
const RUN = path.join(REPO, 'bin', 'vgpu-run');

/** A copy of a launcher in a fake repository without build outputs. */
function bareRepo(dir: string, launcher: string): string {
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  // The launcher is an ES module by the repository's package.json, as in the real tree.
  writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
  const copy = path.join(dir, 'bin', path.basename(launcher));
  copyFileSync(launcher, copy);
  return copy;
}

test('bin/vgpu-admin runs commands and returns their exit statuses', (t) => {
  const dir = tempDir(t);
  const add = runBin(ADMIN, ['vm', 'add', 'v1', '--print-token'], { VGPU_STATE_DIR: dir });
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stdout.trimEnd().split('\n').at(-1) ?? '', /^vgpu_[A-Za-z0-9_-]{43}$/);
  const list = runBin(ADMIN, ['--state-dir', dir, 'show-vms', '--json']);
  assert.equal(list.status, 0);
  assert.equal((JSON.parse(list.stdout) as Array<{ name: string }>)[0]?.name, 'v1');
  assert.equal(runBin(ADMIN, ['vm', 'add', 'v1', '--state-dir', dir]).status, 4);
  assert.equal(runBin(ADMIN, ['vm', 'show', 'v2', '--state-dir', dir]).status, 3);
  const bad = runBin(ADMIN, ['vm', 'add', 'v3', '--memory', 'lots', '--state-dir', dir]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /invalid size "lots"/);
  assert.equal(runBin(ADMIN, ['--help']).status, 0);
});

test('bin/vgpu-admin works through a symlink and says to build when dist is missing', (t) => {
  const dir = tempDir(t);
  const link = path.join(dir, 'vgpu-admin');
  symlinkSync(ADMIN, link);
  assert.equal(runBin(link, ['vm', 'list', '--state-dir', path.join(dir, 'state')]).status, 0);
  const bare = bareRepo(path.join(dir, 'repo'), ADMIN);
  const r = runBin(bare, ['vm', 'list']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not built/);
  assert.match(r.stderr, /run 'make'/);
});

test('bin/vgpu-run refuses bad arguments with a clear message and status 2', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /no command given/],
    [['ls'], /missing '--' before the command 'ls'/],
    [['--server', 'unix:/x', 'ls'], /missing '--'/],
    [['--'], /no command after '--'/],
    [['--token'], /--token needs a token/],
    [['--server'], /--server needs an address/],
    [['--frob', '--', 'true'], /unknown option '--frob'/],
    [['--server', 'http://x', '--', 'true'], /server address 'http:\/\/x' is not unix:\/path, tcp:host:port, tls:host:port or vsock:\[cid:\]port/],
  ];
  for (const [args, message] of cases) {
    const r = runBin(RUN, args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /^vgpu-run: error: /);
  }
  assert.equal(runBin(RUN, ['--help']).status, 0);
});

test('bin/vgpu-run says to build when the guest library is missing', (t) => {
  const bare = bareRepo(tempDir(t), RUN);
  const r = runBin(bare, ['--', 'true']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /libcuda\.so\.1 is missing/);
  assert.match(r.stderr, /run 'make'/);
});

test('bin/vgpu-run puts build/guest first and sets VGPU_SERVER and VGPU_TOKEN', (t) => {
  const repo = tempDir(t);
  const run = bareRepo(repo, RUN);
  const guest = path.join(repo, 'build', 'guest');
  mkdirSync(guest, { recursive: true });
  writeFileSync(path.join(guest, 'libcuda.so.1'), '');
  const env = (r: { stdout: string }): Record<string, string> =>
    Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

  const plain = env(runBin(run, ['--', 'env'], { LD_LIBRARY_PATH: '/opt/x' }));
  assert.equal(plain['LD_LIBRARY_PATH'], `${guest}:/opt/x`);
  assert.equal(plain['VGPU_SERVER'], 'unix:/tmp/vgpu.sock');
  assert.equal(plain['VGPU_TOKEN'], '');

  const fromEnv = env(runBin(run, ['--', 'env'], { VGPU_SERVER: 'tcp:h:1', VGPU_TOKEN: 'vgpu_env' }));
  assert.equal(fromEnv['VGPU_SERVER'], 'tcp:h:1');
  assert.equal(fromEnv['VGPU_TOKEN'], 'vgpu_env');
  assert.equal(fromEnv['LD_LIBRARY_PATH'], guest);

  const flags = env(runBin(run, ['--server', 'unix:/run/v.sock', '--token=vgpu_flag', '--', 'env'], { VGPU_SERVER: 'tcp:h:1' }));
  assert.equal(flags['VGPU_SERVER'], 'unix:/run/v.sock');
  assert.equal(flags['VGPU_TOKEN'], 'vgpu_flag');

  const args = runBin(run, ['--', 'sh', '-c', 'printf "%s|" "$@"; exit 7', 'sh', 'a b', '--', '-x']);
  assert.equal(args.status, 7, 'exit status of the command is not passed through');
  assert.equal(args.stdout, 'a b|--|-x|');
});

test('vgpu-mediator --help shows the defaults that apply, and what the environment sets now', () => {
  const MEDIATOR = path.join(REPO, 'bin', 'vgpu-mediator');
  const plain = runBin(MEDIATOR, ['--help'], { HOME: '/nonexistent/user-home' });
  assert.equal(plain.status, 0, plain.stderr);
  const flat = plain.stdout.replace(/\s+/g, ' ');
  for (const d of ['(default: unix:/tmp/vgpu.sock)', '(default: $VGPU_STATE_DIR, else /nonexistent/user-home/.local/state/vgpu)',
    '(default: $VGPU_LOG, else its older name $VGPU_LOG_LEVEL, else info)', '(default: $VGPU_LOG_FORMAT, else auto)',
    '(default: $VGPU_ADMIN_HTTP, else 127.0.0.1:7080)']) assert.ok(flat.includes(d), `${d} in\n${plain.stdout}`);
  const env = runBin(MEDIATOR, ['--help'], { HOME: '/nonexistent/user-home', VGPU_LOG_FORMAT: 'json' }).stdout.replace(/\s+/g, ' ');
  assert.ok(env.includes('(default: $VGPU_LOG_FORMAT, else auto; now json)'), env);
});

test('bin/vgpu-run without --server finds the packaged mediator from its configuration file, as doctor does', (t) => {
  const dir = tempDir(t);
  const conf = path.join(dir, 'mediator.toml');
  writeFileSync(conf, `state-dir = "${path.join(dir, 'packaged')}"\nlisten = ["tcp:127.0.0.1:7070", "unix:/run/vgpu/vgpu.sock"]\n`);
  const server = (args: string[]): ReturnType<typeof runBin> =>
    runBin(RUN, ['--state-dir', path.join(dir, 'own'), ...args, '--', 'sh', '-c', 'printf %s "$VGPU_SERVER"'], { HOME: dir });
  const r = server(['--config', conf]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'unix:/run/vgpu/vgpu.sock', 'the Unix socket of the file, which needs no token');
  assert.equal(server(['--no-config']).stdout, 'unix:/tmp/vgpu.sock');
  writeFileSync(conf, 'listen = "udp:1"\n');
  const bad = server([`--config=${conf}`]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /mediator\.toml:1: listen: expected unix:PATH/);
  assert.match(bad.stderr, /^vgpu-run: error: cannot tell where the mediator listens/m);
});
