// The GPU time-slice scheduler: every session's GPU work passes one dispatch decision per GPU.
//
// A session (one executor) runs work only while it holds its GPU's slice. Sessions that have
// work ask for the slice (want); the scheduler grants it to one of them:
//   1. higher priority class first (high > medium > low);
//   2. within a class, the VM that has used the least device time per unit of weight (weighted
//      fair share), FIFO among one VM's sessions;
//   3. a starvation guard: a session that has waited longer than `starvationMs` goes first
//      whatever its class, so low classes are slowed, never stopped.
// A holder keeps the slice while nobody else wants the GPU (no per-call cost for a lone tenant);
// once someone does, the holder is asked to yield after its quantum, at the next call boundary.
// Device time is what holders report when they yield (measured by the executor, which on a real
// GPU synchronises before yielding so asynchronous work is charged to the right tenant).
//
// Pure logic with an injectable clock: the mediator wires it to executors (src/mediator).

export type PriorityClass = 'high' | 'medium' | 'low';

const CLASS_RANK: Record<PriorityClass, number> = { high: 0, medium: 1, low: 2 };

export interface SchedSession {
  id: number;
  vm: string;
  gpu: number;
}

export interface VmPolicy {
  priority: PriorityClass;
  weight: number;
}

export interface SchedulerOptions {
  /** How long a holder may keep the GPU while others wait. */
  quantumMs: number;
  /** A waiting session older than this is granted next regardless of class. */
  starvationMs: number;
  now?: () => number;
  /** Current policy of a VM (read live, so changes apply without a restart). */
  policy(vm: string): VmPolicy;
  /** Tell a session it holds its GPU now. */
  grant(sessionId: number, contended: boolean): void;
  /** Ask the holder to yield at its next call boundary. */
  preempt(sessionId: number): void;
  /** Tell the holder that someone now waits (it should yield when it runs out of work). */
  contended?(sessionId: number): void;
}

interface Entry extends SchedSession {
  wantingSince: number | null;
  holding: boolean;
  grantedAt: number;
  preempted: boolean;
}

interface GpuState {
  holder: number | null;
  waiting: number[]; // session ids in request order
  timer: ReturnType<typeof setTimeout> | null;
}

export interface SchedStats {
  /** Device time charged per VM, in ns. */
  deviceNs: Map<string, number>;
  grants: number;
  preemptions: number;
}

export class Scheduler {
  private readonly sessions = new Map<number, Entry>();
  private readonly gpus = new Map<number, GpuState>();
  /** Weighted device time per VM (ns / weight): the fair-share clock. */
  private readonly vtime = new Map<string, number>();
  readonly stats: SchedStats = { deviceNs: new Map(), grants: 0, preemptions: 0 };
  private readonly now: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? (() => Date.now());
  }

  private gpu(g: number): GpuState {
    let s = this.gpus.get(g);
    if (!s) {
      s = { holder: null, waiting: [], timer: null };
      this.gpus.set(g, s);
    }
    return s;
  }

  add(s: SchedSession): void {
    this.sessions.set(s.id, { ...s, wantingSince: null, holding: false, grantedAt: 0, preempted: false });
    // A VM new to the GPU starts at the current minimum, so it neither owes nor is owed time.
    if (!this.vtime.has(s.vm)) this.vtime.set(s.vm, this.minVtime());
  }

  remove(id: number): void {
    const e = this.sessions.get(id);
    if (!e) return;
    this.sessions.delete(id);
    const g = this.gpu(e.gpu);
    g.waiting = g.waiting.filter((w) => w !== id);
    if (g.holder === id) {
      g.holder = null;
      this.dispatch(e.gpu);
    }
  }

  /** The session has work and asks for its GPU. */
  want(id: number): void {
    const e = this.sessions.get(id);
    if (!e || e.holding || e.wantingSince !== null) return;
    e.wantingSince = this.now();
    const g = this.gpu(e.gpu);
    g.waiting.push(id);
    if (g.holder === null) this.dispatch(e.gpu);
    else {
      if (g.waiting.length === 1) this.opts.contended?.(g.holder);
      this.armPreemption(e.gpu);
    }
  }

  /** The holder gives the GPU back, having used it for `usedNs` of device time; with `again` it
   * still has work and joins the waiting sessions before the next holder is chosen. */
  yield(id: number, usedNs: number, again = false): void {
    const e = this.sessions.get(id);
    if (!e || !e.holding) return;
    e.holding = false;
    e.preempted = false;
    this.charge(e.vm, usedNs);
    const g = this.gpu(e.gpu);
    if (g.holder === id) g.holder = null;
    if (again) {
      e.wantingSince = this.now();
      g.waiting.push(id);
    }
    if (g.timer) {
      clearTimeout(g.timer);
      g.timer = null;
    }
    this.dispatch(e.gpu);
  }

  /** Device time used while holding, reported without yielding (a lone holder's periodic report). */
  charge(vm: string, usedNs: number): void {
    if (!(usedNs > 0)) return;
    this.stats.deviceNs.set(vm, (this.stats.deviceNs.get(vm) ?? 0) + usedNs);
    const w = Math.max(1, this.opts.policy(vm).weight);
    this.vtime.set(vm, (this.vtime.get(vm) ?? 0) + usedNs / w);
  }

  holderOf(gpu: number): number | null {
    return this.gpus.get(gpu)?.holder ?? null;
  }

  waitingOn(gpu: number): number[] {
    return [...(this.gpus.get(gpu)?.waiting ?? [])];
  }

  private minVtime(): number {
    let m = Infinity;
    for (const e of this.sessions.values()) m = Math.min(m, this.vtime.get(e.vm) ?? 0);
    return m === Infinity ? 0 : m;
  }

  /** The waiting session that should run next on a GPU. */
  pick(gpu: number): number | null {
    const g = this.gpu(gpu);
    if (g.waiting.length === 0) return null;
    const now = this.now();
    let best: Entry | null = null;
    let bestKey: [number, number, number, number] | null = null;
    for (const id of g.waiting) {
      const e = this.sessions.get(id)!;
      const p = this.opts.policy(e.vm);
      const starving = now - (e.wantingSince ?? now) >= this.opts.starvationMs ? 0 : 1;
      // starving first, then class, then fair-share clock, then request order
      const key: [number, number, number, number] = [starving, CLASS_RANK[p.priority], this.vtime.get(e.vm) ?? 0, e.wantingSince ?? now];
      if (!bestKey || lexLess(key, bestKey)) {
        best = e;
        bestKey = key;
      }
    }
    return best ? best.id : null;
  }

  private dispatch(gpu: number): void {
    const g = this.gpu(gpu);
    if (g.holder !== null) return;
    const id = this.pick(gpu);
    if (id === null) return;
    const e = this.sessions.get(id)!;
    g.waiting = g.waiting.filter((w) => w !== id);
    g.holder = id;
    e.holding = true;
    e.wantingSince = null;
    e.grantedAt = this.now();
    this.stats.grants++;
    const contended = g.waiting.length > 0;
    this.opts.grant(id, contended);
    if (contended) this.armPreemption(gpu);
  }

  /** Someone is waiting: the holder gets its quantum (from its grant), then is asked to yield. */
  private armPreemption(gpu: number): void {
    const g = this.gpu(gpu);
    if (g.holder === null || g.timer || g.waiting.length === 0) return;
    const h = this.sessions.get(g.holder)!;
    const left = Math.max(0, h.grantedAt + this.opts.quantumMs - this.now());
    g.timer = setTimeout(() => {
      g.timer = null;
      const holder = g.holder === null ? undefined : this.sessions.get(g.holder);
      if (!holder || holder.preempted || g.waiting.length === 0) return;
      holder.preempted = true;
      this.stats.preemptions++;
      this.opts.preempt(holder.id);
    }, left);
    g.timer.unref?.();
  }
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return true;
    if (a[i]! > b[i]!) return false;
  }
  return false;
}
