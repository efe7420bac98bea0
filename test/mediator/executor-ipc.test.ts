// The mediator-executor channels (src/common/executor-ipc.ts: the session's handoff over IPC, the
// rest over the control socket): sends never throw, even to an executor that is exiting or gone
// (the crash when many sessions end at once); each side ends an executor whose messages fail
// validation. The pool runs a stand-in executor script, so these need no driver; the tests named
// "the executor ..." run the real executor on softgpu (`make native`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';

import { fromExecutorSchema, sendIpc, toExecutorSchema, type IpcEnd, type SessionMessage } from '../../src/common/executor-ipc.js';
import { EXECUTOR_MAIN } from '../../src/executor/launch-form.cjs';
import { ExecutorPool, type ExecutorEnd } from '../../src/mediator/executors.js';
import { canRestorePriority, SPARE_NICE } from '../../src/mediator/spare-priority.js';

/** What every stand-in does first: connects to the pool's control socket. */
const CONNECT = `
import net from 'node:net';
const control = net.connect(process.argv[process.argv.indexOf('--control') + 1]);
control.on('error', () => {});
const say = (m, cb) => control.write(JSON.stringify(m) + '\\n', cb);
`;

/** Says it is ready; then, by the session's VM name: `exit` leaves at the first steering message
 * (as an executor whose guest went away), `garbage` answers the session with a malformed message. */
const STAND_IN = `${CONNECT}
process.on('message', (m) => {
  if (m.type === 'session' && m.vm === 'garbage') say({ type: 'reserve', bytes: -1 });
});
control.on('data', () => process.exit(0));
say({ type: 'ready', pid: process.pid });
`;

function session(vm: string): SessionMessage {
  return {
    type: 'session', sessionId: 7, vm, deviceMap: [0], memoryQuota: null, imageDir: '/nonexistent', imageLimits: { perVm: 1 << 20, total: 1 << 24 },
    scheduled: true, vmUsed: 0, stagingShare: 1 << 22, minor: 3, copyLane: true,
    guest: { pid: 1, hostname: 'h', program: 'p', byToken: false, startedAt: new Date().toISOString() },
  };
}

interface Fixture {
  pool: ExecutorPool;
  dir: string;
  logs: Array<Record<string, unknown>>;
  guest: () => Promise<net.Socket>;
  /** The guest's own end of the last connection guest() made. */
  client: () => net.Socket;
  close: () => Promise<void>;
}

/** A pool of stand-in executors (`standIn`), a log that keeps its lines, and guest connections on
 * loopback. */
async function fixture(standIn = STAND_IN, spares = 0): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-ipc-'));
  const script = join(dir, 'stand-in.mjs');
  writeFileSync(script, standIn);
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => logs.push(JSON.parse(s) as Record<string, unknown>) });
  const pool = new ExecutorPool('softgpu', log, { control: join(dir, 'executors.sock'), cancelDir: join(dir, 'executors') }, spares, 'auto', script);
  await pool.start();
  const accepted: net.Socket[] = [];
  const clients: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  const path = join(dir, 'guest.sock');
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    pool,
    dir,
    logs,
    guest: async () => {
      const n = accepted.length;
      clients.push(net.connect(path));
      await until('the guest connection is accepted', () => accepted.length > n);
      return accepted[n]!;
    },
    client: () => clients.at(-1)!,
    close: async () => {
      for (const c of clients) c.destroy();
      await pool.close();
      // Not awaited: a server whose connections went to a child process that has exited never
      // hears that they closed.
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits for `pred` (a bounded wait, not a timing check). */
async function until(what: string, pred: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !pred(); i++) await sleep(10);
  assert.ok(pred(), what);
}

/** The executors the pool started, in order, with why (its 'executor started' log lines). */
function starts(f: Fixture): Array<{ pid: number; purpose: string }> {
  return f.logs.filter((l) => l.msg === 'executor started').map((l) => ({ pid: l.executorPid as number, purpose: l.purpose as string }));
}

/** The nice value of each thread of `pid` (/proc/PID/task/TID/stat, field 19). */
function niceOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

test('attaches waiting for executors get theirs started before the spare is refilled', async () => {
  const f = await fixture(STAND_IN, 1);
  try {
    const guests = [await f.guest(), await f.guest(), await f.guest()];
    // All three at once: the first takes the spare, the others find none.
    const handles = await Promise.all(guests.map((g) => f.pool.attach(session('idle'), g, () => {}, () => {})));
    await until('the spare is refilled', () => starts(f).length === 4);
    assert.deepEqual(starts(f).map((s) => s.purpose), ['spare', 'attach', 'attach', 'spare']);
    assert.deepEqual(handles.map((h) => h.pid), starts(f).slice(0, 3).map((s) => s.pid), 'each attach got the executor started for it');
  } finally {
    await f.close();
  }
});

test('a spare runs at a lower priority until a session takes it', { skip: !canRestorePriority() && 'this user may not raise a process\'s priority back (needs CAP_SYS_NICE or RLIMIT_NICE), so spares start at normal priority' }, async () => {
  const f = await fixture(STAND_IN, 1);
  try {
    await until('a spare is started', () => starts(f).length === 1);
    const spare = starts(f)[0]!.pid;
    assert.equal(niceOf(spare)[0], SPARE_NICE, 'the spare runs lowered');
    const h = await f.pool.attach(session('idle'), await f.guest(), () => {}, () => {});
    assert.equal(h.pid, spare);
    assert.deepEqual(new Set(niceOf(spare)), new Set([getPriority()]), 'every thread of the session\'s executor is back at the mediator\'s priority');
    await until('the next spare is started', () => starts(f).length === 2);
    assert.equal(niceOf(starts(f)[1]!.pid)[0], SPARE_NICE, 'the refilled spare runs lowered');
  } finally {
    await f.close();
  }
});

test('sends to an executor that is exiting, then gone, fail quietly and are logged', async () => {
  const f = await fixture();
  try {
    let end: ExecutorEnd | undefined;
    const h = await f.pool.attach(session('exit'), await f.guest(), (m) => assert.fail(`unexpected ${m.type}`), (e) => (end = e));
    // The first message makes the stand-in exit; the mediator keeps steering it meanwhile, as it
    // does when many sessions end at once (EPIPE or a closed channel, never a throw).
    h.send({ type: 'preempt' });
    let gone = false;
    void h.exited.then(() => (gone = true));
    while (!gone) {
      h.send({ type: 'grant', contended: true });
      await tick();
    }
    assert.equal(end?.code, 0);
    h.send({ type: 'quota', granted: 1 });
    await until('a dropped message is logged', () => f.logs.some((l) => l.msg === 'message to an exiting executor dropped' && l.message === 'quota'));
  } finally {
    await f.close();
  }
});

test('an executor whose message fails validation is ended', async () => {
  const f = await fixture();
  try {
    let end: ExecutorEnd | undefined;
    const h = await f.pool.attach(session('garbage'), await f.guest(), (m) => assert.fail(`unexpected ${m.type}`), (e) => (end = e));
    await h.exited;
    assert.equal(end?.signal, 'SIGKILL');
    const line = f.logs.find((l) => l.msg === 'invalid message from executor; ending it');
    assert.match(String(line?.issue), /bytes/);
  } finally {
    await f.close();
  }
});

test('sendIpc reports every failure instead of throwing', async () => {
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  const failing: IpcEnd = { connected: true, send: (_m, _h, _o, cb) => (setImmediate(() => cb(epipe)), false) };
  assert.equal(await sendIpc(failing, { type: 'want' }), epipe);
  const throwing: IpcEnd = { connected: true, send: () => { throw new TypeError('not serializable'); } };
  assert.match((await sendIpc(throwing, { type: 'want' }))?.message ?? '', /not serializable/);
  let called = false;
  const closed: IpcEnd = { connected: false, send: () => (called = true) };
  assert.equal(((await sendIpc(closed, { type: 'want' })) as { code?: string } | null)?.code, 'ERR_IPC_CHANNEL_CLOSED');
  assert.equal(called, false);
  const ok: IpcEnd = { connected: true, send: (_m, _h, _o, cb) => (cb(null), true) };
  assert.equal(await sendIpc(ok, { type: 'want' }), null);
});

test('the schemas take what each side sends and refuse what it does not', () => {
  assert.ok(toExecutorSchema.safeParse(session('v')).success);
  assert.ok(toExecutorSchema.safeParse({ type: 'vmUsage', bytes: 5, own: 1 }).success);
  assert.ok(!toExecutorSchema.safeParse({ type: 'vmUsage', bytes: 5 }).success, 'own is required');
  assert.ok(!toExecutorSchema.safeParse({ type: 'grant', contended: true, extra: 1 }).success, 'unknown fields');
  assert.ok(!toExecutorSchema.safeParse({ type: 'want' }).success, 'a message of the other direction');
  assert.ok(fromExecutorSchema.safeParse({ type: 'yield', usedNs: 1.5, again: false }).success);
  assert.ok(fromExecutorSchema.safeParse({ type: 'ready', pid: 5 }).success, 'a greeting that does not say how it was loaded');
  assert.ok(fromExecutorSchema.safeParse({ type: 'ready', pid: 5, launch: { form: 'bundle', codeCache: 'corrupt' } }).success);
  assert.ok(!fromExecutorSchema.safeParse({ type: 'ready', pid: 5, launch: { form: 'bundle', codeCache: 'fine' } }).success);
  assert.ok(!fromExecutorSchema.safeParse({ type: 'ready', pid: 5, launch: { form: 'zygote', codeCache: 'used' } }).success);
  assert.ok(fromExecutorSchema.safeParse({
    type: 'ended', stats: { calls: 1, asyncCalls: 0, bytesIn: 2, bytesOut: 3, busyNs: 0.25 }, peakMemory: 0, reason: 'guest closed',
  }).success);
  assert.ok(!fromExecutorSchema.safeParse({ type: 'reserve', bytes: 1.5 }).success);
  assert.ok(!fromExecutorSchema.safeParse({ type: 'grant', contended: true }).success, 'a message of the other direction');
});

/** The real executor on softgpu, started as the pool starts it, with a control socket of the
 * test's own; resolves with the child and its control connection once it said it is ready. */
async function realExecutor(): Promise<{ child: ReturnType<typeof fork>; control: net.Socket; exited: Promise<number | null>; done: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-ctl-'));
  const sock = join(dir, 'executors.sock');
  const conns: net.Socket[] = [];
  const server = net.createServer((c) => conns.push(c));
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const child = fork(EXECUTOR_MAIN, ['--backend', 'softgpu', '--control', sock, '--cancel-dir', dir], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'json' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await until('the executor connects', () => conns.length > 0);
  const control = conns[0]!;
  let got = '';
  control.setEncoding('utf8');
  control.on('data', (d: string) => (got += d));
  control.on('error', () => {});
  await until('the executor says it is ready', () => got.includes('\n'));
  assert.equal(JSON.parse(got.split('\n')[0]!).type, 'ready');
  return { child, control, exited, done: () => { server.close(); rmSync(dir, { recursive: true, force: true }); } };
}

test('the executor exits when the mediator sends it something invalid', async () => {
  const e = await realExecutor();
  try {
    e.control.write(`${JSON.stringify({ type: 'quota', granted: -1 })}\n`);
    assert.equal(await e.exited, 2);
  } finally {
    e.done();
  }
});

test('the executor without a session exits when its mediator goes away', async () => {
  const e = await realExecutor();
  try {
    e.control.destroy();
    assert.equal(await e.exited, 0);
  } finally {
    e.done();
  }
});

/** Says it is ready, then keeps its event loop busy and exits without reading anything: an
 * executor that dies (is killed) while the session, and the guest's connection with it, are on
 * their way to it. */
const DIES_UNREAD_STAND_IN = `${CONNECT}
say({ type: 'ready', pid: process.pid }, () => {
  const until = Date.now() + 1000;
  while (Date.now() < until) {}
  process.exit(9);
});
`;

test("a guest connection handed to an executor that dies before reading it is closed, not kept by the mediator", async () => {
  const f = await fixture(DIES_UNREAD_STAND_IN);
  try {
    let end: ExecutorEnd | undefined;
    await f.pool.attach(session('v'), await f.guest(), () => {}, (e) => (end = e));
    const guest = f.client();
    let closed = false;
    guest.on('close', () => (closed = true));
    guest.on('error', () => {});
    guest.resume();
    await until('the executor exits', () => end !== undefined);
    assert.equal(end?.code, 9);
    await until('the guest sees its connection close', () => closed);
  } finally {
    await f.close();
  }
});

test('the control socket closes connections that do not greet as an executor of this mediator', async () => {
  const f = await fixture();
  try {
    const path = join(f.dir, 'executors.sock');
    const closedAfter = async (line: string): Promise<void> => {
      const c = net.connect(path);
      c.on('error', () => {});
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.write(line);
      await closed;
    };
    await closedAfter('not json\n');
    await closedAfter(`${JSON.stringify({ type: 'ready', pid: 1 })}\n`);
    await closedAfter(`${JSON.stringify({ type: 'want' })}\n`);
    await closedAfter(`${JSON.stringify({ type: 'adopt', pid: -3 })}\n`);
    const msgs = f.logs.map((l) => l.msg);
    assert.ok(msgs.includes('invalid greeting on the executor control socket; closed'));
    assert.ok(msgs.includes('a control connection claimed to be an executor this mediator did not start; closed'));
    assert.ok(msgs.includes('a control connection did not start with ready or adopt; closed'));
    // The pool still hands sessions over.
    let end: ExecutorEnd | undefined;
    const h = await f.pool.attach(session('exit'), await f.guest(), () => {}, (e) => (end = e));
    h.send({ type: 'preempt' });
    await h.exited;
    assert.equal(end?.code, 0);
  } finally {
    await f.close();
  }
});
