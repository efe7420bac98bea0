// An executor process as the pool drives it (src/mediator/executors.ts): started by the mediator
// itself (a child with an IPC channel, the guest's connection handed over with the session
// message), or forked by the executor zygote (src/mediator/zygote.ts: a grandchild, handed its
// guest's connection over a socketpair, then its session over the control socket).

import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

import { sendIpc, type SessionMessage } from '../common/executor-ipc.js';
import { socketFd, zygoteCalls } from '../common/zygote-calls.js';

export type ExitListener = (code: number | null, signal: NodeJS.Signals | null) => void;

export interface ExecutorProcess {
  readonly pid: number;
  /** How it was started. */
  readonly form: 'spawned' | 'forked';
  /** Its end has been seen. */
  readonly exited: boolean;
  /** Called once, when it ends (at once if it has). */
  onExit(listener: ExitListener): void;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
  /** Hands it the session and the guest's connection; resolves null once both are on their way
   * (the mediator's copy of the connection is then closed), or with why not. `sendControl` sends
   * on its control connection. */
  hand(m: SessionMessage, guest: Socket, sendControl: (m: SessionMessage) => boolean): Promise<Error | null>;
  /** The mediator is leaving it running (an upgrade): nothing of it keeps the mediator alive. */
  release(): void;
}

/** An executor the mediator forked with child_process. */
export class SpawnedExecutor implements ExecutorProcess {
  readonly form = 'spawned';
  readonly pid: number;

  constructor(private readonly child: ChildProcess) {
    this.pid = child.pid ?? 0;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  onExit(listener: ExitListener): void {
    if (this.exited) listener(this.child.exitCode, this.child.signalCode);
    else this.child.once('exit', listener);
  }

  kill(signal: 'SIGTERM' | 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }

  hand(m: SessionMessage, guest: Socket): Promise<Error | null> {
    return sendIpc(this.child, m, guest);
  }

  release(): void {
    this.child.channel?.unref();
    this.child.unref();
  }
}

/** How long a forked executor's end waits for the zygote's word on how it ended, once its handoff
 * socket closed (the zygote reaps on SIGCHLD: milliseconds). */
const EXIT_REPORT_WAIT_MS = 1000;

/**
 * An executor the zygote forked. Its end is known two ways: the zygote reports how it ended, and
 * its handoff socket closes (the executor keeps its end open while it lives). The second is what
 * still works once the zygote is gone.
 */
export class ForkedExecutor implements ExecutorProcess {
  readonly form = 'forked';
  private ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly listeners: ExitListener[] = [];
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly pid: number,
    /** The mediator's end of the executor's handoff socketpair. */
    private readonly handoff: Socket,
    /** Signals it through its zygote, which knows whether the pid is still its child's. */
    private readonly signal: (pid: number, signal: 'SIGTERM' | 'SIGKILL') => void,
    /** Whether its zygote can still report its end. */
    private readonly zygoteAlive: () => boolean,
  ) {
    handoff.on('error', () => {});
    handoff.on('data', () => {});
    handoff.on('close', () => {
      if (this.ended) return;
      if (!this.zygoteAlive()) return this.end(null, null);
      this.waitTimer = setTimeout(() => this.end(null, null), EXIT_REPORT_WAIT_MS);
      this.waitTimer.unref();
    });
  }

  get exited(): boolean {
    return this.ended !== undefined;
  }

  /** Its end: from the zygote's report, its handoff socket, or the zygote's loss. */
  end(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.ended) return;
    clearTimeout(this.waitTimer);
    this.ended = { code, signal };
    this.handoff.destroy();
    for (const l of this.listeners.splice(0)) l(code, signal);
  }

  /** Its zygote is gone: its handoff socket alone tells its end from now on. */
  zygoteLost(): void {
    if (this.handoff.destroyed) this.end(null, null);
  }

  onExit(listener: ExitListener): void {
    if (this.ended) listener(this.ended.code, this.ended.signal);
    else this.listeners.push(listener);
  }

  kill(signal: 'SIGTERM' | 'SIGKILL'): void {
    if (!this.ended) this.signal(this.pid, signal);
  }

  async hand(m: SessionMessage, guest: Socket, sendControl: (m: SessionMessage) => boolean): Promise<Error | null> {
    const guestFd = socketFd(guest);
    const handoffFd = socketFd(this.handoff);
    if (guestFd < 0) return new Error("the guest's connection has no descriptor");
    if (handoffFd < 0 || this.ended) return new Error('the executor has ended');
    const r = zygoteCalls().sendFd(handoffFd, guestFd);
    if (r !== 0) return new Error(`could not send the guest's connection (errno ${-r})`);
    // The executor holds the connection now; the session message tells it to take it.
    guest.destroy();
    if (!sendControl(m)) return new Error('the control connection is closed');
    return null;
  }

  release(): void {
    this.handoff.unref();
  }
}
