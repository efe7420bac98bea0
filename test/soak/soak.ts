// `make soak` (docs/operations.md, "Soak"): SOAK_MINUTES (default 60) of SOAK_GUESTS (default 16)
// guests of four VMs (one with a small memory quota, two of unequal weights) doing random
// work whose every result is checked (test/programs/soak.c: allocations, copies, memsets, launches,
// replayed graphs), each guest a process that ends after a random number of rounds and is
// replaced by a new one, while an executor (a session's or a spare) is killed every
// SOAK_KILL_EVERY_S seconds on average (default 20; 0: never). A guest whose executor is killed
// sees CUDA_ERROR_DEVICE_UNAVAILABLE: its run counts as interrupted, not failed.
//
// It prints, each minute and at the end: calls, bytes verified, bytes corrupt, guest runs
// (completed, interrupted, failed, hung), executors killed, crashes (the mediator or an executor
// that exited without being killed), and the mediator's memory; at the end, once every guest has
// gone, what leaked: the mediator's descriptors and executor processes beyond those at the start,
// the spare executor's descriptors against the first spare's, sessions still listed, and device
// memory still counted for a VM. Exits 1 when anything was corrupt, failed, hung, crashed or
// leaked.
//
// With SOAK_MEDIATOR_KILL_EVERY_S (default 0: never), the mediator itself is killed with SIGKILL
// that often on average and a new one started on the same state directory, which adopts the
// running sessions (docs/executors.md): a guest whose session was attached must go on unharmed; a
// guest that was starting (in its handshake, or connecting while no mediator listened) fails its
// first call and counts as interrupted. The leak check then compares the last mediator with itself
// at its start, and executors are found by their control socket, since adopted ones are no
// mediator's children.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { adminGet, sessionList, sessionsAfter } from '../helpers/burst.js';
import { Scrape } from '../helpers/metrics.js';
import { buildProgram, kernelsFatbin } from '../helpers/programs.js';
import { BIN, BUILD } from '../helpers/paths.js';

function setting(name: string, def: number): number {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number >= 0`);
  return v;
}

const MINUTES = setting('SOAK_MINUTES', 60);
const GUESTS = Math.max(1, Math.round(setting('SOAK_GUESTS', 16)));
const KILL_EVERY_S = setting('SOAK_KILL_EVERY_S', 20);
const MEDIATOR_KILL_EVERY_S = setting('SOAK_MEDIATOR_KILL_EVERY_S', 0);
/** A guest that finishes no round for this long is killed and counted as hung, after what the
 * mediator holds for it is written down. A round is a dozen calls: under a second even for a
 * guest of the lightest VM sharing the GPU with 15 others on a loaded 2-core host. */
const HANG_MS = 120_000;
/** CUDA_ERROR_DEVICE_UNAVAILABLE: what a guest's calls return once its session is lost. */
const DEVICE_UNAVAILABLE = 46;

/** The VMs the guests belong to, round-robin. The quota is small enough that the VM's sessions
 * must give back each other's unused reservations (trim) for their allocations to fit. All are of
 * one priority class: while a higher class keeps the GPU busy, a lower one gets a slice only from
 * the starvation guard, about one call a second for a guest of synchronous calls (test/programs/
 * soak.c), which would turn its runs into the "hangs" this soak looks for. */
const VMS: Array<{ name: string; args: string[] }> = [
  { name: 'soak-quota', args: ['--memory', '96M'] },
  { name: 'soak-heavy', args: ['--weight', '300'] },
  { name: 'soak-light', args: ['--weight', '50'] },
  { name: 'soak-plain', args: [] },
];

// ---- processes (Linux /proc) --------------------------------------------------------------------

/** Executors of the state directory's mediators, whoever started them (by their command line). */
function executorsOf(stateDir: string): number[] {
  const mark = `--control\0${join(stateDir, 'executors.sock')}\0`;
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(mark)) out.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** What each descriptor is (pipe:[N], socket:[N], a path), for a leak report. */
function fdList(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return `${fd}=${readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
      } catch {
        return `${fd}=?`;
      }
    });
  } catch {
    return [];
  }
}

/** VmRSS and VmHWM (peak) in MiB. */
/** RSS and peak in MiB; -1 for a process that has just gone (the mediator killer races this). */
function memory(pid: number): { rss: number; peak: number } {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return { rss: -1, peak: -1 };
  }
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

// ---- the run ------------------------------------------------------------------------------------

interface Totals {
  calls: number;
  verified: number;
  corrupt: number;
  completed: number;
  interrupted: number;
  failed: number;
  hung: number;
  kills: number;
  mediatorKills: number;
}

const t: Totals = { calls: 0, verified: 0, corrupt: 0, completed: 0, interrupted: 0, failed: 0, hung: 0, kills: 0, mediatorKills: 0 };
/** The mediator running now (replaced at each mediator kill), every one started, and when each
 * kill's restart window was (ms: killed, listening again). */
const cur: { m: RunningMediator; all: RunningMediator[]; restarts: Array<{ from: number; to: number }>; restarting: boolean } = {
  m: undefined as unknown as RunningMediator, all: [], restarts: [], restarting: false,
};
const failures: string[] = [];
const killed = new Set<number>();
let stopping = false;

/** One guest process: `rounds` rounds of soak.c; its lines are counted as they come. */
function guestRun(m: RunningMediator, prog: string, fatbin: string, token: string, seed: number, rounds: number): Promise<void> {
  return new Promise((resolve) => {
    const p = spawn(join(BIN, 'vgpu-run'), ['--server', m.server, '--token', token, '--', prog, fatbin, String(seed), String(rounds)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VGPU_LOG: 'info' } });
    let buf = '';
    let err = '';
    const began = Date.now();
    let progress = began;
    let seen = 0;
    let error: { call: string; code: number } | undefined;
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => (err = (err + d).slice(-2000)));
    p.stdout.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        progress = Date.now();
        if (line[0] === 'round') {
          seen++;
          t.calls += Number(line[1]);
          t.verified += Number(line[2]);
          t.corrupt += Number(line[3]);
          if (Number(line[3]) > 0) failures.push(`seed ${seed}: ${line[3]} corrupt bytes in a round`);
        } else if (line[0] === 'error') {
          error = { call: line.slice(1, -1).join(' '), code: Number(line.at(-1)) };
        }
      }
    });
    let hung = false;
    const timer = setInterval(() => {
      if (hung || Date.now() - progress < HANG_MS) return;
      hung = true;
      void hangReport(cur.m, p.pid!, seed).finally(() => p.kill('SIGKILL'));
    }, 1000);
    p.on('close', (code, signal) => {
      clearInterval(timer);
      if (hung) {
        t.hung++;
        failures.push(`seed ${seed}: hung (no round finished in ${HANG_MS / 1000} s): ${err.trim().split('\n').slice(-2).join(' | ')}`);
      } else if (code === 0) t.completed++;
      else if (code === 4 && error?.code === DEVICE_UNAVAILABLE) t.interrupted++;
      // Started while a mediator was being replaced: its handshake had no mediator to finish it.
      // (A replacement still under way counts too: on a loaded machine a new mediator can take
      // seconds to listen, and every guest started meanwhile fails at once; the 60-minute run
      // recorded in docs/operations.md counted those as failures.)
      else if (seen === 0 && (cur.restarting || cur.restarts.some((r) => r.to >= began))) t.interrupted++;
      else {
        t.failed++;
        failures.push(`seed ${seed}: exit ${code ?? signal}${error ? ` at ${error.call} (${error.code})` : ''}: ${err.trim().split('\n').slice(-2).join(' | ')}`);
      }
      resolve();
    });
  });
}

/** What a hung guest and the mediator's session for it look like, written to build/soak/. */
async function hangReport(m: RunningMediator, pid: number, seed: number): Promise<void> {
  const file = join(BUILD, 'soak', `hang-${seed}.log`);
  const lines: string[] = [`guest pid ${pid}, seed ${seed}`];
  const proc = (what: string): string => {
    try {
      return readFileSync(`/proc/${pid}/${what}`, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  lines.push(`guest wchan ${proc('wchan')}, syscall ${proc('syscall')}`);
  try {
    const s = (await sessionList(m)).find((x) => x.guestPid === pid);
    lines.push(`session ${JSON.stringify(s ?? null)}`);
    lines.push(new Scrape(await adminGet(m, '/metrics')).value('vgpu_sched_waiting') + ' waiting for a GPU');
    for (const l of m.logs) {
      // Log lines carry the session id as a string.
      if ((s && (l.session === String(s.id) || (s.executorPid !== null && (l.executorPid === s.executorPid || l.pid === s.executorPid)))) || l.guestPid === pid) {
        lines.push(JSON.stringify(l));
      }
    }
  } catch (e) {
    lines.push(`cannot read the mediator: ${(e as Error).message}`);
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${lines.join('\n')}\n`);
  failures.push(`seed ${seed}: what the mediator held for the hung guest is in ${file}`);
}

async function guestSlot(m: RunningMediator, prog: string, fatbin: string, token: string, slot: number): Promise<void> {
  for (let run = 0; !stopping; run++) {
    await guestRun(m, prog, fatbin, token, slot * 1_000_000 + run, 20 + Math.floor(Math.random() * 100));
  }
}

async function killer(m: RunningMediator): Promise<void> {
  while (!stopping) {
    await sleep(KILL_EVERY_S * 1000 * (0.5 + Math.random()));
    if (stopping) return;
    const pids = executorsOf(m.stateDir);
    const pid = pids[Math.floor(Math.random() * pids.length)];
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.add(pid);
      t.kills++;
    } catch {
      /* it ended meanwhile */
    }
  }
}

/** Kills the mediator with SIGKILL at random and starts a new one on its state directory. */
async function mediatorKiller(env: Record<string, string>): Promise<void> {
  while (!stopping) {
    await sleep(MEDIATOR_KILL_EVERY_S * 1000 * (0.5 + Math.random()));
    if (stopping) return;
    const from = Date.now();
    const old = cur.m;
    cur.restarting = true;
    const exited = new Promise((r) => old.proc.once('exit', r));
    old.proc.kill('SIGKILL');
    await exited;
    t.mediatorKills++;
    cur.m = await startMediator({ stateDir: old.stateDir, env });
    cur.all.push(cur.m);
    cur.restarts.push({ from, to: Date.now() });
    cur.restarting = false;
  }
}

/** Executor exits the mediators logged that the soak did not cause, and their error lines. */
function crashes(): { executors: string[]; errors: Map<string, number> } {
  const executors: string[] = [];
  const errors = new Map<string, number>();
  for (const l of cur.all.flatMap((m) => m.logs)) {
    const msg = String(l.msg ?? l.raw ?? '');
    if (['executor exited', 'spare executor exited', 'executor exited before it was ready'].includes(msg)) {
      const bad = (l.code !== 0 && l.code !== undefined && l.code !== null) || (l.signal !== null && l.signal !== undefined);
      if (bad && !killed.has(Number(l.executorPid))) executors.push(`${msg}: pid ${String(l.executorPid)} code ${String(l.code)} signal ${String(l.signal)}`);
    }
    if (Number(l.level ?? 0) >= 50) errors.set(msg, (errors.get(msg) ?? 0) + 1);
  }
  return { executors, errors };
}

/** The running mediator's RSS each minute (MiB; none while a killed one is being replaced). */
const rssByMinute: number[] = [];

const median = (xs: number[]): number => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length === 0 ? NaN : a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
};

/**
 * Whether the mediator's memory grows over the run: the median RSS of the last ten minutes against
 * that of minutes 11 to 20. The first ten are left out: the heap grows to its working size there,
 * under the guests' load, from the idle mediator's size at the start.
 */
function rssTrend(): string {
  if (rssByMinute.length < 30) return `per minute ${rssByMinute.join(' ')} MiB (the trend needs 30 minutes)`;
  const warm = median(rssByMinute.slice(10, 20));
  const last = median(rssByMinute.slice(-10));
  return `median ${warm} MiB in minutes 11-20, ${last} MiB in the last 10 (${(((last - warm) / warm) * 100).toFixed(1)}%); per minute ${rssByMinute.join(' ')}`;
}

function report(started: number, final = false): void {
  const m = cur.m;
  const mem = m.proc.exitCode === null ? memory(m.proc.pid!) : { rss: -1, peak: -1 };
  const c = crashes();
  const line = {
    minutes: Math.round((Date.now() - started) / 6000) / 10,
    calls: t.calls,
    verifiedMiB: Math.round(t.verified / 1048576),
    corruptBytes: t.corrupt,
    runs: { completed: t.completed, interrupted: t.interrupted, failed: t.failed, hung: t.hung },
    executorsKilled: t.kills,
    mediatorsKilled: t.mediatorKills,
    // A mediator the soak itself is replacing has not crashed.
    crashes: c.executors.length + (cur.restarting || (m.proc.exitCode === null && m.proc.signalCode === null) ? 0 : 1),
    mediatorRssMiB: mem.rss,
    executorsAlive: executorsOf(m.stateDir).length,
  };
  if (!final && mem.rss > 0) rssByMinute.push(mem.rss);
  console.log(`${final ? 'final' : 'progress'} ${JSON.stringify(line)}`);
}

async function settle(m: RunningMediator, spares: number): Promise<void> {
  for (let i = 0; i < 150 && executorsOf(m.stateDir).length !== spares; i++) await sleep(200);
  await sleep(1000); // the spare's start finishes
}

async function main(): Promise<number> {
  const prog = buildProgram('soak');
  const fatbin = kernelsFatbin();
  // SOAK_LOG_LEVEL=debug keeps the scheduler's grants and yields for the hang reports.
  const env = { VGPU_LOG: process.env.SOAK_LOG_LEVEL ?? 'info' };
  const stateDir = mkdtempSync(join(tmpdir(), 'vgpu-soak-'));
  const first = await startMediator({ stateDir, env });
  cur.m = first;
  cur.all.push(first);
  const m = first;
  const mpid = m.proc.pid!;
  try {
    const tokens = VMS.map((v) => execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', v.name, ...v.args, '--print-token', '--state-dir', m.stateDir],
      { encoding: 'utf8' }).trim().split('\n').at(-1)!);
    await adminGet(m, '/v1/sessions');
    await settle(m, 1);
    const start = { fds: fdCount(mpid), fdList: fdList(mpid), executors: executorsOf(stateDir).length, spareFds: fdCount(executorsOf(stateDir)[0] ?? -1), ...memory(mpid) };
    console.log(`soak: ${MINUTES} min, ${GUESTS} guests of ${VMS.length} VMs, an executor killed every ${KILL_EVERY_S || 'never'} s and the mediator every ${MEDIATOR_KILL_EVERY_S || 'never'} s on average; mediator pid ${mpid}, ${start.rss} MiB, ${start.fds} descriptors`);
    const started = Date.now();
    // Guests reach whichever mediator runs: each listens on the same socket of the state directory.
    const slots = Array.from({ length: GUESTS }, (_, i) => guestSlot(m, prog, fatbin, tokens[i % tokens.length]!, i));
    const kill = KILL_EVERY_S > 0 ? killer(m) : Promise.resolve();
    const killMediator = MEDIATOR_KILL_EVERY_S > 0 ? mediatorKiller(env) : Promise.resolve();
    let maxExecFds = 0;
    const progress = setInterval(() => report(started), 60_000);
    const end = started + MINUTES * 60_000;
    const up = (): boolean => cur.restarting || (cur.m.proc.exitCode === null && cur.m.proc.signalCode === null);
    for (let s = 0; Date.now() < end && up(); s++) {
      if (s % 10 === 0) for (const pid of executorsOf(stateDir)) maxExecFds = Math.max(maxExecFds, fdCount(pid));
      await sleep(1000);
    }
    stopping = true;
    clearInterval(progress);
    await Promise.all([...slots, kill, killMediator]);
    const last = cur.m;
    const lpid = last.proc.pid!;
    const alive = last.proc.exitCode === null && last.proc.signalCode === null;
    let leaks: Record<string, number> = {};
    if (alive) {
      const left = await sessionsAfter(last);
      await settle(last, start.executors);
      const fds = fdCount(lpid);
      // A restarted mediator has no start of the run to compare with: its descriptors are not
      // checked (the executors' and the sessions' are).
      if (lpid === mpid && fds !== start.fds) console.log(`mediator descriptors: ${start.fdList.join(' ')} at start; ${fdList(mpid).join(' ')} at end`);
      const metrics = new Scrape(await adminGet(last, '/metrics'));
      const spare = executorsOf(stateDir)[0] ?? -1;
      leaks = {
        mediatorFds: lpid === mpid ? fds - start.fds : 0,
        executors: executorsOf(stateDir).length - start.executors,
        spareExecutorFds: fdCount(spare) - start.spareFds,
        sessionsListed: left.length,
        deviceMemoryCounted: metrics.value('vgpu_vm_memory_used_bytes'),
        sessionsCounted: metrics.value('vgpu_sessions'),
      };
    }
    report(started, true);
    const c = crashes();
    const mem = alive ? memory(lpid) : { rss: -1, peak: -1 };
    console.log(`mediator: ${alive ? 'up' : 'DOWN'}; RSS ${start.rss} MiB at start, ${mem.rss} MiB at end (peak ${mem.peak} MiB)${lpid === mpid ? '' : ` in mediator ${lpid}, started by the soak's last restart`}; descriptors ${start.fds} at start`);
    console.log(`mediator RSS: ${rssTrend()}`);
    console.log(`executors: ${start.spareFds} descriptors in a fresh spare; at most ${maxExecFds} in one executor during the run`);
    console.log(`leaks: ${JSON.stringify(leaks)}`);
    for (const e of c.executors) console.log(`crash: ${e}`);
    for (const [msg, n] of c.errors) console.log(`error lines: ${n} x ${msg}`);
    for (const f of failures.slice(0, 20)) console.log(`failure: ${f}`);
    const leaked = Object.values(leaks).some((v) => v !== 0);
    const bad = t.corrupt > 0 || t.failed > 0 || t.hung > 0 || c.executors.length > 0 || !alive || leaked;
    if (bad) {
      const file = join(BUILD, 'soak', 'mediator.log');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${cur.all.flatMap((x) => x.logs).map((l) => JSON.stringify(l)).join('\n')}\n`);
      console.log(`the mediator's log is in ${file}`);
    }
    console.log(bad ? 'soak FAILED' : 'soak passed');
    return bad ? 1 : 0;
  } finally {
    stopping = true;
    await cur.m.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
