// Executor processes: one per attached guest session. A few are forked ahead of time (and have
// already loaded the driver and run cuInit), so a guest's first GPU call costs a handoff, not a
// process start.
//
// Starting an executor costs a fraction of a second of CPU (Node, the driver, cuInit). When many
// guests attach at once (a burst of short jobs), starting one process for each at the same time
// leaves every process, the mediator included, a sliver of the CPU: handshakes go unanswered past
// the guests' deadlines while the executors all crawl. So at most `maxStarting` executors start at
// once and the sessions beyond them wait in line, in order, for the next one that is ready; each
// start finishes sooner and the mediator keeps the CPU it needs to answer the others.

import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';

import { fromExecutorSchema, ipcIssue, sendIpc, type FromExecutor, type MessageOf, type SessionMessage, type ToExecutor } from '../common/executor-ipc.js';
import type { BackendKind } from '../executor/driver.js';
import type { DeviceTimeChoice } from '../executor/device-time.js';
import { EXECUTOR_MAIN } from './backend.js';

/** Executors started at once by default: one per CPU (at least two). */
export function defaultMaxStarting(): number {
  return Math.max(2, availableParallelism());
}

export interface ExecutorEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The executor's last report on its session, when it got to send one. */
  ended?: MessageOf<FromExecutor, 'ended'>;
}

/** What the executor sends about its attached session (the pool itself takes 'ready' and 'ended'). */
export type SessionRequest = Exclude<FromExecutor, { type: 'ready' | 'ended' }>;

/** A session's executor, as the mediator drives it. */
export interface ExecutorHandle {
  pid: number;
  /** Never throws: a message to an executor that is exiting is dropped (its exit ends the session). */
  send(m: ToExecutor): void;
  /** Abandons the session's in-flight GPU work now, even while the executor is inside a long
   * call and cannot read `send`'s messages (src/executor/abandon.ts); precedes ending it. */
  abandon(): void;
  kill(): void;
  exited: Promise<void>;
}

interface Warm {
  child: ChildProcess;
  /** Where the executor's (validated) messages go: its readiness, then its session's requests. */
  onMessage: (m: FromExecutor) => void;
}

/** A session waiting in line for an executor. */
interface Waiter {
  resolve(w: Warm): void;
  reject(e: Error): void;
}

function killNow(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The executor's descriptor of its control socket, whose other end the mediator writes a byte
 * to when the session's in-flight work must be abandoned (a stdio pipe: Node makes it a socket
 * pair). Whatever the byte says, and the mediator closing its end, mean the same. */
const CANCEL_FD = 4;

function controlOf(child: ChildProcess): Writable | undefined {
  const s = child.stdio[CANCEL_FD];
  return s && 'write' in s ? s : undefined;
}

export class ExecutorPool {
  /** Ready executors waiting for a session. */
  private spares: Warm[] = [];
  /** Executors forked and not yet ready. */
  private readonly starting = new Set<Warm>();
  /** Sessions waiting for an executor, oldest first. */
  private waiters: Waiter[] = [];
  private readonly live = new Set<ChildProcess>();
  private closing = false;

  constructor(
    private readonly backend: BackendKind,
    private readonly log: Logger,
    private readonly spareCount = 1,
    private readonly deviceTime: DeviceTimeChoice = 'auto',
    /** The executor's entry point (tests give a stand-in). */
    private readonly executorMain = EXECUTOR_MAIN,
    /** Executors starting at once, at most (the rest of a burst waits in line). */
    private readonly maxStarting = defaultMaxStarting(),
  ) {}

  start(): void {
    this.fill();
  }

  /** Executor processes alive, spares included. */
  get running(): number {
    return this.live.size;
  }

  /** Executors started ahead of time, waiting for a session. */
  get spare(): number {
    return this.spares.length;
  }

  private spawn(): void {
    const child = fork(this.executorMain, ['--backend', this.backend, '--device-time', this.deviceTime, '--cancel-fd', String(CANCEL_FD)], {
      // Extra Node flags for executors only, for profiling or debugging (e.g. --cpu-prof).
      execArgv: (process.env.VGPU_EXECUTOR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'],
      serialization: 'json',
    });
    this.live.add(child);
    const log = this.log.child({ executorPid: child.pid });
    // A write to an executor that has just exited fails (EPIPE); its exit ends the session anyway.
    controlOf(child)?.on('error', () => {});
    const warm: Warm = {
      child,
      onMessage: (m) => {
        if (m.type === 'ready') this.readied(warm);
        else log.warn({ message: m.type }, 'message from an executor without a session');
      },
    };
    this.starting.add(warm);
    // A ChildProcess reports a failed send, kill or start as an 'error' event, which throws in the
    // mediator when nobody listens: sends already report to their callers, so log and go on. A
    // start that failed (no process) reports nothing else.
    child.on('error', (e) => {
      log.warn({ err: e.message }, 'executor process error');
      if (child.pid === undefined) {
        this.live.delete(child);
        this.failedStart(warm, e.message);
      }
    });
    child.on('message', (raw: unknown) => {
      const m = fromExecutorSchema.safeParse(raw);
      if (m.success) return warm.onMessage(m.data);
      log.error({ issue: ipcIssue(m.error) }, 'invalid message from executor; ending it');
      killNow(child);
    });
    child.once('exit', (code, signal) => {
      this.live.delete(child);
      if (this.starting.has(warm)) {
        if (!this.closing) log.warn({ code, signal }, 'executor exited before it was ready');
        return this.failedStart(warm, `executor exited before it was ready (code ${code}, signal ${signal})`);
      }
      const spare = this.spares.indexOf(warm);
      if (spare < 0) return;
      // A ready spare that went away (killed by hand, say) is replaced.
      if (!this.closing) log.warn({ code, signal }, 'spare executor exited');
      this.spares.splice(spare, 1);
      this.fill();
    });
  }

  /** An executor finished starting: the oldest waiting session gets it, else it is a spare. */
  private readied(warm: Warm): void {
    if (!this.starting.delete(warm)) return;
    const w = this.waiters.shift();
    if (w) w.resolve(warm);
    else this.spares.push(warm);
    this.fill();
  }

  /** An executor did not start: the oldest waiting session is told (so a backend that cannot
   * start executors fails each session once instead of keeping them waiting), and the others
   * get new starts. Without waiters nothing is restarted until a session asks. */
  private failedStart(warm: Warm, why: string): void {
    if (!this.starting.delete(warm)) return;
    this.waiters.shift()?.reject(new Error(why));
    if (this.waiters.length > 0) this.fill();
  }

  /** Starts executors for the sessions waiting and the spares missing, `maxStarting` at a time. */
  private fill(): void {
    if (this.closing) return;
    const want = this.spareCount + this.waiters.length;
    while (this.starting.size < this.maxStarting && this.starting.size + this.spares.length < want) this.spawn();
  }

  /** A ready executor: a spare at once, else the next one to finish starting. */
  private take(): Promise<Warm> {
    if (this.closing) return Promise.reject(new Error('the mediator is stopping'));
    const spare = this.spares.shift();
    const got = spare ? Promise.resolve(spare) : new Promise<Warm>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.fill();
    return got;
  }

  /** Hands `socket` to a ready executor for the session. `onMessage` receives what the executor
   * sends about its session (scheduler and quota requests, usage); `onEnd` is called once when it
   * exits. `onHandle` gets the executor's handle before the session is sent, so that answers to
   * the executor's first requests (a GPU slice, quota) always have somewhere to go. */
  async attach(
    msg: SessionMessage,
    socket: Socket,
    onMessage: (m: SessionRequest) => void,
    onEnd: (end: ExecutorEnd) => void,
    onHandle: (h: ExecutorHandle) => void = () => {},
  ): Promise<ExecutorHandle> {
    const warm = await this.take();
    const child = warm.child;
    const log = this.log.child({ executorPid: child.pid, session: msg.sessionId });
    let ended: ExecutorEnd['ended'];
    warm.onMessage = (m) => {
      if (m.type === 'ended') ended = m;
      else if (m.type === 'ready') log.warn({}, 'executor said it was ready again');
      else onMessage(m);
    };
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        onEnd({ code, signal, ...(ended && { ended }) });
        resolve();
      });
    });
    const handle: ExecutorHandle = {
      pid: child.pid ?? 0,
      send: (m) => {
        void sendIpc(child, m).then((e) => {
          if (e) log.debug({ message: m.type, err: e.message }, 'message to an exiting executor dropped');
        });
      },
      abandon: () => {
        controlOf(child)?.write(Buffer.of(1));
      },
      kill: () => killNow(child),
      exited,
    };
    onHandle(handle);
    const err = await sendIpc(child, msg, socket);
    if (err) {
      killNow(child);
      throw new Error(`could not hand the session to executor ${child.pid}: ${err.message}`);
    }
    return handle;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error('the mediator is stopping'));
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
