// One end of an executor's control connection (docs/executors.md): JSON messages, one a line, over
// the mediator's Unix socket `<stateDir>/executors.sock`. Each received line is validated with the
// receiving side's schema (src/common/executor-ipc.ts); a line that is not valid JSON, fails the
// schema or runs past MAX_LINE means the two sides disagree, and the receiver decides (`invalid`).
//
// Sending never throws: a write to a peer that has gone fails, and the connection's 'close' (the
// end of the link, which the owner handles) follows.

import type { Socket } from 'node:net';
import type { z } from 'zod';

import { ipcIssue } from './executor-ipc.js';

/** A longer line is refused: the largest message (adopt) is a few hundred bytes. */
const MAX_LINE = 64 * 1024;

export interface LinkHandlers<In> {
  message(m: In): void;
  /** A line the schema refused; no more messages are read after it. */
  invalid(issue: string): void;
  /** The connection is gone (once). */
  close(): void;
}

export class ControlLink<In> {
  private buf = '';
  private closed = false;
  private stopped = false;

  constructor(
    readonly socket: Socket,
    private readonly schema: z.ZodType<In>,
    private handlers: LinkHandlers<In>,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    // The 'close' that follows an error ends the link.
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.handlers.close();
    });
  }

  /** Replaces where messages go (the mediator routes a connection by its first message). */
  route(handlers: LinkHandlers<In>): void {
    this.handlers = handlers;
  }

  get connected(): boolean {
    return !this.closed && !this.socket.destroyed && this.socket.writable;
  }

  /** Writes `m` as one line; false when the connection is gone. `written` is called once the
   * line is handed to the system, or has failed (never when false is returned). */
  send(m: object, written?: () => void): boolean {
    if (!this.connected) return false;
    try {
      this.socket.write(`${JSON.stringify(m)}\n`, () => written?.());
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  /** Shuts the writing side once what was sent has gone; the peer then reads it all and closes
   * (the connection's 'close' follows). */
  end(): void {
    this.socket.end();
  }

  private onData(chunk: string): void {
    if (this.stopped) return;
    this.buf += chunk;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!this.deliver(line)) return;
    }
    if (this.buf.length > MAX_LINE) this.refuse(`a line longer than ${MAX_LINE} bytes`);
  }

  /** False once the link stopped reading. */
  private deliver(line: string): boolean {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.refuse('a line that is not JSON');
      return false;
    }
    const r = this.schema.safeParse(raw);
    if (!r.success) {
      this.refuse(ipcIssue(r.error));
      return false;
    }
    this.handlers.message(r.data);
    return !this.stopped && !this.closed;
  }

  private refuse(issue: string): void {
    this.stopped = true;
    this.buf = '';
    this.handlers.invalid(issue);
  }
}
