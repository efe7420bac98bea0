// The mediator's configuration file (docs/operations.md, "Configuration file"): TOML whose keys are
// the flags without their dashes (options.ts). TOML rather than YAML: its values have one reading
// each (YAML 1.1 readers take `off`, a value of --http and --max-hold, for false) and its parser
// names the line of a syntax error.
//
// Where a value comes from, highest first: the flag, the file, the option's environment variable,
// the built-in default. The environment only changes defaults (as it did before the file), so an
// operator's file is never overridden by a variable a service manager or a shell happened to set.

import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';

import { defaultOptions, mediatorOptionsSchema, OPTION_KEYS, type MediatorConfig, type OptionKey, type RawOptions } from './options.js';

/** Read when no --config is given and the file exists (the package ships it; deploy/). */
export const DEFAULT_CONFIG_FILE = '/etc/vgpu/mediator.toml';

/** A configuration that cannot be used; the message names the file and line, the flag or the
 * variable, and what is wrong. */
export class ConfigError extends Error {}

export interface ConfigFile {
  file: string;
  values: Record<string, unknown>;
  /** The line (1-based) a top-level key is set on. */
  lineOf(key: string): number | undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Parses the text of a configuration file (syntax only; resolveOptions checks the values). */
export function parseConfigText(text: string, file: string): ConfigFile {
  let values: Record<string, unknown>;
  try {
    values = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw new ConfigError(`${file}:${e.line}:${e.column}: ${e.message.split('\n')[0]}`);
    throw e;
  }
  const lines = text.split('\n');
  return {
    file,
    values,
    lineOf(key) {
      const re = new RegExp(`^\\s*(?:${escapeRe(key)}|"${escapeRe(key)}"|'${escapeRe(key)}')\\s*[=.]`);
      const i = lines.findIndex((l) => re.test(l));
      if (i >= 0) return i + 1;
      // A [table] header is a key too.
      const t = lines.findIndex((l) => new RegExp(`^\\s*\\[+\\s*["']?${escapeRe(key)}["']?\\s*[\\].]`).test(l));
      return t >= 0 ? t + 1 : undefined;
    },
  };
}

export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config ${file}: ${(e as Error).message}`);
  }
  return parseConfigText(text, file);
}

type Source = { kind: 'flag' } | { kind: 'env'; text: string } | { kind: 'file'; file: ConfigFile } | { kind: 'default' };

/** Closest known key, for "did you mean". */
function nearest(key: string): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0]!;
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = d[j]!;
        d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return d[b.length]!;
  };
  const norm = key.replaceAll('_', '-').toLowerCase();
  const best = OPTION_KEYS.map((k) => ({ k, d: dist(norm, k) })).sort((a, b) => a.d - b.d)[0];
  return best && best.d <= 3 ? best.k : undefined;
}

/** The text a flag would have had for `v` (tables, which no flag gives, as JSON). */
function valueText(v: unknown): string {
  if (Array.isArray(v)) return v.map(valueText).join(' ');
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

function describe(issue: z.core.$ZodIssue, raw: RawOptions, sources: Map<OptionKey, Source>, file: ConfigFile | undefined): string[] {
  if (issue.code === 'unrecognized_keys') {
    // Only a file can name a key that is no option: flags are commander's.
    return issue.keys.map((k) => {
      const line = file?.lineOf(k);
      const hint = nearest(k);
      return `${file?.file ?? 'configuration'}${line ? `:${line}` : ''}: unknown key "${k}"${hint ? ` (did you mean "${hint}"?)` : ''}; `
        + 'the keys are the mediator\'s flags without "--" (vgpu-mediator --help; docs/operations.md, "Configuration file")';
    });
  }
  const key = issue.path[0] as OptionKey;
  const src = sources.get(key) ?? { kind: 'default' };
  const value = raw[key];
  const msg = issue.message;
  switch (src.kind) {
    case 'flag':
      return [msg.startsWith(`--${key}`) ? msg : `--${key} ${valueText(value)}: ${msg}`];
    case 'env':
      return [`${src.text}: ${msg}`];
    case 'file': {
      const line = src.file.lineOf(key);
      // The parsers name the flag and the value; in a file the key and the line say that.
      const items = Array.isArray(value) ? value.map(valueText) : [valueText(value)];
      const prefix = items.map((v) => `--${key} ${v}: `).find((p) => msg.startsWith(p));
      return [`${src.file.file}${line ? `:${line}` : ''}: ${key}: ${prefix ? msg.slice(prefix.length) : msg.replace(`--${key} `, '')}`];
    }
    case 'default':
      return [`${key}: ${msg}`];
  }
}

/**
 * The mediator's options from the built-in defaults (changed by `env`), the file and the flags, the
 * later overriding the earlier, all checked by one schema. Throws a ConfigError naming every value
 * that is wrong and where it came from.
 */
export function resolveOptions(input: { flags: RawOptions; file?: ConfigFile | undefined; env: Readonly<Record<string, string | undefined>> }): MediatorConfig {
  const { values, sources: envSources } = defaultOptions(input.env);
  const raw: Record<string, unknown> = { ...values };
  const sources = new Map<OptionKey, Source>();
  for (const [k, text] of envSources) sources.set(k, { kind: 'env', text });
  for (const [k, v] of Object.entries(input.file?.values ?? {})) {
    raw[k] = v;
    sources.set(k as OptionKey, { kind: 'file', file: input.file! });
  }
  for (const [k, v] of Object.entries(input.flags)) {
    if (v === undefined) continue;
    raw[k] = v;
    sources.set(k as OptionKey, { kind: 'flag' });
  }
  const r = mediatorOptionsSchema.safeParse(raw);
  if (r.success) return r.data;
  throw new ConfigError(r.error.issues.flatMap((i) => describe(i, raw as RawOptions, sources, input.file)).join('\n'));
}

/** The keys whose values differ between two configurations (for SIGHUP). */
export function changedKeys(a: MediatorConfig, b: MediatorConfig): OptionKey[] {
  return OPTION_KEYS.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
