// The configuration store: schema, VMs, tokens, validation, audit, usage, sharing between processes.

import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { VgpuError } from '../../src/common/errors.js';
import { DB_FILE, SCHEMA_VERSION, Store, hashToken, type AddVmInput } from '../../src/store/index.js';
import { snapshot, tempDir } from '../cli/helpers.js';

function open(dir: string): Store {
  return Store.open(dir, { actor: 'test' });
}

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VgpuError, `expected a VgpuError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (message) assert.match(`${e.message}\n${e.hint}`, message);
    return true;
  });
}

test('open creates a private state directory and database, with the schema migrated', (t) => {
  const dir = path.join(tempDir(t), 'a', 'state');
  const s = open(dir);
  s.close();
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(dir, DB_FILE)).mode & 0o777, 0o600);
  const db = new Database(path.join(dir, DB_FILE), { readonly: true });
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    assert.deepEqual(versions, Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    for (const want of ['audit_log', 'gpus', 'pool_gpus', 'pools', 'schema_migrations', 'vm_usage', 'vms']) {
      assert.ok(tables.includes(want), `table ${want} missing: ${tables.join(', ')}`);
    }
  } finally {
    db.close();
  }
});

test('migrations are idempotent: reopening applies nothing and keeps the data', (t) => {
  const dir = tempDir(t);
  let s = open(dir);
  s.addVm({ name: 'vm1' });
  s.close();
  const before = snapshot(dir);
  for (let i = 0; i < 3; i++) open(dir).close();
  assert.equal(snapshot(dir), before);
  const db = new Database(path.join(dir, DB_FILE), { readonly: true });
  try {
    assert.equal(db.prepare('SELECT COUNT(*) FROM schema_migrations').pluck().get(), SCHEMA_VERSION);
    assert.equal(db.prepare("SELECT COUNT(*) FROM pools WHERE name = 'default'").pluck().get(), 1);
  } finally {
    db.close();
  }
  s = open(dir);
  assert.deepEqual(s.listPools().map((p) => p.name), ['default']);
  s.close();
});

test('a database from a newer vgpu is refused, not downgraded', (t) => {
  const dir = tempDir(t);
  open(dir).close();
  const db = new Database(path.join(dir, DB_FILE));
  db.prepare("INSERT INTO schema_migrations VALUES (?, 'future', 'x')").run(SCHEMA_VERSION + 1);
  db.close();
  throwsCode(() => open(dir), 'VGPU_ERR_STORE_VERSION', /newer than this vgpu understands/);
});

test('a file that is not a database, or a file as state dir, gives a clear error', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, DB_FILE), 'this is not sqlite, just text that is long enough to have a header '.repeat(10));
  throwsCode(() => open(dir), 'VGPU_ERR_STORE_OPEN', /vgpu_config\.db/);
  const file = path.join(dir, 'plain-file');
  writeFileSync(file, 'x');
  throwsCode(() => open(file), 'VGPU_ERR_STATE_DIR', /plain-file: a file is in the way/);
  throwsCode(() => open(path.join(file, 'sub')), 'VGPU_ERR_STATE_DIR', /a file is in the way/);
});

test('addVm applies defaults and returns a token that finds the VM', (t) => {
  const s = open(tempDir(t));
  t.after(() => s.close());
  const { vm, token } = s.addVm({ name: 'web-1.a_b' });
  assert.match(token, /^vgpu_[A-Za-z0-9_-]{43}$/);
  assert.equal(vm.name, 'web-1.a_b');
  assert.equal(vm.pool, 'default');
  assert.equal(vm.priority, 'medium');
  assert.equal(vm.weight, 100);
  assert.equal(vm.memoryQuota, null);
  assert.equal(vm.vgpus, 1);
  assert.equal(vm.pciBusId, null);
  assert.equal(vm.notes, '');
  assert.equal(vm.maxHoldMs, null, "the mediator's hold limit");
  assert.equal(vm.createdAt, vm.updatedAt);
  assert.deepEqual(s.findVmByToken(token), vm);
  assert.deepEqual(s.getVm('web-1.a_b'), vm);
  assert.equal(s.findVm('other'), null);
});

test('addVm takes every field, normalising sizes and PCI ids', (t) => {
  const s = open(tempDir(t));
  t.after(() => s.close());
  const { vm } = s.addVm({
    name: 'big', priority: 'high', memoryQuota: '1.5G', weight: 250, vgpus: 2, pciBusId: '00000000:65:00.0', notes: 'n',
    maxHoldMs: '1.5s',
  });
  assert.equal(vm.maxHoldMs, 1500);
  assert.equal(vm.priority, 'high');
  assert.equal(vm.memoryQuota, 1.5 * 1024 ** 3);
  assert.equal(vm.weight, 250);
  assert.equal(vm.vgpus, 2);
  assert.equal(vm.pciBusId, '0000:65:00.0');
  assert.equal(vm.notes, 'n');
  assert.equal(s.addVm({ name: 'b2', memoryQuota: 4 * 1024 ** 2, pciBusId: '3B:00.0' }).vm.pciBusId, '0000:3b:00.0');
  assert.equal(s.addVm({ name: 'h1', maxHoldMs: '250MS' }).vm.maxHoldMs, 250);
  assert.equal(s.addVm({ name: 'h2', maxHoldMs: 'off' }).vm.maxHoldMs, 0);
  assert.equal(s.addVm({ name: 'h3', maxHoldMs: 0 }).vm.maxHoldMs, 0);
  assert.equal(s.addVm({ name: 'h4', maxHoldMs: 2000 }).vm.maxHoldMs, 2000);
  assert.equal(s.addVm({ name: 'h5', maxHoldMs: '2m' }).vm.maxHoldMs, 120_000);
});

test('bad input is refused with a specific error and changes nothing', (t) => {
  const dir = tempDir(t);
  const s = open(dir);
  t.after(() => s.close());
  s.addVm({ name: 'taken' });
  const before = snapshot(dir);
  const cases: Array<[AddVmInput, string, RegExp]> = [
    [{ name: 'taken' }, 'VGPU_ERR_VM_EXISTS', /already exists/],
    [{ name: '' }, 'VGPU_ERR_INVALID_NAME', /invalid VM name ""/],
    [{ name: '-x' }, 'VGPU_ERR_INVALID_NAME', /-x/],
    [{ name: 'a b' }, 'VGPU_ERR_INVALID_NAME', /a b/],
    [{ name: 'x'.repeat(64) }, 'VGPU_ERR_INVALID_NAME', /x{64}/],
    [{ name: 'ok', priority: 'urgent' as 'high' }, 'VGPU_ERR_INVALID_PRIORITY', /urgent/],
    [{ name: 'ok', memoryQuota: '2X' }, 'VGPU_ERR_INVALID_SIZE', /2X/],
    [{ name: 'ok', memoryQuota: '-1G' }, 'VGPU_ERR_INVALID_SIZE', /negative/],
    [{ name: 'ok', memoryQuota: 1000 }, 'VGPU_ERR_INVALID_SIZE', /at least 1 MiB/],
    [{ name: 'ok', weight: 0 }, 'VGPU_ERR_INVALID_ARGUMENT', /weight/],
    [{ name: 'ok', weight: 10001 }, 'VGPU_ERR_INVALID_ARGUMENT', /weight/],
    [{ name: 'ok', weight: 1.5 }, 'VGPU_ERR_INVALID_ARGUMENT', /weight/],
    [{ name: 'ok', vgpus: 17 }, 'VGPU_ERR_INVALID_ARGUMENT', /vgpus/],
    [{ name: 'ok', pciBusId: '65:00' }, 'VGPU_ERR_INVALID_ARGUMENT', /pciBusId/],
    [{ name: 'ok', pool: 'gold' }, 'VGPU_ERR_POOL_NOT_FOUND', /gold/],
    [{ name: 'ok', notes: 'x'.repeat(2000) }, 'VGPU_ERR_INVALID_ARGUMENT', /notes/],
    [{ name: 'ok', maxHoldMs: '5' }, 'VGPU_ERR_INVALID_ARGUMENT', /maxHoldMs: "5" is not a duration/],
    [{ name: 'ok', maxHoldMs: 'forever' }, 'VGPU_ERR_INVALID_ARGUMENT', /maxHoldMs/],
    [{ name: 'ok', maxHoldMs: '10ms' }, 'VGPU_ERR_INVALID_ARGUMENT', /maxHoldMs: must be from 20ms to 24h, or off/],
    [{ name: 'ok', maxHoldMs: '25h' }, 'VGPU_ERR_INVALID_ARGUMENT', /maxHoldMs/],
    [{ name: 'ok', maxHoldMs: 1.5 }, 'VGPU_ERR_INVALID_ARGUMENT', /maxHoldMs/],
    [{ name: 'ok', maxHoldMs: -1000 }, 'VGPU_ERR_INVALID_ARGUMENT', /maxHoldMs/],
    [{ name: 'ok', maxHoldMs: true as unknown as number }, 'VGPU_ERR_INVALID_ARGUMENT', /maxHoldMs/],
    [{ name: 'ok', token: 'x' } as unknown as AddVmInput, 'VGPU_ERR_INVALID_ARGUMENT', /unknown field/],
    [null as unknown as AddVmInput, 'VGPU_ERR_INVALID_ARGUMENT', /VM/],
  ];
  for (const [input, code, msg] of cases) throwsCode(() => s.addVm(input), code, msg);
  throwsCode(() => s.setVm('nope', { weight: 5 }), 'VGPU_ERR_VM_NOT_FOUND', /no VM named "nope"/);
  throwsCode(() => s.setVm('taken', { weight: -5 }), 'VGPU_ERR_INVALID_ARGUMENT', /weight/);
  throwsCode(() => s.setVm('taken', { memoryQuota: 'lots' }), 'VGPU_ERR_INVALID_SIZE', /lots/);
  throwsCode(() => s.setVm('taken', { pool: 'gold' }), 'VGPU_ERR_POOL_NOT_FOUND', /pools that exist: default/);
  throwsCode(() => s.removeVm('nope'), 'VGPU_ERR_VM_NOT_FOUND');
  throwsCode(() => s.getVm('nope'), 'VGPU_ERR_VM_NOT_FOUND');
  throwsCode(() => s.getVm('bad name'), 'VGPU_ERR_INVALID_NAME');
  throwsCode(() => s.rotateToken('nope'), 'VGPU_ERR_VM_NOT_FOUND');
  assert.equal(snapshot(dir), before);
});

test('setVm changes only the given fields, null clears, and the audit log records from/to', (t) => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const s = Store.open(tempDir(t), { actor: 'alice', now: () => new Date(clock) });
  t.after(() => s.close());
  s.addVm({ name: 'v', memoryQuota: '2G', pciBusId: '0000:01:00.0', maxHoldMs: '5s' });
  clock += 1000;
  const after = s.setVm('v', { priority: 'low', memoryQuota: null, weight: 7, pciBusId: null, maxHoldMs: null });
  assert.equal(after.priority, 'low');
  assert.equal(after.memoryQuota, null);
  assert.equal(after.weight, 7);
  assert.equal(after.pciBusId, null);
  assert.equal(after.vgpus, 1);
  assert.equal(after.pool, 'default');
  assert.equal(after.createdAt, '2026-01-01T00:00:00.000Z');
  assert.equal(after.updatedAt, '2026-01-01T00:00:01.000Z');
  const log = s.listAudit({ target: 'v' });
  assert.deepEqual(log.map((e) => e.action), ['vm.create', 'vm.update']);
  assert.equal(log[1]?.actor, 'alice');
  assert.deepEqual(log[1]?.details, {
    priority: { from: 'medium', to: 'low' },
    weight: { from: 100, to: 7 },
    memoryQuota: { from: 2 * 1024 ** 3, to: null },
    pciBusId: { from: '0000:01:00.0', to: null },
    maxHoldMs: { from: 5000, to: null },
  });
  s.setVm('v', {});
  s.setVm('v', { weight: 7 });
  assert.equal(s.listAudit({ target: 'v' }).length, 2, 'a no-op change is not audited');
});

test('tokens: never stored in clear, rotation invalidates the old one, lookups reject junk', (t) => {
  const dir = tempDir(t);
  const s = open(dir);
  const tokens = [s.addVm({ name: 'a' }).token, s.addVm({ name: 'b' }).token];
  const rotated = s.rotateToken('a');
  tokens.push(rotated.token);
  assert.equal(s.findVmByToken(tokens[0] ?? ''), null, 'old token still works after rotation');
  assert.equal(s.findVmByToken(rotated.token)?.name, 'a');
  assert.equal(s.findVmByToken(tokens[1] ?? '')?.name, 'b');
  for (const junk of ['', 'vgpu_', 'nope', hashToken(tokens[1] ?? ''), `${tokens[1]}x`, (tokens[1] ?? '').toUpperCase()]) {
    assert.equal(s.findVmByToken(junk), null, `"${junk}" found a VM`);
  }
  assert.equal(s.findVmByToken(42 as unknown as string), null);
  const scan = (): void => {
    for (const f of [DB_FILE, `${DB_FILE}-wal`]) {
      const p = path.join(dir, f);
      if (!existsSync(p)) continue;
      const bytes = readFileSync(p);
      for (const tok of tokens) {
        assert.equal(bytes.indexOf(tok), -1, `token found in ${f}`);
        assert.equal(bytes.indexOf(tok.slice(5, 30)), -1, `part of a token found in ${f}`);
      }
    }
  };
  scan(); // while open: recent writes sit in the WAL
  assert.ok(JSON.stringify(s.listAudit()).indexOf(tokens[0] ?? '') < 0);
  s.close();
  scan(); // after the checkpoint at close
});

test('ensureVm creates once and then returns the same VM', (t) => {
  const s = open(tempDir(t));
  t.after(() => s.close());
  const a = s.ensureVm('local');
  const b = s.ensureVm('local');
  assert.deepEqual(a, b);
  assert.equal(s.listVms().length, 1);
  assert.equal(s.listAudit({ target: 'local' }).length, 1);
  throwsCode(() => s.ensureVm('no good'), 'VGPU_ERR_INVALID_NAME');
});

test('removeVm deletes the VM, its token and its usage, and audits it', (t) => {
  const s = open(tempDir(t));
  t.after(() => s.close());
  const { token } = s.addVm({ name: 'gone', weight: 3 });
  s.addUsage('gone', { calls: 5 });
  const removed = s.removeVm('gone');
  assert.equal(removed.weight, 3);
  assert.equal(s.findVm('gone'), null);
  assert.equal(s.findVmByToken(token), null);
  const last = s.listAudit().at(-1);
  assert.equal(last?.action, 'vm.delete');
  assert.equal(last?.details['weight'], 3);
  s.addVm({ name: 'gone' });
  assert.equal(s.getUsage('gone').calls, 0, 'usage survived removal');
});

test('pools: VMs can be placed in a new pool; GPUs belong to one pool', (t) => {
  const s = open(tempDir(t));
  t.after(() => s.close());
  const uuid = 'GPU-12345678-1234-1234-1234-123456789ABC';
  const gold = s.addPool({ name: 'gold', gpuUuids: [uuid] });
  assert.deepEqual(gold.gpuUuids, ['GPU-12345678-1234-1234-1234-123456789abc']);
  assert.equal(s.addVm({ name: 'v', pool: 'gold' }).vm.pool, 'gold');
  assert.equal(s.setVm('v', { pool: 'default' }).pool, 'default');
  throwsCode(() => s.addPool({ name: 'silver', gpuUuids: [uuid.toLowerCase()] }), 'VGPU_ERR_INVALID_ARGUMENT', /another pool/);
  throwsCode(() => s.addPool({ name: 'gold' }), 'VGPU_ERR_INVALID_ARGUMENT', /already exists/);
  throwsCode(() => s.addPool({ name: 'x', gpuUuids: ['GPU-1'] }), 'VGPU_ERR_INVALID_ARGUMENT', /gpuUuids/);
  assert.deepEqual(s.listPools().map((p) => p.name), ['default', 'gold']);
});

test('usage totals add up, peak memory is a maximum, GPUs are recorded', (t) => {
  const s = open(tempDir(t));
  t.after(() => s.close());
  s.addVm({ name: 'v' });
  assert.equal(s.getUsage('v').updatedAt, null);
  s.addUsage('v', { deviceTimeNs: 10, bytesHtoD: 100, calls: 1, memoryNow: 500 });
  s.addUsage('v', { deviceTimeNs: 5, bytesDtoH: 7, calls: 2, memoryNow: 200 });
  const u = s.getUsage('v');
  assert.deepEqual({ ...u, updatedAt: null }, {
    deviceTimeNs: 15, bytesHtoD: 100, bytesDtoH: 7, calls: 3, peakMemory: 500, updatedAt: null,
  });
  throwsCode(() => s.addUsage('v', { calls: -1 }), 'VGPU_ERR_INVALID_ARGUMENT', /calls/);
  throwsCode(() => s.addUsage('nope', { calls: 1 }), 'VGPU_ERR_VM_NOT_FOUND');
  const gpu = { uuid: 'GPU-00000000-0000-0000-0000-000000000001', name: 'softgpu (CPU emulation)', backend: 'softgpu' as const,
    totalMemory: 2 ** 30, pciBusId: null };
  s.recordGpu(gpu);
  s.recordGpu({ ...gpu, totalMemory: 2 ** 31 });
  const gpus = s.listGpus();
  assert.equal(gpus.length, 1);
  assert.equal(gpus[0]?.totalMemory, 2 ** 31);
});

test('audit: free entries are validated and listed oldest first, newest N with a limit', (t) => {
  const s = open(tempDir(t));
  t.after(() => s.close());
  for (let i = 0; i < 5; i++) s.audit({ action: 'session.kill', target: `s${i}`, details: { i } });
  s.audit({ action: 'mediator.start', target: 'host', actor: 'mediator' });
  const last2 = s.listAudit({ limit: 2 });
  assert.deepEqual(last2.map((e) => e.target), ['s4', 'host']);
  assert.equal(last2[1]?.actor, 'mediator');
  assert.equal(last2[0]?.actor, 'test');
  assert.deepEqual(s.listAudit({ target: 's3' })[0]?.details, { i: 3 });
  throwsCode(() => s.audit({ action: 'Bad Action', target: 'x' }), 'VGPU_ERR_INVALID_ARGUMENT', /action/);
  throwsCode(() => s.audit({ action: 'a.b', target: '' }), 'VGPU_ERR_INVALID_ARGUMENT', /target/);
});

test('two stores on one directory see each other\'s changes at once (CLI and mediator)', (t) => {
  const dir = tempDir(t);
  const mediator = open(dir);
  const cli = open(dir);
  t.after(() => {
    mediator.close();
    cli.close();
  });
  const { token } = cli.addVm({ name: 'late' });
  assert.equal(mediator.findVmByToken(token)?.name, 'late');
  cli.setVm('late', { priority: 'high' });
  assert.equal(mediator.getVm('late').priority, 'high');
});

test('a writer waits for another process\'s write transaction instead of failing', async (t) => {
  const dir = tempDir(t);
  // Opened first: opening migrates in a write transaction, which would wait for the lock too.
  const s = open(dir);
  const holder = `
    const Database = require(${JSON.stringify(path.resolve('node_modules/better-sqlite3'))});
    const db = new Database(${JSON.stringify(path.join(dir, DB_FILE))});
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO audit_log (at, actor, action, target) VALUES ('t', 'holder', 'hold', 'x')").run();
    process.stdout.write('locked\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
    db.exec('COMMIT');
  `;
  const child = spawn(process.execPath, ['-e', holder], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', () => reject(new Error('lock holder exited early')));
  });
  const t0 = Date.now();
  s.addVm({ name: 'waited' });
  const waited = Date.now() - t0;
  s.close();
  assert.equal(await exited, 0);
  t.diagnostic(`the write waited ${waited} ms for the other process's transaction`);
  // The holder's row comes first: our write went in after its COMMIT, not beside it or instead of
  // failing (an assertion on the order, which no machine load can change).
  const check = open(dir);
  assert.deepEqual(check.listAudit().map((e) => e.action), ['hold', 'vm.create']);
  check.close();
});

test('session ids come from a counter that never goes back, whichever process opens the store', (t) => {
  const dir = tempDir(t);
  const a = Store.open(dir, { actor: 'test' });
  assert.equal(a.lastSessionId(), 0);
  assert.equal(a.takeSessionIds(256), 1);
  assert.equal(a.takeSessionIds(256), 257);
  assert.equal(a.lastSessionId(), 512);
  a.close();
  // A new mediator (after a kill -9 of the last) continues after every id handed out.
  const b = Store.open(dir, { actor: 'test' });
  assert.equal(b.takeSessionIds(1), 513);
  assert.throws(() => b.takeSessionIds(0), /session id count/);
  b.close();
});

test('usage series: samples summed per VM into buckets of the step, within the period; the audit head moves with changes', (t) => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const s = Store.open(tempDir(t), { actor: 'alice', now: () => new Date(clock) });
  t.after(() => s.close());
  assert.equal(s.auditHead(), 0, 'no entry yet');
  s.addVm({ name: 'a' });
  s.addVm({ name: 'b' });
  const head = s.auditHead();
  assert.ok(head > 0);
  const at = (sec: number, vm: string, calls: number, mem = 0): void => {
    clock = Date.parse('2026-01-01T00:00:00Z') + sec * 1000;
    s.addUsage(vm, { calls, deviceTimeNs: calls * 10, memoryNow: mem });
  };
  at(5, 'a', 1, 100);
  at(30, 'a', 2, 300);
  at(59, 'b', 4);
  at(61, 'a', 8, 200);
  at(200, 'a', 16);
  const series = s.usageSeries({ since: new Date('2026-01-01T00:00:10Z'), until: new Date('2026-01-01T00:03:00Z'), stepS: 60 });
  assert.deepEqual(series.map((b) => [b.at, b.vm, b.calls, b.deviceTimeNs, b.peakMemory]), [
    ['2026-01-01T00:00:00.000Z', 'a', 2, 20, 300], // the sample at 5 s is before the period
    ['2026-01-01T00:00:00.000Z', 'b', 4, 40, 0],
    ['2026-01-01T00:01:00.000Z', 'a', 8, 80, 200], // the one at 200 s is after it
  ]);
  const onlyB = s.usageSeries({ since: new Date('2026-01-01T00:00:00Z'), until: new Date('2026-01-01T01:00:00Z'), stepS: 3600, vm: 'b' });
  assert.deepEqual(onlyB.map((b) => [b.vm, b.calls]), [['b', 4]]);
  throwsCode(() => s.usageSeries({ since: new Date(0), until: new Date(), stepS: 60, vm: 'nobody' }), 'VGPU_ERR_VM_NOT_FOUND');
  s.setVm('a', { weight: 3 });
  assert.ok(s.auditHead() > head, 'a change is a new audit entry');
});

test('operators: tokens stored as hashes, found in constant-time lookups, rotated, removed; each change audited', (t) => {
  const s = open(tempDir(t));
  try {
    const { operator, token } = s.addOperator('alice');
    assert.equal(operator.name, 'alice');
    assert.match(token, /^vgpuop_[A-Za-z0-9_-]{43}$/);
    assert.equal(s.findOperatorByToken(token)?.name, 'alice');
    assert.equal(s.findVmByToken(token), null, 'an operator token is no VM token');
    for (const junk of ['', 'vgpuop_short', token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), `vgpu_${token.slice(7)}`]) {
      assert.equal(s.findOperatorByToken(junk), null, junk);
    }
    throwsCode(() => s.addOperator('alice'), 'VGPU_ERR_OPERATOR_EXISTS');
    throwsCode(() => s.addOperator('Admin'), 'VGPU_ERR_OPERATOR_RESERVED');
    throwsCode(() => s.addOperator('no spaces'), 'VGPU_ERR_INVALID_NAME', /invalid operator name/);
    const rotated = s.rotateOperatorToken('alice');
    assert.equal(s.findOperatorByToken(token), null, 'the old token stops working');
    assert.equal(s.findOperatorByToken(rotated.token)?.name, 'alice');
    s.addOperator('bob');
    assert.deepEqual(s.listOperators().map((o) => o.name), ['alice', 'bob']);
    assert.equal(s.removeOperator('alice').name, 'alice');
    assert.equal(s.findOperatorByToken(rotated.token), null);
    throwsCode(() => s.removeOperator('alice'), 'VGPU_ERR_OPERATOR_NOT_FOUND');
    const audit = s.listAudit().map((e) => `${e.actor} ${e.action} ${e.target}`);
    assert.deepEqual(audit, ['test operator.create alice', 'test operator.token.rotate alice', 'test operator.create bob', 'test operator.delete alice']);
    assert.doesNotMatch(JSON.stringify(s.listAudit()), /vgpuop_/, 'no token in the audit log');
  } finally {
    s.close();
  }
});

test('as(actor): the same database, changes audited as that actor; closing the view keeps the store open', (t) => {
  const s = open(tempDir(t));
  try {
    const view = s.as('operator:alice');
    view.addVm({ name: 'via-api' });
    view.close();
    s.addVm({ name: 'direct' });
    assert.deepEqual(s.listAudit().map((e) => [e.actor, e.target]), [['operator:alice', 'via-api'], ['test', 'direct']]);
  } finally {
    s.close();
  }
});

test('the sample doctor output in docs/operations.md names the current migration level', () => {
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  const m = /opens, migration (\d+) \(current\)/.exec(doc);
  assert.ok(m, 'docs/operations.md lost its sample `store` line');
  assert.equal(Number(m[1]), SCHEMA_VERSION, 'a migration was added: update the sample doctor output in docs/operations.md');
});
