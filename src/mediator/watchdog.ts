// The hold watchdog (docs/operations.md, "Fair use of the GPU"): one call may keep a GPU from the
// sessions waiting for it for at most its VM's hold limit.
//
// Once others wait and the holder's quantum is over, the scheduler asks the holder to yield
// (src/sched/scheduler.ts), which it does at its next call boundary: within one call, plus a turn
// of the executor's serving loop. A holder that has not yielded `limit` after being asked is
// inside one call that does not end (a long kernel), and the watchdog has its session ended. The
// hold is counted only while someone waits: should the waiting sessions leave, the count starts
// again when the next one arrives.

export interface HoldWatchdogDeps {
  /** The session's hold limit in ms, read when its hold starts (0: no limit). */
  limitMs(sessionId: number): number;
  /** Whether the session still holds its GPU while another session waits for it. */
  holdsContended(sessionId: number): boolean;
  /** Ends the session, which has held its GPU `heldMs` past its limit `limitMs`. */
  end(sessionId: number, heldMs: number, limitMs: number): void;
  now?: () => number;
}

interface Hold {
  /** When the session was asked to yield, or when someone waits again (ms). */
  since: number;
  timer: ReturnType<typeof setTimeout> | null;
}

export class HoldWatchdog {
  /** Sessions asked to yield that have not yet. */
  private readonly holds = new Map<number, Hold>();
  private readonly now: () => number;

  constructor(private readonly deps: HoldWatchdogDeps) {
    this.now = deps.now ?? (() => Date.now());
  }

  /** The scheduler asked the session to yield its GPU: others wait, its quantum is over. */
  asked(id: number): void {
    if (this.holds.has(id)) return;
    const hold: Hold = { since: 0, timer: null };
    this.holds.set(id, hold);
    this.arm(id, hold);
  }

  /** Someone waits for the GPU this session holds (again). */
  contended(id: number): void {
    const hold = this.holds.get(id);
    if (hold && hold.timer === null) this.arm(id, hold);
  }

  /** The session yielded its GPU, or ended. */
  released(id: number): void {
    const hold = this.holds.get(id);
    if (!hold) return;
    if (hold.timer) clearTimeout(hold.timer);
    this.holds.delete(id);
  }

  private arm(id: number, hold: Hold): void {
    const limit = this.deps.limitMs(id);
    if (!(limit > 0)) return;
    hold.since = this.now();
    hold.timer = setTimeout(() => {
      hold.timer = null;
      if (this.holds.get(id) !== hold) return;
      if (!this.deps.holdsContended(id)) return; // nobody waits now: contended() arms it again
      this.holds.delete(id);
      this.deps.end(id, this.now() - hold.since, limit);
    }, limit);
    hold.timer.unref?.();
  }
}
