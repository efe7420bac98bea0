// The admin API's routes for the dashboard (docs/dashboard.md): the live state and its event
// stream (ended when the client goes and when the mediator stops), the GPUs' history, and usage in
// time buckets as JSON and CSV with its query checked.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';

import { liveSchema, gpuSampleSchema } from '../../src/admin/schemas.js';
import { MAX_BUCKETS, seriesPeriod, usageCsv } from '../../src/admin/series.js';
import { registerUi } from '../../src/admin/ui.js';
import { VgpuError } from '../../src/common/errors.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, startGuest } from '../helpers/programs.js';

const MIB = 1024 * 1024;
let m: RunningMediator;
let quota: string;

before(async () => {
  m = await startMediator();
  quota = buildProgram('quota');
});
after(async () => {
  await m?.stop();
});

/** The first `n` events of a stream, then the connection is dropped. */
async function events(url: string, n: number): Promise<Array<{ event: string; data: unknown }>> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const out: Array<{ event: string; data: unknown }> = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const record = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const event = /^event: (.*)$/m.exec(record)?.[1];
      const data = /^data: (.*)$/m.exec(record)?.[1];
      if (event && data) out.push({ event, data: JSON.parse(data) as unknown });
    }
    if (out.length >= n) break;
  }
  ac.abort();
  return out;
}

test('live state: a guest shows with its memory, its GPU and VM counters', async () => {
  const token = await m.addVm('live-a');
  const g = startGuest(m.server, token, quota, ['alloc:32', 'hold']);
  await g.waitFor(/holding/);
  let live = liveSchema.parse((await m.api('GET', '/v1/live')).json);
  for (let i = 0; i < 100 && !live.sessions.some((s) => s.vm === 'live-a' && s.memoryUsed === 32 * MIB); i++) {
    await new Promise((r) => setTimeout(r, 100));
    live = liveSchema.parse((await m.api('GET', '/v1/live')).json);
  }
  const s = live.sessions.find((x) => x.vm === 'live-a');
  assert.equal(s?.memoryUsed, 32 * MIB, JSON.stringify(live.sessions));
  assert.equal(live.gpus.length, 1);
  assert.equal(live.gpus[0]!.memoryUsed, 32 * MIB, 'the session is placed on the one GPU');
  assert.equal(live.gpus[0]!.temperatureC, null, 'no host NVML under softgpu here');
  const vm = live.vms.find((v) => v.vm === 'live-a');
  assert.equal(vm?.sessions, 1);
  assert.equal(vm?.memoryUsed, 32 * MIB);
  assert.ok((vm?.calls ?? 0) > 0);
  assert.ok(live.auditHead > 0, 'adding the VM was audited');
  g.release();
  assert.equal(await g.done, 0);
});

test('the event stream sends the live state at once and every second, and the history holds samples', async () => {
  const ended = m.logs.filter((l) => l.msg === 'admin API: event stream ended').length;
  const got = await events(`${m.admin}/v1/events`, 2);
  // The client went: the stream's timer is gone with it.
  await m.waitForLog((l) => l.msg === 'admin API: event stream ended' && m.logs.filter((x) => x.msg === l.msg).length > ended);
  assert.deepEqual(got.map((e) => e.event), ['live', 'live']);
  const [a, b] = got.map((e) => liveSchema.parse(e.data));
  assert.ok(b!.at > a!.at, 'a later state');
  const history = (await m.api('GET', '/v1/gpus/history')).json as unknown[];
  assert.ok(history.length >= 1);
  for (const h of history) gpuSampleSchema.parse(h);
});

test('a mediator with an event stream open stops (the stream is ended first)', async () => {
  const other = await startMediator();
  const res = await fetch(`${other.admin}/v1/events`);
  const reader = res.body!.getReader();
  await reader.read();
  await other.stop();
  assert.equal(other.proc.exitCode, 0);
  // The stream ended with the server.
  for (;;) if ((await reader.read()).done) break;
});

test('usage series: JSON and CSV agree; bad queries are refused', async () => {
  // The ended guest's last usage report reaches the mediator after its exit.
  let buckets: Array<{ vm: string; at: string; calls: number }> = [];
  for (let i = 0; i < 100 && !buckets.some((b) => b.vm === 'live-a' && b.calls > 0); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    const json = await m.api('GET', '/v1/usage/series?since=1h&step=1m');
    assert.equal(json.status, 200);
    buckets = json.json as typeof buckets;
  }
  assert.ok(buckets.some((b) => b.vm === 'live-a' && b.calls > 0), JSON.stringify(buckets));
  const res = await fetch(`${m.admin}/v1/usage/series.csv?since=1h&step=1m`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
  assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="vgpu-usage.csv"/);
  const lines = (await res.text()).trimEnd().split('\r\n');
  assert.equal(lines[0], 'at,vm,deviceTimeNs,bytesHtoD,bytesDtoH,calls,peakMemory');
  assert.equal(lines.length - 1, buckets.length);
  const bad: Array<[string, string]> = [
    ['step=0s', 'step'], ['step=1ms', 'step'], ['since=30d&step=1s', 'step'], ['since=1h&until=2h', 'until'], ['since=yesterday', 'since'], ['bogus=1', 'bogus'],
  ];
  for (const [q, field] of bad) {
    const r = await m.api('GET', `/v1/usage/series?${q}`);
    assert.equal(r.status, 400, q);
    assert.match(JSON.stringify(r.json), new RegExp(field), q);
  }
  assert.equal((await m.api('GET', '/v1/usage/series?vm=nobody')).status, 404);
});

test('the default bucket is round and about a hundredth of the period; CSV fields are quoted when they must be', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  assert.equal(seriesPeriod({ since: '15m' }, now).stepS, 10);
  assert.equal(seriesPeriod({ since: '1h' }, now).stepS, 60);
  assert.equal(seriesPeriod({}, now).stepS, 900, '24 hours');
  assert.equal(seriesPeriod({ since: '30d' }, now).stepS, 43_200);
  assert.throws(() => seriesPeriod({ since: '1h', step: '1s' }, now), (e) => e instanceof VgpuError && /at most 2000/.test(e.message));
  assert.equal(MAX_BUCKETS, 2000);
  // A bad until is named as such, not as since.
  assert.throws(() => seriesPeriod({ since: '1h', until: 'tomorrow' }, now), (e) => e instanceof VgpuError && /until/.test(e.message) && !/since/.test(e.message));
  assert.equal(
    usageCsv([{ vm: 'a,"b"', at: '2026-01-01T00:00:00.000Z', deviceTimeNs: 1, bytesHtoD: 2, bytesDtoH: 3, calls: 4, peakMemory: 5 }]),
    'at,vm,deviceTimeNs,bytesHtoD,bytesDtoH,calls,peakMemory\r\n2026-01-01T00:00:00.000Z,"a,""b""",1,2,3,4,5\r\n',
  );
});

test('the page: / leads to /ui/, which forbids framing and foreign content', async () => {
  const root = await fetch(`${m.admin}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/ui/');
  const page = await fetch(`${m.admin}/ui/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<div id="app">/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'.*frame-ancestors 'none'/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  const js = await fetch(`${m.admin}/ui/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  // The browser guard covers the page as it covers the API: a rebound name is refused.
  const url = new URL(`${m.admin}/ui/`);
  const rebound = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: '/ui/', headers: { host: `evil.example:${url.port}` }, setHost: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(rebound, 421);
});

test('a tree built without the page answers /ui/ with 503 naming make ui', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-no-ui-'));
  const app = Fastify();
  t.after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await registerUi(app, dir);
  const r = await app.inject({ method: 'GET', url: '/ui/' });
  assert.equal(r.statusCode, 503);
  assert.match(r.json<{ error: { hint: string } }>().error.hint, /make ui/);
});
