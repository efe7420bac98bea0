// The host's own NVML, for the board values a guest's NVML cannot measure itself: temperature,
// power, clocks, fan and performance state of the physical GPU behind each vGPU (docs/protocol.md,
// STATUS_REPLY tags 1 and 2). Loaded in the mediator on a cuda backend, or from VGPU_HOST_NVML on
// any backend (how tests put a fake NVML under softgpu). Sampling is lazy: a STATUS reads the last
// sample, and a sample older than SAMPLE_MS is retaken first, so a host nobody asks costs no NVML
// calls and dozens of guests polling cost at most one round of calls a second. Calls are synchronous
// on the mediator's event loop; NVML's getters are cheap (tens of microseconds; power a few ms at
// worst), which at one round a second is noise next to a guest's own traffic.

import koffi from 'koffi';
import type { Logger } from 'pino';

import type { Backend } from './backend.js';
import { BOARD_UNKNOWN, type BoardClocks, type BoardValues } from '../protocol/status.js';

/** At most one round of NVML calls per this many ms. */
const SAMPLE_MS = 1000;

const NVML_SUCCESS = 0;
const NVML_ERROR_NOT_SUPPORTED = 3;
const NVML_TEMPERATURE_GPU = 0;
const NVML_CLOCK_GRAPHICS = 0;
const NVML_CLOCK_SM = 1;
const NVML_CLOCK_MEM = 2;
/** nvmlPstates_t: P0..P15, and 32 for "unknown". */
const NVML_PSTATE_MAX = 15;

/** Everything the STATUS_REPLY's board tags carry for one physical GPU, and what NVML says of its
 * memory and utilization (src/mediator/gpu-telemetry.ts; absent where NVML cannot say). */
export type BoardReading = BoardValues & BoardClocks & {
  memory?: { total: number; free: number; used: number };
  utilization?: { gpuPercent: number; memoryPercent: number };
};

export interface HostNvml {
  /** The latest reading of physical GPU `ordinal` (the backend's device index), resampled when
   * older than a second; undefined when that GPU has no NVML handle. */
  reading(ordinal: number): BoardReading | undefined;
  close(): void;
}

type Fn = (...args: unknown[]) => number;

/** koffi's type names are process-wide: declared once, whatever number of mediators a test starts. */
let deviceType: koffi.IKoffiCType | undefined;
function nvmlDevice(): koffi.IKoffiCType {
  deviceType ??= koffi.pointer('vgpu_nvmlDevice_t', koffi.opaque('vgpu_nvmlDevice'));
  return deviceType;
}
/** nvmlMemory_t and nvmlUtilization_t, declared once for the same reason. */
let structTypes: { memory: koffi.IKoffiCType; utilization: koffi.IKoffiCType } | undefined;
function nvmlStructs(): { memory: koffi.IKoffiCType; utilization: koffi.IKoffiCType } {
  structTypes ??= {
    memory: koffi.struct('vgpu_nvmlMemory_t', { total: 'uint64_t', free: 'uint64_t', used: 'uint64_t' }),
    utilization: koffi.struct('vgpu_nvmlUtilization_t', { gpu: 'uint32_t', memory: 'uint32_t' }),
  };
  return structTypes;
}

/** The library to load: VGPU_HOST_NVML (a path, or `off`), else NVIDIA's on a cuda backend. */
export function hostNvmlPath(backend: Pick<Backend, 'kind'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env.VGPU_HOST_NVML?.trim();
  if (set === 'off') return undefined;
  if (set) return set;
  return backend.kind === 'cuda' ? 'libnvidia-ml.so.1' : undefined;
}

/** NVML's spelling of a CUDA device UUID (32 hex digits): GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx. */
export function nvmlUuid(hex: string): string | undefined {
  if (!/^[0-9a-f]{32}$/i.test(hex)) return undefined;
  const h = hex.toLowerCase();
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** NVML's PCI bus id string (domain:bus:device.function), from the probe's PCI attributes. */
export function nvmlBusId(d: { pciDomain: number; pciBus: number; pciDevice: number }): string {
  const hex = (v: number, w: number): string => v.toString(16).toUpperCase().padStart(w, '0');
  return `${hex(d.pciDomain, 8)}:${hex(d.pciBus, 2)}:${hex(d.pciDevice, 2)}.0`;
}

/**
 * Loads the host's NVML and finds the handle of each of the backend's GPUs: by UUID, else by PCI
 * bus id. On softgpu, whose UUID and bus id are invented, a device neither finds takes the NVML
 * device of the same index (only a test's fake NVML stands behind softgpu). Returns undefined,
 * having logged why once, when there is no library, nvmlInit fails or no GPU has a handle: the
 * guest then keeps softgpu's synthetic board, or answers N/A on a real GPU.
 */
export function openHostNvml(backend: Backend, log: Logger, env: NodeJS.ProcessEnv = process.env): HostNvml | undefined {
  const path = hostNvmlPath(backend, env);
  if (!path) return undefined;
  const skip = (reason: string): undefined => {
    log.warn({ path, reason }, 'host NVML unavailable: guests get no board values from it (synthetic on softgpu, N/A on a GPU)');
    return undefined;
  };
  let lib: koffi.IKoffiLib;
  try {
    lib = koffi.load(path);
  } catch (e) {
    return skip((e as Error).message);
  }
  const dev = nvmlDevice();
  const bind = (name: string, ret: string, args: unknown[]): Fn | undefined => {
    try {
      return lib.func(name, ret, args as koffi.TypeSpec[]) as Fn;
    } catch {
      return undefined;
    }
  };
  const init = bind('nvmlInit_v2', 'int', []);
  const shutdown = bind('nvmlShutdown', 'int', []);
  if (!init) return skip('the library has no nvmlInit_v2');
  const rc = init();
  if (rc !== NVML_SUCCESS) return skip(`nvmlInit_v2 returned ${rc}`);

  const outDev = koffi.out(koffi.pointer(dev));
  const outU32 = koffi.out(koffi.pointer('uint32_t'));
  const byUuid = bind('nvmlDeviceGetHandleByUUID', 'int', ['str', outDev]);
  const byBusId = bind('nvmlDeviceGetHandleByPciBusId_v2', 'int', ['str', outDev]);
  const byIndex = bind('nvmlDeviceGetHandleByIndex_v2', 'int', ['uint32_t', outDev]);
  const lookup = (f: Fn | undefined, key: unknown): unknown => {
    if (!f) return undefined;
    const out: unknown[] = [null];
    return f(key, out) === NVML_SUCCESS && out[0] ? out[0] : undefined;
  };
  const handles = new Map<number, unknown>();
  for (const [i, d] of backend.devices.entries()) {
    const uuid = nvmlUuid(d.uuid);
    let h = uuid ? lookup(byUuid, uuid) : undefined;
    let how = 'uuid';
    if (!h) [h, how] = [lookup(byBusId, nvmlBusId(d)), 'pci bus id'];
    if (!h && backend.kind === 'softgpu') [h, how] = [lookup(byIndex, i), 'index'];
    if (h) {
      handles.set(d.ordinal, h);
      log.info({ gpu: d.ordinal, by: how }, 'host NVML: board values of this GPU come from NVML');
    } else {
      log.warn({ gpu: d.ordinal, uuid, busId: nvmlBusId(d) }, 'host NVML knows no device with this GPU\'s UUID or PCI bus id: its board values are N/A');
    }
  }
  if (handles.size === 0) {
    shutdown?.();
    return skip('no GPU of the backend has an NVML handle');
  }

  // Each getter is bound once; a missing symbol or a failing call reads as BOARD_UNKNOWN, and
  // is logged once per function (NOT_SUPPORTED is a normal answer, e.g. fans on a passive board).
  const logged = new Set<string>();
  const getter = (name: string, args: unknown[]): ((h: unknown, ...a: number[]) => number) => {
    const f = bind(name, 'int', [dev, ...args, outU32]);
    if (!f) {
      log.warn({ path, fn: name }, 'host NVML lacks this function: its value is N/A');
      return () => BOARD_UNKNOWN;
    }
    return (h, ...a) => {
      const out = [0];
      const r = f(h, ...a, out);
      if (r === NVML_SUCCESS && typeof out[0] === 'number' && out[0] !== BOARD_UNKNOWN) return out[0] >>> 0;
      if (!logged.has(name)) {
        logged.add(name);
        const level = r === NVML_ERROR_NOT_SUPPORTED ? 'debug' : 'warn';
        log[level]({ fn: name, nvmlReturn: r }, 'host NVML call failed: its value is N/A');
      }
      return BOARD_UNKNOWN;
    };
  };
  const temperature = getter('nvmlDeviceGetTemperature', ['int']);
  const power = getter('nvmlDeviceGetPowerUsage', []);
  const enforcedLimit = getter('nvmlDeviceGetEnforcedPowerLimit', []);
  const clock = getter('nvmlDeviceGetClockInfo', ['int']);
  const maxClock = getter('nvmlDeviceGetMaxClockInfo', ['int']);
  const fan = getter('nvmlDeviceGetFanSpeed', []);
  const pstate = getter('nvmlDeviceGetPerformanceState', []);
  // Struct getters: undefined when the function is missing or fails (logged once, as above).
  const structGetter = <T>(name: string, type: koffi.IKoffiCType): ((h: unknown) => T | undefined) => {
    const f = bind(name, 'int', [dev, koffi.out(koffi.pointer(type))]);
    if (!f) {
      log.warn({ path, fn: name }, 'host NVML lacks this function: its value is N/A');
      return () => undefined;
    }
    return (h) => {
      const out: Record<string, unknown> = {};
      const r = f(h, out);
      if (r === NVML_SUCCESS) return out as T;
      if (!logged.has(name)) {
        logged.add(name);
        log[r === NVML_ERROR_NOT_SUPPORTED ? 'debug' : 'warn']({ fn: name, nvmlReturn: r }, 'host NVML call failed: its value is N/A');
      }
      return undefined;
    };
  };
  const structs = nvmlStructs();
  const memoryInfo = structGetter<{ total: number | bigint; free: number | bigint; used: number | bigint }>('nvmlDeviceGetMemoryInfo', structs.memory);
  const utilizationRates = structGetter<{ gpu: number; memory: number }>('nvmlDeviceGetUtilizationRates', structs.utilization);

  const sample = (h: unknown): BoardReading => {
    const p = pstate(h);
    const mem = memoryInfo(h);
    const util = utilizationRates(h);
    return {
      ...(mem && { memory: { total: Number(mem.total), free: Number(mem.free), used: Number(mem.used) } }),
      ...(util && { utilization: { gpuPercent: util.gpu, memoryPercent: util.memory } }),
      temperatureC: temperature(h, NVML_TEMPERATURE_GPU),
      powerMw: power(h),
      powerLimitMw: enforcedLimit(h),
      smClockMhz: clock(h, NVML_CLOCK_SM),
      memClockMhz: clock(h, NVML_CLOCK_MEM),
      fanPercent: fan(h),
      graphicsClockMhz: clock(h, NVML_CLOCK_GRAPHICS),
      smMaxClockMhz: maxClock(h, NVML_CLOCK_SM),
      memMaxClockMhz: maxClock(h, NVML_CLOCK_MEM),
      graphicsMaxClockMhz: maxClock(h, NVML_CLOCK_GRAPHICS),
      performanceState: p <= NVML_PSTATE_MAX ? p : BOARD_UNKNOWN,
    };
  };
  let cache = new Map<number, BoardReading>();
  let sampledAt = -Infinity;
  let open = true;
  return {
    reading(ordinal) {
      if (!open || !handles.has(ordinal)) return undefined;
      const now = performance.now();
      if (now - sampledAt >= SAMPLE_MS) {
        cache = new Map([...handles].map(([o, h]) => [o, sample(h)]));
        sampledAt = now;
      }
      return cache.get(ordinal);
    },
    close() {
      if (!open) return;
      open = false;
      shutdown?.();
    },
  };
}
