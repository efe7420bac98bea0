// vsock on the host side without opening AF_VSOCK (the machine running the tests may itself be a
// VM whose vsock leads elsewhere): listener addresses; the AF_VSOCK listener's helper, given only
// bad arguments, and the mediator's side of it with a stand-in helper (under the vsock guard);
// the store's channel bindings; and who a guest is on each kind of channel.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { VgpuError } from '../../src/common/errors.js';
import { authenticateGuest } from '../../src/mediator/admission.js';
import { DEFAULT_VSOCK_PORT, formatListen, parseListen, socketFile } from '../../src/mediator/listen.js';
import { Store } from '../../src/store/index.js';
import { tempDir } from '../cli/helpers.js';
import { TestGuest } from '../helpers/guest.js';
import { startMediator } from '../helpers/mediator.js';
import { ROOT } from '../helpers/paths.js';
import { AF_IPX, ipxGuard, socketProbe, vsockGuard } from '../helpers/vm.js';
import { handoffSocket, VSOCK_HEADER_BYTES, VSOCK_HEADER_MAGIC, VSOCK_HEADER_VERSION } from '../../src/mediator/vsock-listen.js';

test('vsock-uds and vsock listener addresses parse, and bad ones are refused with the reason', () => {
  assert.deepEqual(parseListen('vsock-uds:/run/vgpu/vm1.vsock'), { kind: 'vsock-uds', path: '/run/vgpu/vm1.vsock', port: DEFAULT_VSOCK_PORT });
  const a = parseListen('vsock-uds:/run//vgpu/./vm1.vsock:5000');
  assert.deepEqual(a, { kind: 'vsock-uds', path: '/run/vgpu/vm1.vsock', port: 5000 });
  assert.equal(socketFile(a), '/run/vgpu/vm1.vsock_5000');
  assert.equal(formatListen(a), 'vsock-uds:/run/vgpu/vm1.vsock:5000');
  assert.deepEqual(parseListen('vsock:4294967294'), { kind: 'vsock', port: 4294967294 });
  assert.equal(socketFile(parseListen('vsock:5000')), undefined);
  const bad: Array<[string, RegExp]> = [
    ['vsock-uds:', /absolute/],
    ['vsock-uds:relative.sock', /absolute/],
    ['vsock-uds:/run/vgpu/', /folder/],
    ['vsock-uds:/run/x:0', /from 1 to 4294967294/],
    ['vsock-uds:/run/x:4294967295', /from 1 to 4294967294/],
    [`vsock-uds:/${'a'.repeat(110)}`, /longer than a Unix socket path/],
    ['vsock:', /from 1 to 4294967294/],
    ['vsock:0', /from 1 to 4294967294/],
    ['vsock:x', /from 1 to 4294967294/],
    ['vsock:3:5000', /only a port/],
    ['vsock5000', /expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT, vsock-uds:PATH\[:PORT\] or vsock:PORT/],
  ];
  for (const [s, why] of bad) assert.throws(() => parseListen(s), why, s);
});

test('the vsock guard\'s seccomp filter refuses its family with EPERM and nothing else', () => {
  // Checked with the same filter guarding AF_IPX, which the kernel no longer has: unguarded,
  // socket(AF_IPX) fails with EAFNOSUPPORT, so the check opens nothing even if the filter broke.
  const probePath = socketProbe();
  /** The errno of socket(family) (0: it worked), run under `guard` if given. */
  const probe = (guard: string | undefined, family: number): string => {
    const argv = guard ? [guard, probePath, String(family)] : [probePath, String(family)];
    return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }).stdout.trim();
  };
  const EPERM = '1';
  const EAFNOSUPPORT = '97';
  assert.equal(probe(undefined, AF_IPX), EAFNOSUPPORT);
  assert.equal(probe(ipxGuard(), AF_IPX), EPERM);
  assert.equal(probe(ipxGuard(), 1 /* AF_UNIX */), '0');
  assert.equal(probe(vsockGuard(), 1 /* AF_UNIX */), '0');
  assert.equal(probe(vsockGuard(), AF_IPX), EAFNOSUPPORT, 'the real guard refuses AF_VSOCK only');
  const status = spawnSync(vsockGuard(), ['grep', '^Seccomp:', '/proc/self/status'], { encoding: 'utf8' }).stdout;
  assert.match(status, /^Seccomp:\s+2$/m);
});

test('vgpu-vsock-listen refuses bad arguments before opening anything', () => {
  // Only bad arguments are ever given here: with good ones the helper would open AF_VSOCK.
  const helper = path.join(ROOT, 'build/native/vgpu-vsock-listen');
  const cases: Array<[string[], RegExp]> = [
    [[], /expected two arguments/],
    [['5000'], /expected two arguments/],
    [['0', '/tmp/x.sock'], /PORT must be a whole number from 1 to 4294967294/],
    [['4294967295', '/tmp/x.sock'], /PORT must be a whole number/],
    [['50x', '/tmp/x.sock'], /PORT must be a whole number/],
    [['5000', 'relative.sock'], /SOCKET must be an absolute path/],
    [['5000', `/${'a'.repeat(120)}`], /longer than a Unix socket path/],
  ];
  for (const [args, why] of cases) {
    const r = spawnSync(vsockGuard(), [helper, ...args], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.match(r.stderr, /usage: vgpu-vsock-listen PORT SOCKET/);
  }
});

/** A stand-in for vgpu-vsock-listen: records its arguments and says it listens, or fails as the
 * real one does when the port is taken. It never opens AF_VSOCK. */
function fakeHelper(dir: string, fail = false): string {
  const file = path.join(dir, fail ? 'fake-helper-fail.sh' : 'fake-helper.sh');
  writeFileSync(file, fail
    ? '#!/bin/sh\necho "vgpu-vsock-listen: cannot listen on vsock port $1: Address already in use" >&2\nexit 1\n'
    : `#!/bin/sh\necho "$@" > ${dir}/helper-args\necho listening\nexec cat > /dev/null\n`, { mode: 0o755 });
  return file;
}

function header(cid: number, port = 1234): Buffer {
  const h = Buffer.alloc(VSOCK_HEADER_BYTES);
  h.writeUInt32LE(VSOCK_HEADER_MAGIC, 0);
  h.writeUInt32LE(VSOCK_HEADER_VERSION, 4);
  h.writeUInt32LE(cid, 8);
  h.writeUInt32LE(port, 12);
  return h;
}

test('a vsock: listener: guests handed over by the helper are their CID\'s VM, and another VM\'s token is refused', async (t) => {
  const dir = tempDir(t);
  const m = await startMediator({ wrap: [vsockGuard()], args: ['--listen', 'vsock:5000'], env: { VGPU_VSOCK_HELPER: fakeHelper(dir) } });
  t.after(() => m.stop());
  const handoff = handoffSocket(m.stateDir, 5000);
  assert.equal(readFileSync(path.join(dir, 'helper-args'), 'utf8').trim(), `5000 ${handoff}`);
  assert.equal(statSync(handoff).mode & 0o777, 0o600);
  assert.ok(JSON.parse(m.stdout().split('\n')[0]!).listen.includes('vsock:5000'));
  await m.addVm('vm7', { vsockCid: 7, memoryQuota: '512M' });
  const other = await m.addVm('vm8');
  const as = async (cid: number, token = '', extra = Buffer.alloc(0)): Promise<string> => {
    const g = await TestGuest.connect(handoff);
    try {
      g.sock.write(Buffer.concat([header(cid), extra]));
      const w = await g.hello(token);
      return `${w.vmName} ${w.devices[0]!.totalMem}`;
    } catch (e) {
      return (e as Error).message;
    } finally {
      g.close();
    }
  };
  assert.equal(await as(7), `vm7 ${512 * 1024 * 1024}`);
  assert.match(await as(7, other), /refused: vsock CID 7 is bound to VM vm7; a token for another VM is refused on it/);
  assert.match(await as(9), /refused: no VM token given, and vsock CID 9 is bound to no VM .*--vsock-cid/);
  assert.match(await as(9, other), /^vm8 /);
  const opened = m.logs.filter((l) => l.msg === 'session opened');
  assert.ok(opened.some((l) => l.vm === 'vm7' && l.peer === 'vsock CID 7'), JSON.stringify(opened));
  // Something other than the helper on the handoff socket: dropped, and the mediator says so.
  const bad = await TestGuest.connect(handoff);
  bad.sock.write(Buffer.alloc(VSOCK_HEADER_BYTES, 0x41));
  await bad.waitClosed();
  await m.waitForLog((l) => /bad header: bad magic/.test(String(l.err)));
});

test('the mediator does not start when its vsock: helper cannot listen, and says why', (t) => {
  const dir = tempDir(t);
  const r = spawnSync(vsockGuard(), [path.join(ROOT, 'bin/vgpu-mediator'), '--state-dir', path.join(dir, 'state'), '--listen', 'vsock:5000',
    '--backend', 'softgpu', '--http', 'off'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, VGPU_VSOCK_HELPER: fakeHelper(dir, true) } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /--listen vsock:5000: vgpu-vsock-listen: cannot listen on vsock port 5000: Address already in use/);
});

test('vsock: listener arguments are refused before the mediator starts', (t) => {
  const dir = tempDir(t);
  const bad = spawnSync(process.execPath, [path.join(ROOT, 'bin/vgpu-mediator'), '--state-dir', path.join(dir, 'state'),
    '--listen', 'vsock:0'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /vsock port must be a whole number from 1 to 4294967294/);
});

function code(fn: () => unknown, want: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VgpuError, String(e));
    assert.equal(e.code, want);
    if (message) assert.match(`${e.message} ${e.hint}`, message);
    return true;
  });
}

test('a vsock CID or path is bound to one VM at most, validated, normalised and audited', (t) => {
  const s = Store.open(tempDir(t), { actor: 'test' });
  t.after(() => s.close());
  s.addVm({ name: 'vm1', vsockCid: 3, vsockPath: '/run/vgpu//vm1.vsock' });
  s.addVm({ name: 'vm2' });
  assert.equal(s.getVm('vm1').vsockPath, '/run/vgpu/vm1.vsock');
  assert.equal(s.findVmByVsockCid(3)?.name, 'vm1');
  assert.equal(s.findVmByVsockPath('/run/vgpu/vm1.vsock')?.name, 'vm1');
  assert.equal(s.findVmByVsockCid(4), null);
  code(() => s.setVm('vm2', { vsockCid: 3 }), 'VGPU_ERR_CHANNEL_IN_USE', /vsock CID 3 is already bound to VM "vm1"/);
  code(() => s.setVm('vm2', { vsockPath: '/run/vgpu/./vm1.vsock' }), 'VGPU_ERR_CHANNEL_IN_USE', /vsock path \/run\/vgpu\/vm1.vsock .*vm1/);
  code(() => s.addVm({ name: 'vm3', vsockCid: 3 }), 'VGPU_ERR_CHANNEL_IN_USE');
  for (const cid of [0, 1, 2, 0xffffffff, 1.5]) code(() => s.setVm('vm2', { vsockCid: cid }), 'VGPU_ERR_INVALID_ARGUMENT');
  for (const p of ['relative', '/run/vgpu/', `/${'a'.repeat(100)}`]) code(() => s.setVm('vm2', { vsockPath: p }), 'VGPU_ERR_INVALID_ARGUMENT');
  // Setting vm1's own binding again is no conflict; moving it is, once vm1 lets go.
  s.setVm('vm1', { vsockCid: 3 });
  s.setVm('vm1', { vsockCid: null, vsockPath: null });
  const after = s.setVm('vm2', { vsockCid: 3, vsockPath: '/run/vgpu/vm1.vsock' });
  assert.equal(after.vsockCid, 3);
  const audit = s.listAudit({ target: 'vm2' });
  const update = audit.find((e) => e.action === 'vm.update');
  assert.deepEqual(update?.details, { vsockCid: { from: null, to: 3 }, vsockPath: { from: null, to: '/run/vgpu/vm1.vsock' } });
});

test('a guest on a bound vsock channel is its VM without a token and cannot claim another VM', (t) => {
  const s = Store.open(tempDir(t), { actor: 'test' });
  t.after(() => s.close());
  const vm1 = s.addVm({ name: 'vm1', vsockPath: '/run/vm1.vsock', vsockCid: 7 });
  const vm2 = s.addVm({ name: 'vm2' });
  s.addVm({ name: 'local' });
  const hybrid = { kind: 'vsock-uds', path: '/run/vm1.vsock' } as const;
  const cid = { kind: 'vsock', cid: 7 } as const;
  for (const ch of [hybrid, cid]) {
    assert.deepEqual(authenticateGuest(s, '', ch, 'local'), { vm: s.getVm('vm1'), by: 'channel' });
    assert.deepEqual(authenticateGuest(s, vm1.token, ch, undefined), { vm: s.getVm('vm1'), by: 'channel' });
    const other = authenticateGuest(s, vm2.token, ch, undefined);
    assert.ok('refused' in other && /is bound to VM vm1; a token for another VM is refused on it/.test(other.refused), JSON.stringify(other));
    assert.ok('refused' in authenticateGuest(s, 'vgpu_nonsense', ch, undefined));
  }
  // Unbound channels: a token, as before; no token is refused with what to do.
  const unbound = { kind: 'vsock-uds', path: '/run/other.vsock' } as const;
  assert.deepEqual(authenticateGuest(s, vm2.token, unbound, undefined), { vm: s.getVm('vm2'), by: 'token' });
  const none = authenticateGuest(s, '', unbound, 'local');
  assert.ok('refused' in none && /bound to no VM .*--vsock-path/.test(none.refused), JSON.stringify(none));
  const noCid = authenticateGuest(s, '', { kind: 'vsock', cid: 8 }, 'local');
  assert.ok('refused' in noCid && /--vsock-cid/.test(noCid.refused));
  assert.deepEqual(authenticateGuest(s, '', { kind: 'unix' }, 'local'), { vm: s.getVm('local'), by: 'default' });
  assert.deepEqual(authenticateGuest(s, '', { kind: 'tcp', peer: '10.0.0.1:1' }, 'local'), { refused: 'no VM token given (set VGPU_TOKEN)', why: 'no_token' });
  assert.deepEqual(authenticateGuest(s, vm1.token, { kind: 'tcp', peer: '10.0.0.1:1' }, undefined), { vm: s.getVm('vm1'), by: 'token' });
});

test('a TLS client certificate is bound to one VM at most, in one spelling, and admits its VM like a vsock channel', (t) => {
  const s = Store.open(tempDir(t), { actor: 'test' });
  t.after(() => s.close());
  const hex = 'ab'.repeat(32);
  // openssl's spelling (upper case, colons) and the guests' pin prefix are the same certificate.
  const vm1 = s.addVm({ name: 'vm1', tlsClientCertSha256: `sha256:${'AB:'.repeat(31)}AB` });
  const vm2 = s.addVm({ name: 'vm2' });
  assert.equal(s.getVm('vm1').tlsClientCertSha256, hex);
  assert.equal(s.findVmByTlsClientCert(hex)?.name, 'vm1');
  code(() => s.setVm('vm2', { tlsClientCertSha256: hex.toUpperCase() }), 'VGPU_ERR_CHANNEL_IN_USE', /TLS client certificate sha256:abab.* is already bound to VM "vm1"/);
  for (const bad of ['ab', 'sha1:' + hex, hex + 'ab', 'zz'.repeat(32)]) code(() => s.setVm('vm2', { tlsClientCertSha256: bad }), 'VGPU_ERR_INVALID_ARGUMENT');

  const bound = { kind: 'tls', peer: '10.0.0.2:5000', clientCert: hex } as const;
  assert.deepEqual(authenticateGuest(s, '', bound, 'local'), { vm: s.getVm('vm1'), by: 'channel' });
  assert.deepEqual(authenticateGuest(s, vm1.token, bound, undefined), { vm: s.getVm('vm1'), by: 'channel' });
  const claim = authenticateGuest(s, vm2.token, bound, undefined);
  assert.deepEqual(claim, {
    refused: `the client certificate sha256:${hex} is bound to VM vm1; a token for another VM is refused on it (unset VGPU_TOKEN and the guest is VM vm1)`,
    why: 'channel_mismatch',
  });
  const unbound = { kind: 'tls', peer: '10.0.0.2:5000', clientCert: 'cd'.repeat(32) } as const;
  assert.deepEqual(authenticateGuest(s, vm2.token, unbound, undefined), { vm: s.getVm('vm2'), by: 'token' });
  const none = authenticateGuest(s, '', unbound, undefined);
  assert.ok('refused' in none && /bound to no VM .*--tls-client-cert-sha256/.test(none.refused), JSON.stringify(none));
  // A certificate that did not verify (or none where one is required) ends it, token or not.
  assert.deepEqual(authenticateGuest(s, vm1.token, { kind: 'tls', peer: '10.0.0.2:5000', certRefused: 'no' }, undefined), { refused: 'no', why: 'client_cert' });
  // Unbinding frees it for another VM, and the audit log says so.
  s.setVm('vm1', { tlsClientCertSha256: null });
  assert.equal(s.setVm('vm2', { tlsClientCertSha256: hex }).tlsClientCertSha256, hex);
  const update = s.listAudit({ target: 'vm2' }).find((e) => e.action === 'vm.update');
  assert.deepEqual(update?.details, { tlsClientCertSha256: { from: null, to: hex } });
});
