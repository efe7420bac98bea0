// Debian's PyTorch 2.6 (trixie, CUDA 12.4) through vgpu on softgpu (test/helpers/torch-tree.ts):
// the everyday operations, pinned memory with non-blocking copies (cuPointerGetAttributes,
// docs/pointers.md), and out-of-memory as torch.OutOfMemoryError both past the device's memory and
// at a VM's quota, with the process still usable afterwards (libc10 resolves NVML functions that
// a GPU without NVLink answers NOT_SUPPORTED), and the expandable-segments allocator on the virtual
// memory management API inside a VM's quota, and torch.multiprocessing sharing a CUDA tensor between
// two processes of one VM (CUDA IPC, and shareable VMM handles for expandable segments: docs/ipc.md). Importing torch takes a while on a small machine,
// so each Python run does several steps and reports them as one JSON object.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';

import { runInTree, type TreeRun } from '../helpers/guest-tree.js';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { BIN, ROOT } from '../helpers/paths.js';
import { cudnnStandIn, getTorchTree } from '../helpers/torch-tree.js';

const tree = getTorchTree();
const skip = 'skip' in tree ? tree.skip : false;
const root = 'root' in tree ? tree.root : '';

/** Where the stand-in libcudnn.so.9 and the test's Python script appear inside the tree. */
const TREE_CUDNN = '/tmp/vgpu-cudnn';
const TREE_SCRIPTS = '/tmp/vgpu-torch';
const QUOTA_MIB = 512;

let m: RunningMediator;
let cudnnDir = '';

before(async () => {
  if (skip) return;
  cudnnDir = cudnnStandIn(root);
  // PyTorch's only PTX is compute_90, so its kernels load on a device of 9.0 or newer that it has no
  // machine code for: softgpu at its default identity (12.0) is one, with no setting.
  m = await startMediator();
});

after(async () => {
  await m?.stop();
});

const stepError = z.object({ error: z.string(), message: z.string() });

function lastJson(r: TreeRun): Record<string, unknown> {
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return z.record(z.string(), z.unknown()).parse(JSON.parse(line));
  } catch {
    assert.fail(`no JSON result from python (exit ${r.code ?? r.signal})\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-6000)}`);
  }
}

async function python(args: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const r = await runInTree(root, ['python3', `${TREE_SCRIPTS}/everyday.py`, ...args], {
    server: m.server,
    env,
    binds: [{ host: cudnnDir, guest: TREE_CUDNN }, { host: join(ROOT, 'test/torch'), guest: TREE_SCRIPTS }],
    libPath: [TREE_CUDNN],
    timeoutMs: 300_000,
  });
  const out = lastJson(r);
  assert.equal(r.code, 0, `python exited with ${r.code ?? r.signal}: ${r.stderr.slice(-3000)}`);
  return out;
}

/** A step's value, failing with the exception it raised instead. */
function value(out: Record<string, unknown>, key: string): unknown {
  const v = out[key];
  const err = stepError.safeParse(v);
  if (err.success) assert.fail(`${key} raised ${err.data.error}: ${err.data.message}`);
  return v;
}

describe("Debian's PyTorch 2.6 through vgpu on softgpu", { skip }, () => {
  let basics: Record<string, unknown>;
  before(async () => {
    if (skip) return;
    basics = await python(['basics']);
  });

  test('torch.zeros, a + b and matmul give the CPU results', () => {
    assert.equal(value(basics, 'available'), true);
    assert.equal(value(basics, 'zeros'), 0);
    assert.equal(value(basics, 'add'), true);
    const err = z.number().parse(value(basics, 'matmul_max_error'));
    assert.ok(err < 1e-4, `matmul differs from the CPU's by ${err}`);
  });

  test('reductions and an nn.Linear forward give the CPU results', () => {
    const exact = ['max', 'argmin', 'int_sum', 'int_mod_sum', 'amax', 'any', 'cumsum'] as const;
    const close = ['sum_error', 'mean_rows_error', 'std_error', 'norm_error', 'softmax_error', 'logsumexp_error'] as const;
    const r = z.object({ ...Object.fromEntries(exact.map((k) => [k, z.boolean()])), ...Object.fromEntries(close.map((k) => [k, z.number()])) })
      .strict().parse(value(basics, 'reductions')) as Record<string, boolean | number>;
    for (const k of close) assert.ok((r[k] as number) < 1e-5, `${k}: ${r[k]}`);
    assert.deepEqual(Object.fromEntries(exact.map((k) => [k, r[k]])), Object.fromEntries(exact.map((k) => [k, true])));
    const err = z.number().parse(value(basics, 'linear_max_error'));
    assert.ok(err < 1e-4, `nn.Linear differs from the CPU's by ${err}`);
  });

  test('pin_memory() and non-blocking copies from and into pinned memory give the data', () => {
    assert.deepEqual(value(basics, 'pinned'), { is_pinned: true, to_device: true, back_into_pinned: true });
  });

  test('a too-large allocation raises torch.OutOfMemoryError and the process stays usable', () => {
    assert.deepEqual(value(basics, 'oom'), { raised: 'OutOfMemoryError', is_cuda_oom: true });
    assert.equal(value(basics, 'after_oom'), 20);
  });

  test("a VM's memory quota is where PyTorch runs out of memory, and set_per_process_memory_fraction holds", async () => {
    const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'torch-quota', '--memory', `${QUOTA_MIB}M`, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
    const token = out.trim().split('\n').at(-1)!;
    const q = await python(['quota', String(QUOTA_MIB)], { VGPU_TOKEN: token });
    assert.equal(value(q, 'total_mib'), QUOTA_MIB, 'the quota is the total memory PyTorch sees');
    assert.equal(value(q, 'half'), 'allocated');
    assert.equal(value(q, 'past_quota'), 'OutOfMemoryError');
    assert.equal(value(q, 'after_freeing'), 'allocated', 'freed memory is usable again');
    assert.equal(value(q, 'memory_fraction'), 'OutOfMemoryError, then allocated within the fraction',
      'set_per_process_memory_fraction limits a quarter of the quota');
  });

  test('expandable_segments:True allocates through cuMemCreate/cuMemMap, runs a matmul, and runs out at the quota', async () => {
    const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'torch-vmm', '--memory', `${QUOTA_MIB}M`, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
    const token = out.trim().split('\n').at(-1)!;
    const q = await python(['expandable', String(QUOTA_MIB)], { VGPU_TOKEN: token, PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' });
    assert.deepEqual(value(q, 'grow'), [1, 3, 7, 30, 60], 'tensors in growing segments hold their data');
    assert.equal(value(q, 'segments_expandable'), true, 'the segments are expandable ones (virtual memory management)');
    const err = z.number().parse(value(q, 'matmul_max_error'));
    assert.ok(err < 1e-4, `matmul differs from the CPU's by ${err}`);
    assert.equal(value(q, 'past_quota'), 'OutOfMemoryError', 'cuMemCreate past the quota is an out-of-memory error');
    assert.equal(value(q, 'after_freeing'), true, 'unmapped and released memory is usable again');
  });

  test('torch.multiprocessing shares a CUDA tensor between two processes of one VM', async () => {
    const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'torch-ipc', '--memory', `${QUOTA_MIB}M`, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
    const token = out.trim().split('\n').at(-1)!;
    const q = await python(['multiprocessing'], { VGPU_TOKEN: token });
    assert.deepEqual(value(q, 'share'), {
      child: { seen_sum: 499500, device: 'cuda:0' },
      parent_sees_child_writes: true,
      child_exit: 0,
    });
  });

  // With expandable segments PyTorch shares a tensor's segment as a shareable VMM handle (a file
  // descriptor the child takes from the parent with pidfd_getfd) instead of cudaIpcGetMemHandle.
  test('torch.multiprocessing shares a CUDA tensor of an expandable segment (cuMemExportToShareableHandle)', async () => {
    const out = execFileSync(join(BIN, 'vgpu-admin'), ['vm', 'add', 'torch-ipc-vmm', '--memory', `${QUOTA_MIB}M`, '--print-token', '--state-dir', m.stateDir], { encoding: 'utf8' });
    const token = out.trim().split('\n').at(-1)!;
    const q = await python(['multiprocessing'], { VGPU_TOKEN: token, PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' });
    assert.deepEqual(value(q, 'share'), {
      child: { seen_sum: 499500, device: 'cuda:0' },
      parent_sees_child_writes: true,
      child_exit: 0,
    });
  });
});
