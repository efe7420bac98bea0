// The executor process: one per guest session (architecture.md, part 4). The mediator forks it
// ahead of time so that a guest's first GPU call does not wait for Node and the driver to start;
// it then hands over the guest's connection, and this process serves it directly until the guest
// goes away, when the process exits and the driver reclaims everything the session held.
//
//   main.js --backend softgpu|cuda --probe   prints the device table as JSON and exits
//           --probe-memory                   the same, with each device's free memory
//   main.js --backend softgpu|cuda           (forked with IPC) serves one session
//           --control PATH                   the mediator's control socket (docs/executors.md)
//   main.js --zygote --backend ... --control PATH ...
//                                            the executor zygote (zygote.ts): forks executors that
//                                            run with these arguments, each handed its session
//                                            over a socketpair instead of an IPC channel
//           [--cancel-dir DIR]               where to make this executor's cancel FIFO: a byte
//                                            written to it abandons the session's in-flight work
//                                            (abandon.ts, src/common/cancel-fifo.ts)
//
// The process outlives its mediator: when the control socket is lost it keeps serving its guest,
// reconnects, and greets the next mediator with its session's state (`adopt`), so the session
// goes on (docs/executors.md). An executor that has no session yet just exits.

import { closeSync, constants, openSync, unlinkSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import koffi from 'koffi';

import { ipcIssue, KILL_LINGER_MS, toExecutorSchema, type AdoptMessage, type FromExecutor, type MessageOf, type SessionMessage, type ToExecutor } from '../common/executor-ipc.js';
import { cancelFifoPath } from '../common/cancel-fifo.js';
import { ControlClient } from './control.js';
import { createLogger, sessionLogger, type Logger } from '../common/log.js';
import { ExecContext } from './context.js';
import { SessionImages } from './images.js';
import { ImageStore } from '../common/image-store.js';
import { loadDriver, type BackendKind, type LoadedDriver } from './driver.js';
import { probe, probeMemory, ProbeError } from './probe.js';
import { SessionServer } from './serve.js';
import { Gate } from './gate.js';
import { DEVICE_TIME_MODES, DeviceClock, deviceTimeMode, type DeviceTimeChoice } from './device-time.js';
import { bindRawLaunch } from './custom/launch.js';
import { watchForAbandon } from './abandon.js';
import { NOTICE_MINOR } from '../protocol/constants.js';
import { WireStatus } from '../protocol/errors.js';
import { errorFrame } from '../protocol/handshake.js';
import { shutdownNotice } from '../protocol/notice.js';
import { softgpuOutput, stdoutCapture, type KernelOutput } from './output.js';
import { mapHostFile } from './shm.js';
import { hotPathWanted, NativeHotPath } from './hot-path.js';
import { launchInfo } from './launch-form.cjs';
import { IdleShrink, shrinkNow } from './idle-shrink.js';
import { runZygote } from './zygote.js';
import { socketFd, zygoteCalls } from '../common/zygote-calls.js';

/** How long a forked executor waits for the guest's connection its session message announces:
 * the mediator sent it before the message, so it is there unless the mediator failed meanwhile. */
const HANDOFF_WAIT_MS = 2000;
/** Heap growth since its fork past which a forked executor's idle shrink collects the heap. */
const FORKED_COLLECT_GROWTH = 8 * 1024 * 1024;

/** How long a session whose work was abandoned waits for what caused it (its guest's close, the
 * mediator's kill with the reason for the guest) before ending by itself. */
const ABANDONED_GRACE_MS = 2000;

/** The control connection to the mediator (set up in main()). */
let control: ControlClient | undefined;

/** Sends to the mediator; false (the message dropped) while there is none: what the message said
 * is part of the state the next mediator is greeted with. */
function toMediator(m: FromExecutor): boolean {
  return control?.send(m) ?? false;
}

/** Makes this executor's cancel FIFO (src/common/cancel-fifo.ts) and opens it for reading and
 * writing, so that it always has a writer (this process) and never reports end-of-file when a
 * mediator that had it open goes away. Returns its descriptor, or -1 if it cannot be made. */
function openCancelFifo(dir: string, log: Logger): number {
  const file = cancelFifoPath(dir, process.pid);
  try {
    const mkfifo = koffi.load('libc.so.6').func('int mkfifo(const char *path, unsigned int mode)') as (p: string, mode: number) => number;
    try {
      unlinkSync(file); // a dead executor's of the same pid
    } catch {
      /* none */
    }
    if (mkfifo(file, 0o600) !== 0) throw new Error(`mkfifo ${file} failed`);
    const fd = openSync(file, constants.O_RDWR | constants.O_NONBLOCK);
    process.on('exit', () => {
      try {
        closeSync(fd);
        unlinkSync(file);
      } catch {
        /* gone */
      }
    });
    return fd;
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'no cancel FIFO: the mediator cannot abandon in-flight work, only the guest\'s close can');
    return -1;
  }
}

/** A second descriptor of the guest connection (-1 if there is none), kept unused so that the
 * session can be ended while the guest is still told why: the serving socket is closed first,
 * so nothing the session was writing can interleave with the ERROR frame. */
function spareDescriptor(s: Socket): number {
  const fd = socketFd(s);
  if (fd < 0) return -1;
  try {
    return (koffi.load('libc.so.6').func('int dup(int)') as (fd: number) => number)(fd);
  } catch {
    return -1;
  }
}

/** Sends the guest an ERROR frame on `fd`, drops whatever it sends meanwhile, and calls `done`
 * when it closes its end or after KILL_LINGER_MS. `sent` is called once the frame is written. */
function tellGuest(fd: number, why: Ending, sent: () => void, done: () => void): void {
  const sock = new net.Socket({ fd, readable: true, writable: true });
  let over = false;
  const end = (): void => {
    if (over) return;
    over = true;
    sock.destroy();
    done();
  };
  sock.on('error', end);
  sock.on('data', () => {});
  sock.on('end', end);
  sock.on('close', end);
  sock.end(errorFrame(why.code, why.reason), sent);
  setTimeout(end, KILL_LINGER_MS);
}

/** Logs each failing event call once per session (the clock stops timing what it concerned). */
function onceLogger(log: { warn: (o: object, msg: string) => void }): (call: string, code: number) => void {
  const seen = new Set<string>();
  return (call, code) => {
    const key = `${call}:${code}`;
    if (seen.has(key)) return;
    seen.add(key);
    log.warn({ call, code }, 'device-time event call failed; that work is not timed');
  }
}

interface Args {
  backend: BackendKind;
  probe: boolean;
  /** With --probe: each device's free memory too (vgpu-admin doctor). */
  probeMemory: boolean;
  deviceTime: DeviceTimeChoice;
  /** The mediator's control socket. */
  control: string | undefined;
  /** Where to make the cancel FIFO. */
  cancelDir: string | undefined;
  /** The native hot path is wanted (VGPU_HOT_PATH; src/executor/hot-path.ts). */
  hotPath: boolean;
}

function parseArgs(argv: string[]): Args {
  let backend: BackendKind | undefined;
  let doProbe = false;
  let withMemory = false;
  let deviceTime: DeviceTimeChoice = 'auto';
  let control: string | undefined;
  let cancelDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--probe') doProbe = true;
    else if (a === '--probe-memory') doProbe = withMemory = true;
    else if (a === '--control' || a === '--cancel-dir') {
      const v = argv[++i] ?? '';
      if (v === '') throw new Error(`${a} needs a path`);
      if (a === '--control') control = v;
      else cancelDir = v;
    }
    else if (a === '--device-time') {
      const v = argv[++i];
      const mode = DEVICE_TIME_MODES.find((d) => d === v);
      if (!mode) throw new Error(`--device-time must be one of ${DEVICE_TIME_MODES.join(', ')}, not ${v}`);
      deviceTime = mode;
    }
    else if (a === '--backend') {
      const v = argv[++i];
      if (v !== 'cuda' && v !== 'softgpu') throw new Error(`--backend must be cuda or softgpu, not ${v}`);
      backend = v;
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!backend) throw new Error('--backend is required');
  return { backend, probe: doProbe, probeMemory: withMemory, deviceTime, control, cancelDir, hotPath: hotPathWanted() };
}

/** Runs the executor with `argv`. `handoffFd` is a forked executor's end of the socketpair the
 * mediator sends its guest's connection over (zygote.ts); -1 for one started with an IPC channel. */
async function main(argv: string[], handoffFd = -1): Promise<void> {
  const args = parseArgs(argv);
  const log = createLogger({ name: 'vgpu-executor' }).child({ pid: process.pid, backend: args.backend });
  const drv = loadDriver(args.backend, (name) => log.warn({ fn: name }, 'driver lacks a function; answering CUDA_ERROR_NOT_SUPPORTED'));
  if (args.probe) {
    try {
      const found = probe(drv.api);
      const memory = args.probeMemory ? { memory: probeMemory(drv.api, found.devices) } : {};
      process.stdout.write(`${JSON.stringify({ backend: args.backend, path: drv.path, ...found, ...memory })}\n`);
      process.exit(0);
    } catch (e) {
      process.stderr.write(`probe failed: ${e instanceof ProbeError ? e.message : String(e)}\n`);
      process.exit(3);
    }
  }
  const forked = handoffFd >= 0;
  if ((!forked && !process.send) || !args.control) throw new Error('the executor must be started by the mediator (no IPC channel or --control)');
  bindRawLaunch((proto) => drv.raw(proto));
  // Kernel output must reach the guest, not this process's stdout (the mediator's, or nothing).
  let output: KernelOutput | undefined;
  try {
    output = drv.kind === 'softgpu' ? softgpuOutput((proto) => drv.raw(proto)) : stdoutCapture();
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'cannot capture the driver\'s standard output');
  }
  if (!output) log.warn({}, 'kernel output cannot be handed over; guests will not see their printf');
  const init = drv.api.cuInit(0);
  if (init !== 0) {
    log.error({ code: init }, 'cuInit failed');
    process.exit(3);
  }
  let session: Serving | undefined;
  const cancelFd = args.cancelDir ? openCancelFifo(args.cancelDir, log) : -1;
  /** Steering that came over the control socket before the session message (IPC) did. */
  const early: Array<Exclude<ToExecutor, SessionMessage>> = [];
  control = new ControlClient(args.control, {
    greeting: () => (session ? session.adoptState() : { type: 'ready', pid: process.pid, launch: launchInfo() }),
    message: (m) => {
      if (m.type === 'session') {
        // A forked executor's session comes this way, its guest's connection already waiting on
        // the handoff socketpair (the mediator sends it first).
        if (!forked) {
          log.error({}, 'a session message on the control socket');
          process.exit(2);
        }
        if (session) {
          log.error({}, 'a second session message for one executor');
          process.exit(2);
        }
        // The handoff socket stays open while this process lives: the mediator sees its end there.
        const fd = zygoteCalls().recvFd(handoffFd, HANDOFF_WAIT_MS);
        if (fd < 0) {
          log.error({ errno: -fd }, 'session message without the guest connection on the handoff socket');
          process.exit(2);
        }
        session = serve(m, new net.Socket({ fd, readable: true, writable: true }), drv, args, cancelFd, output, log);
        for (const e of early.splice(0)) steer(session, e);
        return;
      }
      if (session) steer(session, m);
      else early.push(m);
    },
    invalid: (issue) => {
      log.error({ issue }, 'invalid message from the mediator; exiting');
      process.exit(2);
    },
    lost: () => {
      if (!session) {
        // A spare: with no session, nothing is lost by ending; the next mediator starts its own.
        log.info({}, 'the mediator went away before this executor had a session; exiting');
        process.exit(0);
      }
      log.warn({ session: session.id }, 'lost the mediator: still serving the guest; GPU slices and quota wait for the next mediator');
      session.ipcLost();
      return true;
    },
    restored: () => log.info({ session: session?.id }, 'reconnected: the session was handed to the new mediator'),
  });
  try {
    await control.connect();
  } catch (e) {
    log.error({ err: (e as Error).message, control: args.control }, 'cannot reach the mediator\'s control socket');
    process.exit(3);
  }
  // Memory goes back to the system whenever the executor is idle: as a spare, and between its
  // session's bursts of work (bytes moved are the activity; the hot path pays nothing for this).
  const mb = (n: number): number => Math.round(n / 1e5) / 10;
  // A forked executor shares the zygote's heap until it writes to it, and a full collection writes
  // to every page it marks or sweeps: it collects only once its own garbage is worth that.
  const heapAtStart = process.memoryUsage().heapUsed;
  new IdleShrink(
    () => (session ? session.server.stats.bytesIn + session.server.stats.bytesOut : 0),
    (r) => log.debug({ gc: r.gc, trimmed: r.trimmed, rssBeforeMb: mb(r.rssBefore), rssAfterMb: mb(r.rssAfter) }, 'idle: memory given back'),
    forked ? () => shrinkNow(process.memoryUsage().heapUsed > heapAtStart + FORKED_COLLECT_GROWTH) : shrinkNow,
  ).start();
  // A forked executor has no IPC channel: its control connection is all it has of the mediator.
  if (forked) return;
  process.on('message', (raw: unknown, handle: unknown) => {
    const parsed = toExecutorSchema.safeParse(raw);
    if (!parsed.success) {
      log.error({ issue: ipcIssue(parsed.error) }, 'invalid message from the mediator; exiting');
      process.exit(2);
    }
    const m = parsed.data;
    if (m.type !== 'session') {
      log.error({ message: m.type }, 'steering over IPC: only the session message travels there');
      process.exit(2);
    }
    if (session) {
      log.error({}, 'a second session message for one executor');
      process.exit(2);
    }
    if (!(handle instanceof net.Socket)) {
      log.error({}, 'session message without the guest connection');
      process.exit(2);
    }
    session = serve(m, handle, drv, args, cancelFd, output, log);
    for (const e of early.splice(0)) steer(session, e);
  });
  // The IPC channel only carries the handoff: a spare whose mediator is gone ends; a serving
  // executor carries on (its control socket decides).
  process.on('disconnect', () => {
    if (!session) process.exit(0);
  });
  // A failure of the channel itself: an unheard 'error' on the process would end it with a stack
  // trace instead.
  process.on('error', (e) => {
    log.warn({ err: e.message }, 'IPC channel to the mediator failed');
    if (!session) process.exit(0);
  });
  // Executors run in a process group of their own, but an operator may still signal them: the
  // mediator decides when a session ends.
  process.on('SIGINT', () => {});
}

/**
 * Puts the native hot path (src/executor/hot-path.ts) in front of the guest's connection, where it
 * can serve exactly what the TypeScript path would: on softgpu, whose device time is the time
 * calls take and whose kernel output is queued for the taking. On NVIDIA's driver (device time
 * measured with events, kernel output on stdout) every call stays in TypeScript. Undefined when
 * it is off (VGPU_HOT_PATH=0) or cannot start (logged).
 */
function startHotPath(guest: Socket, drv: LoadedDriver, x: ExecContext, log: Logger): NativeHotPath | undefined {
  if (drv.kind !== 'softgpu' || x.clock) return undefined;
  const fd = socketFd(guest);
  if (fd < 0) return undefined;
  try {
    const hot = NativeHotPath.start(fd, drv.path);
    x.native = hot;
    x.allocs.watcher = hot;
    return hot;
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'no native hot path: every call is served in TypeScript');
    return undefined;
  }
}

/** Why the mediator ended the session, as the guest is told (an ERROR frame). */
interface Ending {
  code: number;
  reason: string;
}

/** The session this executor serves. */
interface Serving {
  server: SessionServer;
  x: ExecContext;
  gate: Gate;
  /** Why an operator or the host's shutdown ended the session, once one has. */
  killed?: Ending;
  id: number;
  /** The mediator answered the oldest quota request. */
  quotaAnswered(): void;
  /** The mediator answered IPC request `req` (null: refused, or the mediator went away). */
  ipcAnswered(req: number, value: string | null): void;
  /** The mediator went away: unanswered IPC questions are refused. */
  ipcLost(): void;
  /** The state a new mediator adopts the session by. */
  adoptState(): AdoptMessage;
}

/** The mediator's steering of the session: scheduler slices, quota (and giving unused quota back),
 * the VM's memory, a kill. */
function steer(s: Serving, c: Exclude<ToExecutor, SessionMessage>): void {
  switch (c.type) {
    case 'grant':
      return s.gate.grant(c.contended);
    case 'preempt':
      return s.gate.preempt();
    case 'contended':
      return s.gate.markContended();
    case 'quota':
      s.quotaAnswered();
      return s.server.quotaAnswer(c.granted);
    case 'ipcAnswer':
      return s.ipcAnswered(c.req, c.value);
    case 'trim':
      return s.x.trimReservation();
    case 'staging':
      return s.server.setStagingShare(c.bytes);
    case 'vmUsage':
      s.x.vmUsed = c.bytes;
      s.x.vmUsedOwn = c.own;
      return;
    case 'kill':
      // An operator or the host's shutdown ended the session: it ends as if the guest had left
      // (the close handler in serve() then tells the guest why).
      s.killed = { code: c.shutdown ? WireStatus.SHUTDOWN : WireStatus.KILLED, reason: c.reason };
      return s.server.close(c.reason);
    case 'shutdown':
      return s.server.notify(shutdownNotice({ graceMs: c.graceMs, message: c.message }));
  }
}

/** Serves the session on the guest's connection until it ends; the process then exits. */
function serve(m: SessionMessage, guest: Socket, drv: LoadedDriver, args: Args, cancelFd: number, output: KernelOutput | undefined, log: Logger): Serving {
  const slog = sessionLogger(log, { session: m.sessionId, vm: m.vm });
  const deviceTimeChoice = args.deviceTime;
  const images = new SessionImages(new ImageStore(m.imageDir), m.vm, m.imageLimits);
  const x = new ExecContext(drv.api, m.deviceMap, { memoryQuota: m.memoryQuota ?? undefined }, { images });
  if (m.shmPath) {
    try {
      x.shm.region = mapHostFile(m.shmPath);
      slog.info({ path: m.shmPath, bytes: x.shm.region.size }, "the VM's shared memory mapped");
    } catch (e) {
      x.shm.refused = `the VM's shared memory file cannot be mapped: ${(e as Error).message}`;
      slog.warn({ path: m.shmPath, reason: (e as Error).message }, "the VM's shared memory file cannot be mapped; copies go through the socket");
    }
  }
  const started = process.hrtime.bigint();
  const timing = deviceTimeMode(deviceTimeChoice, drv.kind);
  if (timing === 'events') {
    const onError = onceLogger(slog);
    x.clock = new DeviceClock(drv.api, (ctx) => x.makeCurrent(ctx), onError);
  }
  const clock = x.clock;
  // Host-time mode: before yielding the GPU, asynchronous work is drained so it is charged to
  // this session, and the drain's duration is device time too (reported with the usage below).
  let drainedNs = 0;
  /** clock.totalNs when the last slice was settled. */
  let settledNs = 0;
  const settle = (busyNs: number): number => {
    let drained = 0;
    if (drv.kind === 'cuda') {
      const t0 = process.hrtime.bigint();
      drv.api.cuCtxSynchronize();
      drained = Number(process.hrtime.bigint() - t0);
    }
    if (!clock) {
      drainedNs += drained;
      return busyNs + drained;
    }
    // Events mode: the drained work's events have completed; the slice is charged the larger of
    // the device time they measured and the time spent in calls (host-side work such as loading
    // a module also keeps the others waiting).
    clock.collect();
    const deviceNs = clock.totalNs - settledNs;
    settledNs = clock.totalNs;
    return Math.max(busyNs, deviceNs);
  };
  const gate = new Gate((gm) => void toMediator(gm), m.scheduled, settle);
  /** Device time so far: measured by events, or call time plus drains. */
  const deviceTime = (final: boolean): number => {
    if (!clock) return server.stats.busyNs + drainedNs;
    if (final) clock.finish();
    else clock.collect();
    return clock.totalNs;
  };
  // Usage deltas for the mediator's accounting (src/mediator/usage-meter.ts): about once a
  // second while the session does anything, and a final one before 'ended'.
  const sent = { nativeCalls: 0, calls: 0, asyncCalls: 0, bytesIn: 0, bytesOut: 0, shmIn: 0, shmOut: 0, busyNs: 0, memoryNow: 0, staged: 0, laneIn: 0, stagingStalls: 0, stagedPeak: 0 };
  const reportUsage = (final: boolean): void => {
    server.absorbNative();
    const st = server.stats;
    const memoryNow = x.held;
    const busyNs = deviceTime(final);
    const d = {
      nativeCalls: st.nativeCalls - sent.nativeCalls,
      calls: st.calls - sent.calls, asyncCalls: st.asyncCalls - sent.asyncCalls, bytesIn: st.bytesIn - sent.bytesIn,
      bytesOut: st.bytesOut - sent.bytesOut, shmIn: x.shm.bytesIn - sent.shmIn, shmOut: x.shm.bytesOut - sent.shmOut,
      busyNs: Math.round(busyNs) - Math.round(sent.busyNs), // call time is fractional
      staged: st.staged - sent.staged, laneIn: st.laneIn - sent.laneIn, stagingStalls: st.stagingStalls - sent.stagingStalls,
    };
    const idle = d.calls === 0 && d.bytesIn === 0 && d.bytesOut === 0 && d.shmIn === 0 && d.shmOut === 0 && d.busyNs === 0 && memoryNow === sent.memoryNow
      && d.stagingStalls === 0 && d.staged === 0 && d.laneIn === 0 && st.stagedPeak === sent.stagedPeak;
    if (idle && !final) return;
    // Counted as sent only once a mediator has it: what happens while there is none is reported
    // to the next one.
    if (!toMediator({ type: 'usage', ...d, stagedPeak: st.stagedPeak, memoryNow, peakMemory: x.peakMemory, ...(final ? { final: true } : {}) })) {
      if (final) slog.warn({ ...d }, 'final usage report not delivered: no mediator connection');
      return;
    }
    Object.assign(sent, {
      nativeCalls: st.nativeCalls, calls: st.calls, asyncCalls: st.asyncCalls, bytesIn: st.bytesIn, bytesOut: st.bytesOut, shmIn: x.shm.bytesIn, shmOut: x.shm.bytesOut, busyNs, memoryNow,
      staged: st.staged, laneIn: st.laneIn, stagingStalls: st.stagingStalls, stagedPeak: st.stagedPeak,
    });
  };
  const usageTimer = setInterval(() => reportUsage(false), 1000);
  usageTimer.unref();
  const spareFd = spareDescriptor(guest);
  const abandon = watchForAbandon(drv, socketFd(guest), cancelFd,
    (why) => slog.warn({ reason: why }, 'in-flight work will run to its end if the guest goes away'));
  const hot = args.hotPath ? startHotPath(guest, drv, x, slog) : undefined;
  const server = new SessionServer(x, guest, slog, (reason) => {
    // What the executor wrote reaches the guest before anything more is said to it (tellGuest).
    hot?.stop();
    clearInterval(usageTimer);
    reportUsage(true);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const abandoned = abandon?.record();
    const native = hot?.stats();
    slog.info({
      ...(native && { handOvers: native.switches, handBacks: native.handBacks }),
      reason, ...server.stats, shmIn: x.shm.bytesIn, shmOut: x.shm.bytesOut, deviceTimeMode: timing, peakMemory: x.peakMemory, leakedAllocations: x.allocs.count, durationMs: Math.round(ms),
      ...(abandoned && { abandoned }),
    }, 'session ended');
    const ended: MessageOf<FromExecutor, 'ended'> = { type: 'ended', stats: { ...server.stats }, peakMemory: x.peakMemory, reason };
    const { killed } = serving;
    if (killed !== undefined && spareFd >= 0) {
      // Stay until the guest has had the chance to read why; the mediator is told at once.
      void toMediator(ended);
      tellGuest(spareFd, killed, () => void toMediator({ type: 'killing' }), () => process.exit(0));
      return;
    }
    if (killed !== undefined) void toMediator({ type: 'killing' });
    // Exits once the mediator has read the last line and hung up (at once without a mediator;
    // within a second anyway).
    if (!control?.finish(ended, () => process.exit(0))) process.exit(0);
    setTimeout(() => process.exit(0), 1000).unref();
  }, gate, (bytes) => {
    pendingQuota.push(bytes);
    toMediator({ type: 'reserve', bytes });
  });
  server.output = output;
  server.hot = hot;
  server.notices = m.minor >= NOTICE_MINOR;
  server.compression = m.compression === true;
  server.copyLane = m.copyLane;
  server.setStagingShare(m.stagingShare);
  if (abandon) {
    server.isAbandoned = (code) => {
      if (!abandon.abandoned(code)) return false;
      // The guest's close or the mediator's kill, which caused this, ends the session next.
      setTimeout(() => server.close("the host abandoned the session's work"), ABANDONED_GRACE_MS);
      return true;
    };
  }
  /** Quota requests not answered yet, in order: a new mediator is asked again. */
  const pendingQuota: number[] = [];
  x.vmUsed = m.vmUsed;
  x.releaseQuota = (bytes) => void toMediator({ type: 'release', bytes });
  x.reportUse = (bytes) => void toMediator({ type: 'used', bytes });
  /** IPC questions to the mediator not answered yet (docs/ipc.md). They are not asked again of a
   * new mediator, which has no table of exports: the loss of the mediator refuses them. */
  const pendingIpc = new Map<number, (value: string | null) => void>();
  let nextIpcReq = 1;
  x.ipc.revoke = (kind, handle) => void toMediator({ type: 'ipcRevoke', kind, handle });
  x.ipc.close = (kind, token) => void toMediator({ type: 'ipcClose', kind, token });
  server.requestIpc = (question, answer) => {
    const req = nextIpcReq++;
    if (!toMediator({ type: 'ipc', req, question })) return answer(null);
    pendingIpc.set(req, answer);
  };
  const serving: Serving = {
    server, x, gate, id: m.sessionId,
    quotaAnswered: () => void pendingQuota.shift(),
    ipcAnswered: (req, value) => {
      const answer = pendingIpc.get(req);
      pendingIpc.delete(req);
      answer?.(value);
    },
    ipcLost: () => {
      const waiting = [...pendingIpc.values()];
      pendingIpc.clear();
      for (const answer of waiting) answer(null);
    },
    adoptState: () => ({
      type: 'adopt',
      pid: process.pid,
      backend: drv.kind,
      sessionId: m.sessionId,
      vm: m.vm,
      deviceMap: m.deviceMap,
      minor: m.minor,
      guest: m.guest,
      quota: { reserved: x.reservation === Infinity ? null : x.reservation, held: x.held, pending: [...pendingQuota] },
      usage: { calls: sent.calls, asyncCalls: sent.asyncCalls, bytesIn: sent.bytesIn, bytesOut: sent.bytesOut, busyNs: Math.round(sent.busyNs), memoryNow: x.held, peakMemory: x.peakMemory },
      wanting: gate.handOver(),
    }),
  };
  slog.info({ deviceMap: m.deviceMap, memoryQuota: m.memoryQuota }, 'session attached');
  // start() gives the received socket its handlers in this same turn, before any of its events.
  server.start();
  return serving;
}

function failed(e: unknown): never {
  process.stderr.write(`vgpu-executor: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(3);
}

const argv = process.argv.slice(2);
if (argv[0] === '--zygote') runZygote(argv.slice(1), (a, fd) => void main(a, fd).catch(failed));
else void main(argv).catch(failed);
