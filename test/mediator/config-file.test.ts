// The mediator's configuration file (src/mediator/config-file.ts): every option a flag sets, the
// file sets to the same value; flags override the file, the file the environment; bad files are
// refused naming the line and the key; SIGHUP applies what can change live and names what needs a
// restart; the Unix socket takes --socket-group and --socket-mode.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'smol-toml';

import { ConfigError, parseConfigText, resolveOptions } from '../../src/mediator/config-file.js';
import { givenFlags, mediatorCommand } from '../../src/mediator/main.js';
import { OPTION_KEYS, OPTION_META, type OptionKey } from '../../src/mediator/options.js';
import { TestGuest } from '../helpers/guest.js';
import { startMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest } from '../helpers/programs.js';

/** A value other than the default for every option, as a flag and as the file writes it. */
const NON_DEFAULT: Record<OptionKey, { flag: string[]; file: unknown }> = {
  'state-dir': { flag: ['--state-dir', '/srv/vgpu'], file: '/srv/vgpu' },
  listen: { flag: ['--listen', 'unix:/run/vgpu/vgpu.sock', '--listen', 'tls:0.0.0.0:7443'], file: ['unix:/run/vgpu/vgpu.sock', 'tls:0.0.0.0:7443'] },
  backend: { flag: ['--backend', 'softgpu'], file: 'softgpu' },
  'default-vm': { flag: ['--default-vm', 'local'], file: 'local' },
  'spare-executors': { flag: ['--spare-executors', '3'], file: 3 },
  'device-time': { flag: ['--device-time', 'host'], file: 'host' },
  http: { flag: ['--http', '[::1]:7081'], file: '[::1]:7081' },
  'shutdown-grace': { flag: ['--shutdown-grace', '2.5'], file: 2.5 },
  'max-hold': { flag: ['--max-hold', '1.5m'], file: '1.5m' },
  'image-store-max': { flag: ['--image-store-max', '2G'], file: '2G' },
  'image-store-vm-max': { flag: ['--image-store-vm-max', '1048576'], file: 1048576 },
  'staging-max': { flag: ['--staging-max', '256M'], file: '256M' },
  'staging-session-max': { flag: ['--staging-session-max', '8388608'], file: 8388608 },
  'copy-lane': { flag: ['--copy-lane', 'off'], file: 'off' },
  'tls-cert': { flag: ['--tls-cert', '/etc/vgpu/server.pem'], file: '/etc/vgpu/server.pem' },
  'tls-key': { flag: ['--tls-key', '/etc/vgpu/server.key'], file: '/etc/vgpu/server.key' },
  'tls-client-ca': { flag: ['--tls-client-ca', '/etc/vgpu/guest-ca.pem'], file: '/etc/vgpu/guest-ca.pem' },
  'tls-require-client-cert': { flag: ['--tls-require-client-cert'], file: true },
  'insecure-tcp': { flag: ['--insecure-tcp'], file: true },
  'log-level': { flag: ['--log-level', 'debug'], file: 'debug' },
  'log-format': { flag: ['--log-format', 'pretty'], file: 'pretty' },
  'socket-group': { flag: ['--socket-group', 'vgpu'], file: 'vgpu' },
  'socket-mode': { flag: ['--socket-mode', '0666'], file: '0666' },
};

function flagsOf(argv: string[]) {
  const program = mediatorCommand({});
  program.parse(argv, { from: 'user' });
  return givenFlags(program);
}

function fileOf(values: Record<string, unknown>, name = 'mediator.toml') {
  return parseConfigText(stringify(values), name);
}

test('the test covers every option of the schema', () => {
  assert.deepEqual(Object.keys(NON_DEFAULT).sort(), [...OPTION_KEYS].sort());
});

test('every flag is expressible in the file, and gives the same configuration', () => {
  const defaults = resolveOptions({ flags: {}, env: {} });
  const viaFlags = resolveOptions({ flags: flagsOf(OPTION_KEYS.flatMap((k) => NON_DEFAULT[k].flag)), env: {} });
  const fileValues = Object.fromEntries(OPTION_KEYS.map((k) => [k, NON_DEFAULT[k].file]));
  const viaFile = resolveOptions({ flags: {}, file: fileOf(fileValues), env: {} });
  assert.deepEqual(viaFile, viaFlags);
  for (const k of OPTION_KEYS) assert.notDeepEqual(viaFlags[k], defaults[k], `${k}: the test's value is the default`);
  // One at a time too: each key alone changes only itself.
  for (const k of OPTION_KEYS) {
    const one = resolveOptions({ flags: {}, file: fileOf({ [k]: NON_DEFAULT[k].file }), env: {} });
    assert.deepEqual(one, { ...defaults, [k]: viaFlags[k] }, k);
  }
});

test('flags override the file, and the file the environment', () => {
  const file = fileOf({ 'spare-executors': 3, 'shutdown-grace': 5, http: 'off' });
  const cfg = resolveOptions({ flags: flagsOf(['--spare-executors', '7']), file, env: { VGPU_SHUTDOWN_GRACE: '60', VGPU_ADMIN_HTTP: '127.0.0.1:9' } });
  assert.equal(cfg['spare-executors'], 7);
  assert.equal(cfg['shutdown-grace'], 5);
  assert.equal(cfg.http, undefined);
  assert.equal(resolveOptions({ flags: {}, env: { VGPU_SHUTDOWN_GRACE: '60' } })['shutdown-grace'], 60);
});

test('--no-config reads no file; a later --config wins', () => {
  const opts = (argv: string[]): unknown => mediatorCommand({}).parse(argv, { from: 'user' }).opts().config;
  assert.equal(opts(['--no-config']), false);
  assert.equal(opts(['--no-config', '--config', '/srv/m.toml']), '/srv/m.toml');
  assert.equal(opts([]), undefined);
});

function refusal(text: string): string {
  try {
    resolveOptions({ flags: {}, file: parseConfigText(text, '/etc/vgpu/mediator.toml'), env: {} });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail(`accepted:\n${text}`);
}

test('bad files are refused naming the file, the line and the key', () => {
  assert.equal(refusal('backend = "softgpu"\nspare_executors = 2\n'),
    '/etc/vgpu/mediator.toml:2: unknown key "spare_executors" (did you mean "spare-executors"?); the keys are the mediator\'s flags without "--" (vgpu-mediator --help; docs/operations.md, "Configuration file")');
  assert.equal(refusal('# c\ninsecure-tcp = "yes"\n'), '/etc/vgpu/mediator.toml:2: insecure-tcp: expected true or false, not the string "yes"');
  assert.equal(refusal('\n\nlisten = 7070\n'), '/etc/vgpu/mediator.toml:3: listen: expected an address or a list of addresses (strings), not the number 7070');
  assert.equal(refusal('http = "everywhere"\n'), '/etc/vgpu/mediator.toml:1: http: expected HOST:PORT (e.g. 127.0.0.1:7080, [::1]:7080, 0.0.0.0:7080) or off');
  assert.equal(refusal('listen = ["unix:/run/vgpu.sock", "udp:1.2.3.4:5"]\n'),
    '/etc/vgpu/mediator.toml:1: listen: expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT, vsock-uds:PATH[:PORT] or vsock:PORT');
  assert.equal(refusal('socket-mode = 0o660\n'), '/etc/vgpu/mediator.toml:1: socket-mode: expected a string, not the number 432');
  assert.equal(refusal('[listen]\nunix = "/x"\n'), '/etc/vgpu/mediator.toml:1: listen: expected an address or a list of addresses (strings), not a table');
  assert.match(refusal('backend = "softgpu"\nlisten = [\n'), /^\/etc\/vgpu\/mediator\.toml:3:1: Invalid TOML document/);
  // Every wrong value is reported, not only the first.
  assert.equal(refusal('spare-executors = 99\nmax-hold = 5\n').split('\n').length, 2);
});

test('the environment and flags are named when they are wrong', () => {
  assert.throws(() => resolveOptions({ flags: {}, env: { VGPU_DEVICE_TIME: 'sometimes' } }), { message: 'VGPU_DEVICE_TIME=sometimes: expected one of auto, events, host' });
  assert.throws(() => resolveOptions({ flags: flagsOf(['--socket-mode', '4755']), env: {} }), /^Error: --socket-mode 4755: expected octal permissions/);
});

test('the documented reference lists every key with its live flag', () => {
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### Configuration file'));
  const rows = [...section.matchAll(/^\| `([a-z-]+)` \| ([^|]+) \|[^|]*\| (yes|restart) \|/gm)].map((m) => ({ key: m[1]!, type: m[2]!.trim(), live: m[3] === 'yes' }));
  assert.deepEqual(rows.map((r) => r.key), [...OPTION_KEYS]);
  for (const r of rows) assert.equal(r.live, OPTION_META[r.key as OptionKey].live === true, `${r.key}: live in the docs and in OPTION_META`);
});

test('SIGHUP applies live keys, names those that need a restart; the socket gets its group and mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-config-'));
  const conf = join(dir, 'mediator.toml');
  const group = execFileSync('getent', ['group', 'daemon'], { encoding: 'utf8' }).split(':');
  writeFileSync(conf, stringify({ 'log-level': 'info', 'max-hold': '10s', 'image-store-max': '8G', 'socket-group': 'daemon', 'socket-mode': '0600' }));
  const m = await startMediator({ args: ['--config', conf], env: { VGPU_LOG_LEVEL: 'info' } });
  try {
    const st = statSync(m.socket);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.gid, Number(group[2]));
    const hello = async (): Promise<void> => {
      const g = await TestGuest.connect(m.socket);
      try {
        await g.hello();
      } finally {
        g.close();
      }
    };
    await hello();
    writeFileSync(conf, stringify({ 'log-level': 'debug', 'max-hold': '5s', 'image-store-max': '4G', 'socket-group': 'daemon', 'socket-mode': '0600' }));
    m.proc.kill('SIGHUP');
    const restart = await m.waitForLog((l) => Array.isArray(l.needRestart));
    // At info, the first HELLO was not logged; at debug, the next one is.
    assert.equal(m.logs.filter((l) => l.msg === 'HELLO received').length, 0);
    await hello();
    await m.waitForLog((l) => l.msg === 'HELLO received');
    assert.deepEqual(restart.needRestart, ['image-store-max']);
    const applied = m.logs.find((l) => Array.isArray(l.applied));
    assert.deepEqual(applied?.applied, ['max-hold', 'log-level']);
    // Executors started from now on log at debug too, though the zygote that forks them started
    // at info: this guest takes the spare started before, and the next spare is forked at debug.
    assert.ok(!m.logs.some((l) => l.name === 'vgpu-executor' && l.level === 'debug'));
    const r = await runGuest(buildProgram('alloc_paths'), ['--server', m.server], {}, 60_000, ['alloc:1']);
    assert.equal(r.code, 0, r.stderr);
    await m.waitForLog((l) => l.name === 'vgpu-executor' && l.level === 'debug', 20_000);
    writeFileSync(conf, 'log-level = "debug"\nmax-hold = 5\n');
    m.proc.kill('SIGHUP');
    const bad = await m.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('does not load'));
    assert.match(String(bad.err), /mediator\.toml:2: max-hold: expected a string, not the number 5/);
    assert.equal(m.proc.exitCode, null, 'a bad file on SIGHUP does not stop the mediator');
  } finally {
    await m.stop();
  }
});
