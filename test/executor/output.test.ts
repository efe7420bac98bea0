// The executor's capture of a real driver's kernel output (src/executor/output.ts): everything the
// process prints on fd 1, through libc's stdio or straight write(2), is taken back in order and
// once, and none of it reaches the stdout the process was started with. Run in a child process,
// since the capture takes over that process's fd 1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { ROOT } from '../helpers/paths.js';

const CHILD = `
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
const { stdoutCapture } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/executor/output.js')).href)});
const koffi = createRequire(${JSON.stringify(join(ROOT, 'package.json'))})('koffi');
const puts = koffi.load('libc.so.6').func('int puts(const char *)');
const out = stdoutCapture(process.argv[2]);
const got = [];
const take = () => out.take((fd, b) => got.push([fd, b.toString()]));
puts('printed through stdio');
writeSync(1, 'written to fd 1\\n');
take();
take();
writeSync(1, 'x'.repeat(70000) + '\\n');
take();
process.stderr.write(JSON.stringify(got));
`;

test('a real driver\'s stdout is captured: taken in order, once, and never printed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-capture-'));
  try {
    const script = join(dir, 'child.mjs');
    writeFileSync(script, CHILD);
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const p = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', 'nothing reached the original stdout');
    const got = JSON.parse(r.stderr) as Array<[number, string]>;
    assert.deepEqual(got.slice(0, 1), [[1, 'printed through stdio\nwritten to fd 1\n']]);
    // A large print comes back in 64 KiB pieces, all for stdout, nothing twice.
    assert.ok(got.length >= 3);
    assert.ok(got.slice(1).every(([fd, s]) => fd === 1 && s.length <= 64 * 1024));
    assert.equal(got.slice(1).map(([, s]) => s).join(''), `${'x'.repeat(70000)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
