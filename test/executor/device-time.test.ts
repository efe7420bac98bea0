// The device-time clock (src/executor/device-time.ts) against a model of an asynchronous GPU:
// work queues on streams and runs later, events complete when their stream reaches them and are
// timestamped then. These are the cases host-side call timing gets wrong on a real GPU (a lone
// tenant's launches return at once) and the ones the clock must not over-count (host pauses,
// overlapping streams), plus splitting, captures, stream and context ends, errors and leaks.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { DeviceClock, deviceTimeMode, type EventApi } from '../../src/executor/device-time.js';
import { ExecContext } from '../../src/executor/context.js';
import type { DriverApi } from '../../src/executor/gen/ffi.js';
import { OPS } from '../../src/executor/gen/dispatch.js';
import { OP } from '../../src/protocol/gen/ops.js';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';

const NOT_READY = 600;
const INVALID_HANDLE = 400;

/** A GPU whose streams run queued work in order, on a virtual clock in ms. */
class ModelGpu implements EventApi {
  now = 0;
  current = 1;
  private readonly busy = new Map<string, number>();
  private readonly events = new Map<number, { ctx: number; at: number | undefined }>();
  private nextHandle = 0x5000;
  records = 0;
  created = 0;
  destroyed = 0;
  failRecord = false;
  /** What happened on which stream, in order. */
  log: string[] = [];

  /** Stream 0 and 2 are the current context's default streams. */
  private key(s: number): string {
    return s <= 2 ? `${this.current}:${s}` : `${s}`;
  }

  /** Queues `ms` of work on a stream now. */
  enqueue(s: number, ms: number): void {
    const k = this.key(s);
    this.log.push(`work ${s}`);
    const start = Math.max(this.now, this.busy.get(k) ?? 0);
    this.busy.set(k, start + ms);
  }

  cuEventCreate(out: Buffer | null, flags: number): number {
    assert.equal(flags, 0, 'timing events');
    const h = this.nextHandle++;
    out!.writeUInt32LE(h, 0);
    out!.writeUInt32LE(1, 4); // a handle above 2^32, as real ones are
    this.events.set(h + 2 ** 32, { ctx: this.current, at: undefined });
    this.created++;
    return 0;
  }
  cuEventRecord(h: number, s: number): number {
    const e = this.events.get(h);
    if (!e) return INVALID_HANDLE;
    if (this.failRecord) return 999;
    this.records++;
    this.log.push(`event ${s}`);
    e.at = Math.max(this.now, this.busy.get(this.key(s)) ?? 0);
    return 0;
  }
  cuEventQuery(h: number): number {
    const e = this.events.get(h);
    if (!e) return INVALID_HANDLE;
    return e.at === undefined || e.at <= this.now ? 0 : NOT_READY;
  }
  cuEventSynchronize(h: number): number {
    const e = this.events.get(h);
    if (!e) return INVALID_HANDLE;
    if (e.at !== undefined && e.at > this.now) this.now = e.at;
    return 0;
  }
  cuEventElapsedTime(out: Buffer | null, a: number, b: number): number {
    const ea = this.events.get(a);
    const eb = this.events.get(b);
    if (!ea || !eb || ea.at === undefined || eb.at === undefined) return INVALID_HANDLE;
    if (ea.at > this.now || eb.at > this.now) return NOT_READY;
    assert.ok(eb.at >= ea.at, 'the clock never asks for a negative interval');
    out!.writeFloatLE(eb.at - ea.at, 0);
    return 0;
  }
  cuEventDestroy_v2(h: number): number {
    if (!this.events.delete(h)) return INVALID_HANDLE;
    this.destroyed++;
    return 0;
  }
}

function setup(): { gpu: ModelGpu; clock: DeviceClock; errors: string[] } {
  const gpu = new ModelGpu();
  const errors: string[] = [];
  const clock = new DeviceClock(gpu, (ctx) => {
    gpu.current = ctx;
    return true;
  }, (call, code) => errors.push(`${call}:${code}`), () => gpu.now);
  return { gpu, clock, errors };
}

/** One serving run: kernels of the given lengths (ms) on a stream of the current context. */
function run(gpu: ModelGpu, clock: DeviceClock, stream: number, kernels: number[], ctx = gpu.current): void {
  gpu.current = ctx;
  for (const ms of kernels) {
    clock.work(ctx, stream, false);
    gpu.enqueue(stream, ms);
  }
  clock.mark();
}

const ms = (ns: number): number => ns / 1e6;

test('a lone tenant\'s asynchronous kernels are counted when the GPU has run them', () => {
  const { gpu, clock } = setup();
  run(gpu, clock, 0x77, [5, 5, 5, 5, 5, 5, 5, 5, 5, 5]); // launches return at once
  gpu.now = 20;
  assert.equal(clock.collect(), 0, 'nothing is counted while the stream still runs');
  gpu.now = 60;
  clock.collect();
  assert.equal(ms(clock.totalNs), 50);
  assert.equal(gpu.records, 2, 'one begin and one mark for the whole run');
});

test('pauses on the host are not device time; back-to-back runs are one window', () => {
  const { gpu, clock } = setup();
  run(gpu, clock, 0, [5]);
  gpu.now = 100; // the guest does something else for 95 ms
  run(gpu, clock, 0, [5]);
  gpu.now = 200;
  clock.collect();
  assert.equal(ms(clock.totalNs), 10);

  const b = setup();
  run(b.gpu, b.clock, 0, [10]);
  b.gpu.now = 2; // the next run arrives while the stream is still busy
  run(b.gpu, b.clock, 0, [10]);
  b.gpu.now = 30;
  b.clock.collect();
  assert.equal(ms(b.clock.totalNs), 20);
  assert.equal(b.gpu.records, 3, 'the second run re-records the mark only');
});

test('overlapping streams of one context count once; contexts add up', () => {
  const { gpu, clock } = setup();
  gpu.current = 1;
  clock.work(1, 0x10, false);
  gpu.enqueue(0x10, 10);
  clock.work(1, 0x11, false);
  gpu.enqueue(0x11, 10);
  clock.mark();
  gpu.now = 5;
  run(gpu, clock, 0x12, [10]); // 5..15
  gpu.now = 50;
  clock.collect();
  assert.equal(ms(clock.totalNs), 15, 'union of [0,10], [0,10], [5,15]');

  const b = setup();
  run(b.gpu, b.clock, 0, [10], 1);
  run(b.gpu, b.clock, 0, [10], 2); // another context (another GPU), same time
  b.gpu.now = 50;
  b.clock.collect();
  assert.equal(ms(b.clock.totalNs), 20);
});

test('a short span that completes while a long one still runs is not lost to the horizon', () => {
  const { gpu, clock } = setup();
  run(gpu, clock, 0x20, [100]); // 0..100
  run(gpu, clock, 0x21, [10]); // 0..10
  gpu.now = 15;
  run(gpu, clock, 0x21, [5]); // 15..20, closes the first 0x21 window
  gpu.now = 25;
  clock.collect();
  gpu.now = 40;
  run(gpu, clock, 0x21, [5]); // 40..45
  gpu.now = 200;
  clock.collect();
  assert.equal(ms(clock.totalNs), 100, 'everything lies within the long kernel');
});

test('a mark on the legacy stream goes in before other streams\' work, never after it', () => {
  // The legacy stream waits for every blocking stream: a mark recorded there after other streams'
  // work would wait for that work, and make the guest's next legacy-stream work wait for it.
  const { gpu, clock } = setup();
  clock.work(1, 0, false);
  gpu.enqueue(0, 5);
  clock.work(1, 0x60, false);
  gpu.enqueue(0x60, 5);
  clock.work(1, 0x61, false);
  gpu.enqueue(0x61, 5);
  clock.mark();
  assert.deepEqual(gpu.log, ['event 0', 'work 0', 'event 0', 'event 96', 'work 96', 'event 97', 'work 97', 'event 96', 'event 97']);
  gpu.log = [];
  gpu.now = 1; // the same streams again, the legacy stream last this time
  clock.work(1, 0x60, false);
  gpu.enqueue(0x60, 5);
  clock.work(1, 0, false);
  gpu.enqueue(0, 5);
  clock.mark();
  assert.deepEqual(gpu.log, ['work 96', 'work 0', 'event 96', 'event 0']);
  gpu.now = 100;
  clock.collect();
  assert.equal(ms(clock.totalNs), 10, 'the legacy stream ran 0..10; the others lie within it');
});

test('a stream that never runs dry is counted as it goes', () => {
  const { gpu, clock } = setup();
  for (let t = 0; t < 3000; t += 100) {
    gpu.now = t;
    run(gpu, clock, 0x30, [150]); // always more queued than run
    clock.collect();
  }
  assert.ok(ms(clock.totalNs) >= 1500, `split windows are counted before the stream stops (${ms(clock.totalNs)} ms)`);
  gpu.now = 10_000;
  clock.collect();
  assert.equal(ms(clock.totalNs), 30 * 150);
});

test('nothing is recorded while a capture is under way; stream and context ends count what ran', () => {
  const { gpu, clock } = setup();
  run(gpu, clock, 0x40, [10]);
  clock.captureBegins();
  clock.captureBegan(1, 0x41, false);
  const before = gpu.records;
  clock.work(1, 0x41, false); // captured: becomes a graph node, not work
  clock.work(1, 0x40, false);
  clock.mark();
  assert.equal(gpu.records, before, 'no event touches a stream during capture');
  clock.captureEnds(1, 0x41, false);
  gpu.now = 20;
  run(gpu, clock, 0x40, [10]); // 20..30
  clock.work(1, 0x40, false);
  gpu.enqueue(0x40, 5); // 30..35, then the stream is destroyed in the same run
  clock.streamEnding(1, 0x40, false);
  run(gpu, clock, 0x42, [7]); // 20..27
  const added = clock.finish(); // waits for everything
  assert.ok(added > 0);
  assert.equal(ms(clock.totalNs), 10 + 15);
  assert.equal(clock.eventsInUse, 0);
  assert.equal(gpu.created, gpu.destroyed, 'every event the clock created is destroyed');
});

test('failing event calls are reported, nothing is counted for them and no event leaks', () => {
  const { gpu, clock, errors } = setup();
  run(gpu, clock, 0x50, [10]);
  gpu.failRecord = true;
  run(gpu, clock, 0x51, [10]);
  gpu.failRecord = false;
  gpu.now = 50;
  clock.finish();
  assert.deepEqual(errors, ['cuEventRecord:999']);
  assert.equal(ms(clock.totalNs), 10);
  assert.equal(clock.eventsInUse, 0);
  assert.equal(gpu.created, gpu.destroyed);
});

test('the mode: events on a real GPU, host time on softgpu, unless chosen', () => {
  assert.equal(deviceTimeMode('auto', 'cuda'), 'events');
  assert.equal(deviceTimeMode('auto', 'softgpu'), 'host');
  assert.equal(deviceTimeMode('events', 'softgpu'), 'events');
  assert.equal(deviceTimeMode('host', 'cuda'), 'host');
});

test('generated and hand-written handlers put their work on the clock, per-thread streams apart', () => {
  const seen: Array<[number, boolean]> = [];
  const d = new Proxy({}, { get: () => () => 0 }) as unknown as DriverApi;
  const x = new ExecContext(d, [0]);
  x.work = (s, ptsz) => void seen.push([s, ptsz]);
  const p = x.newHandle('stream', 0xabc);
  x.allocs.add(0x1000, 64);
  const args = (...v: bigint[]): Buffer => {
    const b = Buffer.alloc(v.length * 8);
    v.forEach((n, i) => b.writeBigUInt64LE(n, i * 8));
    return b;
  };
  const memset = (): Buffer => {
    const b = Buffer.alloc(28);
    b.writeBigUInt64LE(0x1000n, 0);
    b.writeUInt32LE(7, 8);
    b.writeBigUInt64LE(16n, 12);
    b.writeBigUInt64LE(BigInt(p), 20);
    return b;
  };
  const call = (op: number, b: Buffer): number => OPS.get(op)!.run(x, new Reader(b), new Writer());
  assert.equal(call(OP.cuMemsetD8Async, memset()), 0);
  assert.equal(call(OP.cuMemsetD8Async_ptsz, memset()), 0);
  assert.equal(call(OP.cuMemcpyDtoD_v2, args(0x1000n, 0x1010n, 8n)), 0);
  assert.equal(call(OP.cuMemcpyDtoD_v2_ptds, args(0x1000n, 0x1010n, 8n)), 0);
  assert.deepEqual(seen, [[0xabc, false], [0xabc, true], [0, false], [0, true]]);
});
