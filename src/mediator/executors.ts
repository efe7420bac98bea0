// Executor processes: one per attached guest session. A few are forked ahead of time (and have
// already loaded the driver and run cuInit), so a guest's first GPU call costs a handoff, not a
// process start.

import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

import type { BackendKind } from '../executor/driver.js';
import type { DeviceTimeChoice } from '../executor/device-time.js';
import type { SessionMessage } from '../executor/main.js';
import { EXECUTOR_MAIN } from './backend.js';

export interface ExecutorEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stats?: unknown;
}

interface Warm {
  child: ChildProcess;
  ready: Promise<void>;
}

export class ExecutorPool {
  private spares: Warm[] = [];
  private readonly live = new Set<ChildProcess>();
  private closing = false;

  constructor(
    private readonly backend: BackendKind,
    private readonly log: Logger,
    private readonly spareCount = 1,
    private readonly deviceTime: DeviceTimeChoice = 'auto',
  ) {}

  start(): void {
    this.refill();
  }

  /** Executor processes alive, spares included. */
  get running(): number {
    return this.live.size;
  }

  /** Executors started ahead of time, waiting for a session. */
  get spare(): number {
    return this.spares.length;
  }

  private spawn(): Warm {
    const child = fork(EXECUTOR_MAIN, ['--backend', this.backend, '--device-time', this.deviceTime], {
      // Extra Node flags for executors only, for profiling or debugging (e.g. --cpu-prof).
      execArgv: (process.env.VGPU_EXECUTOR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    this.live.add(child);
    // A send or kill that fails is reported as 'error' on the child; unheard, it would end the
    // mediator.
    child.on('error', (e) => this.log.warn({ executorPid: child.pid, err: e.message }, 'executor process error'));
    const ready = new Promise<void>((resolve, reject) => {
      const onMsg = (m: unknown): void => {
        if ((m as { type?: string }).type === 'ready') {
          child.off('message', onMsg);
          resolve();
        }
      };
      child.on('message', onMsg);
      child.once('exit', (code, signal) => reject(new Error(`executor exited before it was ready (code ${code}, signal ${signal})`)));
      child.once('error', reject);
    });
    ready.catch(() => {});
    child.once('exit', () => {
      this.live.delete(child);
      this.spares = this.spares.filter((w) => w.child !== child);
    });
    return { child, ready };
  }

  private refill(): void {
    if (this.closing) return;
    while (this.spares.length < this.spareCount) this.spares.push(this.spawn());
  }

  /** Hands `socket` to a ready executor for the session. `onMessage` receives what the executor
   * sends about its session (scheduler requests); `onEnd` is called once when it exits. */
  async attach(
    msg: SessionMessage,
    socket: Socket,
    onMessage: (m: Record<string, unknown>) => void,
    onEnd: (end: ExecutorEnd) => void,
  ): Promise<{ pid: number; send(m: object): void; kill(): void; exited: Promise<void> }> {
    const warm = this.spares.shift() ?? this.spawn();
    this.refill();
    await warm.ready;
    if (socket.destroyed) {
      // The guest went away while the executor got ready: it stays a spare for the next session.
      if (this.closing) warm.child.kill('SIGKILL');
      else this.spares.unshift(warm);
      throw new Error('the guest closed its connection before the handoff');
    }
    const child = warm.child;
    let stats: unknown;
    child.on('message', (m: unknown) => {
      if (typeof m !== 'object' || m === null) return;
      const mm = m as Record<string, unknown>;
      if (mm.type === 'ended') stats = m;
      else onMessage(mm);
    });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        onEnd({ code, signal, stats });
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.send(msg, socket, { keepOpen: false }, (err) => (err ? reject(err) : resolve()));
    });
    return {
      pid: child.pid ?? 0,
      send: (m: object) => {
        if (child.connected) child.send(m);
      },
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
      exited,
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    const exits = [...this.live].map(
      (c) => new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
        setTimeout(() => c.kill('SIGKILL'), 3000).unref();
      }),
    );
    await Promise.all(exits);
  }
}
