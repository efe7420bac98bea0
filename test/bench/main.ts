// `make bench`: vgpu's figures next to baselines measured in the same run, printed as ratios
// (docs/benchmarks.md records the figures as measured). Never run by `make test`: speed is
// measured here, not asserted in tests. Arguments name the figures to run (sync, copy, scale,
// scale-launch, compress, launch, sgemm, discovery, tls, startup; all when none), e.g.
// `node dist/test/bench/main.js launch`.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os, { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { sessionList, sessionsAfter } from '../helpers/burst.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { BUILD, GUEST_LIB_DIR, ROOT } from '../helpers/paths.js';
import { childrenOf, commandLine } from '../helpers/procs.js';

const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';
const out = join(BUILD, 'bench');

interface Programs {
  raw: string;
  guest: string;
  direct: string;
  fatbin: string;
  /** test/bench/startup.c through vgpu, and straight on softgpu (the baseline). */
  startup: string;
  startupDirect: string;
}

function build(): Programs {
  mkdirSync(out, { recursive: true });
  const raw = join(out, 'raw');
  const guest = join(out, 'guest');
  const direct = join(out, 'direct');
  const fatbin = join(out, 'kernels.fatbin');
  const softgpuDir = join(BUILD, 'softgpu');
  execFileSync('cc', ['-std=c11', '-O2', '-D_GNU_SOURCE', '-o', raw, join(ROOT, 'test/bench/raw.c')], { stdio: 'inherit' });
  execFileSync('cc', ['-std=c11', '-O2', '-D_GNU_SOURCE', `-I${CUDA_HOME}/include`, '-o', guest, join(ROOT, 'test/bench/guest.c'),
    `-L${GUEST_LIB_DIR}`, '-lcuda'], { stdio: 'inherit' });
  // The same program straight on softgpu, in-process: the baseline for launch rate.
  execFileSync('cc', ['-std=c11', '-O2', '-D_GNU_SOURCE', `-I${CUDA_HOME}/include`, '-o', direct, join(ROOT, 'test/bench/guest.c'),
    `-L${softgpuDir}`, `-Wl,-rpath,${softgpuDir}`, '-lvgpu-softgpu'], { stdio: 'inherit' });
  execFileSync(join(CUDA_HOME, 'bin', 'nvcc'), ['-fatbin', '-o', fatbin, join(ROOT, 'test/programs/kernels.cu')], { stdio: 'inherit' });
  const startup = join(out, 'startup');
  const startupDirect = join(out, 'startup-direct');
  execFileSync('cc', ['-std=c11', '-O2', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', `-I${CUDA_HOME}/include`, '-o', startup, join(ROOT, 'test/bench/startup.c'),
    `-L${GUEST_LIB_DIR}`, '-lcuda'], { stdio: 'inherit' });
  execFileSync('cc', ['-std=c11', '-O2', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', `-I${CUDA_HOME}/include`, '-o', startupDirect, join(ROOT, 'test/bench/startup.c'),
    `-L${softgpuDir}`, `-Wl,-rpath,${softgpuDir}`, '-lvgpu-softgpu'], { stdio: 'inherit' });
  return { raw, guest, direct, fatbin, startup, startupDirect };
}

function runJson(cmd: string, args: string[], env: Record<string, string> = {}): Record<string, number> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
}

/** Student's t, two-sided 95%, for 1 to 19 degrees of freedom. */
const T95 = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09];

/** The mean of `xs` (2 to 20 values) and its 95% confidence interval. Where two things the bench
 * compares should be equal (random data with compression on and off), the interval says how far
 * apart this machine's noise leaves them, which a median alone does not. */
function meanInterval(xs: number[]): { mean: number; lo: number; hi: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = T95[n - 2]! * sd / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeProcess(cmd: string, args: string[], env: Record<string, string>, runs: number): number {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env: { ...process.env, ...env } });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ms);
}

/** A Node echo server in its own process (the measurements block this one): the same runtime the
 * executor runs on, so its round trip is the floor for any Node executor. */
async function nodeEcho(path: string): Promise<ChildProcess> {
  const code = `require('net').createServer((s) => s.on('data', (d) => s.write(d))).listen(process.argv[1], () => console.log('ready'));`;
  const p = spawn(process.execPath, ['-e', code, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', (c) => reject(new Error(`echo server exited with ${c}`)));
  });
  return p;
}

interface Row {
  what: string;
  vgpu: string;
  baseline: string;
  ratio: string;
  bar: string;
}

const FIGURES = ['sync', 'copy', 'scale', 'scale-launch', 'compress', 'launch', 'sgemm', 'discovery', 'tls', 'startup'] as const;
type Figure = (typeof FIGURES)[number];

function selectedFigures(args: readonly string[]): ReadonlySet<Figure> {
  for (const a of args) {
    if (!(FIGURES as readonly string[]).includes(a)) throw new Error(`unknown figure '${a}' (one of: ${FIGURES.join(', ')})`);
  }
  return new Set(args.length ? (args as Figure[]) : FIGURES);
}

/** Launch-rate pairs per invocation. Each pair measures the in-process baseline and then vgpu
 * right after it; on a shared machine either can land in a busy moment, so the figure is the
 * median over the pairs, with their range next to it. */
const LAUNCH_PAIRS = Number(process.env.VGPU_BENCH_LAUNCH_PAIRS ?? '5');

const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

/** Guests working at once for the aggregate figures, what each copies, and how many empty
 * kernels each launches. */
const SCALE_GUESTS = [1, 2, 4, 8] as const;
const SCALE_MIB = 32;
/** 2 GiB per guest: one guest alone then copies for ~0.3 s at this machine's 6 GB/s. With the 8
 * passes used before (256 MiB, ~50 ms alone once copies reached 5 GB/s) a run was as short as the
 * guests' start skew and a few scheduler ticks, and the pairs measured those rather than a rate
 * (docs/benchmarks.md, "Aggregate HtoD at 4 guests"). */
const SCALE_PASSES = Number(process.env.VGPU_BENCH_SCALE_PASSES ?? '64');
const SCALE_LAUNCHES = 100_000;
/** Alternated pairs (compression on, then off) of the random-data compression figure. */
const COMPRESS_PAIRS = Number(process.env.VGPU_BENCH_COMPRESS_PAIRS ?? '9');
/** Pairs (one guest, then n) per count of guests in the aggregate copy figures. */
const SCALE_PAIRS = Number(process.env.VGPU_BENCH_SCALE_PAIRS ?? '3');

/** Runs `n` guests (`guest args`) together: each sets up, then all start their measured work at
 * one agreed moment (VGPU_BENCH_START_AT; session starts are not what this measures) and print
 * when it began and ended. Returns the seconds from the first start to the last end. */
async function together(guest: string, args: string[], env: Record<string, string>, n: number): Promise<number> {
  const startAt = Date.now() / 1000 + 2 + n * 0.5;
  const runs = Array.from({ length: n }, () => new Promise<{ t0: number; t1: number }>((resolve, reject) => {
    const p = spawn(guest, args, {
      env: { ...process.env, ...env, VGPU_BENCH_START_AT: startAt.toFixed(3) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': 'exit' can come before the pipes are drained, with stdout still empty.
    p.once('close', (c) => (c === 0 ? resolve(JSON.parse(stdout.trim()) as { t0: number; t1: number }) : reject(new Error(`guest ${args[0]} failed (${c}): ${stderr}`))));
  }));
  const times = await Promise.all(runs);
  return Math.max(...times.map((t) => t.t1)) - Math.min(...times.map((t) => t.t0));
}

/** Aggregate copy rate of `n` guests copying pageable memory together, GB/s: as a local guest does
 * by default (staged through its shared region), or through the socket where `env` sets
 * VGPU_SHM_SIZE=0. */
async function aggregate(guest: string, env: Record<string, string>, dir: 'htod' | 'dtoh', n: number): Promise<number> {
  const span = await together(guest, ['stream', dir, String(SCALE_MIB), String(SCALE_PASSES)], env, n);
  return (n * SCALE_MIB * 2 ** 20 * SCALE_PASSES) / span / 1e9;
}

interface Pairs {
  ones: number[];
  aggs: number[];
  ratios: number[];
}

/** SCALE_PAIRS pairs of one guest's copy rate and then `n` guests' aggregate, GB/s. */
async function aggregatePairs(guest: string, env: Record<string, string>, dir: 'htod' | 'dtoh', n: number): Promise<Pairs> {
  const p: Pairs = { ones: [], aggs: [], ratios: [] };
  for (let i = 0; i < SCALE_PAIRS; i++) {
    const one = await aggregate(guest, env, dir, 1);
    const agg = await aggregate(guest, env, dir, n);
    p.ones.push(one);
    p.aggs.push(agg);
    p.ratios.push(agg / one);
  }
  return p;
}

/** The rows of one aggregate figure: the median ratio over its pairs, then their range. */
function pairRows(what: string, p: Pairs, bar: string): Row[] {
  const rows: Row[] = [{ what, vgpu: median(p.aggs).toFixed(2), baseline: `${median(p.ones).toFixed(2)} (1 guest)`, ratio: `${median(p.ratios).toFixed(2)}x`, bar }];
  if (SCALE_PAIRS > 1) {
    const lo = Math.min(...p.ratios).toFixed(2);
    const hi = Math.max(...p.ratios).toFixed(2);
    rows.push({ what: '  range over the pairs', vgpu: '-', baseline: '-', ratio: `${lo}x-${hi}x`, bar: '(context)' });
  }
  return rows;
}

/** Aggregate launch rate of `n` guests launching empty kernels together, launches/s. */
async function aggregateLaunches(guest: string, env: Record<string, string>, fatbin: string, n: number): Promise<number> {
  const span = await together(guest, ['launches', String(SCALE_LAUNCHES), fatbin], env, n);
  return (n * SCALE_LAUNCHES) / span;
}

/** Round trips measured per placement in the sync figure (the median is kept). */
const SYNC_ROUNDS = 3;
/** The CPU both ends run on in the one-CPU placement. */
const PIN = ['taskset', '-c', '0'];

/** The sync call against the C<->C floor (docs/benchmarks.md, "Sync call"): each side measured
 * with its processes where the scheduler puts them and all on one CPU, in alternating rounds;
 * each side's figure is its faster placement. */
async function syncRows(raw: string, guest: string, env: Record<string, string>, echoPath: string): Promise<Row[]> {
  // No spare executors: a session that takes the spare makes the mediator start the next one at
  // once, and that start (a Node process loading the executor) ran on the same two CPUs during
  // most of the 20,000 calls, which measured it rather than the call (docs/benchmarks.md).
  const mediatorEnv = { VGPU_LOG: 'warn', VGPU_SOFTGPU_MEMORY: '1G' };
  const free = await startMediator({ env: mediatorEnv, spareExecutors: 0 });
  const freeEnv = { ...env, VGPU_SERVER: free.server };
  const pinned = await startMediator({ env: mediatorEnv, wrap: PIN, spareExecutors: 0 });
  const pinnedEnv = { ...env, VGPU_SERVER: pinned.server };
  const c: { free: number[]; one: number[] } = { free: [], one: [] };
  const v: { free: number[]; one: number[] } = { free: [], one: [] };
  let nodeRtt: number;
  try {
    for (let i = 0; i < SYNC_ROUNDS; i++) {
      c.free.push(runJson(raw, ['pingpong-pair']).rtt_us!);
      c.one.push(runJson(PIN[0]!, [...PIN.slice(1), raw, 'pingpong-pair']).rtt_us!);
      v.free.push(runJson(guest, ['sync', '20000'], freeEnv).rtt_us!);
      v.one.push(runJson(PIN[0]!, [...PIN.slice(1), guest, 'sync', '20000'], pinnedEnv).rtt_us!);
    }
    nodeRtt = runJson(raw, ['pingpong-connect', echoPath]).rtt_us!;
  } finally {
    await pinned.stop();
    await free.stop();
  }
  const cFree = median(c.free);
  const cOne = median(c.one);
  const vFree = median(v.free);
  const vOne = median(v.one);
  const floor = Math.min(cFree, cOne);
  const sync = Math.min(vFree, vOne);
  const x = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
  return [
    { what: `sync call round trip (cuCtxSynchronize), us (median of ${SYNC_ROUNDS}, faster placement)`, vgpu: sync.toFixed(1), baseline: `${floor.toFixed(1)} (C<->C unix, warm)`, ratio: x(sync, floor), bar: '<= 1.2x' },
    { what: '  both sides free to use both CPUs', vgpu: vFree.toFixed(1), baseline: `${cFree.toFixed(1)} (C<->C)`, ratio: x(vFree, cFree), bar: '(context)' },
    { what: '  both sides on one CPU (taskset -c 0)', vgpu: vOne.toFixed(1), baseline: `${cOne.toFixed(1)} (C<->C)`, ratio: x(vOne, cOne), bar: '(context)' },
    { what: '  against a C<->Node echo (16 bytes)', vgpu: vFree.toFixed(1), baseline: `${nodeRtt.toFixed(1)} (C<->Node echo)`, ratio: x(vFree, nodeRtt), bar: '(context)' },
  ];
}

/** A mediator listening on loopback TCP too, with one VM for the tcp: figures. */
async function tcpMediator(): Promise<{ m: RunningMediator; env: Record<string, string> }> {
  const m = await startMediator({ tcp: true, env: { VGPU_LOG: 'warn', VGPU_SOFTGPU_MEMORY: '4G' } });
  const token = await m.addVm('bench-tcp');
  return { m, env: { LD_LIBRARY_PATH: GUEST_LIB_DIR, VGPU_SERVER: m.tcp!, VGPU_TOKEN: token } };
}

async function main(): Promise<void> {
  const want = selectedFigures(process.argv.slice(2));
  if (!Number.isInteger(LAUNCH_PAIRS) || LAUNCH_PAIRS < 1 || LAUNCH_PAIRS > 100) throw new Error('VGPU_BENCH_LAUNCH_PAIRS must be an integer from 1 to 100');
  if (!Number.isInteger(SCALE_PAIRS) || SCALE_PAIRS < 1 || SCALE_PAIRS > 20) throw new Error('VGPU_BENCH_SCALE_PAIRS must be an integer from 1 to 20');
  if (!Number.isInteger(SCALE_PASSES) || SCALE_PASSES < 1 || SCALE_PASSES > 1024) throw new Error('VGPU_BENCH_SCALE_PASSES must be an integer from 1 to 1024');
  if (!Number.isInteger(COMPRESS_PAIRS) || COMPRESS_PAIRS < 1 || COMPRESS_PAIRS > 20) throw new Error('VGPU_BENCH_COMPRESS_PAIRS must be an integer from 1 to 20');
  const { raw, guest, direct, fatbin, startup, startupDirect } = build();
  const load = loadavg();
  const m = await startMediator({ env: { VGPU_LOG: 'warn', VGPU_SOFTGPU_MEMORY: '4G' } });
  const echoPath = join(m.stateDir, 'echo.sock');
  const echo = await nodeEcho(echoPath);
  const env = { LD_LIBRARY_PATH: GUEST_LIB_DIR, VGPU_SERVER: m.server };
  const tcp = await tcpMediator();
  const rows: Row[] = [];
  try {
    if (want.has('sync')) rows.push(...(await syncRows(raw, guest, env, echoPath)));

    if (want.has('copy')) {
      const memBw = runJson(raw, ['memcpy', '256']).gbps!;
      const coldBw = runJson(raw, ['bandwidth-pair', '256']).gbps!;
      const unixBw = runJson(raw, ['bandwidth-warm', 'unix', '256', '3']).gbps!;
      const tcpBw = runJson(raw, ['bandwidth-warm', 'tcp', '256', '3']).gbps!;
      // Through the socket (no shared region), then through the region page-locked memory lives
      // in by default on a Unix socket (docs/protocol.md, "Shared memory").
      const copy = runJson(guest, ['copy', '256'], { ...env, VGPU_SHM_SIZE: '0' });
      const shm = runJson(guest, ['copy', '256'], env);
      // Pageable memory as a local guest copies it by default: staged through its region.
      const staged = runJson(guest, ['copy', '256', 'pageable'], env);
      // The socket path alone: the bytes copied here (memset) would compress (see 'compress').
      const tcpCopy = runJson(guest, ['copy', '256'], { ...tcp.env, VGPU_COMPRESSION: 'off' });
      rows.push({ what: 'C<->C socket, warm, 4 MiB buffers and pieces, GB/s', vgpu: '-', baseline: `${unixBw.toFixed(2)} unix, ${tcpBw.toFixed(2)} tcp`, ratio: '-', bar: '(baseline)' });
      rows.push({ what: '  same, one cold pass with default buffers', vgpu: '-', baseline: `${coldBw.toFixed(2)} unix`, ratio: '-', bar: '(context)' });
      for (const [k, label] of [['htod_gbps', 'HtoD 256 MiB'], ['dtoh_gbps', 'DtoH 256 MiB']] as const) {
        const v = copy[k]!;
        const bar = k === 'dtoh_gbps' ? '>= 60%' : '>= 50%';
        rows.push({ what: `${label} through a Unix socket, GB/s`, vgpu: v.toFixed(2), baseline: `${unixBw.toFixed(2)} (warm C unix)`, ratio: pct(v / unixBw), bar });
        const t = tcpCopy[k]!;
        rows.push({ what: `${label} over tcp: (loopback), GB/s`, vgpu: t.toFixed(2), baseline: `${tcpBw.toFixed(2)} (warm C tcp)`, ratio: pct(t / tcpBw), bar });
        rows.push({ what: '  Unix figure against memcpy', vgpu: v.toFixed(2), baseline: `${memBw.toFixed(2)} (memcpy)`, ratio: pct(v / memBw), bar: '(context)' });
        const s = shm[k]!;
        rows.push({ what: `${label} pinned, through shared memory, GB/s`, vgpu: s.toFixed(2), baseline: `${memBw.toFixed(2)} (memcpy)`, ratio: pct(s / memBw), bar: '>= 60%' });
        const g = staged[k]!;
        rows.push({ what: `${label} pageable, staged through shared memory, GB/s`, vgpu: g.toFixed(2), baseline: `${memBw.toFixed(2)} (memcpy)`, ratio: pct(g / memBw), bar: '(context)' });
      }
    }

    if (want.has('scale')) {
      // A single run of a few hundred milliseconds can land in one of this machine's stalls
      // (docs/benchmarks.md, "Aggregate HtoD at 4 guests"), so each count of guests is measured
      // in SCALE_PAIRS pairs, one guest right before it, and the median ratio is reported.
      for (const dir of ['htod', 'dtoh'] as const) {
        const label = dir === 'htod' ? 'HtoD' : 'DtoH';
        const ones: number[] = [];
        for (const n of SCALE_GUESTS.filter((k) => k > 1)) {
          const p = await aggregatePairs(guest, env, dir, n);
          ones.push(...p.ones);
          const bar = dir === 'htod' && n === 4 ? '>= 1.0x' : '(context)';
          rows.push(...pairRows(`aggregate ${label}, ${n} guests at once (Unix, pageable, staged), GB/s (median of ${SCALE_PAIRS} pairs)`, p, bar));
        }
        rows.push({ what: `aggregate ${label}, 1 guest (Unix, pageable, staged), GB/s (median of its ${ones.length} runs above)`, vgpu: median(ones).toFixed(2), baseline: '-', ratio: '-', bar: '(context)' });
        // The same with the bytes through the socket (no shared region), as before 2026-12-07.
        const sock = await aggregatePairs(guest, { ...env, VGPU_SHM_SIZE: '0' }, dir, 4);
        rows.push(...pairRows(`  4 guests through the socket (VGPU_SHM_SIZE=0), GB/s (median of ${SCALE_PAIRS} pairs)`, sock, '(context)'));
        if (dir === 'htod') {
          // What the copy lane (docs/executors.md) does for the figure, in the same run: the same
          // pairs against a mediator whose sessions' copies wait for their slice.
          const off = await startMediator({ args: ['--copy-lane', 'off'], env: { VGPU_LOG: 'warn', VGPU_SOFTGPU_MEMORY: '4G' } });
          try {
            const p = await aggregatePairs(guest, { ...env, VGPU_SERVER: off.server }, dir, 4);
            rows.push(...pairRows(`  4 guests with --copy-lane off (copies wait for the slice), GB/s (median of ${SCALE_PAIRS} pairs)`, p, '(context)'));
          } finally {
            await off.stop();
          }
        }
      }
    }

    if (want.has('scale-launch')) {
      let one = 0;
      for (const n of SCALE_GUESTS) {
        const agg = await aggregateLaunches(guest, env, fatbin, n);
        if (n === 1) one = agg;
        rows.push({ what: `aggregate empty launches, ${n} guest${n > 1 ? 's' : ''} at once, launches/s`, vgpu: agg.toFixed(0), baseline: `${one.toFixed(0)} (1 guest)`, ratio: `${(agg / one).toFixed(2)}x`, bar: '(context)' });
      }
    }

    if (want.has('compress')) {
      // Over tcp:, where compression is negotiated; VGPU_COMPRESSION=off makes the guest not offer it.
      const off = { ...tcp.env, VGPU_COMPRESSION: 'off' };
      // Compressible data: the median of 3 alternated runs each way, as a single run of either
      // measured as little as half its usual rate once (6.8 against 12.3-13.5 GB/s).
      const texts: number[] = [];
      const textOffs: number[] = [];
      for (let i = 0; i < 3; i++) {
        texts.push(runJson(guest, ['htod-data', '256', 'text'], tcp.env).htod_gbps!);
        textOffs.push(runJson(guest, ['htod-data', '256', 'text'], off).htod_gbps!);
      }
      const text = median(texts);
      const textOff = median(textOffs);
      // Random data on and off differ by one LZ4 sample per copy, far less than this machine's
      // swings between two runs a few seconds apart (79-129% measured as one pair each), so that
      // row is the median of COMPRESS_PAIRS pairs, with their range and the mean's 95% interval
      // (medians of 9 pairs measured 95-109% on one build; docs/benchmarks.md).
      const randoms: number[] = [];
      const randomOffs: number[] = [];
      const randomRatios: number[] = [];
      for (let i = 0; i < COMPRESS_PAIRS; i++) {
        // Which runs first alternates from pair to pair, so that a run's place (right after the
        // other kind's session) favours neither side.
        const run = (e: Record<string, string>): number => runJson(guest, ['htod-data', '256', 'random'], e).htod_gbps!;
        let on: number;
        let offRate: number;
        if (i % 2 === 0) {
          on = run(tcp.env);
          offRate = run(off);
        } else {
          offRate = run(off);
          on = run(tcp.env);
        }
        randoms.push(on);
        randomOffs.push(offRate);
        randomRatios.push(on / offRate);
      }
      const random = median(randoms);
      const randomOff = median(randomOffs);
      rows.push({ what: 'HtoD 256 MiB over tcp:, compressible data, GB/s (median of 3)', vgpu: text.toFixed(2), baseline: `${random.toFixed(2)} (random data)`, ratio: `${(text / random).toFixed(2)}x`, bar: '>= 2x' });
      rows.push({ what: `  random data, against compression off (median of ${COMPRESS_PAIRS} pairs)`, vgpu: random.toFixed(2), baseline: `${randomOff.toFixed(2)} (off)`, ratio: pct(median(randomRatios)), bar: '>= 100%' });
      if (COMPRESS_PAIRS > 1) {
        rows.push({ what: '  range over the pairs', vgpu: '-', baseline: '-', ratio: `${pct(Math.min(...randomRatios))}-${pct(Math.max(...randomRatios))}`, bar: '(context)' });
        const ci = meanInterval(randomRatios);
        rows.push({ what: '  mean over the pairs, with its 95% confidence interval', vgpu: '-', baseline: '-', ratio: `${pct(ci.mean)} (${pct(ci.lo)}-${pct(ci.hi)})`, bar: '(context)' });
      }
      rows.push({ what: '  compressible data, against compression off', vgpu: text.toFixed(2), baseline: `${textOff.toFixed(2)} (off)`, ratio: `${(text / textOff).toFixed(2)}x`, bar: '(context)' });
    }

    if (want.has('launch')) {
      const directs: number[] = [];
      const vias: number[] = [];
      const ratios: number[] = [];
      for (let i = 0; i < LAUNCH_PAIRS; i++) {
        const d = runJson(direct, ['launches', '100000', fatbin], { VGPU_SOFTGPU_MEMORY: '1G' }).launches_per_s!;
        const v = runJson(guest, ['launches', '100000', fatbin], env).launches_per_s!;
        directs.push(d);
        vias.push(v);
        ratios.push(v / d);
      }
      rows.push({ what: `100k empty launches + sync, launches/s (median of ${LAUNCH_PAIRS})`, vgpu: median(vias).toFixed(0), baseline: `${median(directs).toFixed(0)} (softgpu in-process)`, ratio: pct(median(ratios)), bar: '>= 50%' });
      if (LAUNCH_PAIRS > 1) {
        rows.push({ what: '  range over the pairs', vgpu: `${Math.min(...vias).toFixed(0)}-${Math.max(...vias).toFixed(0)}`, baseline: `${Math.min(...directs).toFixed(0)}-${Math.max(...directs).toFixed(0)}`, ratio: `${pct(Math.min(...ratios))}-${pct(Math.max(...ratios))}`, bar: '(context)' });
      }
    }

    if (want.has('sgemm')) {
      const sg = runJson(guest, ['sgemm', '256', join(ROOT, 'softgpu/tests/ptx/sgemm.ptx')], env);
      rows.push({ what: 'tiled SGEMM 256x256 through vgpu, ms', vgpu: sg.device_ms!.toFixed(1), baseline: `${sg.naive_ms!.toFixed(1)} (naive C loop)`, ratio: `${(sg.device_ms! / sg.naive_ms!).toFixed(1)}x`, bar: '<= 100x' });
    }

    if (want.has('discovery')) {
      const trueMs = timeProcess('/bin/true', [], {}, 20);
      const discMs = timeProcess(guest, ['discover'], env, 20);
      rows.push({ what: 'discovery-only process (count + properties), ms', vgpu: discMs.toFixed(1), baseline: `${trueMs.toFixed(1)} (/bin/true)`, ratio: `${(discMs / trueMs).toFixed(1)}x`, bar: '<= 20 ms' });
    }
    if (want.has('tls')) rows.push(...(await tlsRows(guest)));
    if (want.has('startup')) rows.push(...(await startupRows(m, env, startup, startupDirect)));
  } finally {
    echo.kill();
    await m.stop();
    await tcp.m.stop();
    rmSync(echoPath, { force: true });
  }
  const cols: Array<keyof Row> = ['what', 'vgpu', 'baseline', 'ratio', 'bar'];
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (r: Record<keyof Row, string>): string => cols.map((c, i) => r[c].padEnd(width[i]!)).join('  ');
  console.log(line({ what: 'measure', vgpu: 'vgpu', baseline: 'baseline', ratio: 'ratio', bar: 'bar' }));
  for (const r of rows) console.log(line(r));
  const fmt = (l: number[]): string => l.map((x) => x.toFixed(2)).join(', ');
  console.log(`load average (1, 5, 15 min): ${fmt(load)} at the start, ${fmt(loadavg())} at the end, on ${os.availableParallelism()} CPUs`);
}

/** The sync round trip and bulk copies over tls: against plain tcp: on loopback, through one
 * mediator with both listeners: what the TLS relay (src/mediator/tls.ts) costs. */
async function tlsRows(guest: string): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-bench-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=vgpu-bench',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const fp = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().split('=')[1]!;
  const m = await startMediator({
    tcp: true, env: { VGPU_LOG: 'warn', VGPU_SOFTGPU_MEMORY: '4G' },
    args: ['--listen', 'tls:127.0.0.1:0', '--tls-cert', cert, '--tls-key', key],
  });
  const rows: Row[] = [];
  try {
    const token = await m.addVm('bench-tls');
    const ready = JSON.parse(m.stdout().split('\n')[0]!) as { listen: string[] };
    const tls = ready.listen.find((l) => l.startsWith('tls:'))!;
    // Without compression: what the relay costs, on bytes that cross it as they are.
    const tcpEnv = { LD_LIBRARY_PATH: GUEST_LIB_DIR, VGPU_SERVER: m.tcp!, VGPU_TOKEN: token, VGPU_COMPRESSION: 'off' };
    const tlsEnv = { LD_LIBRARY_PATH: GUEST_LIB_DIR, VGPU_SERVER: tls, VGPU_TOKEN: token, VGPU_TLS_PIN: `sha256:${fp}`, VGPU_COMPRESSION: 'off' };
    const tcpRtt = runJson(guest, ['sync', '20000'], tcpEnv).rtt_us!;
    const tlsRtt = runJson(guest, ['sync', '20000'], tlsEnv).rtt_us!;
    rows.push({ what: 'sync call round trip over tls: (loopback), us', vgpu: tlsRtt.toFixed(1), baseline: `${tcpRtt.toFixed(1)} (tcp:)`, ratio: `${(tlsRtt / tcpRtt).toFixed(2)}x`, bar: '(context)' });
    const tcpCopy = runJson(guest, ['copy', '256'], tcpEnv);
    const tlsCopy = runJson(guest, ['copy', '256'], tlsEnv);
    for (const [k, label] of [['htod_gbps', 'HtoD 256 MiB over tls:, GB/s'], ['dtoh_gbps', 'DtoH 256 MiB over tls:, GB/s']] as const) {
      const v = tlsCopy[k]!;
      const b = tcpCopy[k]!;
      rows.push({ what: label, vgpu: v.toFixed(2), baseline: `${b.toFixed(2)} (tcp:)`, ratio: `${((v / b) * 100).toFixed(0)}%`, bar: '(context)' });
    }
  } finally {
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** Guests started for the startup figure: 1 (five times in a row, each with the mediator's spare
 * ready), then 16 and 64 at once. */
const STARTUP_SINGLE_RUNS = 5;
const STARTUP_BURSTS = [16, 64] as const;
/** Past this a starting guest counts as failed (and is killed). */
const STARTUP_GUEST_LIMIT_MS = 240_000;
/** Time for the mediator to start its spare again between the startup figure's phases. */
const SPARE_REFILL_MS = 3000;

interface Started {
  /** From the spawn to its first allocation's completion (startup.c); absent when it failed. */
  ms?: number;
  pid: number;
  error?: string;
  /** Ends a `hold` guest's stdin; resolves with its exit status. */
  release: () => Promise<number | null>;
}

/** Spawns startup.c with the spawn moment as its T0 and resolves once it printed its figure (or
 * failed). With `hold`, it keeps its session open until `release`. */
function startGuestTimed(bin: string, env: Record<string, string>, hold: boolean): Promise<Started> {
  const t0 = process.hrtime.bigint();
  const p = spawn(bin, [t0.toString(), ...(hold ? ['hold'] : [])], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((resolve) => p.once('close', (c) => resolve(c)));
  const timer = setTimeout(() => p.kill('SIGKILL'), STARTUP_GUEST_LIMIT_MS);
  void exit.then(() => clearTimeout(timer));
  const release = (): Promise<number | null> => {
    p.stdin!.end();
    return exit;
  };
  if (!hold) p.stdin!.end();
  let stdout = '';
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<Started>((resolve) => {
    p.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /\{"first_call_ms": ([\d.]+)\}\n/.exec(stdout);
      if (m) resolve({ ms: Number(m[1]), pid: p.pid!, release });
    });
    void exit.then((c) => resolve({ pid: p.pid ?? 0, error: `exit ${c}: ${stderr.trim().split('\n').at(-1) ?? ''}`, release }));
  });
}

/** Proportional set size of `pid` (its share of the pages it maps), MB. */
function pssMb(pid: number): number {
  const kb = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no Pss in /proc/${pid}/smaps_rollup`);
  return Number(kb) / 1024;
}

/** The PSS of a bare Node process, idle: what any Node executor costs at the least. */
async function bareNodePss(): Promise<number> {
  const p = spawn(process.execPath, ['-e', `console.log('ready'); setInterval(() => {}, 60_000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', (c) => reject(new Error(`bare node exited with ${c}`)));
  });
  await new Promise((r) => setTimeout(r, 1000));
  try {
    return pssMb(p.pid!);
  } finally {
    p.kill();
  }
}

/** PSS of the executors serving the mediator's attached sessions (idle guests hold them), MB. */
async function executorPss(m: RunningMediator): Promise<number[]> {
  const pids = (await sessionList(m)).filter((s) => s.state === 'attached' && s.executorPid !== null).map((s) => s.executorPid!);
  return pids.map(pssMb);
}

/** Everything else the executors cost the host: the zygote and the spares (docs/executors.md,
 * "Zygote"), MB; each is a child of the mediator or of its zygote, and not serving a session. */
async function overheadPss(m: RunningMediator): Promise<{ zygote: number; spares: number }> {
  const serving = new Set((await sessionList(m)).map((s) => s.executorPid));
  const children = childrenOf(m.proc.pid!);
  const zygotes = children.filter((p) => commandLine(p).includes('--zygote'));
  const spares = [...children, ...zygotes.flatMap(childrenOf)].filter((p) => !zygotes.includes(p) && !serving.has(p) && commandLine(p).some((a) => a.endsWith('launch.cjs')));
  const sum = (pids: number[]): number => pids.reduce((a, p) => a + pssMb(p), 0);
  return { zygote: sum(zygotes), spares: sum(spares) };
}

const ms = (x: number): string => x.toFixed(1);

/** Session start and idle sessions' memory (docs/benchmarks.md, "Session start"). */
async function startupRows(m: RunningMediator, env: Record<string, string>, bin: string, directBin: string): Promise<Row[]> {
  const rows: Row[] = [];
  const direct: number[] = [];
  for (let i = 0; i < STARTUP_SINGLE_RUNS; i++) {
    const r = await startGuestTimed(directBin, { VGPU_SOFTGPU_MEMORY: '1G' }, false);
    if (r.ms === undefined) throw new Error(`in-process startup failed: ${r.error}`);
    direct.push(r.ms);
  }
  const base = median(direct);
  const baseline = `${ms(base)} (softgpu in-process)`;
  const settle = async (): Promise<void> => {
    await sessionsAfter(m);
    await new Promise((r) => setTimeout(r, SPARE_REFILL_MS));
  };
  // One guest at a time, each with a ready spare; the last one stays idle for its executor's PSS.
  const single: number[] = [];
  let singleFailures = 0;
  let onePss = 0;
  for (let i = 0; i < STARTUP_SINGLE_RUNS; i++) {
    await settle();
    const last = i === STARTUP_SINGLE_RUNS - 1;
    const r = await startGuestTimed(bin, env, last);
    if (r.ms === undefined) singleFailures++;
    else single.push(r.ms);
    if (last) {
      if (r.ms !== undefined) onePss = median(await executorPss(m));
      await r.release();
    }
  }
  rows.push({ what: `session start, 1 guest (warm spare), first allocation, ms (median of ${STARTUP_SINGLE_RUNS})`, vgpu: single.length ? ms(median(single)) : '-', baseline, ratio: single.length ? `${(median(single) / base).toFixed(1)}x` : '-', bar: '(context)' });
  rows.push({ what: '  worst of them; failures', vgpu: `${single.length ? ms(Math.max(...single)) : '-'}; ${singleFailures}`, baseline: '-', ratio: '-', bar: '(context)' });
  let burstPss: number[] = [];
  let overhead = { zygote: 0, spares: 0 };
  for (const n of STARTUP_BURSTS) {
    await settle();
    const guests = await Promise.all(Array.from({ length: n }, () => startGuestTimed(bin, env, true)));
    const ok = guests.filter((g) => g.ms !== undefined).map((g) => g.ms!);
    if (n === 16) {
      burstPss = await executorPss(m);
      overhead = await overheadPss(m);
    }
    await Promise.all(guests.map((g) => g.release()));
    const failed = guests.filter((g) => g.ms === undefined);
    const failures = failed.length ? ` (${failed[0]!.error})` : '';
    rows.push({ what: `session start, ${n} guests at once, median first allocation, ms`, vgpu: ok.length ? ms(median(ok)) : '-', baseline, ratio: ok.length ? `${(median(ok) / base).toFixed(0)}x` : '-', bar: n === 16 ? '<= 200 ms' : '(context)' });
    rows.push({ what: `  worst of the ${n}, ms`, vgpu: ok.length ? ms(Math.max(...ok)) : '-', baseline: '-', ratio: '-', bar: n === 16 ? '<= 500 ms' : '(context)' });
    rows.push({ what: `  failures among the ${n}`, vgpu: `${failed.length}${failures}`, baseline: '-', ratio: '-', bar: n === 64 ? '0' : '(context)' });
  }
  const node = await bareNodePss();
  rows.push({ what: 'idle session, its executor\'s PSS, 1 session open, MB', vgpu: onePss.toFixed(1), baseline: `${node.toFixed(1)} (bare node -e)`, ratio: `${(onePss / node).toFixed(2)}x`, bar: '<= 12 MB' });
  if (burstPss.length) {
    rows.push({ what: `  median over ${burstPss.length} idle sessions open together, MB`, vgpu: median(burstPss).toFixed(1), baseline: `${node.toFixed(1)} (bare node -e)`, ratio: `${(median(burstPss) / node).toFixed(2)}x`, bar: '<= 12 MB' });
    // PSS shares what is shared among the processes that map it: the zygote keeps its own share,
    // so the host's cost per session counts it, and the spares, too.
    const perSession = (burstPss.reduce((a, b) => a + b, 0) + overhead.zygote + overhead.spares) / burstPss.length;
    rows.push({ what: `  all of it per session: executors, zygote (${overhead.zygote.toFixed(1)}) and spares (${overhead.spares.toFixed(1)}) / ${burstPss.length}, MB`, vgpu: perSession.toFixed(1), baseline: `${node.toFixed(1)} (bare node -e)`, ratio: `${(perSession / node).toFixed(2)}x`, bar: '<= 12 MB' });
  }
  await settle();
  rows.push(...(await manySparesRows(bin, base)));
  return rows;
}

/** Spares for the context rows of a burst against a mediator that keeps more of them. */
const MANY_SPARES = 4;
/** Time for that mediator to start them (about a third of a second of CPU each). */
const MANY_SPARES_READY_MS = 6000;

/** 16 guests at once against a mediator with MANY_SPARES spares: what spares buy in a burst. */
async function manySparesRows(bin: string, base: number): Promise<Row[]> {
  const m = await startMediator({ env: { VGPU_LOG: 'warn', VGPU_SOFTGPU_MEMORY: '4G' }, args: ['--spare-executors', String(MANY_SPARES)] });
  try {
    await new Promise((r) => setTimeout(r, MANY_SPARES_READY_MS));
    const guests = await Promise.all(Array.from({ length: 16 }, () => startGuestTimed(bin, { LD_LIBRARY_PATH: GUEST_LIB_DIR, VGPU_SERVER: m.server }, false)));
    const ok = guests.filter((g) => g.ms !== undefined).map((g) => g.ms!);
    const failed = guests.length - ok.length;
    return [{
      what: `  16 at once, --spare-executors ${MANY_SPARES}: median / worst, ms; failures`, vgpu: ok.length ? `${ms(median(ok))} / ${ms(Math.max(...ok))}; ${failed}` : `-; ${failed}`,
      baseline: `${ms(base)} (softgpu in-process)`, ratio: ok.length ? `${(median(ok) / base).toFixed(0)}x` : '-', bar: '(context)',
    }];
  } finally {
    await m.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
