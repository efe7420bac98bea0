// Metrics that fit existing dashboards (docs/operations.md, "GPU telemetry" and "Monitoring"): a
// real mediator on softgpu with a guest at work in a VM. GET /v1/gpus and /metrics show the GPU's
// memory (what the guest holds), utilization and the per VM × GPU series under DCGM's label set;
// the board values softgpu cannot know are absent, not zero. Then the shipped Grafana dashboard and
// Prometheus rules (deploy/): every series their PromQL selects is in a live mediator's /metrics,
// one with a board (the fake host NVML) and a guest at work, so no query shows "No data" because
// of a misspelt or missing name.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';

import { startBusy, type Busy } from '../helpers/busy.js';
import { TestGuest } from '../helpers/guest.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { scrape } from '../helpers/metrics.js';
import { buildFakeNvml } from '../helpers/fake-nvml.js';
import { dashboardQueries, metricNames, ruleQueries } from '../helpers/promql.js';
import { gpuSchema } from '../../src/admin/schemas.js';
import { cli } from '../cli/helpers.js';

const HELD_MIB = 64;
const MIB = 2 ** 20;

let m: RunningMediator;
let b: Busy;

before(async () => {
  m = await startMediator();
  const token = await m.addVm('tenant', { memoryQuota: '1G' });
  b = startBusy(m.server, token, HELD_MIB);
  await b.first;
});
after(async () => {
  await b?.stop();
  await m?.stop();
});

/** Scrapes until `ok` holds (executors report about once a second); the last scrape either way. */
async function scrapeUntil(ok: (s: Awaited<ReturnType<typeof scrape>>) => boolean): Promise<Awaited<ReturnType<typeof scrape>>> {
  let s = await scrape(m.admin!);
  for (let i = 0; i < 60 && !ok(s); i++) {
    await new Promise((r) => setTimeout(r, 250));
    s = await scrape(m.admin!);
  }
  return s;
}

test('GET /v1/gpus: the GPU\'s memory holds what the guest holds; softgpu has no board values', async () => {
  let gpu: ReturnType<typeof gpuSchema.parse> | undefined;
  for (let i = 0; i < 60; i++) {
    const r = await m.api('GET', '/v1/gpus');
    assert.equal(r.status, 200);
    gpu = gpuSchema.array().parse(r.json)[0];
    if ((gpu?.telemetry?.memory.used ?? 0) >= HELD_MIB * MIB) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  const t = gpu?.telemetry;
  assert.ok(t, `telemetry of the GPU the mediator has: ${JSON.stringify(gpu)}`);
  assert.equal(t.index, 0);
  assert.equal(t.memory.source, 'sessions');
  assert.equal(t.memory.total, gpu!.totalMemory);
  assert.ok(t.memory.used >= HELD_MIB * MIB, JSON.stringify(t.memory));
  assert.equal(t.memory.free, t.memory.total - t.memory.used);
  assert.equal(t.utilization.source, 'device-time');
  for (const k of ['temperatureC', 'powerW', 'powerLimitW', 'smClockMhz', 'memClockMhz']) assert.equal(k in t, false, `${k} is absent on softgpu`);
  const vm = t.vms.find((v) => v.vm === 'tenant');
  assert.ok(vm, JSON.stringify(t.vms));
  assert.equal(vm.sessions, 1);
  assert.equal(vm.memoryUsed, t.memory.used, 'the only VM holds all that is used');

  // vgpu-admin gpu list shows the same, through the mediator's API; no board, so no temperature
  // or power.
  const list = await cli(['--state-dir', m.stateDir, 'gpu', 'list']);
  assert.equal(list.status, 0, list.stderr);
  const [header, row] = list.stdout.trimEnd().split('\n');
  assert.match(header!, /\bUSED\s+UTIL\s+TEMP\s+POWER$/);
  assert.match(row!, /\s\d+(\.\d+)? [KMG]iB\s+\d+%\s+-\s+-$/);
  assert.ok(row!.startsWith(`${gpu!.uuid}  `), row);
});

test('/metrics: DCGM names and labels, per VM × GPU series; no temperature or power series on softgpu', async () => {
  const s = await scrapeUntil((x) => x.value('vgpu_vm_gpu_memory_used_bytes', { vm: 'tenant' }) >= HELD_MIB * MIB && x.value('DCGM_FI_DEV_GPU_UTIL') > 0);
  const labels = { gpu: '0', device: 'nvidia0', Hostname: hostname() };
  assert.ok(s.value('DCGM_FI_DEV_FB_USED', labels) >= HELD_MIB, 'FB_USED in MiB');
  assert.equal(s.value('DCGM_FI_DEV_FB_USED', labels) + s.value('DCGM_FI_DEV_FB_FREE', labels), 2048, 'used + free = the 2 GiB softgpu the tests start');
  assert.ok(s.value('DCGM_FI_DEV_GPU_UTIL', labels) > 0, 'the guest runs kernels');
  assert.equal(s.value('vgpu_gpu_memory_total_bytes', labels), 2048 * MIB);
  assert.equal(s.value('vgpu_vm_gpu_sessions', { vm: 'tenant', ...labels }), 1);
  assert.ok(s.value('vgpu_vm_gpu_utilization_percent', { vm: 'tenant', ...labels }) > 0);
  const text = await (await fetch(`${m.admin!}/metrics`)).text();
  assert.match(text, /^DCGM_FI_DEV_FB_USED\{gpu="0",UUID="GPU-[0-9a-f-]{36}",device="nvidia0",modelName="[^"]+",Hostname="[^"]+",pci_bus_id="[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.0"\} \d+$/m);
  for (const absent of ['DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_DEV_SM_CLOCK', 'vgpu_gpu_temperature_celsius', 'vgpu_gpu_power_watts']) {
    assert.doesNotMatch(text, new RegExp(`^${absent}\\{`, 'm'), `${absent} has no sample on softgpu`);
  }
});

test('/metrics counts refused handshakes and admissions by reason, quota reservations and executor start-up', async () => {
  const g = await TestGuest.connect(m.socket);
  try {
    await assert.rejects(g.hello('vgpu_not-a-token'), /refused: unknown VM token/);
  } finally {
    g.close();
  }
  const s = await scrapeUntil((x) => x.value('vgpu_handshakes_refused_total', { reason: 'auth' }) >= 1);
  assert.equal(s.value('vgpu_handshakes_refused_total', { reason: 'auth' }), 1);
  assert.equal(s.value('vgpu_handshakes_refused_total', { reason: 'version' }), 0, 'every reason has a series from the start');
  assert.equal(s.value('vgpu_admissions_total', { result: 'refused', reason: 'unknown_token' }), 1);
  assert.ok(s.value('vgpu_admissions_total', { vm: 'tenant', result: 'admitted', reason: 'token' }) >= 1, 'the busy guest was admitted by its token');
  assert.ok(s.value('vgpu_quota_reservations_total', { vm: 'tenant', result: 'granted' }) >= 1, 'its 64 MiB came out of its 1 GiB quota');
  assert.ok(s.value('vgpu_executor_spawn_seconds_count') >= 1, 'the spare and the busy guest\'s executor started');
  assert.ok(s.value('vgpu_executor_spawn_seconds_sum') > 0);
  // Executors are forked by the zygote (docs/executors.md, "Zygote"), the spare too.
  assert.equal(s.value('vgpu_executor_zygote'), 1);
  assert.equal(s.value('vgpu_executor_spawn_seconds_count', { form: 'forked' }), s.value('vgpu_executor_spawn_seconds_count'));
});

/** Series Prometheus makes itself for every scrape target, which no exporter exports. */
const PROMETHEUS_OWN = new Set(['up']);

test('metricNames reads selectors by the PromQL grammar, and refuses what is not PromQL', () => {
  assert.deepEqual(metricNames('sum by (vm) (rate(a_total{vm=~"x"}[$__rate_interval])) / on(instance) b + {__name__="c"}'), ['a_total', 'b', 'c']);
  assert.deepEqual(metricNames('histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))'), ['h_bucket']);
  assert.throws(() => metricNames('rate(a_total[5m]'), /not PromQL/);
});

describe('the shipped dashboard and alert rules query only series a mediator exports', () => {
  let nm: RunningMediator;
  let busy: Busy;
  before(async () => {
    // Board values come from the fake NVML; a VM with a quota runs a guest, so the per-VM,
    // quota and scheduler series have samples.
    nm = await startMediator({ env: { VGPU_HOST_NVML: buildFakeNvml() } });
    busy = startBusy(nm.server, await nm.addVm('watched', { memoryQuota: '1G' }), HELD_MIB);
    await busy.first;
  });
  after(async () => {
    await busy?.stop();
    await nm?.stop();
  });

  test('each query parses, and each metric it names has samples in /metrics', async () => {
    const queries = [...dashboardQueries(), ...ruleQueries()];
    assert.ok(queries.length >= 30, `${queries.length} queries found`);
    let s = await scrape(nm.admin!);
    for (let i = 0; i < 60 && s.value('vgpu_vm_device_seconds_total', { vm: 'watched' }) === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      s = await scrape(nm.admin!);
    }
    const exported = s.names();
    const missing: string[] = [];
    for (const q of queries) {
      const names = metricNames(q.expr);
      assert.ok(names.length > 0, `${q.where} selects no metric: ${q.expr}`);
      for (const n of names) if (!exported.has(n) && !PROMETHEUS_OWN.has(n)) missing.push(`${q.where}: ${n}`);
    }
    assert.deepEqual(missing, [], 'series the dashboard or the rules query that /metrics lacks');
    // The board series come from the fake NVML's board at softgpu's bus id.
    assert.equal(s.value('DCGM_FI_DEV_GPU_TEMP', { gpu: '0' }), 47);
  });

  test('vgpu-admin gpu list shows the board\'s temperature and power', async () => {
    const list = await cli(['--state-dir', nm.stateDir, 'gpu', 'list']);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout.trimEnd().split('\n')[1]!, /\s47 C\s+123 W$/);
  });
});
