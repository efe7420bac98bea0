// Shared by the CLI tests: temporary state directories, running main() in-process with captured
// output, and running the real launchers.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { Store } from '../../src/store/index.js';

// dist/test/cli/helpers.js -> repository root
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A fresh directory, removed when the test `t` ends. */
export function tempDir(t: TestContext, prefix = 'vgpu-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs vgpu-admin's main() with `env` as its whole environment. */
export async function cli(argv: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env,
  });
  return { status, stdout, stderr };
}

/** Runs an executable from bin/ (or elsewhere) as a real process. */
export function runBin(file: string, args: string[], env: Record<string, string | undefined> = {}): CliResult {
  const r = spawnSync(file, args, {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    timeout: 30_000,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A snapshot of what the store holds, to show a failed command changed nothing. */
export function snapshot(stateDir: string): string {
  const s = Store.open(stateDir, { actor: 'test' });
  try {
    return JSON.stringify({ vms: s.listVms(), audit: s.listAudit(), pools: s.listPools(), operators: s.listOperators() });
  } finally {
    s.close();
  }
}
