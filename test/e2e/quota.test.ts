// A VM's memory quota holds across all of its sessions: its guests see the quota as total memory,
// allocations past it fail with CUDA_ERROR_OUT_OF_MEMORY while another VM is unaffected, and
// memory a guest held is free again once it exits. Every way a guest can make the device hold
// memory counts: allocations of every kind and the globals of the modules it loads; and what a
// context's destruction frees is the VM's again.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape } from '../helpers/metrics.js';
import { buildCudaProgram, nvccAvailable, runCudaProgram } from '../helpers/nvcc.js';
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

test('a module global counts like an allocation: a module that does not fit fails to load', async () => {
  const q = addVm('globals-vm', '--memory', '1G');
  const g = run(paths, q, [
    'info', 'global:2048', 'info', 'global:256', 'info', 'alloc:768', 'alloc:1', 'unload', 'info',
    'lib:2048', 'lib:128', 'info', 'alloc:128', 'info', 'unload', 'info',
  ]);
  assert.equal(await g.done, 0, g.lines.join('\n'));
  const l = g.lines;
  assert.match(l[0]!, /^info free=1024 total=1024 r=0$/);
  assert.match(l[1]!, /^global 2048 -> 2$/, 'a 2 GiB global under a 1 GiB quota: CUDA_ERROR_OUT_OF_MEMORY');
  assert.match(l[2]!, /^info free=1024 total=1024 r=0$/, 'the refused module holds nothing');
  assert.match(l[3]!, /^global 256 -> 0$/);
  assert.match(l[4]!, /^info free=768 total=1024 r=0$/, 'the loaded module\'s global shows as used');
  assert.match(l[5]!, /^alloc 768 -> 0$/);
  assert.match(l[6]!, /^alloc 1 -> 2$/, 'the global and the allocation fill the quota');
  assert.match(l[7]!, /^unload 1 -> 0$/);
  assert.match(l[8]!, /^info free=256 total=1024 r=0$/, 'unloading gives the global back');
  // A library needs no current context: loaded without one, it counts all the same.
  assert.match(l[9]!, /^lib 2048 -> 2$/, 'a library too large for the quota');
  assert.match(l[10]!, /^lib 128 -> 0$/);
  assert.match(l[11]!, /^info free=128 total=1024 r=0$/);
  assert.match(l[12]!, /^alloc 128 -> 0$/);
  assert.match(l[13]!, /^info free=0 total=1024 r=0$/);
  assert.match(l[14]!, /^unload 1 -> 0$/);
  assert.match(l[15]!, /^info free=128 total=1024 r=0$/, 'unloading the library gives its global back');
});

test('every allocation path, mixed across two processes of a VM, is refused exactly at the quota', async () => {
  const q = addVm('mixed-vm', '--memory', '1G');
  const a = run(paths, q, ['alloc:128', 'pitch:1048576:128', 'async:128', 'pool:128', 'global:128', 'info', 'hold']);
  await a.waitFor(/holding/);
  assert.match(a.lines[5]!, /^info free=384 total=1024 r=0$/, a.lines.join('\n'));
  const b = run(paths, q, [
    'info', 'global:64', 'pool:64', 'async:64', 'pitch:1048576:64', 'alloc:64', 'info', 'alloc:64', 'info',
    'alloc:1', 'pitch:1048576:1', 'async:1', 'pool:1', 'global:1', 'info',
  ]);
  assert.equal(await b.done, 0, b.lines.join('\n'));
  const l = b.lines;
  assert.match(l[0]!, /^info free=384 total=1024 r=0$/, 'what the other process holds, by every path');
  assert.match(l[1]!, /^global 64 -> 0$/);
  assert.match(l[2]!, /^pool 64 -> 0$/);
  assert.match(l[3]!, /^async 64 -> 0$/);
  assert.match(l[4]!, /^pitch 1048576 64 -> 0 pitch=1048576$/);
  assert.match(l[5]!, /^alloc 64 -> 0$/);
  assert.match(l[6]!, /^info free=64 total=1024 r=0$/);
  assert.match(l[7]!, /^alloc 64 -> 0$/, 'what is left of the quota, to the byte');
  assert.match(l[8]!, /^info free=0 total=1024 r=0$/);
  assert.match(l[9]!, /^alloc 1 -> 2$/, 'past the quota: cuMemAlloc');
  assert.match(l[10]!, /^pitch 1048576 1 -> 2 pitch=0$/, 'cuMemAllocPitch');
  assert.match(l[11]!, /^async 1 -> 2$/, 'cuMemAllocAsync');
  assert.match(l[12]!, /^pool 1 -> 2$/, 'cuMemAllocFromPoolAsync');
  assert.match(l[13]!, /^global 1 -> 2$/, 'a module global');
  assert.match(l[14]!, /^info free=0 total=1024 r=0$/, 'nothing refused was kept');
  a.release();
  assert.equal(await a.done, 0);
});

test('managed and mapped page-locked memory count like cuMemAlloc across processes, refused exactly at the quota', async () => {
  const q = addVm('managed-vm', '--memory', '1G');
  const a = run(paths, q, ['managed:256', 'mapped:128', 'alloc:128', 'info', 'hold', 'freeall', 'info']);
  await a.waitFor(/holding/);
  assert.match(a.lines[0]!, /^managed 256 -> 0$/, a.lines.join('\n'));
  assert.match(a.lines[1]!, /^mapped 128 -> 0$/, a.lines.join('\n'));
  assert.match(a.lines[3]!, /^info free=512 total=1024 r=0$/, 'managed and mapped memory show as used');
  const b = run(paths, q, ['info', 'managed:256', 'alloc:128', 'info', 'managed:128', 'mapped:128', 'info',
    'managed:1', 'mapped:1', 'alloc:1', 'info']);
  assert.equal(await b.done, 0, b.lines.join('\n'));
  const l = b.lines;
  assert.match(l[0]!, /^info free=512 total=1024 r=0$/, 'what the other process holds');
  assert.match(l[1]!, /^managed 256 -> 0$/);
  assert.match(l[2]!, /^alloc 128 -> 0$/);
  assert.match(l[3]!, /^info free=128 total=1024 r=0$/);
  assert.match(l[4]!, /^managed 128 -> 0$/, 'what is left of the quota, to the byte');
  assert.match(l[5]!, /^mapped 128 -> 2$/, 'mapped memory past the quota: CUDA_ERROR_OUT_OF_MEMORY');
  assert.match(l[6]!, /^info free=0 total=1024 r=0$/);
  assert.match(l[7]!, /^managed 1 -> 2$/, 'managed memory past the quota');
  assert.match(l[8]!, /^mapped 1 -> 2$/);
  assert.match(l[9]!, /^alloc 1 -> 2$/);
  assert.match(l[10]!, /^info free=0 total=1024 r=0$/, 'nothing refused was kept');
  await memoryUsed('managed-vm', 512 * 1024 * 1024);
  a.release();
  assert.equal(await a.done, 0);
  assert.match(a.lines[5]!, /^freeall 3 -> 0$/, a.lines.join('\n'));
  assert.match(a.lines[6]!, /^info free=1024 total=1024 r=0$/, 'freed: the VM\'s again');
});

test('physical memory of the virtual memory API counts like cuMemAlloc across processes; reservations do not', async () => {
  const q = addVm('vmm-vm', '--memory', '1G');
  const a = run(paths, q, ['reserve:2048', 'info', 'vmm:256', 'alloc:128', 'info', 'hold', 'vmmfree', 'info']);
  await a.waitFor(/holding/);
  assert.match(a.lines[0]!, /^reserve 2048 -> 0$/, a.lines.join('\n'));
  assert.match(a.lines[1]!, /^info free=1024 total=1024 r=0$/, 'a reservation larger than the quota takes none of it');
  assert.match(a.lines[2]!, /^vmm 256 -> 0$/);
  assert.match(a.lines[3]!, /^alloc 128 -> 0$/);
  assert.match(a.lines[4]!, /^info free=640 total=1024 r=0$/, 'the physical allocation shows as used');
  const b = run(paths, q, ['info', 'vmm:512', 'info', 'vmm:256', 'alloc:128', 'info', 'vmm:2', 'alloc:1', 'info', 'vmmfree', 'info']);
  assert.equal(await b.done, 0, b.lines.join('\n'));
  const l = b.lines;
  assert.match(l[0]!, /^info free=640 total=1024 r=0$/, 'what the other process holds, by both paths');
  assert.match(l[1]!, /^vmm 512 -> 0$/);
  assert.match(l[2]!, /^info free=128 total=1024 r=0$/);
  assert.match(l[3]!, /^vmm 256 -> 2$/, 'cuMemCreate past the quota: CUDA_ERROR_OUT_OF_MEMORY');
  assert.match(l[4]!, /^alloc 128 -> 0$/, 'what is left of the quota, to the byte');
  assert.match(l[5]!, /^info free=0 total=1024 r=0$/, 'the refused cuMemCreate kept nothing');
  assert.match(l[6]!, /^vmm 2 -> 2$/, 'one granule past the quota');
  assert.match(l[7]!, /^alloc 1 -> 2$/);
  assert.match(l[8]!, /^info free=0 total=1024 r=0$/);
  assert.match(l[9]!, /^vmmfree 1 -> 0$/);
  assert.match(l[10]!, /^info free=512 total=1024 r=0$/, 'unmapped and released: the VM\'s again');
  await memoryUsed('vmm-vm', (256 + 128) * 1024 * 1024);
  a.release();
  assert.equal(await a.done, 0);
  assert.match(a.lines[6]!, /^vmmfree 1 -> 0$/);
  assert.match(a.lines[7]!, /^info free=896 total=1024 r=0$/, a.lines.join('\n'));
});

test('what a context reset or destruction frees is the VM\'s again, in every process', async () => {
  const q = addVm('reset-vm', '--memory', '1G');
  const a = run(paths, q, ['alloc:600', 'global:100', 'async:100', 'info', 'reset', 'poolused', 'info', 'hold', 'freeall', 'info']);
  await a.waitFor(/holding/);
  const la = a.lines;
  assert.match(la[0]!, /^alloc 600 -> 0$/, la.join('\n'));
  assert.match(la[1]!, /^global 100 -> 0$/);
  assert.match(la[2]!, /^async 100 -> 0$/);
  assert.match(la[3]!, /^info free=224 total=1024 r=0$/);
  assert.match(la[4]!, /^reset -> 0$/);
  // Stream-ordered memory belongs to its pool, which outlives the context: the device still
  // holds it, and so does the quota.
  assert.match(la[5]!, /^poolused default=100 created=0$/);
  assert.match(la[6]!, /^info free=924 total=1024 r=0$/, 'the reset gave back the allocation and the module');

  // Another process of the VM gets what the reset freed.
  const b = run(paths, q, ['info', 'alloc:600', 'global:100', 'ctx:150:50', 'info', 'alloc:224', 'alloc:1', 'info']);
  assert.equal(await b.done, 0, b.lines.join('\n'));
  const lb = b.lines;
  assert.match(lb[0]!, /^info free=924 total=1024 r=0$/);
  assert.match(lb[1]!, /^alloc 600 -> 0$/, 'fits only because the reset freed the first 600 MiB');
  assert.match(lb[2]!, /^global 100 -> 0$/);
  assert.match(lb[3]!, /^ctx 150 50 -> 0,0,0$/, 'an allocation and a module in a context of its own, then cuCtxDestroy');
  assert.match(lb[4]!, /^info free=224 total=1024 r=0$/, 'the destroyed context\'s memory is the VM\'s again');
  assert.match(lb[5]!, /^alloc 224 -> 0$/);
  assert.match(lb[6]!, /^alloc 1 -> 2$/, 'and the quota still holds');
  assert.match(lb[7]!, /^info free=0 total=1024 r=0$/);

  // The stream-ordered allocation survived the reset and is freed like any other. What the other
  // process held stops counting once the mediator has seen its session end.
  await memoryUsed('reset-vm', 100 * 1024 * 1024);
  a.release();
  assert.equal(await a.done, 0);
  assert.match(la[8]!, /^freeall 1 -> 0$/, la.join('\n'));
  assert.match(la[9]!, /^info free=1024 total=1024 r=0$/);
  const c = run(paths, q, ['alloc:600', 'reset', 'alloc:600', 'reset', 'alloc:600', 'info']);
  assert.equal(await c.done, 0, c.lines.join('\n'));
  assert.deepEqual(c.lines.filter((l) => l.startsWith('alloc')), ['alloc 600 -> 0', 'alloc 600 -> 0', 'alloc 600 -> 0'], 'reset after reset');
  assert.match(c.lines[5]!, /^info free=424 total=1024 r=0$/);
});

test('cudaDeviceReset gives a cudart program its memory back under a quota', { skip: nvccAvailable() ? false : 'nvcc not found' }, async () => {
  const q = addVm('cudart-vm', '--memory', '1G');
  const prog = buildCudaProgram('reset_memory', 'static');
  const out = await runCudaProgram(prog, 'static', m.server, { VGPU_TOKEN: q });
  assert.equal(out.code, 0, `${out.stdout}\n${out.stderr.slice(-4000)}`);
  assert.match(out.stdout, /^ok - cudaMalloc of the same size after the reset$/m);
  assert.match(out.stdout, /^# \d+ checks, 0 failed$/m);
});
