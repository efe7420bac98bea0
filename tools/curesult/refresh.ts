// Re-extracts spec/curesult.tsv, the name and message of every CUresult, from NVIDIA's own
// libraries (`make curesult-refresh`; needs deb.debian.org). `make gen` turns the table into the
// cuGetErrorName/cuGetErrorString of both the guest library and softgpu.
//
// For each CUresult of the toolkit's cuda.h it asks, in order:
//  1. NVIDIA's libcuda.so.1 (Debian's libcuda1, fetched with a private apt configuration so the
//     machine's own is never read or changed; or --lib PATH). Its cuGetErrorName/cuGetErrorString
//     are plain table look-ups: they answer without cuInit and without a GPU.
//  2. for codes that driver does not know (it answers CUDA_ERROR_INVALID_VALUE): the toolkit's
//     libcudart, whose cudaGetErrorString carries the same strings for the codes both libraries
//     share, when its cudaError of the same number has the matching name;
//  3. else the first sentence of cuda.h's doc comment for the code.
// The driver's name must equal cuda.h's spelling; anything else stops the refresh.
//
// Usage: node dist/tools/curesult/refresh.js [--lib PATH/libcuda.so.1] [--suite trixie]

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const OUT = 'spec/curesult.tsv';

export interface CudaHCode {
  name: string;
  code: number;
  /** The doc comment above the enumerator, joined into one line. */
  doc: string;
}

/** The enumerators of `enum cudaError_enum` in cuda.h, with their doc comments. */
export function parseCudaHResults(cudaH: string): CudaHCode[] {
  const body = /typedef enum cudaError_enum \{([\s\S]*?)\} CUresult;/.exec(cudaH);
  if (!body) throw new Error('cuda.h: enum cudaError_enum not found');
  const out: CudaHCode[] = [];
  for (const m of body[1]!.matchAll(/(?:\/\*\*([\s\S]*?)\*\/\s*)?(CUDA_[A-Z0-9_]+)\s*=\s*(\d+)/g)) {
    const doc = (m[1] ?? '').split('\n').map((l) => l.replace(/^\s*\*\s?/, '').trim()).filter(Boolean).join(' ');
    out.push({ name: m[2]!, code: Number(m[3]), doc });
  }
  return out;
}

function firstSentence(doc: string): string {
  const s = doc.replace(/\\deprecated\s*/g, '').replace(/::/g, '');
  const m = /^(.*?\.)(\s|$)/.exec(s);
  return (m ? m[1]! : s).trim();
}

/** CUDA_ERROR_TENSOR_MEMORY_LEAK -> cudaErrorTensorMemoryLeak, the runtime's name for the code. */
function runtimeName(name: string): string {
  const words = name.replace(/^CUDA_ERROR_/, '').toLowerCase().split('_');
  return 'cudaError' + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

function apt(dir: string, suite: string): string[] {
  const sources = join(dir, 'sources.list');
  writeFileSync(sources, `deb http://deb.debian.org/debian ${suite} main contrib non-free non-free-firmware\n`);
  for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(dir, d), { recursive: true });
  return [
    `-oDir::Etc::SourceList=${sources}`, '-oDir::Etc::SourceParts=/dev/null', `-oDir::State::Lists=${join(dir, 'lists')}`,
    `-oDir::Cache=${join(dir, 'cache')}`, '-oDebug::NoLocking=1', '-oAPT::Sandbox::User=root', '-q',
  ];
}

/** Downloads and unpacks Debian's libcuda1; returns the library and a description of it. */
function fetchDriver(dir: string, suite: string): { lib: string; what: string } {
  const opts = apt(dir, suite);
  const run = (cmd: string, args: string[]): string =>
    execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  run('apt-get', [...opts, 'update']);
  run('apt-get', [...opts, 'download', 'libcuda1']);
  const deb = readdirSync(dir).find((f) => f.startsWith('libcuda1_') && f.endsWith('.deb'));
  if (!deb) throw new Error('apt-get download libcuda1 left no package');
  const version = run('dpkg-deb', ['-f', deb, 'Version']).trim();
  run('dpkg', ['-x', deb, 'root']);
  const found = run('find', ['root', '-name', 'libcuda.so.1']).trim().split('\n')[0];
  if (!found) throw new Error(`${deb} holds no libcuda.so.1`);
  return { lib: join(dir, found), what: `Debian ${suite} non-free libcuda1 ${version}` };
}

type ErrFn = (code: number, out: Array<string | null>) => number;
type StrFn = (code: number) => string;

interface Row {
  code: number;
  name: string;
  source: 'driver' | 'cudart' | 'cuda.h';
  message: string;
}

export function main(argv: string[]): void {
  const arg = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const cudaHome = process.env.CUDA_HOME ?? '/usr/local/cuda';
  const cudaH = readFileSync(join(cudaHome, 'include/cuda.h'), 'utf8');
  const cudaVersion = Number(/#define CUDA_VERSION (\d+)/.exec(cudaH)?.[1]);
  const codes = parseCudaHResults(cudaH);

  const tmp = mkdtempSync(join(tmpdir(), 'vgpu-curesult-'));
  try {
    const given = arg('--lib');
    const drv = given ? { lib: resolve(given), what: 'NVIDIA libcuda.so.1' } : fetchDriver(tmp, arg('--suite') ?? 'trixie');
    const cuda = koffi.load(drv.lib);
    const cuName = cuda.func('int cuGetErrorName(int error, _Out_ const char **pStr)') as ErrFn;
    const cuString = cuda.func('int cuGetErrorString(int error, _Out_ const char **pStr)') as ErrFn;
    const cudartPath = realpathSync(join(cudaHome, 'lib64', `libcudart.so.${Math.floor(cudaVersion / 1000)}`));
    const rt = koffi.load(cudartPath);
    const rtName = rt.func('const char *cudaGetErrorName(int error)') as StrFn;
    const rtString = rt.func('const char *cudaGetErrorString(int error)') as StrFn;
    const rtVersion: number[] = [0];
    (rt.func('int cudaRuntimeGetVersion(_Out_ int *runtimeVersion)') as (out: number[]) => number)(rtVersion);

    // Codes outside the table must fail the way the real driver fails, which vgpu copies.
    const probe: Array<string | null> = ['x'];
    if (cuName(123456, probe) !== 1 || probe[0] !== null) throw new Error(`${drv.lib}: an unknown code does not give CUDA_ERROR_INVALID_VALUE and NULL`);

    const rows: Row[] = codes.map(({ name, code, doc }) => {
      const n: Array<string | null> = [null];
      const s: Array<string | null> = [null];
      const rn = cuName(code, n);
      const rs = cuString(code, s);
      if (rn === 0 && rs === 0) {
        if (n[0] !== name) throw new Error(`${name} (${code}): the driver calls it ${n[0]}`);
        return { code, name, source: 'driver', message: s[0]! };
      }
      if (rn !== 1 || rs !== 1) throw new Error(`${name} (${code}): the driver answers ${rn}/${rs}`);
      if (rtName(code) === runtimeName(name)) return { code, name, source: 'cudart', message: rtString(code) };
      return { code, name, source: 'cuda.h', message: firstSentence(doc) };
    });
    for (const r of rows) if (/[\t\n]/.test(r.message) || r.message === '') throw new Error(`${r.name}: message unusable in a TSV`);

    const major = Math.floor(cudaVersion / 1000);
    const minor = (cudaVersion % 1000) / 10;
    const header = [
      `# Name and message of every CUresult in CUDA ${major}.${minor}'s cuda.h, as NVIDIA's libraries give them.`,
      `# source "driver": cuGetErrorName/cuGetErrorString of ${drv.what} (${basename(realpathSync(drv.lib))}).`,
      `# source "cudart": codes that driver does not know; cudaGetErrorString of ${basename(cudartPath)} (${rtVersion[0]}), whose`,
      '#   cudaError of the same number has the matching name.',
      "# source \"cuda.h\": neither knows the code; the first sentence of cuda.h's doc comment.",
      "# Written by tools/curesult/refresh.ts ('make curesult-refresh'); do not edit by hand. 'make gen'",
      '# turns it into common/gen/curesult.c, the cuGetErrorName/cuGetErrorString of the guest and softgpu.',
      'code\tname\tsource\tmessage',
    ];
    const text = [...header, ...rows.map((r) => `${r.code}\t${r.name}\t${r.source}\t${r.message}`)].join('\n') + '\n';
    writeFileSync(join(root, OUT), text);
    const by = (s: Row['source']): number => rows.filter((r) => r.source === s).length;
    process.stdout.write(`curesult: wrote ${OUT}: ${rows.length} codes (${by('driver')} driver, ${by('cudart')} cudart, ${by('cuda.h')} cuda.h)\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
