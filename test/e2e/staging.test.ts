// Staging and the copy lane (docs/executors.md): while one VM holds the GPU in a long kernel,
// another VM's host-to-device copy runs at once on the copy lane (the default); with the lane off,
// its data is received by its executor ahead of its turn, up to the session's share of the host's
// staging bound, and no further: beyond it the guest's writes back up. What is asserted is what
// the mediator recorded (/metrics), what the guests printed and the data the waiting guest reads
// back, never how long anything took.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { READ_MAX } from '../../src/protocol/frame.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape, type Scrape } from '../helpers/metrics.js';
import { buildProgram, kernelsFatbin, startGuest, type InteractiveGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

const MIB = 2 ** 20;
/** The host's staging bound: with the two sessions of the test attached, each may stage half. */
const HOST_MAX = 12 * MIB;
const SHARE = HOST_MAX / 2;
/** What the waiting guest copies: several times its share, so its writes must back up. */
const COPY_MIB = 48;
/** What the copier copies with the lane on: one piece (guest/cuda/impl/memory.c, CHUNK). */
const LANE_MIB = 4;
/** Iterations per thread of the hog's kernel: hours of CPU on softgpu (the test kills it). */
const FOREVER = '2000000000';

const STAGING_ARGS = ['--staging-max', String(HOST_MAX), '--staging-session-max', '64M'];

let m: RunningMediator;
let lane: RunningMediator;

before(async () => {
  m = await startMediator({ args: [...STAGING_ARGS, '--copy-lane', 'off'] });
  lane = await startMediator({ args: STAGING_ARGS });
});
after(async () => {
  await m?.stop();
  await lane?.stop();
});

function addVm(on: RunningMediator, name: string, ...opts: string[]): string {
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', name, ...opts, '--print-token', '--state-dir', on.stateDir], { encoding: 'utf8' });
  return out.trim().split('\n').at(-1)!;
}

/** Scrapes until `ok` holds (executors report about once a second); the last scrape either way. */
async function scrapeUntil(on: RunningMediator, ok: (s: Scrape) => boolean): Promise<Scrape> {
  let s = await scrape(on.admin!);
  for (let i = 0; i < 240 && !ok(s); i++) {
    await sleep(250);
    s = await scrape(on.admin!);
  }
  return s;
}

/** VM `name` copies `mib` MiB to the device while VM hogger's endless kernel holds the GPU (its
 * guest waits in cuCtxSynchronize; with no hold limit it is never ended). */
async function copyBesideHog(on: RunningMediator, name: string, mib: number, shm = false): Promise<{ copier: InteractiveGuest; hog: InteractiveGuest }> {
  const hogName = shm ? `${name}-hog` : 'hogger';
  const copierTok = addVm(on, name);
  const hogTok = addVm(on, hogName, '--max-hold', 'off');
  const args = [String(mib), 'pattern', 'wait', ...(shm ? ['warm'] : [])];
  const copier = startGuest(on.server, copierTok, buildProgram('stage_copy'), args, shm ? {} : { VGPU_SHM_SIZE: '0' });
  await copier.waitFor(/^# ready/);
  const hog = startGuest(on.server, hogTok, buildProgram('hog'), [kernelsFatbin(), FOREVER]);
  await hog.waitFor(/syncing/);
  // The hog's launches go out without waiting for its GPU: the copier steps once the mediator
  // granted the hog its slice, so the copier holds none when its copy comes.
  const held = await scrapeUntil(on, (x) => x.value('vgpu_sched_grants_total', { vm: hogName }) > 0);
  assert.ok(held.value('vgpu_sched_grants_total', { vm: hogName }) > 0, 'the hog was granted the GPU');
  copier.step();
  return { copier, hog };
}

test("without the copy lane, a waiting VM's copy is staged up to its share while another VM holds the GPU, then arrives intact", async () => {
  const { copier: stager, hog } = await copyBesideHog(m, 'stager', COPY_MIB);
  const vm = { vm: 'stager' };
  const s = await scrapeUntil(m, (x) => x.value('vgpu_vm_staging_stalls_total', vm) > 0 && x.value('vgpu_vm_staged_bytes_total', vm) >= SHARE);
  const staged = s.value('vgpu_vm_staged_bytes_total', vm);
  const peak = s.value('vgpu_vm_staged_peak_bytes', vm);
  assert.ok(staged >= SHARE, `bytes received while the other VM held the GPU: ${staged}`);
  assert.ok(s.value('vgpu_vm_staging_stalls_total', vm) > 0, 'reading stopped at the share');
  assert.ok(peak > 0 && peak <= SHARE + READ_MAX, `most bytes held unserved at once: ${peak}, share ${SHARE}`);
  assert.equal(stager.lines.some((l) => l.startsWith('ok - HtoD')), false, 'the copy waits for the GPU');

  hog.kill('SIGKILL'); // its kernel is abandoned and the GPU goes to the stager
  assert.equal(await stager.done, 0, `${stager.lines.join('\n')}\n${stager.stderr()}`);
  assert.deepEqual(stager.lines.filter((l) => l.startsWith('not ok')), []);
  assert.ok(stager.lines.includes('ok - every byte arrived'), stager.lines.join('\n'));
  await hog.done;
  // Once the hog's session ended the stager was the only one attached: its share became the whole
  // host bound, which it may have used before its turn came.
  const after = await scrapeUntil(m, (x) => x.value('vgpu_vm_staged_peak_bytes', vm) > 0);
  const peakAfter = after.value('vgpu_vm_staged_peak_bytes', vm);
  assert.ok(peakAfter <= HOST_MAX + READ_MAX, `the host's bound held to the end: ${peakAfter}`);
});

test("with the copy lane, a VM's host-to-device copy runs while another VM holds the GPU; what needs the GPU still waits", { timeout: 180_000 }, async () => {
  // One piece (4 MiB): the lane serves at least one piece after a slice whatever it costs; more
  // than that it serves only within its budget (docs/executors.md, "Copy lane"; the budget itself
  // is tested in test/executor/serve.test.ts, where the time a copy is charged is known).
  const { copier, hog } = await copyBesideHog(lane, 'copier', LANE_MIB);
  // The copy completes with the hog's kernel still running (the hog never yields: no hold limit).
  // Asked of the metrics first, which give up after a minute, rather than waiting on the guest.
  const vm = { vm: 'copier' };
  const s = await scrapeUntil(lane, (x) => x.value('vgpu_vm_copy_lane_bytes_total', vm) >= LANE_MIB * MIB);
  assert.ok(s.value('vgpu_vm_copy_lane_bytes_total', vm) >= LANE_MIB * MIB, 'the copy was served on the lane');
  // Only what followed the copy (its read-back) waited for the GPU: nothing was held back by the share.
  assert.ok(s.value('vgpu_vm_staged_bytes_total', vm) < MIB, `staged: ${s.value('vgpu_vm_staged_bytes_total', vm)}`);
  assert.equal(s.value('vgpu_vm_staging_stalls_total', vm), 0);
  await finishBesideHog(copier, hog, ['ok - every byte arrived', 'ok - every byte arrived asynchronously']);
});

/** The copy completed while the hog still runs, and what followed it (the read-back) still waits
 * for the GPU; once the hog is killed the copier finishes, every line in `checks` passed. */
async function finishBesideHog(copier: InteractiveGuest, hog: InteractiveGuest, checks: string[]): Promise<void> {
  assert.equal(await copier.waitFor(/HtoD from pageable memory/), 'ok - HtoD from pageable memory');
  assert.equal(copier.lines.some((l) => l.startsWith('ok - DtoH')), false, 'the read-back waits for the GPU');
  assert.equal(hog.lines.some((l) => l.startsWith('sync ->')), false, 'the hog still runs');
  hog.kill('SIGKILL');
  assert.equal(await copier.done, 0, `${copier.lines.join('\n')}\n${copier.stderr()}`);
  assert.deepEqual(copier.lines.filter((l) => l.startsWith('not ok')), []);
  for (const c of checks) assert.ok(copier.lines.includes(c), copier.lines.join('\n'));
  await hog.done;
}

test("with the copy lane, a pageable copy the guest stages through shared memory runs while another VM holds the GPU too", { timeout: 180_000 }, async () => {
  // The guest's default: a local process has a region, and a synchronous copy of pageable memory
  // goes through its staging block (guest/cuda/impl/memory.c) as vgShmHtoD, which the lane serves.
  // The block is set up before the hog holds the GPU (its calls wait for the slice).
  const { copier, hog } = await copyBesideHog(lane, 'shm-copier', LANE_MIB, true);
  const vm = { vm: 'shm-copier' };
  const s = await scrapeUntil(lane, (x) => x.value('vgpu_vm_shm_bytes_total', { ...vm, direction: 'in' }) >= LANE_MIB * MIB);
  assert.ok(s.value('vgpu_vm_shm_bytes_total', { ...vm, direction: 'in' }) >= LANE_MIB * MIB, 'the copy went through the region');
  assert.ok(s.value('vgpu_vm_bytes_total', { ...vm, direction: 'in' }) < MIB, `its bytes did not cross the socket: ${s.value('vgpu_vm_bytes_total', { ...vm, direction: 'in' })}`);
  await finishBesideHog(copier, hog, ['ok - every byte arrived']);
});
