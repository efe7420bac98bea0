// Starts a real vgpu-mediator (softgpu backend unless asked for another) in a temporary state dir
// for a test, and stops it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN } from './paths.js';

export interface RunningMediator {
  proc: ChildProcess;
  stateDir: string;
  socket: string;
  server: string;
  tcp?: string;
  /** The admin API's URL (an ephemeral loopback port), unless started with `http: false`. */
  admin?: string;
  /** Structured log lines the mediator (and its executors) printed so far. */
  logs: Array<Record<string, unknown>>;
  /** Everything the mediator printed on stdout so far (its readiness line first). */
  stdout(): string;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** A request to the admin API as vgpu-admin makes it; the answer's status and parsed body. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** Creates a VM through the admin API and returns its token. */
  addVm(name: string, settings?: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  tcp?: boolean;
  env?: Record<string, string>;
  spareExecutors?: number;
  /** Admin API address (default 127.0.0.1:0, an ephemeral port); false for --http off. */
  http?: string | false;
  /** A state directory of the caller's (kept at stop); default a fresh one, removed at stop. */
  stateDir?: string;
  /** The host driver (default softgpu); 'cuda' needs NVIDIA's driver and a GPU. */
  backend?: 'softgpu' | 'cuda' | 'auto';
  /** More mediator options. */
  args?: string[];
  /** A program (and its arguments) the mediator is started under, e.g. the VM tests' vsock guard. */
  wrap?: string[];
}

export async function startMediator(opts: StartOptions = {}): Promise<RunningMediator> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'vgpu-test-'));
  const socket = join(stateDir, 'vgpu.sock');
  // --no-config: a host's /etc/vgpu/mediator.toml is no part of a test (a --config in opts.args wins).
  const args = ['--no-config', '--state-dir', stateDir, '--listen', `unix:${socket}`, '--backend', opts.backend ?? 'softgpu', '--default-vm', 'local',
    '--spare-executors', String(opts.spareExecutors ?? 1)];
  if (opts.tcp) args.push('--listen', 'tcp:127.0.0.1:0');
  args.push('--http', opts.http === false ? 'off' : (opts.http ?? '127.0.0.1:0'), ...(opts.args ?? []));
  const [cmd, ...cmdArgs] = [...(opts.wrap ?? []), join(BIN, 'vgpu-mediator'), ...args];
  const proc = spawn(cmd!, cmdArgs, {
    // No grace time at stop unless a test asks for one: stop() ends the sessions left at once.
    env: { ...process.env, VGPU_LOG: 'debug', VGPU_SOFTGPU_MEMORY: '2G', VGPU_SHUTDOWN_GRACE: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let errBuf = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    errBuf += d;
    let nl;
    while ((nl = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, nl);
      errBuf = errBuf.slice(nl + 1);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        rec = { raw: line };
      }
      logs.push(rec);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(rec)) {
          waiters[i]!.resolve(rec);
          waiters.splice(i, 1);
        }
      }
    }
  });
  let out = '';
  const ready = await new Promise<{ listen: string[]; admin?: string | null }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`mediator did not become ready; logs:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`)), 60_000);
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(JSON.parse(out.slice(0, nl)) as { listen: string[]; admin?: string | null });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`mediator exited with ${code}; logs:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`));
    });
  });
  const tcp = ready.listen.find((l) => l.startsWith('tcp:'));
  const m: RunningMediator = {
    proc,
    stateDir,
    socket,
    server: `unix:${socket}`,
    logs,
    stdout: () => out,
    waitForLog(pred, timeoutMs = 10_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no matching log line within ${timeoutMs} ms`));
          }
        }, timeoutMs).unref();
      });
    },
    async api(method, path, body) {
      if (!m.admin) throw new Error('this mediator has no admin API');
      const res = await fetch(`${m.admin}${path}`, {
        method,
        headers: { 'x-vgpu-request': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, json: text === '' ? undefined : JSON.parse(text) as unknown };
    },
    async addVm(name, settings = {}) {
      const r = await m.api('POST', '/v1/vms', { name, ...settings });
      const token = (r.json as { token?: unknown } | undefined)?.token;
      if (r.status !== 201 || typeof token !== 'string') throw new Error(`adding VM ${name}: ${r.status} ${JSON.stringify(r.json)}`);
      return token;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      if (!opts.stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  if (tcp) m.tcp = tcp;
  if (ready.admin) m.admin = ready.admin;
  return m;
}
