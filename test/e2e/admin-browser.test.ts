// The admin API against web pages in a browser on the host (src/admin/browser-guard.ts): a page
// that rebinds its own name to 127.0.0.1 cannot create a VM, a page of another origin cannot
// rotate a token with a bodyless POST, and a form cannot change anything; vgpu-admin's requests
// and token holders' go through.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { allowedHosts } from '../../src/admin/browser-guard.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';

let m: RunningMediator;
let port: number;
before(async () => {
  m = await startMediator();
  port = Number(new URL(m.admin!).port);
});
after(async () => {
  await m?.stop();
});

/** One request to the API over loopback with exactly these headers (fetch would set Host itself). */
function raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text === '' ? undefined : JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function vmNames(): Promise<string[]> {
  const r = await raw('GET', '/v1/vms', { host: `127.0.0.1:${port}` });
  assert.equal(r.status, 200);
  return (r.json as Array<{ name: string }>).map((v) => v.name);
}

test('the Host names an API may be reached by', () => {
  assert.deepEqual([...allowedHosts('127.0.0.1', 7080)].sort(), ['127.0.0.1:7080', '[::1]:7080', 'localhost:7080']);
  assert.deepEqual([...allowedHosts('::1', 7080)].sort(), ['127.0.0.1:7080', '[::1]:7080', 'localhost:7080']);
  assert.deepEqual([...allowedHosts('0.0.0.0', 7080)].sort(), ['127.0.0.1:7080', '[::1]:7080', 'localhost:7080']);
  assert.deepEqual([...allowedHosts('192.0.2.7', 7080)], ['192.0.2.7:7080']);
  assert.ok(allowedHosts('127.0.0.1', 80).has('localhost'), 'port 80 may be left out');
  assert.ok(!allowedHosts('127.0.0.1', 7081).has('localhost'));
});

test('DNS rebinding: POST /v1/vms with Host evil.example creates no VM', async () => {
  const body = JSON.stringify({ name: 'rebound' });
  const extras: Array<Record<string, string>> = [{}, { 'x-vgpu-request': '1' }];
  for (const extra of extras) {
    const r = await raw('POST', '/v1/vms', { host: `evil.example:${port}`, 'content-type': 'application/json', ...extra }, body);
    assert.equal(r.status, 421);
    assert.equal(r.json.error.code, 'VGPU_ERR_FORBIDDEN');
    assert.match(r.json.error.message, /Host "evil\.example:\d+" does not name this API/);
  }
  assert.equal((await raw('GET', '/v1/vms', { host: `evil.example:${port}` })).status, 421, 'reads too');
  // HTTP/1.1 without Host: Node's server refuses it before the API sees it.
  assert.equal((await raw('GET', '/v1/vms', {})).status, 400, 'a request without Host');
  assert.ok(!(await vmNames()).includes('rebound'));
});

test('cross-origin: a bodyless POST /v1/vms/NAME/token from another site rotates nothing', async () => {
  await m.addVm('victim');
  const host = `127.0.0.1:${port}`;
  const fromPage = await raw('POST', '/v1/vms/victim/token', { host, origin: 'http://evil.example' });
  assert.equal(fromPage.status, 403);
  assert.equal(fromPage.json.error.code, 'VGPU_ERR_FORBIDDEN');
  assert.match(fromPage.json.error.message, /other origins/);
  assert.equal((await raw('POST', '/v1/vms/victim/token', { host, origin: 'null', 'x-vgpu-request': '1' })).status, 403, 'an opaque origin');
  // A form posts without a JSON body or the marker header, whatever Origin the browser gives it.
  for (const type of [undefined, 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
    const form = await raw('POST', '/v1/vms/victim/token', { host, ...(type ? { 'content-type': type } : {}) }, type ? 'a=b' : undefined);
    assert.equal(form.status, 403, `content type ${type}`);
    assert.match(form.json.error.message, /needs a JSON body .* or the header X-Vgpu-Request: 1/);
  }
  assert.equal((await raw('DELETE', '/v1/vms/victim', { host })).status, 403);
  const audit = await raw('GET', '/v1/audit?target=victim', { host });
  assert.deepEqual((audit.json as Array<{ action: string }>).map((e) => e.action), ['vm.create'], 'the token was not rotated');
  assert.ok((await vmNames()).includes('victim'));
});

test("vgpu-admin's requests and token holders' go through", async () => {
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
    assert.equal((await raw('GET', '/v1/vms', { host })).status, 200, host);
  }
  const own = await raw('GET', '/v1/vms', { host: `localhost:${port}`, origin: `http://localhost:${port}` });
  assert.equal(own.status, 200, "the API's own origin");
  const marked = await raw('POST', '/v1/vms/local/token', { host: `127.0.0.1:${port}`, 'x-vgpu-request': '1' });
  assert.equal(marked.status, 200);
  const json = await raw('POST', '/v1/vms', { host: `127.0.0.1:${port}`, 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ name: 'plain' }));
  assert.equal(json.status, 201, 'a JSON body needs no marker');
  // The token proves the client is not a page: it may name the host as it reached it.
  const admin = readFileSync(join(m.stateDir, 'admin-token'), 'utf8').trim();
  const remote = await raw('GET', '/v1/vms', { host: `gpu-host.example:${port}`, authorization: `Bearer ${admin}` });
  assert.equal(remote.status, 200);
});
