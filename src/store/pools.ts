// Pools: named sets of GPUs a VM may be placed on. The `default` pool always exists and holds
// every GPU no other pool names.

import type { Database, Statement } from 'better-sqlite3';
import { VgpuError } from '../common/errors.js';

export const DEFAULT_POOL = 'default';

export interface Pool {
  id: number;
  name: string;
  /** GPUs named by this pool; empty for `default`, which takes all GPUs left over. */
  gpuUuids: string[];
  createdAt: string;
  updatedAt: string;
}

interface PoolRow {
  id: number;
  name: string;
  created_at: string;
  updated_at: string;
}

export class PoolTable {
  private readonly byName: Statement;
  private readonly all: Statement;
  private readonly gpusOf: Statement;
  private readonly insertPool: Statement;
  private readonly insertGpu: Statement;
  private readonly clearGpus: Statement;
  private readonly touch: Statement;
  private readonly deleteRow: Statement;

  constructor(db: Database) {
    this.byName = db.prepare('SELECT * FROM pools WHERE name = ?');
    this.all = db.prepare('SELECT * FROM pools ORDER BY name');
    this.gpusOf = db.prepare('SELECT gpu_uuid FROM pool_gpus WHERE pool_id = ? ORDER BY gpu_uuid').pluck();
    this.insertPool = db.prepare('INSERT INTO pools (name, created_at, updated_at) VALUES (?, ?, ?)');
    this.insertGpu = db.prepare('INSERT INTO pool_gpus (pool_id, gpu_uuid) VALUES (?, ?)');
    this.clearGpus = db.prepare('DELETE FROM pool_gpus WHERE pool_id = ?');
    this.touch = db.prepare('UPDATE pools SET updated_at = ? WHERE id = ?');
    this.deleteRow = db.prepare('DELETE FROM pools WHERE id = ?');
  }

  private toPool(r: PoolRow): Pool {
    return {
      id: r.id,
      name: r.name,
      gpuUuids: this.gpusOf.all(r.id) as string[],
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  find(name: string): Pool | null {
    const r = this.byName.get(name) as PoolRow | undefined;
    return r ? this.toPool(r) : null;
  }

  /** The pool, or VGPU_ERR_POOL_NOT_FOUND listing the pools that do exist. */
  require(name: string): Pool {
    const p = this.find(name);
    if (p) return p;
    throw new VgpuError('VGPU_ERR_POOL_NOT_FOUND', { name, known: this.list().map((x) => x.name).join(', ') });
  }

  list(): Pool[] {
    return (this.all.all() as PoolRow[]).map((r) => this.toPool(r));
  }

  /** Inserts a pool; the caller has checked the name is free and the GPUs are in no other pool. */
  insert(name: string, gpuUuids: readonly string[], now: string): Pool {
    const id = Number(this.insertPool.run(name, now, now).lastInsertRowid);
    for (const u of gpuUuids) this.insertGpu.run(id, u);
    return this.require(name);
  }

  /** Replaces the pool's GPUs; the caller has checked they are in no other pool. */
  setGpus(id: number, gpuUuids: readonly string[], now: string): void {
    this.clearGpus.run(id);
    for (const u of gpuUuids) this.insertGpu.run(id, u);
    this.touch.run(now, id);
  }

  /** Deletes the pool (its GPU list goes with it); the caller has checked no VM uses it. */
  delete(id: number): void {
    this.deleteRow.run(id);
  }
}
