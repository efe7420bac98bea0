// Chooses the backend at start-up and discovers its devices, in a child process (a driver that
// misbehaves while probing takes down the probe, not the mediator). `auto` takes the real driver
// when it initialises with at least one device, softgpu otherwise, and says which and why.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { z } from 'zod';

import { envLogLevel, LOG_LEVEL_ENV } from '../common/log.js';
import type { DeviceMemory, ProbeResult } from '../executor/probe.js';
import type { BackendKind } from '../executor/driver.js';
import { EXECUTOR_LAUNCHER, EXECUTOR_NODE_FLAGS } from '../executor/launch-form.cjs';

const run = promisify(execFile);

export type BackendChoice = BackendKind | 'auto';

export interface Backend extends ProbeResult {
  kind: BackendKind;
  path: string;
}

const count = z.number().int().min(0);
/** What the executor run with `--probe[-memory]` prints (src/executor/probe.ts). */
const probeOutput = z.object({
  path: z.string(),
  driverVersion: count,
  devices: z.array(z.object({
    ordinal: count, name: z.string(), uuid: z.string(), totalMem: count,
    pciDomain: count, pciBus: count, pciDevice: count, attributes: z.array(z.number().int()),
  })),
  memory: z.array(z.object({ ordinal: count, free: count, total: count })).optional(),
});

export interface ProbeOptions {
  /** The probe's environment (default this process's): VGPU_HOST_LIBCUDA, VGPU_SOFTGPU_LIB... */
  env?: NodeJS.ProcessEnv;
  /** Also measure each device's free memory (vgpu-admin doctor). */
  memory?: boolean;
}

/** Loads the backend's driver in a child process and lists its devices; throws with the child's
 * output when that fails (probeFailureReason turns it into one line). */
export async function probeBackend(kind: BackendKind, o: ProbeOptions = {}): Promise<Backend & { memory?: DeviceMemory[] }> {
  const env = o.env ?? process.env;
  try {
    const { stdout } = await run(process.execPath, [...EXECUTOR_NODE_FLAGS, EXECUTOR_LAUNCHER, '--backend', kind, o.memory ? '--probe-memory' : '--probe'], {
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
      // Quieter than the mediator unless asked: the probe's findings are logged by the mediator.
      env: { ...env, [LOG_LEVEL_ENV]: envLogLevel(env).level ?? 'warn' },
    });
    return { kind, ...probeOutput.parse(JSON.parse(stdout)) };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error((err.stderr ?? '').trim() || err.message);
  }
}

/** The one line that says why a probe failed: the child's error message, not where Node threw it
 * (an uncaught error's stderr starts with the source location). */
export function probeFailureReason(e: Error): string {
  const lines = e.message.split('\n').map((l) => l.trim());
  const err = lines.find((l) => /^[A-Za-z]*Error: /.test(l));
  return err ? err.replace(/^[A-Za-z]*Error: /, '') : lines.find((l) => l !== '') ?? e.message;
}

export async function chooseBackend(choice: BackendChoice, log: Logger): Promise<Backend> {
  if (choice !== 'auto') {
    const b = await probeBackend(choice);
    if (b.devices.length === 0) throw new Error(`backend ${choice} reports no devices`);
    return b;
  }
  try {
    const b = await probeBackend('cuda');
    if (b.devices.length > 0) {
      log.info({ backend: 'cuda', path: b.path, devices: b.devices.length }, 'backend auto: using the NVIDIA driver');
      return b;
    }
    log.info({ backend: 'softgpu', reason: 'NVIDIA driver reports no devices' }, 'backend auto: falling back to softgpu');
  } catch (e) {
    log.info({ backend: 'softgpu', reason: probeFailureReason(e as Error) }, 'backend auto: no usable NVIDIA driver; using softgpu');
  }
  const b = await probeBackend('softgpu');
  if (b.devices.length === 0) throw new Error('softgpu reports no devices');
  return b;
}
