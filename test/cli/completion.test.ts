// `vgpu-admin completion bash|zsh` (src/cli/completion.ts): the scripts, run by the shells
// themselves, complete the command tree's subcommands, options and fixed choices.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { buildProgram } from '../../src/cli/program.js';
import { BIN } from '../helpers/paths.js';

/** The top-level commands, from the command table itself. */
const TOP = buildProgram(async () => {}, { out: () => {}, err: () => {} }).commands.map((c) => c.name());

function script(shell: string): string {
  return execFileSync(join(BIN, 'vgpu-admin'), ['completion', shell], { encoding: 'utf8' });
}

/** What bash's completion function offers for the command line `words` (the last word being completed). */
function bashComplete(words: string[]): string[] {
  const arr = words.map((w) => `'${w.replaceAll("'", "'\\''")}'`).join(' ');
  const out = execFileSync('bash', ['--norc', '-c', `eval "$(cat)"; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _vgpu_admin; printf '%s\\n' "\${COMPREPLY[@]}"; complete -p vgpu-admin >&2`],
    { input: script('bash'), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  return out.split('\n').filter(Boolean);
}

test('bash: subcommands, nested subcommands, options and choices complete', () => {
  assert.ok(['vm', 'pool', 'gpu', 'session', 'audit', 'completion'].every((c) => TOP.includes(c)), TOP.join(' '));
  assert.deepEqual(bashComplete(['vgpu-admin', '']), TOP);
  assert.deepEqual(bashComplete(['vgpu-admin', 'vm', '']), ['add', 'list', 'show', 'set', 'rm', 'token']);
  assert.deepEqual(bashComplete(['vgpu-admin', 'po']), ['pool']);
  // Global options and their values are skipped when finding the command.
  assert.deepEqual(bashComplete(['vgpu-admin', '--state-dir', '/srv/vgpu', 'session', '']), ['list', 'kill']);
  assert.deepEqual(bashComplete(['vgpu-admin', 'vm', 'set', 'web1', '--pri']), ['--priority']);
  assert.ok(bashComplete(['vgpu-admin', 'vm', 'add', '--']).includes('--print-token'));
  assert.ok(!bashComplete(['vgpu-admin', 'vm', 'list', '--']).includes('--print-token'), "only vm add's options for vm add");
  assert.deepEqual(bashComplete(['vgpu-admin', 'completion', '']), ['bash', 'zsh']);
});

test('the script is registered for vgpu-admin', () => {
  const r = spawnSync('bash', ['--norc', '-c', 'eval "$(cat)"; complete -p vgpu-admin'], { input: script('bash'), encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'complete -F _vgpu_admin vgpu-admin');
});

test('zsh: the script registers with compinit and offers the same words', (t) => {
  if (spawnSync('zsh', ['--version']).status !== 0) {
    t.skip("zsh is not installed ('make deps' installs it)");
    return;
  }
  // _describe and compadd, compsys's, are replaced by functions that print what they are given.
  const run = (words: string[], prefix = ''): string[] => execFileSync('zsh', ['-fc', `
    autoload -U compinit && compinit -u -D
    eval "$(cat)"
    [[ $_comps[vgpu-admin] == _vgpu_admin ]] || { print -u2 not registered; exit 1 }
    _describe() { shift 3; print -rl -- "\${(@P)1%%:*}" }
    compadd() { shift 2; print -rl -- "\${(@P)1}" }
    words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; PREFIX='${prefix}'
    _vgpu_admin`], { input: script('zsh'), encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.deepEqual(run(['vgpu-admin', '']), TOP);
  assert.deepEqual(run(['vgpu-admin', '--url', 'http://h:7080', 'pool', '']), ['list', 'add', 'set', 'rm']);
  assert.ok(run(['vgpu-admin', 'vm', 'token', 'web1', '--'], '--').includes('--rotate'));
  assert.deepEqual(run(['vgpu-admin', 'completion', '']), ['bash', 'zsh']);
});

test('an unknown shell is a usage error', () => {
  const r = spawnSync(join(BIN, 'vgpu-admin'), ['completion', 'fish'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Allowed choices are bash, zsh/);
});
