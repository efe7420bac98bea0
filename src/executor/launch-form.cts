// How the mediator starts an executor (docs/executors.md, "Launch form"): one place for the files
// and the Node flags, shared by the mediator's pool, the build step that writes the bundle and its
// code cache (tools/executor-bundle/), and the executor, which reports how it was loaded.
//
// Every session has a Node process of its own, so what Node does before the executor is ready is
// paid per session. Loading the executor's ~100 ES modules one by one and compiling them costs
// most of that; one bundled script whose compiled code comes from a V8 code cache made at build
// time costs a fraction (figures in docs/benchmarks.md, "Session start").

// CommonJS, as are the launcher and code-cache.cts: the launcher is the first thing an executor
// runs, and Node's ES module loader alone costs it ~15 ms of CPU.

import { join } from 'node:path';

const here = __dirname;

/** The executor's modules, loaded one by one: the development form (`node main.js ...`). */
export const EXECUTOR_MAIN = join(here, 'main.js');
/** What the mediator forks: reads the bundle, checks and applies the code cache, runs it. */
export const EXECUTOR_LAUNCHER = join(here, 'launch.cjs');
/** The executor in one CommonJS script (esbuild), next to main.js so that paths the modules
 * derive from their own location (the repository root, package.json) come out the same. */
export const EXECUTOR_BUNDLE = join(here, 'executor.bundle.cjs');
/** V8's compiled code of the bundle, in the container of src/executor/code-cache.ts. */
export const EXECUTOR_CODE_CACHE = join(here, 'executor.bundle.cache');

/**
 * Node flags every executor runs with. They are part of what V8 checks a code cache against, so
 * the build step writes the cache under the same flags.
 * - `--expose-gc`: the idle shrink (src/executor/idle-shrink.ts) collects the heap before it
 *   gives freed memory back to the system.
 * - `--single-threaded` (V8) and `--v8-pool-size=1` (Node): an executor forked by the zygote
 *   (src/executor/zygote.ts) has none of the zygote's V8 worker threads, so V8 must never hand
 *   work to them (concurrent marking, background compilation); the pool is one idle thread.
 */
export const EXECUTOR_NODE_FLAGS: readonly string[] = ['--expose-gc', '--single-threaded', '--v8-pool-size=1'];

/** Chooses the code cache: a file to use instead of EXECUTOR_CODE_CACHE, or `off`. */
export const CODE_CACHE_ENV = 'VGPU_EXECUTOR_CODE_CACHE';

/** What became of the code cache: `used`; `rejected` by V8 (another Node, other flags); `stale`
 * (written for another bundle) or `corrupt` (its checksum fails), both ignored unread; `absent`;
 * `off` (CODE_CACHE_ENV); `none` when the modules were loaded one by one. */
export const CODE_CACHE_STATES = ['used', 'rejected', 'stale', 'corrupt', 'absent', 'off', 'none'] as const;
export type CodeCacheState = (typeof CODE_CACHE_STATES)[number];

/** How this executor was loaded; it says so in its `ready` greeting. */
export interface LaunchInfo {
  form: 'bundle' | 'modules';
  codeCache: CodeCacheState;
}

/** The launcher and the bundle share one realm but not modules (the bundle has its own copies):
 * the launcher leaves what it did under this global key. */
const KEY = Symbol.for('vgpu.executor.launch');

export function setLaunchInfo(info: LaunchInfo): void {
  (globalThis as Record<symbol, unknown>)[KEY] = info;
}

/** How this executor was loaded: what the launcher left, else the modules one by one. */
export function launchInfo(): LaunchInfo {
  const v = (globalThis as Record<symbol, unknown>)[KEY] as LaunchInfo | undefined;
  return v ?? { form: 'modules', codeCache: 'none' };
}
