// Where programs find the mediator when no address is given (src/mediator/locate.ts): the listen
// file of the state directory, else the configuration file's mediator, else the default; the
// same answer for vgpu-run and `vgpu-admin doctor`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { writeListenFile, readListenFile } from '../../src/mediator/listen-file.js';
import { guestAddress, locateMediator, resolveStateDir } from '../../src/mediator/locate.js';
import { VgpuError } from '../../src/common/errors.js';
import { ConfigError } from '../../src/mediator/config-file.js';

/** A pid no process has (above the kernel's pid_max ceiling of 2^22). */
const GONE = 99_999_999;

function dirs(t: { after(fn: () => void): void }): { own: string; packaged: string; conf: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'vgpu-locate-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const own = path.join(root, 'own');
  const packaged = path.join(root, 'packaged');
  mkdirSync(own);
  mkdirSync(packaged);
  const conf = path.join(root, 'mediator.toml');
  writeFileSync(conf, `state-dir = "${packaged}"\nlisten = ["tcp:127.0.0.1:7070", "unix:/run/vgpu/vgpu.sock"]\nhttp = "0.0.0.0:7081"\n`);
  return { own, packaged, conf };
}

test('the listen file of a running mediator on the state directory comes first', (t) => {
  const d = dirs(t);
  writeListenFile(d.own, process.pid, ['tcp:127.0.0.1:9', 'unix:/x/own.sock']);
  const l = locateMediator({ stateDir: d.own, env: {}, config: d.conf });
  assert.deepEqual(l.addresses, ['tcp:127.0.0.1:9', 'unix:/x/own.sock']);
  assert.equal(l.source, path.join(d.own, 'listen'));
  assert.equal(guestAddress(l.addresses), 'unix:/x/own.sock', 'a Unix socket needs no token');
});

test('no mediator on the state directory: the configuration file says where the packaged one listens', (t) => {
  const d = dirs(t);
  // A crashed mediator's leftover is no mediator.
  writeListenFile(d.own, GONE, ['unix:/x/stale.sock']);
  assert.equal(readListenFile(d.own)?.running, false);
  const l = locateMediator({ stateDir: d.own, env: {}, config: d.conf });
  assert.deepEqual(l.addresses, ['tcp:127.0.0.1:7070', 'unix:/run/vgpu/vgpu.sock']);
  assert.equal(l.source, d.conf);
  assert.deepEqual(l.config, { file: d.conf, stateDir: d.packaged, adminUrl: 'http://127.0.0.1:7081' });
  assert.equal(guestAddress(l.addresses), 'unix:/run/vgpu/vgpu.sock');

  // Where its state directory is readable, its listen file holds the addresses actually bound.
  writeListenFile(d.packaged, process.pid, ['unix:/run/vgpu/bound.sock']);
  const bound = locateMediator({ stateDir: d.own, env: {}, config: d.conf });
  assert.deepEqual(bound.addresses, ['unix:/run/vgpu/bound.sock']);
  assert.equal(bound.source, path.join(d.packaged, 'listen'));
});

test('without a configuration file (or with none asked for), the default address', (t) => {
  const d = dirs(t);
  const l = locateMediator({ stateDir: d.own, env: {}, config: false });
  assert.deepEqual(l, { addresses: ['unix:/tmp/vgpu.sock'], source: 'default' });
});

test('a configuration file that does not load is an error naming its line, not a guess', (t) => {
  const d = dirs(t);
  writeFileSync(d.conf, 'state-dir = "/var/lib/vgpu"\nlisten = "udp:1"\n');
  assert.throws(() => locateMediator({ stateDir: d.own, env: {}, config: d.conf }),
    (e: Error) => e instanceof ConfigError && /mediator\.toml:2: listen: expected unix:PATH/.test(e.message));
  assert.throws(() => locateMediator({ stateDir: d.own, env: {}, config: path.join(d.own, 'none.toml') }),
    (e: Error) => e instanceof ConfigError && /--config .*none\.toml: ENOENT/.test(e.message));
});

test('guestAddress: a Unix socket, else TCP or TLS; none for a VM-only mediator', () => {
  assert.equal(guestAddress(['vsock:9999', 'tls:0.0.0.0:7443']), 'tls:0.0.0.0:7443');
  assert.equal(guestAddress(['vsock:9999', 'vsock-uds:/run/vm1.vsock:9999']), undefined);
});

test('a listen file that is not one is ignored', (t) => {
  const d = dirs(t);
  writeFileSync(path.join(d.own, 'listen'), 'garbage\nunix:/x.sock\n');
  assert.equal(readListenFile(d.own), undefined);
  assert.equal(locateMediator({ stateDir: d.own, env: {}, config: false }).source, 'default');
});

test("the tools' state directory: --state-dir, then $VGPU_STATE_DIR, then the configuration file's state-dir, then HOME's", (t) => {
  const { own, packaged, conf } = dirs(t);
  const home = path.dirname(own);
  const env = { HOME: home };
  assert.equal(resolveStateDir({ flag: own, env: { ...env, VGPU_STATE_DIR: '/elsewhere' }, config: conf }), own);
  assert.equal(resolveStateDir({ flag: undefined, env: { ...env, VGPU_STATE_DIR: '/elsewhere' }, config: conf }), '/elsewhere');
  assert.equal(resolveStateDir({ flag: undefined, env, config: conf }), packaged, "the packaged mediator's, from its file");
  assert.equal(resolveStateDir({ flag: undefined, env, config: false }), path.join(home, '.local', 'state', 'vgpu'), '--no-config');
  // A file that sets no state-dir leaves the home default.
  const bare = path.join(home, 'bare.toml');
  writeFileSync(bare, 'backend = "softgpu"\n');
  assert.equal(resolveStateDir({ flag: undefined, env, config: bare }), path.join(home, '.local', 'state', 'vgpu'));
  // A broken file is an error that names it, not a guess.
  writeFileSync(bare, 'state-dir = 7\n');
  assert.throws(() => resolveStateDir({ flag: undefined, env, config: bare }),
    (e: unknown) => e instanceof VgpuError && e.code === 'VGPU_ERR_CONFIG' && /bare\.toml:1: state-dir/.test(e.message));
  assert.throws(() => resolveStateDir({ flag: ' ', env, config: false }), (e: unknown) => e instanceof VgpuError && e.code === 'VGPU_ERR_USAGE');
});
