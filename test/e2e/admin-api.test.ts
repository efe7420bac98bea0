// The admin HTTP API of a real mediator: authentication (loopback free, everything else needs the
// bearer token), CRUD with validation that changes nothing on bad input, pool rules, metrics, and
// docs/admin-api.md's OpenAPI block matching the route table.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';

import { TestGuest } from '../helpers/guest.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { ROOT } from '../helpers/paths.js';
import { isLoopback } from '../../src/admin/server.js';
import { openApiBlock, openApiDocument, BEGIN, END } from '../../src/admin/openapi.js';
import { ROUTES } from '../../src/admin/routes.js';

let m: RunningMediator;

before(async () => {
  m = await startMediator();
  assert.ok(m.admin, 'the mediator reports its admin API URL');
});
after(async () => {
  await m?.stop();
});

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = m.admin!): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { 'x-vgpu-request': '1', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* metrics are text */
  }
  return { status: res.status, json };
}

test('docs/admin-api.md holds the OpenAPI document generated from the route table', () => {
  const doc = readFileSync(join(ROOT, 'docs/admin-api.md'), 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  assert.ok(a >= 0 && b > a, 'the generated block is in the doc');
  assert.equal(doc.slice(a, b + END.length), openApiBlock(),
    'docs/admin-api.md is stale: run make gen');
  const openapi = JSON.parse(doc.slice(doc.indexOf('{', a), doc.lastIndexOf('}', b) + 1)) as { paths: Record<string, Record<string, unknown>> };
  for (const r of ROUTES) {
    assert.ok(openapi.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()], `${r.method} ${r.path} is documented`);
  }
});

test('GET /openapi.json serves the document generated from the route table', async () => {
  const r = await fetch(`${m.admin}/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(await r.json(), JSON.parse(JSON.stringify(openApiDocument())));
});

test('loopback is recognised by the peer address only', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
  for (const a of ['192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '', undefined, '::']) assert.ok(!isLoopback(a), String(a));
});

test('the token file is private and the state dir says where the API is', () => {
  const st = statSync(join(m.stateDir, 'admin-token'));
  assert.equal(st.mode & 0o777, 0o600);
  const info = JSON.parse(readFileSync(join(m.stateDir, 'admin.json'), 'utf8')) as { url: string; pid: number };
  assert.equal(info.url, m.admin);
  assert.equal(info.pid, m.proc.pid);
});

test('non-loopback clients need the bearer token; loopback ones do not', async (t) => {
  const addr = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (!addr) {
    t.skip('this host has no non-loopback IPv4 address to connect from');
    return;
  }
  // Listening on the interface's own address: a connection to it comes from that address, not
  // from loopback, so this is the path a remote client takes.
  const r = await startMediator({ http: `${addr}:0` });
  t.after(() => r.stop());
  assert.ok(r.admin?.startsWith(`http://${addr}:`));
  const token = readFileSync(join(r.stateDir, 'admin-token'), 'utf8').trim();

  const none = await api('GET', '/v1/vms', undefined, {}, r.admin);
  assert.equal(none.status, 401);
  assert.equal(none.json.error.code, 'VGPU_ERR_UNAUTHORIZED');
  const wrong = await api('GET', '/v1/vms', undefined, { authorization: `Bearer ${token}x` }, r.admin);
  assert.equal(wrong.status, 401);
  const metrics = await api('GET', '/metrics', undefined, {}, r.admin);
  assert.equal(metrics.status, 401, 'metrics are protected too');
  for (const probe of ['/healthz', '/readyz', '/openapi.json']) {
    assert.equal((await api('GET', probe, undefined, {}, r.admin)).status, 200, `${probe} needs no token`);
  }
  assert.equal((await api('POST', '/healthz', {}, {}, r.admin)).status, 401, 'only GET of a probe skips the token');
  const noWrite = await api('POST', '/v1/vms', { name: 'sneaky' }, {}, r.admin);
  assert.equal(noWrite.status, 401);
  const ok = await api('GET', '/v1/vms', undefined, { authorization: `Bearer ${token}` }, r.admin);
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json.map((v: { name: string }) => v.name), ['local'], 'the refused POST created nothing');

  const local = await api('GET', '/v1/vms');
  assert.equal(local.status, 200, 'loopback needs no token');
});

test('operators: each token authenticates as its operator, whose name the audit log records', async () => {
  const made = await api('POST', '/v1/operators', { name: 'alice' });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  const alice = made.json.token as string;
  assert.match(alice, /^vgpuop_/);
  const bearer = (tok: string): Record<string, string> => ({ authorization: `Bearer ${tok}` });

  assert.equal((await api('POST', '/v1/vms', { name: 'by-alice' }, bearer(alice))).status, 201);
  const adminToken = readFileSync(join(m.stateDir, 'admin-token'), 'utf8').trim();
  assert.equal((await api('PATCH', '/v1/vms/by-alice', { weight: 7 }, bearer(adminToken))).status, 200);
  assert.equal((await api('DELETE', '/v1/vms/by-alice')).status, 200);
  const audit = await api('GET', '/v1/audit?target=by-alice');
  assert.deepEqual(audit.json.map((e: { actor: string; action: string }) => `${e.actor} ${e.action}`),
    ['operator:alice vm.create', 'operator:admin vm.update', 'api:loopback vm.delete']);
  const created = await api('GET', '/v1/audit?target=alice');
  assert.deepEqual(created.json.map((e: { actor: string; action: string }) => `${e.actor} ${e.action}`), ['api:loopback operator.create']);

  const listed = await api('GET', '/v1/operators', undefined, bearer(alice));
  assert.deepEqual(listed.json.map((o: { name: string }) => o.name), ['alice']);
  assert.equal(JSON.stringify(listed.json).includes('vgpuop_'), false, 'tokens are never listed');

  const wrong = await api('GET', '/v1/vms', undefined, bearer(`${alice.slice(0, -1)}x`));
  assert.equal(wrong.status, 401, 'a wrong token is refused from loopback too');
  assert.match(wrong.json.error.message, /no operator's and not the admin token/);
  assert.equal((await api('POST', '/v1/operators', { name: 'admin' })).status, 400, "'admin' is the admin-token file's");
  assert.equal((await api('POST', '/v1/operators', { name: 'alice' })).status, 409);

  const rotated = await api('POST', '/v1/operators/alice/token', undefined, bearer(alice));
  assert.equal(rotated.status, 200);
  assert.equal((await api('GET', '/v1/vms', undefined, bearer(alice))).status, 401, 'the rotated-away token stops working');
  assert.equal((await api('GET', '/v1/vms', undefined, bearer(rotated.json.token))).status, 200);
  assert.equal((await api('DELETE', '/v1/operators/alice')).status, 200);
  assert.equal((await api('GET', '/v1/vms', undefined, bearer(rotated.json.token))).status, 401, "a removed operator's token stops working");
  assert.equal((await api('DELETE', '/v1/operators/alice')).status, 404);
});

test('VM CRUD; bad input is refused with a JSON error and changes nothing', async () => {
  const add = await api('POST', '/v1/vms', { name: 'crud', memoryQuota: '1G', priority: 'low' });
  assert.equal(add.status, 201);
  assert.match(add.json.token, /^vgpu_/);
  assert.equal(add.json.vm.memoryQuota, 1024 ** 3);

  const auditBefore = (await api('GET', '/v1/audit?limit=1000')).json.length;
  const vmsBefore = (await api('GET', '/v1/vms')).json;
  const bad: Array<[string, string, unknown, number, string]> = [
    ['POST', '/v1/vms', { name: 'crud' }, 409, 'VGPU_ERR_VM_EXISTS'],
    ['POST', '/v1/vms', { name: 'x', priority: 'urgent' }, 400, 'VGPU_ERR_INVALID_PRIORITY'],
    ['POST', '/v1/vms', { name: 'x', colour: 'red' }, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['POST', '/v1/vms', { name: 'bad name' }, 400, 'VGPU_ERR_INVALID_NAME'],
    ['POST', '/v1/vms', { name: 'x', memoryQuota: '2 potatoes' }, 400, 'VGPU_ERR_INVALID_SIZE'],
    ['POST', '/v1/vms', '{"name": "x",', 400, 'VGPU_ERR_USAGE'],
    ['POST', '/v1/vms', undefined, 400, 'VGPU_ERR_USAGE'],
    ['PATCH', '/v1/vms/crud', { weight: 0 }, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['PATCH', '/v1/vms/crud', { pool: 'nope' }, 404, 'VGPU_ERR_POOL_NOT_FOUND'],
    ['PATCH', '/v1/vms/ghost', { weight: 5 }, 404, 'VGPU_ERR_VM_NOT_FOUND'],
    ['DELETE', '/v1/vms/ghost', undefined, 404, 'VGPU_ERR_VM_NOT_FOUND'],
    ['GET', '/v1/usage?since=yesterday', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['GET', '/v1/usage?bogus=1', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    // Routes that take no parameter refuse one rather than ignore it.
    ['GET', '/v1/live?vm=crud', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['GET', '/v1/events?since=1h', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['GET', '/v1/gpus/history?minutes=5', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['GET', '/v1/vms?pool=default', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['GET', '/v1/usage?since=999999999d', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['GET', '/v1/audit?limit=-1', undefined, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['POST', '/v1/vms', [1, 2], 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['POST', '/v1/sessions/12/kill', {}, 404, 'VGPU_ERR_SESSION_NOT_FOUND'],
    ['POST', '/v1/sessions/abc/kill', {}, 400, 'VGPU_ERR_INVALID_ARGUMENT'],
    ['GET', '/v1/nothing', undefined, 404, 'VGPU_ERR_USAGE'],
  ];
  for (const [method, path, body, status, code] of bad) {
    const r = await api(method, path, body);
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, code, `${method} ${path}`);
    assert.ok(r.json.error.message.length > 0);
  }
  assert.match((await api('GET', '/v1/live?vm=crud')).json.error.message, /unknown parameter\(s\) vm/, 'names the parameter');
  assert.deepEqual((await api('GET', '/v1/vms')).json, vmsBefore, 'nothing changed');
  assert.equal((await api('GET', '/v1/audit?limit=1000')).json.length, auditBefore, 'nothing audited');

  const set = await api('PATCH', '/v1/vms/crud', { priority: 'high', memoryQuota: null });
  assert.equal(set.status, 200);
  assert.equal(set.json.before.priority, 'low');
  assert.equal(set.json.after.priority, 'high');
  assert.equal(set.json.after.memoryQuota, null);
  const show = await api('GET', '/v1/vms/crud');
  assert.equal(show.json.priority, 'high');
  assert.equal(show.json.usage.calls, 0);
  const rot = await api('POST', '/v1/vms/crud/token');
  assert.equal(rot.status, 200);
  assert.notEqual(rot.json.token, add.json.token);
  const audit = (await api('GET', '/v1/audit?target=crud')).json as Array<{ action: string; actor: string }>;
  assert.deepEqual(audit.map((e) => e.action), ['vm.create', 'vm.update', 'vm.token.rotate']);
  assert.ok(audit.every((e) => e.actor === 'api:loopback'), 'changes through the API without a token are audited as loopback ones');
  const rm = await api('DELETE', '/v1/vms/crud');
  assert.equal(rm.status, 200);
  assert.equal(rm.json.sessionsEnded, 0);
  assert.equal((await api('GET', '/v1/vms/crud')).status, 404);
});

test('pools: unknown GPU, GPU already in another pool, removing a pool in use', async () => {
  const gpus = (await api('GET', '/v1/gpus')).json as Array<{ uuid: string; present: boolean; pool: string }>;
  assert.equal(gpus.length, 1, 'softgpu recorded at start');
  const gpu = gpus[0]!;
  assert.ok(gpu.present);
  assert.equal(gpu.pool, 'default');

  const unknown = await api('POST', '/v1/pools', { name: 'p1', gpuUuids: ['GPU-00000000-0000-0000-0000-000000000000'] });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'VGPU_ERR_GPU_NOT_FOUND');
  assert.equal((await api('GET', '/v1/pools')).json.length, 1, 'no pool was made');

  const p1 = await api('POST', '/v1/pools', { name: 'p1', gpuUuids: [gpu.uuid.toUpperCase().replace('GPU-', 'GPU-')] });
  assert.equal(p1.status, 201, JSON.stringify(p1.json));
  assert.deepEqual(p1.json.gpuUuids, [gpu.uuid]);
  assert.equal((await api('GET', '/v1/gpus')).json[0].pool, 'p1');

  const taken = await api('POST', '/v1/pools', { name: 'p2', gpuUuids: [gpu.uuid] });
  assert.equal(taken.status, 400);
  assert.match(taken.json.error.message, /already in another pool/);
  const p2 = await api('POST', '/v1/pools', { name: 'p2' });
  assert.equal(p2.status, 201);
  const moveTaken = await api('PATCH', '/v1/pools/p2', { gpuUuids: [gpu.uuid] });
  assert.equal(moveTaken.status, 400);
  assert.equal((await api('PATCH', '/v1/pools/p2', { gpuUuids: ['GPU-00000000-0000-0000-0000-000000000000'] })).status, 404);
  assert.equal((await api('PATCH', '/v1/pools/default', { gpuUuids: [] })).status, 400);

  assert.equal((await api('POST', '/v1/vms', { name: 'inp1', pool: 'p1' })).status, 201);
  const inUse = await api('DELETE', '/v1/pools/p1');
  assert.equal(inUse.status, 409);
  assert.equal(inUse.json.error.code, 'VGPU_ERR_POOL_IN_USE');
  assert.match(inUse.json.error.message, /inp1/);
  assert.equal((await api('DELETE', '/v1/pools/default')).status, 400);

  assert.equal((await api('PATCH', '/v1/vms/inp1', { pool: 'default' })).status, 200);
  assert.equal((await api('DELETE', '/v1/pools/p1')).status, 200);
  assert.equal((await api('GET', '/v1/gpus')).json[0].pool, 'default', 'its GPU is back in the default pool');
  assert.equal((await api('DELETE', '/v1/pools/p2')).status, 200);
  assert.equal((await api('DELETE', '/v1/vms/inp1')).status, 200);
});

test('/metrics exposes the documented series', async () => {
  await api('POST', '/v1/vms', { name: 'metered', memoryQuota: '512M' });
  const r = await api('GET', '/metrics');
  assert.equal(r.status, 200);
  const text = r.json as string;
  for (const name of [
    'vgpu_sessions', 'vgpu_vm_memory_used_bytes', 'vgpu_vm_memory_quota_bytes', 'vgpu_vm_device_seconds_total', 'vgpu_vm_calls_total',
    'vgpu_vm_bytes_total', 'vgpu_sched_waiting', 'vgpu_gpu_utilization_percent', 'vgpu_sched_grants_total',
    'vgpu_sched_preemptions_total', 'vgpu_sched_contended_device_seconds_total', 'vgpu_executors',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.match(text, /^vgpu_vm_memory_quota_bytes\{vm="metered"\} 536870912$/m);
  assert.match(text, /^vgpu_executors\{state="spare"\} \d+$/m);
  const doc = readFileSync(join(ROOT, 'docs/admin-api.md'), 'utf8');
  for (const m2 of text.matchAll(/^# TYPE (vgpu_\S+)/gm)) assert.ok(doc.includes(`\`${m2[1]}\``), `${m2[1]} is documented`);
  // The build and the process, under the names dashboards for any Node.js service query.
  assert.match(text, /^vgpu_build_info\{version="\d+\.\d+\.\d+[^"]*",node="[\d.]+"\} 1$/m);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
});

test('/healthz and /readyz answer without a token; /readyz names each check, and says not ready while draining', async () => {
  const h = await api('GET', '/healthz');
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  assert.match(h.json.version, /^\d+\.\d+\.\d+/);
  const r = await api('GET', '/readyz');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json, {
    ready: true, checks: { store: 'ok', backend: 'ok', listeners: 'ok', draining: 'ok' },
    // What vgpu-admin doctor reads: the addresses as bound, and the backend in use.
    listeners: [`unix:${m.socket}`], backend: 'softgpu',
  });
  // A mediator of its own, drained with SIGTERM while a guest keeps it from finishing.
  const d = await startMediator({ args: ['--shutdown-grace', '30'] });
  try {
    const g = await TestGuest.connect(d.socket);
    try {
      await g.hello();
      await g.attach();
      d.proc.kill('SIGTERM');
      let seen: { status: number; json: any } | undefined;
      for (let i = 0; i < 100; i++) {
        seen = await api('GET', '/readyz', undefined, {}, d.admin!);
        if (seen.status === 503) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.equal(seen?.status, 503, JSON.stringify(seen?.json));
      assert.equal(seen?.json.ready, false);
      assert.match(seen?.json.checks.draining, /^draining: /);
      assert.equal((await api('GET', '/healthz', undefined, {}, d.admin!)).status, 200, 'alive while draining');
    } finally {
      g.close();
    }
  } finally {
    await d.stop();
  }
});
