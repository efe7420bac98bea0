// The STATUS_REPLY board tags (docs/protocol.md, tags 1 and 2) as the mediator fills them from the
// host's NVML (src/mediator/nvml-status.ts, src/mediator/host-nvml.ts): the second tag's codec, how
// readings map onto a VM's vGPU slots, and the NVML spellings of a device's UUID and PCI bus id.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { BOARD_UNKNOWN, decodeStatusReply, encodeStatusReply, StatusExtTag, type StatusReply } from '../../src/protocol/status.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { vmStatus, type VmAccounting } from '../../src/mediator/nvml-status.js';
import { hostNvmlPath, nvmlBusId, nvmlUuid, type BoardReading } from '../../src/mediator/host-nvml.js';

const dev = { gpuPercent: 0, memoryPercent: 0, memoryUsed: 0, processes: [] };
const reading: BoardReading = {
  temperatureC: 47, powerMw: 123456, powerLimitMw: 275000, smClockMhz: 1234, memClockMhz: 5678, fanPercent: 42,
  graphicsClockMhz: 1111, smMaxClockMhz: 2345, memMaxClockMhz: 6789, graphicsMaxClockMhz: 2222, performanceState: 2,
};

test('the board clocks tag round-trips, one record per device, and a wrong size is refused', () => {
  const s: StatusReply = {
    windowMs: 1000, devices: [dev, dev],
    boardClocks: [
      { graphicsClockMhz: 1, smMaxClockMhz: 2, memMaxClockMhz: 3, graphicsMaxClockMhz: 4, performanceState: 0 },
      { graphicsClockMhz: BOARD_UNKNOWN, smMaxClockMhz: 5, memMaxClockMhz: 6, graphicsMaxClockMhz: 7, performanceState: BOARD_UNKNOWN },
    ],
  };
  const wire = encodeStatusReply(s);
  assert.deepEqual(decodeStatusReply(wire), s);
  assert.throws(() => encodeStatusReply({ ...s, boardClocks: s.boardClocks!.slice(1) }), RangeError);
  // One device, tag 2 with 16 bytes instead of 20.
  const bad = Buffer.concat([encodeStatusReply({ windowMs: 0, devices: [dev] }).subarray(0, -4),
    Buffer.from([1, 0, 0, 0, StatusExtTag.BOARD_CLOCKS, 0, 16, 0, 0, 0]), Buffer.alloc(16)]);
  assert.throws(() => decodeStatusReply(bad), ProtocolError);
});

const acc: VmAccounting = { utilization: () => ({ gpuPercent: 0, memoryPercent: 0 }), allSessions: () => [] };

test('vmStatus puts each slot\'s GPU reading in both board tags; an unread GPU is all unknown', () => {
  const s = vmStatus({ vm: 'a', deviceMap: [3, 0], vmUsed: 0, accounting: acc, windowMs: 1000, board: (gpu) => (gpu === 3 ? reading : undefined) });
  assert.equal(s.board?.length, 2);
  assert.equal(s.board![0]!.temperatureC, 47);
  assert.equal(s.boardClocks![0]!.performanceState, 2);
  assert.ok(Object.values(s.board![1]!).every((v) => v === BOARD_UNKNOWN));
  assert.ok(Object.values(s.boardClocks![1]!).every((v) => v === BOARD_UNKNOWN));
  // Round-trips through the codec, as the mediator sends it.
  assert.deepEqual(decodeStatusReply(encodeStatusReply(s)).boardClocks, s.boardClocks);
});

test('vmStatus sends no board tags when the host NVML read none of the VM\'s GPUs', () => {
  const none = vmStatus({ vm: 'a', deviceMap: [0], vmUsed: 0, accounting: acc, windowMs: 1000, board: () => undefined });
  assert.equal(none.board, undefined);
  assert.equal(none.boardClocks, undefined);
  const without = vmStatus({ vm: 'a', deviceMap: [0], vmUsed: 0, accounting: acc, windowMs: 1000 });
  assert.equal(without.board, undefined);
});

test('a reading out of u32 range is sent as unknown, never wrapped', () => {
  const s = vmStatus({ vm: 'a', deviceMap: [0], vmUsed: 0, accounting: acc, windowMs: 1000, board: () => ({ ...reading, powerMw: -1, fanPercent: 2 ** 33 }) });
  assert.equal(s.board![0]!.powerMw, BOARD_UNKNOWN);
  assert.equal(s.board![0]!.fanPercent, BOARD_UNKNOWN);
  assert.equal(s.board![0]!.temperatureC, 47);
});

test('NVML spellings of a CUDA UUID and PCI location, and which library is loaded', () => {
  assert.equal(nvmlUuid('0123456789ABCDEF0123456789abcdef'), 'GPU-01234567-89ab-cdef-0123-456789abcdef');
  assert.equal(nvmlUuid('xyz'), undefined);
  assert.equal(nvmlBusId({ pciDomain: 0, pciBus: 0x7f, pciDevice: 0 }), '00000000:7F:00.0');
  assert.equal(nvmlBusId({ pciDomain: 1, pciBus: 0xa, pciDevice: 0x1f }), '00000001:0A:1F.0');
  assert.equal(hostNvmlPath({ kind: 'cuda' }, {}), 'libnvidia-ml.so.1');
  assert.equal(hostNvmlPath({ kind: 'softgpu' }, {}), undefined);
  assert.equal(hostNvmlPath({ kind: 'softgpu' }, { VGPU_HOST_NVML: '/x/libnvidia-ml.so.1' }), '/x/libnvidia-ml.so.1');
  assert.equal(hostNvmlPath({ kind: 'cuda' }, { VGPU_HOST_NVML: 'off' }), undefined);
});
