// One way to make loggers for every host process: structured JSON lines on stderr (stdout belongs
// to command output), level from VGPU_LOG_LEVEL, and child loggers that carry the session and VM
// so every line about a guest can be found by either. Tokens are redacted wherever they appear
// as a `token` field, so a careless log call cannot leak a credential.

import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** Process or component name, e.g. "vgpu-mediator"; appears as `name` on every line. */
  name: string;
  /** Overrides VGPU_LOG_LEVEL. */
  level?: LogLevel;
  /** Where lines go; stderr (written synchronously, so the last lines survive a crash) by default. */
  destination?: DestinationStream;
  /** Environment to read VGPU_LOG_LEVEL from; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Called with every child logger made from this one, however deep. */
  onChild?: (child: Logger) => void;
}

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export function createLogger(opts: LoggerOptions): Logger {
  const env = opts.env ?? process.env;
  const fromEnv = env['VGPU_LOG_LEVEL']?.trim().toLowerCase();
  const badEnv = fromEnv !== undefined && fromEnv !== '' && !isLogLevel(fromEnv);
  const level: LogLevel = opts.level ?? (fromEnv && isLogLevel(fromEnv) ? fromEnv : 'info');
  // Whoever reads stderr may go away (a pipe to a log collector that died, the terminal of a
  // mediator whose executors outlive it): losing log lines is no reason to end a daemon or the
  // session an executor serves, and an unheard 'error' event would.
  let destination = opts.destination;
  if (!destination) {
    const d = pino.destination({ fd: 2, sync: true });
    d.on('error', () => {});
    destination = d;
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
  if (badEnv) {
    logger.warn({ value: fromEnv, accepted: LOG_LEVELS }, 'VGPU_LOG_LEVEL is not a log level; using info');
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
