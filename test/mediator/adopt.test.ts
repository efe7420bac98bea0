// Rebuilding the session registry and the quota ledger from what adopted executors report
// (src/mediator/sessions.ts, src/mediator/ledger.ts, docs/executors.md): a report that is sound is
// taken over and its reservation counts toward the VM's quota; hostile or stale ones (an unknown
// VM, an id never handed out or already running, foreign GPUs, negative or fractional numbers,
// unknown fields) are refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { adoptMessageSchema, fromExecutorSchema, type AdoptMessage, type ToExecutor } from '../../src/common/executor-ipc.js';
import { QuotaLedger } from '../../src/mediator/ledger.js';
import { SessionRegistry, type AdoptContext } from '../../src/mediator/sessions.js';
import type { ExecutorHandle } from '../../src/mediator/executors.js';
import type { GuestSession } from '../../src/mediator/connection.js';
import type { Vm } from '../../src/store/index.js';

const MIB = 1 << 20;

function report(over: Partial<AdoptMessage> = {}): AdoptMessage {
  return {
    type: 'adopt', pid: 4242, backend: 'softgpu', sessionId: 7, vm: 'a', deviceMap: [0], minor: 3,
    guest: { pid: 99, hostname: 'guest', program: 'prog', byToken: true, startedAt: new Date(0).toISOString() },
    quota: { reserved: 300 * MIB, held: 256 * MIB, pending: [] },
    usage: { calls: 10, asyncCalls: 2, bytesIn: 5, bytesOut: 6, busyNs: 1000, memoryNow: 256 * MIB, peakMemory: 256 * MIB },
    wanting: false,
    ...over,
  };
}

function vm(name: string, memoryQuota: number | null): Vm {
  return { name, memoryQuota } as Vm;
}

const ctx: AdoptContext = {
  findVm: (name) => (name === 'a' ? vm('a', 512 * MIB) : name === 'b' ? vm('b', null) : undefined),
  backend: 'softgpu',
  ordinals: new Set([0, 1]),
  lastSessionId: 100,
};

test('the adopt schema refuses negative, fractional, oversized and unknown fields', () => {
  assert.ok(adoptMessageSchema.safeParse(report()).success);
  assert.ok(fromExecutorSchema.safeParse(report()).success, 'it is one of the executor messages');
  const bad: Array<[string, unknown]> = [
    ['negative held', { ...report(), quota: { reserved: 1, held: -1, pending: [] } }],
    ['negative reservation', { ...report(), quota: { reserved: -5, held: 0, pending: [] } }],
    ['fractional bytes', { ...report(), quota: { reserved: 1.5, held: 0, pending: [] } }],
    ['a zero pending request', { ...report(), quota: { reserved: 1, held: 0, pending: [0] } }],
    ['negative session id', report({ sessionId: -7 })],
    ['session id 0', report({ sessionId: 0 })],
    ['negative usage', { ...report(), usage: { ...report().usage, calls: -1 } }],
    ['negative GPU', report({ deviceMap: [-1] })],
    ['no GPU', report({ deviceMap: [] })],
    ['an unknown field', { ...report(), extra: true }],
    ['a bad start time', { ...report(), guest: { ...report().guest, startedAt: 'yesterday' } }],
  ];
  for (const [what, m] of bad) assert.ok(!adoptMessageSchema.safeParse(m).success, what);
});

test('the registry adopts a sound report and refuses stale or hostile ones', () => {
  const r = new SessionRegistry();
  assert.deepEqual(r.checkAdopt(report(), ctx).ok, true);
  const refused = (m: AdoptMessage, why: RegExp): void => {
    const v = r.checkAdopt(m, ctx);
    assert.ok(!v.ok, `refused: ${why}`);
    assert.match(v.reason, why);
  };
  refused(report({ vm: 'gone' }), /no longer exists/);
  refused(report({ sessionId: 101 }), /never handed out/);
  refused(report({ deviceMap: [0, 5] }), /GPU 5/);
  refused(report({ backend: 'cuda' }), /runs on cuda, this host's mediator on softgpu/);
  refused(report({ quota: { reserved: 10, held: 20, pending: [] } }), /holding 20 bytes of a 10-byte reservation/);
  // Once session 7 runs, a second report of it, or another session claiming its executor, is refused.
  r.sessions.set(7, { id: 7 } as GuestSession);
  r.executors.set(7, { pid: 4242 } as ExecutorHandle);
  refused(report(), /already running/);
  refused(report({ sessionId: 8 }), /executor 4242 already serves/);
  assert.equal(r.checkAdopt(report({ sessionId: 8, pid: 4243 }), ctx).ok, true);
});

test('a rebuilt ledger counts adopted reservations toward the quota', () => {
  const sent: Array<[number, ToExecutor]> = [];
  const refusals: number[] = [];
  const quotas: Record<string, number | null> = { a: 512 * MIB, b: null };
  const l = new QuotaLedger({
    quota: (v) => quotas[v] ?? null,
    send: (id, m) => (sent.push([id, m]), true),
    refused: (id) => refusals.push(id),
  });
  l.adopt(7, 'a', 300 * MIB, 256 * MIB);
  l.adopt(8, 'b', null, 64 * MIB);
  assert.equal(l.vmReserved('a'), 300 * MIB);
  assert.equal(l.vmUsed('a'), 256 * MIB);
  assert.equal(l.vmUsed('b'), 64 * MIB);
  assert.throws(() => l.adopt(7, 'a', 1, 0), /already in the ledger/, 'a duplicate id');
  assert.throws(() => l.adopt(9, 'a', -1, 0), /non-negative/);
  assert.throws(() => l.adopt(9, 'a', 10, 0.5), /non-negative/);
  // A new session of the VM: 300 MiB does not fit beside the adopted one's 256 MiB held.
  l.open(20, 'a');
  sent.length = 0;
  l.reserve(20, 300 * MIB);
  assert.deepEqual(sent.find(([id, m]) => id === 20 && m.type === 'quota')?.[1], { type: 'quota', granted: 0 });
  assert.deepEqual(refusals, [20]);
  // 240 MiB fits once the adopted session gives back its slack (44 MiB): it is asked (trim), and
  // its answer decides.
  sent.length = 0;
  l.reserve(20, 240 * MIB);
  assert.deepEqual(sent.filter(([, m]) => m.type === 'trim').map(([id]) => id), [7]);
  assert.ok(!sent.some(([id, m]) => id === 20 && m.type === 'quota'), 'the request waits for the trim');
  l.release(7, 44 * MIB);
  assert.deepEqual(sent.find(([id, m]) => id === 20 && m.type === 'quota')?.[1], { type: 'quota', granted: 256 * MIB });
  // The adopted session ends: its memory is the VM's again.
  l.drop(7);
  assert.equal(l.vmUsed('a'), 0);
  assert.equal(l.vmReserved('a'), 256 * MIB);
});
