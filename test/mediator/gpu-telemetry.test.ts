// Per-GPU telemetry (src/mediator/gpu-telemetry.ts): where each figure comes from. On softgpu the
// sessions' memory and measured device time, and no board values unless the host's NVML read them;
// on a GPU, NVML's memory and utilization (here the fake NVML of test/fixtures/fake-host-nvml.c,
// loaded as the cuda backend would load NVIDIA's).

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';

import { gpuTelemetry, type TelemetryInput } from '../../src/mediator/gpu-telemetry.js';
import { openHostNvml } from '../../src/mediator/host-nvml.js';
import type { Backend } from '../../src/mediator/backend.js';
import type { ProbedDevice } from '../../src/executor/probe.js';
import { BOARD_UNKNOWN } from '../../src/protocol/status.js';
import { buildFakeNvml } from '../helpers/fake-nvml.js';

const GIB = 1024 ** 3;
const log = pino({ level: 'silent' });

function device(ordinal: number, bus: number, uuid: string): ProbedDevice {
  return { ordinal, name: `Board ${ordinal}`, uuid, totalMem: 2 * GIB, pciDomain: 0, pciBus: bus, pciDevice: 0, attributes: [] };
}

const DEVICES = [device(0, 0x7f, '0123456789abcdef0123456789abcdef'), device(1, 0x80, 'fedcba9876543210fedcba9876543210')];

function input(over: Partial<TelemetryInput> = {}): TelemetryInput {
  return {
    backend: 'softgpu',
    devices: DEVICES,
    sessions: [
      { vm: 'a', gpus: [0], memoryUsed: 256 * 1024 * 1024 },
      { vm: 'a', gpus: [0], memoryUsed: 256 * 1024 * 1024 },
      // Spans both GPUs: its memory counts on its first.
      { vm: 'b', gpus: [1, 0], memoryUsed: GIB },
    ],
    busyNs: (gpu) => (gpu === 0 ? 1.5e9 : 0),
    vmPercent: (vm, gpu) => (vm === 'a' && gpu === 0 ? 75 : 0),
    windowMs: 2000,
    ...over,
  };
}

let fake: string;
before(() => {
  fake = buildFakeNvml();
});

test('on softgpu without an NVML: memory from the sessions, utilization from device time, no board values', () => {
  const [g0, g1] = gpuTelemetry(input());
  assert.deepEqual(g0!.memory, { total: 2 * GIB, used: 512 * 1024 * 1024, free: 1.5 * GIB, source: 'sessions' });
  assert.deepEqual(g0!.utilization, { gpuPercent: 75, source: 'device-time' });
  assert.equal(g0!.uuid, 'GPU-01234567-89ab-cdef-0123-456789abcdef');
  assert.equal(g0!.pciBusId, '00000000:7F:00.0');
  for (const k of ['temperatureC', 'powerW', 'powerLimitW', 'smClockMhz', 'memClockMhz']) assert.equal(k in g0!, false, `${k} must be absent`);
  assert.deepEqual(g0!.vms, [
    { vm: 'a', sessions: 2, memoryUsed: 512 * 1024 * 1024, utilizationPercent: 75 },
    { vm: 'b', sessions: 1, memoryUsed: 0, utilizationPercent: 0 },
  ]);
  assert.deepEqual(g1!.memory, { total: 2 * GIB, used: GIB, free: GIB, source: 'sessions' });
  assert.deepEqual(g1!.vms, [{ vm: 'b', sessions: 1, memoryUsed: GIB, utilizationPercent: 0 }]);
});

test('more held than the device has reads as none free, never negative', () => {
  const [g0] = gpuTelemetry(input({ sessions: [{ vm: 'a', gpus: [0], memoryUsed: 3 * GIB }] }));
  assert.equal(g0!.memory.free, 0);
  assert.equal(g0!.memory.used, 3 * GIB);
});

test('board values the NVML could not read stay absent; those it read are converted (mW to W)', () => {
  const unknown = { temperatureC: BOARD_UNKNOWN, powerMw: 123456, powerLimitMw: BOARD_UNKNOWN, smClockMhz: 1234, memClockMhz: BOARD_UNKNOWN,
    fanPercent: BOARD_UNKNOWN, graphicsClockMhz: BOARD_UNKNOWN, smMaxClockMhz: BOARD_UNKNOWN, memMaxClockMhz: BOARD_UNKNOWN,
    graphicsMaxClockMhz: BOARD_UNKNOWN, performanceState: BOARD_UNKNOWN };
  const [g0, g1] = gpuTelemetry(input({ nvml: (gpu) => (gpu === 0 ? unknown : undefined) }));
  assert.equal(g0!.powerW, 123.456);
  assert.equal(g0!.smClockMhz, 1234);
  assert.equal('temperatureC' in g0!, false);
  assert.equal('memClockMhz' in g0!, false);
  assert.equal('powerW' in g1!, false);
});

test('on a GPU the host NVML gives memory and utilization; on softgpu its board values only', () => {
  const cuda: Backend = { kind: 'cuda', path: 'fake', driverVersion: 13000, devices: DEVICES };
  const nvml = openHostNvml(cuda, log, { VGPU_HOST_NVML: fake });
  assert.ok(nvml, 'the fake NVML loads');
  try {
    const [g0, g1] = gpuTelemetry(input({ backend: 'cuda', nvml: (gpu) => nvml.reading(gpu) }));
    // Device 0 is the fake's board at bus 0x7F: 80 GiB, 3 GiB used, 37 % busy.
    assert.deepEqual(g0!.memory, { total: 80 * GIB, used: 3 * GIB, free: 77 * GIB, source: 'nvml' });
    assert.deepEqual(g0!.utilization, { gpuPercent: 37, source: 'nvml' });
    assert.equal(g0!.temperatureC, 47);
    assert.equal(g0!.powerW, 123.456);
    assert.equal(g0!.powerLimitW, 275);
    assert.equal(g0!.smClockMhz, 1234);
    assert.equal(g0!.memClockMhz, 5678);
    // Device 1's bus id is on no fake board: the sessions' figures, no board values.
    assert.equal(g1!.memory.source, 'sessions');
    assert.equal('temperatureC' in g1!, false);

    const [s0] = gpuTelemetry(input({ nvml: (gpu) => nvml.reading(gpu) }));
    assert.equal(s0!.memory.source, 'sessions', "softgpu's memory is its own, not the board's");
    assert.equal(s0!.utilization.source, 'device-time');
    assert.equal(s0!.temperatureC, 47);
  } finally {
    nvml.close();
  }
});
