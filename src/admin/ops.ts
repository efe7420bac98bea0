// Every control-plane operation, once. `AdminOps` is what vgpu-admin's commands call; it has two
// implementations: StoreOps, which works on the store (and, inside the mediator, on the live
// sessions through LiveControl), and HttpOps (src/admin/http-ops.ts), which asks a running
// mediator's admin API, whose handlers are StoreOps. So a command does the same thing whether a
// mediator runs or not; only live state (sessions) needs one.

import { VgpuError } from '../common/errors.js';
import type { ImageStore } from '../common/image-store.js';
import { DEFAULT_POOL, type AddPoolInput, type AddVmInput, type AuditEntry, type PoolPatch, type Store, type Vm, type VmPatch } from '../store/index.js';
import { addPoolSchema, poolPatchSchema, validate } from '../store/validate.js';
import type { GpuTelemetry } from '../mediator/gpu-telemetry.js';
import { gpuTelemetrySchema, operatorView, vmView, type OperatorTokenView, type OperatorView, type GpuView, type PoolView, type SessionView, type UsageView, type VmDetail, type VmTokenView, type VmView } from './schemas.js';
import { parseSince } from './since.js';

export interface UsageQuery {
  vm?: string | undefined;
  /** ISO time or a duration back from now (src/admin/since.ts). */
  since?: string | undefined;
}

export interface AuditQueryInput {
  target?: string | undefined;
  limit?: number | undefined;
}

export interface AdminOps {
  /** Where the operations go, for messages: "mediator at http://..." or "store /path/vgpu_config.db". */
  readonly where: string;
  /** Whether a running mediator answers (so sessions and GPU presence are known). */
  readonly live: boolean;
  listVms(): Promise<VmView[]>;
  getVm(name: string): Promise<VmDetail>;
  addVm(input: AddVmInput): Promise<VmTokenView>;
  setVm(name: string, patch: VmPatch): Promise<{ before: VmView; after: VmView }>;
  removeVm(name: string): Promise<{ vm: VmView; sessionsEnded: number }>;
  rotateToken(name: string): Promise<VmTokenView>;
  listPools(): Promise<PoolView[]>;
  addPool(input: AddPoolInput): Promise<PoolView>;
  setPool(name: string, patch: PoolPatch): Promise<PoolView>;
  removePool(name: string): Promise<PoolView>;
  listGpus(): Promise<GpuView[]>;
  listSessions(): Promise<SessionView[]>;
  killSession(id: number, reason?: string): Promise<SessionView>;
  usage(q: UsageQuery): Promise<UsageView[]>;
  audit(q: AuditQueryInput): Promise<AuditEntry[]>;
  listOperators(): Promise<OperatorView[]>;
  addOperator(name: string): Promise<OperatorTokenView>;
  removeOperator(name: string): Promise<OperatorView>;
  rotateOperatorToken(name: string): Promise<OperatorTokenView>;
  close(): void;
}

/** What only a running mediator knows and can do. */
export interface LiveControl {
  sessionViews(): SessionView[];
  /** Ends a session (its guest gets VG_WIRE_STATUS_KILLED); false if there is no such session. */
  killSession(id: number, reason: string): Promise<boolean>;
  /** Ends every session of a VM, attached or not; returns how many had attached. */
  endVmSessions(vm: string, reason: string): Promise<number>;
  /** Ends every session a VM's token admitted, attached or not (its token was replaced); returns
   * how many had attached. */
  endTokenSessions(vm: string, reason: string): Promise<number>;
  /** GPUs the mediator has now, by UUID. */
  gpus(): Map<string, { ordinal: number; sessions: number }>;
  /** Memory, utilization and board values of the GPUs it has (src/mediator/gpu-telemetry.ts). */
  telemetry(): GpuTelemetry[];
  /** A VM's settings changed: drop anything cached about it. */
  vmChanged(name: string): void;
  /** Writes unflushed usage to the store, so that reads are current. */
  flushUsage(): void;
}

export class StoreOps implements AdminOps {
  readonly where: string;
  readonly live: boolean;

  constructor(
    private readonly store: Store,
    private readonly control?: LiveControl,
    /** The state directory's module image store: a VM's images count in its details and go with it. */
    private readonly images?: ImageStore,
  ) {
    this.where = control ? 'the mediator' : `store ${store.file}`;
    this.live = control !== undefined;
  }

  private needLive(what: string): LiveControl {
    if (this.control) return this.control;
    throw new VgpuError('VGPU_ERR_NO_MEDIATOR', {
      detail: `${what} needs a running mediator, and none was found for this state directory`,
    });
  }

  async listVms(): Promise<VmView[]> {
    return this.store.listVms().map(vmView);
  }

  async getVm(name: string): Promise<VmDetail> {
    this.control?.flushUsage();
    const vm = this.store.getVm(name);
    return { ...vmView(vm), usage: this.store.usageOf(name), imageStoreBytes: this.images?.vmBytes(vm.name) ?? 0 };
  }

  async addVm(input: AddVmInput): Promise<VmTokenView> {
    const { vm, token } = this.store.addVm(input);
    return { vm: vmView(vm), token };
  }

  async setVm(name: string, patch: VmPatch): Promise<{ before: VmView; after: VmView }> {
    const before = vmView(this.store.getVm(name));
    const after = vmView(this.store.setVm(name, patch));
    this.control?.vmChanged(name);
    return { before, after };
  }

  async removeVm(name: string): Promise<{ vm: VmView; sessionsEnded: number }> {
    this.control?.flushUsage();
    const vm = vmView(this.store.removeVm(name));
    // The token no longer admits anyone; sessions already admitted end now rather than run on
    // without a VM to account them to.
    const sessionsEnded = this.control ? await this.control.endVmSessions(name, `VM ${name} was removed by an operator`) : 0;
    // After its sessions: none of them uploads any more.
    this.images?.removeVm(vm.name);
    this.control?.vmChanged(name);
    return { vm, sessionsEnded };
  }

  async rotateToken(name: string): Promise<VmTokenView> {
    const { vm, token } = this.store.rotateToken(name);
    // A token is replaced because it may have leaked: whoever it let in is let go too.
    await this.control?.endTokenSessions(name, `the token of VM ${name} was replaced by an operator`);
    return { vm: vmView(vm), token };
  }

  async listPools(): Promise<PoolView[]> {
    const vms = this.store.listVms();
    return this.store.listPools().map((p) => ({
      name: p.name,
      gpuUuids: p.gpuUuids,
      vms: vms.filter((v) => v.pool === p.name).length,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
    }));
  }

  private poolView(name: string, pools: PoolView[]): PoolView {
    const p = pools.find((x) => x.name === name);
    if (!p) throw new VgpuError('VGPU_ERR_POOL_NOT_FOUND', { name, known: pools.map((x) => x.name).join(', ') });
    return p;
  }

  /** Pools may only name GPUs this host has seen (a typo would otherwise make an empty pool). */
  private checkKnownGpus(uuids: readonly string[] | undefined): void {
    if (!uuids || uuids.length === 0) return;
    const known = new Set(this.store.listGpus().map((g) => g.uuid.toLowerCase()));
    for (const u of uuids) {
      if (typeof u === 'string' && !known.has(u.toLowerCase())) throw new VgpuError('VGPU_ERR_GPU_NOT_FOUND', { uuid: u });
    }
  }

  async addPool(input: AddPoolInput): Promise<PoolView> {
    // Shape first (the store's own schema), then the inventory, then the store's conflict checks.
    this.checkKnownGpus(validate(addPoolSchema, input, 'pool').gpuUuids);
    const p = this.store.addPool(input);
    return this.poolView(p.name, await this.listPools());
  }

  async setPool(name: string, patch: PoolPatch): Promise<PoolView> {
    this.checkKnownGpus(validate(poolPatchSchema, patch, 'pool').gpuUuids);
    const p = this.store.setPool(name, patch);
    return this.poolView(p.name, await this.listPools());
  }

  async removePool(name: string): Promise<PoolView> {
    const before = this.poolView(name, await this.listPools());
    this.store.removePool(name);
    return before;
  }

  async listGpus(): Promise<GpuView[]> {
    const pools = this.store.listPools();
    const live = this.control?.gpus();
    const telemetry = new Map((this.control?.telemetry() ?? []).map((t) => [t.uuid, t]));
    return this.store.listGpus().map((g) => {
      const here = live?.get(g.uuid);
      const t = telemetry.get(g.uuid);
      return {
        uuid: g.uuid,
        name: g.name,
        backend: g.backend,
        totalMemory: g.totalMemory,
        pciBusId: g.pciBusId,
        pool: pools.find((p) => p.gpuUuids.includes(g.uuid))?.name ?? DEFAULT_POOL,
        present: here !== undefined,
        ordinal: here?.ordinal ?? null,
        sessions: here?.sessions ?? 0,
        firstSeen: g.firstSeen,
        lastSeen: g.lastSeen,
        // The schema keeps the telemetry's own fields (the GPU's identity is above already).
        telemetry: t ? gpuTelemetrySchema.parse(t) : null,
      };
    });
  }

  async listSessions(): Promise<SessionView[]> {
    return this.needLive('listing sessions').sessionViews();
  }

  async killSession(id: number, reason?: string): Promise<SessionView> {
    const live = this.needLive('ending a session');
    const s = live.sessionViews().find((x) => x.id === id);
    if (!s || !(await live.killSession(id, reason ?? 'ended by an operator'))) {
      throw new VgpuError('VGPU_ERR_SESSION_NOT_FOUND', { id });
    }
    this.store.audit({ action: 'session.kill', target: s.vm, details: { session: id, guestPid: s.guestPid, reason: reason ?? '' } });
    return s;
  }

  async usage(q: UsageQuery): Promise<UsageView[]> {
    const since = q.since === undefined ? undefined : parseSince(q.since);
    this.control?.flushUsage();
    const names = q.vm !== undefined ? [this.store.getVm(q.vm).name] : this.store.listVms().map((v) => v.name);
    return names.map((n) => this.store.usageOf(n, since));
  }

  async audit(q: AuditQueryInput): Promise<AuditEntry[]> {
    return this.store.listAudit({
      ...(q.target !== undefined && { target: q.target }),
      limit: Math.max(1, q.limit ?? 50),
    });
  }

  async listOperators(): Promise<OperatorView[]> {
    return this.store.listOperators().map(operatorView);
  }

  async addOperator(name: string): Promise<OperatorTokenView> {
    const { operator, token } = this.store.addOperator(name);
    return { operator: operatorView(operator), token };
  }

  async removeOperator(name: string): Promise<OperatorView> {
    return operatorView(this.store.removeOperator(name));
  }

  async rotateOperatorToken(name: string): Promise<OperatorTokenView> {
    const { operator, token } = this.store.rotateOperatorToken(name);
    return { operator: operatorView(operator), token };
  }

  close(): void {
    this.store.close();
  }
}
