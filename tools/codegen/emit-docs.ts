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
feature vgpu does not remote: on a GPU host they would send frameworks down paths that then fail
(llama.cpp's VMM pool, PyTorch's IPC and managed-memory paths). From \`src/executor/feature-mask.ts\`;
softgpu reports the same.

| attribute | vgpu reports | why |
|---|---|---|
${[...FEATURE_MASK].map(([a, m]) => `| \`CU_DEVICE_ATTRIBUTE_${m.name}\` (${a}) | ${m.value} | ${m.why} |`).join('\n')}

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
