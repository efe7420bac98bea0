// docs/compatibility.md: what vgpu does with every entry point of NVIDIA's libcuda.so.1.

import { FEATURE_MASK } from '../../src/executor/feature-mask.js';
import type { FnSpec } from './spec.js';

const STATUS_TEXT: Record<string, string> = {
  remote: 'forwarded (generated)',
  custom: 'forwarded (hand-written)',
  'custom-alias': 'forwarded (hand-written, as the op of another entry)',
  local: 'answered in the guest',
  private: 'vgpu wire operation (not exported)',
};

export function emitCompatibility(fns: FnSpec[], unsupported: string[], banner: string, nvmlUnsupported: string[] = []): string {
  const rows = [...fns]
    .sort((a, b) => (a.family === b.family ? (a.name < b.name ? -1 : 1) : a.family < b.family ? -1 : 1))
    .map((f) => {
      const notes = [f.async ? 'fire-and-forget' : '', f.sync ? 'reports deferred errors' : ''].filter(Boolean).join(', ');
      const id = f.id !== undefined ? `0x${f.id.toString(16).padStart(4, '0')}` : '';
      return `| \`${f.name}\` | ${f.family} | ${STATUS_TEXT[f.status]} | ${id} | ${notes} |`;
    });
  return `<!-- ${banner.replace(/^\/\*\s*|\s*\*\/$/g, '')} -->
# Driver API compatibility

Generated from \`spec/cuda.spec.h\` by \`make gen\`. ${fns.length} entry points are implemented;
${unsupported.length} further names that NVIDIA's driver exports (or that cuGetProcAddress can return, or
that NVIDIA's libraries look up with dlsym) are exported and return \`CUDA_ERROR_NOT_SUPPORTED\`, logging
once per name.

Guest-local entries answer from the session handshake or guest state without any traffic.
Fire-and-forget entries are batched; their errors surface at the next call that reports deferred
errors (\`docs/protocol.md\`).

| function | family | status | wire id | notes |
|---|---|---|---|---|
${rows.join('\n')}

## Device attributes vgpu answers itself

Device attributes come from the host's driver, except those that would tell a program it may use a
feature vgpu does not remote (on a GPU host they would send frameworks down paths that then fail,
such as PyTorch's IPC paths), and those that describe how a feature vgpu offers behaves: managed
memory is coherent at launches and synchronisations only (\`docs/managed-memory.md\`). From
\`src/executor/feature-mask.ts\`; softgpu reports the same.

| attribute | vgpu reports | why |
|---|---|---|
${[...FEATURE_MASK].map(([a, m]) => `| \`CU_DEVICE_ATTRIBUTE_${m.name}\` (${a}) | ${m.value} | ${m.why} |`).join('\n')}

## Kernel features without an entry point

**Dynamic parallelism** (a kernel that launches kernels, or calls any other function of the device
runtime: built with \`nvcc -rdc=true -lcudadevrt\`) runs on a GPU backend as the host's driver runs
it. softgpu has no device runtime and refuses such a module when it is loaded, with
\`CUDA_ERROR_INVALID_PTX\` (cudart reports \`cudaErrorInvalidPtx\` at the first launch; the context
stays usable). That is the driver's answer for PTX whose device-runtime functions are unresolved:
its JIT runs ptxas, which stops with \`ptxas fatal : Unresolved extern function
'__cudaCDP2GetParameterBufferV2'\` (nvcc 13's PTX for a kernel-side launch, compiled without
\`-c\`), and \`cuModuleLoadDataEx\` returns \`CUDA_ERROR_INVALID_PTX\` "a PTX JIT compilation failed"
(reported for an unresolved extern function in terralang/terra#299). The JIT error log
(\`CU_JIT_ERROR_LOG_BUFFER\`) and softgpu's log name the function and the reason. softgpu refuses:

- PTX that calls a device-runtime function (\`__cudaCDP2*\` since CUDA 12, \`cuda*\` such as
  \`cudaLaunchDeviceV2\` and \`cudaGetParameterBufferV2\` before) it does not define; declaring one
  without calling it is harmless;
- an \`-rdc\` image with no PTX for the device whose linked cubin holds the device runtime's code
  (a \`.text.__cudaCDP2*\` section): through vgpu the guest ships only the linked container, so
  without this the same program would get \`CUDA_ERROR_NO_BINARY_FOR_GPU\` remotely and
  \`CUDA_ERROR_INVALID_PTX\` in-process. A cubin compressed in the fatbin (\`-Xfatbin -compress-all\`)
  is not inspected and stays \`CUDA_ERROR_NO_BINARY_FOR_GPU\`.

The driver API has no device attribute for device-side launch support, so there is nothing to
report there; \`test/cuda/dynamic_parallelism.cu\` checks the refusal end to end.

## Unsupported (return \`CUDA_ERROR_NOT_SUPPORTED\`)

${unsupported.map((n) => `\`${n}\``).join(', ')}
${nvmlUnsupported.length === 0 ? '' : `
## NVML: unsupported (return \`NVML_ERROR_NOT_SUPPORTED\`)

What \`libnvidia-ml.so.1\` implements, and where its values come from, is in \`docs/guest.md\`. These
${nvmlUnsupported.length} names, taken from \`guest/nvml/impl/unsupported.c\`, are exported so that nvidia-smi and
other tools resolve them, and answer \`NVML_ERROR_NOT_SUPPORTED\`, logging the first call. With them, every
function NVIDIA's \`libnvidia-ml.so.1\` 550 exports is exported (\`test/e2e/nvml-exports.test.ts\` compares the
two lists), so a \`dlsym\` of any of its names succeeds: libc10 (PyTorch) asserts on each NVML name it looks up.
NVLink and fabric queries answer as on a GPU without them:

${nvmlUnsupported.map((n) => `\`${n}\``).join(', ')}
`}`;
}
