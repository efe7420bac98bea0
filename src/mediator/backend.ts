// Chooses the backend at start-up and discovers its devices, in a child process (a driver that
// misbehaves while probing takes down the probe, not the mediator). `auto` takes the real driver
// when it initialises with at least one device, softgpu otherwise, and says which and why.

import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Logger } from 'pino';

import { envLogLevel, LOG_LEVEL_ENV } from '../common/log.js';
import type { ProbeResult } from '../executor/probe.js';
import type { BackendKind } from '../executor/driver.js';

const run = promisify(execFile);
export const EXECUTOR_MAIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'executor', 'main.js');

export type BackendChoice = BackendKind | 'auto';

export interface Backend extends ProbeResult {
  kind: BackendKind;
  path: string;
}

async function probeWith(kind: BackendKind): Promise<Backend> {
  try {
    const { stdout } = await run(process.execPath, [EXECUTOR_MAIN, '--backend', kind, '--probe'], {
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
      // Quieter than the mediator unless asked: the probe's findings are logged by the mediator.
      env: { ...process.env, [LOG_LEVEL_ENV]: envLogLevel(process.env).level ?? 'warn' },
    });
    return { kind, ...(JSON.parse(stdout) as Omit<Backend, 'kind'>) };
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
    const b = await probeWith(choice);
    if (b.devices.length === 0) throw new Error(`backend ${choice} reports no devices`);
    return b;
  }
  try {
    const b = await probeWith('cuda');
    if (b.devices.length > 0) {
      log.info({ backend: 'cuda', path: b.path, devices: b.devices.length }, 'backend auto: using the NVIDIA driver');
      return b;
    }
    log.info({ backend: 'softgpu', reason: 'NVIDIA driver reports no devices' }, 'backend auto: falling back to softgpu');
  } catch (e) {
    log.info({ backend: 'softgpu', reason: probeFailureReason(e as Error) }, 'backend auto: no usable NVIDIA driver; using softgpu');
  }
  const b = await probeWith('softgpu');
  if (b.devices.length === 0) throw new Error('softgpu reports no devices');
  return b;
}
