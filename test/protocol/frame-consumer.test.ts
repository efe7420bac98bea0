// The frame parser's stop-and-resume mode (the executor's serving loop): a consumer that is not
// ready, or refuses a call, stops the parser right before that frame; everything from there on is
// delivered on resume(), in order, exactly once, however the bytes were chunked and whether they
// arrived before or after the stop.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Flag, FrameType } from '../../src/protocol/constants.js';
import { FrameParser, READ_MAX, encodeFrame, type FrameConsumer } from '../../src/protocol/frame.js';

interface Seen {
  type: number;
  id: number;
  payload: string;
}

/** A consumer that says no whenever `gate` says so, and records what it took. */
function recorder(gate: (type: number, id: number) => 'take' | 'not-ready' | 'refuse'): { c: FrameConsumer; seen: Seen[] } {
  const seen: Seen[] = [];
  const c: FrameConsumer = {
    // Ids start at 1: 0 stands for "the next frame, whichever it is".
    ready: (type) => gate(type, 0) !== 'not-ready',
    call: (_flags, id, _op, buf, start, end) => {
      if (gate(FrameType.CALL, id) === 'refuse') return false;
      seen.push({ type: FrameType.CALL, id, payload: buf.toString('latin1', start, end) });
      return true;
    },
    frame: (f) => {
      seen.push({ type: f.type, id: f.id, payload: f.payload.toString('latin1') });
    },
  };
  return { c, seen };
}

function stream(): { bytes: Buffer; expected: Seen[] } {
  const frames: Seen[] = [];
  const parts: Buffer[] = [];
  for (let i = 1; i <= 12; i++) {
    const type = i % 5 === 0 ? FrameType.PING : FrameType.CALL;
    // Mixed sizes: empty, small, and one larger than a typical chunk.
    const payload = i === 7 ? 'x'.repeat(300) : i % 4 === 0 ? '' : `payload-${i}`;
    parts.push(encodeFrame(type, type === FrameType.CALL ? Flag.NOREPLY : 0, i, 0x520, Buffer.from(payload, 'latin1')));
    frames.push({ type, id: i, payload });
  }
  return { bytes: Buffer.concat(parts), expected: frames };
}

test('a stop before any frame, at any chunking, delivers every frame once and in order after resume', () => {
  const { bytes, expected } = stream();
  for (const chunk of [1, 7, 16, 17, 64, 333, bytes.length]) {
    for (let stopAt = 1; stopAt <= expected.length; stopAt++) {
      for (const how of ['not-ready', 'refuse'] as const) {
        let blocked = true;
        const { c, seen } = recorder((type, id) => {
          if (!blocked) return 'take';
          // 'refuse' can only be said to a call; a PING at stopAt is stopped by readiness instead.
          if (how === 'refuse' && type === FrameType.CALL) return id === stopAt ? 'refuse' : 'take';
          return seen.length + 1 === stopAt ? 'not-ready' : 'take';
        });
        const p = new FrameParser({ reuseBodies: true });
        let stoppedOnce = false;
        for (let at = 0; at < bytes.length; at += chunk) {
          // Chunks are copied into a reused scratch buffer, as the executor's socket does.
          const scratch = Buffer.alloc(chunk, 0xee);
          const n = bytes.copy(scratch, 0, at, Math.min(at + chunk, bytes.length));
          const done = p.feed(scratch.subarray(0, n), c);
          scratch.fill(0xdd); // what the parser kept must not be a view of this
          if (!done) stoppedOnce = true;
          assert.equal(done, !p.stopped);
        }
        const label = `chunk ${chunk}, stop at ${stopAt} (${how})`;
        if (how === 'not-ready' || expected[stopAt - 1]!.type === FrameType.CALL) {
          assert.ok(stoppedOnce, label);
          assert.equal(seen.length, stopAt - 1, label);
          // Everything from the declined frame on waited, each byte counted once.
          assert.equal(p.keptBytes, bytes.length - offsetOf(expected, stopAt), label);
        }
        blocked = false;
        const kept = p.keptBytes;
        assert.equal(p.resume(c), true, label);
        assert.equal(p.keptBytes, kept, `${label}: resuming keeps nothing new`);
        assert.deepEqual(seen, expected, label);
        assert.equal(p.stopped, false);
        assert.equal(p.idle, true, label);
      }
    }
  }
});

/** A consumer of calls only, which takes them while `gate.open`, recording their ids. */
function gatedCalls(): { c: FrameConsumer; ids: number[]; gate: { open: boolean } } {
  const ids: number[] = [];
  const gate = { open: false };
  const c: FrameConsumer = {
    ready: () => gate.open,
    call: (_f, id) => {
      ids.push(id);
      return true;
    },
    frame: () => assert.fail('only calls were sent'),
  };
  return { c, ids, gate };
}

/** Where frame `id` (1-based) of stream() starts. */
function offsetOf(frames: Seen[], id: number): number {
  return frames.slice(0, id - 1).reduce((n, f) => n + encodeFrame(f.type, 0, f.id, 0, Buffer.from(f.payload, 'latin1')).length, 0);
}

test('a call refused again on resume stays first until it is taken', () => {
  const { bytes, expected } = stream();
  let refusals = 3;
  const { c, seen } = recorder((type, id) => (type === FrameType.CALL && id === 2 && refusals-- > 0 ? 'refuse' : 'take'));
  const p = new FrameParser();
  assert.equal(p.feed(bytes, c), false);
  assert.equal(p.resume(c), false);
  assert.equal(p.resume(c), false);
  assert.deepEqual(seen.map((s) => s.id), [1]);
  assert.equal(p.resume(c), true);
  assert.deepEqual(seen, expected);
  assert.equal(p.keptBytes, bytes.length - offsetOf(expected, 2), 'refusals count the bytes once');
});

test('a frame begun from the backlog and declined once its body is read directly is counted once', () => {
  // The executor's staging figure (keptBytes): a split frame whose start came out of the backlog
  // (already counted) and whose rest was read straight into its body must not count that start twice.
  const big = Buffer.alloc(200 * 1024, 0x5a);
  const bytes = Buffer.concat([encodeFrame(FrameType.CALL, 0, 1, 0x300, Buffer.from('first')), encodeFrame(FrameType.CALL, 0, 2, 0x300, big)]);
  const { c, ids, gate } = gatedCalls();
  const p = new FrameParser({ reuseBodies: true });
  assert.equal(p.feed(bytes.subarray(0, 1000), c), false);
  assert.equal(p.keptBytes, 1000);
  gate.open = true;
  assert.equal(p.resume(c), true);
  assert.deepEqual(ids, [1]);
  gate.open = false;
  const scratch = Buffer.alloc(64 * 1024);
  let at = 1000;
  let direct = 0;
  while (at < bytes.length) {
    const target = p.nextReadTarget(scratch);
    if (target.buffer !== scratch.buffer) direct++;
    const n = bytes.copy(target, 0, at, Math.min(at + target.length, bytes.length));
    at += n;
    p.feedRead(target, n, c);
  }
  assert.ok(direct > 0, 'the body was read in place');
  assert.equal(p.stopped, true);
  assert.equal(p.keptBytes, bytes.length);
  gate.open = true;
  assert.equal(p.resume(c), true);
  assert.deepEqual(ids, [1, 2]);
  assert.equal(p.keptBytes, bytes.length);
});

test('reads that land while stopped go straight behind the backlog and are served after it', () => {
  const { bytes, expected } = stream();
  let open = false;
  const { c, seen } = recorder(() => (open || seen.length < 2 ? 'take' : 'not-ready'));
  const p = new FrameParser({ reuseBodies: true });
  const scratch = Buffer.alloc(100);
  let at = 0;
  let readsWhileStopped = 0;
  while (at < bytes.length) {
    const wasStopped = p.stopped;
    const target = p.nextReadTarget(scratch);
    if (wasStopped) {
      assert.notEqual(target.buffer, scratch.buffer, 'a stopped parser reads into its own backlog');
      readsWhileStopped++;
    }
    const n = bytes.copy(target, 0, at, Math.min(at + 100, bytes.length));
    at += n;
    p.feedRead(target, n, c);
  }
  assert.ok(readsWhileStopped > 0);
  assert.equal(seen.length, 2);
  assert.ok(p.backlogBytes > 0);
  open = true;
  assert.equal(p.resume(c), true);
  assert.deepEqual(seen, expected);
  assert.equal(p.backlogBytes, 0);
});

test('a frame completed by a direct body read while the consumer is not ready waits for resume', () => {
  const big = Buffer.alloc(200 * 1024, 0x5a);
  const bytes = Buffer.concat([encodeFrame(FrameType.CALL, 0, 1, 0x300, big), encodeFrame(FrameType.CALL, 0, 2, 0x300, Buffer.from('after'))]);
  let open = false;
  const ids: number[] = [];
  const c: FrameConsumer = {
    ready: () => open,
    call: (_f, id, _op, buf, start, end) => {
      if (id === 1) assert.ok(buf.subarray(start, end).equals(big));
      ids.push(id);
      return true;
    },
    frame: () => assert.fail('only calls were sent'),
  };
  const p = new FrameParser({ reuseBodies: true });
  const scratch = Buffer.alloc(64 * 1024);
  let at = 0;
  while (at < bytes.length) {
    const target = p.nextReadTarget(scratch);
    const n = bytes.copy(target, 0, at, Math.min(at + target.length, bytes.length));
    at += n;
    p.feedRead(target, n, c);
  }
  assert.equal(p.stopped, true);
  assert.deepEqual(ids, []);
  open = true;
  assert.equal(p.resume(c), true);
  assert.deepEqual(ids, [1, 2]);
});

test('a read into the backlog that lands after the parser was resumed and emptied is still served', () => {
  // Node's onread asks for the next buffer right after a read; the serving loop may resume (and
  // empty) the parser before that buffer is filled.
  const first = encodeFrame(FrameType.CALL, 0, 1, 0x300, Buffer.alloc(100 * 1024, 1));
  const second = encodeFrame(FrameType.CALL, 0, 2, 0x300, Buffer.from('second'));
  const { c, ids, gate } = gatedCalls();
  const p = new FrameParser({ reuseBodies: true });
  const scratch = Buffer.alloc(64 * 1024);
  let at = 0;
  while (at < first.length) {
    const target = p.nextReadTarget(scratch);
    const n = first.copy(target, 0, at, Math.min(at + target.length, first.length));
    at += n;
    p.feedRead(target, n, c);
  }
  assert.equal(p.stopped, true, 'the big frame waits, complete');
  const next = p.nextReadTarget(scratch); // asked for now, filled later
  gate.open = true;
  assert.equal(p.resume(c), true);
  assert.deepEqual(ids, [1]);
  const n = second.copy(next);
  assert.equal(p.feedRead(next, n, c), true);
  assert.deepEqual(ids, [1, 2]);
  assert.equal(p.stopped, false);
});

test('staging: while stopped, reads land behind the backlog at most READ_MAX at a time, in one buffer sized for the hint, let go once served', () => {
  const p = new FrameParser({ reuseBodies: true });
  p.backlogHint = 8 * READ_MAX;
  let open = false;
  const seen: number[] = [];
  const c: FrameConsumer = {
    ready: () => open,
    call: (_f, id) => {
      seen.push(id);
      return true;
    },
    frame: () => {},
  };
  const scratch = Buffer.alloc(64 * 1024);
  // 24 CALLs of 256 KiB arrive while the consumer is not ready (the session waits for its slice).
  const bytes = Buffer.concat(Array.from({ length: 24 }, (_, i) => encodeFrame(FrameType.CALL, 0, i + 1, 7, Buffer.alloc(256 * 1024, i))));
  const targets = new Set<ArrayBufferLike>();
  let at = 0;
  while (at < bytes.length) {
    const t = p.nextReadTarget(scratch);
    assert.ok(t.length <= READ_MAX, `a read of ${t.length} bytes`);
    const n = Math.min(t.length, bytes.length - at);
    bytes.copy(t, 0, at, at + n);
    at += n;
    p.feedRead(t, n, c);
    if (p.stopped && t.buffer.byteLength > READ_MAX) targets.add(t.buffer);
  }
  assert.deepEqual(seen, []);
  assert.ok(p.backlogBytes > 4 * READ_MAX, 'the frames wait in the backlog');
  assert.equal(targets.size, 1, 'past its first small buffers, the backlog grew to its hint at once');
  assert.equal(p.releaseBacklog(), false, 'a backlog that holds bytes is kept');
  open = true;
  assert.equal(p.resume(c), true);
  assert.deepEqual(seen, Array.from({ length: 24 }, (_, i) => i + 1), 'every frame, in order');
  assert.equal(p.releaseBacklog(), true);
  assert.equal(p.backlogBytes, 0);
});

test('bytes fed from elsewhere while a read holds a stale target (the hot path\'s hand-over) are not written over', () => {
  // The reader's next target is taken while the parser is stopped (a backlog view); the loop then
  // resumes and empties the parser, stops reading, and later bytes arrive from the hot path while
  // the consumer is not ready (they go to the backlog); then the stale target is filled.
  const held = encodeFrame(FrameType.CALL, 0, 1, 0x300, Buffer.from('first'));
  const taken = Buffer.concat([encodeFrame(FrameType.CALL, 0, 2, 0x300, Buffer.from('handed over')), encodeFrame(FrameType.CALL, 0, 3, 0x300, Buffer.alloc(80 * 1024, 3))]);
  let open = false;
  const seen: Array<[number, number]> = [];
  const c: FrameConsumer = {
    ready: () => open,
    call: (_f, id, _op, buf, start, end) => {
      seen.push([id, end - start]);
      return true;
    },
    frame: () => assert.fail('only calls were sent'),
  };
  const p = new FrameParser({ reuseBodies: true });
  const scratch = Buffer.alloc(64 * 1024);
  let target = p.nextReadTarget(scratch);
  held.copy(target);
  p.feedRead(target, held.length, c); // stops: not ready
  target = p.nextReadTarget(scratch); // a view of the backlog, behind the frame held
  open = true;
  assert.equal(p.resume(c), true);
  assert.equal(p.idle, true);
  open = false;
  p.forgetReadTarget();
  const split = 40 * 1024;
  p.feed(taken.subarray(0, split), c);
  // The stale target is filled with what follows on the connection.
  const rest = taken.subarray(split);
  const n = rest.copy(target);
  p.feedRead(target, n, c);
  if (n < rest.length) p.feed(rest.subarray(n), c);
  open = true;
  p.resume(c);
  assert.deepEqual(seen, [[1, 5], [2, 11], [3, 80 * 1024]]);
});
