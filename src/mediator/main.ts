// vgpu-mediator command line. Only this entry point exits the process.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';

import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from '../common/image-store.js';
import { createLogger, envLogLevel, LOG_FORMAT_ENV, LOG_FORMATS, LOG_LEVEL_ENV, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/log.js';
import { formatDuration } from '../common/duration.js';
import { toMaxHoldMs } from '../store/index.js';
import { formatSize, parseSize } from '../common/size.js';
import { DEVICE_TIME_MODES, type DeviceTimeChoice } from '../executor/device-time.js';
import { checkListenSecurity, DEFAULT_LISTEN, parseListen } from './listen.js';
import { TlsCredentials } from './tls.js';
import { DEFAULT_MAX_HOLD_MS, Mediator } from './mediator.js';
import { versionLine } from '../common/version.js';

/** Loopback only by default: the API changes who may use the GPUs. */
export const DEFAULT_HTTP = '127.0.0.1:7080';
/** How long running sessions may finish after SIGTERM or SIGINT, by default (seconds). */
export const DEFAULT_SHUTDOWN_GRACE_S = 30;

/** `--shutdown-grace SECONDS`: 0 (end sessions at once) up to a day. */
export function parseGrace(s: string): number {
  const v = Number(s.trim());
  if (s.trim() === '' || !Number.isFinite(v) || v < 0 || v > 86_400) throw new Error(`--shutdown-grace ${s}: expected seconds from 0 to 86400`);
  return v;
}

/** The next SIGINT or SIGTERM. */
function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** `--http HOST:PORT` ([v6]:PORT for IPv6), or `off`. */
export function parseHttp(s: string): { host: string; port: number } | undefined {
  if (s.trim().toLowerCase() === 'off') return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535) throw new Error(`--http ${s}: expected HOST:PORT (e.g. 127.0.0.1:7080, [::1]:7080, 0.0.0.0:7080) or off`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** A size option of the image store: a size (src/common/size.ts) above zero. */
function storeSize(option: string, text: string): number {
  let n: number;
  try {
    n = parseSize(text);
  } catch (e) {
    throw new Error(`${option} ${text}: ${(e as Error).message}`);
  }
  if (n === 0) throw new Error(`${option} must be above 0 (no images at all would leave guests unable to load modules)`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('vgpu-mediator')
    .description('vgpu host daemon: serves guests over CUDA driver-API remoting')
    .option('--state-dir <dir>', 'state directory (configuration database)', process.env.VGPU_STATE_DIR ?? join(homedir(), '.local/state/vgpu'))
    .addOption(new Option('--listen <addr>', 'unix:PATH, tcp:HOST:PORT, tls:HOST:PORT, vsock-uds:PATH[:PORT] or vsock:PORT (repeatable; docs/virtual-machines.md)')
      .argParser((v: string, prev: string[]) => [...prev, v]).default([] as string[], DEFAULT_LISTEN))
    .addOption(new Option('--backend <kind>', 'GPU backend').choices(['auto', 'cuda', 'softgpu']).default('auto'))
    .option('--default-vm <name>', 'VM for token-less connections on Unix sockets (created if missing)')
    .option('--spare-executors <n>', 'executors kept started ahead of time', '1')
    .addOption(new Option('--device-time <mode>', 'how device time is measured: events (CUDA events, for a real GPU), host (time in calls), auto (events on cuda, host on softgpu)')
      .choices([...DEVICE_TIME_MODES]).default(process.env.VGPU_DEVICE_TIME ?? 'auto'))
    .option('--http <addr>', 'admin HTTP API: HOST:PORT, or off (docs/admin-api.md)', process.env.VGPU_ADMIN_HTTP ?? DEFAULT_HTTP)
    .option('--shutdown-grace <seconds>', 'on SIGTERM or SIGINT, how long running sessions may finish (a second signal ends them at once)',
      process.env.VGPU_SHUTDOWN_GRACE ?? String(DEFAULT_SHUTDOWN_GRACE_S))
    .option('--max-hold <duration>', "longest one call may hold a GPU while others wait, for VMs that set none (e.g. 5s, or off); the session is then ended",
      formatDuration(DEFAULT_MAX_HOLD_MS))
    .option('--image-store-max <size>', 'bytes of module images all VMs together may keep', formatSize(DEFAULT_IMAGE_LIMITS.total))
    .option('--image-store-vm-max <size>', 'bytes of module images each VM may keep', formatSize(DEFAULT_IMAGE_LIMITS.perVm))
    .option('--tls-cert <file>', 'PEM certificate (chain) of tls: listeners; reloaded on SIGHUP')
    .option('--tls-key <file>', 'PEM private key of tls: listeners; reloaded on SIGHUP')
    // No commander default for these two: an unset flag leaves the environment's value (and its
    // warning when it is not a level) to createLogger; the help still says what applies.
    .addOption(new Option('--log-level <level>', 'least severe log lines shown, for the mediator and its executors; the guest libraries ' +
      `take the same values (default: ${envLogLevel(process.env).level ?? 'info'}, from ${LOG_LEVEL_ENV} when set)`).choices([...LOG_LEVELS]))
    .addOption(new Option('--log-format <format>', 'log lines: pretty (readable), json (one object per line), or auto (pretty when stderr is ' +
      `a terminal) (default: ${process.env[LOG_FORMAT_ENV] || 'auto'}, from ${LOG_FORMAT_ENV} when set)`).choices([...LOG_FORMATS]))
    .option('--insecure-tcp', 'allow tcp: listeners beyond loopback (tokens and data in cleartext; prefer tls:)', false)
    .version(versionLine('vgpu-mediator'), '--version', 'print the version and exit')
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const o = program.opts<{
    stateDir: string; listen: string[]; backend: 'auto' | 'cuda' | 'softgpu'; defaultVm?: string; spareExecutors: string; http: string;
    deviceTime: DeviceTimeChoice; shutdownGrace: string; maxHold: string; imageStoreMax: string; imageStoreVmMax: string;
    tlsCert?: string; tlsKey?: string; insecureTcp: boolean; logLevel?: LogLevel; logFormat?: LogFormat;
  }>();
  // The flags win over the environment, and reach the executors (and the backend probe) through it.
  if (o.logLevel !== undefined) process.env[LOG_LEVEL_ENV] = o.logLevel;
  if (o.logFormat !== undefined) process.env[LOG_FORMAT_ENV] = o.logFormat;
  const log = createLogger({ name: 'vgpu-mediator', level: o.logLevel ?? envLogLevel(process.env).level, format: o.logFormat });
  let listenAddrs;
  try {
    listenAddrs = (o.listen.length ? o.listen : [DEFAULT_LISTEN]).map(parseListen);
  } catch (e) {
    process.stderr.write(`vgpu-mediator: ${(e as Error).message}\n`);
    return 2;
  }
  let tlsCreds: TlsCredentials | undefined;
  try {
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new Error('--tls-cert and --tls-key go together');
    for (const w of checkListenSecurity(listenAddrs, o.insecureTcp, o.tlsCert !== undefined)) log.warn({}, w);
    if (o.tlsCert !== undefined && o.tlsKey !== undefined) tlsCreds = new TlsCredentials(o.tlsCert, o.tlsKey, log);
  } catch (e) {
    process.stderr.write(`vgpu-mediator: ${(e as Error).message}\n`);
    return 2;
  }
  let http;
  try {
    http = parseHttp(o.http);
  } catch (e) {
    process.stderr.write(`vgpu-mediator: ${(e as Error).message}\n`);
    return 2;
  }
  // commander checks the choices of an option given, not of its default (from the environment).
  if (!(DEVICE_TIME_MODES as readonly string[]).includes(o.deviceTime)) {
    process.stderr.write(`vgpu-mediator: VGPU_DEVICE_TIME=${o.deviceTime}: expected one of ${DEVICE_TIME_MODES.join(', ')}\n`);
    return 2;
  }
  let graceS;
  try {
    graceS = parseGrace(o.shutdownGrace);
  } catch (e) {
    process.stderr.write(`vgpu-mediator: ${(e as Error).message}\n`);
    return 2;
  }
  let maxHoldMs: number;
  try {
    maxHoldMs = toMaxHoldMs(o.maxHold) ?? DEFAULT_MAX_HOLD_MS;
  } catch (e) {
    process.stderr.write(`vgpu-mediator: --max-hold ${o.maxHold}: ${(e as Error).message}\n`);
    return 2;
  }
  const spare = Number(o.spareExecutors);
  if (!Number.isInteger(spare) || spare < 0 || spare > 64) {
    process.stderr.write('vgpu-mediator: --spare-executors must be an integer from 0 to 64\n');
    return 2;
  }
  let imageLimits: ImageLimits;
  try {
    imageLimits = { total: storeSize('--image-store-max', o.imageStoreMax), perVm: storeSize('--image-store-vm-max', o.imageStoreVmMax) };
  } catch (e) {
    process.stderr.write(`vgpu-mediator: ${(e as Error).message}\n`);
    return 2;
  }
  const m = new Mediator({
    stateDir: o.stateDir, listen: listenAddrs, backend: o.backend, defaultVm: o.defaultVm, spareExecutors: spare, http, deviceTime: o.deviceTime, maxHoldMs, imageLimits, tls: tlsCreds, log,
  });
  try {
    await m.start();
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'mediator failed to start');
    // Sessions it may have adopted already stay running, for a mediator that does start.
    await m.stop(undefined, true).catch(() => {});
    return 1;
  }
  // Machine-readable readiness line for scripts and tests. Whoever started the mediator may have
  // stopped reading it: that is no reason to stop.
  process.stdout.on('error', () => {});
  // SIGHUP reloads the TLS certificate and key (docs/operations.md); without tls: it is ignored
  // rather than ending the mediator, as it would by default.
  process.on('SIGHUP', () => {
    if (tlsCreds) tlsCreds.reload();
    else log.info({}, 'SIGHUP: nothing to reload (no --tls-cert)');
  });
  if (tlsCreds) log.info({ pin: tlsCreds.pin, cert: tlsCreds.certFile }, 'TLS certificate loaded (guests may pin it: VGPU_TLS_PIN)');
  process.stdout.write(`${JSON.stringify({ ready: true, listen: m.addresses, backend: m.backendKind, admin: m.adminUrl ?? null, pid: process.pid })}\n`);
  // SIGUSR2 stops the mediator and leaves its sessions running, for the next mediator to adopt
  // (an upgrade; docs/executors.md). The first SIGTERM or SIGINT drains (docs/operations.md,
  // "Stopping the mediator"); a second ends at once.
  const upgrade = new Promise<'upgrade'>((resolve) => process.once('SIGUSR2', () => resolve('upgrade')));
  const first = await Promise.race([nextSignal(), upgrade]);
  if (first === 'upgrade') {
    log.info({}, 'SIGUSR2: stopping and leaving the sessions running for the next mediator');
    await m.stop('the host is restarting its mediator', true);
    return 0;
  }
  const second = nextSignal();
  const ended = await Promise.race([m.drain(graceS * 1000, `vgpu-mediator received ${first}`), second.then((sig) => `a second signal (${sig})`)]);
  log.info({ ended }, 'drain over');
  await m.stop(ended === 'sessions ended' ? undefined : `the host is shutting down: ${ended === 'grace time over' ? `the grace time of ${graceS} s is over` : 'ended at once'}`);
  return 0;
}
