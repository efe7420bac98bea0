// CUDA IPC between guest processes (docs/ipc.md): a handle exported by one process of a VM opens in
// another process of the same VM, which sees and changes the same bytes; the memory counts toward
// the VM's quota once. A handle taken to another VM, a forged handle, and the handle of a freed
// allocation or of an exporter that has exited are refused with CUDA_ERROR_INVALID_VALUE, as the driver refuses a
// handle it cannot open. The same holds for the file descriptors of the virtual memory management
// API (cuMemExportToShareableHandle). Memory another process has open stays charged to the VM's
// quota after its exporter frees it or ends, until the last such process closes it or ends, and
// that process keeps its bytes (softgpu does not reuse them).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape } from '../helpers/metrics.js';
import { buildProgram, startGuest, type InteractiveGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

const MIB = 1 << 20;
let m: RunningMediator;
let prog: string;

before(async () => {
  m = await startMediator({ env: { VGPU_SOFTGPU_MEMORY: '2G' } });
  prog = buildProgram('ipc_peer');
});
after(async () => {
  await m?.stop();
});

function addVm(...args: string[]): string {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', ...args, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
  return out.trim().split('\n').at(-1)!;
}

function guest(token: string, ...steps: string[]): InteractiveGuest {
  return startGuest(m.server, token, prog, steps);
}

/** Waits until the mediator records `bytes` held by the VM's sessions. */
async function memoryUsed(vm: string, bytes: number): Promise<void> {
  let now = -1;
  for (let i = 0; i < 600; i++) {
    now = (await scrape(m.admin!)).value('vgpu_vm_memory_used_bytes', { vm });
    if (now === bytes) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${vm} holds ${now} bytes, not ${bytes}`);
}

test('an IPC handle opens in another process of the same VM only, and its memory counts once', async () => {
  const a = addVm('ipc-a', '--memory', '1G');
  const b = addVm('ipc-b');

  const exporter = guest(a, 'alloc:256', 'export', 'hold', 'check', 'hold', 'free', 'alloc:128', 'export', 'hold');
  const line = await exporter.waitFor(/^export -> /);
  const [, res, handle] = /^export -> (\d+) ([0-9a-f]{128})$/.exec(line) ?? [];
  assert.equal(res, '0', `cuIpcGetMemHandle: ${line}\n${exporter.stderr()}`);
  await exporter.waitFor(/holding/);
  await memoryUsed('ipc-a', 256 * MIB);

  // Another process of the VM opens it, sees the exporter's bytes and writes its own.
  const importer = guest(a, `open:${handle!}`, 'info', 'hold', 'close');
  await importer.waitFor(/holding/);
  assert.deepEqual(importer.lines.slice(0, 2), ['open -> 0', 'word a5a5a5a5'], importer.stderr());
  assert.match(importer.lines[2]!, /^info free=768 total=1024 r=0$/, 'the opened memory is not counted a second time');
  await memoryUsed('ipc-a', 256 * MIB);

  // Another VM cannot open it, nor can anyone open a forged handle.
  const stranger = guest(b, `open:${handle!}`);
  assert.equal(await stranger.done, 0, stranger.stderr());
  assert.deepEqual(stranger.lines, ['open -> 1']);
  const forged = guest(a, `open:${'5a'.repeat(64)}`);
  assert.equal(await forged.done, 0, forged.stderr());
  assert.deepEqual(forged.lines, ['open -> 1']);

  // The exporter sees what the importer wrote.
  exporter.step();
  assert.equal(await exporter.waitFor(/^word /), 'word 5a5a5a5a');
  importer.release();
  assert.equal(await importer.done, 0, importer.stderr());
  assert.equal(importer.lines.at(-1), 'close -> 0');

  // A freed allocation's handle opens nowhere.
  exporter.step();
  assert.equal(await exporter.waitFor(/^free -> /), 'free -> 0');
  const second = await exporter.waitFor(new RegExp(`^export -> 0 (?!${handle!})[0-9a-f]{128}$`));
  const again = guest(a, `open:${handle!}`);
  assert.equal(await again.done, 0, again.stderr());
  assert.deepEqual(again.lines, ['open -> 1'], 'the freed allocation');
  const handle2 = second.split(' ')[3]!;

  // Once the exporter has gone, its handles open nowhere.
  exporter.release();
  assert.equal(await exporter.done, 0, exporter.stderr());
  await memoryUsed('ipc-a', 0);
  const late = guest(a, `open:${handle2}`);
  assert.equal(await late.done, 0, late.stderr());
  assert.deepEqual(late.lines, ['open -> 1']);
});

test('a VMM allocation exported as a file descriptor imports in another process of the same VM only, and counts once', async () => {
  const a = addVm('share-a', '--memory', '1G');
  const b = addVm('share-b');

  const exporter = guest(a, 'vmm:256', 'vmmexport', 'hold', 'vmmcheck');
  const line = await exporter.waitFor(/^vmmexport -> /);
  const [, res, path] = /^vmmexport -> (\d+) (\/proc\/\d+\/fd\/\d+)$/.exec(line) ?? [];
  assert.equal(res, '0', `cuMemExportToShareableHandle: ${line}\n${exporter.stderr()}`);
  assert.equal(exporter.lines[0], 'vmm 256 -> 0');
  await exporter.waitFor(/holding/);
  await memoryUsed('share-a', 256 * MIB);

  // The descriptor reaches another process of the VM (here by /proc, as SCM_RIGHTS would).
  const importer = guest(a, `vmmimport:${path!}`, 'info', 'hold');
  await importer.waitFor(/holding/);
  assert.deepEqual(importer.lines.slice(0, 2), ['vmmimport -> 0', 'word a5a5a5a5'], importer.stderr());
  assert.match(importer.lines[2]!, /^info free=768 total=1024 r=0$/, 'the imported allocation is not counted a second time');
  await memoryUsed('share-a', 256 * MIB);

  // In another VM the same descriptor is no handle.
  const stranger = guest(b, `vmmimport:${path!}`);
  assert.equal(await stranger.done, 0, stranger.stderr());
  assert.deepEqual(stranger.lines, ['vmmimport -> 1']);

  exporter.step();
  assert.equal(await exporter.waitFor(/^word /), 'word 5a5a5a5a', 'the exporter sees what the importer wrote');
  importer.release();
  assert.equal(await importer.done, 0, importer.stderr());
  exporter.release();
  assert.equal(await exporter.done, 0, exporter.stderr());
});

/** The `n`th line of `g` matching `re` (1-based), once it has printed it. */
async function nth(g: InteractiveGuest, re: RegExp, n: number): Promise<string> {
  for (;;) {
    const hits = g.lines.filter((l) => re.test(l));
    if (hits.length >= n) return hits[n - 1]!;
    if ((await Promise.race([g.done.then(() => 'done'), new Promise((r) => setTimeout(r, 20))])) === 'done') {
      const after = g.lines.filter((l) => re.test(l));
      if (after.length >= n) return after[n - 1]!;
      assert.fail(`the program ended after ${after.length} lines matching ${re}:\n${g.lines.join('\n')}\n${g.stderr()}`);
    }
  }
}

/** Exports a fresh 768 MiB allocation of `token`'s VM (a quota of 1 GiB) and opens it in a second
 * process, which checks the exporter's bytes and writes its own. */
async function exportAndOpen(token: string, exporterSteps: string[], importerSteps: string[]): Promise<{ exporter: InteractiveGuest; importer: InteractiveGuest }> {
  const exporter = guest(token, 'alloc:768', 'export', 'hold', ...exporterSteps);
  const line = await exporter.waitFor(/^export -> /);
  const [, res, handle] = /^export -> (\d+) ([0-9a-f]{128})$/.exec(line) ?? [];
  assert.equal(res, '0', `cuIpcGetMemHandle: ${line}\n${exporter.stderr()}`);
  await exporter.waitFor(/holding/);
  const importer = guest(token, `open:${handle!}`, 'hold', ...importerSteps);
  await importer.waitFor(/holding/);
  assert.deepEqual(importer.lines.slice(0, 2), ['open -> 0', 'word a5a5a5a5'], importer.stderr());
  return { exporter, importer };
}

const OUT_OF_MEMORY = 2;

/** What a new process of `token`'s VM prints for an allocation of `mib` MiB. */
async function allocation(token: string, mib: number): Promise<string> {
  const g = guest(token, `alloc:${mib}`);
  assert.equal(await g.done, 0, g.stderr());
  return g.lines.join('\n');
}

test('memory the exporter freed counts toward the quota while another process has it open', async () => {
  const a = addVm('ipc-hold', '--memory', '1G');
  const { exporter, importer } = await exportAndOpen(a, ['free', 'alloc:512', 'alloc:128', 'hold', 'alloc:512', 'hold'], ['peek', 'hold', 'close', 'hold']);
  await memoryUsed('ipc-hold', 768 * MIB);

  // Freed by its exporter, it is still the VM's: 768 + 512 MiB is more than the quota, 768 + 128 is not.
  exporter.step();
  await nth(exporter, /holding/, 2);
  assert.deepEqual(exporter.lines.slice(-4), ['free -> 0', `alloc 512 -> ${OUT_OF_MEMORY}`, 'alloc 128 -> 0', 'holding'], exporter.stderr());
  await memoryUsed('ipc-hold', (768 + 128) * MIB);

  // The process that has it open still reaches its own bytes, not the exporter's next allocation's.
  importer.step();
  assert.equal(await nth(importer, /^word /, 2), 'word 5a5a5a5a');
  await nth(importer, /holding/, 2);

  // Closed by the last process that had it open, it is free for the VM again.
  importer.step();
  assert.equal(await importer.waitFor(/^close -> /), 'close -> 0');
  await memoryUsed('ipc-hold', 128 * MIB);
  exporter.step();
  await nth(exporter, /holding/, 3);
  assert.equal(exporter.lines.at(-2), 'alloc 512 -> 0', exporter.stderr());

  importer.release();
  exporter.release();
  assert.equal(await importer.done, 0, importer.stderr());
  assert.equal(await exporter.done, 0, exporter.stderr());
  await memoryUsed('ipc-hold', 0);
});

test('memory of an exporter that ended counts toward the quota until the last process that has it open ends', async () => {
  const a = addVm('ipc-orphan', '--memory', '1G');
  const { exporter, importer } = await exportAndOpen(a, [], ['peek', 'hold']);
  exporter.release();
  assert.equal(await exporter.done, 0, exporter.stderr());
  await memoryUsed('ipc-orphan', 768 * MIB);

  assert.equal(await allocation(a, 512), `alloc 512 -> ${OUT_OF_MEMORY}`);
  importer.step();
  assert.equal(await nth(importer, /^word /, 2), 'word 5a5a5a5a', 'the bytes outlive their exporter');
  await nth(importer, /holding/, 2);

  // The process that had it open ends without closing it: the memory is the VM's no longer.
  importer.release();
  assert.equal(await importer.done, 0, importer.stderr());
  await memoryUsed('ipc-orphan', 0);
  assert.equal(await allocation(a, 512), 'alloc 512 -> 0');
});

test('a VMM allocation imported elsewhere counts toward the quota after its exporter ends, until its importer ends', async () => {
  const a = addVm('share-orphan', '--memory', '1G');
  const exporter = guest(a, 'vmm:768', 'vmmexport', 'hold');
  const line = await exporter.waitFor(/^vmmexport -> /);
  const [, res, path] = /^vmmexport -> (\d+) (\/proc\/\d+\/fd\/\d+)$/.exec(line) ?? [];
  assert.equal(res, '0', `cuMemExportToShareableHandle: ${line}\n${exporter.stderr()}`);
  await exporter.waitFor(/holding/);
  const importer = guest(a, `vmmimport:${path!}`, 'hold');
  await importer.waitFor(/holding/);
  assert.deepEqual(importer.lines.slice(0, 2), ['vmmimport -> 0', 'word a5a5a5a5'], importer.stderr());

  exporter.release();
  assert.equal(await exporter.done, 0, exporter.stderr());
  await memoryUsed('share-orphan', 768 * MIB);
  assert.equal(await allocation(a, 512), `alloc 512 -> ${OUT_OF_MEMORY}`);

  importer.release();
  assert.equal(await importer.done, 0, importer.stderr());
  await memoryUsed('share-orphan', 0);
  assert.equal(await allocation(a, 512), 'alloc 512 -> 0');
});
