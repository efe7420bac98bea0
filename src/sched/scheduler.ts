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
// What it decided is recorded per VM (`stats`, exported as metrics by src/admin/metrics.ts): the
// grants and why each went to that VM, and the device time charged while another session wanted
// the same GPU. That contended time is what the policy divides (a tenant alone takes all it
// wants), so it, not anyone's finish time, shows whether classes and weights are honoured.
//
// Pure logic with an injectable clock: the mediator wires it to executors (src/mediator).

export type PriorityClass = 'high' | 'medium' | 'low';

/** The mediator's defaults (docs/operations.md, Scheduling). */
export const DEFAULT_QUANTUM_MS = 20;
export const DEFAULT_STARVATION_MS = 1000;

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
  /** While holding: whether another session has wanted the GPU during this slice, since when one
   * does (null: nobody now), and how long others waited in earlier parts of the slice. */
  contended: boolean;
  contendedSince: number | null;
  contendedMs: number;
}

interface GpuState {
  holder: number | null;
  waiting: number[]; // session ids in request order
  timer: ReturnType<typeof setTimeout> | null;
}

/** Why a session got its GPU: nobody else wanted it (`alone`), it came first by class, fair
 * share and request order (`policy`), or the starvation guard put it ahead of a session that
 * the policy ranks first (`starvation`). */
export type GrantReason = 'alone' | 'policy' | 'starvation';
export const GRANT_REASONS: readonly GrantReason[] = ['alone', 'policy', 'starvation'];

/** What the scheduler did for one VM since it started. */
export interface VmSchedStats {
  /** Device time charged, in ns. */
  deviceNs: number;
  /** The part of `deviceNs` charged while another session wanted the same GPU. A slice that
   * became contended part-way is split in proportion to the time it held the GPU each way. */
  contendedNs: number;
  grants: Record<GrantReason, number>;
  /** Slices ended by the quantum because another session waited. */
  preemptions: number;
}

export class Scheduler {
  private readonly sessions = new Map<number, Entry>();
  private readonly gpus = new Map<number, GpuState>();
  /** Weighted device time per VM (ns / weight): the fair-share clock. */
  private readonly vtime = new Map<string, number>();
  /** Per VM, since the scheduler started (kept after a VM's sessions end: they are counters). */
  private readonly perVm = new Map<string, VmSchedStats>();
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

  /** What the scheduler did per VM since it started. */
  get stats(): ReadonlyMap<string, Readonly<VmSchedStats>> {
    return this.perVm;
  }

  private vmStats(vm: string): VmSchedStats {
    let st = this.perVm.get(vm);
    if (!st) {
      st = { deviceNs: 0, contendedNs: 0, grants: { alone: 0, policy: 0, starvation: 0 }, preemptions: 0 };
      this.perVm.set(vm, st);
    }
    return st;
  }

  add(s: SchedSession): void {
    // A VM that starts competing (new, or back after its sessions ended) starts level with the
    // least-served VM running now, so it is owed nothing for the time it was away; computed
    // before the session joins, which would count the VM itself.
    if (![...this.sessions.values()].some((e) => e.vm === s.vm)) {
      this.vtime.set(s.vm, Math.max(this.vtime.get(s.vm) ?? 0, this.minVtime()));
    }
    this.sessions.set(s.id, { ...s, wantingSince: null, holding: false, grantedAt: 0, preempted: false, contended: false, contendedSince: null, contendedMs: 0 });
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
    } else if (g.waiting.length === 0 && g.holder !== null) {
      this.uncontend(this.sessions.get(g.holder)!);
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
      if (g.waiting.length === 1) {
        this.contend(this.sessions.get(g.holder)!);
        this.opts.contended?.(g.holder);
      }
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
    this.uncontend(e);
    const heldMs = this.now() - e.grantedAt;
    // (A slice that took no measurable time is counted by whether anyone waited during it.)
    const contendedShare = heldMs > 0 ? Math.min(1, e.contendedMs / heldMs) : e.contended ? 1 : 0;
    this.charge(e.vm, usedNs, contendedShare);
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

  /** Charges a slice's device time, `contendedShare` of it used while others wanted the GPU. */
  private charge(vm: string, usedNs: number, contendedShare: number): void {
    if (!(usedNs > 0)) return;
    const st = this.vmStats(vm);
    st.deviceNs += usedNs;
    st.contendedNs += usedNs * contendedShare;
    const w = Math.max(1, this.opts.policy(vm).weight);
    this.vtime.set(vm, (this.vtime.get(vm) ?? 0) + usedNs / w);
  }

  /** Someone now waits for the holder's GPU. */
  private contend(h: Entry): void {
    h.contended = true;
    h.contendedSince ??= this.now();
  }

  /** Nobody waits any more, or the slice ends. */
  private uncontend(h: Entry): void {
    if (h.contendedSince === null) return;
    h.contendedMs += this.now() - h.contendedSince;
    h.contendedSince = null;
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
    return this.choose(gpu, true)?.id ?? null;
  }

  /** The waiting session the policy puts first, with or without the starvation guard. */
  private choose(gpu: number, guard: boolean): Entry | null {
    const g = this.gpu(gpu);
    const now = this.now();
    let best: Entry | null = null;
    let bestKey: [number, number, number, number] | null = null;
    for (const id of g.waiting) {
      const e = this.sessions.get(id)!;
      const p = this.opts.policy(e.vm);
      const starving = guard && now - (e.wantingSince ?? now) >= this.opts.starvationMs ? 0 : 1;
      // starving first, then class, then fair-share clock, then request order
      const key: [number, number, number, number] = [starving, CLASS_RANK[p.priority], this.vtime.get(e.vm) ?? 0, e.wantingSince ?? now];
      if (!bestKey || lexLess(key, bestKey)) {
        best = e;
        bestKey = key;
      }
    }
    return best;
  }

  private dispatch(gpu: number): void {
    const g = this.gpu(gpu);
    if (g.holder !== null) return;
    const e = this.choose(gpu, true);
    if (e === null) return;
    const reason: GrantReason = g.waiting.length === 1 ? 'alone' : e === this.choose(gpu, false) ? 'policy' : 'starvation';
    this.vmStats(e.vm).grants[reason]++;
    g.waiting = g.waiting.filter((w) => w !== e.id);
    g.holder = e.id;
    e.holding = true;
    e.wantingSince = null;
    e.grantedAt = this.now();
    e.contended = false;
    e.contendedSince = null;
    e.contendedMs = 0;
    const contended = g.waiting.length > 0;
    if (contended) this.contend(e);
    this.opts.grant(e.id, contended);
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
      this.vmStats(holder.vm).preemptions++;
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
