// The mediator daemon: accepts guest connections on its listeners, authenticates them against the
// store, answers the handshake from the backend's device table, and hands attached sessions to
// executor processes. Lifecycle: start() probes the backend, opens the store and listeners;
// stop() closes listeners, ends executors (their guests see the connection close), removes Unix
// socket files and closes the store.

import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type net from 'node:net';
import type { Logger } from 'pino';

import { Store, type Vm } from '../store/index.js';
import { chooseBackend, type Backend, type BackendChoice } from './backend.js';
import { handleConnection, type GuestSession } from './connection.js';
import { ExecutorPool } from './executors.js';
import { placeVm } from './identity.js';
import { boundAddress, formatListen, listen, type ListenAddr } from './listen.js';
import { Scheduler, type VmPolicy } from '../sched/scheduler.js';

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
  log: Logger;
}

/** How long a VM's priority and weight are cached before the store is read again. */
const POLICY_TTL_MS = 250;
/** Extra quota granted with each reservation, so many small allocations cost one request. */
const QUOTA_SLACK = 64 * 1024 * 1024;

export class Mediator {
  private store!: Store;
  private backend!: Backend;
  private pool!: ExecutorPool;
  private servers: Array<{ server: net.Server; addr: ListenAddr }> = [];
  readonly sessions = new Map<number, GuestSession>();
  private readonly executors = new Map<number, { pid: number; send(m: object): void }>();
  private readonly policies = new Map<string, { at: number; policy: VmPolicy }>();
  readonly sched: Scheduler;
  private nextSession = (Date.now() % 1_000_000) * 1000 + 1;

  constructor(private readonly opts: MediatorOptions) {
    this.sched = new Scheduler({
      quantumMs: opts.quantumMs ?? 20,
      starvationMs: opts.starvationMs ?? 1000,
      policy: (vm) => this.policy(vm),
      grant: (id, contended) => {
        this.sessions.get(id)?.log.debug({ contended }, 'GPU slice granted');
        this.executors.get(id)?.send({ type: 'grant', contended });
      },
      preempt: (id) => {
        this.sessions.get(id)?.log.debug({}, 'GPU slice preempted');
        this.executors.get(id)?.send({ type: 'preempt' });
      },
      contended: (id) => this.executors.get(id)?.send({ type: 'contended' }),
    });
  }

  get addresses(): string[] {
    return this.servers.map((s) => formatListen(boundAddress(s.server, s.addr)));
  }

  get backendKind(): string {
    return this.backend.kind;
  }

  async start(): Promise<void> {
    const log = this.opts.log;
    this.store = Store.open(this.opts.stateDir, { actor: 'mediator' });
    if (this.opts.defaultVm) this.store.ensureVm(this.opts.defaultVm);
    this.backend = await chooseBackend(this.opts.backend, log);
    log.info({
      backend: this.backend.kind,
      driverVersion: this.backend.driverVersion,
      devices: this.backend.devices.map((d) => ({ name: d.name, totalMem: d.totalMem })),
    }, 'backend ready');
    this.pool = new ExecutorPool(this.backend.kind, log, this.opts.spareExecutors ?? 1);
    this.pool.start();
    for (const addr of this.opts.listen) {
      const server = await listen(addr, (s, local) => this.onConnection(s, local));
      this.servers.push({ server, addr });
    }
    log.info({ listen: this.addresses, stateDir: this.opts.stateDir }, 'mediator listening');
  }

  private authenticate(token: string, local: boolean): Vm | undefined {
    if (token === '') {
      if (!local || !this.opts.defaultVm) return undefined;
      try {
        return this.store.getVm(this.opts.defaultVm);
      } catch {
        return undefined; // the operator removed the default VM
      }
    }
    return this.store.findVmByToken(token) ?? undefined;
  }

  private onConnection(socket: net.Socket, local: boolean): void {
    handleConnection(socket, local, {
      log: this.opts.log,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs ?? 10_000,
      authenticate: (t, l) => this.authenticate(t, l),
      place: (vm) => placeVm(vm, this.backend.devices),
      driverVersion: this.backend.driverVersion,
      softgpu: this.backend.kind === 'softgpu',
      newSessionId: () => this.nextSession++,
      attach: async (s, sock) => {
        this.sessions.set(s.id, s);
        const gpu = s.placement.deviceMap[0] ?? 0;
        this.sched.add({ id: s.id, vm: s.vm.name, gpu });
        const exec = await this.pool.attach(
          {
            type: 'session',
            sessionId: s.id,
            vm: s.vm.name,
            deviceMap: s.placement.deviceMap,
            memoryQuota: s.vm.memoryQuota,
            imageDir: join(this.opts.stateDir, 'images'),
            scheduled: true,
            vmUsed: this.vmUsed(s.vm.name),
          },
          sock,
          (m) => this.onExecutorMessage(s, m),
          (end) => {
            s.state = 'ended';
            this.sessions.delete(s.id);
            this.sched.remove(s.id);
            this.executors.delete(s.id);
            this.dropLedger(s);
            const level = end.code === 0 ? 'info' : 'warn';
            s.log[level]({ executorPid: s.executorPid, code: end.code, signal: end.signal }, 'executor exited');
          },
        );
        s.executorPid = exec.pid;
        this.executors.set(s.id, exec);
        s.state = 'attached';
        s.log.info({ executorPid: s.executorPid }, 'session attached to executor');
      },
      onEnd: (s) => {
        this.sessions.delete(s.id);
      },
    });
  }

  /** Requests from a session's executor (docs/operations.md, Scheduling and quotas). */
  private onExecutorMessage(s: GuestSession, m: Record<string, unknown>): void {
    if (m.type === 'reserve' && typeof m.bytes === 'number') this.reserve(s, m.bytes);
    else if (m.type === 'release' && typeof m.bytes === 'number') this.release(s, m.bytes);
    else if (m.type === 'used' && typeof m.bytes === 'number') {
      this.used.set(s.id, m.bytes);
      this.publishUsage(s.vm.name);
    }
    else if (m.type === 'want') this.sched.want(s.id);
    else if (m.type === 'yield' && typeof m.usedNs === 'number') {
      s.log.debug({ usedMs: Math.round(m.usedNs / 1e4) / 100 }, 'GPU slice yielded');
      this.sched.yield(s.id, m.usedNs, m.again === true);
    }
    else s.log.warn({ message: m.type }, 'unexpected message from executor');
  }

  /** Bytes of its VM's quota each session holds; a VM's sessions together never exceed it. */
  private readonly ledger = new Map<string, Map<number, number>>();

  private vmReserved(vm: string): number {
    let sum = 0;
    for (const b of this.ledger.get(vm)?.values() ?? []) sum += b;
    return sum;
  }

  /** Grants `bytes` more (plus some slack, so a run of small allocations costs one request) if
   * the VM stays within its quota; answers 0 otherwise. */
  private reserve(s: GuestSession, bytes: number): void {
    const quota = this.currentQuota(s);
    const held = this.vmReserved(s.vm.name);
    let granted = 0;
    if (quota === null) granted = bytes;
    else if (held + bytes <= quota) granted = Math.min(quota - held, bytes + QUOTA_SLACK);
    if (granted > 0) {
      const l = this.ledger.get(s.vm.name) ?? new Map<number, number>();
      l.set(s.id, (l.get(s.id) ?? 0) + granted);
      this.ledger.set(s.vm.name, l);
    } else {
      s.log.info({ requested: bytes, held, quota }, 'allocation refused: VM memory quota reached');
    }
    this.executors.get(s.id)?.send({ type: 'quota', granted });
    this.publishUsage(s.vm.name);
  }

  private release(s: GuestSession, bytes: number): void {
    const l = this.ledger.get(s.vm.name);
    const cur = l?.get(s.id);
    if (!l || cur === undefined) return;
    l.set(s.id, Math.max(0, cur - bytes));
    this.publishUsage(s.vm.name);
  }

  /** Device memory each session really holds (reservations include some slack). */
  private readonly used = new Map<number, number>();

  /** A session ended: everything it held is free again for its VM. */
  private dropLedger(s: GuestSession): void {
    this.used.delete(s.id);
    this.ledger.get(s.vm.name)?.delete(s.id);
    this.publishUsage(s.vm.name);
  }

  private vmUsed(vm: string): number {
    let bytes = 0;
    for (const [id, sess] of this.sessions) if (sess.vm.name === vm) bytes += this.used.get(id) ?? 0;
    return bytes;
  }

  /** Tells the VM's sessions how much of the quota is in use (what cuMemGetInfo reports). */
  private publishUsage(vm: string): void {
    const bytes = this.vmUsed(vm);
    for (const [id, sess] of this.sessions) {
      if (sess.vm.name === vm) this.executors.get(id)?.send({ type: 'vmUsage', bytes });
    }
  }

  /** The VM's quota as the store has it now (an operator may change it while sessions run). */
  private currentQuota(s: GuestSession): number | null {
    try {
      return this.store.getVm(s.vm.name).memoryQuota;
    } catch {
      return s.vm.memoryQuota;
    }
  }

  /** A VM's scheduling policy, read from the store (cached briefly) so changes apply live. */
  private policy(vm: string): VmPolicy {
    const now = Date.now();
    const hit = this.policies.get(vm);
    if (hit && now - hit.at < POLICY_TTL_MS) return hit.policy;
    let policy: VmPolicy = hit?.policy ?? { priority: 'medium', weight: 100 };
    try {
      const v = this.store.getVm(vm);
      policy = { priority: v.priority, weight: v.weight };
    } catch {
      /* removed while running: keep the last known policy */
    }
    this.policies.set(vm, { at: now, policy });
    return policy;
  }

  async stop(): Promise<void> {
    for (const { server } of this.servers) server.close();
    await this.pool?.close();
    for (const { addr } of this.servers) {
      if (addr.kind === 'unix' && existsSync(addr.path)) {
        try {
          unlinkSync(addr.path);
        } catch {
          /* already gone */
        }
      }
    }
    this.store?.close();
    this.opts.log.info({}, 'mediator stopped');
  }
}
