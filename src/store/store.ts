// The configuration store: one SQLite database per host, shared by the mediator and the CLI.
// Every method validates its input, runs in one IMMEDIATE transaction (so readers see a change
// whole or not at all, and two writers never interleave) and audits what it changed.
// Methods are synchronous: better-sqlite3 is, and each call is a few small statements.

import type { Database } from 'better-sqlite3';
import { z } from 'zod';
import { InternalError, VgpuError } from '../common/errors.js';
import { AuditLog, type AuditEntry, type AuditInput, type AuditQuery } from './audit.js';
import { openDatabase, storeError } from './open.js';
import { DEFAULT_POOL, PoolTable, type Pool } from './pools.js';
import { hashToken, looksLikeOperatorToken, looksLikeToken, matchTokenHash, newToken, OPERATOR_TOKEN_PREFIX } from './tokens.js';
import { ADMIN_OPERATOR, OperatorTable, type Operator } from './operators.js';
import { UsageTable, type Gpu, type UsageBucket, type UsageDelta, type VmUsage, type VmUsagePeriod } from './usage.js';
import {
  addPoolSchema,
  addVmSchema,
  poolPatchSchema,
  checkName,
  normalisePciBusId,
  normaliseCertSha256,
  normaliseShmPath,
  normaliseVsockPath,
  toMaxHoldMs,
  toMemoryQuota,
  validate,
  vmPatchSchema,
  VM_ADD_DEFAULTS,
  type AddPoolInput,
  type AddVmInput,
  type PoolPatch,
  type VmPatch,
} from './validate.js';
import { VmTable, type Vm, type VmValues } from './vms.js';

export interface StoreOptions {
  /** Who makes the changes, recorded in the audit log ("cli:alice", "mediator", "api:token-3"). */
  actor?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface OperatorWithToken {
  operator: Operator;
  /** Shown once, like a VM's. */
  token: string;
}

export interface VmWithToken {
  vm: Vm;
  /** The only time the token exists outside the guest: show it once, then forget it. */
  token: string;
}

const counter = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const usageDeltaSchema = z.strictObject({
  deviceTimeNs: counter.optional(),
  bytesHtoD: counter.optional(),
  bytesDtoH: counter.optional(),
  calls: counter.optional(),
  memoryNow: counter.optional(),
});
const gpuSchema = z.strictObject({
  uuid: z.string().regex(/^GPU-[0-9a-f-]{36}$/i),
  name: z.string().min(1).max(256),
  backend: z.enum(['cuda', 'softgpu']),
  totalMemory: counter,
  pciBusId: z.string().nullable(),
});

/** What changed between two VMs, for the audit log. */
function diff(before: Vm, after: Vm): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of ['pool', 'priority', 'weight', 'memoryQuota', 'vgpus', 'pciBusId', 'notes', 'maxHoldMs', 'vsockCid', 'vsockPath', 'tlsClientCertSha256', 'shmPath'] as const) {
    if (before[k] !== after[k]) out[k] = { from: before[k], to: after[k] };
  }
  return out;
}

function config(vm: Vm): Record<string, unknown> {
  const { pool, priority, weight, memoryQuota, vgpus, pciBusId, notes, maxHoldMs, vsockCid, vsockPath, tlsClientCertSha256, shmPath } = vm;
  return { pool, priority, weight, memoryQuota, vgpus, pciBusId, notes, maxHoldMs, vsockCid, vsockPath, tlsClientCertSha256, shmPath };
}

/** One spelling of GPU UUIDs ("GPU-" then lower-case hex), without duplicates, in order. */
function normaliseUuids(uuids: readonly string[]): string[] {
  return [...new Set(uuids.map((u) => 'GPU-' + u.slice(4).toLowerCase()))];
}

export class Store {
  readonly file: string;
  private readonly db: Database;
  private readonly actor: string;
  private readonly clock: () => Date;
  private readonly vms: VmTable;
  private readonly pools: PoolTable;
  private readonly auditLog: AuditLog;
  private readonly usage: UsageTable;
  private readonly operators: OperatorTable;
  /** False for a view made by as(): closing it leaves the database to its owner. */
  private readonly ownsDb: boolean;

  private constructor(db: Database, file: string, opts: StoreOptions, ownsDb = true) {
    this.db = db;
    this.file = file;
    this.ownsDb = ownsDb;
    this.operators = new OperatorTable(db);
    this.actor = opts.actor ?? 'unknown';
    this.clock = opts.now ?? (() => new Date());
    this.vms = new VmTable(db);
    this.pools = new PoolTable(db);
    this.auditLog = new AuditLog(db);
    this.usage = new UsageTable(db);
  }

  /** Opens (creating and migrating as needed) `<stateDir>/vgpu_config.db`. */
  static open(stateDir: string, opts: StoreOptions = {}): Store {
    const { db, file } = openDatabase(stateDir);
    try {
      return new Store(db, file, opts);
    } catch (e) {
      db.close();
      throw storeError(e, file);
    }
  }

  /** Throws unless the database answers a query (the admin API's /readyz). */
  ping(): void {
    this.db.prepare('SELECT 1').get();
  }

  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }

  /** The same database, its changes audited as `actor` (the admin API's operator of a request).
   * Closing the view leaves the database open. */
  as(actor: string): Store {
    return new Store(this.db, this.file, { actor, now: this.clock }, false);
  }

  private now(): string {
    return this.clock().toISOString();
  }

  private tx<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      throw storeError(e, this.file);
    }
  }

  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(e, this.file);
    }
  }

  private requireVm(name: string): Vm {
    const vm = this.vms.find(checkName(name));
    if (!vm) throw new VgpuError('VGPU_ERR_VM_NOT_FOUND', { name });
    return vm;
  }

  // ---- VMs ------------------------------------------------------------------------------------

  addVm(input: AddVmInput): VmWithToken {
    const v = validate(addVmSchema, input);
    const memoryQuota = toMemoryQuota(v.memoryQuota ?? null);
    const pciBusId = normalisePciBusId(v.pciBusId ?? null);
    const maxHoldMs = toMaxHoldMs(v.maxHoldMs ?? null);
    const vsockPath = normaliseVsockPath(v.vsockPath ?? null);
    const clientCert = normaliseCertSha256(v.tlsClientCertSha256 ?? null);
    const shmPath = normaliseShmPath(v.shmPath ?? null);
    const token = newToken();
    return this.tx(() => {
      const pool = this.pools.require(v.pool ?? DEFAULT_POOL);
      this.requireChannelFree(v.name, { cid: v.vsockCid ?? null, path: vsockPath, clientCert, shmPath });
      const values: VmValues = {
        poolId: pool.id,
        priority: v.priority ?? VM_ADD_DEFAULTS.priority,
        weight: v.weight ?? VM_ADD_DEFAULTS.weight,
        memoryQuota,
        vgpus: v.vgpus ?? VM_ADD_DEFAULTS.vgpus,
        pciBusId,
        notes: v.notes ?? '',
        maxHoldMs,
        vsockCid: v.vsockCid ?? null,
        vsockPath,
        tlsClientCertSha256: clientCert,
        shmPath,
      };
      const now = this.now();
      if (!this.vms.insert(v.name, hashToken(token), values, now)) {
        throw new VgpuError('VGPU_ERR_VM_EXISTS', { name: v.name });
      }
      const vm = this.requireVm(v.name);
      this.auditLog.append({ action: 'vm.create', target: vm.name, details: config(vm) }, this.actor, now);
      return { vm, token };
    });
  }

  /** Creates `name` with defaults if it does not exist (the mediator's default local VM). */
  ensureVm(name: string): Vm {
    checkName(name);
    // The VM gets a token nobody knows: it is reached by token-less local connections until an
    // operator rotates its token.
    const token = newToken();
    return this.tx(() => {
      const found = this.vms.find(name);
      if (found) return found;
      const pool = this.pools.require(DEFAULT_POOL);
      const now = this.now();
      const values: VmValues = {
        poolId: pool.id, priority: VM_ADD_DEFAULTS.priority, weight: VM_ADD_DEFAULTS.weight, memoryQuota: null, vgpus: VM_ADD_DEFAULTS.vgpus, pciBusId: null, notes: '',
        maxHoldMs: null, vsockCid: null, vsockPath: null, tlsClientCertSha256: null, shmPath: null,
      };
      if (!this.vms.insert(name, hashToken(token), values, now)) throw new InternalError(`VM ${name} appeared inside a transaction`);
      const vm = this.requireVm(name);
      this.auditLog.append({ action: 'vm.create', target: name, details: { ...config(vm), ensured: true } }, this.actor, now);
      return vm;
    });
  }

  listVms(): Vm[] {
    return this.read(() => this.vms.list());
  }

  /** The VM, or VGPU_ERR_VM_NOT_FOUND. */
  getVm(name: string): Vm {
    return this.read(() => this.requireVm(name));
  }

  /** The VM, or null. */
  findVm(name: string): Vm | null {
    return this.read(() => this.vms.find(checkName(name)));
  }

  /** Changes the fields present in `patch` (null clears memoryQuota, pciBusId and maxHoldMs). */
  setVm(name: string, patch: VmPatch): Vm {
    checkName(name);
    const p = validate(vmPatchSchema, patch);
    const memoryQuota = p.memoryQuota === undefined ? undefined : toMemoryQuota(p.memoryQuota);
    const pciBusId = p.pciBusId === undefined ? undefined : normalisePciBusId(p.pciBusId);
    const maxHoldMs = p.maxHoldMs === undefined ? undefined : toMaxHoldMs(p.maxHoldMs);
    const vsockPath = p.vsockPath === undefined ? undefined : normaliseVsockPath(p.vsockPath);
    const clientCert = p.tlsClientCertSha256 === undefined ? undefined : normaliseCertSha256(p.tlsClientCertSha256);
    const shmPath = p.shmPath === undefined ? undefined : normaliseShmPath(p.shmPath);
    return this.tx(() => {
      const before = this.requireVm(name);
      this.requireChannelFree(name, { cid: p.vsockCid ?? null, path: vsockPath ?? null, clientCert: clientCert ?? null, shmPath: shmPath ?? null });
      const values: VmValues = {
        poolId: p.pool === undefined ? this.vms.poolId(before.id) : this.pools.require(p.pool).id,
        priority: p.priority ?? before.priority,
        weight: p.weight ?? before.weight,
        memoryQuota: memoryQuota === undefined ? before.memoryQuota : memoryQuota,
        vgpus: p.vgpus ?? before.vgpus,
        pciBusId: pciBusId === undefined ? before.pciBusId : pciBusId,
        notes: p.notes ?? before.notes,
        maxHoldMs: maxHoldMs === undefined ? before.maxHoldMs : maxHoldMs,
        vsockCid: p.vsockCid === undefined ? before.vsockCid : p.vsockCid,
        vsockPath: vsockPath === undefined ? before.vsockPath : vsockPath,
        tlsClientCertSha256: clientCert === undefined ? before.tlsClientCertSha256 : clientCert,
        shmPath: shmPath === undefined ? before.shmPath : shmPath,
      };
      const now = this.now();
      this.vms.update(before.id, values, now);
      const after = this.requireVm(name);
      const changes = diff(before, after);
      if (Object.keys(changes).length > 0) {
        this.auditLog.append({ action: 'vm.update', target: name, details: changes }, this.actor, now);
      }
      return after;
    });
  }

  /** A vsock channel or a client certificate is one VM's: binding it to a second would let
   * either claim the other. */
  private requireChannelFree(name: string, c: { cid: number | null; path: string | null; clientCert: string | null; shmPath: string | null }): void {
    const taken = (channel: string, by: Vm | null): void => {
      if (by && by.name !== name) throw new VgpuError('VGPU_ERR_CHANNEL_IN_USE', { channel, vm: by.name });
    };
    if (c.cid !== null) taken(`vsock CID ${c.cid}`, this.vms.findByVsockCid(c.cid));
    if (c.path !== null) taken(`vsock path ${c.path}`, this.vms.findByVsockPath(c.path));
    if (c.clientCert !== null) taken(`TLS client certificate sha256:${c.clientCert}`, this.vms.findByTlsClientCert(c.clientCert));
    if (c.shmPath !== null) taken(`shared memory file ${c.shmPath}`, this.vms.findByShmPath(c.shmPath));
  }

  /** The VM bound to a guest CID (AF_VSOCK listeners), or null. */
  findVmByVsockCid(cid: number): Vm | null {
    return this.read(() => this.vms.findByVsockCid(cid));
  }

  /** The VM bound to a hybrid vsock path (vsock-uds: listeners), or null. */
  findVmByVsockPath(path: string): Vm | null {
    return this.read(() => this.vms.findByVsockPath(path));
  }

  /** The VM bound to a TLS client certificate (its SHA-256, lower-case hex), or null. */
  findVmByTlsClientCert(sha256: string): Vm | null {
    return this.read(() => this.vms.findByTlsClientCert(sha256));
  }

  /** Removes the VM and its usage totals; returns what it was. */
  removeVm(name: string): Vm {
    checkName(name);
    return this.tx(() => {
      const vm = this.requireVm(name);
      this.vms.delete(vm.id);
      this.auditLog.append({ action: 'vm.delete', target: name, details: config(vm) }, this.actor, this.now());
      return vm;
    });
  }

  /** Gives the VM a new token; the old one stops working at the next handshake. */
  rotateToken(name: string): VmWithToken {
    checkName(name);
    const token = newToken();
    return this.tx(() => {
      const vm = this.requireVm(name);
      const now = this.now();
      this.vms.setTokenHash(vm.id, hashToken(token), now);
      this.auditLog.append({ action: 'vm.token.rotate', target: name, details: {} }, this.actor, now);
      return { vm: this.requireVm(name), token };
    });
  }

  /**
   * The VM holding `token`, or null. Every stored hash is compared, in constant time and without
   * stopping at a match, so the answer's timing says nothing about which hashes are near.
   */
  findVmByToken(token: string): Vm | null {
    if (typeof token !== 'string' || !looksLikeToken(token)) return null;
    return this.read(() => {
      const match = matchTokenHash(this.vms.tokenHashes(), token);
      return match < 0 ? null : this.vms.findById(match);
    });
  }

  // ---- operators (docs/admin-api.md, Operators) -------------------------------------------------

  private requireOperator(name: string): Operator {
    const op = this.operators.find(checkName(name, 'operator'));
    if (!op) throw new VgpuError('VGPU_ERR_OPERATOR_NOT_FOUND', { name });
    return op;
  }

  /** A new operator and its token (shown this once). */
  addOperator(name: string): OperatorWithToken {
    checkName(name, 'operator');
    if (name.toLowerCase() === ADMIN_OPERATOR) throw new VgpuError('VGPU_ERR_OPERATOR_RESERVED', { name });
    const token = newToken(OPERATOR_TOKEN_PREFIX);
    return this.tx(() => {
      if (this.operators.find(name)) throw new VgpuError('VGPU_ERR_OPERATOR_EXISTS', { name });
      const now = this.now();
      this.operators.insert(name, hashToken(token), now);
      this.auditLog.append({ action: 'operator.create', target: name, details: {} }, this.actor, now);
      return { operator: this.requireOperator(name), token };
    });
  }

  listOperators(): Operator[] {
    return this.read(() => this.operators.list());
  }

  /** Removes an operator; its token stops working at its next request. */
  removeOperator(name: string): Operator {
    return this.tx(() => {
      const op = this.requireOperator(name);
      this.operators.delete(op.id);
      this.auditLog.append({ action: 'operator.delete', target: op.name, details: {} }, this.actor, this.now());
      return op;
    });
  }

  rotateOperatorToken(name: string): OperatorWithToken {
    const token = newToken(OPERATOR_TOKEN_PREFIX);
    return this.tx(() => {
      const op = this.requireOperator(name);
      const now = this.now();
      this.operators.setTokenHash(op.id, hashToken(token), now);
      this.auditLog.append({ action: 'operator.token.rotate', target: op.name, details: {} }, this.actor, now);
      return { operator: this.requireOperator(op.name), token };
    });
  }

  /** The operator holding `token`, or null (compared as findVmByToken compares). */
  findOperatorByToken(token: string): Operator | null {
    if (typeof token !== 'string' || !looksLikeOperatorToken(token)) return null;
    return this.read(() => {
      const match = matchTokenHash(this.operators.tokenHashes(), token);
      return match < 0 ? null : this.operators.findById(match);
    });
  }

  // ---- pools and GPUs -------------------------------------------------------------------------

  listPools(): Pool[] {
    return this.read(() => this.pools.list());
  }

  getPool(name: string): Pool {
    return this.read(() => this.pools.require(checkName(name, 'pool')));
  }

  addPool(input: AddPoolInput): Pool {
    const p = validate(addPoolSchema, input, 'pool');
    const uuids = normaliseUuids(p.gpuUuids ?? []);
    return this.tx(() => {
      if (this.pools.find(p.name)) {
        throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'pool', detail: `a pool named "${p.name}" already exists` });
      }
      this.checkGpusFree(uuids, p.name);
      const now = this.now();
      const pool = this.pools.insert(p.name, uuids, now);
      this.auditLog.append({ action: 'pool.create', target: p.name, details: { gpuUuids: uuids } }, this.actor, now);
      return pool;
    });
  }

  /** Replaces the GPUs a pool names. Sessions running keep their GPUs; new ones use the new set. */
  setPool(name: string, patch: PoolPatch): Pool {
    checkName(name, 'pool');
    const p = validate(poolPatchSchema, patch, 'pool');
    const uuids = normaliseUuids(p.gpuUuids);
    return this.tx(() => {
      const before = this.pools.require(name);
      if (name === DEFAULT_POOL) {
        throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'pool', detail: 'the default pool holds every GPU no other pool names; its GPUs cannot be set' });
      }
      this.checkGpusFree(uuids, name);
      const now = this.now();
      this.pools.setGpus(before.id, uuids, now);
      const after = this.pools.require(name);
      if (before.gpuUuids.join() !== after.gpuUuids.join()) {
        this.auditLog.append({ action: 'pool.update', target: name, details: { gpuUuids: { from: before.gpuUuids, to: after.gpuUuids } } }, this.actor, now);
      }
      return after;
    });
  }

  /** Removes a pool no VM uses; returns what it was. */
  removePool(name: string): Pool {
    checkName(name, 'pool');
    return this.tx(() => {
      const pool = this.pools.require(name);
      if (name === DEFAULT_POOL) {
        throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'pool', detail: 'the default pool cannot be removed' });
      }
      const users = this.vms.list().filter((v) => v.pool === name).map((v) => v.name);
      if (users.length > 0) {
        const shown = users.length > 5 ? `${users.slice(0, 5).join(', ')}, ...` : users.join(', ');
        throw new VgpuError('VGPU_ERR_POOL_IN_USE', { name, count: users.length, vms: shown });
      }
      this.pools.delete(pool.id);
      this.auditLog.append({ action: 'pool.delete', target: name, details: { gpuUuids: pool.gpuUuids } }, this.actor, this.now());
      return pool;
    });
  }

  /** A GPU belongs to at most one named pool. */
  private checkGpusFree(uuids: readonly string[], pool: string): void {
    const taken = this.pools.list().filter((x) => x.name !== pool).flatMap((x) => x.gpuUuids.filter((u) => uuids.includes(u)).map((u) => `${u} (pool ${x.name})`));
    if (taken.length > 0) {
      throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'gpuUuids', detail: `already in another pool: ${taken.join(', ')}` });
    }
  }

  /** Records a GPU the mediator found (inventory, not configuration: not audited). */
  recordGpu(gpu: Omit<Gpu, 'firstSeen' | 'lastSeen'>): void {
    const g = validate(gpuSchema, gpu, 'GPU');
    this.tx(() => this.usage.recordGpu(g, this.now()));
  }

  listGpus(): Gpu[] {
    return this.read(() => this.usage.listGpus());
  }

  // ---- usage ----------------------------------------------------------------------------------

  getUsage(name: string): VmUsage {
    return this.read(() => this.usage.usage(this.requireVm(name).id));
  }

  /** The VM's usage since `since` (from the timestamped samples), or its all-time totals. */
  usageOf(name: string, since?: Date): VmUsagePeriod {
    return this.read(() => {
      const vm = this.requireVm(name);
      const u = since === undefined ? this.usage.usage(vm.id) : this.usage.usageSince(vm.id, since.toISOString());
      return { vm: vm.name, since: since?.toISOString() ?? null, ...u };
    });
  }

  /** Usage from `since` to `until` in buckets of `stepS` seconds, of one VM or of all. */
  usageSeries(q: { since: Date; until: Date; stepS: number; vm?: string | undefined }): UsageBucket[] {
    return this.read(() => this.usage.usageSeries({
      since: q.since.toISOString(), until: q.until.toISOString(), stepS: q.stepS, vmId: q.vm === undefined ? null : this.requireVm(q.vm).id,
    }));
  }

  /** Drops usage samples older than `before` (the all-time totals stay). */
  /** Hands out `n` new session ids: the first of them; ids are never handed out twice. */
  takeSessionIds(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new VgpuError('VGPU_ERR_INVALID_ARGUMENT', { field: 'session id count', detail: 'must be from 1 to 1000000' });
    return this.tx(() => {
      const last = this.db.prepare("UPDATE counters SET value = value + ? WHERE name = 'session' RETURNING value").pluck().get(n) as number;
      return last - n + 1;
    });
  }

  /** The highest session id handed out so far (0: none). */
  lastSessionId(): number {
    return this.read(() => this.db.prepare("SELECT value FROM counters WHERE name = 'session'").pluck().get() as number);
  }

  pruneUsageSamples(before: Date): number {
    return this.tx(() => this.usage.pruneSamples(before.toISOString()));
  }

  /** Adds to the VM's totals; `memoryNow` raises the peak if higher. */
  addUsage(name: string, delta: UsageDelta): void {
    const d = validate(usageDeltaSchema, delta, 'usage');
    this.tx(() => {
      const vm = this.requireVm(name);
      this.usage.addUsage(
        vm.id,
        {
          deviceTimeNs: d.deviceTimeNs ?? 0,
          bytesHtoD: d.bytesHtoD ?? 0,
          bytesDtoH: d.bytesDtoH ?? 0,
          calls: d.calls ?? 0,
          memoryNow: d.memoryNow ?? 0,
        },
        this.now(),
      );
    });
  }

  // ---- audit ----------------------------------------------------------------------------------

  /** Records an event that is not a store change (session killed, mediator started, ...). */
  audit(entry: AuditInput): void {
    this.tx(() => this.auditLog.append(entry, this.actor, this.now()));
  }

  listAudit(q: AuditQuery = {}): AuditEntry[] {
    return this.read(() => this.auditLog.list(q));
  }

  /** The id of the newest audit entry (0: none), so a reader can tell that something changed. */
  auditHead(): number {
    return this.read(() => this.auditLog.head());
  }
}
