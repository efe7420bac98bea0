// Prometheus metrics at /metrics (docs/admin-api.md, Metrics). Every series is computed when
// scraped from the mediator's live state, so there is nothing to keep in step in between.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

import { VERSION } from '../common/version.js';

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
  /** Per physical GPU: sessions waiting for it, whether one holds it, its busy percentage. */
  gpuQueues(): Array<{ gpu: string; waiting: number; held: boolean; utilization: number }>;
  /** What the GPU scheduler did per VM since the mediator started. */
  schedulerStats(): ReadonlyMap<string, Readonly<VmSchedStats>>;
  executorCounts(): { running: number; spare: number };
  /** The module image store: bytes on disk and each VM's bytes. */
  imageStore(): ImageStoreUsage;
  imageLimits(): ImageLimits;
}

export function createMetrics(src: MetricsSource): Registry {
  const registry = new Registry();
  const opts = { registers: [registry] };
  // The mediator process's CPU, memory, descriptors, event-loop lag and GC, under Prometheus'
  // standard names (process_*, nodejs_*), which existing dashboards query.
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'vgpu_build_info', help: 'The running mediator: always 1, its version and Node.js in labels', labelNames: ['version', 'node'], ...opts })
    .set({ version: VERSION, node: process.versions.node }, 1);

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
  new Gauge({
    name: 'vgpu_sched_waiting', help: 'Sessions waiting for a GPU time slice, per GPU', labelNames: ['gpu'], ...opts,
    collect() {
      this.reset();
      for (const g of src.gpuQueues()) this.set({ gpu: g.gpu }, g.waiting);
    },
  });
  new Gauge({
    name: 'vgpu_gpu_utilization_percent', help: 'Busy time of a GPU over the last seconds, in percent', labelNames: ['gpu'], ...opts,
    collect() {
      this.reset();
      for (const g of src.gpuQueues()) this.set({ gpu: g.gpu }, g.utilization);
    },
  });
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
