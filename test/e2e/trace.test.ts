// The guest's VGPU_LOG=debug trace of a real program against a real mediator on softgpu
// (docs/guest.md, "Tracing calls"): each call is one line naming the function, its arguments from
// the spec, the CUresult by name, outputs and the time taken, after a UTC timestamp; the program's
// cuGetProcAddress lookups appear as one summary line before its first other call.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest } from '../helpers/programs.js';

let m: RunningMediator;
before(async () => {
  m = await startMediator();
});
after(async () => {
  await m?.stop();
});

const PREFIX = String.raw`^vgpu\[\d+\] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z debug: `;
const TIME = String.raw` \d+ µs$`;

test('VGPU_LOG=debug names calls, arguments, results and outputs, and summarises lookups', async () => {
  const r = await runGuest(buildProgram('trace'), ['--server', m.server], { VGPU_LOG: 'debug' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lookups=4 missing=500 init=0 work=0/);
  const lines = r.stderr.split('\n');
  const find = (body: string): number => lines.findIndex((l) => new RegExp(PREFIX + body + TIME).test(l));

  const alloc = find(String.raw`cuMemAlloc_v2\(bytesize=64 MiB\) -> CUDA_SUCCESS \{dptr=(0x[0-9a-f]+)\}`);
  assert.ok(alloc >= 0, r.stderr);
  const dptr = /dptr=(0x[0-9a-f]+)/.exec(lines[alloc]!)![1]!;
  assert.ok(find(String.raw`cuMemsetD8_v2\(dstDevice=${dptr}, uc=7, N=4096\) -> CUDA_SUCCESS`) > alloc, r.stderr);
  assert.ok(find(String.raw`cuMemFree_v2\(dptr=${dptr}\) -> CUDA_SUCCESS`) > alloc, r.stderr);
  // Hand-written calls show their arguments too, in one line: the exported function's own line is
  // not repeated after the forwarded call's.
  assert.ok(find(String.raw`cuMemcpyDtoH_v2\(srcDevice=${dptr}, ByteCount=4 KiB\) -> CUDA_SUCCESS`) > alloc, r.stderr);
  assert.ok(find(String.raw`cuMemcpyHtoD_v2\(dstDevice=${dptr}, ByteCount=4 KiB\) -> CUDA_SUCCESS`) > alloc, r.stderr);
  assert.equal(lines.filter((l) => /cuMemcpy[HD]to[HD]_v2/.test(l)).length, 2, r.stderr);

  const summaries = lines.filter((l) => l.includes('cuGetProcAddress'));
  assert.equal(summaries.length, 1, `one summary line, no line per lookup:\n${summaries.join('\n')}`);
  assert.match(summaries[0]!, new RegExp(PREFIX + String.raw`cuGetProcAddress: 5 lookups of 3 symbols in \d+ µs: 2 found, ` +
    String.raw`1 not found \(cuNoSuchFunction\); repeated: cuInit x3$`));
  const init = find('cuInit -> CUDA_SUCCESS');
  assert.ok(init > lines.indexOf(summaries[0]!), 'the summary comes before the first other call');
});

test('VGPU_LOG=trace logs each lookup; VGPU_LOG_LEVEL is the same setting', async () => {
  const r = await runGuest(buildProgram('trace'), ['--server', m.server], { VGPU_LOG_LEVEL: 'trace' });
  assert.equal(r.code, 0, r.stderr);
  const lookups = r.stderr.split('\n').filter((l) => / trace: cuGetProcAddress(_v2)?\(symbol=/.test(l));
  assert.equal(lookups.length, 5, r.stderr);
  assert.match(r.stderr, /cuGetProcAddress_v2\(symbol=cuNoSuchFunction, cudaVersion=12000, flags=0x0\) -> CUDA_ERROR_NOT_FOUND \(not found\) \d+ µs/);
  assert.doesNotMatch(r.stderr, /lookups of/);
});

test('VGPU_LOG=silent quiets even the warnings', async () => {
  const r = await runGuest(buildProgram('init_only'), ['--server', `unix:${m.stateDir}/nobody-listens.sock`], { VGPU_LOG: 'silent' }, 60_000);
  assert.match(r.stdout, /cuInit=100 /);
  assert.doesNotMatch(r.stderr, /vgpu\[\d+\]/);
});
