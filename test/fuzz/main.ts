// `make fuzz`: the live fuzzer (run.ts) for FRAMES frames from SEED, printing a line per batch and
// a JSON report at the end; exits 1 at the first problem found.
//   node dist/test/fuzz/main.js [--frames N] [--seed S] [--batch N]
// or VGPU_FUZZ_FRAMES, VGPU_FUZZ_SEED, VGPU_FUZZ_BATCH (arguments win).

import { parseArgs } from 'node:util';

import { fuzz, FuzzFailure } from './run.js';

function count(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${v}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { frames: { type: 'string' }, seed: { type: 'string' }, batch: { type: 'string' } } });
  const env = process.env;
  const frames = count('--frames', values.frames ?? env.VGPU_FUZZ_FRAMES, 1_000_000);
  const seed = count('--seed', values.seed ?? env.VGPU_FUZZ_SEED, 1);
  const batch = count('--batch', values.batch ?? env.VGPU_FUZZ_BATCH, 50_000);
  process.stdout.write(`fuzzing a live mediator: ${frames} frames, seed ${seed}, health checks every ${batch} frames\n`);
  try {
    const r = await fuzz({
      frames, seed, batch,
      onBatch: (b) => process.stdout.write(`  batch ${b.batches}: ${b.frames} frames, ${b.framesPerSecond} frames/s, bystander round ${b.bystanderRounds}, host errors ${JSON.stringify(b.errorsFromHost)}\n`),
    });
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    process.stdout.write(`ok: ${r.frames} frames in ${r.seconds} s (${r.framesPerSecond} frames/s); mediator, executors and bystander fine\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`fuzz: ${e instanceof FuzzFailure ? 'FOUND: ' : ''}${(e as Error).stack ?? String(e)}\n`);
    process.stderr.write(`reproduce with: make fuzz VGPU_FUZZ_FRAMES=${frames} VGPU_FUZZ_SEED=${seed}\n`);
    return 1;
  }
}

process.exitCode = await main();
