// Serves one guest connection after the handoff: frames are processed strictly in order; CALLs
// are dispatched through the generated table; replies go out in order, each preceded by the
// kernel output the call flushed (src/executor/output.ts). A protocol violation ends the
// connection (and with it this executor's session) with one log line and an ERROR frame that
// tells the guest why; a CUDA error is just the call's result.
//
// Frames that cannot be served yet (no GPU slice, a quota answer or a streamed reply pending, the
// turn is used up) stay in the frame parser, unparsed, and are served from there when the reason
// goes away: nothing is copied or allocated per waiting frame, which matters for the tens of
// thousands of launches a fast guest can have in flight.

import { closeSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

import { Flag, FrameType } from '../protocol/constants.js';
import { ProtocolError, WireStatus } from '../protocol/errors.js';
import { FrameParser, encodeFrame, type Frame, type FrameConsumer } from '../protocol/frame.js';
import { encodeStatus, errorFrame } from '../protocol/handshake.js';
import { outputNotice } from '../protocol/notice.js';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { NeedQuota, type ExecContext } from './context.js';
import { NeedIpc, type IpcQuestion } from './ipc.js';
import { CudaError } from './cuda.js';
import { OPS } from './gen/dispatch.js';
import { pumpPendingStream } from './custom/memory.js';
import { directSocket, isUnixSocket, socketFd } from './direct-socket.js';
import { Gate } from './gate.js';
import { decompressPayload } from '../common/lz4.js';
import type { KernelOutput } from './output.js';
import { ControlReader, connectionRequest, handBackMarker, type NativeHotPath } from './hot-path.js';
import { mapGuestMemfd, receiveDescriptor } from './shm.js';

/** The least the executor reads ahead of what it serves (received but unserved frames), whatever
 * its staging share: reading on while stopped is what lets a waiting session notice its guest
 * going away. */
const BACKLOG_MIN = 2 * 1024 * 1024;

/** A CALL or answer of at least this many bytes is bulk data: after it the connection stays here
 * rather than going back to the native hot path (handBack). */
const BULK_MIN = 64 * 1024;

/** The calls the copy lane may serve without the GPU slice (mayTake): host-to-device copies,
 * synchronous or not, in every stream form, whether their data come over the connection or from
 * the shared region (page-locked memory, and pageable copies the guest stages there). */
const COPY_LANE_OPS: ReadonlySet<number> = new Set(
  [...OPS].filter(([, o]) => /^(cuMemcpyHtoD(Async)?_v2(_ptds|_ptsz)?|vgShmHtoD(Async)?)$/.test(o.name)).map(([id]) => id),
);

/** Copies between the device and the shared region: their frames are small, but they come in runs
 * of one per 4 MiB (a staged copy of pageable memory, guest/cuda/impl/memory.c), so after one the
 * connection stays here like after bulk data (handBack) rather than changing hands per piece. */
const SHM_COPY_OPS: ReadonlySet<number> = new Set(
  [...OPS].filter(([, o]) => /^vgShm(HtoD|DtoH)(Async)?$/.test(o.name)).map(([id]) => id),
);

/** Bytes of answers written but not yet taken by the guest beyond which serving waits until it
 * reads them: a guest that sends and never reads cannot make the executor hold its answers
 * without limit (with the staging share, what one session can make its executor buffer is bounded). */
const OUTPUT_MAX = 1024 * 1024;

/** How long a session's staging buffer outlives the last bulk data staged in it. Faulting in a
 * fresh one costs the kernel ~20 ms of CPU per 32 MiB share (8k page faults, each zeroed and
 * charged), paid again by every burst of copies that comes after the buffer was let go: at 1 s the
 * bench's 4 guests paid it on each burst (aggregate HtoD 0.80× of one guest, 0.86× with the buffer
 * kept, medians of alternated pairs; docs/benchmarks.md, "Aggregate HtoD at 4 guests"). Ten seconds covers a workload's pauses between bursts (an inference
 * batch, a training step); what is kept is the part of the buffer staging wrote, at most the
 * session's share and one read, and is bounded with the shares by --staging-max. */
const RELEASE_MS = 10_000;

/** How long a closing connection waits for its ERROR frame to be written before it is cut. */
const FAREWELL_MS = 1000;

/** How long after answering vgShmOffer the guest's descriptor may take to arrive: it sends it
 * as soon as it reads the answer. */
const DESCRIPTOR_MS = 5000;

/** The clock calls are charged by (ms); bound once: the global `performance` is a lazy getter. */
const now: () => number = performance.now.bind(performance);

export interface ServeStats {
  calls: number;
  asyncCalls: number;
  bytesIn: number;
  bytesOut: number;
  /** Time spent executing calls (what the GPU time-slice scheduler charges), in ns. */
  busyNs: number;
  /** Bytes received while the session did not hold its GPU slice and kept for when it does
   * (docs/executors.md, "Staging"); not those the copy lane served at once. */
  staged: number;
  /** Bytes of host-to-device copies served on the copy lane: without the GPU slice, while another
   * session held it (docs/executors.md, "Copy lane"). */
  laneIn: number;
  /** Times reading stopped because the received but unserved bytes reached the staging share. */
  stagingStalls: number;
  /** The most received but unserved bytes the parser held at once. */
  stagedPeak: number;
  /** Calls the native hot path served (also counted in calls and asyncCalls). */
  nativeCalls: number;
}

export class SessionServer {
  private readonly parser = new FrameParser({ reuseBodies: true });
  private readonly consumer: FrameConsumer = {
    ready: (type, op) => this.mayTake(type, op),
    call: (flags, id, op, buf, start, end) => this.onCall(flags, id, op, buf, start, end),
    frame: (f) => this.onOther(f),
  };
  /** Reasons serving is paused: a multi-frame reply being sent, a quota reservation pending, the
   * guest not reading its answers. */
  private pauses = 0;
  private readonly w = new Writer(64 * 1024);
  private readonly reader = new Reader(Buffer.alloc(0));
  /** Writer for fire-and-forget calls: their outputs are discarded, so it is never sent. */
  private readonly sink = new Writer(256);
  /** First error of a MORE-chained group of calls, reported with the group's last frame. */
  private groupErr = 0;
  private inGroup = false;
  readonly stats: ServeStats = { calls: 0, asyncCalls: 0, bytesIn: 0, bytesOut: 0, busyNs: 0, staged: 0, laneIn: 0, stagingStalls: 0, stagedPeak: 0, nativeCalls: 0 };
  private closed = false;
  /** Whether a call's error says the session's work was abandoned (src/executor/abandon.ts):
   * nothing more is served then, as the session is ending. */
  isAbandoned: (code: number) => boolean = () => false;
  /** Frames are being served (from a received chunk or the parser's backlog). */
  private serving = false;
  /** Something that may unblock serving happened while serving (a quota answered at once). */
  private again = false;
  /** The socket is paused while the guest's shared-memory descriptor is read (awaitDescriptor). */
  private receiving = false;
  /** The socket is paused because the parser holds the staging share in unserved bytes. */
  private readingPaused = false;
  /** Received but unserved bytes beyond which reading stops (the mediator's staging share for this
   * session, never under BACKLOG_MIN): the guest's writes then block instead of the executor's
   * memory growing. Up to it, bulk data is received while the session waits for its slice. */
  private stagingMax = BACKLOG_MIN;
  /** Clock (now(), ms) at the end of the last charged call or the start of this run
   * of calls: each call is charged the time since, so one clock read per call covers both the call
   * and the decoding that led to it. */
  private mark = 0;
  /** The driver's kernel output, taken after every answered call. */
  output: KernelOutput | undefined;
  /** The guest's protocol minor has notices (NOTIFY): kernel output and shutdown can be sent. */
  notices = false;
  /** The WELCOME offered compression: CALLs flagged LZ4 are decompressed (src/common/lz4.ts). */
  compression = false;
  /** Host-to-device copies may run without the GPU slice (mayTake; the mediator's --copy-lane). */
  copyLane = false;
  /** Kernel output bytes an older guest could not be sent. */
  private droppedOutput = 0;
  /** The native hot path (src/executor/hot-path.ts), which owns the connection between the runs of
   * calls this loop serves: it is handed back whenever all that was read is served. */
  hot: NativeHotPath | undefined;
  /** The socketpair to the hot path, over which the connection is handed back and forth. */
  private ctl: Socket | undefined;
  /** This loop owns the connection (reads and writes it); else the hot path does. */
  private owns = true;
  /** A hand-back waits for the guest to take what was written. */
  private handBackOnDrain = false;
  /** The last CALL served here moved bulk data (handBack). */
  private lastServedBulk = false;
  /** Notices to write once the connection is back (it was asked for). */
  private readonly ownFrames: Buffer[] = [];
  /** The native counters already added to stats. */
  private absorbed = { calls: 0, asyncCalls: 0, bytesIn: 0, bytesOut: 0, busyNs: 0, droppedOutput: 0 };

  constructor(
    private readonly x: ExecContext,
    private sock: Socket,
    private readonly log: Logger,
    private readonly onClose: (reason: string) => void,
    /** The GPU time slice; always open when no scheduler is attached. */
    private readonly gate: Gate = new Gate(() => {}, false, (ns) => ns),
    /** Asks the mediator for more of the VM's quota (answered through quotaAnswer). */
    private readonly requestQuota: (bytes: number) => void = () => this.quotaAnswer(0),
  ) {}

  start(): void {
    this.gate.setResume(() => this.pump(), () => !this.parser.stopped && this.pauses === 0);
    const original = this.sock;
    this.sock = directSocket(this.sock, this.parser, {
      onBytes: (n) => {
        this.stats.bytesIn += n;
      },
      onError: (e) => this.fail(e),
      onChunk: (feed) => this.onChunk(feed),
    });
    this.sock.on('error', (e) => this.close(`socket error: ${e.message}`));
    this.sock.on('close', () => this.close('guest disconnected'));
    this.x.shm.canReceive = socketFd(this.sock) !== undefined && isUnixSocket(this.sock);
    if (this.hot && this.sock === original) {
      // Without a socket of its own, reading cannot be stopped at once: no hand-over is safe.
      this.log.warn({}, 'no native hot path: the connection could not be read directly');
      this.x.native = undefined;
      this.x.allocs.watcher = undefined;
      closeSync(this.hot.jsFd);
      this.hot.stop();
      this.hot = undefined;
    }
    if (this.hot) this.attachHotPath(this.hot);
    this.write(encodeFrame(FrameType.ATTACHED, 0, 0, 0, encodeStatus(WireStatus.OK, 'ok')));
    this.handBack();
  }

  private attachHotPath(hot: NativeHotPath): void {
    hot.setNotices(this.notices);
    hot.onServes = () => this.handBack();
    this.gate.attachNative({ allow: (a) => hot.allow(a), absorb: () => this.absorbNative() });
    const reader = new ControlReader({ take: (unserved) => this.take(unserved) });
    const ctl = new net.Socket({ fd: hot.jsFd, readable: true, writable: true });
    ctl.on('data', (d: Buffer) => {
      try {
        reader.push(d);
      } catch (e) {
        this.fail(e);
      }
    });
    ctl.on('error', (e) => this.close(`hot path socket error: ${e.message}`));
    // The hot path closes its end when the guest went away while it owned the connection.
    ctl.on('close', () => this.close('guest disconnected'));
    this.ctl = ctl;
  }

  /** The connection is this loop's again, `unserved` (read by the hot path, not served) first. */
  private take(unserved: Buffer): void {
    if (this.closed) return;
    this.owns = true;
    // Notices that waited for the connection go first: they land between frames, before the
    // answers to what comes next.
    for (const f of this.ownFrames.splice(0)) this.write(f);
    let reading = true;
    if (unserved.length > 0) {
      // The socket's next read already has its buffer, chosen before this hand-over.
      this.parser.forgetReadTarget();
      this.stats.bytesIn += unserved.length;
      try {
        reading = this.onChunk((c) => this.parser.feed(unserved, c));
      } catch (e) {
        this.fail(e);
        return;
      }
    } else {
      this.handBack();
    }
    // onChunk may have handed the connection back already, or stopped reading (staging share).
    if (this.owns && reading && !this.receiving && !this.closed) this.sock.resume();
  }

  /** Writes a frame of this loop's own (a notice): only the owner of the connection writes to it,
   * so while the hot path owns it, it is asked for the connection and the frame waits for it. */
  private sendOwn(frame: Buffer): void {
    if (this.owns || !this.ctl) {
      this.write(frame);
      return;
    }
    if (this.ownFrames.length === 0) this.ctl.write(connectionRequest());
    this.ownFrames.push(frame);
  }

  /** A frame may be taken right now: not paused, GPU slice held (for calls), and this event-loop
   * turn has not run long enough that the scheduler must get a word in. */
  private mayTake(type: number, op: number): boolean {
    if (this.closed || this.pauses > 0 || this.mustBreak()) return false;
    if (type !== FrameType.CALL) return true;
    // The copy lane: without its slice the session has no GPU work left (it was drained at the
    // yield, and nothing runs until the next grant), so a host-to-device copy at the head of its
    // calls can run now, beside another session's kernels, as a GPU's copy engines run one
    // context's copies while another computes. Its time is charged to the next slice, and the
    // lane closes after LANE_BUDGET_NS of it until then.
    if (this.copyLane && COPY_LANE_OPS.has(op) && this.gate.laneOpen) return true;
    return this.gate.ready();
  }

  private drainScheduled = false;

  /** After ~10 ms of work in one turn, leave the rest in the parser and continue next turn. */
  private mustBreak(): boolean {
    if (!this.gate.shouldBreak()) return false;
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.pump();
      });
    }
    return true;
  }

  /** A received chunk (a call boundary follows). Returns false to stop reading the socket. */
  private onChunk(feed: (c: FrameConsumer) => boolean): boolean {
    if (this.closed) return false;
    this.serving = true;
    this.mark = now();
    // What the parser keeps of these bytes waits for the slice, if the session has none (a grant
    // never arrives during a feed; a yield only after it).
    const kept = this.parser.keptBytes;
    const waiting = !this.gate.held;
    try {
      this.settle(feed(this.consumer));
    } finally {
      this.serving = false;
      if (waiting) this.stats.staged += this.parser.keptBytes - kept;
    }
    this.x.clock?.mark();
    this.gate.checkpoint(!this.parser.stopped);
    this.gate.newTurn();
    const held = this.parser.backlogBytes;
    if (held > this.stats.stagedPeak) this.stats.stagedPeak = held;
    if (held > BACKLOG_MIN) this.scheduleRelease();
    this.handBack();
    if (held < this.stagingMax) return true;
    this.readingPaused = true;
    this.stats.stagingStalls++;
    return false;
  }

  /** The mediator's staging share for this session (bytes): reading resumes if it now allows. */
  setStagingShare(bytes: number): void {
    this.stagingMax = Math.max(BACKLOG_MIN, bytes);
    this.parser.backlogHint = this.stagingMax;
    this.resumeReading();
  }

  private releaseTimer: NodeJS.Timeout | undefined;

  /** A staging buffer is kept while bulk data keeps coming (one allocation for a whole transfer)
   * and let go once the session has had nothing waiting for RELEASE_MS. */
  private scheduleRelease(): void {
    if (this.releaseTimer) {
      this.releaseTimer.refresh();
      return;
    }
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      // Still holding staged bytes (the session waits for its slice): try again later.
      if (!this.parser.releaseBacklog() && !this.closed) this.scheduleRelease();
    }, RELEASE_MS);
    this.releaseTimer.unref();
  }

  private resumeReading(): void {
    if (this.readingPaused && this.owns && !this.closed && !this.receiving && this.parser.backlogBytes < this.stagingMax) {
      this.readingPaused = false;
      this.sock.resume();
    }
  }

  /** The parser stopped (`done` false): retry while a reason to stop went away meanwhile. */
  private settle(done: boolean): void {
    while (!done && this.again && !this.closed) {
      this.again = false;
      done = this.parser.resume(this.consumer);
    }
    this.again = false;
  }

  /** Serves what the parser holds (called when a pause ends, a slice arrives or a turn begins). */
  private pump(): void {
    if (this.serving) {
      this.again = true;
      return;
    }
    if (this.closed) return;
    this.gate.newTurn();
    this.serving = true;
    this.mark = now();
    try {
      this.settle(this.parser.resume(this.consumer));
      this.x.clock?.mark();
      this.gate.checkpoint(!this.parser.stopped);
    } catch (e) {
      this.fail(e);
    } finally {
      this.serving = false;
    }
    this.resumeReading();
    this.handBack();
  }

  /**
   * With the native hot path: once everything read has been served (nothing parsed but unserved,
   * nothing paused or streaming) and written (the guest took it all), reading stops and the
   * connection goes back to the hot path (docs/executors.md, "Native hot path"). Stopping to read
   * is immediate, so what was not read is the hot path's to read.
   */
  private handBack(): void {
    if (!this.hot || !this.ctl || !this.owns || this.closed || this.serving || this.pauses > 0 || this.receiving || !this.parser.idle) return;
    // Not while the hot path may not serve (no slice, contended, a capture): it would hand the
    // connection straight back at the next frame, two socketpair trips for nothing, and a waiting
    // session's bulk data is staged here, not there (NativeHotPath.onServes hands back once it
    // may). Not inside a MORE-chained group either: its next frame is a piece of the same copy.
    if (!this.hot.serves || this.inGroup) return;
    // Nor after a bulk call (a copy's data in or out): a program copying data would otherwise move
    // its connection twice per copy, and while several sessions staged their copies that churn
    // halved their aggregate rate (docs/benchmarks.md, "Native hot path"). The connection goes
    // back after the next call that is not one.
    if (this.lastServedBulk) return;
    if (this.sock.writableLength > 0) {
      if (this.handBackOnDrain) return;
      this.handBackOnDrain = true;
      this.sock.once('drain', () => {
        this.handBackOnDrain = false;
        this.handBack();
      });
      return;
    }
    this.sock.pause();
    this.owns = false;
    this.ctl.write(handBackMarker());
  }

  /** Adds what the native hot path served since the last time to the stats and the slice. */
  absorbNative(): void {
    if (!this.hot) return;
    const n = this.hot.stats();
    const a = this.absorbed;
    const busy = n.busyNs - a.busyNs;
    const calls = n.calls - a.calls;
    this.stats.calls += calls;
    this.stats.nativeCalls += calls;
    this.stats.asyncCalls += n.asyncCalls - a.asyncCalls;
    this.stats.bytesIn += n.bytesIn - a.bytesIn;
    this.stats.bytesOut += n.bytesOut - a.bytesOut;
    this.stats.busyNs += busy;
    this.droppedOutput += n.droppedOutput - a.droppedOutput;
    this.gate.charge(busy);
    this.absorbed = { calls: n.calls, asyncCalls: n.asyncCalls, bytesIn: n.bytesIn, bytesOut: n.bytesOut, busyNs: n.busyNs, droppedOutput: n.droppedOutput };
  }

  /** Serving is paused until the guest reads what was written (OUTPUT_MAX). */
  private awaitingReader = false;

  private write(b: Buffer): void {
    this.stats.bytesOut += b.length;
    this.sock.write(b);
    if (this.sock.writableLength <= OUTPUT_MAX || this.awaitingReader) return;
    this.awaitingReader = true;
    this.pauses++;
    this.sock.once('drain', () => {
      this.awaitingReader = false;
      this.pauses--;
      this.pump();
    });
  }

  private fail(e: unknown): void {
    if (e instanceof ProtocolError) {
      this.log.warn({ reason: e.message }, 'protocol error; dropping connection');
      this.close(`protocol error: ${e.message}`, errorFrame(WireStatus.PROTOCOL, e.message));
    } else if (e instanceof CudaError) {
      this.log.error({ reason: e.message, code: e.code }, 'transfer failed mid-reply; dropping connection');
      this.close(e.message, errorFrame(WireStatus.INTERNAL, e.message));
    } else {
      this.log.error({ err: e }, 'executor failure; dropping connection');
      this.close('internal error', errorFrame(WireStatus.INTERNAL, 'the executor failed'));
    }
  }

  /** Ends the session. `farewell` (an ERROR frame) is written first, after everything already
   * sent, so the guest learns why; the session ends once it is out, or after FAREWELL_MS. */
  close(reason: string, farewell?: Buffer): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.releaseTimer);
    this.absorbNative();
    this.ctl?.destroy();
    // While the hot path owns the connection only it writes to it (its answers end when it stops).
    if (!this.owns) farewell = undefined;
    if (this.droppedOutput > 0) this.log.info({ bytes: this.droppedOutput }, 'kernel output dropped: the guest predates notices');
    if (!farewell || this.sock.destroyed) {
      this.sock.destroy();
      this.onClose(reason);
      return;
    }
    let over = false;
    const end = (): void => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      this.sock.destroy();
      this.onClose(reason);
    };
    const timer = setTimeout(end, FAREWELL_MS);
    this.stats.bytesOut += farewell.length;
    this.sock.once('close', end);
    this.sock.end(farewell, end);
  }

  /** Sends a notice (docs/protocol.md, "Notices") to a guest that understands them: it lands at a
   * frame boundary, since every write is whole frames. */
  notify(frame: Buffer): void {
    if (this.notices && !this.closed) this.sendOwn(frame);
  }

  /** Kernel output the last call flushed, sent ahead of its reply. */
  private passOutput(output: KernelOutput): void {
    output.take((fd, bytes) => {
      if (this.notices) this.write(outputNotice(fd, bytes));
      else this.droppedOutput += bytes.length;
    });
  }

  /** Quota requests in flight to the mediator, answered in order. */
  private readonly quotaWaits: Array<(granted: number) => void> = [];

  /** Pauses serving and asks the mediator for more of the VM's quota; the call that needed it
   * stays first in the parser and runs again once the answer is in. */
  private awaitQuota(bytes: number): void {
    this.pauses++;
    this.quotaWaits.push((granted) => {
      if (granted > 0) this.x.grantQuota(granted);
      else this.x.denyQuota();
      this.pauses--;
      this.pump();
    });
    this.requestQuota(bytes);
  }

  /** Asks the mediator an IPC question (src/executor/ipc.ts) and calls back with its answer
   * (null: refused, or no mediator to ask). */
  requestIpc: (q: IpcQuestion, answer: (a: string | null) => void) => void = (_q, answer) => answer(null);

  /** Pauses serving until the mediator answers; the call that asked runs again then. */
  private awaitIpc(q: IpcQuestion): void {
    this.pauses++;
    this.requestIpc(q, (a) => {
      this.x.ipc.answer(q, a);
      this.pauses--;
      this.pump();
    });
  }

  /** The mediator's answer to the oldest quota request (0 = refused). */
  quotaAnswer(granted: number): void {
    this.quotaWaits.shift()?.(granted);
  }

  /** Streams a large reply; frames that arrive meanwhile wait, preserving order. */
  private stream(id: number, result: Buffer): void {
    this.pauses++;
    const write = (b: Buffer, done: () => void): void => {
      this.stats.bytesOut += b.length;
      this.sock.write(b, () => done());
    };
    pumpPendingStream(this.x, id, result, write).then(
      () => {
        this.pauses--;
        this.pump();
      },
      (e: unknown) => this.fail(e),
    );
  }

  /** A frame other than a CALL. */
  private onOther(f: Frame): void {
    if (f.type === FrameType.PING) {
      this.write(encodeFrame(FrameType.PONG, 0, f.id, 0, f.payload));
      return;
    }
    throw new ProtocolError(`unexpected frame type ${f.type} after attach`);
  }

  /** Serves one CALL; false leaves it in the parser to be served again (after a quota answer). */
  private onCall(flags: number, id: number, opId: number, buf: Buffer, start: number, end: number): boolean {
    const op = OPS.get(opId);
    if (!op) throw new ProtocolError(`unknown op 0x${opId.toString(16)}`);
    const noreply = (flags & Flag.NOREPLY) !== 0;
    const more = (flags & Flag.MORE) !== 0;
    if (noreply && more) throw new ProtocolError('NOREPLY and MORE together');
    this.lastServedBulk = more || this.inGroup || end - start >= BULK_MIN || SHM_COPY_OPS.has(opId);
    // Only the copy lane serves a call without the slice (mayTake).
    if (!this.gate.held) this.stats.laneIn += end - start;
    if ((flags & Flag.LZ4) !== 0) {
      if (!this.compression) throw new ProtocolError('a compressed CALL on a connection that did not negotiate compression');
      buf = decompressPayload(buf, start, end);
      start = 0;
      end = buf.length;
    }
    const r = this.reader.reset(buf, start, end);
    const ctxId = r.u64();
    // Fire-and-forget calls write their (discarded) outputs to the sink; replies are built in place.
    const w = noreply ? this.sink.reset() : this.w.reset();
    const at = noreply ? 0 : w.beginFrame();
    if (!noreply) w.u32(0);
    let res: number;
    try {
      this.x.setCurrentCtx(ctxId);
      res = op.run(this.x, r, w);
    } catch (e) {
      if (e instanceof NeedQuota) {
        this.awaitQuota(e.bytes);
        return false;
      }
      if (e instanceof NeedIpc) {
        this.awaitIpc(e.question);
        return false;
      }
      if (!(e instanceof CudaError)) throw e;
      res = e.code;
      this.log.debug({ op: op.name, code: e.code, reason: e.message }, 'call rejected');
    }
    res = this.x.noContextResult(res);
    const t = now();
    const ns = (t - this.mark) * 1e6;
    this.mark = t;
    this.gate.charge(ns);
    this.stats.busyNs += ns;
    this.stats.calls++;
    if (res !== 0 && this.isAbandoned(res)) {
      this.pauses++; // for good: no reply, no further call
      return true;
    }
    if (noreply) {
      this.stats.asyncCalls++;
      if (res !== 0) this.x.defer(res);
      return true;
    }
    if (more) {
      this.inGroup = true;
      if (res !== 0 && this.groupErr === 0) this.groupErr = res;
      return true;
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
    if (this.output) this.passOutput(this.output);
    w.buf.writeUInt32LE(res >>> 0, at + 16);
    if (this.x.pendingStream) {
      this.lastServedBulk = true;
      this.stream(id, Buffer.from(w.buf.subarray(at + 16, at + 20)));
      return true;
    }
    if (w.len - at >= BULK_MIN) this.lastServedBulk = true;
    w.finishFrame(at, FrameType.REPLY, 0, id, 0);
    if (this.x.shm.awaiting) {
      this.x.shm.awaiting = false;
      // The descriptor arrives right after this reply: libuv must not read it (it would drop it).
      if (res === 0) this.awaitDescriptor();
    }
    this.write(w.take());
    return true;
  }

  /** Reads the guest's memfd (docs/protocol.md, "Shared memory") with reading and serving stopped,
   * then maps it; a refused region is remembered for vgShmCheck to report, a malformed handover
   * ends the connection. Polls (the event loop keeps running), for at most DESCRIPTOR_MS. */
  private awaitDescriptor(): void {
    const fd = socketFd(this.sock);
    if (fd === undefined) throw new ProtocolError('vgShmOffer on a connection without a descriptor');
    this.sock.pause();
    this.receiving = true;
    this.pauses++;
    const deadline = now() + DESCRIPTOR_MS;
    const poll = (): void => {
      if (this.closed) return;
      let got: number | undefined;
      try {
        got = receiveDescriptor(fd);
        if (got === undefined && now() > deadline) throw new ProtocolError('no shared-memory descriptor after vgShmOffer');
      } catch (e) {
        this.fail(e);
        return;
      }
      if (got === undefined) {
        setTimeout(poll, 1);
        return;
      }
      this.stats.bytesIn += 1;
      try {
        const region = mapGuestMemfd(got);
        this.x.shm.region = region;
        this.log.info({ bytes: region.size }, 'shared region mapped');
      } catch (e) {
        this.x.shm.refused = `shared region refused: ${(e as Error).message}`;
        this.log.warn({ reason: this.x.shm.refused }, 'shared region refused');
      }
      this.receiving = false;
      this.pauses--;
      if (!this.readingPaused) this.sock.resume();
      this.pump();
    };
    setImmediate(poll);
  }
}
