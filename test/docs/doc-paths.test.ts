// Docs say what the repository holds: every repository path that README.md and docs/ name in
// backticks exists, and no doc names a path outside the repository (facts we rely on are copied
// into docs/reference/ and cited from there). docs/reference/ itself is exempt from the first check:
// those fact sheets name files of the other projects they describe.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { ROOT } from '../helpers/paths.js';

/** Top-level entries of the repository; a backticked path starting with one of them is ours. */
const TOP = ['src', 'test', 'guest', 'softgpu', 'common', 'spec', 'tools', 'docs', 'bin', 'deploy', '.ci'];
const ROOT_FILES = ['README.md', 'Makefile', 'package.json', 'tsconfig.json'];

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...markdownFiles(p));
    else if (e.endsWith('.md')) out.push(p);
  }
  return out;
}

const DOCS = [join(ROOT, 'README.md'), ...markdownFiles(join(ROOT, 'docs'))];

/** Candidate repository paths in a Markdown text: backticked tokens that start at a top-level
 * entry. Tokens with placeholders or globs (`<family>`, `*`, `{a,b}`, `NAME`) name a pattern. */
export function namedPaths(text: string): string[] {
  const paths = new Set<string>();
  for (const m of text.matchAll(/`([^`\s]+)`/g)) {
    let tok = m[1]!.replace(/[.,:;)]+$/, '').replace(/:\d+(-\d+)?$/, '');
    if (/[<>*{}$]|\bNAME\b/.test(tok)) continue;
    tok = tok.replace(/^\.\//, '');
    const first = tok.split('/')[0]!;
    if ((TOP.includes(first) && tok.includes('/')) || ROOT_FILES.includes(tok)) paths.add(tok);
  }
  return [...paths];
}

test('every repository path named in README.md and docs/ exists', () => {
  const missing: string[] = [];
  let checked = 0;
  for (const f of DOCS) {
    const rel = relative(ROOT, f);
    if (rel.startsWith('docs/reference/')) continue;
    for (const p of namedPaths(readFileSync(f, 'utf8'))) {
      checked++;
      if (!existsSync(join(ROOT, p))) missing.push(`${rel}: ${p}`);
    }
  }
  assert.ok(checked > 50, `only ${checked} paths found: is the matcher still reading the docs?`);
  assert.deepEqual(missing, [], `paths named in the docs that do not exist:\n${missing.join('\n')}`);
});

test('no doc or source names a path outside the repository', () => {
  const outside = /\/work\/|\.\.\/shared\b|\bshared\/reference\b|\/home\/[a-z]/;
  const offenders: string[] = [];
  const roots = ['README.md', 'docs', 'src', 'guest', 'softgpu', 'common', 'spec', 'tools', 'test', 'bin', 'Makefile', '.ci'];
  const walk = (p: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) walk(join(p, e));
      return;
    }
    // Compiler output committed as a test input records the path it was built at; not a citation.
    if (p.endsWith('.ptx') || p.endsWith('.fatbin') || st.size > 1 << 20) return;
    const text = readFileSync(p, 'utf8');
    text.split('\n').forEach((line, i) => {
      if (outside.test(line)) offenders.push(`${relative(ROOT, p)}:${i + 1}: ${line.trim()}`);
    });
  };
  for (const r of roots) if (existsSync(join(ROOT, r))) walk(join(ROOT, r));
  assert.deepEqual(offenders, []);
});

test('the path matcher finds paths and skips patterns', () => {
  assert.deepEqual(namedPaths('see `src/a.ts`, `guest/*/impl`, `docs/x.md:12`, `make test` and `Makefile`'), ['src/a.ts', 'docs/x.md', 'Makefile']);
});
