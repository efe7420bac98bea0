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
import { NeedQuota, type ExecContext } from './context.js';
import { CudaError } from './cuda.js';
import { OPS } from './gen/dispatch.js';
import { pumpPendingStream } from './custom/memory.js';
import { directSocket } from './direct-socket.js';
import { Gate } from './gate.js';
import { FrameQueue } from './frame-queue.js';

export interface ServeStats {
  calls: number;
  asyncCalls: number;
  bytesIn: number;
  bytesOut: number;
  /** Time spent executing calls (what the GPU time-slice scheduler charges), in ns. */
  busyNs: number;
}

export class SessionServer {
  private readonly parser = new FrameParser({
    reuseBodies: true,
    onCallInPlace: (flags, id, op, buf, start, end) => {
      if (!this.canServe()) return false;
      this.onCallAt(flags, id, op, buf, start, end);
      return true;
    },
  });
  /** Frames received but not served yet (payloads copied), strictly in arrival order. */
  private readonly queue = new FrameQueue();
  /** Reasons serving is paused: a multi-frame reply being sent, a quota reservation pending. */
  private pauses = 0;
  private readonly w = new Writer(64 * 1024);
  private readonly reader = new Reader(Buffer.alloc(0));
  /** Writer for fire-and-forget calls: their outputs are discarded, so it is never sent. */
  private readonly sink = new Writer(256);
  /** First error of a MORE-chained group of calls, reported with the group's last frame. */
  private groupErr = 0;
  private inGroup = false;
  readonly stats: ServeStats = { calls: 0, asyncCalls: 0, bytesIn: 0, bytesOut: 0, busyNs: 0 };
  private closed = false;

  constructor(
    private readonly x: ExecContext,
    private sock: Socket,
    private readonly log: Logger,
    private readonly onClose: (reason: string) => void,
    /** The GPU time slice; always open when no scheduler is attached. */
    private readonly gate: Gate = new Gate(() => {}, false, () => 0),
    /** Asks the mediator for more of the VM's quota (answered through quotaAnswer). */
    private readonly requestQuota: (bytes: number) => void = () => this.quotaAnswer(0),
  ) {}

  start(): void {
    this.gate.setResume(() => this.drain(), () => this.queue.length === 0 && this.pauses === 0);
    this.sock = directSocket(
      this.sock,
      this.parser,
      (f) => this.intake(f),
      (n) => (this.stats.bytesIn += n),
      (e) => this.fail(e),
      () => {
        this.gate.checkpoint(this.queue.length === 0);
        this.gate.newTurn();
      },
    );
    this.sock.on('error', (e) => this.close(`socket error: ${e.message}`));
    this.sock.on('close', () => this.close('guest disconnected'));
    this.write(encodeFrame(FrameType.ATTACHED, 0, 0, 0, encodeStatus(0, 'ok')));
  }

  /** A frame may be served right now: nothing queued before it, not paused, GPU slice held,
   * and this event-loop turn has not run long enough that the scheduler must get a word in. */
  private canServe(): boolean {
    return !this.closed && this.queue.length === 0 && this.pauses === 0 && !this.mustBreak() && this.gate.ready();
  }

  private drainScheduled = false;

  /** After ~10 ms of work in one turn, queue what follows and continue on the next turn. */
  private mustBreak(): boolean {
    if (!this.gate.shouldBreak()) return false;
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
    return true;
  }

  private intake(f: Frame): void {
    if (this.closed) return;
    const mustWait = this.queue.length > 0 || this.pauses > 0 || this.mustBreak() || (f.type === FrameType.CALL && !this.gate.ready());
    // Reused bodies are only valid during this callback: copy what must wait.
    if (mustWait) this.queue.push({ ...f, payload: Buffer.from(f.payload) });
    else this.onFrame(f);
  }

  /** Serves queued frames while nothing stops it (called when a pause ends or a slice arrives). */
  private drain(): void {
    this.gate.newTurn();
    try {
      while (this.queue.length > 0 && this.pauses === 0 && !this.closed) {
        const f = this.queue.peek()!;
        if (this.mustBreak()) return;
        if (f.type === FrameType.CALL && !this.gate.ready()) return;
        this.queue.shift();
        this.onFrame(f);
      }
      this.gate.checkpoint(this.queue.length === 0);
    } catch (e) {
      this.fail(e);
    }
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

  /** Quota requests in flight to the mediator, answered in order. */
  private readonly quotaWaits: Array<(granted: number) => void> = [];

  /** Pauses serving, asks the mediator for more of the VM's quota, then replays `f` first. */
  private awaitQuota(f: Frame, bytes: number): void {
    this.pauses++;
    this.queue.unshift(f);
    this.quotaWaits.push((granted) => {
      if (granted > 0) this.x.grantQuota(granted);
      else this.x.denyQuota();
      this.pauses--;
      this.drain();
    });
    this.requestQuota(bytes);
  }

  /** The mediator's answer to the oldest quota request (0 = refused). */
  quotaAnswer(granted: number): void {
    this.quotaWaits.shift()?.(granted);
  }

  /** Streams a large reply; frames that arrive meanwhile wait, preserving order. */
  private stream(id: number, result: Buffer): void {
    this.pauses++;
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
        this.pauses--;
        this.drain();
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
    const t0 = performance.now();
    try {
      this.x.setCurrentCtx(ctxId);
      res = op.run(this.x, r, w);
    } catch (e) {
      if (e instanceof NeedQuota) {
        this.awaitQuota({ type: FrameType.CALL, flags, id, op: opId, payload: Buffer.from(buf.subarray(start, end)) }, e.bytes);
        return;
      }
      if (!(e instanceof CudaError)) throw e;
      res = e.code;
      this.log.debug({ op: op.name, code: e.code, reason: e.message }, 'call rejected');
    }
    const ns = (performance.now() - t0) * 1e6;
    this.gate.charge(ns);
    this.stats.busyNs += ns;
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
