// The executor's control connection to the mediator (docs/executors.md): the mediator's Unix
// socket `<stateDir>/executors.sock`, which outlives any one mediator. While connected, the
// session's requests (GPU slices, quota, usage) go over it and the mediator's steering comes back.
// When it is lost (the mediator was killed or is being upgraded), the executor keeps serving its
// guest: only what needs the mediator waits (a GPU slice, more quota). It reconnects with a
// bounded backoff and greets the new mediator with its whole state (`adopt`), built by `greeting`
// at each connection, so the new mediator can take the session over.

import net from 'node:net';

import { ControlLink } from '../common/control-link.js';
import { toExecutorSchema, type FromExecutor, type ToExecutor } from '../common/executor-ipc.js';

/** Reconnection backoff: from the first to the last, doubling. */
export const RECONNECT_FIRST_MS = 100;
export const RECONNECT_MAX_MS = 2000;

export interface ControlHandlers {
  /** The first message of each connection: `ready` (a fresh executor) or `adopt`. */
  greeting(): FromExecutor;
  message(m: ToExecutor): void;
  /** The mediator sent what this side cannot read. */
  invalid(issue: string): void;
  /** The connection is lost; true to reconnect (a serving executor), false to give up. */
  lost(): boolean;
  /** Connected again after a loss, the greeting sent. */
  restored(): void;
}

export class ControlClient {
  private link: ControlLink<ToExecutor> | undefined;
  private delay = RECONNECT_FIRST_MS;
  /** The executor hung up on purpose (finish): the close that follows is not a lost mediator. */
  private finishing = false;

  constructor(private readonly path: string, private readonly h: ControlHandlers) {}

  get connected(): boolean {
    return this.link?.connected ?? false;
  }

  /** The first connection; rejects when the mediator's socket cannot be reached. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        this.attach(s);
        resolve();
      });
    });
  }

  /** Sends `m`; false when there is no mediator to send to now (the message is dropped: what it
   * said is part of the state the next mediator is greeted with). */
  send(m: FromExecutor, written?: () => void): boolean {
    return this.link?.send(m, written) ?? false;
  }

  /** Sends `m` as the last message and hangs up: `closed` is called once the mediator has read
   * everything and closed its end. Exiting right after writing instead lost the last lines now and
   * then: a mediator that wrote to the connection of an executor that had exited (a GPU grant)
   * got EPIPE, and its socket was destroyed with them unread. False when there is no mediator. */
  finish(m: FromExecutor, closed: () => void): boolean {
    const link = this.link;
    if (!link?.connected) return false;
    this.finishing = true;
    link.send(m);
    link.socket.once('close', closed);
    link.end();
    return true;
  }

  private attach(s: net.Socket): void {
    this.delay = RECONNECT_FIRST_MS;
    const link = new ControlLink(s, toExecutorSchema, {
      message: (m) => this.h.message(m),
      invalid: (issue) => this.h.invalid(issue),
      close: () => {
        if (this.link === link) this.link = undefined;
        if (this.finishing) return;
        if (this.h.lost()) this.retry();
      },
    });
    this.link = link;
    link.send(this.h.greeting());
  }

  private retry(): void {
    const wait = this.delay;
    this.delay = Math.min(RECONNECT_MAX_MS, this.delay * 2);
    setTimeout(() => {
      const s = net.connect(this.path);
      s.once('error', () => {
        s.destroy();
        this.retry();
      });
      s.once('connect', () => {
        s.removeAllListeners('error');
        this.attach(s);
        this.h.restored();
      });
    }, wait);
  }
}
