// Bursts of guests started at the same moment against one mediator (test/e2e/burst.test.ts and
// `make burst`, test/soak/burst.ts). Each guest is test/programs/burst.c: it launches a kernel on
// inputs of its own and checks every element of the result.

import http from 'node:http';

import { buildProgram, kernelsFatbin, runGuest, startGuest, type InteractiveGuest } from './programs.js';
import type { RunningMediator } from './mediator.js';
import type { SessionView } from '../../src/admin/schemas.js';

export interface BurstGuest {
  seed: number;
  code: number | null;
  /** It printed `verified SEED N MS` for its own seed: its kernel's result was checked. */
  verified: boolean;
  /** How long its first GPU call took (ms), waiting for its executor included. */
  firstCallMs?: number;
  stderr: string;
}

export interface BurstProgram {
  prog: string;
  fatbin: string;
}

export function burstProgram(): BurstProgram {
  return { prog: buildProgram('burst'), fatbin: kernelsFatbin() };
}

const VERIFIED = (seed: number): RegExp => new RegExp(`^verified ${seed} \\d+ ([\\d.]+)$`, 'm');

/** How long one guest of a burst may take, at most: on a small shared host a burst of 64 waits
 * for 64 executors to start (docs/operations.md, "Bursts"), far less than this. */
export const BURST_GUEST_TIMEOUT_MS = 240_000;

/** Starts `n` guests at once (seeds `seedBase`..) and waits for all of them. A guest that runs
 * past BURST_GUEST_TIMEOUT_MS is killed and reported with code null (a hang). */
export async function runBurst(m: RunningMediator, p: BurstProgram, n: number, seedBase: number): Promise<BurstGuest[]> {
  return Promise.all(Array.from({ length: n }, async (_, i): Promise<BurstGuest> => {
    const seed = seedBase + i;
    try {
      const r = await runGuest(p.prog, ['--server', m.server], {}, BURST_GUEST_TIMEOUT_MS, [p.fatbin, String(seed)]);
      const v = VERIFIED(seed).exec(r.stdout);
      return { seed, code: r.code, verified: v !== null, stderr: r.stderr, ...(v && { firstCallMs: Number(v[1]) }) };
    } catch (e) {
      return { seed, code: null, verified: false, stderr: (e as Error).message };
    }
  }));
}

/** Guests of a burst that did not exit 0 with their result verified, for an assertion message. */
export function burstFailures(guests: BurstGuest[]): string[] {
  return guests.filter((g) => g.code !== 0 || !g.verified)
    .map((g) => `seed ${g.seed}: ${g.code === null ? 'hung (killed)' : `exit ${g.code}`}, ${g.verified ? 'verified' : 'not verified'}: ${g.stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

/** Starts `n` guests at once that keep their sessions open once verified (burst.c `hold`);
 * resolves when all have verified, or rejects with those that failed. */
export async function holdBurst(m: RunningMediator, p: BurstProgram, n: number, seedBase: number): Promise<InteractiveGuest[]> {
  const guests = Array.from({ length: n }, (_, i) => startGuest(m.server, '', p.prog, [p.fatbin, String(seedBase + i), 'hold']));
  const outcomes = await Promise.all(guests.map((g, i) => Promise.race([
    g.waitFor(VERIFIED(seedBase + i)).then(() => null),
    g.done.then((code) => `seed ${seedBase + i}: exit ${code} before verifying: ${g.stderr().trim().split('\n').slice(-3).join(' | ')}`),
  ])));
  const failed = outcomes.filter((o): o is string => o !== null);
  if (failed.length > 0) {
    for (const g of guests) g.kill('SIGKILL');
    throw new Error(`${failed.length} of ${n} held guests failed:\n${failed.join('\n')}`);
  }
  return guests;
}

/** GET `path` of the mediator's admin API on a connection of its own, closed after the answer
 * (fetch would keep it open, and the soak counts the mediator's descriptors). */
export function adminGet(m: RunningMediator, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${m.admin}${path}`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

/** The sessions the mediator lists (admin API). */
export async function sessionList(m: RunningMediator): Promise<SessionView[]> {
  return JSON.parse(await adminGet(m, '/v1/sessions')) as SessionView[];
}

/** Waits (bounded) until the mediator lists no session; returns what it still lists. */
export async function sessionsAfter(m: RunningMediator, waitMs = 30_000): Promise<SessionView[]> {
  const until = Date.now() + waitMs;
  let left = await sessionList(m);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    left = await sessionList(m);
  }
  return left;
}
