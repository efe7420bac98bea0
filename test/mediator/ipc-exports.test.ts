// The VMs' CUDA IPC exports (src/mediator/ipc-exports.ts, docs/ipc.md): a token names an export only
// to sessions of the exporting VM and for its kind, one export has one token, and a session's
// exports end with it. The executor's questions are checked against their schema on receipt.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { fromExecutorSchema, toExecutorSchema } from '../../src/common/executor-ipc.js';
import { IpcExports } from '../../src/mediator/ipc-exports.js';

const HANDLE_A = 'ab'.repeat(64);
const HANDLE_B = 'cd'.repeat(64);

test('a token opens in its own VM only, for its own kind', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A);
  assert.match(token, /^[0-9a-f]{64}0{64}$/);
  assert.equal(t.lookup('vm-a', 'mem', token), HANDLE_A);
  assert.equal(t.lookup('vm-b', 'mem', token), null, 'another VM');
  assert.equal(t.lookup('vm-a', 'event', token), null, 'another kind');
  assert.equal(t.lookup('vm-a', 'mem', 'ef'.repeat(64)), null, 'never made');
});

test('exporting one thing twice gives one token; different things and sessions get their own', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A);
  assert.equal(t.export('vm-a', 1, 'mem', HANDLE_A), token);
  const other = t.export('vm-a', 1, 'mem', HANDLE_B);
  assert.notEqual(other, token);
  assert.notEqual(t.export('vm-a', 2, 'mem', HANDLE_A), token, 'another session');
  assert.equal(t.size, 3);
});

test("a session's exports end with it; the others stay", () => {
  const t = new IpcExports();
  const mine = t.export('vm-a', 1, 'vmm', HANDLE_A);
  const theirs = t.export('vm-a', 2, 'vmm', HANDLE_B);
  t.dropSession(1);
  assert.equal(t.lookup('vm-a', 'vmm', mine), null);
  assert.equal(t.lookup('vm-a', 'vmm', theirs), HANDLE_B);
  assert.equal(t.size, 1);
  // Exported again after its end, it is a new export with a new token.
  assert.notEqual(t.export('vm-a', 1, 'vmm', HANDLE_A), mine);
});

test('a revoked export opens nowhere; revoking what another session exported does nothing', () => {
  const t = new IpcExports();
  const token = t.export('vm-a', 1, 'mem', HANDLE_A);
  t.revoke(2, 'mem', HANDLE_A);
  assert.equal(t.lookup('vm-a', 'mem', token), HANDLE_A);
  t.revoke(1, 'mem', HANDLE_A);
  assert.equal(t.lookup('vm-a', 'mem', token), null);
  assert.equal(t.size, 0);
});

test('IPC messages are checked: 64 bytes in lowercase hex, known kinds and operations', () => {
  const ok = { type: 'ipc', req: 1, question: { op: 'lookup', kind: 'mem', token: HANDLE_A } };
  assert.ok(fromExecutorSchema.safeParse(ok).success);
  assert.ok(fromExecutorSchema.safeParse({ type: 'ipc', req: 2, question: { op: 'export', kind: 'event', handle: HANDLE_A } }).success);
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
  assert.ok(toExecutorSchema.safeParse({ type: 'ipcAnswer', req: 1, value: null }).success);
  assert.ok(toExecutorSchema.safeParse({ type: 'ipcAnswer', req: 1, value: HANDLE_B }).success);
  assert.ok(!toExecutorSchema.safeParse({ type: 'ipcAnswer', req: 1, value: 'zz' }).success);
});
