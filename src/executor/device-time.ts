// Device time measured with CUDA events, for a real GPU (docs/operations.md, "Device time").
//
// On a GPU a launch returns long before its kernel has run, so the time the executor spends in
// calls says little about the time the GPU spends on them. The clock brackets the session's work
// on each stream with events instead: a window opens with a `begin` event recorded just before
// the first work the serving loop puts on an idle stream, and at the end of every serving run a
// `mark` event is (re)recorded after the last work put on it. When the next work arrives and the
// mark has already completed, the stream ran dry in between: the window ends at that mark and a
// new one begins, so host-side pauses are not counted. A window whose mark is still pending goes
// on (the stream is still busy, the new work queues behind the old). The windows' spans, as the
// GPU timestamps them, are merged per context (streams of one context overlap in time; contexts
// on different GPUs add up) into the session's device time.
//
// Costs: at most two event records per stream per serving run, one event query per stream per
// run, nothing per call beyond a compare. Work put on a stream while a stream capture is under way
// in the session is not timed (an event recorded on a capturing stream would become a graph node).

import { performance } from 'node:perf_hooks';

export const DEVICE_TIME_MODES = ['auto', 'events', 'host'] as const;
export type DeviceTimeChoice = (typeof DEVICE_TIME_MODES)[number];

/**
 * How device time is measured: `events` brackets work on each stream with CUDA events (what a
 * real GPU needs: its calls return before the work is done); `host` counts the time spent in
 * calls, exact on softgpu, which runs every call to completion. `auto` picks by backend.
 */
export function deviceTimeMode(choice: DeviceTimeChoice, backend: 'cuda' | 'softgpu'): 'events' | 'host' {
  if (choice !== 'auto') return choice;
  return backend === 'cuda' ? 'events' : 'host';
}

const CUDA_ERROR_NOT_READY = 600;
const CU_STREAM_PER_THREAD = 2;
/** A window open this long is split at the next mark, so a stream that never runs dry still has
 * its time counted as it goes rather than all at once when it finally stops. */
const SPLIT_AFTER_MS = 1000;

/** The event functions the clock uses (a subset of the generated DriverApi; tests pass a model). */
export interface EventApi {
  cuEventCreate(phEvent: Buffer | null, Flags: number): number;
  cuEventRecord(hEvent: number, hStream: number): number;
  cuEventQuery(hEvent: number): number;
  cuEventSynchronize(hEvent: number): number;
  cuEventElapsedTime(pMilliseconds: Buffer | null, hStart: number, hEnd: number): number;
  cuEventDestroy_v2(hEvent: number): number;
}

/** An event handle shared by up to two windows (a split window's end is its successor's begin). */
interface Ev {
  h: number;
  ctx: number;
  refs: number;
}

interface Window {
  ctx: number;
  stream: number;
  begin: Ev;
  /** The last mark; null until the first serving run that touched the window ends. */
  end: Ev | null;
  /** Work was put on the stream in the current serving run (a mark is due at its end). */
  touched: boolean;
  openedMs: number;
  /** Ended (counted or dropped): a stale reference to it must not record again. */
  ended: boolean;
}

interface Span {
  ctx: number;
  begin: Ev;
  end: Ev;
}

/** One name per stream: NULL and CU_STREAM_LEGACY are the legacy stream; NULL in a per-thread
 * (`_ptsz`) call is the thread's own stream. */
function streamKey(stream: number, ptsz: boolean): number {
  if (stream === 0) return ptsz ? CU_STREAM_PER_THREAD : 0;
  return stream === 1 ? 0 : stream;
}

export class DeviceClock {
  /** context id -> stream -> its open window. */
  private readonly open = new Map<number, Map<number, Window>>();
  private readonly touched: Window[] = [];
  /** Ended windows waiting for their end event to complete. */
  private spans: Span[] = [];
  /** Free events per context, reused rather than created per window. */
  private readonly pools = new Map<number, number[]>();
  /** Per context, the latest end already counted: later spans are clipped to start after it. */
  private readonly horizon = new Map<number, Ev>();
  /** Per context, the event positions are measured from (no later than any event compared). */
  private readonly anchors = new Map<number, Ev>();
  /** Streams (`ctx:stream`) with a capture under way that this session began. */
  private readonly captures = new Set<string>();
  /** The legacy-stream window whose work has no mark after it yet (see touch). */
  private legacyDirty: Window | null = null;
  /** The window touched last: repeated work on one stream costs one compare. */
  private last: Window | null = null;
  private readonly ms = Buffer.alloc(4);
  private readonly handleOut = Buffer.alloc(8);
  private inUse = 0;
  /** Device time measured so far, ns. */
  totalNs = 0;

  constructor(
    private readonly d: EventApi,
    /** Makes a context current (recording on a default stream names the current context's);
     * false if the context is gone. */
    private readonly makeCurrent: (ctx: number) => boolean,
    /** Reports a failing event call (the clock then stops timing what it concerned). */
    private readonly onError: (call: string, code: number) => void = () => {},
    private readonly clockMs: () => number = performance.now.bind(performance),
  ) {}

  /** Work is about to be put on `stream` (the host driver's handle) in context `ctx`. */
  work(ctx: number, stream: number, ptsz: boolean): void {
    const s = streamKey(stream, ptsz);
    const l = this.last;
    if (l !== null && l.touched && l.stream === s && l.ctx === ctx) return;
    if (ctx <= 0 || this.captures.size > 0) return;
    this.touch(ctx, s);
  }

  private touch(ctx: number, s: number): void {
    const lw = this.legacyDirty;
    if (lw && (lw.stream !== s || lw.ctx !== ctx)) {
      // Other work follows work on the legacy stream: its mark goes in now, in between, since
      // one recorded there later would wait for this other work too (the legacy stream waits for
      // every blocking stream), and make the guest's next legacy-stream work wait for it.
      this.legacyDirty = null;
      this.markOne(lw); // makes lw's context current: the call about to be made needs its own
      if (lw.ctx !== ctx && !this.makeCurrent(ctx)) return;
    }
    let streams = this.open.get(ctx);
    if (!streams) {
      streams = new Map();
      this.open.set(ctx, streams);
    }
    const w = streams.get(s);
    if (w) {
      if (w.touched) {
        this.last = w;
        if (s === 0) this.legacyDirty = w;
        return;
      }
      const q = w.end ? this.d.cuEventQuery(w.end.h) : CUDA_ERROR_NOT_READY;
      if (q === CUDA_ERROR_NOT_READY) {
        // Still busy with earlier work: the new work follows it without a gap.
        w.touched = true;
        this.touched.push(w);
        this.last = w;
        if (s === 0) this.legacyDirty = w;
        return;
      }
      streams.delete(s);
      if (q === 0) this.spans.push({ ctx, begin: w.begin, end: w.end! });
      else {
        this.onError('cuEventQuery', q);
        this.drop(w);
      }
    }
    const begin = this.take(ctx);
    if (!begin) return;
    const r = this.d.cuEventRecord(begin.h, s);
    if (r !== 0) {
      this.onError('cuEventRecord', r);
      this.release(begin);
      return;
    }
    if (!this.anchors.has(ctx)) {
      begin.refs++;
      this.anchors.set(ctx, begin);
    }
    const nw: Window = { ctx, stream: s, begin, end: null, touched: true, openedMs: this.clockMs(), ended: false };
    streams.set(s, nw);
    this.touched.push(nw);
    this.last = nw;
    if (s === 0) this.legacyDirty = nw;
  }

  /** The serving run is over: a mark goes after the work each touched stream received. */
  mark(): void {
    this.last = null;
    if (this.touched.length === 0) return;
    const list = this.touched.splice(0);
    const legacy = this.legacyDirty;
    this.legacyDirty = null;
    for (const w of list) {
      w.touched = false;
      // A legacy-stream window not last touched was marked when other work followed it.
      if (w.ended || (w.stream === 0 && w !== legacy && w.end)) continue;
      this.markOne(w);
    }
  }

  private markOne(w: Window): void {
    // A default stream means the current context's, and new events belong to the current one.
    if (!this.makeCurrent(w.ctx)) {
      this.close(w, false);
      return;
    }
    if (w.end && this.clockMs() - w.openedMs >= SPLIT_AFTER_MS) {
      // Split: the part up to the last mark is counted once it completes; the rest goes on.
      this.spans.push({ ctx: w.ctx, begin: w.begin, end: w.end });
      w.begin = w.end;
      w.begin.refs++;
      w.end = null;
      w.openedMs = this.clockMs();
    }
    const e = w.end ?? this.take(w.ctx);
    if (!e) {
      this.close(w, false);
      return;
    }
    const r = this.d.cuEventRecord(e.h, w.stream);
    if (r !== 0) {
      this.onError('cuEventRecord', r);
      if (e !== w.end) this.release(e);
      this.close(w, false);
      return;
    }
    w.end = e;
  }

  /** Ends a window: counted up to its last mark (`keep`), or dropped. */
  private close(w: Window, keep: boolean): void {
    w.ended = true;
    const streams = this.open.get(w.ctx);
    if (streams?.get(w.stream) === w) streams.delete(w.stream);
    if (this.last === w) this.last = null;
    if (this.legacyDirty === w) this.legacyDirty = null;
    if (keep && w.end) this.spans.push({ ctx: w.ctx, begin: w.begin, end: w.end });
    else this.drop(w);
  }

  private drop(w: Window): void {
    this.release(w.begin);
    if (w.end) this.release(w.end);
  }

  /** Counts what has completed; returns the device time added, ns. Never waits. */
  collect(): number {
    for (const streams of this.open.values()) {
      for (const w of [...streams.values()]) {
        if (w.touched || !w.end) continue;
        const q = this.d.cuEventQuery(w.end.h);
        if (q === 0) this.close(w, true);
        else if (q !== CUDA_ERROR_NOT_READY) {
          this.onError('cuEventQuery', q);
          this.close(w, false);
        }
      }
    }
    const ctxs = new Set<number>(this.open.keys());
    for (const sp of this.spans) ctxs.add(sp.ctx);
    let addedMs = 0;
    const keep: Span[] = [];
    for (const ctx of ctxs) addedMs += this.merge(ctx, keep);
    this.spans = keep;
    const ns = Math.round(addedMs * 1e6);
    this.totalNs += ns;
    return ns;
  }

  /**
   * Adds the part of one context's completed spans not yet counted. Positions are GPU times
   * relative to the context's anchor, an event no later than any it is compared with (so no
   * negative intervals are asked of the driver). A completed span is counted only if it ends
   * before everything still running began; otherwise it waits, so that the horizon (the end of
   * what is counted) never passes time that something uncounted may still cover.
   */
  private merge(ctx: number, keep: Span[]): number {
    const anchor = this.anchors.get(ctx);
    const mine = this.spans.filter((sp) => sp.ctx === ctx);
    if (!anchor) {
      keep.push(...mine);
      return 0;
    }
    const pos = (e: Ev): number | undefined => this.elapsed(anchor, e);
    /** Earliest start of anything uncounted that has not completed. */
    let barrier = Infinity;
    const begins: Array<{ ev: Ev; at: number }> = [];
    const note = (ev: Ev): void => {
      const at = pos(ev);
      if (at === undefined) return; // not started yet: later than anything completed
      barrier = Math.min(barrier, at);
      begins.push({ ev, at });
    };
    for (const w of this.open.get(ctx)?.values() ?? []) note(w.begin);
    const rows: Array<{ sp: Span; a: number; b: number }> = [];
    for (const sp of mine) {
      const q = this.d.cuEventQuery(sp.end.h);
      if (q === CUDA_ERROR_NOT_READY) {
        keep.push(sp);
        note(sp.begin);
        continue;
      }
      const a = q === 0 ? pos(sp.begin) : undefined;
      const b = q === 0 ? pos(sp.end) : undefined;
      if (a === undefined || b === undefined) {
        if (q !== 0) this.onError('cuEventQuery', q);
        this.release(sp.begin);
        this.release(sp.end);
        continue;
      }
      rows.push({ sp, a, b });
    }
    rows.sort((p, q) => p.a - q.a);
    const hz = this.horizon.get(ctx);
    let cur = hz ? (pos(hz) ?? 0) : 0;
    let latest = hz;
    let total = 0;
    let i = 0;
    for (; i < rows.length; i++) {
      const row = rows[i]!;
      if (row.b > barrier) break;
      if (row.b > cur) {
        total += row.b - Math.max(row.a, cur);
        cur = row.b;
        latest = row.sp.end;
      }
    }
    for (const row of rows.slice(i)) {
      keep.push(row.sp);
      begins.push({ ev: row.sp.begin, at: row.a });
    }
    if (latest && latest !== hz) {
      latest.refs++;
      if (hz) this.release(hz);
      this.horizon.set(ctx, latest);
    }
    for (const row of rows.slice(0, i)) {
      this.release(row.sp.begin);
      this.release(row.sp.end);
    }
    // Move the anchor up to the earliest event still to be compared, keeping float precision
    // (the driver reports milliseconds as a float) however long the session runs.
    let next: { ev: Ev; at: number } | undefined = latest ? { ev: latest, at: cur } : undefined;
    for (const c of begins) if (!next || c.at < next.at) next = c;
    if (next && next.ev !== anchor) {
      next.ev.refs++;
      this.release(anchor);
      this.anchors.set(ctx, next.ev);
    }
    return total;
  }

  private elapsed(a: Ev, b: Ev): number | undefined {
    if (a === b) return 0;
    const r = this.d.cuEventElapsedTime(this.ms, a.h, b.h);
    if (r !== 0) {
      this.onError('cuEventElapsedTime', r);
      return undefined;
    }
    return this.ms.readFloatLE(0);
  }

  /** Before a stream is destroyed: its window ends (its events outlive it, they belong to the
   * context). */
  streamEnding(ctx: number, stream: number, ptsz: boolean): void {
    const w = this.open.get(ctx)?.get(streamKey(stream, ptsz));
    if (!w) return;
    if (w.touched) this.mark();
    this.close(w, true);
  }

  /** Before a capture begins: every window ends, and nothing is timed until it is over. */
  captureBegins(): void {
    this.mark();
    for (const streams of this.open.values()) for (const w of [...streams.values()]) this.close(w, true);
  }

  captureBegan(ctx: number, stream: number, ptsz: boolean): void {
    this.captures.add(`${ctx}:${streamKey(stream, ptsz)}`);
  }

  captureEnds(ctx: number, stream: number, ptsz: boolean): void {
    this.captures.delete(`${ctx}:${streamKey(stream, ptsz)}`);
  }

  /**
   * Waits for everything measured to complete, counts it and destroys the clock's events: before
   * a context goes away (its events go with it) and when the session ends. Returns ns added.
   */
  finish(): number {
    this.mark();
    for (const streams of this.open.values()) for (const w of [...streams.values()]) this.close(w, true);
    for (const sp of this.spans) {
      const r = this.d.cuEventSynchronize(sp.end.h);
      if (r !== 0) this.onError('cuEventSynchronize', r);
    }
    const ns = this.collect();
    for (const sp of this.spans) {
      this.release(sp.begin);
      this.release(sp.end);
    }
    this.spans = [];
    for (const hz of this.horizon.values()) this.release(hz);
    this.horizon.clear();
    for (const an of this.anchors.values()) this.release(an);
    this.anchors.clear();
    this.captures.clear();
    for (const free of this.pools.values()) for (const h of free) this.d.cuEventDestroy_v2(h);
    this.pools.clear();
    this.open.clear();
    return ns;
  }

  /** Events taken from the pools and not yet returned (for tests: nothing may leak). */
  get eventsInUse(): number {
    return this.inUse;
  }

  private take(ctx: number): Ev | undefined {
    const free = this.pools.get(ctx);
    const h = free?.pop();
    if (h !== undefined) {
      this.inUse++;
      return { h, ctx, refs: 1 };
    }
    // Timing events (flags 0): the default, and the only kind cuEventElapsedTime accepts.
    const r = this.d.cuEventCreate(this.handleOut, 0);
    if (r !== 0) {
      this.onError('cuEventCreate', r);
      return undefined;
    }
    const lo = this.handleOut.readUInt32LE(0);
    const hi = this.handleOut.readUInt32LE(4);
    this.inUse++;
    return { h: hi * 4294967296 + lo, ctx, refs: 1 };
  }

  private release(e: Ev): void {
    if (--e.refs > 0) return;
    this.inUse--;
    const free = this.pools.get(e.ctx) ?? [];
    free.push(e.h);
    this.pools.set(e.ctx, free);
  }
}
