// vgpu-admin support-bundle: the archive holds the expected files (doctor's report, versions,
// the mediator's configuration, a store summary, its log) and no token, wherever one appeared.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { redact, redactArgs } from '../../src/doctor/bundle.js';
import { reportSchema } from '../../src/doctor/report.js';
import { startMediator } from '../helpers/mediator.js';
import { cli, tempDir } from './helpers.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

test('redaction: tokens by their form, secret-named keys, options and bearer headers', () => {
  const vm = 'vgpu_' + 'A'.repeat(43);
  const adm = 'vgpuadm_' + 'b'.repeat(43);
  const op = 'vgpuop_' + 'c'.repeat(43);
  const text = `{"msg":"x","auth":"Bearer ${adm}"}\ntoken = ${vm}\nserver = tcp:h:1\n  "VGPU_TOKEN": "plain-secret-value"\nkept ${vm.slice(0, 10)}\nan operator's ${op} too`;
  const out = redact(text);
  assert.ok(!out.includes(vm) && !out.includes(adm) && !out.includes(op) && !out.includes('plain-secret-value'), out);
  assert.match(out, /server = tcp:h:1/);
  assert.match(out, /^token = \[redacted\]$/m);
  assert.deepEqual(redactArgs(['--state-dir', '/x', '--token', 'abc', '--admin-token=def', '--listen', 'unix:/s']),
    ['--state-dir', '/x', '--token', '[redacted]', '--admin-token=[redacted]', '--listen', 'unix:/s']);
});

test('support-bundle: doctor, versions, configuration, store summary and logs, with no token in any of them', async (t) => {
  const dir = tempDir(t);
  // A token in the mediator's environment: the bundle records VGPU_* variables.
  const planted = 'vgpu_' + 'Z'.repeat(43);
  const m = await startMediator({ tcp: true, env: { VGPU_TOKEN: planted } });
  t.after(() => m.stop());
  const token = await m.addVm('bundled', { memoryQuota: 512 * 1024 * 1024 });
  const adminToken = readFileSync(path.join(m.stateDir, 'admin-token'), 'utf8').trim();
  // The mediator's stderr, as an operator would have redirected it; a token leaked into it.
  const log = path.join(dir, 'mediator.log');
  writeFileSync(log, m.logs.map((l) => JSON.stringify(l)).join('\n') + `\n{"msg":"leaked ${token} and ${adminToken}"}\n`);
  const out = path.join(dir, 'bundle.tar.gz');
  const r = await cli(['--state-dir', m.stateDir, '--json', 'support-bundle', '-o', out, '--log', log], { HOME: dir });
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { file: string; files: string[] };
  assert.equal(res.file, out);

  const x = path.join(dir, 'x');
  execFileSync('mkdir', ['-p', x]);
  execFileSync('tar', ['-xzf', out, '-C', x]);
  const [top, ...more] = readdirSync(x);
  assert.equal(more.length, 0);
  assert.match(top!, /^vgpu-support-.+-\d{4}-\d\d-\d\dT/);
  const root = path.join(x, top!);
  assert.deepEqual(filesUnder(root), ['README.txt', 'config.json', 'doctor.json', 'logs/mediator.log', 'store.json', 'versions.json']);

  const doctor = reportSchema.parse(JSON.parse(readFileSync(path.join(root, 'doctor.json'), 'utf8')));
  assert.ok(doctor.checks.some((c) => c.name === 'listeners' && c.state === 'ok'));
  const versions = JSON.parse(readFileSync(path.join(root, 'versions.json'), 'utf8')) as Record<string, string>;
  assert.equal(versions['node'], process.versions.node);
  assert.ok(versions['vgpu'] && versions['kernel'] && versions['driver']);
  const config = JSON.parse(readFileSync(path.join(root, 'config.json'), 'utf8')) as { mediator: { argv: string[]; environment: Record<string, string> } };
  assert.ok(config.mediator.argv.includes('--state-dir'), JSON.stringify(config));
  assert.equal(config.mediator.environment['VGPU_TOKEN'], '[redacted]');
  const store = JSON.parse(readFileSync(path.join(root, 'store.json'), 'utf8')) as { vms: Array<{ name: string }>; pools: unknown[] };
  assert.ok(store.vms.some((v) => v.name === 'bundled'));
  assert.ok(store.pools.length >= 1);
  const logText = readFileSync(path.join(root, 'logs/mediator.log'), 'utf8');
  assert.match(logText, /mediator listening/);
  assert.match(logText, /leaked \[redacted\] and \[redacted\]/);

  for (const f of filesUnder(root)) {
    const text = readFileSync(path.join(root, f), 'utf8');
    for (const secret of [token, adminToken, planted]) assert.ok(!text.includes(secret), `${f} holds a token`);
  }
  // An archive is never overwritten.
  const again = await cli(['--state-dir', m.stateDir, 'support-bundle', '-o', out, '--log', log], { HOME: dir });
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists; choose another name with -o FILE/);
});

test('support-bundle without a log file or journal says where the log would come from', async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, 'b.tar.gz');
  const r = await cli(['--state-dir', dir, 'support-bundle', '-o', out, '--backend', 'softgpu', '--unit', 'vgpu-no-such-unit.service'], { HOME: dir, PATH: process.env['PATH'] });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^wrote /);
  assert.match(r.stdout, /note: .*vgpu-no-such-unit\.service.*--log FILE/);
  assert.match(r.stdout, /doctor found problems/);
  const list = execFileSync('tar', ['-tzf', out], { encoding: 'utf8' });
  assert.match(list, /README\.txt/);
  assert.doesNotMatch(list, /logs\//);
  // A diagnostic creates nothing: no store appeared in the empty state directory.
  assert.deepEqual(readdirSync(dir).sort(), ['b.tar.gz']);
});

test("support-bundle holds the mediator's configuration file, with its secrets redacted", async (t) => {
  const dir = tempDir(t);
  const conf = path.join(dir, 'mediator.toml');
  const planted = 'vgpu_' + 'Q'.repeat(43);
  writeFileSync(conf, `state-dir = "${dir}"\nlisten = ["unix:${path.join(dir, 's.sock')}"]\n# a VM's token pasted by mistake: ${planted}\ntls-key = "/etc/vgpu/key.pem"\n`);
  const out = path.join(dir, 'b.tar.gz');
  const r = await cli(['--state-dir', dir, 'support-bundle', '-o', out, '--backend', 'softgpu', '--config', conf, '--unit', 'vgpu-no-such-unit.service'], { HOME: dir, PATH: process.env['PATH'] });
  assert.equal(r.status, 0, r.stderr);
  const x = path.join(dir, 'x');
  mkdirSync(x);
  execFileSync('tar', ['-xzf', out, '-C', x]);
  const text = readFileSync(path.join(x, readdirSync(x)[0]!, 'config', 'mediator.toml'), 'utf8');
  assert.match(text, /^listen = \["unix:/m);
  assert.doesNotMatch(text, new RegExp(planted));
  assert.match(text, /^tls-key = "\[redacted\]"$/m);
});
