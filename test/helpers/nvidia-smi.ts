// NVIDIA's own nvidia-smi (535, Debian 12 non-free), fetched with apt into a cache outside the
// repository ($VGPU_CACHE_DIR, else ~/.cache/vgpu). It uses a private sources list and private
// state directories, so the machine's apt configuration is never read or changed
// (docs/reference/real-clients-here.md). Tests skip, with the reason, only when apt cannot
// reach the mirror.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { cacheDir } from './cache.js';

const SOURCES = 'deb http://deb.debian.org/debian bookworm main contrib non-free non-free-firmware\n';
const BINARY = 'usr/lib/nvidia/current/nvidia-smi';

export type NvidiaSmi = { path: string } | { skip: string };

function run(cmd: string, args: string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

function tail(e: unknown): string {
  const err = e as { stderr?: Buffer; message?: string };
  const s = err.stderr?.toString().trim() ?? '';
  return (s || err.message || String(e)).split('\n').slice(-3).join(' | ');
}

/** Returns the nvidia-smi binary, downloading and unpacking it on first use. */
export function getNvidiaSmi(): NvidiaSmi {
  const dir = join(cacheDir(), 'nvidia-smi-bookworm');
  const bin = join(dir, 'root', BINARY);
  if (existsSync(bin)) return { path: bin };
  try {
    execFileSync('apt-get', ['--version'], { stdio: 'ignore' });
    execFileSync('dpkg', ['--version'], { stdio: 'ignore' });
  } catch {
    return { skip: 'apt-get/dpkg are not available on this machine, so nvidia-smi cannot be fetched' };
  }
  mkdirSync(join(dir, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(dir, 'archives', 'partial'), { recursive: true });
  const sources = join(dir, 'sources.list');
  writeFileSync(sources, SOURCES);
  const apt = [
    `-oDir::Etc::SourceList=${sources}`, '-oDir::Etc::SourceParts=/dev/null', `-oDir::State::Lists=${join(dir, 'lists')}`,
    `-oDir::Cache::Archives=${join(dir, 'archives')}`, '-oDebug::NoLocking=1', '-oAPT::Sandbox::User=root', '-q',
  ];
  try {
    run('apt-get', [...apt, 'update'], dir);
  } catch (e) {
    return { skip: `apt cannot reach deb.debian.org (bookworm non-free) to fetch nvidia-smi: ${tail(e)}` };
  }
  // Past this point the mirror answered, so a failure is a real error, not a reason to skip.
  for (const f of readdirSync(dir)) if (f.endsWith('.deb')) rmSync(join(dir, f));
  run('apt-get', [...apt, 'download', 'nvidia-smi'], dir);
  const deb = readdirSync(dir).find((f) => f.startsWith('nvidia-smi_') && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download nvidia-smi left no package in ${dir}`);
  rmSync(join(dir, 'root'), { recursive: true, force: true });
  run('dpkg', ['-x', deb, 'root'], dir);
  if (!existsSync(bin)) throw new Error(`${deb} did not contain ${BINARY}`);
  return { path: bin };
}
