// guest/install.sh --uninstall removes exactly what installs into a root created (the list in
// ROOT/etc/vgpu/installed-files), leaving the tree as it was, the loader cache included; and the
// TLS client certificate settings it writes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT } from '../helpers/paths.js';

const INSTALL = join(ROOT, 'guest/install.sh');

/** Every entry under `root`: type, permissions, and content or link target. */
function snapshot(root: string, rel = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = join(rel, name);
    const st = lstatSync(join(root, p));
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out.set(p, `link ${readlinkSync(join(root, p))}`);
    else if (st.isDirectory()) {
      out.set(p, `dir ${mode}`);
      for (const [k, v] of snapshot(root, p)) out.set(k, v);
    } else out.set(p, `file ${mode} ${createHash('sha256').update(readFileSync(join(root, p))).digest('hex')}`);
  }
  return out;
}

function install(root: string, ...args: string[]): string {
  return execFileSync(INSTALL, ['--root', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('install, install again, uninstall: the tree is as before, its loader cache included', () => {
  const root = mkdtempSync(join(tmpdir(), 'vgpu-uninstall-'));
  try {
    mkdirSync(join(root, 'etc/ld.so.conf.d'), { recursive: true });
    mkdirSync(join(root, 'usr/local/lib'), { recursive: true });
    writeFileSync(join(root, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
    writeFileSync(join(root, 'etc/ld.so.conf.d/local.conf'), '/usr/local/lib\n');
    execFileSync('/sbin/ldconfig', ['-r', root]);
    const before = snapshot(root);
    install(root, '--server', 'unix:/run/vgpu/vgpu.sock');
    install(root, '--server', 'tcp:gpu-host:7070', '--token', 'vgpu_x');
    const listed = readFileSync(join(root, 'etc/vgpu/installed-files'), 'utf8').split('\n').filter((l) => l.startsWith('/'));
    assert.deepEqual(listed, ['/usr/local/lib/vgpu', '/etc/vgpu', '/usr/local/bin', '/usr/local/bin/vgpu-doctor', '/usr/local/lib/vgpu/libcuda.so.1', '/usr/local/lib/vgpu/libcuda.so',
      '/usr/local/lib/vgpu/libnvidia-ml.so.1', '/usr/local/lib/vgpu/libnvidia-ml.so', '/etc/ld.so.conf.d/00-vgpu.conf', '/etc/vgpu/guest.conf'],
    'what did not exist before, once each across both installs; /usr/local/lib and the cache were there');
    assert.notDeepEqual(snapshot(root), before);
    const dry = execFileSync(INSTALL, ['--uninstall', '--root', root, '--dry-run'], { encoding: 'utf8' });
    assert.match(dry, /would run: rm -f -- .*\/usr\/local\/lib\/vgpu\/libcuda\.so\.1/);
    assert.ok(readdirSync(join(root, 'usr/local/lib/vgpu')).length > 0, '--dry-run changes nothing');
    install(root, '--uninstall');
    assert.deepEqual(snapshot(root), before);
    const again = spawnSync(INSTALL, ['--uninstall', '--root', root], { encoding: 'utf8' });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /nothing to uninstall: .*installed-files is missing/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('into an empty root: every folder and the cache it created go; a file of the operator stays', () => {
  const root = mkdtempSync(join(tmpdir(), 'vgpu-uninstall-'));
  try {
    writeFileSync(join(root, 'marker'), 'x');
    const before = snapshot(root);
    install(root, '--server', 'vsock:9999');
    writeFileSync(join(root, 'usr/local/lib/vgpu/operators-own.so'), 'mine');
    const r = spawnSync(INSTALL, ['--uninstall', '--root', root], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /usr\/local\/lib\/vgpu is not empty \(files not installed by install\.sh\); left in place/);
    rmSync(join(root, 'usr/local/lib/vgpu/operators-own.so'));
    // Only the folders holding the operator's file are left, as they were when it was added.
    assert.deepEqual([...snapshot(root).keys()], ['marker', 'usr', 'usr/local', 'usr/local/lib', 'usr/local/lib/vgpu']);
    assert.deepEqual([...before.keys()], ['marker']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a tampered list cannot make --uninstall leave the root', () => {
  const root = mkdtempSync(join(tmpdir(), 'vgpu-uninstall-'));
  try {
    install(root, '--server', 'vsock:9999', '--no-ldconfig');
    writeFileSync(join(root, 'etc/vgpu/installed-files'), '/etc/vgpu/guest.conf\n/../../etc/passwd\n');
    const r = spawnSync(INSTALL, ['--uninstall', '--root', root], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /'\/\.\.\/\.\.\/etc\/passwd' leaves its folder/);
    assert.ok(lstatSync(join(root, 'etc/vgpu/guest.conf')).isFile(), 'nothing removed');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an uninstall cut short keeps its list, so running it again finishes the job', () => {
  const root = mkdtempSync(join(tmpdir(), 'vgpu-uninstall-'));
  try {
    const before = snapshot(root);
    install(root, '--server', 'vsock:9999', '--no-ldconfig');
    // An rm that fails on guest.conf stands in for an uninstall stopped half-way (a signal, a full
    // disk): files removed before it are gone, the rest and the list are not.
    const bin = join(root, '..', `${root.split('/').at(-1)}-bin`);
    mkdirSync(bin);
    try {
      writeFileSync(join(bin, 'rm'), '#!/bin/sh\ncase "$*" in *guest.conf*) exit 1 ;; esac\nexec /bin/rm "$@"\n');
      chmodSync(join(bin, 'rm'), 0o755);
      const cut = spawnSync(INSTALL, ['--uninstall', '--root', root, '--no-ldconfig'], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}` } });
      assert.notEqual(cut.status, 0, 'the stand-in rm failed the uninstall');
      assert.ok(existsSync(join(root, 'etc/vgpu/installed-files')), 'the list outlives a cut-short uninstall');
      assert.ok(existsSync(join(root, 'etc/vgpu/guest.conf')));
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    execFileSync(INSTALL, ['--uninstall', '--root', root, '--no-ldconfig'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.deepEqual(snapshot(root), before, 'the second run removed the rest, the list and its folders');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a folder of the tree that is a symlink out of --root is refused, by install and uninstall, and nothing outside changes', () => {
  const parent = mkdtempSync(join(tmpdir(), 'vgpu-symlinked-'));
  try {
    const other = join(parent, 'other');
    mkdirSync(other);
    install(other, '--server', 'vsock:9999', '--no-ldconfig');
    const otherBefore = snapshot(other);
    // ROOT/etc leads to another tree's etc (on a host: ROOT/etc -> /etc), whose list names its files.
    const root = join(parent, 'root');
    mkdirSync(root);
    symlinkSync(join(other, 'etc'), join(root, 'etc'));
    const un = spawnSync(INSTALL, ['--uninstall', '--root', root, '--no-ldconfig'], { encoding: 'utf8' });
    assert.equal(un.status, 2, un.stderr);
    assert.match(un.stderr, new RegExp(`${root}/etc(/[a-z.]+)? leads out of --root ${root}: it resolves to ${other}/etc`));
    const ins = spawnSync(INSTALL, ['--root', root, '--server', 'vsock:9999', '--no-ldconfig'], { encoding: 'utf8' });
    assert.equal(ins.status, 2, ins.stderr);
    assert.match(ins.stderr, /leads out of --root/);
    assert.deepEqual(snapshot(other), otherBefore, 'the other tree is untouched');
    assert.deepEqual([...snapshot(root).keys()], ['etc'], 'nothing was installed');
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('--tls-cert and --tls-key go together into guest.conf, only with a tls: server', () => {
  const root = mkdtempSync(join(tmpdir(), 'vgpu-install-tls-'));
  try {
    const pin = `sha256:${'ab'.repeat(32)}`;
    const r = spawnSync(INSTALL, ['--root', root, '--no-ldconfig', '--server', 'tls:gpu-host:7443', '--tls-pin', pin,
      '--tls-cert', '/etc/vgpu/vm1.pem', '--tls-key', '/etc/vgpu/vm1.key'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(root, 'etc/vgpu/guest.conf'), 'utf8'),
      `# vgpu guest configuration (written by guest/install.sh; see docs/guest.md)\nserver = tls:gpu-host:7443\ntls_pin = ${pin}\n`
      + 'tls_cert = /etc/vgpu/vm1.pem\ntls_key = /etc/vgpu/vm1.key\n');
    assert.match(r.stderr, /no --token: the host must bind this VM to its client certificate .*--tls-client-cert-sha256/);
    assert.doesNotMatch(r.stderr, /warning: no --token/);
    const half = spawnSync(INSTALL, ['--root', root, '--dry-run', '--server', 'tls:gpu-host:7443', '--tls-pin', pin, '--tls-cert', '/etc/vgpu/vm1.pem'], { encoding: 'utf8' });
    assert.equal(half.status, 2);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
    const notTls = spawnSync(INSTALL, ['--root', root, '--dry-run', '--server', 'vsock:9999', '--tls-cert', '/a', '--tls-key', '/b'], { encoding: 'utf8' });
    assert.equal(notTls.status, 2);
    assert.match(notTls.stderr, /--tls-cert and --tls-key go with a tls: server/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a --root that does not exist yet is made, and uninstall leaves it', () => {
  const parent = mkdtempSync(join(tmpdir(), 'vgpu-newroot-'));
  const root = join(parent, 'inst');
  try {
    install(root, '--server', 'vsock:7000', '--no-ldconfig');
    assert.ok(existsSync(join(root, 'usr/local/lib/vgpu/libcuda.so.1')));
    execFileSync(INSTALL, ['--uninstall', '--root', root, '--no-ldconfig'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.deepEqual([...snapshot(root).keys()], []);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
