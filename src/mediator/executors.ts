// Executor processes: one per attached guest session (docs/executors.md). A few are started ahead
// of time (and have already loaded the driver and run cuInit), so a guest's first GPU call costs a
// handoff, not a process start.
//
// Executors outlive the mediator that started them: each runs in a process group of its own (so a
// Ctrl-C or a kill of the mediator's group does not reach it), and talks to the mediator over the
// control socket `<stateDir>/executors.sock`, not over the IPC channel of its fork, which carries
// only the guest's connection at the handoff. When the mediator goes, a serving executor keeps
// serving and reconnects; the next mediator's pool accepts it as an adopted executor (`adopt`).

import { fork } from 'node:child_process';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { getPriority } from 'node:os';
import type { Logger } from 'pino';

import { abandonVia, cancelFifoPath, processAlive } from '../common/cancel-fifo.js';
import { ControlLink } from '../common/control-link.js';
import { fromExecutorSchema, type AdoptMessage, type FromExecutor, type MessageOf, type SessionMessage, type ToExecutor } from '../common/executor-ipc.js';
import { zygoteCalls } from '../common/zygote-calls.js';
import type { BackendKind } from '../executor/driver.js';
import type { DeviceTimeChoice } from '../executor/device-time.js';
import { EXECUTOR_LAUNCHER, EXECUTOR_NODE_FLAGS, type LaunchInfo } from '../executor/launch-form.cjs';
import { canRestorePriority, renice, SPARE_NICE } from './spare-priority.js';
import { SpawnedExecutor, type ExecutorProcess } from './executor-process.js';
import { Zygote } from './zygote.js';

export interface ExecutorEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The executor's last report on its session, when it got to send one. */
  ended?: MessageOf<FromExecutor, 'ended'>;
}

/** What the executor sends about its attached session (the pool itself takes the greetings and
 * 'ended'). */
export type SessionRequest = Exclude<FromExecutor, { type: 'ready' | 'adopt' | 'ended' }>;

/** A session's executor, as the mediator drives it. */
export interface ExecutorHandle {
  pid: number;
  /** Never throws: a message to an executor that is exiting is dropped (its exit ends the session). */
  send(m: ToExecutor): boolean;
  /** Abandons the session's in-flight GPU work now, even while the executor is inside a long
   * call and cannot read `send`'s messages (src/executor/abandon.ts); precedes ending it. */
  abandon(): void;
  kill(): void;
  exited: Promise<void>;
}

/** Where the pool's executors reach it. */
export interface PoolPaths {
  /** The control socket the pool listens on. */
  control: string;
  /** Where executors make their cancel FIFOs (src/common/cancel-fifo.ts). */
  cancelDir: string;
}

type Link = ControlLink<FromExecutor>;

interface Warm {
  /** Its process, once it has one (a zygote's fork is answered asynchronously). */
  proc?: ExecutorProcess;
  ready: Promise<void>;
  /** Its control connection, once it said it is ready. */
  link?: Link;
  /** Where the executor's (validated) messages go once ready: its session's requests. */
  onMessage: (m: FromExecutor) => void;
  /** It runs at SPARE_NICE (a spare nobody has taken). */
  lowered: boolean;
  /** An attach has taken it (it may not have its process yet). */
  taken?: boolean;
}

/** Why an executor was started: a spare ahead of time, or for an attach that found none. */
type Purpose = 'spare' | 'attach';

function killNow(proc: ExecutorProcess | undefined): void {
  proc?.kill('SIGKILL');
}

/** `VGPU_EXECUTOR_ZYGOTE`: `0`/`off` starts every executor as a process of its own. */
export function zygoteWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.VGPU_EXECUTOR_ZYGOTE ?? '';
  if (v === '' || v === '1' || v === 'on') return true;
  if (v === '0' || v === 'off') return false;
  throw new Error(`VGPU_EXECUTOR_ZYGOTE must be 0, 1, on or off, not ${JSON.stringify(v)}`);
}

/** How long after its zygote died the pool starts a new one: doubling while new ones fail to
 * become ready, up to the second. */
const ZYGOTE_RESTART_MS = 2000;
const ZYGOTE_RESTART_MAX_MS = 60_000;

/** How long a control connection may take to say what it is. */
const GREETING_MS = 10_000;
/** How long an exited executor's control connection may take to deliver what it still holds. */
const LINK_DRAIN_MS = 2000;

export class ExecutorPool {
  private spares: Warm[] = [];
  private readonly live = new Set<ExecutorProcess>();
  /** Forks executors, when there is one that is ready (docs/executors.md, "Zygote"). */
  private zygote: Zygote | undefined;
  private zygoteReady = false;
  private zygoteRestart: NodeJS.Timeout | undefined;
  private zygoteBackoff = ZYGOTE_RESTART_MS;
  /** VGPU_EXECUTOR_ZYGOTE, read at start. */
  private zygoteOn = false;
  /** Spawned executors not yet ready, by pid: their `ready` on the control socket pairs them. */
  private readonly starting = new Map<number, { warm: Warm; ready: () => void }>();
  /** `ready` greetings of forked executors whose fork was not answered yet, by pid. */
  private readonly unclaimed = new Map<number, { launch: LaunchInfo | undefined; link: Link; timer: NodeJS.Timeout }>();
  /** Executors a previous mediator started, adopted with their sessions. */
  private readonly adopted = new Set<number>();
  private server: net.Server | undefined;
  /** Every open control connection: closing the pool closes them (a server's close does not). */
  private readonly links = new Set<Link>();
  private closing = false;
  private warnedSlowLaunch = false;
  private warnedNoZygote = false;
  /** Attaches in `attach` still waiting for their executor to be ready: spares are not refilled
   * meanwhile, so that the executors they wait for do not share the CPU with spares. */
  private waitingAttaches = 0;
  /** Spares start lowered only where their priority can be given back (src/mediator/spare-priority.ts). */
  private readonly lowerSpares = canRestorePriority();
  /** The priority a session's executor runs at: the mediator's own. */
  private readonly normalNice = getPriority();
  /** Attaches queued before they reach `attach` (the mediator's handoff slots): they defer refills too. */
  attachesQueued: () => number = () => 0;
  /** Gets the executors of a previous mediator that reconnect with their session. */
  onAdopt: (m: AdoptMessage, link: Link) => void = (_m, link) => link.close();
  /** Told how long each executor it started took to be ready (seconds). */
  onReady: (seconds: number, form: 'forked' | 'spawned') => void = () => {};

  constructor(
    private readonly backend: BackendKind,
    private readonly log: Logger,
    private readonly paths: PoolPaths,
    private readonly spareCount = 1,
    private readonly deviceTime: DeviceTimeChoice = 'auto',
    /** The executor's entry point (tests give a stand-in): the launcher of the bundled executor. */
    private readonly executorMain = EXECUTOR_LAUNCHER,
  ) {}

  /** Listens on the control socket (the state directory's lock makes a socket file there a dead
   * mediator's, so it is replaced), then starts the spares. */
  async start(): Promise<void> {
    this.zygoteOn = zygoteWanted();
    mkdirSync(this.paths.cancelDir, { recursive: true, mode: 0o700 });
    try {
      unlinkSync(this.paths.control);
    } catch {
      /* none */
    }
    const server = net.createServer((s) => this.onControl(s));
    server.on('error', (e) => this.log.error({ err: e.message }, 'executor control socket error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.paths.control, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Only this user's processes may steer sessions or claim to be executors.
    chmodSync(this.paths.control, 0o600);
    this.server = server;
    // Spares are forked by the zygote once it has loaded.
    this.startZygote();
    this.refill();
  }

  /** The zygote is used only for the real executor, with the executors' own Node flags, and where
   * its library is built; otherwise, and while none is ready, executors start as processes of their own. */
  private zygoteUsable(): boolean {
    if (this.executorMain !== EXECUTOR_LAUNCHER || this.extraNodeArgs().length > 0) return false;
    if (!this.zygoteOn) return false;
    try {
      zygoteCalls();
      return true;
    } catch (e) {
      if (!this.warnedNoZygote) this.log.warn({ err: (e as Error).message }, 'no executor zygote: every executor starts as a process of its own');
      this.warnedNoZygote = true;
      return false;
    }
  }

  private startZygote(): void {
    if (this.closing || this.zygote || !this.zygoteUsable()) return;
    const z = new Zygote({ launcher: this.executorMain, args: this.executorArgs(), execArgv: [...EXECUTOR_NODE_FLAGS] }, this.log);
    this.zygote = z;
    this.zygoteReady = false;
    const lost = (why: string): void => {
      if (this.zygote !== z) return;
      this.zygote = undefined;
      this.zygoteReady = false;
      if (this.closing) return;
      const wait = this.zygoteBackoff;
      this.zygoteBackoff = Math.min(ZYGOTE_RESTART_MAX_MS, wait * 2);
      this.log.warn({ zygotePid: z.pid, why, restartInMs: wait }, 'executor zygote ended; executors start as processes of their own until another is ready');
      this.zygoteRestart = setTimeout(() => this.startZygote(), wait);
      this.zygoteRestart.unref();
    };
    z.ready.then(
      () => {
        if (this.zygote !== z) return;
        this.zygoteReady = true;
        this.zygoteBackoff = ZYGOTE_RESTART_MS;
        this.log.debug({ zygotePid: z.pid }, 'executor zygote ready');
      },
      (e: Error) => lost(e.message),
    );
    z.onLost = lost;
  }

  /** The executor's arguments, the same for spawned and forked ones. */
  private executorArgs(): string[] {
    return ['--backend', this.backend, '--device-time', this.deviceTime, '--control', this.paths.control, '--cancel-dir', this.paths.cancelDir];
  }

  /** Extra Node flags for profiling or debugging (e.g. --cpu-prof): executors with them are
   * spawned, each its own Node started with them. */
  private extraNodeArgs(): string[] {
    return (process.env.VGPU_EXECUTOR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  }

  /** The zygote that forks executors now, if one is ready. */
  get zygotePid(): number | undefined {
    return this.zygoteReady ? this.zygote?.pid : undefined;
  }

  /** Executor processes alive, spares and adopted ones included. */
  get running(): number {
    return this.live.size + this.adopted.size;
  }

  /** Executors started ahead of time, waiting for a session. */
  get spare(): number {
    return this.spares.length;
  }

  private onControl(s: Socket): void {
    const timer = setTimeout(() => s.destroy(), GREETING_MS);
    timer.unref();
    s.once('close', () => this.links.delete(link));
    const link: Link = new ControlLink(s, fromExecutorSchema, {
      message: (m) => {
        clearTimeout(timer);
        if (m.type === 'ready') {
          if (this.starting.has(m.pid)) this.claim(m.pid, m.launch, link);
          else if (this.zygote?.forking) {
            // A forked executor can greet before its fork's answer reaches this process: it is
            // claimed when the answer comes (track), or closed if none does.
            const timer = setTimeout(() => {
              this.unclaimed.delete(m.pid);
              this.refuseUnknown(m.pid, link);
            }, GREETING_MS);
            timer.unref();
            this.unclaimed.set(m.pid, { launch: m.launch, link, timer });
          } else this.refuseUnknown(m.pid, link);
        } else if (m.type === 'adopt') {
          if (this.closing) link.close();
          else this.onAdopt(m, link);
        } else {
          this.log.warn({ message: m.type }, 'a control connection did not start with ready or adopt; closed');
          link.close();
        }
      },
      invalid: (issue) => {
        clearTimeout(timer);
        this.log.warn({ issue }, 'invalid greeting on the executor control socket; closed');
        link.close();
      },
      close: () => clearTimeout(timer),
    });
    this.links.add(link);
  }

  private refuseUnknown(pid: number, link: Link): void {
    this.log.warn({ executorPid: pid }, 'a control connection claimed to be an executor this mediator did not start; closed');
    link.close();
  }

  /** An executor this pool started greeted `ready` on `link`. */
  private claim(pid: number, launch: LaunchInfo | undefined, link: Link): void {
    const st = this.starting.get(pid);
    if (!st) return this.refuseUnknown(pid, link);
    this.starting.delete(pid);
    this.noteLaunch(pid, launch);
    st.warm.link = link;
    link.route({
      message: (x) => st.warm.onMessage(x),
      invalid: (issue) => {
        this.log.error({ executorPid: pid, issue }, 'invalid message from executor; ending it');
        killNow(st.warm.proc);
      },
      close: () => {},
    });
    st.ready();
  }

  /** Starts an executor: forked by the zygote when one is ready, else a process of its own. */
  private spawn(purpose: Purpose): Warm {
    let markReady!: () => void;
    let fail!: (e: Error) => void;
    const warm: Warm = {
      ready: new Promise<void>((resolve, reject) => {
        markReady = resolve;
        fail = reject;
      }),
      onMessage: (m) => this.log.warn({ message: m.type }, 'message from an executor without a session'),
      lowered: false,
    };
    warm.ready.catch(() => {});
    const started = performance.now();
    const zygote = this.zygote;
    if (!zygote) {
      this.track(warm, new SpawnedExecutor(this.spawnProcess()), purpose, started, markReady, fail);
      return warm;
    }
    // A zygote that is still loading is waited for: it is ready about as soon as an executor
    // started now would be, and forks every executor after this one in milliseconds.
    zygote.ready.then(() => zygote.fork()).then(
      (proc) => {
        if (this.closing) {
          proc.kill('SIGKILL');
          return fail(new Error('the pool is closing'));
        }
        this.track(warm, proc, purpose, started, markReady, fail);
      },
      (e: Error) => {
        // The zygote failed this one (or failed to start): it starts the other way.
        this.log.warn({ err: e.message }, 'the executor zygote could not fork an executor; starting one as a process of its own');
        if (this.closing) return fail(new Error('the pool is closing'));
        this.track(warm, new SpawnedExecutor(this.spawnProcess()), purpose, started, markReady, fail);
      },
    );
    return warm;
  }

  private spawnProcess(): ReturnType<typeof fork> {
    const child = fork(this.executorMain, this.executorArgs(), {
      // The executors' own flags (src/executor/launch-form.cts), then extra ones for profiling or
      // debugging (e.g. --cpu-prof); V8 refuses the code cache under any other V8 flag.
      execArgv: [...EXECUTOR_NODE_FLAGS, ...this.extraNodeArgs()],
      // A process group of its own: the mediator's terminal's Ctrl-C, or a kill of its group, must
      // not end the sessions (the mediator drains them itself; docs/executors.md).
      detached: true,
      // fd 1 is not the mediator's stdout: whatever an executor prints there is its guest's (kernel
      // output, which the executor captures and forwards itself; src/executor/output.ts).
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    // A ChildProcess reports a failed send, kill or start as an 'error' event, which throws in the
    // mediator when nobody listens: sends already report to their callers, so log and go on.
    child.on('error', (e) => this.log.warn({ executorPid: child.pid, err: e.message }, 'executor process error'));
    return child;
  }

  /** Follows a started executor until its `ready` greeting (or its end). */
  private track(warm: Warm, proc: ExecutorProcess, purpose: Purpose, started: number, markReady: () => void, fail: (e: Error) => void): void {
    warm.proc = proc;
    this.live.add(proc);
    const log = this.log.child({ executorPid: proc.pid });
    log.debug({ purpose, form: proc.form }, 'executor started');
    let isReady = false;
    if (purpose === 'spare' && !warm.taken) this.lower(warm);
    if (proc.pid !== 0) {
      this.starting.set(proc.pid, {
        warm,
        ready: () => {
          isReady = true;
          this.onReady((performance.now() - started) / 1000, proc.form);
          markReady();
        },
      });
    }
    const early = this.unclaimed.get(proc.pid);
    if (early) {
      this.unclaimed.delete(proc.pid);
      clearTimeout(early.timer);
      this.claim(proc.pid, early.launch, early.link);
    }
    proc.onExit((code, signal) => {
      this.live.delete(proc);
      if (proc.pid !== 0) {
        this.starting.delete(proc.pid);
        this.removeFifo(proc.pid);
      }
      if (!isReady) fail(new Error(`executor exited before it was ready (code ${code}, signal ${signal})`));
      // Exits without a session, for the log (a session's executor's exit is its session's end).
      if (!this.closing && !isReady) log.warn({ code, signal }, 'executor exited before it was ready');
      else if (!this.closing && this.spares.includes(warm)) log.warn({ code, signal }, 'spare executor exited');
      this.spares = this.spares.filter((w) => w !== warm);
    });
  }

  /** Logs how an executor was loaded, and warns once when executors start the slow way (their
   * modules one by one, or without the code cache): every session's start then costs more CPU. */
  private noteLaunch(pid: number, launch: LaunchInfo | undefined): void {
    if (!launch) return;
    this.log.debug({ executorPid: pid, launch }, 'executor ready');
    const slow = launch.form !== 'bundle' || (launch.codeCache !== 'used' && launch.codeCache !== 'off');
    if (!slow || this.warnedSlowLaunch) return;
    this.warnedSlowLaunch = true;
    this.log.warn({ launch }, 'executors start without their code cache, so every session starts slower; rebuild with make (docs/executors.md, "Launch form")');
  }

  /** Starts spares up to the count, unless attaches are waiting for executors (in `attach` or
   * queued before it): those executors get the CPU first, and the last attach to get its executor
   * refills. The mediator calls it too when a queued attach gives up before reaching the pool. */
  refill(): void {
    if (this.closing || this.waitingAttaches > 0 || this.attachesQueued() > 0) return;
    while (this.spares.length < this.spareCount) this.spares.push(this.spawn('spare'));
  }

  private lower(warm: Warm): void {
    const pid = warm.proc?.pid;
    if (!this.lowerSpares || !pid) return;
    const r = renice(pid, SPARE_NICE);
    if (r.ok) warm.lowered = true;
    else this.log.debug({ executorPid: pid, err: r.err }, 'could not lower a spare executor\'s priority');
  }

  /** A session's executor runs at the mediator's priority. */
  private restore(warm: Warm): void {
    const pid = warm.proc?.pid;
    if (!warm.lowered || !pid) return;
    const r = renice(pid, this.normalNice);
    if (r.ok) warm.lowered = false;
    else this.log.warn({ executorPid: pid, err: r.err }, 'could not restore a spare executor\'s priority');
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
    const warm = this.spares.shift() ?? this.spawn('attach');
    warm.taken = true;
    this.restore(warm);
    this.waitingAttaches++;
    try {
      await warm.ready;
    } catch (e) {
      this.waitingAttaches--;
      this.refill();
      throw e;
    }
    this.waitingAttaches--;
    if (socket.destroyed) {
      // The guest went away while the executor got ready: it stays a spare for the next session.
      if (this.closing) killNow(warm.proc);
      else {
        warm.taken = false;
        this.lower(warm);
        this.spares.unshift(warm);
      }
      this.refill();
      throw new Error('the guest closed its connection before the handoff');
    }
    this.refill();
    const proc = warm.proc;
    if (!proc) throw new Error('an executor was ready without a process');
    const pid = proc.pid;
    const log = this.log.child({ executorPid: pid, session: msg.sessionId });
    let ended: ExecutorEnd['ended'];
    warm.onMessage = (m) => {
      if (m.type === 'ended') ended = m;
      else if (m.type === 'ready' || m.type === 'adopt') log.warn({ message: m.type }, 'executor greeted again');
      else onMessage(m);
    };
    const exited = new Promise<void>((resolve) => {
      proc.onExit((code, signal) => {
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          onEnd({ code, signal, ...(ended && { ended }) });
          resolve();
        };
        // Its last messages (the final usage, `ended`) can still be unread on its control
        // connection when its exit is known (a zygote's report can overtake them): the end is
        // taken once that connection has closed, all of it read.
        // Not `connected`, which needs the socket writable: its writing side is shut once the
        // executor has hung up (ControlClient.finish) while its last lines may still be unread.
        const link = warm.link;
        if (!link || link.socket.destroyed || !link.socket.readable) return finish();
        link.socket.once('close', finish);
        setTimeout(finish, LINK_DRAIN_MS).unref();
      });
    });
    const handle: ExecutorHandle = {
      pid,
      send: (m) => {
        const ok = warm.link?.send(m) ?? false;
        if (!ok) log.debug({ message: m.type }, 'message to an exiting executor dropped');
        return ok;
      },
      abandon: () => void abandonVia(this.paths.cancelDir, pid),
      kill: () => killNow(proc),
      exited,
    };
    onHandle(handle);
    const err = await proc.hand(msg, socket, (m) => warm.link?.send(m) ?? false);
    if (err) {
      killNow(proc);
      throw new Error(`could not hand the session to executor ${pid}: ${err.message}`);
    }
    return handle;
  }

  /** Takes over the executor of an adopted session (its `adopt` was accepted): from now on it is
   * driven like one this mediator started, except that its end is its control connection closing
   * (it is not this process's child, so there is no exit status to wait for). */
  adopt(pid: number, link: Link, onMessage: (m: SessionRequest) => void, onEnd: (end: ExecutorEnd) => void): ExecutorHandle {
    this.adopted.add(pid);
    const log = this.log.child({ executorPid: pid });
    let ended: ExecutorEnd['ended'];
    const kill = (): void => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    };
    const exited = new Promise<void>((resolve) => {
      link.route({
        message: (m) => {
          if (m.type === 'ended') ended = m;
          else if (m.type === 'ready' || m.type === 'adopt') log.warn({ message: m.type }, 'executor greeted again');
          else onMessage(m);
        },
        invalid: (issue) => {
          log.error({ issue }, 'invalid message from executor; ending it');
          kill();
        },
        close: () => {
          this.adopted.delete(pid);
          if (!processAlive(pid)) this.removeFifo(pid);
          onEnd({ code: null, signal: null, ...(ended && { ended }) });
          resolve();
        },
      });
    });
    return {
      pid,
      send: (m) => link.send(m),
      abandon: () => void abandonVia(this.paths.cancelDir, pid),
      kill: () => {
        // The pid was this executor's while its connection is open; after that it may be reused.
        if (link.connected && processAlive(pid)) kill();
      },
      exited,
    };
  }

  /** An executor that is gone cannot remove its cancel FIFO if it was killed: its mediator does. */
  private removeFifo(pid: number): void {
    try {
      unlinkSync(cancelFifoPath(this.paths.cancelDir, pid));
    } catch {
      /* removed by the executor */
    }
  }

  /**
   * Stops the pool: no more executors start or are adopted, spares end. With `leaveSessions`
   * (an upgrade: SIGUSR2), executors serving sessions are left running, to be adopted by the next
   * mediator; otherwise (their sessions have been ended) they are ended too.
   */
  async close(leaveSessions = false): Promise<void> {
    this.closing = true;
    this.server?.close();
    clearTimeout(this.zygoteRestart);
    const serving = new Set<ExecutorProcess>(this.live);
    for (const w of this.spares) if (w.proc) serving.delete(w.proc);
    for (const { warm } of this.starting.values()) if (warm.proc) serving.delete(warm.proc);
    const ending = leaveSessions ? [...this.live].filter((c) => !serving.has(c)) : [...this.live];
    const exits = ending.map(
      (c) => new Promise<void>((resolve) => {
        if (c.exited) return resolve();
        c.onExit(() => resolve());
        c.kill('SIGTERM');
        setTimeout(() => c.kill('SIGKILL'), 3000).unref();
      }),
    );
    if (!leaveSessions) {
      for (const pid of this.adopted) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
    }
    await Promise.all(exits);
    // After the executors it forked have been ended through it; those left serving carry on.
    this.zygote?.close();
    this.zygote = undefined;
    this.zygoteReady = false;
    if (leaveSessions) {
      // Executors left running must not keep this process alive, nor hear of its exit over IPC
      // as anything but their mediator going away.
      for (const c of serving) c.release();
    }
    // Executors left running see their mediator go now, and wait for the next one.
    for (const l of this.links) l.close();
    try {
      unlinkSync(this.paths.control);
    } catch {
      /* gone */
    }
  }
}
