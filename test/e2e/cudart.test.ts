// NVIDIA's CUDA runtime 13 (static libcudart, shared libcudart.so.13, and per-thread default
// stream) runs unmodified on vgpu's guest libcuda.so.1 through a real mediator on softgpu. Each
// program in test/cuda checks its own results; this file builds every one in all three ways and
// runs it. Getting past the runtime's start-up at all exercises the export tables, the context
// local storage and the integrity check (guest/cuda/impl/darkapi*.c, integrity*.c).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ATTR_UNSUPPORTED } from '../../src/protocol/constants.js';
import { TestGuest } from '../helpers/guest.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import {
  FLAVOURS, buildCudaProgram, cudaPrograms, loadedLibraries, nvccAvailable, runCudaProgram, type CudartFlavour,
} from '../helpers/nvcc.js';
import { GUEST_LIB_DIR } from '../helpers/paths.js';

/** CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID: cudart 13 fails its start-up when a device lacks it. */
const ATTR_GPU_PCI_DEVICE_ID = 139;

let m: RunningMediator;
let logDir: string;
let missing: string | undefined; // why the programs cannot run here, if they cannot

before(async () => {
  logDir = mkdtempSync(join(tmpdir(), 'vgpu-cudart-'));
  m = await startMediator();
  const g = await TestGuest.connect(m.socket);
  try {
    const w = await g.hello();
    const bad = w.devices.findIndex((d) => (d.attributes[ATTR_GPU_PCI_DEVICE_ID] ?? ATTR_UNSUPPORTED) === ATTR_UNSUPPORTED);
    if (bad >= 0) missing = `the host's device ${bad} does not report CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID (139), which cudart 13 reads at start-up`;
  } finally {
    g.close();
  }
});

after(async () => {
  await m?.stop();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

const skip = !nvccAvailable() ? 'nvcc not found (set CUDA_HOME)' : false;

function describeFailure(name: string, flavour: CudartFlavour, out: { code: number | null; signal: string | null; stdout: string; stderr: string }, log: string): string {
  const bad = out.stdout.split('\n').filter((l) => l.startsWith('not ok'));
  const tail = log.split('\n').slice(-150).join('\n');
  return `${name} (${flavour}) exited with ${out.code ?? out.signal}\nfailed checks:\n${bad.join('\n')}\n` +
    `--- program output ---\n${out.stdout}\n--- stderr ---\n${out.stderr.slice(-4000)}\n--- guest log (last 150 lines) ---\n${tail}`;
}

for (const flavour of FLAVOURS) {
  describe(`cudart 13 (${flavour})`, { skip }, () => {
    for (const name of cudaPrograms()) {
      test(name, async (t) => {
        if (missing) {
          t.skip(missing);
          return;
        }
        const prog = buildCudaProgram(name, flavour);
        const logFile = join(logDir, `${name}-${flavour}.log`);
        const out = await runCudaProgram(prog, flavour, m.server, { VGPU_LOG: 'debug', VGPU_LOG_FILE: logFile });
        let log = '';
        try {
          log = readFileSync(logFile, 'utf8');
        } catch {
          log = '(no guest log written)';
        }
        const summary = describeFailure(name, flavour, out, log);
        assert.equal(out.code, 0, summary);
        assert.match(out.stdout, /^# \d+ checks, 0 failed$/m, summary);
        assert.ok(!out.stdout.split('\n').some((l) => l.startsWith('not ok')), summary);
        // The runtime really ran on this library, through the dark API, and checked its integrity.
        assert.match(log, /cuGetExportTable: INTEGRITY_CHECK at /, summary);
        assert.match(log, / debug: integrity_check -> CUDA_SUCCESS /, summary);
        assert.doesNotMatch(log, /undescribed slot/, summary);
      });
    }
  });
}

describe('cudart 13 loader', { skip }, () => {
  // device_props calls the driver API itself, so the linker keeps its libcuda.so.1 dependency
  // (programs that only use the runtime lose it to --as-needed and load libcuda.so.1 with dlopen).
  test('the shared runtime build loads NVIDIA libcudart.so.13 and vgpu libcuda.so.1', () => {
    const name = 'device_props';
    assert.ok(cudaPrograms().includes(name), 'test/cuda/device_props.cu exists');
    const ldd = loadedLibraries(buildCudaProgram(name, 'shared'), 'shared');
    assert.match(ldd, /libcudart\.so\.13 => \S*\/lib64\/libcudart\.so\.13/);
    assert.ok(ldd.includes(`libcuda.so.1 => ${GUEST_LIB_DIR}/libcuda.so.1`), ldd);
  });

  test('the static runtime build has no libcudart dependency', () => {
    const [name] = cudaPrograms();
    const ldd = loadedLibraries(buildCudaProgram(name!, 'static'), 'static');
    assert.doesNotMatch(ldd, /libcudart/);
  });
});
