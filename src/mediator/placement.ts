// Placement: which physical GPUs a new session of a VM runs on (docs/operations.md, Pools and
// placement). The candidates are the GPUs of the VM's pool that this host has; the `default` pool
// holds every GPU no other pool names. A GPU has room for the VM when the memory quotas of the
// VMs already running on it, plus this VM's, fit in its memory (a VM without a quota commits what
// it holds now); the VM's own sessions are counted once, as its quota covers all of them.
// Among the GPUs with room, the least loaded come first: fewest live sessions, then least device
// time over the last seconds, then the lowest ordinal (stable for equal loads).

import type { ProbedDevice } from '../executor/probe.js';

/** "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" from the 32 hex digits the probe reports. */
export function gpuUuid(hex: string): string {
  const h = hex.toLowerCase();
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface PlacementPool {
  name: string;
  gpuUuids: readonly string[];
}

export interface GpuLoad {
  sessions: number;
  busyNs: number;
  /** Bytes committed on the GPU by VMs other than the one being placed. */
  committed: number;
  /** Whether the VM being placed already runs there. */
  hasVm: boolean;
}

export interface PlaceRequest {
  vm: { name: string; pool: string; vgpus: number; memoryQuota: number | null };
  pools: readonly PlacementPool[];
  devices: readonly ProbedDevice[];
  load(ordinal: number): GpuLoad;
}

export type PlaceResult = { ok: true; ordinals: number[] } | { ok: false; reason: string };

/** The host's GPUs that belong to `pool`. */
export function poolDevices(pool: string, pools: readonly PlacementPool[], devices: readonly ProbedDevice[]): ProbedDevice[] {
  const named = new Set(pools.flatMap((p) => p.gpuUuids));
  const own = new Set(pools.find((p) => p.name === pool)?.gpuUuids ?? []);
  return devices.filter((d) => {
    const u = gpuUuid(d.uuid);
    return pool === 'default' ? !named.has(u) || own.has(u) : own.has(u);
  });
}

export function choosePlacement(r: PlaceRequest): PlaceResult {
  const { vm } = r;
  const candidates = poolDevices(vm.pool, r.pools, r.devices);
  if (candidates.length === 0) return { ok: false, reason: `VM ${vm.name}: its pool ${vm.pool} has no GPU on this host` };
  if (vm.vgpus > candidates.length) {
    return {
      ok: false,
      reason: `VM ${vm.name} wants ${vm.vgpus} vGPUs but its pool ${vm.pool} has ${candidates.length} GPU${candidates.length === 1 ? '' : 's'}`,
    };
  }
  const need = vm.memoryQuota ?? 0;
  const scored = candidates.map((d) => ({ d, l: r.load(d.ordinal) }));
  const roomy = scored.filter(({ d, l }) => l.hasVm || l.committed + need <= d.totalMem);
  if (roomy.length < vm.vgpus) {
    return {
      ok: false,
      reason: `VM ${vm.name}: its pool ${vm.pool} has no room: ${vm.vgpus} GPU${vm.vgpus === 1 ? '' : 's'} with ` +
        `${need} bytes uncommitted needed, ${roomy.length} available (the memory quotas of running VMs fill the rest)`,
    };
  }
  roomy.sort((a, b) => a.l.sessions - b.l.sessions || a.l.busyNs - b.l.busyNs || a.d.ordinal - b.d.ordinal);
  return { ok: true, ordinals: roomy.slice(0, vm.vgpus).map(({ d }) => d.ordinal) };
}
