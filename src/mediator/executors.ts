// Executor processes: one per attached guest session. A few are forked ahead of time (and have
// already loaded the driver and run cuInit), so a guest's first GPU call costs a handoff, not a
// process start.

import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';

import { fromExecutorSchema, ipcIssue, sendIpc, type FromExecutor, type MessageOf, type SessionMessage, type ToExecutor } from '../common/executor-ipc.js';
import type { BackendKind } from '../executor/driver.js';
import type { DeviceTimeChoice } from '../executor/device-time.js';
import { EXECUTOR_MAIN } from './backend.js';

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
  ready: Promise<void>;
  /** Where the executor's (validated) messages go: its readiness, then its session's requests. */
  onMessage: (m: FromExecutor) => void;
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
  private spares: Warm[] = [];
  private readonly live = new Set<ChildProcess>();
  private closing = false;

  constructor(
    private readonly backend: BackendKind,
    private readonly log: Logger,
    private readonly spareCount = 1,
    private readonly deviceTime: DeviceTimeChoice = 'auto',
    /** The executor's entry point (tests give a stand-in). */
    private readonly executorMain = EXECUTOR_MAIN,
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
    const child = fork(this.executorMain, ['--backend', this.backend, '--device-time', this.deviceTime, '--cancel-fd', String(CANCEL_FD)], {
      // Extra Node flags for executors only, for profiling or debugging (e.g. --cpu-prof).
      execArgv: (process.env.VGPU_EXECUTOR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
      // fd 1 is not the mediator's stdout: whatever an executor prints there is its guest's (kernel
      // output, which the executor captures and forwards itself; src/executor/output.ts). fd 4
      // (CANCEL_FD) is the pipe the mediator abandons a session's running kernel through.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc', 'pipe'],
      serialization: 'json',
    });
    this.live.add(child);
    const log = this.log.child({ executorPid: child.pid });
    // A ChildProcess reports a failed send, kill or start as an 'error' event, which throws in the
    // mediator when nobody listens: sends already report to their callers, so log and go on.
    child.on('error', (e) => log.warn({ err: e.message }, 'executor process error'));
    // A write to an executor that has just exited fails (EPIPE); its exit ends the session anyway.
    controlOf(child)?.on('error', () => {});
    let ready!: () => void;
    let isReady = false;
    const warm: Warm = {
      child,
      ready: new Promise<void>((resolve, reject) => {
        ready = () => {
          isReady = true;
          resolve();
        };
        child.once('exit', (code, signal) => reject(new Error(`executor exited before it was ready (code ${code}, signal ${signal})`)));
        child.once('error', reject);
      }),
      onMessage: (m) => {
        if (m.type === 'ready') ready();
        else log.warn({ message: m.type }, 'message from an executor without a session');
      },
    };
    warm.ready.catch(() => {});
    child.on('message', (raw: unknown) => {
      const m = fromExecutorSchema.safeParse(raw);
      if (m.success) return warm.onMessage(m.data);
      log.error({ issue: ipcIssue(m.error) }, 'invalid message from executor; ending it');
      killNow(child);
    });
    child.once('exit', (code, signal) => {
      this.live.delete(child);
      // Exits without a session, for the log (a session's executor's exit is its session's end).
      if (!this.closing && !isReady) log.warn({ code, signal }, 'executor exited before it was ready');
      else if (!this.closing && this.spares.includes(warm)) log.warn({ code, signal }, 'spare executor exited');
      this.spares = this.spares.filter((w) => w.child !== child);
    });
    return warm;
  }

  private refill(): void {
    if (this.closing) return;
    while (this.spares.length < this.spareCount) this.spares.push(this.spawn());
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
    const warm = this.spares.shift() ?? this.spawn();
    this.refill();
    await warm.ready;
    if (socket.destroyed) {
      // The guest went away while the executor got ready: it stays a spare for the next session.
      if (this.closing) killNow(warm.child);
      else this.spares.unshift(warm);
      throw new Error('the guest closed its connection before the handoff');
    }
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
