// Serves one guest connection after the handoff: frames are processed strictly in order; CALLs
// are dispatched through the generated table; replies go out in order. A protocol violation ends
// the connection (and with it this executor's session) with one log line; a CUDA error is just
// the call's result.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';

import { Flag, FrameType } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import { FrameParser, encodeFrame, type Frame } from '../protocol/frame.js';
import { encodeStatus } from '../protocol/handshake.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import type { ExecContext } from './context.js';
import { CudaError } from './cuda.js';
import { OPS } from './gen/dispatch.js';
import { pumpPendingStream } from './custom/memory.js';
import { directSocket } from './direct-socket.js';

export interface ServeStats {
  calls: number;
  asyncCalls: number;
  bytesIn: number;
  bytesOut: number;
}

export class SessionServer {
  private readonly parser = new FrameParser({
    reuseBodies: true,
    onCallInPlace: (flags, id, op, buf, start, end) => {
      if (this.backlog || this.closed) return false;
      this.onCallAt(flags, id, op, buf, start, end);
      return true;
    },
  });
  /** Frames that arrived while a device-to-host stream was being sent; served after it. */
  private backlog: Frame[] | null = null;
  private readonly w = new Writer(64 * 1024);
  private readonly reader = new Reader(Buffer.alloc(0));
  /** Writer for fire-and-forget calls: their outputs are discarded, so it is never sent. */
  private readonly sink = new Writer(256);
  /** First error of a MORE-chained group of calls, reported with the group's last frame. */
  private groupErr = 0;
  private inGroup = false;
  readonly stats: ServeStats = { calls: 0, asyncCalls: 0, bytesIn: 0, bytesOut: 0 };
  private closed = false;

  constructor(
    private readonly x: ExecContext,
    private sock: Socket,
    private readonly log: Logger,
    private readonly onClose: (reason: string) => void,
  ) {}

  start(): void {
    this.sock = directSocket(
      this.sock,
      this.parser,
      (f) => {
        // Reused bodies are only valid during this callback: copy what must wait.
        if (this.backlog) this.backlog.push({ ...f, payload: Buffer.from(f.payload) });
        else this.onFrame(f);
      },
      (n) => (this.stats.bytesIn += n),
      (e) => this.fail(e),
    );
    this.sock.on('error', (e) => this.close(`socket error: ${e.message}`));
    this.sock.on('close', () => this.close('guest disconnected'));
    this.write(encodeFrame(FrameType.ATTACHED, 0, 0, 0, encodeStatus(0, 'ok')));
  }

  private write(b: Buffer): void {
    this.stats.bytesOut += b.length;
    this.sock.write(b);
  }

  private fail(e: unknown): void {
    if (e instanceof ProtocolError) {
      this.log.warn({ reason: e.message }, 'protocol error; dropping connection');
      this.close(`protocol error: ${e.message}`);
    } else if (e instanceof CudaError) {
      this.log.error({ reason: e.message, code: e.code }, 'transfer failed mid-reply; dropping connection');
      this.close(e.message);
    } else {
      this.log.error({ err: e }, 'executor failure; dropping connection');
      this.close('internal error');
    }
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    this.onClose(reason);
  }

  /** Streams a large reply; frames that arrive meanwhile wait in the backlog, preserving order. */
  private stream(id: number, result: Buffer): void {
    this.backlog = [];
    const write = (b: Buffer, done: () => void): boolean => {
      this.stats.bytesOut += b.length;
      return this.sock.write(b, () => done());
    };
    const drained = (): Promise<void> => new Promise((resolve) => {
      const on = (): void => {
        this.sock.off('close', on);
        this.sock.off('drain', on);
        resolve();
      };
      this.sock.once('drain', on);
      this.sock.once('close', on);
    });
    pumpPendingStream(this.x, id, result, write, drained).then(
      () => {
        const queued = this.backlog ?? [];
        this.backlog = null;
        if (queued.length) this.log.debug({ frames: queued.length }, 'serving frames queued behind a stream');
        try {
          for (const f of queued) {
            const pending = this.backlog as Frame[] | null; // set again if f starts another stream
            if (pending) pending.push(f);
            else this.onFrame(f);
          }
        } catch (e) {
          this.fail(e);
        }
      },
      (e: unknown) => this.fail(e),
    );
  }

  private onFrame(f: Frame): void {
    if (this.closed) return;
    switch (f.type) {
      case FrameType.CALL:
        this.onCall(f);
        return;
      case FrameType.PING:
        this.write(encodeFrame(FrameType.PONG, 0, f.id, 0, f.payload));
        return;
      default:
        throw new ProtocolError(`unexpected frame type ${f.type} after attach`);
    }
  }

  private onCall(f: Frame): void {
    this.onCallAt(f.flags, f.id, f.op, f.payload, 0, f.payload.length);
  }

  private onCallAt(flags: number, id: number, opId: number, buf: Buffer, start: number, end: number): void {
    const op = OPS.get(opId);
    if (!op) throw new ProtocolError(`unknown op 0x${opId.toString(16)}`);
    const noreply = (flags & Flag.NOREPLY) !== 0;
    const more = (flags & Flag.MORE) !== 0;
    if (noreply && more) throw new ProtocolError('NOREPLY and MORE together');
    const r = this.reader.reset(buf, start, end);
    const ctxId = r.u64();
    const w = noreply ? this.sink.reset() : this.w.reset();
    const at = w.beginFrame();
    w.u32(0);
    let res: number;
    try {
      this.x.setCurrentCtx(ctxId);
      res = op.run(this.x, r, w);
    } catch (e) {
      if (!(e instanceof CudaError)) throw e;
      res = e.code;
      this.log.debug({ op: op.name, code: e.code, reason: e.message }, 'call rejected');
    }
    this.stats.calls++;
    if (noreply) {
      this.stats.asyncCalls++;
      if (res !== 0) this.x.defer(res);
      return;
    }
    if (more) {
      this.inGroup = true;
      if (res !== 0 && this.groupErr === 0) this.groupErr = res;
      return;
    }
    if (this.inGroup) {
      if (this.groupErr !== 0 && res === 0) res = this.groupErr;
      this.groupErr = 0;
      this.inGroup = false;
    }
    if (op.sync) {
      const d = this.x.takeDeferred();
      if (res === 0 && d !== 0) res = d;
    }
    if (res !== 0) {
      this.x.pendingStream = undefined;
      w.len = at + 16 + 4;
    }
    w.buf.writeUInt32LE(res >>> 0, at + 16);
    if (this.x.pendingStream) {
      this.stream(id, Buffer.from(w.buf.subarray(at + 16, at + 20)));
      return;
    }
    w.finishFrame(at, FrameType.REPLY, 0, id, 0);
    this.write(w.take());
  }
}
