// Writes the executor bundle's V8 code cache (tools/executor-bundle/main.ts runs this under the
// executors' Node flags). The cache holds the code V8 compiles eagerly: the bundle's top level
// and the module bodies it runs first, which is most of an executor's start-up compilation.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';

import { compileBundle, packCodeCache } from '../../src/executor/code-cache.cjs';
import { EXECUTOR_BUNDLE, EXECUTOR_CODE_CACHE } from '../../src/executor/launch-form.cjs';

const source = readFileSync(EXECUTOR_BUNDLE, 'utf8');
const payload = compileBundle(source, EXECUTOR_BUNDLE).createCachedData();
const tmp = `${EXECUTOR_CODE_CACHE}.tmp`;
writeFileSync(tmp, packCodeCache(source, payload));
renameSync(tmp, EXECUTOR_CODE_CACHE);
