// What a VM's guest is told about its devices (architecture.md, "Identity is consistent"): one
// device table, sent in the handshake, that every CUDA and NVML query in the guest answers from.

import { createHash } from 'node:crypto';

import type { DeviceRecord } from '../protocol/handshake.js';
import type { ProbedDevice } from '../executor/probe.js';

export interface Placement {
  /** vGPU ordinal -> physical ordinal. */
  deviceMap: number[];
  devices: DeviceRecord[];
}

/** A UUID stable per (VM, vGPU slot, physical GPU), so guests never see the host board's UUID and
 * two VMs on one GPU are told apart. The variant bits follow RFC 4122 (version 8: custom). */
export function vgpuUuid(vm: string, slot: number, physUuid: string): Buffer {
  const h = createHash('sha256').update(`vgpu:${vm}:${slot}:${physUuid}`).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return Buffer.from(h);
}

export function placeVm(
  vm: { name: string; vgpus: number; memoryQuota: number | null },
  physical: readonly ProbedDevice[],
): Placement {
  const n = Math.min(Math.max(1, vm.vgpus), physical.length);
  const deviceMap: number[] = [];
  const devices: DeviceRecord[] = [];
  for (let slot = 0; slot < n; slot++) {
    const p = physical[slot]!;
    deviceMap.push(p.ordinal);
    devices.push({
      name: p.name,
      uuid: vgpuUuid(vm.name, slot, p.uuid),
      totalMem: vm.memoryQuota !== null ? Math.min(vm.memoryQuota, p.totalMem) : p.totalMem,
      pciDomain: p.pciDomain,
      pciBus: p.pciBus,
      pciDevice: p.pciDevice,
      attributes: p.attributes,
    });
  }
  return { deviceMap, devices };
}
