// The live fuzzer: episodes (episodes.ts) against a running mediator and its executors, in
// batches; after each batch the mediator must still be running and answering handshakes, a
// bystander tenant (test/programs/bystander.c, real kernels checked every round) must have made
// progress, and no executor may have died of a signal. Used by `make fuzz` (main.ts) and, bounded,
// by test/e2e/fuzz.test.ts.

import net from 'node:net';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, kernelsFatbin, startGuest, type InteractiveGuest } from '../helpers/programs.js';
import { TestGuest } from '../helpers/guest.js';
import { episode, Stats, type FuzzEnv, type Target } from './episodes.js';
import { opLayouts } from './frames.js';
import { Rng } from './rng.js';

export interface FuzzOptions {
  /** Frames to send in all. */
  frames: number;
  seed: number;
  /** Frames per batch, between health checks. */
  batch: number;
  /** Episodes in flight at once. */
  concurrency?: number;
  maxAttachedFrames?: number;
  /** Progress after each batch. */
  onBatch?: (r: FuzzReport) => void;
}

export interface FuzzReport {
  seed: number;
  frames: number;
  received: number;
  seconds: number;
  framesPerSecond: number;
  batches: number;
  episodes: Record<string, number>;
  attachedSessions: number;
  errorsFromHost: Record<string, number>;
  /** Executor exits by how they ended ("code 0", "signal SIGKILL", ...). */
  executorExits: Record<string, number>;
  /** Why attached sessions ended, as their executors logged it (first words of the reason). */
  sessionEnds: Record<string, number>;
  bystanderRounds: number;
}

/** A problem the fuzzer found: the run stops at the first. */
export class FuzzFailure extends Error {}

class Bystander {
  private constructor(private readonly g: InteractiveGuest) {}

  static async start(m: RunningMediator, token: string): Promise<Bystander> {
    const g = startGuest(m.server, token, buildProgram('bystander'), [kernelsFatbin()]);
    const b = new Bystander(g);
    await b.progressed(0);
    return b;
  }

  get rounds(): number {
    const last = [...this.g.lines].reverse().find((l) => l.startsWith('{"round":'));
    return last ? (JSON.parse(last) as { round: number }).round : 0;
  }

  /** Waits for a round after `since`; fails if the program ended or made none in a minute. */
  async progressed(since: number): Promise<number> {
    const until = Date.now() + 60_000;
    let exited: number | null | undefined;
    void this.g.done.then((c) => (exited = c));
    while (this.rounds <= since) {
      if (exited !== undefined) throw new FuzzFailure(`the bystander exited with ${exited}: ${this.g.stderr()}`);
      if (Date.now() > until) throw new FuzzFailure(`the bystander made no progress after round ${since}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.rounds;
  }

  async finish(): Promise<number> {
    this.g.release();
    const code = await this.g.done;
    if (code !== 0) throw new FuzzFailure(`the bystander exited with ${code}: ${this.g.stderr()}`);
    return this.rounds;
  }
}

function targets(m: RunningMediator): Target[] {
  const [host, port] = m.tcp!.slice(4).split(':');
  return [
    { name: 'unix', local: true, connect: () => net.connect(m.socket) },
    { name: 'tcp', local: false, connect: () => net.connect(Number(port), host) },
  ];
}

function executorExits(m: RunningMediator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of m.logs) {
    if (l.msg !== 'executor exited') continue;
    const k = l.signal ? `signal ${String(l.signal)}` : `code ${String(l.code)}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function sessionEnds(m: RunningMediator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of m.logs) {
    if (l.msg !== 'session ended') continue;
    const k = String(l.reason).split(/[:(]/)[0]!.slice(0, 60);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** The mediator runs, answers a handshake, and no executor died of a signal. */
async function healthy(m: RunningMediator): Promise<void> {
  if (m.proc.exitCode !== null || m.proc.signalCode !== null) {
    throw new FuzzFailure(`the mediator exited (${m.proc.exitCode ?? m.proc.signalCode}); last log lines:\n${m.logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
  }
  const g = await TestGuest.connect(m.socket);
  try {
    await g.hello();
  } finally {
    g.close();
  }
  const crashed = Object.keys(executorExits(m)).filter((k) => k.startsWith('signal'));
  if (crashed.length > 0) throw new FuzzFailure(`executors died: ${crashed.join(', ')}`);
}

/** Starts a mediator (softgpu, Unix socket and TCP), a bystander, and fuzzes until `o.frames`
 * frames have been sent. Resolves with the report; rejects with a FuzzFailure at the first
 * problem. */
export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  // Info level: debug would log a line per rejected call, and the fuzzer makes millions.
  const m = await startMediator({ tcp: true, spareExecutors: 2, env: { VGPU_LOG: 'info' } });
  try {
    const token = await m.addVm('fuzz', { memoryQuota: '64M' });
    const bystander = await Bystander.start(m, await m.addVm('bystander', { memoryQuota: '64M' }));
    const env: FuzzEnv = { targets: targets(m), token, ops: opLayouts(), maxAttachedFrames: o.maxAttachedFrames ?? 4000 };
    const stats = new Stats();
    const started = process.hrtime.bigint();
    const report = (batches: number): FuzzReport => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return {
        seed: o.seed, frames: stats.frames, received: stats.received, seconds: Math.round(seconds * 10) / 10,
        framesPerSecond: Math.round(stats.frames / seconds), batches,
        episodes: Object.fromEntries(stats.episodes), attachedSessions: stats.attached,
        errorsFromHost: Object.fromEntries(stats.errors), executorExits: executorExits(m), sessionEnds: sessionEnds(m), bystanderRounds: bystander.rounds,
      };
    };
    let index = 0;
    let batches = 0;
    let rounds = bystander.rounds;
    while (stats.frames < o.frames) {
      const end = Math.min(o.frames, stats.frames + o.batch);
      const inFlight = new Set<Promise<void>>();
      while (stats.frames < end) {
        // Each episode has its own generator: what it sends depends on the seed and its index only.
        const p = episode(new Rng(o.seed * 1_000_003 + index++), env, stats, end - stats.frames);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size >= (o.concurrency ?? 8)) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (stats.badHostFrames.length > 0) throw new FuzzFailure(`the host sent frames that do not parse: ${stats.badHostFrames.slice(0, 3).join('; ')}`);
      await healthy(m);
      rounds = await bystander.progressed(rounds);
      batches++;
      o.onBatch?.(report(batches));
    }
    await bystander.finish();
    await healthy(m);
    return report(batches);
  } finally {
    await m.stop();
  }
}
