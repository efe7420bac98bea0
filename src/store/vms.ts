// Rows of the `vms` table and their public shape. No method here validates: the Store checks
// input first and calls these inside its transactions.

import type { Database, Statement } from 'better-sqlite3';
import type { Priority } from './validate.js';

/** A VM as the rest of the host sees it. The token hash never leaves the store. */
export interface Vm {
  id: number;
  name: string;
  pool: string;
  priority: Priority;
  weight: number;
  /** Bytes of GPU memory the VM may hold on each vGPU; null for no quota. */
  memoryQuota: number | null;
  vgpus: number;
  /** PCI bus id the guest sees for its first vGPU ("0000:65:00.0"); null to use the host GPU's. */
  pciBusId: string | null;
  notes: string;
  /** Longest one call may hold a GPU while others wait, in ms; 0 for no limit, null for the
   * mediator's default. */
  maxHoldMs: number | null;
  /** Guest CID whose AF_VSOCK connections are this VM's (no token needed); null for none. */
  vsockCid: number | null;
  /** Hybrid vsock socket path (a vsock-uds: listener's PATH) whose connections are this VM's. */
  vsockPath: string | null;
  /** SHA-256 (64 lower-case hex digits) of the TLS client certificate whose connections are this
   * VM's (no token needed); null for none. */
  tlsClientCertSha256: string | null;
  /** Host file behind the VM's ivshmem region, mapped by its sessions' executors; null for none. */
  shmPath: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Columns a caller may set, all resolved (pool by id). */
export interface VmValues {
  poolId: number;
  priority: Priority;
  weight: number;
  memoryQuota: number | null;
  vgpus: number;
  pciBusId: string | null;
  notes: string;
  maxHoldMs: number | null;
  vsockCid: number | null;
  vsockPath: string | null;
  tlsClientCertSha256: string | null;
  shmPath: string | null;
}

interface VmRow {
  id: number;
  name: string;
  pool_id: number;
  pool_name: string;
  priority: Priority;
  weight: number;
  memory_quota: number | null;
  vgpus: number;
  pci_bus_id: string | null;
  notes: string;
  max_hold_ms: number | null;
  vsock_cid: number | null;
  vsock_path: string | null;
  tls_client_cert_sha256: string | null;
  shm_path: string | null;
  created_at: string;
  updated_at: string;
}

const SELECT = `SELECT v.id, v.name, v.pool_id, p.name AS pool_name, v.priority, v.weight, v.memory_quota,
  v.vgpus, v.pci_bus_id, v.notes, v.max_hold_ms, v.vsock_cid, v.vsock_path, v.tls_client_cert_sha256, v.shm_path, v.created_at, v.updated_at FROM vms v JOIN pools p ON p.id = v.pool_id`;

function toVm(r: VmRow): Vm {
  return {
    id: r.id,
    name: r.name,
    pool: r.pool_name,
    priority: r.priority,
    weight: r.weight,
    memoryQuota: r.memory_quota,
    vgpus: r.vgpus,
    pciBusId: r.pci_bus_id,
    notes: r.notes,
    maxHoldMs: r.max_hold_ms,
    vsockCid: r.vsock_cid,
    vsockPath: r.vsock_path,
    tlsClientCertSha256: r.tls_client_cert_sha256,
    shmPath: r.shm_path,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class VmTable {
  private readonly byName: Statement;
  private readonly byId: Statement;
  private readonly all: Statement;
  private readonly hashes: Statement;
  private readonly insertRow: Statement;
  private readonly updateRow: Statement;
  private readonly updateHash: Statement;
  private readonly deleteRow: Statement;
  private readonly poolIdOf: Statement;
  private readonly byCid: Statement;
  private readonly byPath: Statement;
  private readonly byClientCert: Statement;
  private readonly byShmPath: Statement;

  constructor(db: Database) {
    this.byName = db.prepare(`${SELECT} WHERE v.name = ?`);
    this.byId = db.prepare(`${SELECT} WHERE v.id = ?`);
    this.all = db.prepare(`${SELECT} ORDER BY v.name`);
    this.hashes = db.prepare('SELECT id, token_hash FROM vms');
    this.insertRow = db.prepare(`INSERT INTO vms (name, token_hash, pool_id, priority, weight, memory_quota, vgpus,
      pci_bus_id, notes, max_hold_ms, vsock_cid, vsock_path, tls_client_cert_sha256, shm_path, created_at, updated_at) VALUES (@name, @tokenHash, @poolId,
      @priority, @weight, @memoryQuota, @vgpus, @pciBusId, @notes, @maxHoldMs, @vsockCid, @vsockPath, @tlsClientCertSha256, @shmPath, @now, @now) ON CONFLICT (name) DO NOTHING`);
    this.updateRow = db.prepare(`UPDATE vms SET pool_id = @poolId, priority = @priority, weight = @weight,
      memory_quota = @memoryQuota, vgpus = @vgpus, pci_bus_id = @pciBusId, notes = @notes, max_hold_ms = @maxHoldMs,
      vsock_cid = @vsockCid, vsock_path = @vsockPath, tls_client_cert_sha256 = @tlsClientCertSha256, shm_path = @shmPath, updated_at = @now WHERE id = @id`);
    this.updateHash = db.prepare('UPDATE vms SET token_hash = ?, updated_at = ? WHERE id = ?');
    this.deleteRow = db.prepare('DELETE FROM vms WHERE id = ?');
    this.poolIdOf = db.prepare('SELECT pool_id FROM vms WHERE id = ?').pluck();
    this.byCid = db.prepare(`${SELECT} WHERE v.vsock_cid = ?`);
    this.byPath = db.prepare(`${SELECT} WHERE v.vsock_path = ?`);
    this.byClientCert = db.prepare(`${SELECT} WHERE v.tls_client_cert_sha256 = ?`);
    this.byShmPath = db.prepare(`${SELECT} WHERE v.shm_path = ?`);
  }

  private one(st: Statement, key: string | number): Vm | null {
    const r = st.get(key) as VmRow | undefined;
    return r ? toVm(r) : null;
  }

  find(name: string): Vm | null {
    return this.one(this.byName, name);
  }

  findById(id: number): Vm | null {
    return this.one(this.byId, id);
  }

  /** The VM bound to this guest CID, or null. */
  findByVsockCid(cid: number): Vm | null {
    return this.one(this.byCid, cid);
  }

  /** The VM bound to this hybrid vsock socket path, or null. */
  findByVsockPath(path: string): Vm | null {
    return this.one(this.byPath, path);
  }

  /** The VM bound to this TLS client certificate (SHA-256, lower-case hex), or null. */
  findByTlsClientCert(sha256: string): Vm | null {
    return this.one(this.byClientCert, sha256);
  }

  findByShmPath(path: string): Vm | null {
    return this.one(this.byShmPath, path);
  }

  list(): Vm[] {
    return (this.all.all() as VmRow[]).map(toVm);
  }

  tokenHashes(): Array<{ id: number; token_hash: string }> {
    return this.hashes.all() as Array<{ id: number; token_hash: string }>;
  }

  /** Inserts the VM; false when the name is taken (by a concurrent writer, say). */
  insert(name: string, tokenHash: string, v: VmValues, now: string): boolean {
    return this.insertRow.run({ name, tokenHash, now, ...v }).changes === 1;
  }

  update(id: number, v: VmValues, now: string): void {
    this.updateRow.run({ id, now, ...v });
  }

  setTokenHash(id: number, tokenHash: string, now: string): void {
    this.updateHash.run(tokenHash, now, id);
  }

  delete(id: number): void {
    this.deleteRow.run(id);
  }

  poolId(id: number): number {
    return this.poolIdOf.get(id) as number;
  }
}
