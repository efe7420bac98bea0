// Board values from the host's NVML (docs/operations.md, "Board values from the host's NVML"):
// with VGPU_HOST_NVML pointing at a fake NVML (test/fixtures/fake-host-nvml.c; this machine has no
// GPU), a guest's NVML and nvidia-smi report that board's temperature, power, clocks, fan and
// performance state instead of softgpu's synthetic ones. The fake has two boards; softgpu's device
// matches the one at its PCI bus id, so the decoy's values showing would be a wrong match. Without
// the library the mediator warns once and the guest keeps the synthetic board.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest } from '../helpers/programs.js';
import { getNvidiaSmi } from '../helpers/nvidia-smi.js';
import { buildFakeNvml } from '../helpers/fake-nvml.js';
import { BUILD } from '../helpers/paths.js';

const NOT_SUPPORTED = { err: 3 };

/** The fake board at softgpu's PCI bus id (0000:7F:00.0), as test/fixtures/fake-host-nvml.c has it. */
const BOARD = {
  temp: 47, power: 123456, limit: 275000, mgmtLimit: 275000, gfx: 1111, sm: 1234, mem: 5678,
  gfxMax: 2222, smMax: 2345, memMax: 6789, fan: 42, fan0: 42, pstate: 2,
};

let fake: string;
let prog: string;

/** test/programs/nvml_board.c through the guest NVML: every board value of device 0, or its error. */
async function boardSeen(m: RunningMediator): Promise<Record<string, unknown>> {
  const r = await runGuest(prog, ['--server', m.server], {}, 60_000);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

before(() => {
  fake = buildFakeNvml();
  prog = buildProgram('nvml_board', ['-lnvidia-ml']);
});

describe('a host NVML matched by PCI bus id', () => {
  let m: RunningMediator;
  before(async () => {
    m = await startMediator({ env: { VGPU_HOST_NVML: fake } });
  });
  after(async () => {
    await m?.stop();
  });

  test('the guest NVML reports the host board\'s readings, and N/A for what the host does not forward', async () => {
    const seen = await boardSeen(m);
    const { slowdown, smApp, ...readings } = seen;
    assert.deepEqual(readings, BOARD);
    // Thresholds are not forwarded: N/A rather than softgpu's constants next to a real reading.
    assert.deepEqual(slowdown, NOT_SUPPORTED);
    // The application clock stays the device attribute's rate (softgpu's 1500 MHz).
    assert.equal(smApp, 1500);
    const matched = await m.waitForLog((l) => l.msg === 'host NVML: board values of this GPU come from NVML');
    assert.equal(matched.by, 'pci bus id');
  });

  const smi = getNvidiaSmi();
  test('nvidia-smi 535 shows the same readings', { skip: 'skip' in smi ? smi.skip : false }, async () => {
    const SMI = 'path' in smi ? smi.path : '';
    const q = await runGuest(SMI, ['--server', m.server], {}, 60_000, [
      '--query-gpu=temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,clocks.gr,clocks.max.sm,clocks.max.mem,fan.speed,pstate',
      '--format=csv,noheader,nounits']);
    assert.equal(q.code, 0, `${q.stdout}\n${q.stderr}`);
    assert.deepEqual(q.stdout.trim().split(',').map((s) => s.trim()),
      ['47', '123.46', '275.00', '1234', '5678', '1111', '2345', '6789', '42', 'P2']);
    const table = await runGuest(SMI, ['--server', m.server], {}, 60_000);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /42%\s+47C\s+P2\s+123W \/ 275W/, table.stdout);
  });
});

describe('a host NVML without the bus id under softgpu', () => {
  let m: RunningMediator;
  before(async () => {
    m = await startMediator({ env: { VGPU_HOST_NVML: fake, FAKE_NVML_NO_BUSID: '1', FAKE_NVML_FAN: 'unsupported' } });
  });
  after(async () => {
    await m?.stop();
  });

  test('softgpu falls back to the NVML device of its index; a reading NVML refuses is N/A', async () => {
    const seen = await boardSeen(m);
    // Board 0 of the fake (the decoy): softgpu's device 0 takes NVML's device 0.
    assert.equal(seen.temp, 91);
    assert.equal(seen.power, 301000);
    assert.equal(seen.sm, 902);
    assert.equal(seen.pstate, 8);
    assert.deepEqual(seen.fan, NOT_SUPPORTED);
    assert.deepEqual(seen.fan0, NOT_SUPPORTED);
    const matched = await m.waitForLog((l) => l.msg === 'host NVML: board values of this GPU come from NVML');
    assert.equal(matched.by, 'index');
  });
});

describe('no host NVML library', () => {
  let m: RunningMediator;
  before(async () => {
    m = await startMediator({ env: { VGPU_HOST_NVML: join(BUILD, 'no-such-dir', 'libnvidia-ml.so.1') } });
  });
  after(async () => {
    await m?.stop();
  });

  test('the mediator warns once and the guest keeps softgpu\'s synthetic board', async () => {
    const seen = await boardSeen(m);
    assert.equal(seen.temp, 35);
    assert.equal(seen.slowdown, 90);
    assert.equal(seen.power, 20000);
    assert.equal(seen.limit, 100000);
    assert.equal(seen.fan, 30);
    assert.equal(seen.pstate, 0);
    // Without the host's clocks every clock is the attribute's rate.
    assert.equal(seen.sm, 1500);
    assert.equal(seen.smMax, 1500);
    await boardSeen(m);
    const warnings = m.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('host NVML unavailable'));
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]!.level, 'warn');
  });
});
