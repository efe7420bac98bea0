// One way to make loggers for every host process: lines on stderr (stdout belongs to command
// output), level from VGPU_LOG (the guest's variable and values; VGPU_LOG_LEVEL is the older host
// name), and child loggers that carry the session and VM so every line about a guest can be found
// by either. Lines are JSON, or pino-pretty's readable form on a terminal (VGPU_LOG_FORMAT).
// Tokens are redacted wherever they appear as a `token` field, so a careless log call cannot leak
// a credential.

import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `pretty`: pino-pretty's one line per entry; `json`: one JSON object per line; `auto`: pretty
 * when stderr is a terminal, JSON otherwise (log collectors, files, pipes). */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The log-level variable, shared with the guest libraries, and its older host-only alias. */
export const LOG_LEVEL_ENV = 'VGPU_LOG';
export const LOG_LEVEL_ENV_ALIAS = 'VGPU_LOG_LEVEL';
export const LOG_FORMAT_ENV = 'VGPU_LOG_FORMAT';

export interface LoggerOptions {
  /** Process or component name, e.g. "vgpu-mediator"; appears as `name` on every line. */
  name: string;
  /** Overrides VGPU_LOG. */
  level?: LogLevel;
  /** Overrides VGPU_LOG_FORMAT. Ignored when `destination` is given (which always gets JSON). */
  format?: LogFormat;
  /** Where lines go; stderr (written synchronously, so the last lines survive a crash) by default. */
  destination?: DestinationStream;
  /** Environment to read VGPU_LOG and VGPU_LOG_FORMAT from; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal, for format `auto`; process.stderr.isTTY by default. */
  isTTY?: boolean;
  /** Called with every child logger made from this one, however deep. */
  onChild?: (child: Logger) => void;
}

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export function isLogFormat(s: string): s is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(s);
}

/** The level the environment asks for: VGPU_LOG, else VGPU_LOG_LEVEL; `bad` names a value that is
 * not a level (with the variable it came from). */
export function envLogLevel(env: Readonly<Record<string, string | undefined>>): { level?: LogLevel; bad?: { variable: string; value: string } } {
  for (const variable of [LOG_LEVEL_ENV, LOG_LEVEL_ENV_ALIAS]) {
    const value = env[variable]?.trim().toLowerCase();
    if (value === undefined || value === '') continue;
    return isLogLevel(value) ? { level: value } : { bad: { variable, value } };
  }
  return {};
}

/** Whether lines should be pretty: the format asked for (option, else VGPU_LOG_FORMAT), else auto. */
export function wantsPretty(format: LogFormat | undefined, env: Readonly<Record<string, string | undefined>>, isTTY: boolean): { pretty: boolean; bad?: string } {
  const fromEnv = env[LOG_FORMAT_ENV]?.trim().toLowerCase();
  const bad = format === undefined && fromEnv !== undefined && fromEnv !== '' && !isLogFormat(fromEnv) ? fromEnv : undefined;
  const f: LogFormat = format ?? (fromEnv && isLogFormat(fromEnv) ? fromEnv : 'auto');
  return { pretty: f === 'pretty' || (f === 'auto' && isTTY), ...(bad !== undefined ? { bad } : {}) };
}

/** pino-pretty over `out`, synchronous as the JSON destination is: one line per entry with the UTC
 * time, level, name and message, the VM and session first on the line so a guest's lines are found
 * as easily as in JSON; other fields follow on the same line. */
export function prettyStream(out: DestinationStream, colorize: boolean): DestinationStream {
  // Loaded only when asked for: every executor (one Node process per session) makes a logger, and
  // pino-pretty with what it loads is a measurable part of an executor's start; JSON is the
  // common case (the mediator under systemd, and its executors).
  const pretty = createRequire(import.meta.url)('pino-pretty') as (o: PrettyOptions) => DestinationStream;
  return pretty({
    destination: out,
    sync: true,
    colorize,
    translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
    ignore: 'pid,hostname,vm,session',
    singleLine: true,
    // The host logs errors as their message under `err`; pino-pretty's error handling of that key
    // expects an object and would print nothing for a string.
    errorLikeObjectKeys: [],
    messageFormat: '{if vm}vm={vm} {end}{if session}session={session} {end}{msg}',
  });
}

export function createLogger(opts: LoggerOptions): Logger {
  const env = opts.env ?? process.env;
  const fromEnv = envLogLevel(env);
  const level: LogLevel = opts.level ?? fromEnv.level ?? 'info';
  const isTTY = opts.isTTY ?? process.stderr.isTTY === true;
  const format = wantsPretty(opts.format, env, isTTY);
  // Whoever reads stderr may go away (a pipe to a log collector that died, the terminal of a
  // mediator whose executors outlive it): losing log lines is no reason to end a daemon or the
  // session an executor serves, and an unheard 'error' event would.
  let destination = opts.destination;
  if (!destination) {
    const d = pino.destination({ fd: 2, sync: true });
    d.on('error', () => {});
    destination = format.pretty ? prettyStream(d, isTTY) : d;
  }
  const logger = pino(
    {
      name: opts.name,
      level,
      redact: { paths: ['token', '*.token'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      ...(opts.onChild ? { onChild: opts.onChild } : {}),
    },
    destination,
  );
  // A typo in the level should not stop a daemon, but it must not pass silently either.
  if (fromEnv.bad && opts.level === undefined) {
    logger.warn({ value: fromEnv.bad.value, accepted: LOG_LEVELS }, `${fromEnv.bad.variable} is not a log level; using info`);
  }
  if (format.bad !== undefined) {
    logger.warn({ value: format.bad, accepted: LOG_FORMATS }, `${LOG_FORMAT_ENV} is not a log format; using auto`);
  }
  return logger;
}

/** A logger whose level can be changed while it runs (the mediator's SIGHUP). */
export interface AdjustableLogger {
  log: Logger;
  /** Sets the level of the logger and of every child made from it that is still in use. */
  setLevel(level: LogLevel): void;
}

/** pino copies the level into a child when the child is made, so changing the root's later would
 * leave the loggers of running sessions, executors and the admin API at the old level: they are
 * tracked (weakly: a finished session's loggers are not kept alive) and changed too. */
export function createAdjustableLogger(opts: Omit<LoggerOptions, 'onChild'>): AdjustableLogger {
  const children = new Set<WeakRef<Logger>>();
  const gone = new FinalizationRegistry<WeakRef<Logger>>((ref) => children.delete(ref));
  const log = createLogger({
    ...opts,
    onChild: (child) => {
      const ref = new WeakRef(child);
      children.add(ref);
      gone.register(child, ref);
    },
  });
  return {
    log,
    setLevel(level) {
      log.level = level;
      for (const ref of children) {
        const c = ref.deref();
        if (c) c.level = level;
      }
    },
  };
}

export interface SessionBindings {
  session: bigint | number | string;
  vm?: string;
}

/** A child logger for one guest session; the session id is logged as a string (ids are u64). */
export function sessionLogger(parent: Logger, b: SessionBindings): Logger {
  const bindings: Record<string, string> = { session: String(b.session) };
  if (b.vm !== undefined) bindings['vm'] = b.vm;
  return parent.child(bindings);
}

/** A child logger for work about one VM outside any session (admission, accounting). */
export function vmLogger(parent: Logger, vm: string): Logger {
  return parent.child({ vm });
}
