// node-llama-cpp from npm as a real client (docs/reference/real-clients-observed.md): it detects
// the vGPU, loads a small model from our own GGUF generator with every layer on it, and generates
// the CPU backend's tokens for a 64-token prompt with the default batch size (so prompt
// processing goes through cuBLAS), at softgpu's default identity.
//
// Its main CUDA build needs cuBLAS 13, which is not obtainable here, so it falls back to its
// `-cuda-ext` build, which runs on the sid guest tree's cudart/cuBLAS 12.4 (they load on this
// machine's glibc). Only those three libraries are put on the loader path, from a folder of links,
// never the tree's whole library folder (its libc and libstdc++ are not this machine's).
//
// The package is installed with npm into the test cache (its own npm cache there too) once per
// version; the test skips only when the npm registry cannot be reached.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { cacheDir } from '../helpers/cache.js';
import { getGuestTree, tinyLlamaGguf, TREE_LIB } from '../helpers/guest-tree.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { GUEST_LIB_DIR } from '../helpers/paths.js';
import { runCollect, type ProcessRun } from '../helpers/spawn.js';

const VERSION = '3.22.1';
const CUDA12_LIBS = ['libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12'];

/** What the generation script prints last: the backend it got and the tokens it generated. */
interface Generation {
  gpu: string | false;
  devices: string[];
  promptTokens: number;
  tokens: number[];
}

// Runs in the child: greedy generation of 16 tokens after the prompt, one JSON line at the end.
const SCRIPT = `
import { createRequire } from 'node:module';
const [dir, modelPath, gpu] = process.argv.slice(2);
const require = createRequire(dir + '/package.json');
const { getLlama } = await import(require.resolve('node-llama-cpp'));
const llama = await getLlama({ gpu: gpu === 'cpu' ? false : gpu, build: 'never', logLevel: 'warn' });
const devices = await llama.getGpuDeviceNames();
const model = await llama.loadModel({ modelPath, gpuLayers: gpu === 'cpu' ? 0 : 'max' });
const context = await model.createContext({ contextSize: 256 });
const seq = context.getSequence();
const prompt = model.tokenize('The quick brown fox jumps over the lazy dog, again and again!');
const tokens = [];
for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
  tokens.push(t);
  if (tokens.length >= 16) break;
}
await context.dispose();
await model.dispose();
await llama.dispose();
console.log(JSON.stringify({ gpu: llama.gpu, devices, promptTokens: prompt.length, tokens }));
`;

/** Installs node-llama-cpp into the cache unless it is there; a reason to skip when npm's registry
 * cannot be reached, and an error for any other failure. */
function install(): { dir: string } | { skip: string } {
  const dir = join(cacheDir(), `node-llama-cpp-${VERSION}`);
  if (existsSync(join(dir, 'node_modules', '@node-llama-cpp', 'linux-x64-cuda-ext', 'package.json'))) return { dir };
  mkdirSync(dir, { recursive: true });
  const npm = (args: string[], timeout: number): void => {
    execFileSync('flock', [`${dir}.lock`, 'npm', ...args, '--prefix', dir, '--cache', join(dir, '.npm-cache'),
      '--no-audit', '--no-fund', '--loglevel=error'], { stdio: ['ignore', 'pipe', 'pipe'], timeout });
  };
  try {
    npm(['view', `node-llama-cpp@${VERSION}`, 'version'], 60_000);
  } catch (e) {
    const err = e as { stderr?: Buffer; message?: string };
    return { skip: `the npm registry cannot be reached: ${(err.stderr?.toString() ?? err.message ?? '').trim().split('\n').slice(-3).join(' | ')}` };
  }
  npm(['install', `node-llama-cpp@${VERSION}`], 15 * 60_000);
  return { dir };
}

const tree = getGuestTree();
const treeSkip = 'skip' in tree ? tree.skip : false;
const treeRoot = 'root' in tree ? tree.root : '';

let m: RunningMediator | undefined;
let work: string;
let pkgDir = '';
let skipReason: string | false = treeSkip;

before(async () => {
  if (skipReason) return;
  const got = install();
  if ('skip' in got) {
    skipReason = got.skip;
    return;
  }
  pkgDir = got.dir;
  work = mkdtempSync(join(tmpdir(), 'vgpu-nlc-'));
  writeFileSync(join(work, 'tiny.gguf'), tinyLlamaGguf().file);
  writeFileSync(join(work, 'generate.mjs'), SCRIPT);
  mkdirSync(join(work, 'cuda12'));
  for (const lib of CUDA12_LIBS) symlinkSync(join(treeRoot, TREE_LIB, lib), join(work, 'cuda12', lib));
  m = await startMediator();
});

after(async () => {
  await m?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function generate(gpu: 'cuda' | 'cpu', env: Record<string, string>): Promise<ProcessRun> {
  return runCollect(process.execPath, [join(work, 'generate.mjs'), pkgDir, join(work, 'tiny.gguf'), gpu],
    { ...process.env, ...env }, 600_000, `node-llama-cpp (${gpu})`);
}

function parse(what: string, r: ProcessRun): Generation {
  const summary = `${what} exited with ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr.slice(-6000)}`;
  assert.equal(r.code, 0, summary);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Generation;
}

describe(`node-llama-cpp ${VERSION} from npm`, () => {
  test('generates the CPU backend\'s tokens on the vGPU (its -cuda-ext build on cudart/cuBLAS 12.4)', async (t) => {
    if (skipReason) {
      t.skip(skipReason);
      return;
    }
    const logFile = join(work, 'guest.log');
    const cpu = parse('CPU run', await generate('cpu', {}));
    const cuda = parse('CUDA run', await generate('cuda', {
      LD_LIBRARY_PATH: [GUEST_LIB_DIR, join(work, 'cuda12')].join(':'),
      VGPU_SERVER: m!.server,
      VGPU_LOG: 'info',
      VGPU_LOG_FILE: logFile,
    }));
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '(no guest log)';
    const summary = `CPU ${JSON.stringify(cpu)}\nCUDA ${JSON.stringify(cuda)}\n--- guest log (tail) ---\n${log.split('\n').slice(-60).join('\n')}`;
    assert.equal(cuda.gpu, 'cuda', summary);
    assert.ok(cuda.devices.length === 1, summary);
    assert.ok(cpu.promptTokens >= 32, `a prompt of at least 32 tokens: ${summary}`);
    assert.equal(cpu.tokens.length, 16, summary);
    assert.deepEqual(cuda.tokens, cpu.tokens, summary);
    // The work really went through vgpu: the guest library connected to the mediator.
    assert.match(log, /connected to unix:\S+ \(session \d+\)/, summary);
  });
});
