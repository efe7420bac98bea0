// Prometheus metrics at /metrics (docs/admin-api.md, Metrics). Every series is computed when
// scraped from the mediator's live state, so there is nothing to keep in step in between.

import { hostname } from 'node:os';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

import { VERSION } from '../common/version.js';
import type { GpuTelemetry } from '../mediator/gpu-telemetry.js';
import type { MediatorStats } from '../mediator/stats.js';

import type { ImageLimits, ImageStoreUsage } from '../common/image-store.js';
import type { UsageTotals } from '../mediator/usage-meter.js';
import { GRANT_REASONS, type VmSchedStats } from '../sched/scheduler.js';

/** What the mediator exposes to the metrics (implemented by Mediator). */
export interface MetricsSource {
  /** Live sessions per VM. */
  sessionCounts(): Map<string, number>;
  /** VMs in the store with their quota (null: none) and memory their live sessions hold. */
  vmMemory(): Array<{ vm: string; used: number; quota: number | null }>;
  /** Usage per VM since the mediator started. */
  usageTotals(): Map<string, UsageTotals>;
  /** Per physical GPU (by index): sessions waiting for it, whether one holds it. */
  gpuQueues(): Array<{ index: number; waiting: number; held: boolean }>;
  /** Memory, utilization and board values per GPU (src/mediator/gpu-telemetry.ts). */
  telemetry(): GpuTelemetry[];
  /** What the GPU scheduler did per VM since the mediator started. */
  schedulerStats(): ReadonlyMap<string, Readonly<VmSchedStats>>;
  executorCounts(): { running: number; spare: number; zygote: boolean };
  /** The module image store: bytes on disk and each VM's bytes. */
  imageStore(): ImageStoreUsage;
  imageLimits(): ImageLimits;
  /** What the mediator counted as it happened (src/mediator/stats.ts). */
  readonly stats: Pick<MediatorStats, 'metrics'>;
}

/** The label set of NVIDIA's DCGM exporter, so that dashboards built for it select our series
 * (docs/operations.md, "Metrics"). */
export const GPU_LABELS = ['gpu', 'UUID', 'device', 'modelName', 'Hostname', 'pci_bus_id'] as const;
type GpuLabels = Record<(typeof GPU_LABELS)[number], string>;

export function gpuLabels(t: Pick<GpuTelemetry, 'index' | 'uuid' | 'name' | 'pciBusId'>, host: string): GpuLabels {
  return { gpu: String(t.index), UUID: t.uuid, device: `nvidia${t.index}`, modelName: t.name, Hostname: host, pci_bus_id: t.pciBusId };
}

const MIB = 1024 * 1024;

export function createMetrics(src: MetricsSource): Registry {
  const registry = new Registry();
  const opts = { registers: [registry] };
  // The mediator process's CPU, memory, descriptors, event-loop lag and GC, under Prometheus'
  // standard names (process_*, nodejs_*), which existing dashboards query.
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'vgpu_build_info', help: 'The running mediator: always 1, its version and Node.js in labels', labelNames: ['version', 'node'], ...opts })
    .set({ version: VERSION, node: process.versions.node }, 1);
  for (const m of src.stats.metrics()) registry.registerMetric(m);

  new Gauge({
    name: 'vgpu_sessions', help: 'Guest sessions attached to an executor, per VM', labelNames: ['vm'], ...opts,
    collect() {
      this.reset();
      for (const [vm, n] of src.sessionCounts()) this.set({ vm }, n);
    },
  });
  new Gauge({
    name: 'vgpu_vm_memory_used_bytes', help: "Device memory a VM's sessions hold", labelNames: ['vm'], ...opts,
    collect() {
      this.reset();
      for (const v of src.vmMemory()) this.set({ vm: v.vm }, v.used);
    },
  });
  new Gauge({
    name: 'vgpu_vm_memory_quota_bytes', help: "A VM's memory quota (absent for VMs without one)", labelNames: ['vm'], ...opts,
    collect() {
      this.reset();
      for (const v of src.vmMemory()) if (v.quota !== null) this.set({ vm: v.vm }, v.quota);
    },
  });
  // Counters whose value is the mediator's running total: reset and re-add at each scrape.
  const totalCounter = (name: string, help: string, pick: (t: UsageTotals) => number): void => {
    new Counter({
      name, help, labelNames: ['vm'], ...opts,
      collect() {
        this.reset();
        for (const [vm, t] of src.usageTotals()) this.inc({ vm }, pick(t));
      },
    });
  };
  totalCounter('vgpu_vm_device_seconds_total', 'Device time used by a VM since the mediator started', (t) => t.busyNs / 1e9);
  totalCounter('vgpu_vm_calls_total', 'Driver API calls a VM made since the mediator started', (t) => t.calls);
  totalCounter('vgpu_vm_native_calls_total', "Of a VM's calls, those its executors' native hot path served (docs/executors.md)", (t) => t.nativeCalls);
  totalCounter('vgpu_vm_staged_bytes_total', "Bytes a VM's sessions sent while waiting for their GPU slice, received and held for it since the mediator started",
    (t) => t.staged);
  totalCounter('vgpu_vm_copy_lane_bytes_total', "Bytes of a VM's host-to-device copies served without waiting for its GPU slice (the copy lane) since the mediator started",
    (t) => t.laneIn);
  totalCounter('vgpu_vm_staging_stalls_total', "Times an executor stopped reading a VM's session because it held its staging share unserved", (t) => t.stagingStalls);
  new Gauge({
    name: 'vgpu_vm_staged_peak_bytes', help: "The most received but unserved bytes one of a VM's sessions held at once since the mediator started",
    labelNames: ['vm'], ...opts,
    collect() {
      this.reset();
      for (const [vm, t] of src.usageTotals()) this.set({ vm }, t.stagedPeak);
    },
  });
  new Counter({
    name: 'vgpu_vm_bytes_total', help: 'Bytes a VM moved over its connections since the mediator started (in: from the guest)',
    labelNames: ['vm', 'direction'], ...opts,
    collect() {
      this.reset();
      for (const [vm, t] of src.usageTotals()) {
        this.inc({ vm, direction: 'in' }, t.bytesIn);
        this.inc({ vm, direction: 'out' }, t.bytesOut);
      }
    },
  });
  new Counter({
    name: 'vgpu_vm_shm_bytes_total',
    help: 'Bytes a VM copied through shared memory since the mediator started, never crossing a socket (in: to the device)',
    labelNames: ['vm', 'direction'], ...opts,
    collect() {
      this.reset();
      for (const [vm, t] of src.usageTotals()) {
        this.inc({ vm, direction: 'in' }, t.shmIn);
        this.inc({ vm, direction: 'out' }, t.shmOut);
      }
    },
  });
  // One telemetry snapshot per scrape: every GPU series of a scrape shows the same moment.
  const host = hostname();
  let snapshot: { at: number; gpus: GpuTelemetry[] } | undefined;
  const telemetry = (): GpuTelemetry[] => {
    const now = performance.now();
    if (!snapshot || now - snapshot.at > 250) snapshot = { at: now, gpus: src.telemetry() };
    return snapshot.gpus;
  };
  const gpuGauge = (name: string, help: string, pick: (t: GpuTelemetry) => number | undefined): void => {
    new Gauge({
      name, help, labelNames: GPU_LABELS, ...opts,
      collect() {
        this.reset();
        for (const t of telemetry()) {
          const v = pick(t);
          // Absent, not zero, where nothing measured it (softgpu's temperature, say).
          if (v !== undefined) this.set(gpuLabels(t, host), v);
        }
      },
    });
  };
  // DCGM exporter's default counters, in its units (MiB, %, °C, W, MHz).
  gpuGauge('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).', (t) => Math.round(t.memory.used / MIB));
  gpuGauge('DCGM_FI_DEV_FB_FREE', 'Framebuffer memory free (in MiB).', (t) => Math.round(t.memory.free / MIB));
  gpuGauge('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).', (t) => t.utilization.gpuPercent);
  gpuGauge('DCGM_FI_DEV_GPU_TEMP', 'GPU temperature (in C).', (t) => t.temperatureC);
  gpuGauge('DCGM_FI_DEV_POWER_USAGE', 'Power draw (in W).', (t) => t.powerW);
  gpuGauge('DCGM_FI_DEV_SM_CLOCK', 'SM clock frequency (in MHz).', (t) => t.smClockMhz);
  gpuGauge('DCGM_FI_DEV_MEM_CLOCK', 'Memory clock frequency (in MHz).', (t) => t.memClockMhz);
  // The same in base units, and what DCGM's defaults lack.
  gpuGauge('vgpu_gpu_memory_total_bytes', 'Device memory of a GPU', (t) => t.memory.total);
  gpuGauge('vgpu_gpu_memory_used_bytes', 'Device memory in use on a GPU (NVML on a GPU; what sessions hold on softgpu)', (t) => t.memory.used);
  gpuGauge('vgpu_gpu_memory_free_bytes', 'Device memory free on a GPU', (t) => t.memory.free);
  gpuGauge('vgpu_gpu_utilization_percent', 'Busy time of a GPU over the last seconds, in percent (NVML on a GPU; measured device time on softgpu)', (t) => t.utilization.gpuPercent);
  gpuGauge('vgpu_gpu_temperature_celsius', 'GPU temperature (host NVML only)', (t) => t.temperatureC);
  gpuGauge('vgpu_gpu_power_watts', 'GPU power draw (host NVML only)', (t) => t.powerW);
  gpuGauge('vgpu_gpu_power_limit_watts', 'Enforced power limit of a GPU (host NVML only)', (t) => t.powerLimitW);
  gpuGauge('vgpu_gpu_sm_clock_hertz', 'SM clock of a GPU (host NVML only)', (t) => (t.smClockMhz === undefined ? undefined : t.smClockMhz * 1e6));
  gpuGauge('vgpu_gpu_memory_clock_hertz', 'Memory clock of a GPU (host NVML only)', (t) => (t.memClockMhz === undefined ? undefined : t.memClockMhz * 1e6));
  new Gauge({
    name: 'vgpu_sched_waiting', help: 'Sessions waiting for a GPU time slice, per GPU', labelNames: GPU_LABELS, ...opts,
    collect() {
      this.reset();
      const byIndex = new Map(telemetry().map((t) => [t.index, t]));
      for (const q of src.gpuQueues()) {
        const t = byIndex.get(q.index);
        if (t) this.set(gpuLabels(t, host), q.waiting);
      }
    },
  });
  // Per VM on each GPU: which tenant uses what.
  const vmGpuGauge = (name: string, help: string, pick: (v: GpuTelemetry['vms'][number]) => number): void => {
    new Gauge({
      name, help, labelNames: ['vm', ...GPU_LABELS], ...opts,
      collect() {
        this.reset();
        for (const t of telemetry()) for (const v of t.vms) this.set({ vm: v.vm, ...gpuLabels(t, host) }, pick(v));
      },
    });
  };
  vmGpuGauge('vgpu_vm_gpu_sessions', "A VM's live sessions on a GPU", (v) => v.sessions);
  vmGpuGauge('vgpu_vm_gpu_memory_used_bytes', "Device memory a VM's sessions hold on a GPU (a session counts on its first GPU)", (v) => v.memoryUsed);
  vmGpuGauge('vgpu_vm_gpu_utilization_percent', "Device time of a VM's sessions on a GPU over the last seconds, in percent", (v) => v.utilizationPercent);
  new Counter({
    name: 'vgpu_sched_grants_total',
    help: 'GPU time slices granted to a VM, by why: alone (nobody else waited), policy (class, fair share, request order), starvation (the guard overrode the policy)',
    labelNames: ['vm', 'reason'], ...opts,
    collect() {
      this.reset();
      for (const [vm, st] of src.schedulerStats()) for (const reason of GRANT_REASONS) this.inc({ vm, reason }, st.grants[reason]);
    },
  });
  new Counter({
    name: 'vgpu_sched_preemptions_total', help: "A VM's GPU time slices ended by the quantum because another session waited", labelNames: ['vm'], ...opts,
    collect() {
      this.reset();
      for (const [vm, st] of src.schedulerStats()) this.inc({ vm }, st.preemptions);
    },
  });
  new Counter({
    name: 'vgpu_sched_contended_device_seconds_total',
    help: 'Device time the scheduler charged a VM while another session wanted the same GPU (what the priority classes and weights divide)',
    labelNames: ['vm'], ...opts,
    collect() {
      this.reset();
      for (const [vm, st] of src.schedulerStats()) this.inc({ vm }, st.contendedNs / 1e9);
    },
  });
  new Gauge({
    name: 'vgpu_executors', help: 'Executor processes: running a session, or started ahead of time', labelNames: ['state'], ...opts,
    collect() {
      const e = src.executorCounts();
      this.set({ state: 'busy' }, e.running - e.spare);
      this.set({ state: 'spare' }, e.spare);
    },
  });
  new Gauge({
    name: 'vgpu_executor_zygote', help: 'Whether an executor zygote is ready to fork executors (0: each starts as a process of its own, slower; docs/executors.md, "Zygote")', ...opts,
    collect() {
      this.set(src.executorCounts().zygote ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vgpu_vm_image_store_bytes', help: "Bytes of module images a VM keeps in the host's image store", labelNames: ['vm'], ...opts,
    collect() {
      this.reset();
      for (const [vm, n] of src.imageStore().vms) this.set({ vm }, n);
    },
  });
  new Gauge({
    name: 'vgpu_image_store_bytes', help: 'Bytes the module image store holds on disk (each image once)', ...opts,
    collect() {
      this.set(src.imageStore().total);
    },
  });
  new Gauge({
    name: 'vgpu_image_store_limit_bytes', help: 'Limits of the module image store: per VM, and in all', labelNames: ['scope'], ...opts,
    collect() {
      const l = src.imageLimits();
      this.set({ scope: 'vm' }, l.perVm);
      this.set({ scope: 'total' }, l.total);
    },
  });
  return registry;
}
