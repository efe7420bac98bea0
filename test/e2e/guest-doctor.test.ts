// The guest's check, vgpu-doctor and VGPU_DOCTOR=1 (docs/guest.md, "Checking a guest"), against a
// real mediator on softgpu: it passes where everything works (a kernel runs, a round trip is
// timed), and finds and names the fix for the wrong library first on the loader path (libcuda
// and libnvidia-ml), an unreachable server, a wrong token and a missing configuration.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startMediator } from '../helpers/mediator.js';
import { GUEST_LIB_DIR, BUILD, ROOT } from '../helpers/paths.js';
import { buildProgram } from '../helpers/programs.js';

const DOCTOR = join(GUEST_LIB_DIR, 'vgpu-doctor');
const SOFTGPU = join(BUILD, 'softgpu/libvgpu-softgpu.so');

function doctor(env: Record<string, string>, program = DOCTOR): { status: number | null; stdout: string; stderr: string } {
  // No inherited VGPU_* and an empty configuration file: only what the test sets counts.
  const r = spawnSync(program, [], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LD_LIBRARY_PATH: GUEST_LIB_DIR, VGPU_CONFIG: '/dev/null', VGPU_CONNECT_TIMEOUT_MS: '2000', ...env },
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The report line of a check, and the fix line under it if any. */
function line(out: string, state: string, name: string): { detail: string; fix: string | undefined } {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^${state} +${name} `).test(l));
  assert.ok(i >= 0, `no '${state} ${name}' line in:\n${out}`);
  const fix = /^ +fix: (.*)$/.exec(lines[i + 1] ?? '')?.[1];
  return { detail: lines[i]!.replace(new RegExp(`^${state} +${name} +`), ''), fix };
}

function dirWith(name: string, target: string): string {
  const d = mkdtempSync(join(tmpdir(), 'vgpu-wronglib-'));
  symlinkSync(target, join(d, name));
  return d;
}

const m = await startMediator({ tcp: true });
test.after(() => m.stop());

test('vgpu-doctor passes on a working guest: our libraries, every NVIDIA export, the host, a kernel and a round trip', () => {
  const r = doctor({ VGPU_SERVER: m.server });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(line(r.stdout, 'ok', 'libcuda').detail, /libcuda\.so\.1 \(vgpu's\)$/);
  assert.match(line(r.stdout, 'ok', 'libnvidia-ml').detail, /libnvidia-ml\.so\.1 \(vgpu's\)$/);
  assert.match(line(r.stdout, 'ok', 'symbols').detail, /^all \d{3} functions NVIDIA's libcuda\.so\.1 exports are present$/);
  assert.match(line(r.stdout, 'ok', 'server').detail, /answers \(protocol 1\.\d+, 1 device/);
  assert.match(line(r.stdout, 'ok', 'token').detail, /^accepted/);
  assert.match(line(r.stdout, 'ok', 'kernel').detail, /wrote the expected 32 values/);
  assert.match(line(r.stdout, 'ok', 'round trip').detail, /^\d+ us /);
});

test("the wrong libcuda.so.1 first on the loader path: vgpu-doctor names it and how to put vgpu's first", () => {
  // softgpu's library exports the driver API too, but it is not the guest library.
  const d = dirWith('libcuda.so.1', SOFTGPU);
  try {
    const r = doctor({ VGPU_SERVER: m.server, LD_LIBRARY_PATH: `${d}:${GUEST_LIB_DIR}` });
    assert.equal(r.status, 1);
    const l = line(r.stdout, 'fail', 'libcuda');
    assert.equal(l.detail, `the loader resolves libcuda.so.1 to ${d}/libcuda.so.1, which is not vgpu's (NVIDIA's driver, or another library of that name, comes first)`);
    assert.match(l.fix ?? '', /LD_LIBRARY_PATH=DIR .*guest\/install\.sh/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the wrong libnvidia-ml.so.1 first on the loader path is named too', () => {
  const d = dirWith('libnvidia-ml.so.1', SOFTGPU);
  try {
    const r = doctor({ VGPU_SERVER: m.server, LD_LIBRARY_PATH: `${d}:${GUEST_LIB_DIR}` });
    assert.equal(r.status, 1);
    const l = line(r.stdout, 'fail', 'libnvidia-ml');
    assert.equal(l.detail, `the loader resolves libnvidia-ml.so.1 to ${d}/libnvidia-ml.so.1, which is not vgpu's`);
    assert.match(l.fix ?? '', /LD_LIBRARY_PATH/);
    // The rest still runs: the host is fine.
    line(r.stdout, 'ok', 'kernel');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('an unreachable server: the address and the connect error, and what to start or check', () => {
  const r = doctor({ VGPU_SERVER: 'unix:/nonexistent/vgpu.sock' });
  assert.equal(r.status, 1);
  const l = line(r.stdout, 'fail', 'server');
  assert.match(l.detail, /^cannot reach unix:\/nonexistent\/vgpu\.sock: .*No such file or directory/);
  assert.match(l.fix ?? '', /start the mediator .*--listen/);
  assert.doesNotMatch(r.stdout, /^ok +kernel/m);
});

test('a wrong token: the host is reached, the token refused, and the fix is the VM token command', () => {
  const r = doctor({ VGPU_SERVER: m.tcp!, VGPU_TOKEN: 'vgpu_' + 'x'.repeat(43) });
  assert.equal(r.status, 1);
  line(r.stdout, 'ok', 'server');
  const l = line(r.stdout, 'fail', 'token');
  assert.match(l.detail, /VG_WIRE_STATUS_AUTH/);
  assert.match(l.fix ?? '', /VGPU_TOKEN .*vgpu-admin vm token NAME --rotate/);
});

test('no configuration: the config check says where it looked and how to set the server', () => {
  const r = doctor({});
  assert.equal(r.status, 1);
  const l = line(r.stdout, 'fail', 'config');
  assert.equal(l.detail, 'no server configured (VGPU_SERVER unset; /dev/null names none)');
  assert.match(l.fix ?? '', /VGPU_SERVER .*guest\.conf/);
});

test('VGPU_DOCTOR=1 prints the report on stderr at cuInit of any program, which then runs on', async () => {
  const prog = buildProgram('init_only');
  const ok = doctor({ VGPU_SERVER: m.server, VGPU_DOCTOR: '1' }, prog);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^cuInit=0 cuDeviceGetCount=0 count=1/);
  assert.match(ok.stderr, /^vgpu guest check \(VGPU_DOCTOR=1\), process \d+:$/m);
  line(ok.stderr, 'ok', 'kernel');
  assert.match(ok.stderr, /vgpu guest check: no problem found/);
  const bad = doctor({ VGPU_SERVER: m.tcp!, VGPU_TOKEN: 'vgpu_' + 'y'.repeat(43), VGPU_DOCTOR: '1' }, prog);
  assert.match(bad.stdout, /^cuInit=100 /);
  line(bad.stderr, 'fail', 'token');
  // Without the variable, nothing of it.
  assert.doesNotMatch(doctor({ VGPU_SERVER: m.server }, prog).stderr, /vgpu guest check/);
});

test('guest/install.sh installs vgpu-doctor, which passes with what it installed and nothing else', () => {
  const root = mkdtempSync(join(tmpdir(), 'vgpu-root-'));
  try {
    execFileSync(join(ROOT, 'guest/install.sh'), ['--server', m.server, '--root', root, '--no-ldconfig'], { stdio: 'pipe' });
    const installed = join(root, 'usr/local/bin/vgpu-doctor');
    assert.equal(statSync(installed).mode & 0o777, 0o755);
    const lib = join(root, 'usr/local/lib/vgpu');
    const r = doctor({ LD_LIBRARY_PATH: lib, VGPU_CONFIG: join(root, 'etc/vgpu/guest.conf') }, installed);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(line(r.stdout, 'ok', 'libcuda').detail, `${lib}/libcuda.so.1 (vgpu's)`);
    assert.match(line(r.stdout, 'ok', 'config').detail, new RegExp(`from ${root}/etc/vgpu/guest\\.conf;`));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
