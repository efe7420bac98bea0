// What a VM's guest is told about its devices (architecture.md, "Identity is consistent"): one
// device table, sent in the handshake, that every CUDA and NVML query in the guest answers from.

import { createHash } from 'node:crypto';

import type { DeviceRecord, WelcomeExt } from '../protocol/handshake.js';
import type { ProbedDevice } from '../executor/probe.js';

export interface Placement {
  /** vGPU ordinal -> physical ordinal. */
  deviceMap: number[];
  devices: DeviceRecord[];
  /** Why the VM cannot be placed now (no devices then); the guest is refused with it. */
  refused?: string;
}

/** A UUID stable per (VM, vGPU slot, physical GPU), so guests never see the host board's UUID and
 * two VMs on one GPU are told apart. The variant bits follow RFC 4122 (version 8: custom). */
export function vgpuUuid(vm: string, slot: number, physUuid: string): Buffer {
  const h = createHash('sha256').update(`vgpu:${vm}:${slot}:${physUuid}`).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return Buffer.from(h);
}

/** "dddd:bb:dd.f" -> its domain, bus and device numbers (the store has validated the form). */
export function parsePciBusId(id: string): { domain: number; bus: number; device: number } | undefined {
  const m = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.[0-7]$/i.exec(id);
  return m ? { domain: parseInt(m[1]!, 16), bus: parseInt(m[2]!, 16), device: parseInt(m[3]!, 16) } : undefined;
}

/** CUdevice_attribute numbers of the PCI location (cudart's integrity check hashes these). */
const ATTR_PCI_BUS = 33;
const ATTR_PCI_DEVICE = 34;
const ATTR_PCI_DOMAIN = 50;

export function placeVm(
  vm: { name: string; vgpus: number; memoryQuota: number | null; pciBusId?: string | null },
  physical: readonly ProbedDevice[],
): Placement {
  const n = Math.min(Math.max(1, vm.vgpus), physical.length);
  const deviceMap: number[] = [];
  const devices: DeviceRecord[] = [];
  // A VM may be given the PCI location its guests see (its first vGPU; later ones on the buses
  // after it), so that it can match the VM's virtual hardware. Every query path reads it from the
  // same record: the fields and the attributes change together.
  const base = vm.pciBusId ? parsePciBusId(vm.pciBusId) : undefined;
  for (let slot = 0; slot < n; slot++) {
    const p = physical[slot]!;
    deviceMap.push(p.ordinal);
    const pci = base ? { domain: base.domain, bus: (base.bus + slot) & 0xff, device: base.device } : { domain: p.pciDomain, bus: p.pciBus, device: p.pciDevice };
    const attributes = [...p.attributes];
    attributes[ATTR_PCI_BUS] = pci.bus;
    attributes[ATTR_PCI_DEVICE] = pci.device;
    attributes[ATTR_PCI_DOMAIN] = pci.domain;
    devices.push({
      name: p.name,
      uuid: vgpuUuid(vm.name, slot, p.uuid),
      totalMem: vm.memoryQuota !== null ? Math.min(vm.memoryQuota, p.totalMem) : p.totalMem,
      pciDomain: pci.domain,
      pciBus: pci.bus,
      pciDevice: pci.device,
      attributes,
    });
  }
  return { deviceMap, devices };
}

/** The first NVIDIA driver release of each CUDA driver API version (NVIDIA's CUDA release notes,
 * "CUDA Toolkit and Corresponding Driver Versions"), newest first. Used where the host cannot
 * tell its real driver string: softgpu, or a host whose NVML was not probed. The string is then
 * the *compatible* branch for the reported CUDA version, not a real NVIDIA driver; it keeps
 * tools that gate on the branch (Ollama wants >= 550 / 570) working. The guest's NVML uses the
 * same table when a minor-0 host sends no extension (guest/nvml/impl/system.c). */
const FIRST_DRIVER_FOR_CUDA: readonly (readonly [number, string])[] = [
  [13000, '580.65.06'],
  [12090, '575.51.03'],
  [12080, '570.86.10'],
  [12060, '560.28.03'],
  [12040, '550.54.14'],
  [12020, '535.54.03'],
  [12000, '525.60.13'],
];

export function compatibleDriverString(cudaDriverVersion: number): string {
  for (const [cuda, drv] of FIRST_DRIVER_FOR_CUDA) if (cudaDriverVersion >= cuda) return drv;
  return FIRST_DRIVER_FOR_CUDA[FIRST_DRIVER_FOR_CUDA.length - 1]![1];
}

/** The WELCOME `minor` to answer a HELLO of `guestMinor` with: the lower of the two, so that the
 * extension block (minor >= 1) only goes to guests that can read it (docs/protocol.md). */
export function welcomeMinor(hostMinor: number, guestMinor: number): number {
  return Math.min(hostMinor, guestMinor);
}

/** The WELCOME extension block (protocol minor >= 1): the NVIDIA driver version string NVML
 * reports. `nvidiaDriverString` is the host's real one when its NVML was probed; otherwise the
 * compatible branch of the CUDA driver version is sent. */
export function welcomeExt(host: { cudaDriverVersion: number; nvidiaDriverString?: string }): WelcomeExt {
  const real = host.nvidiaDriverString;
  const ok = real !== undefined && /^[0-9][0-9.]{0,78}$/.test(real);
  return { driverVersionString: ok ? real : compatibleDriverString(host.cudaDriverVersion) };
}
