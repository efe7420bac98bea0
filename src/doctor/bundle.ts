// What `vgpu-admin support-bundle` collects (docs/operations.md, "Support bundle"), each part
// with every secret taken out, and the archive it writes with the system's tar.
//
// The mediator logs to stderr only (docs/operations.md, "Logs"): under systemd that is the unit's
// journal, read with journalctl; started by hand, its stderr goes wherever it was redirected, and
// --log FILE names that file. Neither is fatal: the bundle says what it could not collect.

import { execFile } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The newest part of each log that goes in: enough for the hours before a problem. */
export const LOG_TAIL_BYTES = 8 * 1024 * 1024;
const JOURNAL_LINES = 20_000;
const REDACTED = '[redacted]';

/** Variables and options whose values are secrets, whatever they hold. */
const SECRET_NAME = /(token|secret|password|passwd|key|pin|credential)/i;
/** Secrets by their form: VM tokens, admin tokens, bearer headers, PEM private keys. */
const SECRET_VALUES: readonly RegExp[] = [
  /\bvgpu_[A-Za-z0-9_-]{43}\b/g,
  /\bvgpuadm_[A-Za-z0-9_-]{43}\b/g,
  /\bvgpuop_[A-Za-z0-9_-]{43}\b/g,
  /(Bearer\s+)\S+/gi,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];

/** Text with every secret of a known form replaced, and `key = value` / `KEY=value` / `"key": value`
 * lines whose key names a secret emptied. */
export function redact(text: string, known: readonly string[] = []): string {
  let out = text;
  for (const k of known) if (k.length >= 8) out = out.split(k).join(REDACTED);
  for (const re of SECRET_VALUES) out = out.replace(re, (m, p1?: string) => (typeof p1 === 'string' && /^Bearer/i.test(p1) ? `${p1}${REDACTED}` : REDACTED));
  // A quoted value keeps its quotes and trailing comma, so that JSON stays JSON.
  return out.replace(/^(\s*"?([A-Za-z0-9_.-]+)"?\s*[:=]\s*)(.+?)(,?)$/gm, (line, lead: string, key: string, value: string, comma: string) =>
    SECRET_NAME.test(key) ? `${lead}${value.startsWith('"') ? `"${REDACTED}"` : REDACTED}${comma}` : line);
}

/** A JSON value with redact() applied to every string and every secret-named key's value replaced. */
export function redactJson(v: unknown, known: readonly string[] = []): unknown {
  if (typeof v === 'string') return redact(v, known);
  if (Array.isArray(v)) return v.map((x) => redactJson(x, known));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_NAME.test(k) && x !== null ? REDACTED : redactJson(x, known)]));
  }
  return v;
}

/** argv with the value of every secret-named option replaced. */
export function redactArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = /^(--[^=]+)=(.*)$/.exec(a);
    if (eq && SECRET_NAME.test(eq[1]!)) out.push(`${eq[1]}=${REDACTED}`);
    else if (/^--/.test(a) && SECRET_NAME.test(a) && !/-file$|-ca$|-cert$/.test(a) && i + 1 < argv.length) {
      out.push(a, REDACTED);
      i++;
    } else out.push(redact(a));
  }
  return out;
}

function readTail(file: string, max: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - max);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export interface LogSource {
  /** Name of the file inside the bundle's logs/. */
  name: string;
  text: string;
}

/** The running mediator's process: its arguments and its VGPU_* environment, secrets redacted.
 * /proc/PID/environ is readable by the process's user and root only; what cannot be read is said. */
export function mediatorProcess(pid: number | undefined): Record<string, unknown> {
  if (pid === undefined) return { running: false };
  const out: Record<string, unknown> = { running: true, pid };
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    out['argv'] = redactArgs(argv);
  } catch (e) {
    out['argv'] = `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  try {
    const env: Record<string, string> = {};
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const i = kv.indexOf('=');
      const k = kv.slice(0, i);
      if (i > 0 && /^(VGPU_|NODE_OPTIONS$|CUDA_)/.test(k)) env[k] = SECRET_NAME.test(k) ? REDACTED : redact(kv.slice(i + 1));
    }
    out['environment'] = env;
  } catch (e) {
    out['environment'] = `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (run as root or the mediator's user)`;
  }
  return out;
}

/** The mediator's recent logs: each --log file's tail, else the systemd unit's journal. */
export async function collectLogs(files: readonly string[], unit: string): Promise<{ logs: LogSource[]; notes: string[] }> {
  const logs: LogSource[] = [];
  const notes: string[] = [];
  for (const f of files) {
    try {
      logs.push({ name: `${path.basename(f).replace(/[^A-Za-z0-9._-]/g, '_')}`, text: readTail(f, LOG_TAIL_BYTES) });
    } catch (e) {
      notes.push(`--log ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (files.length > 0) return { logs, notes };
  try {
    const { stdout } = await run('journalctl', ['--unit', unit, '--no-pager', '--output', 'short-iso', '--lines', String(JOURNAL_LINES)], {
      maxBuffer: 4 * LOG_TAIL_BYTES,
      timeout: 60_000,
    });
    // journalctl says "-- No entries --" for a unit that never ran.
    if (stdout.trim() === '' || /^-- No entries --$/m.test(stdout)) notes.push(`journald has no entries for ${unit}; if the mediator runs by hand, pass its stderr's file: --log FILE`);
    else logs.push({ name: `journal-${unit}.log`, text: stdout });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    notes.push(`no journal for ${unit}: ${err.code === 'ENOENT' ? 'journalctl is not installed' : (err.stderr ?? err.message).trim()}; pass the mediator's log file: --log FILE`);
  }
  return { logs, notes };
}

export interface BundlePart {
  /** Path inside the archive's top directory. */
  name: string;
  text: string;
}

/** Writes the parts under `staging/top/` and packs them into `output` (a .tar.gz). */
export async function writeArchive(staging: string, top: string, parts: readonly BundlePart[], output: string): Promise<void> {
  const root = path.join(staging, top);
  for (const p of parts) {
    const file = path.join(root, p.name);
    if (!file.startsWith(root + path.sep)) throw new Error(`bundle part ${p.name} escapes the bundle`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, p.text, { mode: 0o600 });
  }
  if (existsSync(output)) throw new Error(`${output} exists; choose another name with -o FILE`);
  try {
    await run('tar', ['--create', '--gzip', '--file', output, '--directory', staging, '--owner=0', '--group=0', '--numeric-owner', top], { timeout: 120_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(err.code === 'ENOENT' ? "the system's tar is not installed (apt-get install tar)" : `tar failed: ${(err.stderr ?? err.message).trim()}`);
  }
}
