// The mediator's side of the executor zygote (src/executor/zygote.ts; docs/executors.md,
// "Zygote"): starts it, asks it for executors and turns its reports into ForkedExecutors' ends.
// When it cannot start or dies, the pool starts executors itself until a new one is ready.

import { fork, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import type { Logger } from 'pino';

import { ipcIssue, sendIpc } from '../common/executor-ipc.js';
import { FORK_ENV_KEYS, fromZygoteSchema, type FromZygote } from '../common/zygote-ipc.js';
import { zygoteCalls } from '../common/zygote-calls.js';
import { ForkedExecutor } from './executor-process.js';

/** How long the zygote may take to load the executor. */
const ZYGOTE_READY_MS = 20_000;
/** How long one fork may take to be answered. */
const FORK_ANSWER_MS = 5_000;

export interface ZygoteStart {
  launcher: string;
  args: string[];
  execArgv: string[];
}

export class Zygote {
  private readonly child: ChildProcess;
  /** Settles when the zygote greets (or fails to). */
  readonly ready: Promise<void>;
  private alive = true;
  private nextId = 1;
  private readonly children = new Map<number, ForkedExecutor>();
  /** Exits reported before the pool had the child (its `forked` answer came later): rare, kept. */
  private readonly earlyExits = new Map<number, { code: number | null; signal: NodeJS.Signals | null }>();
  /** Called once when the zygote ends (not when the mediator closes it). */
  onLost: (why: string) => void = () => {};
  private closing = false;

  constructor(start: ZygoteStart, private readonly log: Logger) {
    this.child = fork(start.launcher, ['--zygote', ...start.args], {
      execArgv: start.execArgv,
      // As executors: out of the mediator's process group, so its terminal's Ctrl-C reaches
      // neither; whatever it prints on fd 1 goes nowhere.
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    let greeted!: () => void;
    let failed!: (e: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      greeted = resolve;
      failed = reject;
    });
    this.ready.catch(() => {});
    const timer = setTimeout(() => {
      failed(new Error(`the executor zygote was not ready within ${ZYGOTE_READY_MS} ms`));
      this.child.kill('SIGKILL');
    }, ZYGOTE_READY_MS);
    timer.unref();
    this.child.on('error', (e) => log.warn({ err: e.message }, 'executor zygote process error'));
    this.child.on('message', (raw: unknown) => {
      const parsed = fromZygoteSchema.safeParse(raw);
      if (!parsed.success) {
        log.error({ issue: ipcIssue(parsed.error) }, 'invalid message from the executor zygote; ending it');
          this.child.kill('SIGKILL');
        return;
      }
      const m = parsed.data;
      if (m.type === 'zygote') {
        clearTimeout(timer);
        greeted();
      } else this.onMessage(m);
    });
    this.child.once('exit', (code, signal) => {
      clearTimeout(timer);
      this.alive = false;
      failed(new Error(`the executor zygote exited before it was ready (code ${code}, signal ${signal})`));
      if (this.current) this.answered(this.current.id, new Error('the executor zygote exited'));
      for (const q of this.queue.splice(0)) q.reject(new Error('the executor zygote exited'));
      for (const c of this.children.values()) c.zygoteLost();
      if (!this.closing) this.onLost(`code ${code}, signal ${signal}`);
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get usable(): boolean {
    return this.alive && !this.closing;
  }

  /** Forks asked for and not answered yet, in order: only the first has been sent. */
  private readonly queue: Array<{ id: number; resolve: (e: ForkedExecutor) => void; reject: (e: Error) => void }> = [];
  private current: { id: number; ours: Socket; timer: NodeJS.Timeout; resolve: (e: ForkedExecutor) => void; reject: (e: Error) => void } | undefined;

  /** Forks are being asked for (a child may greet before its fork is answered). */
  get forking(): boolean {
    return this.current !== undefined || this.queue.length > 0;
  }

  /** A new executor, forked by the zygote. */
  fork(): Promise<ForkedExecutor> {
    return new Promise((resolve, reject) => {
      if (!this.usable) return reject(new Error('the executor zygote is gone'));
      this.queue.push({ id: this.nextId++, resolve, reject });
      this.next();
    });
  }

  /** Sends the next fork request, with the child's end of a new handoff socketpair. */
  private next(): void {
    if (this.current || !this.usable) return;
    const q = this.queue.shift();
    if (!q) return;
    const fds = new Int32Array(2);
    const r = zygoteCalls().socketpair(fds);
    if (r !== 0) {
      q.reject(new Error(`socketpair failed (errno ${-r})`));
      return this.next();
    }
    // The mediator's end is read only to see it close (the executor's end); nothing is written
    // to it but descriptors (vg_zy_send_fd).
    const ours = new Socket({ fd: fds[0] ?? -1, readable: true, writable: false });
    ours.on('error', () => {});
    const theirs = new Socket({ fd: fds[1] ?? -1, readable: false, writable: false });
    const timer = setTimeout(() => this.answered(q.id, new Error(`the executor zygote did not answer a fork within ${FORK_ANSWER_MS} ms`)), FORK_ANSWER_MS);
    timer.unref();
    this.current = { ...q, ours, timer };
    const env = Object.fromEntries(FORK_ENV_KEYS.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]])));
    void sendIpc(this.child, { type: 'fork', id: q.id, env }, theirs).then((err) => {
      if (err) {
        theirs.destroy();
        this.answered(q.id, err);
      }
    });
  }

  /** The current fork is over: a child (its pid) or why not. */
  private answered(id: number, outcome: number | Error): void {
    const c = this.current;
    if (!c || c.id !== id) {
      // Answered after its time was up: the pool has moved on, so the child is ended.
      if (typeof outcome === 'number') this.signal(outcome, 'SIGKILL');
      return;
    }
    this.current = undefined;
    clearTimeout(c.timer);
    if (typeof outcome !== 'number') {
      c.ours.destroy();
      c.reject(outcome);
    } else {
      const child = new ForkedExecutor(outcome, c.ours, (pid, sig) => this.signal(pid, sig), () => this.alive);
      const early = this.earlyExits.get(outcome);
      if (early) {
        this.earlyExits.delete(outcome);
        child.end(early.code, early.signal);
      } else this.children.set(outcome, child);
      c.resolve(child);
    }
    this.next();
  }

  private onMessage(m: Exclude<FromZygote, { type: 'zygote' }>): void {
    if (m.type === 'exited') {
      const c = this.children.get(m.pid);
      const signal = (m.signal ?? null) as NodeJS.Signals | null;
      if (c) {
        this.children.delete(m.pid);
        c.end(m.code, signal);
      } else this.earlyExits.set(m.pid, { code: m.code, signal });
      return;
    }
    this.answered(m.id, m.type === 'forked' ? m.pid : new Error(m.error));
  }

  private signal(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
    if (this.alive) {
      void sendIpc(this.child, { type: 'kill', pid, signal });
      return;
    }
    // Without its zygote, the executor is signalled directly while its end has not been seen
    // (its handoff socket is open, so the pid is still its).
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }

  /** Ends the zygote; the executors it forked are the pool's to end. */
  close(): void {
    this.closing = true;
    if (this.alive) this.child.kill('SIGTERM');
    this.child.channel?.unref();
    this.child.unref();
  }
}
