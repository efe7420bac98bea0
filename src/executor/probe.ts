// Device discovery on the host driver: everything the guest needs to answer device queries
// locally, gathered once when the mediator starts (docs/protocol.md, Handshake).

import type { DriverApi } from './gen/ffi.js';
import { ATTR_UNSUPPORTED } from '../protocol/constants.js';
import { maskFeatures } from './feature-mask.js';

/** CU_DEVICE_ATTRIBUTE_MAX in CUDA 13.0's cuda.h; attributes 1..MAX-1 are queried. */
export const ATTRIBUTE_COUNT = 148;

export interface ProbedDevice {
  ordinal: number;
  name: string;
  uuid: string; // 32 hex digits
  totalMem: number;
  pciDomain: number;
  pciBus: number;
  pciDevice: number;
  attributes: number[];
}

export interface ProbeResult {
  driverVersion: number;
  devices: ProbedDevice[];
}

/** Free and total memory of one device, as a context on it sees them (vgpu-admin doctor). */
export interface DeviceMemory {
  ordinal: number;
  free: number;
  total: number;
}

export class ProbeError extends Error {}

export function probe(d: DriverApi): ProbeResult {
  const o = Buffer.alloc(16);
  const check = (res: number, what: string): void => {
    if (res !== 0) throw new ProbeError(`${what} failed with CUresult ${res}`);
  };
  check(d.cuInit(0), 'cuInit');
  check(d.cuDriverGetVersion(o), 'cuDriverGetVersion');
  const driverVersion = o.readInt32LE(0);
  check(d.cuDeviceGetCount(o), 'cuDeviceGetCount');
  const count = o.readInt32LE(0);
  const devices: ProbedDevice[] = [];
  for (let i = 0; i < count; i++) {
    check(d.cuDeviceGet(o, i), `cuDeviceGet(${i})`);
    const dev = o.readInt32LE(0);
    const nameBuf = Buffer.alloc(256);
    check(d.cuDeviceGetName(nameBuf, 256, dev), 'cuDeviceGetName');
    const nul = nameBuf.indexOf(0);
    const name = nameBuf.toString('utf8', 0, nul < 0 ? 256 : nul);
    check(d.cuDeviceTotalMem_v2(o, dev), 'cuDeviceTotalMem_v2');
    const totalMem = o.readUInt32LE(0) + o.readUInt32LE(4) * 4294967296;
    const uuid = Buffer.alloc(16);
    if (d.cuDeviceGetUuid_v2(uuid, dev) !== 0) check(d.cuDeviceGetUuid(uuid, dev), 'cuDeviceGetUuid');
    const raw: number[] = [ATTR_UNSUPPORTED];
    for (let a = 1; a < ATTRIBUTE_COUNT; a++) {
      raw.push(d.cuDeviceGetAttribute(o, a, dev) === 0 ? o.readInt32LE(0) : ATTR_UNSUPPORTED);
    }
    // What the guest may rely on is what vgpu remotes, whatever the host's GPU can do.
    const attributes = maskFeatures(raw);
    devices.push({
      ordinal: dev,
      name,
      uuid: uuid.toString('hex'),
      totalMem,
      pciDomain: Math.max(0, attributes[50] ?? 0),
      pciBus: Math.max(0, attributes[33] ?? 0),
      pciDevice: Math.max(0, attributes[34] ?? 0),
      attributes,
    });
  }
  return { driverVersion, devices };
}

/** Free memory of every device, each measured in a context of its own made for the purpose and
 * destroyed at once (the driver reports free memory only to a context). */
export function probeMemory(d: DriverApi, devices: readonly ProbedDevice[]): DeviceMemory[] {
  const ctx = Buffer.alloc(8);
  const free = Buffer.alloc(8);
  const total = Buffer.alloc(8);
  const out: DeviceMemory[] = [];
  for (const dev of devices) {
    let res = d.cuCtxCreate_v2(ctx, 0, dev.ordinal);
    if (res !== 0) throw new ProbeError(`cuCtxCreate(device ${dev.ordinal}) failed with CUresult ${res}`);
    const handle = Number(ctx.readBigUInt64LE(0));
    try {
      res = d.cuMemGetInfo_v2(free, total);
      if (res !== 0) throw new ProbeError(`cuMemGetInfo(device ${dev.ordinal}) failed with CUresult ${res}`);
      out.push({ ordinal: dev.ordinal, free: Number(free.readBigUInt64LE(0)), total: Number(total.readBigUInt64LE(0)) });
    } finally {
      d.cuCtxDestroy_v2(handle);
    }
  }
  return out;
}
