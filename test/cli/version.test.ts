// Every tool says which vgpu it is, from package.json (the one place the version is written).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT } from '../helpers/paths.js';

test('--version on vgpu-mediator, vgpu-admin and vgpu-run prints the package version and exits 0', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const tool of ['vgpu-mediator', 'vgpu-admin', 'vgpu-run']) {
    const r = spawnSync(join(ROOT, 'bin', tool), ['--version'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${tool}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^${tool} ${version.replace(/\./g, '\\.')}( \\(node [\\d.]+\\))?\\n$`), tool);
  }
});
