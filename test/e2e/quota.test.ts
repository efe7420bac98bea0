// A VM's memory quota holds across all of its sessions: its guests see the quota as total memory,
// allocations past it fail with CUDA_ERROR_OUT_OF_MEMORY while another VM is unaffected, and
// memory a guest held is free again once it exits.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape } from '../helpers/metrics.js';
import { buildProgram, startGuest, type InteractiveGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

let m: RunningMediator;
let prog: string;
let paths: string;

before(async () => {
  m = await startMediator({ env: { VGPU_SOFTGPU_MEMORY: '4G' } });
  prog = buildProgram('quota');
  paths = buildProgram('alloc_paths');
});
after(async () => {
  await m?.stop();
});

function addVm(...args: string[]): string {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', ...args, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
  return out.trim().split('\n').at(-1)!;
}

/** Waits until the mediator records `bytes` of device memory held by the VM's sessions (an
 * exited guest's session ends once the mediator has seen its executor go). */
async function memoryUsed(vm: string, bytes: number): Promise<void> {
  let now = -1;
  for (let i = 0; i < 600; i++) {
    now = (await scrape(m.admin!)).value('vgpu_vm_memory_used_bytes', { vm });
    if (now === bytes) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${vm} still holds ${now} bytes`);
}

function guest(token: string, ...steps: string[]): InteractiveGuest {
  return run(prog, token, steps);
}

function run(program: string, token: string, steps: string[]): InteractiveGuest {
  return startGuest(m.server, token, program, steps);
}

test('a 2 GiB quota is the total memory the VM sees and is shared by its sessions', async () => {
  const q = addVm('quota-vm', '--memory', '2G');
  const other = addVm('quota-other');

  const a = guest(q, 'info', 'alloc:1536', 'info', 'hold');
  await a.waitFor(/holding/);
  assert.match(a.lines[0]!, /info free=2048 total=2048 devtotal=2048 r=0,0/, 'quota as total through the driver API');
  assert.match(a.lines[1]!, /alloc 1536 -> 0/);
  assert.match(a.lines[2]!, /info free=512 total=2048/, 'its own use shows as used');

  // A second process of the same VM: only what is left of the quota.
  const b = guest(q, 'info', 'alloc:1024', 'alloc:256');
  assert.equal(await b.done, 0);
  assert.match(b.lines[0]!, /info free=512 total=2048/, 'the VM-wide use, not just this process');
  assert.match(b.lines[1]!, /alloc 1024 -> 2$/, 'past the VM quota: CUDA_ERROR_OUT_OF_MEMORY');
  assert.match(b.lines[2]!, /alloc 256 -> 0$/, 'within what is left: fine');

  // Another VM is unaffected.
  const c = guest(other, 'alloc:1024');
  assert.equal(await c.done, 0);
  assert.match(c.lines[0]!, /alloc 1024 -> 0$/);

  // Once the holder exits, its memory is the VM's again.
  a.release();
  assert.equal(await a.done, 0);
  await memoryUsed('quota-vm', 0);
  const d = guest(q, 'alloc:1536', 'info');
  assert.equal(await d.done, 0);
  assert.match(d.lines[0]!, /alloc 1536 -> 0$/, d.lines.join('\n'));
});

test('pitched, stream-ordered and pool allocations count against the quota like cuMemAlloc', async () => {
  const q = addVm('paths-vm', '--memory', '1G');
  const g = run(paths, q, [
    'info', 'pitch:1048576:256', 'async:256', 'pool:256', 'info',
    // Fits at its width (100 MiB) but not at the driver's pitch: refused, and nothing kept.
    'pitch:100:1048576', 'info',
    'async:512', 'pool:512', 'poolused', 'freeall', 'info',
    'async:1024', 'freeall', 'pitch:1048576:1024', 'info',
  ]);
  assert.equal(await g.done, 0, g.lines.join('\n'));
  const l = g.lines;
  assert.match(l[0]!, /^info free=1024 total=1024 r=0$/);
  assert.match(l[1]!, /^pitch 1048576 256 -> 0 pitch=1048576$/, 'pitched allocation within the quota');
  assert.match(l[2]!, /^async 256 -> 0$/);
  assert.match(l[3]!, /^pool 256 -> 0$/);
  assert.match(l[4]!, /^info free=256 total=1024 r=0$/, 'all three paths show as used');
  assert.match(l[5]!, /^pitch 100 1048576 -> 2 pitch=0$/, 'the padded size is what counts');
  assert.match(l[6]!, /^info free=256 total=1024 r=0$/, 'the refused pitched allocation was given back');
  assert.match(l[7]!, /^async 512 -> 2$/, 'cuMemAllocAsync past the quota: CUDA_ERROR_OUT_OF_MEMORY');
  assert.match(l[8]!, /^pool 512 -> 2$/, 'cuMemAllocFromPoolAsync past the quota: CUDA_ERROR_OUT_OF_MEMORY');
  assert.match(l[9]!, /^poolused default=256 created=256$/, 'pool attributes report what each pool holds');
  assert.match(l[10]!, /^freeall 3 -> 0$/);
  assert.match(l[11]!, /^info free=1024 total=1024 r=0$/, 'freed (also stream-ordered) memory is the VM\'s again');
  assert.match(l[12]!, /^async 1024 -> 0$/, 'the whole quota can be allocated again');
  assert.match(l[13]!, /^freeall 1 -> 0$/);
  assert.match(l[14]!, /^pitch 1048576 1024 -> 0 pitch=1048576$/);
  assert.match(l[15]!, /^info free=0 total=1024 r=0$/);
});
