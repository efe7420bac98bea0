// vgpu-mediator command line. Only this entry point exits the process. Its options, their flags
// and the configuration file's keys come from one schema (options.ts, config-file.ts).

import { Command, Option } from 'commander';

import { createAdjustableLogger, envLogLevel, LOG_FORMAT_ENV, LOG_LEVEL_ENV, type Logger, type LogLevel } from '../common/log.js';
import { checkListenSecurity } from './listen.js';
import { TlsCredentials } from './tls.js';
import { Mediator } from './mediator.js';
import { versionLine } from '../common/version.js';
import { changedKeys, ConfigError, DEFAULT_CONFIG_FILE, readConfigFile, resolveOptions, type ConfigFile } from './config-file.js';
import { commanderOptions, OPTION_KEYS, OPTION_META, type MediatorConfig, type RawOptions } from './options.js';
import { resolveGroup } from './socket-access.js';
import { configFileToRead } from './locate.js';

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

/** The level to log at: the configuration's, else $VGPU_LOG or $VGPU_LOG_LEVEL (createLogger's),
 * else info. */
function effectiveLevel(cfg: MediatorConfig): LogLevel {
  return cfg['log-level'] ?? envLogLevel(process.env).level ?? 'info';
}

/** The executors (and the backend probe) log as the mediator does: they read the environment. */
function exportLogging(cfg: MediatorConfig): void {
  if (cfg['log-level'] !== undefined) process.env[LOG_LEVEL_ENV] = cfg['log-level'];
  process.env[LOG_FORMAT_ENV] = cfg['log-format'];
}

/** The configuration file to read: --config, else the default path when it exists; none with
 * --no-config (a mediator of one's own on a host where the packaged one is configured). */
function configFile(flag: string | false | undefined): ConfigFile | undefined {
  const file = configFileToRead(flag);
  return file === undefined ? undefined : readConfigFile(file);
}

/**
 * SIGHUP: reads the configuration file again and applies what can change while the mediator runs
 * (the keys OPTION_META marks live); the log names the changed keys that need a restart. A file
 * that no longer loads is logged and nothing changes.
 */
function reloadConfig(current: MediatorConfig, configPath: string | undefined, flags: RawOptions, log: Logger,
  apply: (cfg: MediatorConfig) => void): MediatorConfig {
  if (configPath === undefined) return current;
  let next: MediatorConfig;
  try {
    next = resolveOptions({ flags, file: readConfigFile(configPath), env: process.env });
  } catch (e) {
    log.error({ config: configPath, err: (e as Error).message }, 'SIGHUP: the configuration file does not load; nothing changed');
    return current;
  }
  const changed = changedKeys(current, next);
  const live = changed.filter((k) => OPTION_META[k].live);
  const restart = changed.filter((k) => !OPTION_META[k].live);
  // Keys that need a restart keep their running values: what the mediator does must match what it logged at start.
  const applied: MediatorConfig = { ...current };
  for (const k of live) Object.assign(applied, { [k]: next[k] });
  apply(applied);
  if (changed.length === 0) log.info({ config: configPath }, 'SIGHUP: configuration read again; nothing changed');
  else if (live.length) log.info({ config: configPath, applied: live }, 'SIGHUP: configuration changes applied');
  if (restart.length) log.warn({ config: configPath, needRestart: restart }, `SIGHUP: ${restart.join(', ')} changed in the file but take effect only when the mediator restarts`);
  return applied;
}

/** The command line: --config, a flag per option (options.ts), --version. */
export function mediatorCommand(env: Readonly<Record<string, string | undefined>>): Command {
  const program = new Command('vgpu-mediator')
    .description('vgpu host daemon: serves guests over CUDA driver-API remoting')
    .addOption(new Option('--config <file>', `configuration file: TOML whose keys are these flags without "--" (flags override it; default: ${DEFAULT_CONFIG_FILE} when it exists)`))
    .addOption(new Option('--no-config', `read no configuration file, not even ${DEFAULT_CONFIG_FILE}`));
  for (const o of commanderOptions(env)) program.addOption(o);
  return program.version(versionLine('vgpu-mediator'), '--version', 'print the version and exit').exitOverride();
}

/** The options given as flags, by key (commander holds no defaults: options.ts). */
export function givenFlags(program: Command): RawOptions {
  const flags: RawOptions = {};
  for (const key of OPTION_KEYS) {
    const v: unknown = program.getOptionValue(new Option(`--${key}`).attributeName());
    if (v !== undefined) flags[key] = v;
  }
  return flags;
}

export async function main(argv: string[]): Promise<number> {
  const program = mediatorCommand(process.env);
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const flags = givenFlags(program);
  const given = program.opts<{ config?: string | false }>();
  let cfg: MediatorConfig;
  let file: ConfigFile | undefined;
  try {
    file = configFile(given.config);
    cfg = resolveOptions({ flags, file, env: process.env });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${e.message.split('\n').map((l) => `vgpu-mediator: ${l}`).join('\n')}\n`);
    return 2;
  }
  exportLogging(cfg);
  const logging = createAdjustableLogger({ name: 'vgpu-mediator', format: cfg['log-format'], ...(cfg['log-level'] ? { level: cfg['log-level'] } : {}) });
  const log = logging.log;
  if (file) log.info({ config: file.file }, 'configuration file read');
  const listenAddrs = cfg.listen;
  let tlsCreds: TlsCredentials | undefined;
  let socketGid: number | undefined;
  try {
    if ((cfg['tls-cert'] === undefined) !== (cfg['tls-key'] === undefined)) throw new Error('--tls-cert and --tls-key go together');
    if (cfg['tls-client-ca'] !== undefined && cfg['tls-cert'] === undefined) throw new Error('--tls-client-ca needs --tls-cert and --tls-key (client certificates are asked for on tls: listeners)');
    if (cfg['tls-require-client-cert'] && cfg['tls-client-ca'] === undefined) throw new Error('--tls-require-client-cert needs --tls-client-ca FILE (the CA that signs guests\' certificates)');
    for (const w of checkListenSecurity(listenAddrs, cfg['insecure-tcp'], cfg['tls-cert'] !== undefined)) log.warn({}, w);
    if (cfg['tls-cert'] !== undefined && cfg['tls-key'] !== undefined) {
      const client = cfg['tls-client-ca'] === undefined ? undefined : { caFile: cfg['tls-client-ca'], required: cfg['tls-require-client-cert'] };
      tlsCreds = new TlsCredentials(cfg['tls-cert'], cfg['tls-key'], log, client);
    }
    socketGid = cfg['socket-group'] === undefined ? undefined : resolveGroup(cfg['socket-group']);
  } catch (e) {
    process.stderr.write(`vgpu-mediator: ${(e as Error).message}\n`);
    return 2;
  }
  const m = new Mediator({
    stateDir: cfg['state-dir'], listen: listenAddrs, backend: cfg.backend, defaultVm: cfg['default-vm'], spareExecutors: cfg['spare-executors'],
    http: cfg.http, deviceTime: cfg['device-time'], maxHoldMs: cfg['max-hold'],
    imageLimits: { total: cfg['image-store-max'], perVm: cfg['image-store-vm-max'] },
    staging: { total: cfg['staging-max'], perSession: cfg['staging-session-max'] },
    copyLane: cfg['copy-lane'] === 'on',
    socketAccess: { mode: cfg['socket-mode'], gid: socketGid }, tls: tlsCreds, log,
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
  // SIGHUP reads the configuration file again and reloads the TLS certificate and key
  // (docs/operations.md); it never ends the mediator, as it would by default.
  let graceS = cfg['shutdown-grace'];
  const apply = (c: MediatorConfig): void => {
    logging.setLevel(effectiveLevel(c));
    exportLogging(c); // executors started from now on
    graceS = c['shutdown-grace'];
    m.setDefaultMaxHold(c['max-hold']);
  };
  process.on('SIGHUP', () => {
    cfg = reloadConfig(cfg, file?.file, flags, log, apply);
    if (tlsCreds) tlsCreds.reload();
    else if (!file) log.info({}, 'SIGHUP: nothing to reload (no configuration file, no --tls-cert)');
  });
  if (tlsCreds) log.info({ pin: tlsCreds.pin, cert: tlsCreds.certFile }, 'TLS certificate loaded (guests may pin it: VGPU_TLS_PIN)');
  if (tlsCreds?.client) {
    log.info({ clientCa: tlsCreds.clientCaSubjects, file: tlsCreds.client.caFile, required: tlsCreds.client.required },
      'TLS client certificates asked for (VMs bound with vgpu-admin vm set --tls-client-cert-sha256 need no token)');
  }
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
