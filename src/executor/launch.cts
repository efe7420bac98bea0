// The executor as the mediator starts it (docs/executors.md, "Launch form"): runs the bundled
// executor (one script, made by `make`) with V8's compiled code from the code cache made with it,
// instead of loading and compiling the executor's modules one by one. A cache that does not fit
// (another bundle, a damaged file, another Node or other flags) is ignored and the bundle is
// compiled as usual; the executor says which in its `ready` greeting, and the mediator warns.
//
//   launch.js ARGS   the same arguments as main.js

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

import { compileBundle, unpackCodeCache } from './code-cache.cjs';
import { CODE_CACHE_ENV, EXECUTOR_BUNDLE, EXECUTOR_CODE_CACHE, setLaunchInfo, type CodeCacheState } from './launch-form.cjs';

/** The code cache's payload when there is one that fits `source`, and what became of it. */
function readCodeCache(source: string): { payload?: Buffer; state: CodeCacheState } {
  const choice = process.env[CODE_CACHE_ENV] ?? '';
  if (choice === 'off') return { state: 'off' };
  let file: Buffer;
  try {
    file = readFileSync(choice === '' ? EXECUTOR_CODE_CACHE : choice);
  } catch {
    return { state: 'absent' };
  }
  const r = unpackCodeCache(source, file);
  return 'payload' in r ? { payload: r.payload, state: 'used' } : { state: r.problem };
}

type CommonJsBody = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

let source: string;
try {
  source = readFileSync(EXECUTOR_BUNDLE, 'utf8');
} catch (e) {
  process.stderr.write(`vgpu-executor: cannot read the executor bundle ${EXECUTOR_BUNDLE} (${(e as Error).message}); run make\n`);
  process.exit(3);
}
const cache = readCodeCache(source);
const script = compileBundle(source, EXECUTOR_BUNDLE, cache.payload);
setLaunchInfo({ form: 'bundle', codeCache: cache.payload && script.cachedDataRejected ? 'rejected' : cache.state });
const body = script.runInThisContext() as CommonJsBody;
const bundleModule = { exports: {} };
body.call(bundleModule.exports, bundleModule.exports, createRequire(EXECUTOR_BUNDLE), bundleModule, EXECUTOR_BUNDLE, dirname(EXECUTOR_BUNDLE));
