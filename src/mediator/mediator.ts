// The mediator daemon: accepts guest connections on its listeners, authenticates them against the
// store, answers the handshake from the backend's device table, and hands attached sessions to
// executor processes. Lifecycle: start() probes the backend, opens the store and listeners;
// drain() tells every guest the host is going away and waits, refusing new sessions, until the
// attached ones have ended or the grace time is over; stop() ends the sessions left (their guests
// are told VG_WIRE_STATUS_SHUTDOWN), closes listeners, ends executors, removes Unix socket files
// and closes the store.

import { existsSync, unlinkSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';

import { ADMIN_OPERATOR, lockStateDir, Store, type StateLock, type Vm } from '../store/index.js';
import { chooseBackend, type Backend, type BackendChoice } from './backend.js';
import { handleConnection, type GuestLink, type GuestSession } from './connection.js';
import { NOTICE_MINOR } from '../protocol/constants.js';
import { WireStatus } from '../protocol/errors.js';
import { shutdownNotice } from '../protocol/notice.js';
import { KILL_LINGER_MS, type AdoptMessage, type FromExecutor } from '../common/executor-ipc.js';
import type { ControlLink } from '../common/control-link.js';
import { cancelDir, sweepCancelFifos } from '../common/cancel-fifo.js';
import { ExecutorPool, type ExecutorEnd, type ExecutorHandle, type SessionRequest } from './executors.js';
import { SessionRegistry, type AdoptVerdict } from './sessions.js';
import { DEFAULT_STAGING, stagingShare, type StagingLimits } from './staging.js';
import { IpcExports } from './ipc-exports.js';
import { QuotaLedger } from './ledger.js';
import { Slots } from './slots.js';
import type { DeviceTimeChoice } from '../executor/device-time.js';
import { vmStatus } from './nvml-status.js';
import { openHostNvml, type HostNvml } from './host-nvml.js';
import { gpuTelemetry, type GpuTelemetry } from './gpu-telemetry.js';
import { MediatorStats } from './stats.js';
import { placeVm, type Placement } from './identity.js';
import { boundAddress, formatListen, listen, socketFile, type Channel, type ListenAddr } from './listen.js';
import { removeListenFile, writeListenFile } from './listen-file.js';
import { authenticateGuest, type Admission } from './admission.js';
import { DEFAULT_QUANTUM_MS, DEFAULT_STARVATION_MS, Scheduler, type VmPolicy, type VmSchedStats } from '../sched/scheduler.js';
import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../admin/server.js';
import { StoreOps, type LiveControl } from '../admin/ops.js';
import type { GpuSample, LiveGpu, LiveVm, SessionView } from '../admin/schemas.js';
import { GpuHistory } from './gpu-history.js';
import type { MetricsSource } from '../admin/metrics.js';
import { choosePlacement, gpuUuid, type GpuLoad } from './placement.js';
import { UsageMeter, type UsageTotals } from './usage-meter.js';
import { HoldWatchdog } from './watchdog.js';
import type { TlsCredentials } from './tls.js';
import type { SocketAccess } from './socket-access.js';
import { formatDuration } from '../common/duration.js';
import { DEFAULT_IMAGE_LIMITS, ImageStore, imageStoreDir, type ImageLimits, type ImageStoreUsage } from '../common/image-store.js';

export interface MediatorOptions {
  stateDir: string;
  listen: ListenAddr[];
  backend: BackendChoice;
  /** VM that token-less connections on a Unix socket belong to (created if missing). */
  defaultVm?: string | undefined;
  handshakeTimeoutMs?: number;
  spareExecutors?: number;
  /** Scheduling: how long a session may hold a GPU while others wait, and after how long a
   * waiting session goes first whatever its class. */
  quantumMs?: number;
  starvationMs?: number;
  /** How long one call may hold a GPU while others wait, for VMs without their own limit (ms;
   * 0: no limit; default DEFAULT_MAX_HOLD_MS). */
  maxHoldMs?: number;
  /** Admin HTTP API address (docs/admin-api.md); undefined for none. */
  http?: { host: string; port: number } | undefined;
  /** How executors measure device time (src/executor/device-time.ts); default auto. */
  deviceTime?: DeviceTimeChoice;
  /** How often usage is written to the store (default 5000 ms). */
  usageFlushMs?: number;
  /** Bounds of the module image store (src/common/image-store.ts); defaults DEFAULT_IMAGE_LIMITS. */
  imageLimits?: ImageLimits;
  /** Bounds of guest data received ahead of serving it (staging.ts); defaults DEFAULT_STAGING. */
  staging?: StagingLimits;
  /** Host-to-device copies run without the GPU slice (docs/executors.md, "Copy lane"); default on. */
  copyLane?: boolean;
  /** Group and mode of the Unix sockets it creates (socket-access.ts); 0660 and its own group by default. */
  socketAccess?: SocketAccess;
  /** The certificate and key of tls: listeners (src/mediator/tls.ts). */
  tls?: TlsCredentials | undefined;
  log: Logger;
}

/** What a guest whose session an operator ended is told. */
function operatorEnded(reason: string): string {
  return `session ended by an operator: ${reason}`;
}

/** The executors' control socket in the state directory (docs/executors.md). */
export const EXECUTOR_SOCKET = 'executors.sock';

/** Usage samples older than this are pruned at start (the all-time totals stay). */
const USAGE_SAMPLE_DAYS = 90;
/** How long an executor asked to end its session may take to exit before it is killed. */
const KILL_GRACE_MS = 3000;

/** Executors made ready for attaching guests at once (spares come first); more ATTACHes wait. */
const HANDOFFS_AT_ONCE = 4;

/** What a guest that connects while the host drains is told. */
const DRAINING = 'the host is shutting down';

/** How long a VM's priority, weight and hold limit are cached before the store is read again. */
const POLICY_TTL_MS = 250;
/** The hold limit of VMs that set none (--max-hold): long for any kernel on a GPU, and far
 * shorter than the minutes a runaway kernel would keep everyone else waiting. */
export const DEFAULT_MAX_HOLD_MS = 10_000;
/** Session ids taken from the store at a time (one write per this many guests). */
const SESSION_ID_BLOCK = 256;

export class Mediator implements LiveControl, MetricsSource {
  /** The state directory is this mediator's alone while it runs (src/store/lock.ts). */
  private lock: StateLock | undefined;
  private store!: Store;
  /** Per-session and per-VM usage (src/mediator/usage-meter.ts); NVML status reads it too. */
  readonly usage = new UsageMeter();
  /** Event counts for /metrics (stats.ts). */
  readonly stats = new MediatorStats();
  private admin: { app: FastifyInstance; url: string } | undefined;
  private apiStore: Store | undefined;
  /** Sessions an operator is ending, until their executor says the guest has been told. */
  private readonly killAcks = new Map<number, () => void>();
  private flushTimer: NodeJS.Timeout | undefined;
  private backend!: Backend;
  /** Module images by VM (src/common/image-store.ts); executors add to it, vm rm empties a VM's. */
  private readonly images: ImageStore;
  /** The host's NVML for board values (host-nvml.ts), when there is one. */
  private hostNvml: HostNvml | undefined;
  private pool!: ExecutorPool;
  private servers: Array<{ server: net.Server; addr: ListenAddr }> = [];
  /** Sessions attaching or attached to an executor, and their executors (sessions.ts). */
  private readonly registry = new SessionRegistry();
  /** Each session's share of its VM's quota (ledger.ts). */
  private readonly ledger: QuotaLedger;
  /** The VMs' CUDA IPC exports (docs/ipc.md). */
  private readonly ipcExports = new IpcExports();
  /** Session ids not handed out yet of the block last taken from the store. */
  private ids = { next: 1, end: 0 };
  private readonly policies = new Map<string, { at: number; policy: VmPolicy; maxHoldMs: number | null }>();
  /** Sessions that have their WELCOME but no executor yet, and the way to reach each: the
   * shutdown's notices, and an operator's removal or token change, reach them too. */
  private readonly discovery = new Map<number, { s: GuestSession; link: GuestLink }>();
  private readonly handoffs = new Slots(HANDOFFS_AT_ONCE);
  /** Set while draining: when the grace time ends, what guests are told, and the check that
   * ends the drain once no session is attached or attaching (`sessions` is empty). */
  private draining: { until: number; message: string; check: () => void } | undefined;
  readonly sched: Scheduler;
  private readonly watchdog: HoldWatchdog;
  /** The GPUs' recent readings, for the dashboard (sampled while the admin API is up). */
  private readonly history = new GpuHistory(() => this.liveGpus());
  private defaultMaxHoldMs: number;

  constructor(private readonly opts: MediatorOptions) {
    this.defaultMaxHoldMs = opts.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
    this.ledger = new QuotaLedger({
      quota: (vm) => this.currentQuota(vm),
      charged: (vm) => this.ipcExports.charged(vm),
      send: (id, m) => this.executors.get(id)?.send(m) ?? false,
      granted: (id) => this.countReservation(id, true),
      refused: (id, detail) => {
        this.countReservation(id, false);
        this.sessions.get(id)?.log.info(detail, 'allocation refused: VM memory quota reached');
      },
    });
    this.images = new ImageStore(imageStoreDir(opts.stateDir));
    this.sched = new Scheduler({
      quantumMs: opts.quantumMs ?? DEFAULT_QUANTUM_MS,
      starvationMs: opts.starvationMs ?? DEFAULT_STARVATION_MS,
      policy: (vm) => this.policy(vm),
      grant: (id, contended) => {
        this.sessions.get(id)?.log.debug({ contended }, 'GPU slice granted');
        this.executors.get(id)?.send({ type: 'grant', contended });
      },
      preempt: (id) => {
        this.sessions.get(id)?.log.debug({}, 'GPU slice preempted');
        this.executors.get(id)?.send({ type: 'preempt' });
        this.watchdog.asked(id);
      },
      contended: (id) => {
        this.executors.get(id)?.send({ type: 'contended' });
        this.watchdog.contended(id);
      },
    });
    this.watchdog = new HoldWatchdog({
      limitMs: (id) => this.holdLimit(id),
      holdsContended: (id) => {
        const gpu = this.sessions.get(id)?.placement.deviceMap[0] ?? -1;
        return this.sched.holderOf(gpu) === id && this.sched.waitingOn(gpu).length > 0;
      },
      end: (id, heldMs, limitMs) => this.endHog(id, heldMs, limitMs),
    });
  }

  get sessions(): Map<number, GuestSession> {
    return this.registry.sessions;
  }

  private get executors(): Map<number, ExecutorHandle> {
    return this.registry.executors;
  }

  /** A new session id: from the store's counter, a block at a time, so that ids never repeat
   * across mediators (a new one adopts the sessions of the last; docs/executors.md). */
  private newSessionId(): number {
    if (this.ids.next > this.ids.end) {
      const first = this.store.takeSessionIds(SESSION_ID_BLOCK);
      this.ids = { next: first, end: first + SESSION_ID_BLOCK - 1 };
    }
    return this.ids.next++;
  }

  get addresses(): string[] {
    return this.servers.map((s) => formatListen(boundAddress(s.server, s.addr)));
  }

  get backendKind(): string {
    return this.backend.kind;
  }

  async start(): Promise<void> {
    const log = this.opts.log;
    // Before anything else touches the directory (or a listener replaces a socket file).
    this.lock = lockStateDir(this.opts.stateDir);
    this.store = Store.open(this.opts.stateDir, { actor: 'mediator' });
    if (this.opts.defaultVm) this.store.ensureVm(this.opts.defaultVm);
    // Images of VMs removed while no mediator ran, what dead executors left, limits lowered.
    this.images.sweep(new Set(this.store.listVms().map((v) => v.name)), this.imageLimits());
    this.backend = await chooseBackend(this.opts.backend, log);
    log.info({
      backend: this.backend.kind,
      driverVersion: this.backend.driverVersion,
      devices: this.backend.devices.map((d) => ({ name: d.name, totalMem: d.totalMem })),
    }, 'backend ready');
    // The GPU inventory: pools name GPUs by UUID, and `gpu list` shows those seen before too.
    for (const d of this.backend.devices) {
      this.store.recordGpu({
        uuid: gpuUuid(d.uuid), name: d.name, backend: this.backend.kind, totalMemory: d.totalMem,
        pciBusId: `${d.pciDomain.toString(16).padStart(4, '0')}:${d.pciBus.toString(16).padStart(2, '0')}:${d.pciDevice.toString(16).padStart(2, '0')}.0`,
      });
    }
    this.store.pruneUsageSamples(new Date(Date.now() - USAGE_SAMPLE_DAYS * 86_400_000));
    this.hostNvml = openHostNvml(this.backend, log);
    // FIFOs of executors that died since (the live ones' are theirs, and adopted below).
    sweepCancelFifos(cancelDir(this.opts.stateDir));
    this.pool = new ExecutorPool(this.backend.kind, log, { control: path.join(this.opts.stateDir, EXECUTOR_SOCKET), cancelDir: cancelDir(this.opts.stateDir) },
      this.opts.spareExecutors ?? 1, this.opts.deviceTime ?? 'auto');
    this.pool.onReady = (seconds, form) => this.stats.executorReady(seconds, form);
    // Attaches waiting for a handoff slot defer spare refills as those in the pool do.
    this.pool.attachesQueued = () => this.handoffs.queued;
    // Executors of a previous mediator reconnect as soon as the control socket is there.
    this.pool.onAdopt = (m, link) => {
      try {
        this.adopt(m, link);
      } catch (e) {
        log.error({ err: (e as Error).stack ?? String(e), executorPid: m.pid, session: m.sessionId }, 'internal error adopting a session; its executor is left alone');
        link.close();
      }
    };
    await this.pool.start();
    this.flushTimer = setInterval(() => this.flushUsage(), this.opts.usageFlushMs ?? 5000);
    this.flushTimer.unref();
    for (const addr of this.opts.listen) {
      const server = await listen(addr, (s, channel) => this.onConnection(s, channel),
        (e) => log.error({ listen: formatListen(addr), err: e.message }, 'listener error; still listening'), this.opts.stateDir, this.opts.tls, this.opts.socketAccess);
      this.servers.push({ server, addr });
    }
    if (this.opts.http) {
      await this.startAdmin(this.opts.http);
      this.history.start();
    }
    writeListenFile(this.opts.stateDir, process.pid, this.addresses);
    log.info({ listen: this.addresses, admin: this.admin?.url ?? 'off', stateDir: this.opts.stateDir }, 'mediator listening');
  }

  /** The admin API's /readyz: 'ok' or why not, per part the mediator needs to serve guests. */
  readiness(): Readiness {
    let store = 'ok';
    try {
      this.store.ping();
    } catch (e) {
      store = `the store does not answer: ${(e as Error).message}`;
    }
    const down = this.servers.filter((s) => !s.server.listening).map((s) => formatListen(s.addr));
    return {
      checks: {
        store,
        backend: this.backend ? 'ok' : 'no backend yet',
        listeners: down.length === 0 && this.servers.length === this.opts.listen.length ? 'ok' : `not listening: ${down.join(', ') || 'starting'}`,
        draining: this.draining ? `draining: ${this.draining.message}` : 'ok',
      },
      listeners: this.servers.filter((s) => s.server.listening).map((s) => formatListen(boundAddress(s.server, s.addr))),
      backend: this.backend ? this.backend.kind : null,
    };
  }

  /** What marks the files this mediator writes in the state directory as its own. */
  private owner(): { pid: number; instance: string } {
    return { pid: process.pid, instance: this.lock!.holder.instance };
  }

  get adminUrl(): string | undefined {
    return this.admin?.url;
  }

  private async startAdmin(at: { host: string; port: number }): Promise<void> {
    const { ensureAdminToken, tokenMatches, writeAdminInfo } = await import('../admin/files.js');
    const { startAdminServer } = await import('../admin/server.js');
    const { createMetrics } = await import('../admin/metrics.js');
    const tok = ensureAdminToken(this.opts.stateDir);
    // Its own connection; each request's changes are audited as its operator (Store.as).
    const apiStore = Store.open(this.opts.stateDir, { actor: 'api' });
    this.apiStore = apiStore;
    const views = new Map<string, StoreOps>();
    this.opts.log.info({ file: tok.file, created: tok.created }, 'admin API token (required from non-loopback clients)');
    try {
      this.admin = await startAdminServer({
        host: at.host, port: at.port, metrics: createMetrics(this), log: this.opts.log,
        opsFor: (actor) => {
          let ops = views.get(actor);
          if (!ops) {
            ops = new StoreOps(apiStore.as(actor), this, this.images);
            views.set(actor, ops);
          }
          return ops;
        },
        // The admin-token file is the bootstrap operator; the others are in the store, so one
        // added or removed counts from its next request.
        operatorOf: (token) => (tokenMatches(token, tok.token) ? ADMIN_OPERATOR : apiStore.findOperatorByToken(token)?.name),
        readiness: () => this.readiness(),
      });
    } catch (e) {
      throw new Error(`admin API on ${at.host}:${at.port}: ${(e as Error).message} (choose another with --http HOST:PORT, or --http off)`);
    }
    writeAdminInfo(this.opts.stateDir, { url: this.admin.url, ...this.owner() });
  }

  private authenticate(token: string, channel: Channel): Admission {
    return authenticateGuest(this.store, token, channel, this.opts.defaultVm);
  }

  private onConnection(socket: net.Socket, channel: Channel): void {
    handleConnection(socket, channel, {
      log: this.opts.log,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs ?? 10_000,
      relayDir: this.opts.stateDir,
      authenticate: (t, l) => this.authenticate(t, l),
      place: (vm) => this.place(vm),
      driverVersion: this.backend.driverVersion,
      softgpu: this.backend.kind === 'softgpu',
      newSessionId: () => this.newSessionId(),
      // NVML's STATUS (docs/protocol.md): this VM's accounting, answered without an executor.
      status: (s) => vmStatus({
        vm: s.vm.name, deviceMap: s.placement.deviceMap, vmUsed: this.ledger.vmUsed(s.vm.name), accounting: this.usage, windowMs: this.usage.windowMs,
        board: this.hostNvml ? (gpu) => this.hostNvml?.reading(gpu) : undefined,
      }),
      closing: () => (this.draining ? DRAINING : undefined),
      stats: this.stats,
      opened: (s, link) => {
        this.discovery.set(s.id, { s, link });
        if (this.draining && s.minor >= NOTICE_MINOR) link.send(shutdownNotice(this.graceLeft()));
      },
      attach: async (s, sock) => {
        this.discovery.delete(s.id);
        this.sessions.set(s.id, s);
        const gpu = s.placement.deviceMap[0] ?? 0;
        this.sched.add({ id: s.id, vm: s.vm.name, gpu });
        this.usage.open({ sessionId: s.id, vm: s.vm.name, guestPid: s.pid, gpus: s.placement.deviceMap });
        this.ledger.open(s.id, s.vm.name);
        const msg = {
          type: 'session' as const,
          sessionId: s.id,
          vm: s.vm.name,
          deviceMap: s.placement.deviceMap,
          memoryQuota: s.vm.memoryQuota,
          imageDir: this.images.dir,
          imageLimits: this.imageLimits(),
          scheduled: true,
          vmUsed: this.ledger.vmUsed(s.vm.name),
          stagingShare: this.restage(),
          minor: s.minor,
          compression: s.compression === true,
          copyLane: this.opts.copyLane ?? true,
          shmPath: s.vm.shmPath,
          guest: { pid: s.pid, hostname: s.hostname, program: s.program, byToken: s.byToken, startedAt: s.startedAt.toISOString() },
        };
        const exec = await this.handoffs.run(async () => {
          // A guest that left while waiting for its turn needs no executor (the refill it deferred
          // may be due now).
          if (sock.destroyed) {
            this.pool.refill();
            throw new Error('the guest closed its connection before the handoff');
          }
          return this.pool.attach(
            msg,
            sock,
            (m) => this.guarded(s, `executor request ${m.type}`, () => this.onExecutorMessage(s, m)),
            (end) => this.guarded(s, 'executor exit', () => this.executorEnded(s, end)),
            // Before the executor has the session: its first 'want' is answered through this map.
            (handle) => {
              s.executorPid = handle.pid;
              this.executors.set(s.id, handle);
            },
          );
        });
        s.state = 'attached';
        s.log.info({ executorPid: s.executorPid, gpus: s.placement.deviceMap }, 'session attached to executor');
        // Revoked while its executor was being readied: it ends now that it can be told why.
        if (s.revoked !== undefined) void this.killSession(s.id, s.revoked);
        // A session that attaches during the drain gets what is left of the grace time.
        else if (this.draining) exec.send({ type: 'shutdown', ...this.graceLeft() });
      },
      onEnd: (s) => {
        this.sessions.delete(s.id);
        this.restage();
        this.discovery.delete(s.id);
        this.draining?.check();
        // An attach that failed before an executor took the session: undo its bookkeeping.
        if (!this.executors.has(s.id)) {
          this.sched.remove(s.id);
          this.usage.close(s.id);
          this.ledger.drop(s.id);
        }
      },
    });
  }

  /** A session's executor exited (or, adopted, closed its control connection): the session is
   * over and whatever it held is free. */
  private executorEnded(s: GuestSession, end: ExecutorEnd): void {
    s.state = 'ended';
    this.sessions.delete(s.id);
    this.restage();
    this.sched.remove(s.id);
    this.watchdog.released(s.id);
    this.executors.delete(s.id);
    this.ledger.drop(s.id);
    for (const vm of this.ipcExports.dropSession(s.id)) this.ledger.publish(vm);
    this.usage.close(s.id);
    const level = end.code === 0 || (end.code === null && end.signal === null && end.ended) ? 'info' : 'warn';
    s.log[level]({ executorPid: s.executorPid, code: end.code, signal: end.signal }, 'executor exited');
    this.draining?.check();
  }

  /**
   * An executor of a previous mediator reconnected with its session (docs/executors.md, Adoption).
   * Its report is checked against the store and this host (sessions.ts); a session that cannot
   * be taken over is ended, its guest told why. Otherwise the session joins the registry, the
   * ledger (its reservation and what it holds), the usage meter (what the old mediator was told)
   * and the scheduler, where it asks for its GPU again if it has work; quota it asked for and was
   * never answered is decided now.
   */
  private adopt(m: AdoptMessage, link: ControlLink<FromExecutor>): void {
    const log = this.opts.log.child({ executorPid: m.pid, session: m.sessionId, vm: m.vm });
    let verdict: AdoptVerdict;
    try {
      verdict = this.registry.checkAdopt(m, {
        findVm: (name) => this.store.findVm(name) ?? undefined,
        backend: this.backend.kind,
        ordinals: new Set(this.backend.devices.map((d) => d.ordinal)),
        lastSessionId: this.store.lastSessionId(),
      });
    } catch (e) {
      verdict = { ok: false, reason: `the host could not check it: ${(e as Error).message}` };
    }
    if (!verdict.ok) {
      log.warn({ reason: verdict.reason }, 'executor not adopted; its session ends');
      link.send({ type: 'kill', reason: `the restarted host could not take the session over: ${verdict.reason}` });
      // It has the linger to tell its guest; then the connection goes, whoever is at its end.
      setTimeout(() => link.close(), KILL_LINGER_MS + KILL_GRACE_MS).unref();
      return;
    }
    const vm = verdict.vm;
    const s = this.registry.adopt(m, vm, placeVm(vm, m.deviceMap.map((o) => this.backend.devices.find((d) => d.ordinal === o)!)), this.opts.log);
    this.ledger.adopt(s.id, vm.name, m.quota.reserved, m.quota.held);
    this.usage.open({ sessionId: s.id, vm: vm.name, guestPid: s.pid, gpus: m.deviceMap });
    this.usage.adopt(s.id, m.usage);
    this.sched.add({ id: s.id, vm: vm.name, gpu: m.deviceMap[0] ?? 0 });
    const handle = this.pool.adopt(m.pid, link,
      (r) => this.guarded(s, `executor request ${r.type}`, () => this.onExecutorMessage(s, r)),
      (end) => this.guarded(s, 'executor exit', () => this.executorEnded(s, end)));
    this.executors.set(s.id, handle);
    s.log.info({ executorPid: m.pid, guestPid: s.pid, gpus: m.deviceMap, reserved: m.quota.reserved, held: m.quota.held, wanting: m.wanting },
      'session adopted from a previous mediator');
    this.ledger.publish(vm.name);
    for (const bytes of m.quota.pending) this.ledger.reserve(s.id, bytes);
    if (m.wanting) this.sched.want(s.id);
    if (this.draining) handle.send({ type: 'shutdown', ...this.graceLeft() });
    if (vm.memoryQuota !== null && m.quota.reserved === null) s.log.warn({ quota: vm.memoryQuota }, 'adopted session had no quota when it attached; its allocations stay unlimited');
  }

  /** Runs one session's handling of an event: a bug there ends that session (its executor is
   * killed, so its guest sees the connection close), never the mediator. */
  private guarded(s: GuestSession, what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      s.log.error({ err: (e as Error).stack ?? String(e), during: what }, 'internal error; ending the session');
      this.executors.get(s.id)?.kill();
    }
  }

  /** Requests from a session's executor (docs/operations.md, Scheduling and quotas), already
   * validated (src/common/executor-ipc.ts). */
  private onExecutorMessage(s: GuestSession, m: SessionRequest): void {
    switch (m.type) {
      case 'reserve':
        return this.ledger.reserve(s.id, m.bytes);
      case 'release':
        return this.ledger.release(s.id, m.bytes);
      case 'usage':
        if (!this.usage.record(s.id, m)) s.log.warn({ final: m.final === true }, 'usage report of a session the meter does not know; dropped');
        return;
      case 'ipc': {
        const q = m.question;
        const value = q.op === 'export' ? this.ipcExports.export(s.vm.name, s.id, q.kind, q.handle, q.bytes) : this.ipcExports.lookup(s.vm.name, s.id, q.kind, q.token);
        if (q.op === 'lookup' && value === null) s.log.info({ kind: q.kind }, 'IPC handle refused: not exported in this VM');
        this.executors.get(s.id)?.send({ type: 'ipcAnswer', req: m.req, value });
        return;
      }
      case 'ipcRevoke':
      case 'ipcClose': {
        const vm = m.type === 'ipcRevoke' ? this.ipcExports.revoke(s.id, m.kind, m.handle) : this.ipcExports.close(s.id, m.token);
        if (vm !== null) this.ledger.publish(vm);
        return;
      }
      case 'used':
        this.usage.setMemory(s.id, m.bytes);
        return this.ledger.setUsed(s.id, m.bytes);
      case 'killing':
        return this.killAcks.get(s.id)?.();
      case 'want':
        return this.sched.want(s.id);
      case 'yield':
        s.log.debug({ usedMs: Math.round(m.usedNs / 1e4) / 100 }, 'GPU slice yielded');
        this.watchdog.released(s.id);
        return this.sched.yield(s.id, m.usedNs, m.again);
    }
  }

  /** The VM's quota as the store has it now (an operator may change it while sessions run); the
   * last known one once it is removed (its sessions are being ended). */
  private currentQuota(vm: string): number | null {
    try {
      return this.store.getVm(vm).memoryQuota;
    } catch {
      return [...this.sessions.values()].find((s) => s.vm.name === vm)?.vm.memoryQuota ?? null;
    }
  }

  /** A VM's scheduling settings, read from the store (cached briefly) so changes apply live. */
  private settings(vm: string): { policy: VmPolicy; maxHoldMs: number | null } {
    const now = Date.now();
    const hit = this.policies.get(vm);
    if (hit && now - hit.at < POLICY_TTL_MS) return hit;
    let policy: VmPolicy = hit?.policy ?? { priority: 'medium', weight: 100 };
    let maxHoldMs = hit?.maxHoldMs ?? null;
    try {
      const v = this.store.getVm(vm);
      policy = { priority: v.priority, weight: v.weight };
      maxHoldMs = v.maxHoldMs;
    } catch {
      /* removed while running: keep the last known settings */
    }
    const entry = { at: now, policy, maxHoldMs };
    this.policies.set(vm, entry);
    return entry;
  }

  private policy(vm: string): VmPolicy {
    return this.settings(vm).policy;
  }

  /** How long one call of the session may hold its GPU while others wait (ms; 0: no limit). */
  private holdLimit(id: number): number {
    const s = this.sessions.get(id);
    if (!s) return 0;
    return this.settings(s.vm.name).maxHoldMs ?? this.defaultMaxHoldMs;
  }

  /** Changes the hold limit of VMs that set none (SIGHUP with a changed `max-hold`): it applies the
   * next time a session is asked to yield its GPU, as a VM's own change does. */
  setDefaultMaxHold(ms: number): void {
    this.defaultMaxHoldMs = ms;
  }

  /** The watchdog found the session holding its GPU in one call past its limit while others
   * waited (src/mediator/watchdog.ts): it is ended as an operator would end it, and audited. */
  private endHog(id: number, heldMs: number, limitMs: number): void {
    const s = this.sessions.get(id);
    if (!s || !this.executors.has(id) || this.killAcks.has(id)) return;
    const why = `session ended by the GPU watchdog: one call held the GPU for ${formatDuration(heldMs)} while other sessions waited (limit ${formatDuration(limitMs)}, max-hold)`;
    const waiting = this.sched.waitingOn(s.placement.deviceMap[0] ?? -1);
    s.log.warn({ heldMs, limitMs, waiting, reason: why }, 'session ended by the watchdog');
    try {
      this.store.audit({ action: 'session.watchdog', target: s.vm.name, details: { session: id, guestPid: s.pid, heldMs, limitMs, waiting, reason: why } });
    } catch (e) {
      s.log.error({ err: (e as Error).message }, 'could not audit the watchdog ending a session');
    }
    void this.endSession(id, why);
  }

  // ---- placement (src/mediator/placement.ts) ---------------------------------------------------

  /** The VM's vGPUs on the least loaded GPUs of its pool that have room; no devices (and the
   * reason, which the guest logs) when there are none. */
  private place(vm: Vm): Placement {
    // The VM as the store has it now: an operator may have changed its pool or vGPUs.
    let cur = vm;
    try {
      cur = this.store.getVm(vm.name);
    } catch {
      /* removed since authentication: place by what was read then */
    }
    const r = choosePlacement({
      vm: cur,
      pools: this.store.listPools(),
      devices: this.backend.devices,
      load: (ordinal) => this.gpuLoad(ordinal, cur.name),
    });
    if (!r.ok) {
      this.opts.log.warn({ vm: cur.name, reason: r.reason }, 'admission refused');
      return { deviceMap: [], devices: [], refused: r.reason };
    }
    const chosen = r.ordinals.map((o) => this.backend.devices.find((d) => d.ordinal === o)!);
    return placeVm(cur, chosen);
  }

  private gpuLoad(ordinal: number, vm: string): GpuLoad {
    const { sessions, busyNs } = this.usage.gpuLoad(ordinal);
    let committed = 0;
    let hasVm = false;
    const seen = new Set<string>();
    for (const s of this.usage.allSessions()) {
      if (!s.gpus.includes(ordinal)) continue;
      if (s.vm === vm) {
        hasVm = true;
        continue;
      }
      if (seen.has(s.vm)) continue;
      seen.add(s.vm);
      let quota: number | null = null;
      try {
        quota = this.store.getVm(s.vm).memoryQuota;
      } catch {
        /* removed: count what it holds */
      }
      committed += quota ?? this.vmMemoryUsed(s.vm);
    }
    return { sessions, busyNs, committed, hasVm };
  }

  // ---- usage -----------------------------------------------------------------------------------

  /** Writes the usage the store has not seen yet (every few seconds, and before reads). */
  flushUsage(): void {
    for (const d of this.usage.drain()) {
      try {
        this.store.addUsage(d.vm, {
          deviceTimeNs: Math.round(d.deviceTimeNs), bytesHtoD: d.bytesHtoD, bytesDtoH: d.bytesDtoH, calls: d.calls, memoryNow: d.memoryNow,
        });
      } catch (e) {
        if ((e as { code?: string }).code === 'VGPU_ERR_VM_NOT_FOUND') continue; // removed: nothing to account to
        if ((e as { code?: string }).code === 'VGPU_ERR_STORE_BUSY') {
          this.usage.restore(d); // next time
          continue;
        }
        this.opts.log.error({ vm: d.vm, err: (e as Error).message }, 'could not record usage');
      }
    }
  }

  // ---- live control for the admin API (src/admin/ops.ts) --------------------------------------

  sessionViews(): SessionView[] {
    const out: SessionView[] = [];
    for (const s of this.sessions.values()) {
      const u = this.usage.session(s.id);
      out.push({
        id: s.id,
        vm: s.vm.name,
        guestPid: s.pid,
        hostname: s.hostname,
        program: s.program,
        state: s.state,
        startedAt: s.startedAt.toISOString(),
        executorPid: s.executorPid ?? null,
        gpus: s.placement.deviceMap.map((o) => gpuUuid(this.backend.devices.find((d) => d.ordinal === o)?.uuid ?? '')),
        devices: s.placement.deviceMap.map((o, vgpu) => ({
          vgpu,
          guestUuid: gpuUuid(s.placement.devices[vgpu]?.uuid.toString('hex') ?? ''),
          gpu: gpuUuid(this.backend.devices.find((d) => d.ordinal === o)?.uuid ?? ''),
          gpuOrdinal: o,
        })),
        memoryUsed: u?.memoryUsed ?? 0,
        calls: u?.totals.calls ?? 0,
        deviceTimeNs: u?.totals.busyNs ?? 0,
        bytesIn: u?.totals.bytesIn ?? 0,
        bytesOut: u?.totals.bytesOut ?? 0,
      });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** An operator ends a session (endSession). */
  async killSession(id: number, reason: string): Promise<boolean> {
    const s = this.sessions.get(id);
    if (!s || !this.executors.has(id)) return false;
    s.log.warn({ reason }, 'session ended by an operator');
    await this.endSession(id, operatorEnded(reason));
    return true;
  }

  /** Ends a session: its executor abandons the work it is running, stops serving it (freeing
   * what it held) and sends the guest VG_WIRE_STATUS_KILLED with `why` (VG_WIRE_STATUS_SHUTDOWN
   * when the host's shutdown ends it), so the guest's next call fails and its log says why.
   * Resolves once that answer is on its way, when the GPU is free for the others; the executor
   * exits when the guest closes its end, or after a linger, and is killed if it does neither. */
  private async endSession(id: number, why: string, shutdown = false): Promise<void> {
    const s = this.sessions.get(id);
    const exec = this.executors.get(id);
    if (!s || !exec || this.killAcks.has(id)) return; // already being ended
    const acked = new Promise<void>((resolve) => this.killAcks.set(id, resolve));
    exec.send({ type: 'kill', reason: why, ...(shutdown && { shutdown: true as const }) });
    // Inside a long kernel the executor reads no message until the kernel is over.
    exec.abandon();
    const unanswered = setTimeout(() => exec.kill(), KILL_GRACE_MS);
    await Promise.race([acked, exec.exited]);
    clearTimeout(unanswered);
    s.state = 'ended';
    this.killAcks.delete(id);
    // It runs nothing more: the GPU is the others' now, not once its guest has read why.
    this.sched.remove(id);
    this.watchdog.released(id);
    const lingering = setTimeout(() => exec.kill(), KILL_LINGER_MS + KILL_GRACE_MS);
    lingering.unref();
    void exec.exited.then(() => clearTimeout(lingering));
  }

  async endVmSessions(vm: string, reason: string): Promise<number> {
    return this.revoke(vm, reason, () => true);
  }

  async endTokenSessions(vm: string, reason: string): Promise<number> {
    return this.revoke(vm, reason, (s) => s.byToken);
  }

  /** Ends the sessions of `vm` that `which` selects, whatever their state: discovery ones are
   * closed with VG_WIRE_STATUS_KILLED, attached ones ended as an operator's kill ends them
   * (killSession: a kernel still running is abandoned), and attaching ones the same way as soon
   * as their executor has them. Returns how many had attached or were attaching. */
  private async revoke(vm: string, reason: string, which: (s: GuestSession) => boolean): Promise<number> {
    let closed = 0;
    for (const { s, link } of [...this.discovery.values()]) {
      if (s.vm.name !== vm || !which(s)) continue;
      link.end(WireStatus.KILLED, operatorEnded(reason));
      closed++;
    }
    const attaching = [...this.sessions.values()].filter((s) => s.vm.name === vm && which(s) && !this.executors.has(s.id));
    for (const s of attaching) s.revoked = reason;
    const ids = [...this.sessions.values()].filter((s) => s.vm.name === vm && which(s) && this.executors.has(s.id)).map((s) => s.id);
    const done = await Promise.all(ids.map((id) => this.killSession(id, reason)));
    if (closed > 0) this.opts.log.info({ vm, reason, connections: closed }, 'connections not yet attached closed');
    return done.filter(Boolean).length + attaching.length;
  }

  gpus(): Map<string, { ordinal: number; sessions: number }> {
    return new Map(this.backend.devices.map((d) => [gpuUuid(d.uuid), { ordinal: d.ordinal, sessions: this.usage.gpuLoad(d.ordinal).sessions }]));
  }

  /** Memory, utilization and board values of each GPU (src/mediator/gpu-telemetry.ts). */
  telemetry(): GpuTelemetry[] {
    if (!this.backend) return [];
    return gpuTelemetry({
      backend: this.backend.kind,
      devices: this.backend.devices,
      sessions: this.usage.allSessions(),
      busyNs: (gpu) => this.usage.gpuLoad(gpu).busyNs,
      vmPercent: (vm, gpu) => this.usage.utilization(vm, gpu).gpuPercent,
      windowMs: this.usage.windowMs,
      nvml: this.hostNvml ? (gpu) => this.hostNvml?.reading(gpu) : undefined,
    });
  }

  /** Applied at once: the scheduler's next decision uses the new policy, the next allocation
   * the new quota (read from the store each time). */
  vmChanged(name: string): void {
    this.policies.delete(name);
    const running = [...this.sessions.values()].filter((s) => s.vm.name === name).length;
    if (running === 0) return;
    const vm = this.store.findVm(name);
    if (!vm) return;
    const policy = this.policy(name);
    this.opts.log.info({ vm: name, ...policy, memoryQuota: vm.memoryQuota, maxHoldMs: vm.maxHoldMs, sessions: running }, 'VM settings changed; applied to its running sessions');
  }

  // ---- metrics (src/admin/metrics.ts) -----------------------------------------------------------

  private countReservation(id: number, granted: boolean): void {
    const vm = this.sessions.get(id)?.vm.name;
    if (vm !== undefined) this.stats.quotaReservation(vm, granted);
  }

  sessionCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const s of this.usage.allSessions()) m.set(s.vm, (m.get(s.vm) ?? 0) + 1);
    return m;
  }

  /** Device memory a VM holds: its sessions', and what IPC keeps open after its exporter let go
   * (docs/ipc.md). */
  private vmMemoryUsed(vm: string): number {
    return this.usage.vmMemory(vm) + this.ipcExports.charged(vm);
  }

  vmMemory(): Array<{ vm: string; used: number; quota: number | null }> {
    return this.store.listVms().map((v) => ({ vm: v.name, used: this.vmMemoryUsed(v.name), quota: v.memoryQuota }));
  }

  usageTotals(): Map<string, UsageTotals> {
    return this.usage.totals();
  }

  imageStore(): ImageStoreUsage {
    return this.images.usage();
  }

  /** The staging share each attached session has, told to every executor when it changed. */
  private stagingShareNow = -1;

  /** Divides the host's staging bound among the sessions attaching or attached (staging.ts);
   * returns the share. A smaller share reaches the executors that held a larger one within a
   * message; until then they may hold up to their previous share. */
  private restage(): number {
    const share = stagingShare(this.opts.staging ?? DEFAULT_STAGING, this.sessions.size);
    if (share !== this.stagingShareNow) {
      this.stagingShareNow = share;
      for (const exec of this.executors.values()) exec.send({ type: 'staging', bytes: share });
    }
    return share;
  }

  imageLimits(): ImageLimits {
    return this.opts.imageLimits ?? DEFAULT_IMAGE_LIMITS;
  }

  gpuQueues(): Array<{ index: number; waiting: number; held: boolean }> {
    return (this.backend?.devices ?? []).map((d) => ({
      index: d.ordinal,
      waiting: this.sched.waitingOn(d.ordinal).length,
      held: this.sched.holderOf(d.ordinal) !== null,
    }));
  }


  schedulerStats(): ReadonlyMap<string, Readonly<VmSchedStats>> {
    return this.sched.stats;
  }

  // ---- live state for the dashboard (GET /v1/live, /v1/events, /v1/gpus/history) -------------

  /** The telemetry (src/mediator/gpu-telemetry.ts) with the scheduler's holder and queue. */
  liveGpus(): LiveGpu[] {
    return this.telemetry().map((t) => ({
      uuid: t.uuid,
      ordinal: t.index,
      name: t.name,
      memoryTotal: t.memory.total,
      memoryUsed: t.memory.used,
      utilization: t.utilization.gpuPercent,
      temperatureC: t.temperatureC ?? null,
      powerW: t.powerW ?? null,
      holder: this.sched.holderOf(t.index),
      waiting: this.sched.waitingOn(t.index),
    }));
  }

  liveVms(): LiveVm[] {
    const totals = this.usage.totals();
    const stats = this.sched.stats;
    const names = new Set([...totals.keys(), ...stats.keys(), ...this.sessionCounts().keys()]);
    const counts = this.sessionCounts();
    return [...names].sort().map((vm) => {
      const t = totals.get(vm);
      const st = stats.get(vm);
      return {
        vm,
        sessions: counts.get(vm) ?? 0,
        memoryUsed: this.vmMemoryUsed(vm),
        deviceTimeNs: Math.round(t?.busyNs ?? 0),
        calls: t?.calls ?? 0,
        grants: { alone: st?.grants.alone ?? 0, policy: st?.grants.policy ?? 0, starvation: st?.grants.starvation ?? 0 },
        preemptions: st?.preemptions ?? 0,
        contendedDeviceTimeNs: Math.round(st?.contendedNs ?? 0),
      };
    });
  }

  gpuHistory(): GpuSample[] {
    return this.history.list();
  }

  executorCounts(): { running: number; spare: number; zygote: boolean } {
    return { running: this.pool?.running ?? 0, spare: this.pool?.spare ?? 0, zygote: this.pool?.zygotePid !== undefined };
  }

  // ---- shutdown (docs/operations.md, "Stopping the mediator") -----------------------------------

  /** What the grace time has left, as a shutdown notice carries it. */
  private graceLeft(): { graceMs: number; message: string } {
    const d = this.draining;
    return { graceMs: d ? Math.max(0, d.until - Date.now()) : 0, message: d?.message ?? DRAINING };
  }

  /**
   * Starts draining: new sessions are refused with VG_WIRE_STATUS_SHUTDOWN, every guest is told
   * it has `graceMs` to finish (a SHUTDOWN notice; guests before protocol minor 3 are not told),
   * and sessions that are attached, or attach meanwhile, keep being served. Resolves with why it
   * ended: the last attached session ended, or the grace time is over. Discovery-only sessions
   * (no executor) do not hold it up.
   */
  drain(graceMs: number, why: string): Promise<'sessions ended' | 'grace time over'> {
    return new Promise((resolve) => {
      const over = (how: 'sessions ended' | 'grace time over'): void => {
        clearTimeout(timer);
        if (this.draining) this.draining.check = () => {};
        resolve(how);
      };
      const timer = setTimeout(() => over('grace time over'), graceMs);
      const check = (): void => {
        if (this.sessions.size === 0) over('sessions ended');
      };
      this.draining = { until: Date.now() + graceMs, message: why, check };
      this.opts.log.info({ why, graceS: graceMs / 1000, sessions: this.sessions.size, discovery: this.discovery.size },
        'shutting down: new sessions are refused, running ones may finish');
      const notice = this.graceLeft();
      for (const exec of this.executors.values()) exec.send({ type: 'shutdown', ...notice });
      for (const d of this.discovery.values()) if (d.s.minor >= NOTICE_MINOR) d.link.send(shutdownNotice(notice));
      check();
    });
  }

  /** Ends every session left the way an operator's kill does (endSession: a kernel still running
   * is abandoned), telling its guest VG_WIRE_STATUS_SHUTDOWN and `reason`; resolves once each
   * guest has been sent that (or its executor is gone, or was killed for not answering). */
  private async endSessions(reason: string): Promise<void> {
    const ids = [...this.executors.keys()];
    for (const d of this.discovery.values()) d.link.end(WireStatus.SHUTDOWN, reason);
    if (ids.length > 0) this.opts.log.info({ sessions: ids.length, reason }, 'ending the sessions left');
    await Promise.all(ids.map((id) => this.endSession(id, reason, true)));
  }

  /**
   * Stops the mediator. Sessions left are ended (`reason` is what their guests are told), unless
   * `leaveSessions` (SIGUSR2, for an upgrade): then their executors go on serving and wait for
   * the next mediator on this state directory to adopt them (docs/executors.md).
   */
  async stop(reason = DRAINING, leaveSessions = false): Promise<void> {
    if (leaveSessions) {
      for (const d of this.discovery.values()) d.link.end(WireStatus.SHUTDOWN, reason);
      this.opts.log.info({ sessions: this.executors.size }, 'leaving the sessions running for the next mediator');
    } else {
      await this.endSessions(reason);
    }
    if (this.admin) {
      const { removeAdminInfo } = await import('../admin/files.js');
      removeAdminInfo(this.opts.stateDir, this.owner());
      await this.admin.app.close().catch(() => {});
    }
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.history.stop();
    removeListenFile(this.opts.stateDir, process.pid);
    for (const { server } of this.servers) server.close();
    await this.pool?.close(leaveSessions);
    if (this.store) this.flushUsage();
    for (const { addr } of this.servers) {
      const file = socketFile(addr);
      if (file !== undefined && existsSync(file)) {
        try {
          unlinkSync(file);
        } catch {
          /* already gone */
        }
      }
    }
    this.store?.close();
    this.apiStore?.close();
    this.hostNvml?.close();
    this.lock?.release();
    this.opts.log.info({}, 'mediator stopped');
  }
}
