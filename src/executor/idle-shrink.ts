// Gives memory back to the system while the executor is idle (a spare waiting for a session, or a
// session whose guest sends nothing). An idle executor otherwise keeps what its start and its last
// burst of calls left: V8 garbage not yet collected, and free malloc memory glibc keeps for reuse
// (the compiler's and parser's scratch memory, freed buffers), several MB per process, times one
// process per session (docs/benchmarks.md, "Session start").
//
// Idleness is seen from outside the hot path: a timer compares an activity counter (bytes moved)
// with its value a period ago, so calls pay nothing for it. Memory is given back once per idle
// spell; the next activity re-arms it.

import koffi from 'koffi';

/** How often idleness is checked: an executor idle for one to two periods gives memory back. */
export const IDLE_CHECK_MS = 1000;

export interface ShrinkReport {
  /** The heap was collected (only with --expose-gc, which the mediator's executors run with). */
  gc: boolean;
  /** malloc_trim released memory to the system. */
  trimmed: boolean;
  rssBefore: number;
  rssAfter: number;
}

let mallocTrim: ((pad: number) => number) | null | undefined;

/** glibc's malloc_trim, or null where the C library has none (musl). */
function trimFunction(): ((pad: number) => number) | null {
  if (mallocTrim === undefined) {
    try {
      mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      mallocTrim = null;
    }
  }
  return mallocTrim;
}

/** Collects the heap (unless `collect` is false), then returns malloc's free memory to the system. */
export function shrinkNow(collect = true): ShrinkReport {
  const rssBefore = process.memoryUsage.rss();
  const gc = collect ? (globalThis as { gc?: () => void }).gc : undefined;
  gc?.();
  const trim = trimFunction();
  const trimmed = trim ? trim(0) === 1 : false;
  return { gc: gc !== undefined, trimmed, rssBefore, rssAfter: process.memoryUsage.rss() };
}

export class IdleShrink {
  private last: number | undefined;
  private shrunk = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Grows with every bit of work (bytes in and out); unchanged over a period means idle. */
    private readonly activity: () => number,
    /** Told each time memory was given back. */
    private readonly onShrink: (r: ShrinkReport) => void,
    private readonly shrink: () => ShrinkReport = shrinkNow,
  ) {}

  start(periodMs = IDLE_CHECK_MS): void {
    this.timer ??= setInterval(() => this.check(), periodMs);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check: gives memory back if nothing happened since the last one and it has not already
   * done so in this idle spell. Returns whether it did. */
  check(): boolean {
    const now = this.activity();
    const idle = now === this.last;
    this.last = now;
    if (!idle) {
      this.shrunk = false;
      return false;
    }
    if (this.shrunk) return false;
    this.shrunk = true;
    this.onShrink(this.shrink());
    return true;
  }
}
