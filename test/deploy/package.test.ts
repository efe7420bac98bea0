// The host package and the service (docs/operations.md, "Running as a service", "Packages"): `make
// deb` builds a .deb whose contents are what an operator installs, its systemd unit passes
// `systemd-analyze verify`, the shipped configuration file is valid, and the npm package holds the
// tools its `bin` names.
//
// What the unit's check covers: systemd-analyze verify needs the binary ExecStart names to exist, and
// /usr/bin/vgpu-mediator is not installed here (the test never installs the package system-wide). So
// the unit taken from the .deb is verified with ExecStart's /usr/bin/ rewritten to the extracted
// package's usr/bin/, where the same links lead to the same launcher; every other line is checked as
// shipped, and any warning (an unknown key, a value systemd cannot parse) fails the test.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

import { parseConfigText, resolveOptions } from '../../src/mediator/config-file.js';
import { ROOT } from '../helpers/paths.js';

let dir: string;
let deb: string;
let extracted: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vgpu-deb-'));
  deb = join(dir, 'vgpu.deb');
  execFileSync('make', ['--no-print-directory', '-C', ROOT, 'deb', `DEB=${deb}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
  extracted = join(dir, 'root');
  execFileSync('dpkg-deb', ['-x', deb, extracted]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the .deb installs the tools, the unit, the configuration and the guest libraries, and nothing of the tests', () => {
  const listing = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const entries = new Map(listing.trim().split('\n').map((l) => {
    const f = l.split(/\s+/);
    const path = f[5]!.replace(/^\.\//, '/');
    return [path, { mode: f[0]!, owner: f[1]!, target: f[7] }] as const;
  }));
  for (const tool of ['vgpu-mediator', 'vgpu-admin', 'vgpu-run']) {
    assert.equal(entries.get(`/usr/bin/${tool}`)?.target, `../lib/vgpu/bin/${tool}`, tool);
    assert.match(entries.get(`/usr/lib/vgpu/bin/${tool}`)?.mode ?? '', /^-rwxr-xr-x$/, tool);
  }
  for (const f of ['/lib/systemd/system/vgpu-mediator.service', '/etc/vgpu/mediator.toml', '/usr/lib/vgpu/build/guest/libcuda.so.1',
    '/usr/lib/vgpu/build/guest/libnvidia-ml.so.1', '/usr/lib/vgpu/build/guest/vgpu-doctor', '/usr/lib/vgpu/guest/install.sh', '/usr/lib/vgpu/build/softgpu/libvgpu-softgpu.so',
    '/usr/lib/vgpu/build/native/vgpu-vsock-listen', '/usr/lib/vgpu/build/native/libvgpu-hotpath.so', '/usr/lib/vgpu/build/native/libvgpu-zygote.so', '/usr/lib/vgpu/dist/src/mediator/main.js', '/usr/lib/vgpu/dist/ui/index.html', '/usr/lib/vgpu/dist/ui/app.js',
    '/usr/lib/vgpu/node_modules/@fastify/static/package.json', '/usr/lib/vgpu/node_modules/better-sqlite3/package.json',
    '/usr/lib/vgpu/node_modules/smol-toml/package.json', '/usr/share/doc/vgpu/operations.md']) {
    assert.ok(entries.has(f), `${f} is in the package`);
  }
  for (const [path, e] of entries) {
    assert.doesNotMatch(path, /^\/usr\/lib\/vgpu\/(dist\/(test|tools)|node_modules\/typescript)\//, 'tests, generators and dev dependencies stay out');
    assert.doesNotMatch(path, /^\/usr\/lib\/vgpu\/node_modules\/(preact|uplot|esbuild|playwright-core)\//, 'the dashboard is bundled: its toolchain stays out');
    assert.equal(e.owner, 'root/root', path);
  }
  const conffiles = execFileSync('dpkg-deb', ['-I', deb, 'conffiles'], { encoding: 'utf8' });
  assert.equal(conffiles.trim(), '/etc/vgpu/mediator.toml');
  const control = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Depends'], { encoding: 'utf8' });
  assert.match(control, /^Package: vgpu$/m);
  assert.match(control, new RegExp(`nodejs \\(>= ${process.versions.node.split('.')[0]}\\)`));
});

test('the packaged tools run from where the package puts them', () => {
  for (const tool of ['vgpu-mediator', 'vgpu-admin', 'vgpu-run']) {
    const r = spawnSync(join(extracted, 'usr/bin', tool), ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${tool}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^${tool} \\d+\\.\\d+\\.\\d+`));
  }
});

test('the packaged systemd unit passes systemd-analyze verify and keeps the executors alive', (t) => {
  const unitText = readFileSync(join(extracted, 'lib/systemd/system/vgpu-mediator.service'), 'utf8');
  const directives = new Map<string, string[]>();
  for (const line of unitText.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) directives.set(m[1]!, [...(directives.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (k: string): string | undefined => directives.get(k)?.[0];
  assert.equal(one('ExecStart'), '/usr/bin/vgpu-mediator --config /etc/vgpu/mediator.toml');
  assert.equal(one('KillMode'), 'process', 'executors must outlive the mediator (docs/executors.md)');
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('StateDirectory'), 'vgpu');
  assert.equal(one('Restart'), 'always');
  for (const k of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp']) assert.equal(one(k), 'yes', k);
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(directives.get('PrivateDevices'), undefined, 'the mediator needs /dev/nvidia*');
  const systemdAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (systemdAnalyze.status !== 0) {
    t.skip('systemd-analyze is not installed (Debian package systemd)');
    return;
  }
  const unit = join(dir, 'vgpu-mediator.service');
  writeFileSync(unit, unitText.replace(/^ExecStart=\/usr\/bin\//m, `ExecStart=${extracted}/usr/bin/`));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warnings');
});

test('the shipped configuration file is valid', () => {
  const text = readFileSync(join(extracted, 'etc/vgpu/mediator.toml'), 'utf8');
  const cfg = resolveOptions({ flags: {}, file: parseConfigText(text, 'mediator.toml'), env: {} });
  assert.equal(cfg['state-dir'], '/var/lib/vgpu');
  assert.deepEqual(cfg.listen, [{ kind: 'unix', path: '/run/vgpu/vgpu.sock' }]);
  assert.equal(cfg['socket-group'], 'vgpu');
});

test('the npm package holds the tools its bin entries name and the built libraries', () => {
  const pkg = z.object({ bin: z.record(z.string(), z.string()) }).parse(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')));
  assert.deepEqual(Object.keys(pkg.bin).sort(), ['vgpu-admin', 'vgpu-mediator', 'vgpu-run']);
  const packed = z.array(z.object({ files: z.array(z.object({ path: z.string() })) }))
    .parse(JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })));
  const files = new Set(packed[0]!.files.map((f) => f.path));
  for (const target of Object.values(pkg.bin)) assert.ok(files.has(target), target);
  for (const f of ['build/guest/libcuda.so.1', 'build/softgpu/libvgpu-softgpu.so', 'dist/src/mediator/main.js', 'dist/ui/index.html', 'guest/install.sh']) assert.ok(files.has(f), f);
  assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('test/')), 'no tests in the npm package');
});
