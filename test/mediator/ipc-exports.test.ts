// The VMs' CUDA IPC exports (src/mediator/ipc-exports.ts, docs/ipc.md): a token names an export only
// to sessions of the exporting VM and for its kind, one export has one token, and a session's
// exports end with it; memory open in another session stays charged to the VM after its exporter
// freed it or ended, until the last opener closes it or ends, and the quota ledger counts that
// charge. The executor's questions are checked against their schema on receipt.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { fromExecutorSchema, toExecutorSchema } from '../../src/common/executor-ipc.js';
import { IpcExports } from '../../src/mediator/ipc-exports.js';
import { QuotaLedger } from '../../src/mediator/ledger.js';
import type { ToExecutor } from '../../src/common/executor-ipc.js';

const HANDLE_A = 'ab'.repeat(64);
const HANDLE_B = 'cd'.repeat(64);
const MIB = 1 << 20;

test('a token opens in its own VM only, for its own kind', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A, MIB);
  assert.match(token, /^[0-9a-f]{64}0{64}$/);
  assert.equal(t.lookup('vm-a', 9, 'mem', token), HANDLE_A);
  assert.equal(t.lookup('vm-b', 9, 'mem', token), null, 'another VM');
  assert.equal(t.lookup('vm-a', 9, 'event', token), null, 'another kind');
  assert.equal(t.lookup('vm-a', 9, 'mem', 'ef'.repeat(64)), null, 'never made');
});

test('exporting one thing twice gives one token; different things and sessions get their own', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A, MIB);
  assert.equal(t.export('vm-a', 1, 'mem', HANDLE_A, MIB), token);
  const other = t.export('vm-a', 1, 'mem', HANDLE_B, MIB);
  assert.notEqual(other, token);
  assert.notEqual(t.export('vm-a', 2, 'mem', HANDLE_A, MIB), token, 'another session');
  assert.equal(t.size, 3);
});

test("a session's exports end with it; the others stay", () => {
  const t = new IpcExports();
  const mine = t.export('vm-a', 1, 'vmm', HANDLE_A, MIB);
  const theirs = t.export('vm-a', 2, 'vmm', HANDLE_B, MIB);
  t.dropSession(1);
  assert.equal(t.lookup('vm-a', 9, 'vmm', mine), null);
  assert.equal(t.lookup('vm-a', 9, 'vmm', theirs), HANDLE_B);
  assert.equal(t.size, 1);
  // Exported again after its end, it is a new export with a new token.
  assert.notEqual(t.export('vm-a', 1, 'vmm', HANDLE_A, MIB), mine);
});

test('a revoked export opens nowhere; revoking what another session exported does nothing', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A, MIB);
  t.revoke(2, 'mem', HANDLE_A);
  assert.equal(t.lookup('vm-a', 9, 'mem', token), HANDLE_A);
  t.revoke(1, 'mem', HANDLE_A);
  assert.equal(t.lookup('vm-a', 9, 'mem', token), null);
  assert.equal(t.size, 0);
});

test('IPC messages are checked: 64 bytes in lowercase hex, known kinds and operations', () => {
  const ok = { type: 'ipc', req: 1, question: { op: 'lookup', kind: 'mem', token: HANDLE_A } };
  assert.ok(fromExecutorSchema.safeParse(ok).success);
  assert.ok(fromExecutorSchema.safeParse({ type: 'ipc', req: 2, question: { op: 'export', kind: 'event', handle: HANDLE_A, bytes: 0 } }).success);
  for (const bad of [
    { ...ok, question: { ...ok.question, token: HANDLE_A.slice(2) } },
    { ...ok, question: { ...ok.question, token: HANDLE_A.toUpperCase() } },
    { ...ok, question: { ...ok.question, kind: 'pool' } },
    { ...ok, question: { op: 'lookup', kind: 'mem', handle: HANDLE_A } },
    { ...ok, req: -1 },
    { ...ok, extra: true },
  ]) assert.ok(!fromExecutorSchema.safeParse(bad).success, JSON.stringify(bad));
  assert.ok(fromExecutorSchema.safeParse({ type: 'ipcRevoke', kind: 'mem', handle: HANDLE_A }).success);
  assert.ok(!fromExecutorSchema.safeParse({ type: 'ipcRevoke', kind: 'mem', handle: 'x' }).success);
  assert.ok(fromExecutorSchema.safeParse({ type: 'ipcClose', kind: 'vmm', token: HANDLE_A }).success);
  assert.ok(!fromExecutorSchema.safeParse({ type: 'ipcClose', kind: 'vmm', handle: HANDLE_A }).success);
  assert.ok(!fromExecutorSchema.safeParse({ type: 'ipc', req: 2, question: { op: 'export', kind: 'mem', handle: HANDLE_A } }).success, 'an export says its size');
  assert.ok(!fromExecutorSchema.safeParse({ type: 'ipc', req: 2, question: { op: 'export', kind: 'mem', handle: HANDLE_A, bytes: -1 } }).success);
  assert.ok(toExecutorSchema.safeParse({ type: 'ipcAnswer', req: 1, value: null }).success);
  assert.ok(toExecutorSchema.safeParse({ type: 'ipcAnswer', req: 1, value: HANDLE_B }).success);
  assert.ok(!toExecutorSchema.safeParse({ type: 'ipcAnswer', req: 1, value: 'zz' }).success);
});

test('memory freed by its exporter stays charged to the VM while another session has it open', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A, 3 * MIB);
  assert.equal(t.lookup('vm-a', 2, 'mem', token), HANDLE_A);
  assert.equal(t.charged('vm-a'), 0, 'charged to its exporter while it holds it');
  assert.equal(t.revoke(1, 'mem', HANDLE_A), 'vm-a');
  assert.equal(t.charged('vm-a'), 3 * MIB);
  assert.equal(t.charged('vm-b'), 0);
  assert.equal(t.lookup('vm-a', 3, 'mem', token), null, 'the freed allocation opens nowhere');
  assert.equal(t.size, 0);
  assert.equal(t.close(3, token), null, 'a session that never opened it');
  assert.equal(t.charged('vm-a'), 3 * MIB);
  assert.equal(t.close(2, token), 'vm-a', 'the last opener closes it');
  assert.equal(t.charged('vm-a'), 0);
  assert.equal(t.close(2, token), null, 'closed twice');
});

test('memory closed before its exporter frees it is charged to nobody afterwards', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A, MIB);
  t.lookup('vm-a', 2, 'mem', token);
  assert.equal(t.close(2, token), null);
  assert.equal(t.revoke(1, 'mem', HANDLE_A), null);
  assert.equal(t.charged('vm-a'), 0);
});

test('the charge lasts until the last of several openers; an exporter opening its own is no opener', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'vmm', HANDLE_A, 2 * MIB);
  t.lookup('vm-a', 1, 'vmm', token);
  t.lookup('vm-a', 2, 'vmm', token);
  t.lookup('vm-a', 2, 'vmm', token);
  t.lookup('vm-a', 3, 'vmm', token);
  t.revoke(1, 'vmm', HANDLE_A);
  assert.equal(t.charged('vm-a'), 2 * MIB);
  assert.equal(t.close(2, token), null, 'one session opening twice is one opener');
  assert.equal(t.charged('vm-a'), 2 * MIB);
  assert.equal(t.close(3, token), 'vm-a');
  assert.equal(t.charged('vm-a'), 0);
});

test("an exporter's end keeps what others have open charged; the openers' end releases it", () => {
  const t = new IpcExports();
  const mem = t.export('vm-a', 1, 'mem', HANDLE_A, 4 * MIB);
  const event = t.export('vm-a', 1, 'event', HANDLE_B, 0);
  const unopened = t.export('vm-a', 1, 'vmm', HANDLE_B, 8 * MIB);
  t.lookup('vm-a', 2, 'mem', mem);
  t.lookup('vm-a', 2, 'event', event);
  assert.deepEqual([...t.dropSession(1)], ['vm-a']);
  assert.equal(t.charged('vm-a'), 4 * MIB, 'neither the event nor the export nobody opened');
  assert.equal(t.lookup('vm-a', 3, 'mem', mem), null);
  assert.equal(t.lookup('vm-a', 3, 'vmm', unopened), null);
  assert.deepEqual([...t.dropSession(3)], [], 'a session that opened nothing');
  assert.deepEqual([...t.dropSession(2)], ['vm-a']);
  assert.equal(t.charged('vm-a'), 0);
});

test("an opener's end while the exporter holds the memory leaves nothing charged after its free", () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A, MIB);
  t.lookup('vm-a', 2, 'mem', token);
  assert.deepEqual([...t.dropSession(2)], []);
  assert.equal(t.revoke(1, 'mem', HANDLE_A), null);
  assert.equal(t.charged('vm-a'), 0);
});

test('the ledger refuses what the charge leaves no room for, and grants it once the charge ends', () => {
  const t = new IpcExports();
  const answers: Array<{ id: number; m: ToExecutor }> = [];
  const ledger = new QuotaLedger({
    quota: () => 100 * MIB,
    charged: (vm) => t.charged(vm),
    send: (id, m) => {
      answers.push({ id, m });
      return true;
    },
    refused: () => {},
  });
  ledger.open(1, 'vm-a');
  ledger.open(2, 'vm-a');
  const granted = (): number[] => answers.flatMap((a) => (a.m.type === 'quota' ? [a.m.granted] : []));

  // Session 1 holds 75 MiB, exports it; session 2 opens it; session 1 frees it.
  ledger.reserve(1, 75 * MIB);
  ledger.setUsed(1, 75 * MIB);
  const token = t.export('vm-a', 1, 'mem', HANDLE_A, 75 * MIB);
  t.lookup('vm-a', 2, 'mem', token);
  assert.equal(t.revoke(1, 'mem', HANDLE_A), 'vm-a');
  ledger.release(1, 100 * MIB);
  ledger.setUsed(1, 0);
  assert.equal(ledger.vmReserved('vm-a'), 75 * MIB);
  assert.equal(ledger.vmUsed('vm-a'), 75 * MIB);

  answers.length = 0;
  ledger.reserve(1, 50 * MIB);
  assert.deepEqual(granted(), [0], 'refused while session 2 has it open');
  const usage = answers.find((a) => a.id === 2 && a.m.type === 'vmUsage');
  assert.deepEqual(usage?.m, { type: 'vmUsage', bytes: 75 * MIB, own: 0 }, 'cuMemGetInfo counts it');

  t.close(2, token);
  answers.length = 0;
  ledger.reserve(1, 50 * MIB);
  assert.equal(granted().length, 1);
  assert.ok(granted()[0]! >= 50 * MIB, 'granted once the last opener closed it');
});
