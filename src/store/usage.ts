// Per-VM running totals (device time, bytes moved, calls, peak memory) and the GPU inventory.
// The mediator fills them; the CLI and HTTP API read them.

import type { Database, Statement } from 'better-sqlite3';

export interface VmUsage {
  deviceTimeNs: number;
  bytesHtoD: number;
  bytesDtoH: number;
  calls: number;
  /** Highest GPU memory the VM held at once, in bytes. */
  peakMemory: number;
  updatedAt: string | null;
}

export type UsageDelta = Partial<Omit<VmUsage, 'updatedAt' | 'peakMemory'>> & { memoryNow?: number };

/** Usage of one VM over a period (`since` null: all time). */
export interface VmUsagePeriod {
  vm: string;
  since: string | null;
  deviceTimeNs: number;
  bytesHtoD: number;
  bytesDtoH: number;
  calls: number;
  peakMemory: number;
  updatedAt: string | null;
}

/** What the VMs did in one time bucket of a usage series (`at`: the bucket's start). */
export interface UsageBucket {
  vm: string;
  at: string;
  deviceTimeNs: number;
  bytesHtoD: number;
  bytesDtoH: number;
  calls: number;
  peakMemory: number;
}

export interface Gpu {
  uuid: string;
  name: string;
  backend: 'cuda' | 'softgpu';
  totalMemory: number;
  pciBusId: string | null;
  firstSeen: string;
  lastSeen: string;
}

interface UsageRow {
  device_time_ns: number;
  bytes_h2d: number;
  bytes_d2h: number;
  calls: number;
  peak_memory: number;
  updated_at: string;
}

interface GpuRow {
  uuid: string;
  name: string;
  backend: 'cuda' | 'softgpu';
  total_memory: number;
  pci_bus_id: string | null;
  first_seen: string;
  last_seen: string;
}

export class UsageTable {
  private readonly get: Statement;
  private readonly add: Statement;
  private readonly upsertGpu: Statement;
  private readonly gpus: Statement;
  private readonly sample: Statement;
  private readonly sumSince: Statement;
  private readonly prune: Statement;
  private readonly series: Statement;

  constructor(db: Database) {
    this.get = db.prepare('SELECT * FROM vm_usage WHERE vm_id = ?');
    this.add = db.prepare(`INSERT INTO vm_usage (vm_id, device_time_ns, bytes_h2d, bytes_d2h, calls, peak_memory, updated_at)
      VALUES (@vmId, @t, @h2d, @d2h, @calls, @mem, @now)
      ON CONFLICT (vm_id) DO UPDATE SET device_time_ns = device_time_ns + @t, bytes_h2d = bytes_h2d + @h2d,
        bytes_d2h = bytes_d2h + @d2h, calls = calls + @calls, peak_memory = MAX(peak_memory, @mem), updated_at = @now`);
    this.upsertGpu = db.prepare(`INSERT INTO gpus (uuid, name, backend, total_memory, pci_bus_id, first_seen, last_seen)
      VALUES (@uuid, @name, @backend, @totalMemory, @pciBusId, @now, @now)
      ON CONFLICT (uuid) DO UPDATE SET name = @name, backend = @backend, total_memory = @totalMemory,
        pci_bus_id = @pciBusId, last_seen = @now`);
    this.gpus = db.prepare('SELECT * FROM gpus ORDER BY uuid');
    this.sample = db.prepare(`INSERT INTO usage_samples (vm_id, at, device_time_ns, bytes_h2d, bytes_d2h, calls, peak_memory)
      VALUES (@vmId, @now, @t, @h2d, @d2h, @calls, @mem)`);
    this.sumSince = db.prepare(`SELECT COALESCE(SUM(device_time_ns), 0) AS device_time_ns, COALESCE(SUM(bytes_h2d), 0) AS bytes_h2d,
      COALESCE(SUM(bytes_d2h), 0) AS bytes_d2h, COALESCE(SUM(calls), 0) AS calls, COALESCE(MAX(peak_memory), 0) AS peak_memory,
      MAX(at) AS updated_at FROM usage_samples WHERE vm_id = ? AND at >= ?`);
    this.prune = db.prepare('DELETE FROM usage_samples WHERE at < ?');
    // Samples are stamped with ISO times, so the period's bounds compare as text (and use the index).
    this.series = db.prepare(`SELECT v.name AS vm, (CAST(strftime('%s', s.at) AS INTEGER) / CAST(@step AS INTEGER)) * CAST(@step AS INTEGER) AS bucket,
      SUM(s.device_time_ns) AS device_time_ns, SUM(s.bytes_h2d) AS bytes_h2d, SUM(s.bytes_d2h) AS bytes_d2h,
      SUM(s.calls) AS calls, MAX(s.peak_memory) AS peak_memory
      FROM usage_samples s JOIN vms v ON v.id = s.vm_id
      WHERE s.at >= @since AND s.at < @until AND (@vmId IS NULL OR s.vm_id = @vmId)
      GROUP BY v.name, bucket ORDER BY bucket, v.name`);
  }

  /** Totals of the samples taken at or after `since` (an ISO time). */
  usageSince(vmId: number, since: string): VmUsage {
    const r = this.sumSince.get(vmId, since) as Omit<UsageRow, 'updated_at'> & { updated_at: string | null };
    return {
      deviceTimeNs: r.device_time_ns,
      bytesHtoD: r.bytes_h2d,
      bytesDtoH: r.bytes_d2h,
      calls: r.calls,
      peakMemory: r.peak_memory,
      updatedAt: r.updated_at,
    };
  }

  /** The samples from `since` to `until` (ISO times) summed per VM into buckets of `stepS`
   * seconds (aligned to the Unix epoch); buckets in which a VM did nothing are absent. */
  usageSeries(q: { since: string; until: string; stepS: number; vmId: number | null }): UsageBucket[] {
    const rows = this.series.all({ since: q.since, until: q.until, step: q.stepS, vmId: q.vmId }) as Array<Omit<UsageRow, 'updated_at'> & { vm: string; bucket: number }>;
    return rows.map((r) => ({
      vm: r.vm,
      at: new Date(r.bucket * 1000).toISOString(),
      deviceTimeNs: r.device_time_ns,
      bytesHtoD: r.bytes_h2d,
      bytesDtoH: r.bytes_d2h,
      calls: r.calls,
      peakMemory: r.peak_memory,
    }));
  }

  /** Drops samples older than `before`; returns how many. */
  pruneSamples(before: string): number {
    return this.prune.run(before).changes;
  }

  usage(vmId: number): VmUsage {
    const r = this.get.get(vmId) as UsageRow | undefined;
    if (!r) return { deviceTimeNs: 0, bytesHtoD: 0, bytesDtoH: 0, calls: 0, peakMemory: 0, updatedAt: null };
    return {
      deviceTimeNs: r.device_time_ns,
      bytesHtoD: r.bytes_h2d,
      bytesDtoH: r.bytes_d2h,
      calls: r.calls,
      peakMemory: r.peak_memory,
      updatedAt: r.updated_at,
    };
  }

  addUsage(vmId: number, d: Required<UsageDelta>, now: string): void {
    const row = { vmId, t: d.deviceTimeNs, h2d: d.bytesHtoD, d2h: d.bytesDtoH, calls: d.calls, mem: d.memoryNow, now };
    this.add.run(row);
    this.sample.run(row);
  }

  recordGpu(g: Omit<Gpu, 'firstSeen' | 'lastSeen'>, now: string): void {
    this.upsertGpu.run({ ...g, now });
  }

  listGpus(): Gpu[] {
    return (this.gpus.all() as GpuRow[]).map((r) => ({
      uuid: r.uuid,
      name: r.name,
      backend: r.backend,
      totalMemory: r.total_memory,
      pciBusId: r.pci_bus_id,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
    }));
  }
}
