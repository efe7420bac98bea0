// One mediator per state directory: a second one on the same directory refuses to start and names
// the first (two would each enforce every VM's quota alone), admin.json is removed only by the
// mediator that wrote it, and the directory is free again once its mediator is gone, however it
// went (the lock is the kernel's, src/store/lock.ts).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ADMIN_INFO_FILE, removeAdminInfo, writeAdminInfo } from '../../src/admin/files.js';
import { startMediator } from '../helpers/mediator.js';
import { BIN } from '../helpers/paths.js';

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vgpu-statedir-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function adminInfo(dir: string): { url: string; pid: number; instance?: string } {
  return JSON.parse(readFileSync(join(dir, ADMIN_INFO_FILE), 'utf8')) as { url: string; pid: number; instance?: string };
}

test('a second mediator on the same state directory refuses to start and names the first', async () => {
  const dir = freshDir();
  const first = await startMediator({ stateDir: dir });
  try {
    const before = adminInfo(dir);
    assert.equal(before.pid, first.proc.pid);
    // Its own socket and admin port: only the directory is shared.
    const second = spawnSync(join(BIN, 'vgpu-mediator'), ['--state-dir', dir, '--listen', `unix:${join(dir, 'second.sock')}`,
      '--backend', 'softgpu', '--http', '127.0.0.1:0'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, VGPU_LOG: 'info' } });
    assert.equal(second.status, 1, `the second mediator must exit with 1, not run (signal ${second.signal})\n${second.stderr}`);
    assert.equal(second.stdout, '', 'it never said it was ready');
    assert.match(second.stderr, new RegExp(`state directory ${escape(dir)} is in use by another vgpu-mediator \\(pid ${first.proc.pid}, started [^)]+\\)`));
    assert.match(second.stderr, new RegExp(`kill ${first.proc.pid}`), 'how to stop the first');
    assert.match(second.stderr, /--state-dir DIR or VGPU_STATE_DIR/, 'how to choose another directory');
    assert.ok(!existsSync(join(dir, 'second.sock')), 'it listened nowhere');
    assert.deepEqual(adminInfo(dir), before, 'the first mediator\'s admin.json is untouched');
    // The first still serves its admin API.
    const res = await fetch(`${first.admin}/v1/vms`);
    assert.equal(res.status, 200);
  } finally {
    await first.stop();
  }
  assert.ok(!existsSync(join(dir, ADMIN_INFO_FILE)), 'its owner removes admin.json at stop');
  // Stopped, the directory is free again.
  const again = await startMediator({ stateDir: dir });
  await again.stop();
});

test('a mediator that was killed leaves the directory free', async () => {
  const dir = freshDir();
  const first = await startMediator({ stateDir: dir });
  const gone = new Promise((r) => first.proc.once('exit', r));
  first.proc.kill('SIGKILL');
  await gone;
  assert.ok(existsSync(join(dir, ADMIN_INFO_FILE)), 'a killed mediator cleans nothing up');
  const next = await startMediator({ stateDir: dir });
  try {
    assert.equal(adminInfo(dir).pid, next.proc.pid, 'the stale admin.json was replaced');
  } finally {
    await next.stop();
  }
});

test('admin.json is removed only by the mediator that wrote it', () => {
  const dir = freshDir();
  writeAdminInfo(dir, { url: 'http://127.0.0.1:7080', pid: process.pid, instance: 'a' });
  removeAdminInfo(dir, { pid: process.pid, instance: 'b' });
  assert.ok(existsSync(join(dir, ADMIN_INFO_FILE)), 'same pid, another start (pid reused): left alone');
  removeAdminInfo(dir, { pid: process.pid + 1, instance: 'a' });
  assert.ok(existsSync(join(dir, ADMIN_INFO_FILE)), 'another process: left alone');
  writeFileSync(join(dir, ADMIN_INFO_FILE), 'not json');
  removeAdminInfo(dir, { pid: process.pid, instance: 'a' });
  assert.ok(existsSync(join(dir, ADMIN_INFO_FILE)), 'unreadable: nobody\'s to remove');
  writeAdminInfo(dir, { url: 'http://127.0.0.1:7080', pid: process.pid, instance: 'a' });
  removeAdminInfo(dir, { pid: process.pid, instance: 'a' });
  assert.ok(!existsSync(join(dir, ADMIN_INFO_FILE)), 'its writer removes it');
});
