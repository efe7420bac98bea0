// The error catalogue: pinned, documented, and well-formed.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ERRORS, EXIT, ExitError, InternalError, VgpuError, isVgpuError, type VgpuErrorCode } from '../../src/common/errors.js';
import { REPO } from './helpers.js';

test('the catalogue and docs/operations.md list the same codes with the same exit statuses', () => {
  const doc = readFileSync(path.join(REPO, 'docs', 'operations.md'), 'utf8');
  const documented = new Map<string, number>();
  for (const m of doc.matchAll(/^\| `(VGPU_ERR_[A-Z_]+)` \| (\d) \|/gm)) documented.set(m[1] ?? '', Number(m[2]));
  const coded = new Map(Object.entries(ERRORS).map(([k, v]) => [k, v.exit as number]));
  assert.equal(coded.size, 25, 'a code was added or removed: update docs/operations.md and this count');
  assert.deepEqual([...documented.keys()].sort(), [...coded.keys()].sort());
  for (const [code, exit] of coded) assert.equal(documented.get(code), exit, `${code}: exit status differs from the docs`);
});

test('every entry is well-formed: code name, message, exit status in the documented set', () => {
  const statuses = new Set<number>(Object.values(EXIT));
  for (const [code, e] of Object.entries(ERRORS)) {
    assert.match(code, /^VGPU_ERR_[A-Z_]+$/);
    assert.ok(e.message.length > 0, code);
    assert.ok(statuses.has(e.exit), code);
    assert.ok(!e.message.endsWith('.'), `${code}: messages have no final period`);
  }
});

test('VgpuError fills its templates; InternalError and ExitError carry their statuses', () => {
  const e = new VgpuError('VGPU_ERR_VM_NOT_FOUND', { name: 'x' });
  assert.equal(e.message, 'no VM named "x"');
  assert.match(e.hint, /vgpu-admin vm add x/);
  assert.equal(e.exitStatus, EXIT.notFound);
  assert.deepEqual(e.toJSON(), { code: 'VGPU_ERR_VM_NOT_FOUND', message: e.message, hint: e.hint });
  assert.ok(isVgpuError(e, 'VGPU_ERR_VM_NOT_FOUND'));
  assert.ok(!isVgpuError(e, 'VGPU_ERR_VM_EXISTS' satisfies VgpuErrorCode));
  const missing = new VgpuError('VGPU_ERR_INVALID_SIZE', { input: 'q' });
  assert.match(missing.message, /\{reason\}/, 'an unfilled placeholder is left visible, not blanked');
  const i = new InternalError('boom');
  assert.equal(i.code, 'VGPU_ERR_INTERNAL');
  assert.equal(i.exitStatus, 1);
  assert.ok(i instanceof VgpuError);
  assert.equal(new ExitError(EXIT.usage).exitStatus, 2);
});
