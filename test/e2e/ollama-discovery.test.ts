// Ollama's GPU discovery replayed against a real mediator: its native probe (dlopen/dlsym,
// cuInit, driver version, NVML driver branch, count, attributes 75/76/18, name, memory, PCI id),
// run as several short-lived processes at once, some killed in the middle of initialisation, then
// the second pass with CUDA_VISIBLE_DEVICES set to an index and to GPU-<uuid>. It must end with a
// usable device whose compute capability, PCI id and memory are set, and cost no executor.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest } from '../helpers/programs.js';
import { BIN } from '../helpers/paths.js';

interface Probe {
  driver: number;
  nvidia_driver: string;
  devices: Array<{ name: string; compute: string; integrated: number; total: number; pci_id: string }>;
}

let m: RunningMediator;
let prog: string;
before(async () => {
  m = await startMediator();
  prog = buildProgram('ollama_probe', ['-ldl']);
});
after(async () => {
  await m?.stop();
});

async function probe(env: Record<string, string> = {}): Promise<{ code: number | null; out: Probe | null; raw: string }> {
  const r = await runGuest(prog, ['--server', m.server], env, 30_000);
  let out: Probe | null = null;
  try {
    out = JSON.parse(r.stdout.trim()) as Probe;
  } catch {
    /* left null */
  }
  return { code: r.code, out, raw: r.stdout + r.stderr };
}

function assertUsable(p: Probe | null, raw: string): void {
  assert.ok(p, raw);
  assert.ok(Math.floor(p.driver / 1000) >= 12, 'CUDA driver major');
  assert.ok(Number(p.nvidia_driver.split('.')[0]) >= 570, `NVIDIA driver branch ${p.nvidia_driver} passes Ollama's checks`);
  assert.equal(p.devices.length, 1);
  const d = p.devices[0]!;
  assert.match(d.compute, /^(5\.[02]|6\.[01]|7\.[05]|8\.[069]|9\.0|10\.0|12\.0)$/, `compute ${d.compute} is one Ollama's cuda_v12 build accepts`);
  assert.equal(d.integrated, 0);
  assert.ok(d.total > 0, 'memory set');
  assert.match(d.pci_id, /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$/, 'PCI id set');
}

test("first pass: Ollama's probes, several at once, find the device", async () => {
  const runs = await Promise.all([probe(), probe(), probe()]);
  for (const r of runs) {
    assert.equal(r.code, 0, r.raw);
    assertUsable(r.out, r.raw);
  }
  assert.deepEqual(new Set(runs.map((r) => r.out!.devices[0]!.pci_id)).size, 1, 'every probe sees the same PCI id');
});

test('probes killed in the middle of initialisation hurt nothing, and cost no executor', async () => {
  const attachedBefore = m.logs.filter((l) => l.msg === 'session attached to executor').length;
  const kills: Array<Promise<void>> = [];
  for (const delay of [0, 2, 5, 10, 20, 40]) {
    const p = spawn(join(BIN, 'vgpu-run'), ['--server', m.server, '--', prog]);
    kills.push(new Promise((resolve) => {
      setTimeout(() => p.kill('SIGKILL'), delay);
      p.on('exit', () => resolve());
    }));
  }
  await Promise.all(kills);
  const after = await probe();
  assert.equal(after.code, 0, after.raw);
  assertUsable(after.out, after.raw);
  assert.equal(m.logs.filter((l) => l.msg === 'session attached to executor').length, attachedBefore, 'discovery started no executor');
  assert.equal(m.proc.exitCode, null, 'mediator still running');
});

test('second pass: CUDA_VISIBLE_DEVICES as an index and as GPU-<uuid> keeps the device', async () => {
  const first = await probe();
  assertUsable(first.out, first.raw);
  const byIndex = await probe({ CUDA_VISIBLE_DEVICES: '0' });
  assert.equal(byIndex.code, 0, byIndex.raw);
  assertUsable(byIndex.out, byIndex.raw);
  // The UUID as the driver reports it, the way Ollama Era B passes it.
  const uuid = await deviceUuid();
  const byUuid = await probe({ CUDA_VISIBLE_DEVICES: uuid });
  assert.equal(byUuid.code, 0, byUuid.raw);
  assertUsable(byUuid.out, byUuid.raw);
  assert.equal(byUuid.out!.devices[0]!.pci_id, first.out!.devices[0]!.pci_id);
  const prefix = await probe({ CUDA_VISIBLE_DEVICES: uuid.slice(0, 12) });
  assert.equal(prefix.code, 0, 'a unique UUID prefix selects the device too');
  const none = await probe({ CUDA_VISIBLE_DEVICES: '1' });
  assert.notEqual(none.code, 0, 'an index that does not exist leaves no device');
});

/** GPU-<uuid> of device 0, as cuDeviceGetUuid reports it. */
async function deviceUuid(): Promise<string> {
  const r = await runGuest(buildProgram('uuid'), ['--server', m.server], {}, 30_000);
  const u = r.stdout.trim();
  assert.match(u, /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, r.stdout + r.stderr);
  return u;
}

test('a VM configured with a PCI bus id shows it on every path', async () => {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'pci-vm', '--pci-bus-id', '0000:65:00.0', '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
  const token = out.trim().split('\n').at(-1)!;
  const r = await runGuest(prog, ['--server', m.server, '--token', token], {}, 30_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const p = JSON.parse(r.stdout.trim()) as Probe;
  assert.equal(p.devices[0]!.pci_id, '0000:65:00.0');
  // cudart hashes the PCI attributes in its integrity check: they must agree with the bus id.
  const rt = await runGuest(buildProgram('driver_api'), ['--server', m.server, '--token', token], {}, 120_000);
  assert.match(rt.stdout, /# pci 0000:65:00\.0/i);
  assert.doesNotMatch(rt.stdout, /^not ok/m);
});
