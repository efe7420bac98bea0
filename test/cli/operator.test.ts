// vgpu-admin's operator commands, run in-process through main() against temporary state
// directories (no mediator: they work on the store, and the local user is the audit's actor).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { operatorSchema } from '../../src/admin/schemas.js';
import { cliActor } from '../../src/cli/context.js';
import { Store } from '../../src/store/index.js';
import { cli, snapshot, tempDir } from './helpers.js';

function lastLine(s: string): string {
  return s.trimEnd().split('\n').at(-1) ?? '';
}

test('operator add, list, token --rotate and rm; the audit names the local user', async (t) => {
  const dir = tempDir(t);
  const add = await cli(['--state-dir', dir, 'operator', 'add', 'alice']);
  assert.equal(add.status, 0, add.stderr);
  const token = lastLine(add.stdout);
  assert.match(token, /^vgpuop_[A-Za-z0-9_-]{43}$/);

  const list = await cli(['--state-dir', dir, '--json', 'operator', 'list']);
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(operatorSchema.array().parse(JSON.parse(list.stdout)).map((o) => o.name), ['alice']);
  const human = await cli(['--state-dir', dir, 'operator', 'list']);
  assert.match(human.stdout, /^NAME\s+CREATED\s+TOKEN CHANGED\nalice\s/);

  const show = await cli(['--state-dir', dir, 'operator', 'token', 'alice']);
  assert.equal(show.status, 2);
  assert.match(show.stderr, /the token of operator "alice" cannot be shown/);
  assert.match(show.stderr, /operator token alice --rotate/);
  const unknown = await cli(['--state-dir', dir, 'operator', 'token', 'nobody']);
  assert.equal(unknown.status, 3);
  assert.match(unknown.stderr, /no operator named "nobody"/);

  const rot = await cli(['--state-dir', dir, '--json', 'operator', 'token', 'alice', '--rotate']);
  assert.equal(rot.status, 0, rot.stderr);
  const rotated = (JSON.parse(rot.stdout) as { token: string }).token;
  assert.notEqual(rotated, token);

  const rm = await cli(['--state-dir', dir, 'operator', 'rm', 'alice']);
  assert.equal(rm.status, 0, rm.stderr);
  assert.match(rm.stdout, /removed operator alice/);

  const s = Store.open(dir, { actor: 'test' });
  try {
    assert.equal(s.findOperatorByToken(rotated), null);
    assert.deepEqual(s.listAudit().map((e) => [e.actor, e.action]), [
      [cliActor(), 'operator.create'], [cliActor(), 'operator.token.rotate'], [cliActor(), 'operator.delete'],
    ]);
  } finally {
    s.close();
  }
});

test('operator add refuses the reserved name, a taken one and a bad one, changing nothing', async (t) => {
  const dir = tempDir(t);
  assert.equal((await cli(['--state-dir', dir, 'operator', 'add', 'bob'])).status, 0);
  const before = snapshot(dir);
  const reserved = await cli(['--state-dir', dir, 'operator', 'add', 'admin']);
  assert.equal(reserved.status, 2);
  assert.match(reserved.stderr, /the operator name "admin" is reserved/);
  const taken = await cli(['--state-dir', dir, 'operator', 'add', 'bob']);
  assert.equal(taken.status, 4);
  assert.match(taken.stderr, /an operator named "bob" already exists/);
  const bad = await cli(['--state-dir', dir, 'operator', 'add', '-x']);
  assert.notEqual(bad.status, 0);
  assert.equal(snapshot(dir), before);
});
