// Usage accounting in the mediator. Each executor reports what its session did (deltas of calls,
// bytes and busy time, and the memory it holds) about once a second and once more when it ends;
// the meter keeps live per-session and per-VM totals, a short window of recent samples for
// utilisation (NVML's utilization rates, /metrics), and the deltas not yet written to the store,
// which the mediator flushes periodically (store.addUsage: totals and timestamped samples).
//
// Pure bookkeeping with an injectable clock: no timers and no store here, so it is tested alone.

import type { UsageMessage } from '../common/executor-ipc.js';

export interface UsageTotals {
  calls: number;
  asyncCalls: number;
  bytesIn: number;
  bytesOut: number;
  /** Bytes copied through the shared region (to the device, and from it). */
  shmIn: number;
  shmOut: number;
  busyNs: number;
  peakMemory: number;
  /** Bytes received while waiting for the GPU slice, times reading stopped at the staging share,
   * and the most unserved bytes one session held (docs/executors.md, "Staging"). */
  staged: number;
  /** Bytes of host-to-device copies served without the GPU slice (docs/executors.md, "Copy lane"). */
  laneIn: number;
  stagingStalls: number;
  stagedPeak: number;
  /** Of the calls, those the executors' native hot path served (docs/executors.md). */
  nativeCalls: number;
}

export interface MeteredSession {
  sessionId: number;
  vm: string;
  guestPid: number;
  /** Physical GPU ordinals the session's vGPUs run on. */
  gpus: readonly number[];
}

export interface SessionUsage extends MeteredSession {
  memoryUsed: number;
  totals: UsageTotals;
}

/** What a flush hands to the store for one VM. */
export interface VmUsageDelta {
  vm: string;
  deviceTimeNs: number;
  bytesHtoD: number;
  bytesDtoH: number;
  calls: number;
  memoryNow: number;
}

interface Sample {
  at: number;
  busyNs: number;
  bytes: number;
}

interface Live extends MeteredSession {
  memoryUsed: number;
  totals: UsageTotals;
  samples: Sample[];
}

export interface UsageMeterOptions {
  /** Milliseconds since some epoch; Date.now by default. */
  now?: () => number;
  /** Utilisation is averaged over this window (default 2000 ms: two executor reports). */
  windowMs?: number;
  /** Bytes per second that count as 100 % memory utilisation (default 16 GB/s, a PCIe 4 x16
   * link: on a remoting host the guest's data crosses the transport and then that link). */
  bandwidthBytesPerSec?: number;
}

/** Ended sessions remembered for late reports. */
const ENDED_KEPT = 1024;

function zeroTotals(): UsageTotals {
  return { calls: 0, asyncCalls: 0, bytesIn: 0, bytesOut: 0, shmIn: 0, shmOut: 0, busyNs: 0, peakMemory: 0, staged: 0, laneIn: 0, stagingStalls: 0, stagedPeak: 0, nativeCalls: 0 };
}

export class UsageMeter {
  private readonly live = new Map<number, Live>();
  /** VMs of recently ended sessions: an executor's last report may arrive after its exit. */
  private readonly ended = new Map<number, string>();
  /** Totals per VM since the mediator started, ended sessions included (Prometheus counters). */
  private readonly vmTotals = new Map<string, UsageTotals>();
  private readonly pending = new Map<string, VmUsageDelta>();
  private readonly now: () => number;
  readonly windowMs: number;
  private readonly bandwidth: number;

  constructor(opts: UsageMeterOptions = {}) {
    this.now = opts.now ?? (() => Date.now());
    this.windowMs = opts.windowMs ?? 2000;
    this.bandwidth = opts.bandwidthBytesPerSec ?? 16e9;
  }

  /** A session attached to an executor. */
  open(s: MeteredSession): void {
    this.live.set(s.sessionId, { ...s, gpus: [...s.gpus], memoryUsed: 0, totals: zeroTotals(), samples: [] });
    if (!this.vmTotals.has(s.vm)) this.vmTotals.set(s.vm, zeroTotals());
  }

  /** An adopted session's totals so far, as the previous mediator was told them (docs/executors.md):
   * shown for the session, never written to the store again (that mediator wrote them). */
  adopt(sessionId: number, t: Omit<UsageTotals, 'shmIn' | 'shmOut' | 'staged' | 'laneIn' | 'stagingStalls' | 'stagedPeak' | 'nativeCalls'> & { memoryNow: number }): void {
    const s = this.live.get(sessionId);
    if (!s) return;
    s.totals = { ...zeroTotals(), calls: t.calls, asyncCalls: t.asyncCalls, bytesIn: t.bytesIn, bytesOut: t.bytesOut, busyNs: t.busyNs, peakMemory: t.peakMemory };
    s.memoryUsed = t.memoryNow;
  }

  /** Adds an executor's report. One for a session ended recently still counts for its VM;
   * reports of sessions never opened are dropped (false). */
  record(sessionId: number, m: UsageMessage): boolean {
    const s = this.live.get(sessionId);
    const vm = s?.vm ?? this.ended.get(sessionId);
    if (vm === undefined) return false;
    const at = this.now();
    for (const t of s ? [s.totals, this.vmTotal(vm)] : [this.vmTotal(vm)]) {
      t.calls += m.calls;
      t.asyncCalls += m.asyncCalls;
      t.bytesIn += m.bytesIn;
      t.bytesOut += m.bytesOut;
      t.shmIn += m.shmIn ?? 0;
      t.shmOut += m.shmOut ?? 0;
      t.busyNs += m.busyNs;
      t.peakMemory = Math.max(t.peakMemory, m.peakMemory);
      t.staged += m.staged ?? 0;
      t.laneIn += m.laneIn ?? 0;
      t.stagingStalls += m.stagingStalls ?? 0;
      t.stagedPeak = Math.max(t.stagedPeak, m.stagedPeak ?? 0);
      t.nativeCalls += m.nativeCalls ?? 0;
    }
    if (s) {
      s.memoryUsed = m.memoryNow;
      s.samples.push({ at, busyNs: m.busyNs, bytes: m.bytesIn + m.bytesOut });
      this.prune(s, at);
    }
    const p = this.pendingFor(vm);
    p.deviceTimeNs += m.busyNs;
    p.bytesHtoD += m.bytesIn;
    p.bytesDtoH += m.bytesOut;
    p.calls += m.calls;
    p.memoryNow = Math.max(p.memoryNow, this.vmMemory(vm), m.peakMemory);
    return true;
  }

  /** The session's executor said how much memory it holds (between usage reports). */
  setMemory(sessionId: number, bytes: number): void {
    const s = this.live.get(sessionId);
    if (!s) return;
    s.memoryUsed = bytes;
    const p = this.pendingFor(s.vm);
    p.memoryNow = Math.max(p.memoryNow, this.vmMemory(s.vm));
  }

  /** The session ended; its totals stay in its VM's. */
  close(sessionId: number): void {
    const s = this.live.get(sessionId);
    if (!s) return;
    this.live.delete(sessionId);
    this.ended.set(sessionId, s.vm);
    if (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value!);
  }

  /** Busy fraction of the VM's sessions over the last window, 0..100 each. With `gpu`, only the
   * sessions on that physical GPU. Several sessions busy at once can add past 100: capped. */
  utilization(vm: string, gpu?: number): { gpuPercent: number; memoryPercent: number } {
    const at = this.now();
    let busyNs = 0;
    let bytes = 0;
    for (const s of this.live.values()) {
      if (s.vm !== vm || (gpu !== undefined && !s.gpus.includes(gpu))) continue;
      this.prune(s, at);
      for (const x of s.samples) {
        busyNs += x.busyNs;
        bytes += x.bytes;
      }
    }
    const pct = (v: number): number => Math.max(0, Math.min(100, Math.round(v * 100)));
    return {
      gpuPercent: pct(busyNs / (this.windowMs * 1e6)),
      memoryPercent: pct(bytes / ((this.windowMs / 1000) * this.bandwidth)),
    };
  }

  /** The VM's live sessions, oldest first. */
  sessions(vm: string): Array<{ sessionId: number; guestPid: number; memoryUsed: number }> {
    return [...this.live.values()]
      .filter((s) => s.vm === vm)
      .map((s) => ({ sessionId: s.sessionId, guestPid: s.guestPid, memoryUsed: s.memoryUsed }));
  }

  /** Every live session with its totals. */
  allSessions(): SessionUsage[] {
    return [...this.live.values()].map((s) => ({
      sessionId: s.sessionId, vm: s.vm, guestPid: s.guestPid, gpus: s.gpus, memoryUsed: s.memoryUsed, totals: { ...s.totals },
    }));
  }

  session(sessionId: number): SessionUsage | undefined {
    return this.allSessions().find((s) => s.sessionId === sessionId);
  }

  /** Totals per VM since the mediator started. */
  totals(): Map<string, UsageTotals> {
    return new Map([...this.vmTotals].map(([k, v]) => [k, { ...v }]));
  }

  /** Device memory the VM's live sessions hold now. */
  vmMemory(vm: string): number {
    let b = 0;
    for (const s of this.live.values()) if (s.vm === vm) b += s.memoryUsed;
    return b;
  }

  /** Load of a physical GPU: its live sessions' busy time over the window, in ns (placement). */
  gpuLoad(gpu: number): { sessions: number; busyNs: number } {
    const at = this.now();
    let sessions = 0;
    let busyNs = 0;
    for (const s of this.live.values()) {
      if (!s.gpus.includes(gpu)) continue;
      sessions++;
      this.prune(s, at);
      for (const x of s.samples) busyNs += x.busyNs;
    }
    return { sessions, busyNs };
  }

  /** Takes the deltas accumulated since the last call (what the store has not seen yet). A VM
   * whose flush fails can be handed back with `restore`. */
  drain(): VmUsageDelta[] {
    const out = [...this.pending.values()].filter((d) => d.calls > 0 || d.deviceTimeNs > 0 || d.bytesHtoD > 0 || d.bytesDtoH > 0 || d.memoryNow > 0);
    this.pending.clear();
    return out;
  }

  restore(d: VmUsageDelta): void {
    const p = this.pendingFor(d.vm);
    p.deviceTimeNs += d.deviceTimeNs;
    p.bytesHtoD += d.bytesHtoD;
    p.bytesDtoH += d.bytesDtoH;
    p.calls += d.calls;
    p.memoryNow = Math.max(p.memoryNow, d.memoryNow);
  }

  private vmTotal(vm: string): UsageTotals {
    let t = this.vmTotals.get(vm);
    if (!t) {
      t = zeroTotals();
      this.vmTotals.set(vm, t);
    }
    return t;
  }

  private pendingFor(vm: string): VmUsageDelta {
    let p = this.pending.get(vm);
    if (!p) {
      p = { vm, deviceTimeNs: 0, bytesHtoD: 0, bytesDtoH: 0, calls: 0, memoryNow: 0 };
      this.pending.set(vm, p);
    }
    return p;
  }

  private prune(s: Live, at: number): void {
    const from = at - this.windowMs;
    let i = 0;
    while (i < s.samples.length && s.samples[i]!.at <= from) i++;
    if (i > 0) s.samples.splice(0, i);
  }
}
