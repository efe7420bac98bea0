// A C program written against CUDA 13's cuda.h and linked against vgpu's libcuda.so.1 runs through
// a real mediator on softgpu, over a Unix socket and over TCP with a VM token, and checks its own
// results (test/programs/driver_api.c).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

let m: RunningMediator;
before(async () => {
  m = await startMediator({ tcp: true });
});
after(async () => {
  await m?.stop();
});

function assertAllOk(out: string, code: number | null, stderr: string): void {
  const bad = out.split('\n').filter((l) => l.startsWith('not ok'));
  assert.deepEqual(bad, [], `failed checks:\n${bad.join('\n')}\nstderr:\n${stderr.slice(-4000)}`);
  assert.ok(out.split('\n').filter((l) => l.startsWith('ok - ')).length > 80, 'the program ran its checks');
  assert.equal(code, 0, stderr.slice(-4000));
}

test('driver API program passes over a Unix socket (default local VM, no token)', async () => {
  const prog = buildProgram('driver_api');
  const r = await runGuest(prog, ['--server', m.server], {});
  assertAllOk(r.stdout, r.code, r.stderr);
  assert.match(r.stdout, /# device: .*CPU/i);
});

test('driver API program passes over TCP with the token of a VM added while the mediator runs', async () => {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'tenant-tcp', '--state-dir', m.stateDir, '--memory', '1G', '--print-token'], { encoding: 'utf8' });
  const token = out.trim().split('\n').at(-1)!;
  assert.match(token, /^vgpu_/);
  const prog = buildProgram('driver_api');
  const r = await runGuest(prog, ['--server', m.tcp!, '--token', token], {});
  assertAllOk(r.stdout, r.code, r.stderr);
  assert.match(r.stdout, /# compute capability \d+\.\d+, 1024 MiB/, 'the VM quota is the total memory the guest sees');
});

test('VGPU_LOG=debug traces every call with its duration', async () => {
  const prog = buildProgram('init_only');
  const r = await runGuest(prog, ['--server', m.server], { VGPU_LOG: 'debug' });
  assert.match(r.stdout, /cuInit=0 cuDeviceGetCount=0 count=1/);
  assert.match(r.stderr, /cuInit/);
  assert.match(r.stderr, /cuDeviceGetCount/);
});

test('vgpu-run without --server finds the mediator of its --state-dir (or VGPU_STATE_DIR) from its listen file', async () => {
  const prog = buildProgram('init_only');
  const listen = readFileSync(join(m.stateDir, 'listen'), 'utf8').split('\n');
  assert.equal(listen[0], `pid ${m.proc.pid}`);
  assert.ok(listen.includes(m.server) && listen.includes(m.tcp!), listen.join('\n'));
  const byFlag = await runGuest(prog, ['--state-dir', m.stateDir], { VGPU_SERVER: '', VGPU_LOG: 'info' });
  assert.match(byFlag.stdout, /cuInit=0 cuDeviceGetCount=0 count=1/, byFlag.stderr);
  assert.match(byFlag.stderr, new RegExp(`connected to ${m.server} `), 'the Unix socket, which needs no token');
  // The address vgpu-run hands the program, without running one.
  const chosen = (args: string[], env: Record<string, string>): string =>
    execFileSync(join(BIN, 'vgpu-run'), [...args, '--', 'sh', '-c', 'printf %s "$VGPU_SERVER"'], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(chosen([], { VGPU_SERVER: '', VGPU_STATE_DIR: m.stateDir }), m.server);
  assert.equal(chosen(['--state-dir', m.stateDir, '--server', m.tcp!], { VGPU_SERVER: '' }), m.tcp, '--server wins');
  assert.equal(chosen(['--state-dir', m.stateDir], { VGPU_SERVER: 'unix:/elsewhere.sock' }), 'unix:/elsewhere.sock', 'VGPU_SERVER wins');
  // A listen file whose mediator is gone is ignored: the default address is used.
  const stale = mkdtempSync(join(tmpdir(), 'vgpu-stale-'));
  try {
    writeFileSync(join(stale, 'listen'), `pid 999999999\n${m.server}\n`);
    assert.equal(chosen(['--state-dir', stale, '--no-config'], { VGPU_SERVER: '' }), 'unix:/tmp/vgpu.sock');
  } finally {
    rmSync(stale, { recursive: true, force: true });
  }
});

test('an unreachable server makes cuInit return CUDA_ERROR_NO_DEVICE at once, with a reason', async (t) => {
  const prog = buildProgram('init_only');
  // A connect timeout far past this test's own: a guest that waited for the server to appear
  // would not finish in time.
  const r = await runGuest(prog, ['--server', `unix:${m.stateDir}/nobody-listens.sock`], { VGPU_LOG: 'warn', VGPU_CONNECT_TIMEOUT_MS: '600000' }, 60_000);
  t.diagnostic(r.stdout.trim());
  assert.match(r.stdout, /cuInit=100 /, r.stdout + r.stderr);
  assert.match(r.stderr, /cannot connect to unix:\S+nobody-listens\.sock: No such file or directory/, 'the guest library says why: the refusal itself');
});
