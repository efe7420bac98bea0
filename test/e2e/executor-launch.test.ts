// The mediator starts executors in their fast form (docs/executors.md, "Launch form"): the bundled
// executor through its launcher, with the executors' Node flags and the code cache `make` wrote;
// a cache that does not fit is ignored (and warned about) and the executor still serves; an idle
// executor gives memory back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { EXECUTOR_CODE_CACHE, EXECUTOR_LAUNCHER, EXECUTOR_NODE_FLAGS } from '../../src/executor/launch-form.cjs';
import { startMediator, type RunningMediator } from '../helpers/mediator.js';
import { buildProgram, runGuest } from '../helpers/programs.js';

type Line = Record<string, unknown>;

const readyLine = (l: Line): boolean => l.msg === 'executor ready' && typeof l.executorPid === 'number';

/** A guest allocates device memory through the mediator: the executor serves. */
async function allocates(m: RunningMediator): Promise<void> {
  const r = await runGuest(buildProgram('alloc_paths'), ['--server', m.server], {}, 120_000, ['alloc:1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^alloc 1 -> 0$/m);
}

for (const form of ['forked', 'spawned'] as const) {
  test(`executors (${form}) run the bundle through the launcher, with their flags and the code cache, and give idle memory back`, async () => {
    const m = await startMediator(form === 'spawned' ? { env: { VGPU_EXECUTOR_ZYGOTE: '0' } } : {});
    try {
      const ready = await m.waitForLog(readyLine, 30_000);
      assert.deepEqual(ready.launch, { form: 'bundle', codeCache: 'used' });
      const argv = readFileSync(`/proc/${String(ready.executorPid)}/cmdline`, 'utf8').split('\0');
      assert.deepEqual(argv.slice(1, 1 + EXECUTOR_NODE_FLAGS.length), [...EXECUTOR_NODE_FLAGS]);
      assert.equal(argv[1 + EXECUTOR_NODE_FLAGS.length], EXECUTOR_LAUNCHER);
      // A forked executor's command line is its zygote's (docs/executors.md, "Zygote").
      assert.equal(argv[2 + EXECUTOR_NODE_FLAGS.length] === '--zygote', form === 'forked');
      const shrunk = await m.waitForLog((l) => l.msg === 'idle: memory given back' && l.pid === ready.executorPid, 30_000);
      // A forked executor leaves the heap it shares with the zygote uncollected until it has
      // garbage of its own worth the pages a collection would copy.
      assert.equal(shrunk.gc, form === 'spawned', form === 'spawned' ? 'the heap was collected (--expose-gc)' : 'the shared heap was left alone');
      assert.equal(shrunk.trimmed === true || shrunk.trimmed === false, true);
      assert.ok(!m.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('executors start without their code cache')));
      await allocates(m);
    } finally {
      await m.stop();
    }
  });
}

for (const damage of ['corrupt', 'stale', 'rejected'] as const) {
  test(`a ${damage} code cache is ignored with a warning, and the executor still serves`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vgpu-cache-'));
    const file = join(dir, 'cache');
    const bad = Buffer.from(readFileSync(EXECUTOR_CODE_CACHE));
    // The container: magic (8), the bundle's hash (32), the payload's hash (32), the payload.
    if (damage === 'corrupt') bad[bad.length - 100]! ^= 0xff;
    else if (damage === 'stale') bad[8]! ^= 0xff;
    writeFileSync(file, bad);
    // V8 refuses an intact cache made under other flags (this one changes V8's flag hash).
    const env: Record<string, string> = damage === 'rejected' ? { VGPU_EXECUTOR_NODE_ARGS: '--max-old-space-size=3000' } : { VGPU_EXECUTOR_CODE_CACHE: file };
    const m = await startMediator({ env });
    try {
      const ready = await m.waitForLog(readyLine, 30_000);
      assert.deepEqual(ready.launch, { form: 'bundle', codeCache: damage });
      const warned = await m.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('executors start without their code cache'));
      assert.deepEqual(warned.launch, { form: 'bundle', codeCache: damage });
      await allocates(m);
    } finally {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
