// The executor's side of the GPU time-slice scheduler (src/sched/scheduler.ts). Guest calls run
// only while this session holds its GPU. Without a slice the serving loop queues frames and asks
// the mediator for one; a lone holder keeps its slice with no per-call cost; once others wait, the
// holder yields when it runs out of queued work, or at the next call boundary after the mediator
// asks (its quantum is over). Before yielding, asynchronous GPU work is drained; the slice is
// charged what `settle` makes of it (src/executor/main.ts): the time spent executing calls plus
// the drain, or on a real GPU the larger of that call time and the device time events measured.

import type { FromExecutor, MessageOf } from '../common/executor-ipc.js';

/** Busy time after which the serving loop returns to the event loop: half a default quantum
 * while others wait, longer while this session is alone (it only needs to notice a newcomer). */
const TURN_NS_CONTENDED = 10_000_000;
const TURN_NS_ALONE = 50_000_000;

/** Call time a session may run on the copy lane (without its slice) before its copies wait for
 * the slice too: a default quantum (src/sched/scheduler.ts). The lane's time is charged to the next
 * slice, so this bounds how far a session can run ahead of the scheduler's say: a tenant that only
 * copies still needs slices, granted by priority and fair share, to go on. */
export const LANE_BUDGET_NS = 20_000_000;

/** What the gate tells the mediator's scheduler (src/common/executor-ipc.ts). */
export type GateMessage = MessageOf<FromExecutor, 'want' | 'yield'>;

export class Gate {
  private holding: boolean;
  private wanting = false;
  private contended = false;
  private preempted = false;
  private busyNs = 0;
  /** Busy time since the serving loop last returned to the event loop. */
  private turnNs = 0;
  private onGranted: (() => void) | null = null;
  /** Whether the session has no queued work (messages arrive between calls, never during one). */
  private isIdle: () => boolean = () => true;
  /** The native hot path (src/executor/hot-path.ts): told whether it may run calls, and asked for
   * the time its calls took before the slice is settled. */
  private native: { allow(allowed: boolean): void; absorb(): void } | undefined;

  constructor(
    private readonly send: (m: GateMessage) => void,
    /** Without a scheduler (tests, tools) the gate is always open. */
    private readonly enabled: boolean,
    /** Drains the GPU's queued work before yielding; given the slice's call time (ns), returns
     * what the slice is charged (ns). */
    private readonly settle: (busyNs: number) => number,
  ) {
    this.holding = !enabled;
  }

  /** Whether the session holds its GPU slice now (always, without a scheduler). */
  get held(): boolean {
    return this.holding;
  }

  /** Whether a call may run on the copy lane now: the session does not hold its slice (so has no
   * GPU work left) and has not used the lane's budget since its last slice. */
  get laneOpen(): boolean {
    return !this.holding && this.busyNs < LANE_BUDGET_NS;
  }

  /** True when calls may run now; otherwise asks for the GPU (once) and returns false. */
  ready(): boolean {
    if (this.holding) return true;
    if (!this.wanting) {
      this.wanting = true;
      this.send({ type: 'want' });
    }
    return false;
  }

  /** `resume` serves what was queued once the GPU is granted; `idle` tells whether work waits. */
  setResume(resume: () => void, idle: () => boolean): void {
    this.onGranted = resume;
    this.isIdle = idle;
  }

  /**
   * Attaches the native hot path. It runs calls only while the session holds its slice alone: a
   * contended holder must notice when it runs out of queued work and yield, which the TypeScript
   * serving loop does at each call boundary, so contended sessions are served there (see
   * docs/executors.md, "Native hot path").
   */
  attachNative(native: { allow(allowed: boolean): void; absorb(): void }): void {
    this.native = native;
    this.tellNative();
  }

  private tellNative(): void {
    this.native?.allow(!this.enabled || (this.holding && !this.contended && !this.preempted));
  }

  grant(contended: boolean): void {
    this.holding = true;
    this.wanting = false;
    this.contended = contended;
    this.preempted = false;
    // busyNs is kept: what the copy lane ran since the last yield is charged to this slice.
    this.tellNative();
    this.onGranted?.();
  }

  markContended(): void {
    this.contended = true;
    this.tellNative();
    this.checkpoint(this.isIdle());
  }

  /** The quantum is over and others wait: yield now (this runs between calls). */
  preempt(): void {
    this.preempted = true;
    this.tellNative();
    this.checkpoint(this.isIdle());
  }

  /** Accounts the execution time of one call; one run without the slice (the copy lane, see
   * SessionServer.mayTake) is charged to the session's next slice. */
  charge(ns: number): void {
    this.busyNs += ns;
    this.turnNs += ns;
  }

  /**
   * True when the serving loop should stop and let the event loop run: the scheduler's messages
   * (preempt, contended) only arrive between turns, so a session must not run a long batch of
   * calls in one turn while it holds a contended GPU.
   */
  shouldBreak(): boolean {
    return this.enabled && this.turnNs >= (this.contended ? TURN_NS_CONTENDED : TURN_NS_ALONE);
  }

  /** The serving loop starts a new event-loop turn. */
  newTurn(): void {
    this.turnNs = 0;
  }

  /**
   * A new mediator takes the session over (docs/executors.md, Adoption): it knows of no slice, so
   * one held since the old mediator went away is given up here, its queued work drained as at a
   * yield, and the new mediator is told whether the session wants its GPU. (While no mediator
   * ran, the holder kept running and the others waited.) Runs between calls.
   */
  handOver(): boolean {
    if (!this.enabled) return false;
    if (this.holding) {
      this.holding = false;
      this.tellNative();
      this.native?.absorb();
      this.settle(this.busyNs);
      this.preempted = false;
      this.contended = false;
      this.busyNs = 0;
      this.wanting = !this.isIdle();
    }
    return this.wanting;
  }

  /** At a call boundary: yield if asked to, or if others wait and this session is idle. */
  checkpoint(idle: boolean): void {
    if (!this.enabled || !this.holding) return;
    if (!(this.preempted || (this.contended && idle))) return;
    this.holding = false;
    this.tellNative();
    this.native?.absorb();
    const usedNs = this.settle(this.busyNs);
    this.preempted = false;
    this.contended = false;
    this.busyNs = 0;
    // With work queued the session stays in line: the scheduler decides who goes next.
    this.wanting = !idle;
    this.send({ type: 'yield', usedNs, again: !idle });
  }
}
