// The answer to a guest's STATUS (docs/protocol.md, "Status before ATTACH"): what the guest's NVML
// reports as utilization, memory used and running processes, built from the mediator's
// accounting of that VM only. Another VM's work never shows, and nothing here starts an executor.

import type { BoardClocks, BoardValues, DeviceStatus, StatusProcess, StatusReply } from '../protocol/status.js';
import { BOARD_UNKNOWN, MAX_STATUS_PROCESSES } from '../protocol/status.js';

/** The part of UsageMeter (usage-meter.ts) this reads. */
export interface VmAccounting {
  utilization(vm: string, gpu?: number): { gpuPercent: number; memoryPercent: number };
  allSessions(): ReadonlyArray<{ sessionId: number; vm: string; guestPid: number; gpus: readonly number[]; memoryUsed: number }>;
}

export interface VmStatusInput {
  vm: string;
  /** vGPU slot -> physical GPU ordinal (the session's placement). */
  deviceMap: readonly number[];
  /** The VM's memory in use as its sessions' cuMemGetInfo reports it (Mediator.vmUsed). */
  vmUsed: number;
  accounting: VmAccounting;
  /** The window the accounting averages utilization over. */
  windowMs: number;
  /** The host NVML's reading of a physical GPU, when it has one (host-nvml.ts, HostNvml.reading). */
  board?: ((gpu: number) => (BoardValues & BoardClocks) | undefined) | undefined;
}

const clampPercent = (v: number): number => (Number.isFinite(v) ? Math.max(0, Math.min(100, Math.round(v))) : 0);
const board = (v: number | undefined): number => (v !== undefined && Number.isInteger(v) && v >= 0 && v <= BOARD_UNKNOWN ? v : BOARD_UNKNOWN);
const clampBytes = (v: number): number => (Number.isSafeInteger(v) && v > 0 ? v : 0);

/**
 * One record per vGPU slot. A session is listed, with its memory, on the slot of its first GPU
 * (where the scheduler runs it); utilization is the meter's busy fraction of the VM's sessions on
 * that slot's GPU. The first slot's memory is never below the VM's figure that cuMemGetInfo
 * reports, so NVML and CUDA in one VM agree on what is used.
 */
export function vmStatus(input: VmStatusInput): StatusReply {
  const mine = input.accounting.allSessions()
    .filter((s) => s.vm === input.vm)
    .sort((a, b) => a.sessionId - b.sessionId);
  const devices: DeviceStatus[] = input.deviceMap.map((gpu, slot) => {
    const processes: StatusProcess[] = mine
      .filter((s) => (s.gpus[0] ?? input.deviceMap[0]) === gpu)
      .slice(0, MAX_STATUS_PROCESSES)
      .map((s) => ({ pid: s.guestPid >>> 0, memoryUsed: clampBytes(s.memoryUsed) }));
    const listed = processes.reduce((sum, p) => sum + p.memoryUsed, 0);
    const u = input.accounting.utilization(input.vm, gpu);
    return {
      gpuPercent: clampPercent(u.gpuPercent),
      memoryPercent: clampPercent(u.memoryPercent),
      memoryUsed: slot === 0 ? Math.max(clampBytes(input.vmUsed), listed) : listed,
      processes,
    };
  });
  const reply: StatusReply = { windowMs: Math.max(0, Math.round(input.windowMs)) >>> 0, devices };
  // The board tags go out when the host's NVML read at least one of the VM's GPUs; a slot whose
  // GPU it could not read is all BOARD_UNKNOWN (N/A in the guest), never another board's values.
  const readings = input.board ? input.deviceMap.map((gpu) => input.board!(gpu)) : [];
  if (readings.some((r) => r !== undefined)) {
    reply.board = readings.map((r) => ({
      temperatureC: board(r?.temperatureC), powerMw: board(r?.powerMw), powerLimitMw: board(r?.powerLimitMw),
      smClockMhz: board(r?.smClockMhz), memClockMhz: board(r?.memClockMhz), fanPercent: board(r?.fanPercent),
    }));
    reply.boardClocks = readings.map((r) => ({
      graphicsClockMhz: board(r?.graphicsClockMhz), smMaxClockMhz: board(r?.smMaxClockMhz), memMaxClockMhz: board(r?.memMaxClockMhz),
      graphicsMaxClockMhz: board(r?.graphicsMaxClockMhz), performanceState: board(r?.performanceState),
    }));
  }
  return reply;
}
