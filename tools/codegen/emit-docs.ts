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
  (a \`.text.__cudaCDP2*\` section), or whose only PTX for the device is libcudadevrt's own (it
  defines the device runtime's functions, and the pre-link containers of an image linked with it
  carry it for every architecture up to compute_121: it is never taken for the program's PTX). A
  cubin compressed in the fatbin (\`-Xfatbin -compress-all\`) is not inspected and stays
  \`CUDA_ERROR_NO_BINARY_FOR_GPU\`.

The driver API has no device attribute for device-side launch support, so there is nothing to
report there; \`test/cuda/dynamic_parallelism.cu\` checks the refusal end to end, at every compute
capability in \`test/e2e/cuda-cc.test.ts\`.

**Relocatable device code** (\`nvcc -rdc=true\`, separate compilation) keeps its PTX in the image's
pre-link containers; the linked container a GPU runs holds only the linked cubin. The guest
therefore ships an \`-rdc\` image (a \`__fatBinC_Wrapper_t\` of version 2) as its linked container
followed by its pre-link containers, and the executor hands the driver a wrapper of the same
shape over them, which is what the driver gets in-process: softgpu runs the program's PTX (of one
translation unit: softgpu does not link PTX) as it does in-process, and a GPU its linked cubin.

**Graphs** built node by node are forwarded (one wire op per verb); host nodes run in the guest,
and what is not carried (copy nodes on host memory or arrays, host nodes in child graphs,
conditional and memory nodes) is in \`docs/guest.md\`, "Graphs".

**CUDA arrays, textures and surfaces.** Arrays of 8, 16 and 32-bit integers, half and float with
1, 2 or 4 channels, in 1D, 2D, 3D and layered shapes, with surface load/store and texture gather,
and mipmapped arrays of them (a level is an array that goes with its mipmapped array);
copies to and from them by offset (\`cuMemcpyAtoH\` and the like) and as 2D/3D boxes; texture objects
over arrays, mipmapped arrays, linear and pitched memory, and surface objects over arrays. Through vgpu an array's
bytes count toward the VM's quota, host bytes travel in pieces of at most 4 MiB (a copy between
host memory and an array on a stream being captured is refused with
\`CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED\`: the host bytes live only for the call), and a texture or
surface object is the driver's value (kernels receive it unchanged; \`docs/security.md\`). Not offered:
the packed, planar and block-compressed formats and cubemaps
(\`CUDA_ERROR_NOT_SUPPORTED\`), resource views other than the identity and sRGB reads (softgpu:
\`CUDA_ERROR_NOT_SUPPORTED\`), sparse and deferred-mapping arrays. softgpu samples as the CUDA
programming guide's "Texture Fetching" appendix defines, with linear filtering's weights rounded to
1/256 as NVIDIA's hardware holds them (9-bit fixed point, 8 fractional bits); the weighted sum is
taken in float, so a GPU may differ in the last bits; between mipmap levels softgpu mixes by the
level of detail's fraction in float, and \`tex.grad\` takes log2 of the longer gradient. softgpu asks linear and pitched texture memory to
start on a 256-byte boundary (its allocation granule), where the device attribute says 512.

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
