// Per-GPU telemetry (docs/operations.md, "GPU telemetry"): memory, utilization and board values of
// each physical GPU the mediator has, for GET /v1/gpus and /metrics alike.
//
// Where each figure comes from:
// - On a GPU (cuda backend) with the host's NVML: memory and utilization as NVML reports them, so
//   other processes on the host count too; without NVML, the sessions' own figures (below).
// - On softgpu, and as the fallback: memory used is what the sessions' executors report holding
//   (softgpu's real allocations; a session spanning several GPUs counts on its first, where the
//   scheduler runs it), free is the device's size less that; utilization is the device time the
//   executors measured on the GPU over the usage meter's window.
// - Temperature, power and clocks only from the host NVML. Softgpu has no board, so without an
//   NVML they are absent, never invented (the guest's NVML shows softgpu's synthetic board; that
//   is the guest's business, not the host's telemetry).

import type { ProbedDevice } from '../executor/probe.js';
import { BOARD_UNKNOWN } from '../protocol/status.js';
import type { BoardReading } from './host-nvml.js';
import { nvmlBusId } from './host-nvml.js';
import { gpuUuid } from './placement.js';

export interface GpuVmTelemetry {
  vm: string;
  sessions: number;
  /** Bytes the VM's sessions hold, counted on their first GPU. */
  memoryUsed: number;
  /** Device time of the VM's sessions on this GPU over the window, in percent. */
  utilizationPercent: number;
}

export interface GpuTelemetry {
  /** The backend's device index: DCGM's `gpu` label. */
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  memory: { total: number; used: number; free: number; source: 'nvml' | 'sessions' };
  utilization: { gpuPercent: number; source: 'nvml' | 'device-time' };
  /** Board values: present only when the host's NVML read them. */
  temperatureC?: number;
  powerW?: number;
  powerLimitW?: number;
  smClockMhz?: number;
  memClockMhz?: number;
  /** VMs with live sessions on this GPU. */
  vms: GpuVmTelemetry[];
}

export interface TelemetryInput {
  backend: 'cuda' | 'softgpu';
  devices: readonly ProbedDevice[];
  /** The live sessions (UsageMeter.allSessions). */
  sessions: ReadonlyArray<{ vm: string; gpus: readonly number[]; memoryUsed: number }>;
  /** Device time on a GPU over the window, in ns (UsageMeter.gpuLoad). */
  busyNs(gpu: number): number;
  /** A VM's busy percentage on a GPU over the window (UsageMeter.utilization). */
  vmPercent(vm: string, gpu: number): number;
  windowMs: number;
  /** The host NVML's latest reading of a GPU by ordinal (HostNvml.reading), if there is one. */
  nvml?: ((gpu: number) => BoardReading | undefined) | undefined;
}

const percent = (v: number): number => (Number.isFinite(v) ? Math.max(0, Math.min(100, Math.round(v))) : 0);
/** A board value NVML read, or undefined for BOARD_UNKNOWN (N/A). */
const known = (v: number | undefined): number | undefined => (v === undefined || v === BOARD_UNKNOWN ? undefined : v);

export function gpuTelemetry(input: TelemetryInput): GpuTelemetry[] {
  const windowNs = input.windowMs * 1e6;
  return input.devices.map((d) => {
    const r = input.nvml?.(d.ordinal);
    const onIt = input.sessions.filter((s) => s.gpus[0] === d.ordinal);
    const byVm = new Map<string, GpuVmTelemetry>();
    for (const s of input.sessions) {
      if (!s.gpus.includes(d.ordinal)) continue;
      const v = byVm.get(s.vm) ?? { vm: s.vm, sessions: 0, memoryUsed: 0, utilizationPercent: percent(input.vmPercent(s.vm, d.ordinal)) };
      v.sessions++;
      if (s.gpus[0] === d.ordinal) v.memoryUsed += s.memoryUsed;
      byVm.set(s.vm, v);
    }
    // NVML's memory and utilization describe the real board; softgpu's device is not that board
    // (a test's fake NVML stands behind it), so on softgpu the sessions' own figures count.
    const nvmlMem = input.backend === 'cuda' ? r?.memory : undefined;
    const nvmlUtil = input.backend === 'cuda' ? r?.utilization : undefined;
    const used = onIt.reduce((sum, s) => sum + s.memoryUsed, 0);
    const t: GpuTelemetry = {
      index: d.ordinal,
      uuid: gpuUuid(d.uuid),
      name: d.name,
      pciBusId: nvmlBusId(d),
      memory: nvmlMem
        ? { total: nvmlMem.total, used: nvmlMem.used, free: nvmlMem.free, source: 'nvml' }
        : { total: d.totalMem, used, free: Math.max(0, d.totalMem - used), source: 'sessions' },
      utilization: nvmlUtil
        ? { gpuPercent: percent(nvmlUtil.gpuPercent), source: 'nvml' }
        : { gpuPercent: percent((input.busyNs(d.ordinal) / windowNs) * 100), source: 'device-time' },
      vms: [...byVm.values()].sort((a, b) => a.vm.localeCompare(b.vm)),
    };
    const temperatureC = known(r?.temperatureC);
    const powerMw = known(r?.powerMw);
    const limitMw = known(r?.powerLimitMw);
    const sm = known(r?.smClockMhz);
    const mem = known(r?.memClockMhz);
    if (temperatureC !== undefined) t.temperatureC = temperatureC;
    if (powerMw !== undefined) t.powerW = powerMw / 1000;
    if (limitMw !== undefined) t.powerLimitW = limitMw / 1000;
    if (sm !== undefined) t.smClockMhz = sm;
    if (mem !== undefined) t.memClockMhz = mem;
    return t;
  });
}
