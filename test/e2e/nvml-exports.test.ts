// Every function NVIDIA's libnvidia-ml.so.1 exports is exported by ours, so that a dlsym of any of
// its names succeeds (libc10 asserts on each NVML name it looks up: a missing one turned every
// PyTorch out-of-memory into an INTERNAL ASSERT). NVIDIA's library is the 550 one in the sid
// guest tree (test/helpers/guest-tree.ts); libc10's own list is checked without it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { getGuestTree, TREE_LIB } from '../helpers/guest-tree.js';
import { GUEST_LIB_DIR } from '../helpers/paths.js';

function exported(lib: string): Set<string> {
  const out = execFileSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8', maxBuffer: 16 << 20 });
  return new Set([...out.matchAll(/ [TtWi] (nvml\w+)/g)].map((m) => m[1]!));
}

const ours = (): Set<string> => exported(join(GUEST_LIB_DIR, 'libnvidia-ml.so.1'));

test('the NVML functions libc10 (PyTorch) looks up are exported', () => {
  const have = ours();
  // docs/reference/real-clients-observed.md, PyTorch.
  for (const f of ['nvmlDeviceGetComputeRunningProcesses', 'nvmlDeviceGetGpuFabricInfoV', 'nvmlDeviceGetHandleByPciBusId_v2',
    'nvmlDeviceGetNvLinkRemoteDeviceType', 'nvmlDeviceGetNvLinkRemotePciInfo_v2', 'nvmlInit_v2', 'nvmlSystemGetCudaDriverVersion_v2']) {
    assert.ok(have.has(f), `${f} is not exported`);
  }
});

const tree = getGuestTree();

test("every function NVIDIA's libnvidia-ml.so.1 550 exports is exported by ours", { skip: 'skip' in tree ? tree.skip : false }, () => {
  if (!('root' in tree)) return;
  const dir = join(tree.root, TREE_LIB, 'nvidia/current');
  const real = readdirSync(dir).find((f) => /^libnvidia-ml\.so\.\d+\.\d+/.test(f));
  assert.ok(real, `no libnvidia-ml.so.<version> in ${dir}`);
  const theirs = exported(join(dir, real));
  assert.ok(theirs.size > 300, `only ${theirs.size} NVML names found in ${real}`);
  const have = ours();
  const missing = [...theirs].filter((f) => !have.has(f)).sort();
  assert.deepEqual(missing, [], `exported by NVIDIA's ${real}, not by ours`);
});
