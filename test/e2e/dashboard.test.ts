// The dashboard (docs/dashboard.md) in real Chromium (Debian's `chromium`, which `make test`
// installs), driven with playwright-core against a real mediator on softgpu: a VM added in the
// page, a guest of it appearing and its memory growing, its priority changed, its session killed;
// each step checked in what the page shows and in what the API and the store recorded. Then two
// VMs running guests, photographed (into docs/images with `make screenshots`). Off loopback the
// page is behind the admin token like the API.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

import { buildFakeNvml } from '../helpers/fake-nvml.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, kernelsFatbin, startGuest, type InteractiveGuest } from '../helpers/programs.js';
import { ROOT } from '../helpers/paths.js';

const CHROMIUM = '/usr/bin/chromium';
const MIB = 1024 * 1024;
/** How long a condition may take to show in the page: events come every second. */
const SHOWS_MS = 30_000;

/** Flags for a browser with no network beyond the mediator, no GPU and no user profile. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
  '--disable-extensions', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-breakpad',
  '--disable-features=Translate,MediaRouter,OptimizationHints'];

const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: make test installs Debian's chromium (DEB_TEST_PKGS)`;

interface VmJson { name: string; priority: string; memoryQuota: number | null }
interface SessionJson { id: number; vm: string; memoryUsed: number }
interface AuditJson { actor: string; action: string; target: string; details: Record<string, unknown> }

async function waitFor<T>(what: string, get: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

let browser: Browser;

before(async () => {
  if (missing) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
});

describe('the dashboard on loopback', { skip: missing }, () => {
  let m: RunningMediator;
  let page: Page;
  const guests: InteractiveGuest[] = [];
  let quota: string;
  /** web-a's, as the page showed it. */
  let tokenA = '';

  before(async () => {
    m = await startMediator({ env: { VGPU_SOFTGPU_MEMORY: '4G', VGPU_HOST_NVML: buildFakeNvml() } });
    quota = buildProgram('quota');
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('dialog', (d) => void d.accept());
  });
  after(async () => {
    for (const g of guests) g.release();
    await page?.close();
    await m?.stop();
  });

  async function api<T>(path: string): Promise<T> {
    const r = await m.api('GET', path);
    assert.equal(r.status, 200, `GET ${path}: ${JSON.stringify(r.json)}`);
    return r.json as T;
  }

  test('opens at / and follows the live event stream', async () => {
    await page.goto(`${m.admin}/`);
    assert.equal(new URL(page.url()).pathname, '/ui/');
    await page.waitForSelector('[data-connection="open"]', { timeout: SHOWS_MS });
    // softgpu's one device, with the fake host NVML's board values.
    const gpu = page.locator('#gpus tr[data-gpu]');
    assert.equal(await gpu.count(), 1);
    assert.match(await gpu.innerText(), /47 °C/);
    assert.match(await gpu.innerText(), /123\.5 W/);
    await page.waitForSelector('#vms tr[data-vm="local"]');
  });

  test('add a VM, watch its guest appear and grow, change its priority, kill its session', async () => {
    // Add the VM in the page: its token is shown once.
    const form = page.locator('form[aria-label="add a VM"]');
    await form.locator('input[name=name]').fill('web-a');
    await form.locator('input[name=memoryQuota]').fill('1G');
    await form.locator('button[type=submit]').click();
    const token = (await page.locator('[data-token]').innerText({ timeout: SHOWS_MS })).trim();
    assert.match(token, /^vgpu_/);
    tokenA = token;
    await page.locator('[role=status] button', { hasText: 'Dismiss' }).click();
    await page.waitForSelector('[data-token]', { state: 'detached' });
    const vm = await api<VmJson>('/v1/vms/web-a');
    assert.equal(vm.memoryQuota, 1024 * MIB);
    await page.waitForSelector('#vms tr[data-vm="web-a"]', { timeout: SHOWS_MS });

    // A guest of the VM: 64 MiB, then 192 MiB once told to go on.
    const g = startGuest(m.server, token, quota, ['alloc:64', 'hold', 'alloc:128', 'hold', 'alloc:1']);
    await g.waitFor(/holding/);
    const row = '#sessions tr[data-vm="web-a"]';
    await page.waitForSelector(`${row} td[data-bytes="${64 * MIB}"]`, { timeout: SHOWS_MS });
    const shown = await page.locator(row).innerText();
    assert.match(shown, /quota/, 'the program');
    const [session] = (await api<SessionJson[]>('/v1/sessions')).filter((s) => s.vm === 'web-a');
    assert.ok(session);
    assert.match(shown, new RegExp(`^${session.id}\\s`));
    g.step();
    await g.waitFor(/alloc 128 -> 0/);
    await page.waitForSelector(`${row} td[data-bytes="${192 * MIB}"]`, { timeout: SHOWS_MS });
    assert.equal(await page.locator('#vms tr[data-vm="web-a"] td[data-field="memoryUsed"]').innerText(), '192 MiB');
    assert.equal((await api<SessionJson[]>('/v1/sessions')).find((s) => s.id === session.id)?.memoryUsed, 192 * MIB);

    // Its priority, changed in the page: shown, stored, audited.
    await page.locator('#vms tr[data-vm="web-a"] button', { hasText: 'Edit' }).click();
    const editor = page.locator('form[aria-label="edit VM web-a"]');
    await editor.locator('select[name=priority]').selectOption('high');
    await editor.locator('button[type=submit]').click();
    await page.waitForSelector('#vms tr[data-vm="web-a"] td[data-field="priority"]:text-is("high")', { timeout: SHOWS_MS });
    assert.equal((await api<VmJson>('/v1/vms/web-a')).priority, 'high');
    const audit = await api<AuditJson[]>('/v1/audit?target=web-a');
    const update = audit.find((e) => e.action === 'vm.update');
    assert.ok(update, JSON.stringify(audit));
    assert.equal(update.actor, 'api:loopback', 'a change from a page on loopback, where no token is sent');
    await page.waitForSelector('#audit tr[data-audit="vm.update"]', { timeout: SHOWS_MS });

    // Its session, killed in the page: gone from the page and the API, audited, and the guest's
    // next call fails.
    await page.locator(`${row} button.danger`).click();
    await page.waitForSelector(row, { state: 'detached', timeout: SHOWS_MS });
    assert.equal((await api<SessionJson[]>('/v1/sessions')).some((s) => s.id === session.id), false);
    const kill = (await api<AuditJson[]>('/v1/audit?target=web-a')).find((e) => e.action === 'session.kill');
    assert.equal(kill?.details.session, session.id);
    await page.waitForSelector('#audit tr[data-audit="session.kill"]', { timeout: SHOWS_MS });
    g.step();
    const last = await g.waitFor(/alloc 1 -> /);
    assert.doesNotMatch(last, /-> 0$/, 'the killed session serves no more calls');
    await g.done;
  });

  test('usage over a period: a chart, and the same buckets as CSV', async () => {
    // The usage reported so far (flushed by the API's read) is in the period.
    await waitFor('web-a\'s usage in the last hour', async () => {
      const buckets = await api<Array<{ vm: string; calls: number }>>('/v1/usage/series?since=1h&step=1m');
      return buckets.some((b) => b.vm === 'web-a' && b.calls > 0) ? true : undefined;
    });
    await page.locator('#usage select[name=since]').selectOption('1h');
    await page.waitForSelector('#usage tr[data-vm="web-a"]', { timeout: SHOWS_MS });
    const href = await page.locator('#usage a', { hasText: 'CSV' }).getAttribute('href');
    assert.equal(href, '/v1/usage/series.csv?since=1h');
    const csv = await page.evaluate(async (h) => (await fetch(h!)).text(), href);
    const lines = csv.trim().split('\r\n');
    assert.equal(lines[0], 'at,vm,deviceTimeNs,bytesHtoD,bytesDtoH,calls,peakMemory');
    assert.ok(lines.some((l) => l.split(',')[1] === 'web-a'), csv);
  });

  test('two VMs running guests, photographed', async () => {
    const fatbin = kernelsFatbin();
    const busy = buildProgram('busy');
    const tokenB = await m.addVm('web-b', { memoryQuota: '2G', priority: 'low', weight: 2 });
    // Kernels in both VMs, so that the GPU is shared and its charts and the scheduler have work to show.
    for (const [token, mib] of [[tokenA, 96], [tokenB, 320], [tokenB, 128]] as const) {
      const g = startGuest(m.server, token, busy, [fatbin, String(mib), '2000']);
      guests.push(g);
      await g.waitFor(/"used"/);
    }
    await page.waitForFunction(() => document.querySelectorAll('#sessions tr[data-session]').length === 3, undefined, { timeout: SHOWS_MS });
    await page.waitForSelector('#vms tr[data-vm="web-b"] td[data-field="sessions"]:text-is("2")', { timeout: SHOWS_MS });
    // A few more samples in the charts.
    const at = (await api<{ at: string }>('/v1/live')).at;
    await waitFor('five more seconds of history', async () => {
      const h = await api<Array<{ at: string }>>('/v1/gpus/history');
      return h.filter((s) => s.at > at).length >= 3 ? true : undefined;
    });
    await page.locator('#usage select[name=since]').selectOption('15m');
    await page.evaluate(() => window.scrollTo(0, 0));
    const dir = process.env.VGPU_SCREENSHOTS ? resolve(ROOT, process.env.VGPU_SCREENSHOTS) : mkdtempSync(join(tmpdir(), 'vgpu-shots-'));
    try {
      const shots: Array<[string, string | null]> = [
        ['dashboard-overview.png', null], ['dashboard-gpus.png', '#gpus'], ['dashboard-vms.png', '#vms'],
        ['dashboard-sessions.png', '#sessions'], ['dashboard-scheduler.png', '#scheduler'], ['dashboard-usage.png', '#usage'],
      ];
      for (const [file, what] of shots) {
        const path = join(dir, file);
        if (what === null) await page.screenshot({ path, fullPage: true });
        else await page.locator(what).screenshot({ path });
        const png = readFileSync(path);
        assert.equal(png.subarray(1, 4).toString(), 'PNG', file);
      }
    } finally {
      if (!process.env.VGPU_SCREENSHOTS) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the dashboard from another host', { skip: missing }, () => {
  const addr = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  let m: RunningMediator;

  before(async () => {
    if (addr) m = await startMediator({ http: `${addr}:0` });
  });
  after(async () => {
    await m?.stop();
  });

  test('needs the admin token as the password, and then works as on loopback', async (t) => {
    if (!addr) {
      t.skip('this host has no non-loopback IPv4 address to connect from');
      return;
    }
    const token = readFileSync(join(m.stateDir, 'admin-token'), 'utf8').trim();
    // What a browser is answered without the token or with a wrong one (Playwright's browser gives
    // up on a challenge it has no credentials for, so these are asked without it).
    const basic = (password: string): string => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
    for (const [why, headers] of [['none', {}], ['wrong', { authorization: basic(`${token}x`) }]] as const) {
      const r = await fetch(`${m.admin}/ui/`, { headers });
      assert.equal(r.status, 401, why);
      assert.match(r.headers.get('www-authenticate') ?? '', /Basic realm="vgpu"/, why);
      assert.doesNotMatch(await r.text(), /<html/i, `${why}: not the page`);
    }
    const sse = await fetch(`${m.admin}/v1/events`);
    assert.equal(sse.status, 401, 'the event stream is behind the token too');
    assert.equal((await fetch(`${m.admin}/ui/`, { headers: { authorization: basic(token) } })).status, 200);

    const operator = await browser.newContext({ httpCredentials: { username: 'admin', password: token } });
    t.after(() => operator.close());
    const page = await operator.newPage();
    assert.equal((await page.goto(`${m.admin}/ui/`))?.status(), 200);
    await page.waitForSelector('[data-connection="open"]', { timeout: SHOWS_MS });
    await page.waitForSelector('#vms tr[data-vm="local"]', { timeout: SHOWS_MS });
    // A change made from there goes through the browser guard (Origin is the page's own).
    await page.locator('#vms tr[data-vm="local"] button', { hasText: 'Edit' }).click();
    const editor = page.locator('form[aria-label="edit VM local"]');
    await editor.locator('input[name=weight]').fill('7');
    await editor.locator('button[type=submit]').click();
    await page.waitForSelector('#vms tr[data-vm="local"] td[data-field="weight"]:text-is("7")', { timeout: SHOWS_MS });
    const audit = await fetch(`${m.admin}/v1/audit?target=local`, { headers: { authorization: basic(token) } });
    const update = ((await audit.json()) as AuditJson[]).find((e) => e.action === 'vm.update');
    assert.equal(update?.actor, 'operator:admin', 'the Basic credentials name who made the change, as a bearer token does');
  });
});
