// vgpu-admin's vm commands, run in-process through main() against temporary state directories.

import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { vmSchema } from '../../src/admin/schemas.js';
import { Store } from '../../src/store/index.js';
import { cli, snapshot, tempDir } from './helpers.js';

function lastLine(s: string): string {
  return s.trimEnd().split('\n').at(-1) ?? '';
}

function withStore<T>(dir: string, fn: (s: Store) => T): T {
  const s = Store.open(dir, { actor: 'test' });
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

test('vm add creates the VM; --print-token puts a working token on the last line', async (t) => {
  const dir = tempDir(t);
  const r = await cli(['--state-dir', dir, 'vm', 'add', 'web1', '--memory', '2G', '--priority', 'high', '--weight', '250', '--print-token']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /created VM web1 \(pool default, priority high, weight 250, memory quota 2 GiB, 1 vGPU\)/);
  const token = lastLine(r.stdout);
  assert.match(token, /^vgpu_[A-Za-z0-9_-]{43}$/);
  withStore(dir, (s) => {
    const vm = s.findVmByToken(token);
    assert.equal(vm?.name, 'web1');
    assert.equal(vm?.memoryQuota, 2 * 1024 ** 3);
    assert.equal(vm?.weight, 250);
    assert.equal(s.listAudit().at(-1)?.actor.startsWith('cli:'), true);
  });
});

test('vm add without --print-token prints no token and says how to get one', async (t) => {
  const dir = tempDir(t);
  const r = await cli(['vm', 'add', 'quiet', '--state-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /vgpu_[A-Za-z0-9_-]{43}/);
  assert.match(r.stdout, /vgpu-admin vm token quiet --rotate/);
  const rot = await cli(['vm', 'token', 'quiet', '--rotate', '--state-dir', dir]);
  assert.equal(rot.status, 0, rot.stderr);
  const token = lastLine(rot.stdout);
  withStore(dir, (s) => assert.equal(s.findVmByToken(token)?.name, 'quiet'));
  const again = await cli(['vm', 'token', 'quiet', '--rotate', '--state-dir', dir]);
  withStore(dir, (s) => {
    assert.equal(s.findVmByToken(token), null, 'rotated-away token still works');
    assert.equal(s.findVmByToken(lastLine(again.stdout))?.name, 'quiet');
  });
  const show = await cli(['vm', 'token', 'quiet', '--state-dir', dir]);
  assert.equal(show.status, 2);
  assert.match(show.stderr, /cannot be shown: only its hash is stored/);
  assert.match(show.stderr, /vm token quiet --rotate/);
});

test('--state-dir works before and after the subcommand, and VGPU_STATE_DIR and HOME are the fallbacks', async (t) => {
  const a = tempDir(t);
  const b = tempDir(t);
  const c = tempDir(t);
  const home = tempDir(t);
  assert.equal((await cli(['--state-dir', a, 'vm', 'add', 'in-a'])).status, 0);
  assert.equal((await cli(['vm', 'add', 'in-b', '--state-dir', b])).status, 0);
  assert.equal((await cli(['vm', '--state-dir=' + b, 'add', 'in-b2'])).status, 0);
  assert.equal((await cli(['vm', 'add', 'in-c'], { VGPU_STATE_DIR: c })).status, 0);
  assert.equal((await cli(['vm', 'add', 'in-a2', '--state-dir', a], { VGPU_STATE_DIR: c })).status, 0, 'flag beats env');
  // --no-config: a host's /etc/vgpu/mediator.toml would name its state directory instead.
  assert.equal((await cli(['vm', 'add', 'in-home', '--no-config'], { HOME: home })).status, 0);
  const names = (dir: string): string[] => withStore(dir, (s) => s.listVms().map((v) => v.name));
  assert.deepEqual(names(a), ['in-a', 'in-a2']);
  assert.deepEqual(names(b), ['in-b', 'in-b2']);
  assert.deepEqual(names(c), ['in-c']);
  const def = path.join(home, '.local', 'state', 'vgpu');
  assert.deepEqual(names(def), ['in-home']);
  assert.equal(statSync(def).mode & 0o777, 0o700);
  const listed = await cli(['show-vms'], { VGPU_STATE_DIR: c });
  assert.match(listed.stdout, /^NAME\s+POOL\s+PRIORITY\s+WEIGHT\s+MEMORY\s+VGPUS\s+CREATED\nin-c\s+default\s+medium\s+100\s+none\s+1\s/);
});

test("without --state-dir or VGPU_STATE_DIR, the configuration file's state-dir is used (the packaged host's)", async (t) => {
  const dir = tempDir(t);
  const packaged = path.join(dir, 'packaged');
  const conf = path.join(dir, 'mediator.toml');
  writeFileSync(conf, `state-dir = "${packaged}"\nlisten = ["unix:${path.join(dir, 's.sock')}"]\n`);
  assert.equal((await cli(['vm', 'add', 'from-file', '--config', conf], { HOME: dir })).status, 0);
  assert.deepEqual(withStore(packaged, (s) => s.listVms().map((v) => v.name)), ['from-file']);
  const own = path.join(dir, 'own');
  assert.equal((await cli(['--config', conf, 'vm', 'add', 'from-env'], { HOME: dir, VGPU_STATE_DIR: own })).status, 0, 'env beats file');
  assert.deepEqual(withStore(own, (s) => s.listVms().map((v) => v.name)), ['from-env']);
  writeFileSync(conf, 'state-dir = ""\n');
  const bad = await cli(['vm', 'list', '--config', conf, '--json'], { HOME: dir });
  assert.equal(bad.status, 2);
  assert.equal(JSON.parse(bad.stderr).error.code, 'VGPU_ERR_CONFIG');
  assert.match(bad.stderr, /mediator\.toml:1: state-dir/);
  assert.equal((await cli(['vm', 'list', '--config', conf, '--state-dir', own], { HOME: dir })).status, 0, 'not read when the flag names the directory');
});

test('vm list and show-vms, human and --json', async (t) => {
  const dir = tempDir(t);
  const empty = await cli(['vm', 'list', '--state-dir', dir]);
  assert.equal(empty.status, 0);
  assert.match(empty.stdout, /no VMs .*vgpu-admin vm add NAME/);
  assert.deepEqual(JSON.parse((await cli(['--json', 'vm', 'list', '--state-dir', dir])).stdout), []);
  await cli(['vm', 'add', 'b', '--memory', '512M', '--vgpus', '2', '--state-dir', dir]);
  await cli(['vm', 'add', 'a', '--priority', 'low', '--state-dir', dir]);
  const human = await cli(['vm', 'list', '--state-dir', dir]);
  const lines = human.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[1] ?? '', /^a\s+default\s+low\s+100\s+none\s+1\s+\d{4}-\d\d-\d\d \d\d:\d\dZ$/, 'table times are UTC, marked Z');
  assert.match(lines[2] ?? '', /^b\s+default\s+medium\s+100\s+512 MiB\s+2\s/);
  const json = JSON.parse((await cli(['show-vms', '--json', '--state-dir', dir])).stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(json.map((v) => v['name']), ['a', 'b']);
  assert.equal(json[1]?.['memoryQuota'], 512 * 1024 ** 2);
  assert.equal(json[1]?.['vgpus'], 2);
  assert.ok(!JSON.stringify(json).includes('token'), 'JSON output mentions tokens');
  // The public form of a VM, the admin API's (vmSchema): the store's row id stays inside.
  assert.deepEqual(Object.keys(json[0] ?? {}), Object.keys(vmSchema.shape));
});

test('vm show, human and --json with usage', async (t) => {
  const dir = tempDir(t);
  await cli(['vm', 'add', 'v', '--memory', '1536M', '--pci-bus-id', '0000:65:00.0', '--notes', 'lab box', '--state-dir', dir]);
  const r = await cli(['vm', 'show', 'v', '--state-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^name:\s+v$/m);
  assert.match(r.stdout, /^memory quota:\s+1\.5 GiB \(1610612736 bytes\)$/m);
  assert.match(r.stdout, /^PCI bus id:\s+0000:65:00\.0$/m);
  assert.match(r.stdout, /^notes:\s+lab box$/m);
  const j = JSON.parse((await cli(['vm', 'show', 'v', '--json', '--state-dir', dir])).stdout) as Record<string, unknown>;
  assert.equal(j['memoryQuota'], 1610612736);
  assert.deepEqual(j['usage'], { deviceTimeNs: 0, bytesHtoD: 0, bytesDtoH: 0, calls: 0, peakMemory: 0, updatedAt: null });
});

test('vm set changes the given fields; --memory none clears the quota; nothing to change is an error', async (t) => {
  const dir = tempDir(t);
  await cli(['vm', 'add', 'v', '--memory', '2G', '--state-dir', dir]);
  const r = await cli(['vm', 'set', 'v', '--memory', 'none', '--priority', 'HIGH', '--weight', '5', '--state-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /updated VM v: priority medium -> high, weight 100 -> 5, memory 2 GiB -> none/);
  withStore(dir, (s) => {
    const vm = s.getVm('v');
    assert.equal(vm.memoryQuota, null);
    assert.equal(vm.priority, 'high');
    assert.equal(vm.weight, 5);
  });
  const j = JSON.parse((await cli(['--json', 'vm', 'set', 'v', '--memory', '3G', '--state-dir', dir])).stdout) as Record<string, unknown>;
  assert.equal(j['memoryQuota'], 3 * 1024 ** 3);
  const same = await cli(['vm', 'set', 'v', '--weight', '5', '--state-dir', dir]);
  assert.match(same.stdout, /VM v unchanged/);
  const none = await cli(['vm', 'set', 'v', '--state-dir', dir]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /nothing to change: give at least one of --priority/);
});

test('vm add and set --max-hold: a duration, off, or back to the mediator\'s default; bad ones refused', async (t) => {
  const dir = tempDir(t);
  const add = await cli(['vm', 'add', 'v', '--max-hold', '5s', '--state-dir', dir]);
  assert.equal(add.status, 0, add.stderr);
  const show = await cli(['vm', 'show', 'v', '--state-dir', dir]);
  assert.match(show.stdout, /^max hold:\s+5s$/m);
  const off = await cli(['vm', 'set', 'v', '--max-hold', 'OFF', '--state-dir', dir]);
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stdout, /updated VM v: max-hold 5s -> off/);
  const back = await cli(['vm', 'set', 'v', '--max-hold', 'default', '--state-dir', dir]);
  assert.match(back.stdout, /max-hold off -> default \(the mediator's --max-hold\)/);
  withStore(dir, (s) => assert.equal(s.getVm('v').maxHoldMs, null));
  const j = JSON.parse((await cli(['--json', 'vm', 'set', 'v', '--max-hold', '1.5s', '--state-dir', dir])).stdout) as Record<string, unknown>;
  assert.equal(j['maxHoldMs'], 1500);
  const bad = await cli(['vm', 'set', 'v', '--max-hold', '5', '--state-dir', dir]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /invalid maxHoldMs: "5" is not a duration like 5s or 500ms/);
  withStore(dir, (s) => assert.equal(s.getVm('v').maxHoldMs, 1500));
});

test('vm rm removes the VM; --json reports what was removed', async (t) => {
  const dir = tempDir(t);
  await cli(['vm', 'add', 'a', '--state-dir', dir]);
  await cli(['vm', 'add', 'b', '--state-dir', dir]);
  const r = await cli(['vm', 'rm', 'a', '--state-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /removed VM a/);
  const j = JSON.parse((await cli(['vm', 'rm', 'b', '--json', '--state-dir', dir])).stdout) as { removed: { name: string } };
  assert.equal(j.removed.name, 'b');
  withStore(dir, (s) => assert.deepEqual(s.listVms(), []));
});

test('bad input: clear message, the right exit status, and the store unchanged', async (t) => {
  const dir = tempDir(t);
  await cli(['vm', 'add', 'taken', '--memory', '1G', '--state-dir', dir]);
  const before = snapshot(dir);
  const cases: Array<[string[], number, RegExp]> = [
    [['vm', 'add', 'taken'], 4, /a VM named "taken" already exists\n.*vgpu-admin vm rm taken/],
    [['vm', 'add', 'x', '--memory', '2 apples'], 2, /invalid size "2 apples"/],
    [['vm', 'add', 'x', '--memory', '-2G'], 2, /sizes cannot be negative/],
    [['vm', 'add', 'x', '--memory', '99999999P'], 2, /larger than the largest size/],
    [['vm', 'add', 'x', '--priority', 'urgent'], 2, /invalid priority "urgent"\n.*high, medium, low/],
    [['vm', 'add', 'x', '--weight', 'heavy'], 2, /invalid --weight: expected a whole number, got "heavy"/],
    [['vm', 'add', 'x', '--weight', '0'], 2, /invalid weight: must be at least 1/],
    [['vm', 'add', 'x', '--pool', 'gold'], 3, /no pool named "gold"\n.*pools that exist: default/],
    [['vm', 'add', 'bad/name'], 2, /invalid VM name "bad\/name"/],
    [['vm', 'add'], 2, /missing required argument 'name'/],
    [['vm', 'add', 'x', '--bogus'], 2, /unknown option '--bogus'/],
    [['vm', 'add', 'x', 'y'], 2, /too many arguments/],
    [['vm', 'show', 'nope'], 3, /no VM named "nope"\n.*vgpu-admin vm add nope/],
    [['vm', 'set', 'nope', '--weight', '3'], 3, /no VM named "nope"/],
    [['vm', 'set', 'taken', '--memory', 'big'], 2, /invalid size "big"/],
    [['vm', 'set', 'taken', '--priority', 'urgent'], 2, /invalid priority/],
    [['vm', 'rm', 'nope'], 3, /no VM named "nope"/],
    [['vm', 'token', 'nope', '--rotate'], 3, /no VM named "nope"/],
    [['vm', 'frob'], 2, /unknown command 'frob'/],
    [['--state-dir', '', 'vm', 'list'], 2, /--state-dir needs a directory/],
  ];
  for (const [argv, status, message] of cases) {
    const r = await cli(argv[0] === '--state-dir' ? argv : [...argv, '--state-dir', dir]);
    assert.equal(r.status, status, `${argv.join(' ')}: status ${r.status}, stderr ${r.stderr}`);
    assert.match(r.stderr, message, argv.join(' '));
    assert.match(r.stderr, /^vgpu-admin: error: /, argv.join(' '));
    assert.equal(r.stdout, '', `${argv.join(' ')} printed to stdout`);
  }
  assert.equal(snapshot(dir), before);
});

test('with --json, errors are one JSON object on stderr carrying the stable code', async (t) => {
  const dir = tempDir(t);
  const r = await cli(['--json', 'vm', 'show', 'nope', '--state-dir', dir]);
  assert.equal(r.status, 3);
  assert.equal(r.stdout, '');
  const e = JSON.parse(r.stderr) as { error: { code: string; message: string; hint: string } };
  assert.equal(e.error.code, 'VGPU_ERR_VM_NOT_FOUND');
  assert.equal(e.error.message, 'no VM named "nope"');
  const u = JSON.parse((await cli(['vm', 'add', '--json', '--state-dir', dir])).stderr) as { error: { code: string } };
  assert.equal(u.error.code, 'VGPU_ERR_USAGE');
  const add = JSON.parse((await cli(['vm', 'add', 'v', '--json', '--print-token', '--state-dir', dir])).stdout) as {
    vm: { name: string }; token: string;
  };
  assert.equal(add.vm.name, 'v');
  withStore(dir, (s) => assert.equal(s.findVmByToken(add.token)?.name, 'v'));
  const noTok = JSON.parse((await cli(['vm', 'add', 'w', '--json', '--state-dir', dir])).stdout) as Record<string, unknown>;
  assert.equal(noTok['token'], undefined);
});

test('help and usage: no arguments is a usage error; --help succeeds; a group alone shows its help', async (t) => {
  const dir = tempDir(t);
  const none = await cli([], { VGPU_STATE_DIR: dir });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /Usage: vgpu-admin/);
  const help = await cli(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--state-dir <dir>/);
  assert.match(help.stdout, /show-vms/);
  const addHelp = await cli(['vm', 'add', '--help']);
  assert.equal(addHelp.status, 0);
  assert.match(addHelp.stdout, /--print-token/);
  // What a VM gets when an option is left out; `vm set` changes nothing left out, so shows none.
  const flat = addHelp.stdout.replace(/\s+/g, ' ');
  for (const d of ['(default: medium)', '(default: default)', '(default: 100)', '(default: none, the whole GPU)']) assert.ok(flat.includes(d), d);
  assert.doesNotMatch((await cli(['vm', 'set', '--help'])).stdout, /default: medium/);
  assert.match(addHelp.stdout, /Examples:/);
  const group = await cli(['vm'], { VGPU_STATE_DIR: dir });
  assert.equal(group.status, 2);
  assert.match(group.stderr, /add \[options\] <name>/);
  assert.equal(existsSync(path.join(dir, 'vgpu_config.db')), false, 'help opened the store');
});

test('help COMMAND... shows that command\'s help, however deep; an unknown one names the known', async () => {
  const viaHelp = await cli(['help', 'vm', 'add']);
  assert.equal(viaHelp.status, 0);
  assert.equal(viaHelp.stdout, (await cli(['vm', 'add', '--help'])).stdout);
  assert.match(viaHelp.stdout, /^Usage: vgpu-admin vm add \[options\] <name>/);
  const group = await cli(['help', 'vm']);
  assert.equal(group.status, 0);
  assert.match(group.stdout, /^Usage: vgpu-admin vm /);
  const root = await cli(['help']);
  assert.equal(root.status, 0);
  assert.match(root.stdout, /^Usage: vgpu-admin \[options\] \[command\]/);
  const bad = await cli(['help', 'vm', 'nope']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no command 'vm nope' \(commands of vm: add, list, show, set, rm, token\)/);
});
