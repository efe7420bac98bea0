// The mediator's options (docs/operations.md, "The mediator" and "Configuration file"): one zod
// schema, from which come the command-line flags (commander), the keys of the configuration file
// (config-file.ts) and the validation of both. A key of the file is its flag without the dashes,
// and a value is checked by the same parser whichever of the flag, the file or the environment
// gave it.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option } from 'commander';
import { z } from 'zod';

import { DEFAULT_IMAGE_LIMITS } from '../common/image-store.js';
import { LOG_FORMATS, LOG_LEVELS } from '../common/log.js';
import { formatDuration } from '../common/duration.js';
import { formatSize, parseSize } from '../common/size.js';
import { DEVICE_TIME_MODES } from '../executor/device-time.js';
import { toMaxHoldMs } from '../store/index.js';
import { DEFAULT_LISTEN, parseListen } from './listen.js';
import { DEFAULT_MAX_HOLD_MS } from './mediator.js';
import { parseSocketMode } from './socket-access.js';
import { DEFAULT_STAGING } from './staging.js';

/** Loopback only by default: the API changes who may use the GPUs. */
export const DEFAULT_HTTP = '127.0.0.1:7080';
/** How long running sessions may finish after SIGTERM or SIGINT, by default (seconds). */
export const DEFAULT_SHUTDOWN_GRACE_S = 30;
/** Who may connect to the mediator's Unix sockets, by default: its user and group. */
export const DEFAULT_SOCKET_MODE = '0660';

/** `--shutdown-grace SECONDS`: 0 (end sessions at once) up to a day. */
export function parseGrace(s: string): number {
  const v = Number(s.trim());
  if (s.trim() === '' || !Number.isFinite(v) || v < 0 || v > 86_400) throw new Error(`--shutdown-grace ${s}: expected seconds from 0 to 86400`);
  return v;
}

/** `--http HOST:PORT` ([v6]:PORT for IPv6), or `off`. */
export function parseHttp(s: string): { host: string; port: number } | undefined {
  if (s.trim().toLowerCase() === 'off') return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535) throw new Error(`--http ${s}: expected HOST:PORT (e.g. 127.0.0.1:7080, [::1]:7080, 0.0.0.0:7080) or off`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** A size option (image store, staging): a size (src/common/size.ts) above zero. */
function storeSize(option: string, text: string): number {
  let n: number;
  try {
    n = parseSize(text);
  } catch (e) {
    throw new Error(`--${option} ${text}: ${(e as Error).message}`);
  }
  if (n === 0) throw new Error(`--${option} must be above 0`);
  return n;
}

function spareExecutors(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 0 || n > 64) throw new Error('--spare-executors must be an integer from 0 to 64');
  return n;
}

function maxHold(text: string): number {
  try {
    return toMaxHoldMs(text) ?? DEFAULT_MAX_HOLD_MS;
  } catch (e) {
    throw new Error(`--max-hold ${text}: ${(e as Error).message}`);
  }
}

function choice<T extends string>(choices: readonly T[]) {
  return (text: string): T => {
    if (!(choices as readonly string[]).includes(text)) throw new Error(`expected one of ${choices.join(', ')}`);
    return text as T;
  };
}

/** A value parsed by `parse`, whose error message becomes the zod issue's. */
function parsed<I, O>(parse: (v: I) => O) {
  return (v: I, ctx: z.RefinementCtx): O => {
    try {
      return parse(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  };
}

/** A value of the file in TOML's words, for "expected X, not Y". */
function tomlType(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'object') return v instanceof Date ? 'a date' : 'a table';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v === 'boolean' ? 'the boolean' : 'the number'} ${String(v)}`;
}
const expected = (what: string) => ({ error: (iss: { input?: unknown }) => `expected ${what}, not ${tomlType(iss.input)}` });

// Flags give text; the file gives TOML's types. Text options take a string, numbers a number or its
// text, and both then go through the parser the flag always had.
const text = <O>(parse: (s: string) => O) => z.string(expected('a string')).transform(parsed(parse));
const number = <O>(parse: (s: string) => O) =>
  z.union([z.number(), z.string()], expected('a number')).transform(parsed((v: number | string) => parse(String(v))));
const sizeOf = (option: string) =>
  z.union([z.number().int(), z.string()], expected('a size: bytes, or a string such as "16G"'))
    .transform(parsed((v: number | string) => storeSize(option, String(v))));

/** Every option of the mediator. Keys are the flags' long names. */
export const mediatorOptionsSchema = z.strictObject({
  'state-dir': text((s) => {
    if (s.trim() === '') throw new Error('--state-dir must not be empty');
    return s;
  }),
  listen: z.union([z.string(), z.array(z.string())], expected('an address or a list of addresses (strings)'))
    .transform(parsed((v: string | string[]) => (typeof v === 'string' ? [v] : v).map(parseListen)))
    .refine((l) => l.length > 0, 'at least one address is needed'),
  backend: text(choice(['auto', 'cuda', 'softgpu'] as const)),
  'default-vm': z.string(expected('a VM name')).optional(),
  'spare-executors': number(spareExecutors),
  'device-time': text(choice(DEVICE_TIME_MODES)),
  http: text(parseHttp),
  'shutdown-grace': number(parseGrace),
  'max-hold': text(maxHold),
  'image-store-max': sizeOf('image-store-max'),
  'image-store-vm-max': sizeOf('image-store-vm-max'),
  'staging-max': sizeOf('staging-max'),
  'staging-session-max': sizeOf('staging-session-max'),
  'copy-lane': text(choice(['on', 'off'] as const)),
  'tls-cert': z.string(expected('a file name')).optional(),
  'tls-key': z.string(expected('a file name')).optional(),
  'tls-client-ca': z.string(expected('a file name')).optional(),
  'tls-require-client-cert': z.boolean(expected('true or false')),
  'insecure-tcp': z.boolean(expected('true or false')),
  'log-level': text(choice(LOG_LEVELS)).optional(),
  'log-format': text(choice(LOG_FORMATS)),
  'socket-group': z.string(expected('a group name or number, as a string')).optional(),
  'socket-mode': text(parseSocketMode),
});

export type MediatorConfig = z.output<typeof mediatorOptionsSchema>;
export type OptionKey = keyof MediatorConfig;
/** Values as flags, the environment or the file give them, before parsing. */
export type RawOptions = Partial<Record<OptionKey, unknown>>;

export interface OptionMeta {
  /** The flag's argument in help texts; none for a switch. */
  arg?: string;
  description: string;
  /** The environment variable that changes the default. */
  env?: string;
  /** The built-in default, as a flag would spell it; none for options that are off unless given. */
  default?: string | boolean | string[];
  choices?: readonly string[];
  repeatable?: true;
  /** Applied by SIGHUP without a restart (main.ts, applyLive). */
  live?: true;
}

/** What the flags, their help and the file reference say about each option. */
export const OPTION_META: { readonly [K in OptionKey]: OptionMeta } = {
  'state-dir': { arg: 'dir', description: 'state directory (configuration database, module images)', env: 'VGPU_STATE_DIR', default: join(homedir(), '.local/state/vgpu') },
  listen: { arg: 'addr', description: 'unix:PATH, tcp:HOST:PORT, tls:HOST:PORT, vsock-uds:PATH[:PORT] or vsock:PORT (docs/virtual-machines.md)', default: [DEFAULT_LISTEN], repeatable: true },
  backend: { arg: 'kind', description: 'GPU backend', default: 'auto', choices: ['auto', 'cuda', 'softgpu'] },
  'default-vm': { arg: 'name', description: 'VM for token-less connections on Unix sockets (created if missing)' },
  'spare-executors': { arg: 'n', description: 'executors kept started ahead of time (0 to 64)', default: '1' },
  'device-time': { arg: 'mode', description: 'how device time is measured: events (CUDA events, for a real GPU), host (time in calls), auto (events on cuda, host on softgpu)',
    env: 'VGPU_DEVICE_TIME', default: 'auto', choices: DEVICE_TIME_MODES },
  http: { arg: 'addr', description: 'admin HTTP API: HOST:PORT, or off (docs/admin-api.md)', env: 'VGPU_ADMIN_HTTP', default: DEFAULT_HTTP },
  'shutdown-grace': { arg: 'seconds', description: 'on SIGTERM or SIGINT, how long running sessions may finish (a second signal ends them at once)',
    env: 'VGPU_SHUTDOWN_GRACE', default: String(DEFAULT_SHUTDOWN_GRACE_S), live: true },
  'max-hold': { arg: 'duration', description: 'longest one call may hold a GPU while others wait, for VMs that set none (e.g. 5s, or off); the session is then ended',
    default: formatDuration(DEFAULT_MAX_HOLD_MS), live: true },
  'image-store-max': { arg: 'size', description: 'bytes of module images all VMs together may keep', default: formatSize(DEFAULT_IMAGE_LIMITS.total) },
  'image-store-vm-max': { arg: 'size', description: 'bytes of module images each VM may keep', default: formatSize(DEFAULT_IMAGE_LIMITS.perVm) },
  'staging-max': { arg: 'size', description: "bytes of guests' data all executors together may receive ahead of serving it (shared evenly among the sessions)",
    default: formatSize(DEFAULT_STAGING.total) },
  'staging-session-max': { arg: 'size', description: "bytes of a guest's data its executor may receive ahead of serving it, e.g. while waiting for its GPU slice",
    default: formatSize(DEFAULT_STAGING.perSession) },
  'copy-lane': { arg: 'on|off', description: "host-to-device copies of a session whose GPU work is done run at once, beside another session's slice, "
    + 'as a GPU\'s copy engines do (their time is charged to its next slice); off: they wait for the slice like any call', default: 'on', choices: ['on', 'off'] },
  'tls-cert': { arg: 'file', description: 'PEM certificate (chain) of tls: listeners; the file is reloaded on SIGHUP' },
  'tls-key': { arg: 'file', description: 'PEM private key of tls: listeners; the file is reloaded on SIGHUP' },
  'tls-client-ca': { arg: 'file', description: "PEM CA certificate(s) that sign guests' TLS client certificates: tls: listeners then ask guests for one "
    + "(a VM bound to it with 'vgpu-admin vm set --tls-client-cert-sha256' needs no token); the file is reloaded on SIGHUP" },
  'tls-require-client-cert': { description: 'refuse tls: guests that present no client certificate signed by --tls-client-ca, tokens or not', default: false },
  'insecure-tcp': { description: 'allow tcp: listeners beyond loopback (tokens and data in cleartext; prefer tls:)', default: false },
  // Two variables, so no `env` here: createLogger reads them (envLogLevel), and the help says so.
  'log-level': { arg: 'level', description: "log level of the mediator and its executors, in the guest libraries' values " +
    '(default: $VGPU_LOG, else its older name $VGPU_LOG_LEVEL, else info)', choices: LOG_LEVELS, live: true },
  'log-format': { arg: 'format', description: 'log lines: pretty (readable), json (one object per line), or auto: pretty when stderr is a terminal',
    env: 'VGPU_LOG_FORMAT', default: 'auto', choices: LOG_FORMATS },
  'socket-group': { arg: 'group', description: "group (name or number) given the Unix sockets the mediator creates, for guests' users" },
  'socket-mode': { arg: 'mode', description: 'permissions (octal) of the Unix sockets the mediator creates', default: DEFAULT_SOCKET_MODE },
};

export const OPTION_KEYS = Object.keys(OPTION_META) as OptionKey[];

/** The built-in defaults, changed by the environment variables each option names. */
export function defaultOptions(env: Readonly<Record<string, string | undefined>>): { values: RawOptions; sources: Map<OptionKey, string> } {
  const values: RawOptions = {};
  const sources = new Map<OptionKey, string>();
  for (const key of OPTION_KEYS) {
    const meta = OPTION_META[key];
    const fromEnv = meta.env === undefined ? undefined : env[meta.env];
    if (fromEnv !== undefined) {
      values[key] = fromEnv;
      sources.set(key, `${meta.env}=${fromEnv}`);
    } else if (meta.default !== undefined) {
      values[key] = meta.default;
    }
  }
  return { values, sources };
}

/** The commander options of every key: `--KEY <arg>`, with no default of commander's, so that the
 * values it returns are exactly the flags given (which then override the file). */
export function commanderOptions(env: Readonly<Record<string, string | undefined>>): Option[] {
  return OPTION_KEYS.map((key) => {
    const meta = OPTION_META[key];
    const dflt = meta.default === undefined ? ''
      : ` (default: ${meta.env ? `$${meta.env}, else ` : ''}${Array.isArray(meta.default) ? meta.default.join(' ') : String(meta.default)}${meta.env && env[meta.env] !== undefined ? `; now ${env[meta.env]}` : ''})`;
    const o = new Option(`--${key}${meta.arg ? ` <${meta.arg}>` : ''}`, `${meta.description}${meta.repeatable ? ' (repeatable)' : ''}${dflt}`);
    if (meta.choices) o.choices([...meta.choices]);
    if (meta.repeatable) o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    return o;
  });
}
