// Builds the executor as the mediator starts it (make; docs/executors.md, "Launch form"): the
// executor's modules bundled into one CommonJS script by esbuild, then V8's code cache of that
// script, written by a Node process with the executors' own flags (V8 refuses a cache made under
// other flags).

import { spawnSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

import { EXECUTOR_BUNDLE, EXECUTOR_NODE_FLAGS } from '../../src/executor/launch-form.cjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');

/** Where a module of the bundle finds itself: the bundle's own location, which sits where main.js
 * does, so that paths derived from it (the repository root, package.json) come out the same. */
const IMPORT_META_URL = '__vgpuImportMetaUrl';

async function main(): Promise<void> {
  const out = await build({
    entryPoints: [join(root, 'src/executor/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // A native addon: loaded from node_modules at run time.
    external: ['koffi'],
    // Less to read and hash; names are kept so that stacks in logs stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    banner: { js: `const ${IMPORT_META_URL} = require('node:url').pathToFileURL(__filename).href;` },
    define: { 'import.meta.url': IMPORT_META_URL },
    write: false,
    logLevel: 'warning',
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  const tmp = `${EXECUTOR_BUNDLE}.tmp`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, EXECUTOR_BUNDLE);
  const r = spawnSync(process.execPath, [...EXECUTOR_NODE_FLAGS, join(here, 'write-cache.js')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`writing the executor's code cache failed (${r.error?.message ?? `exit ${r.status}`})`);
}

main().catch((e: unknown) => {
  console.error(`executor bundle: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
