// Where the mediator of this host listens for guests, for the programs that must find it without
// being told (vgpu-run, `vgpu-admin doctor`): one answer for both, so that they never disagree
// about which socket is the mediator's. In order:
// 1. the listen file of the state directory given (a mediator running on it; listen-file.ts);
// 2. the configuration file (the packaged mediator's /etc/vgpu/mediator.toml, or --config): the
//    listen file of its state directory when that is readable and its mediator runs, else its
//    `listen` addresses. The packaged state directory is 0700, so a member of the group vgpu
//    reads the addresses from the file, which is world-readable;
// 3. the built-in default, DEFAULT_LISTEN (where `make run` listens).

import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ConfigError, DEFAULT_CONFIG_FILE, readConfigFile, resolveOptions } from './config-file.js';
import { VgpuError } from '../common/errors.js';
import { DEFAULT_LISTEN, formatListen } from './listen.js';
import { readListenFile } from './listen-file.js';

export interface Located {
  /** The mediator's guest addresses, as --listen takes them. */
  addresses: string[];
  /** Where they were learnt, for messages: "/var/lib/vgpu/listen", "/etc/vgpu/mediator.toml", "default". */
  source: string;
  /** The configuration file consulted, when there was one. */
  config?: { file: string; stateDir: string; adminUrl: string | undefined };
}

export interface LocateOptions {
  stateDir: string;
  env: Readonly<Record<string, string | undefined>>;
  /** The configuration file: a path, false for none, undefined for the default when it exists. */
  config?: string | false | undefined;
}

/** Throws a ConfigError when the configuration file is unreadable or wrong: guessing past a broken
 * file would send programs to an address the operator did not configure. */
export function locateMediator(o: LocateOptions): Located {
  const own = readListenFile(o.stateDir);
  if (own?.running && own.addresses.length > 0) return { addresses: own.addresses, source: path.join(o.stateDir, 'listen') };
  const file = configFileToRead(o.config);
  if (file !== undefined) {
    const cfg = resolveOptions({ flags: {}, file: readConfigFile(file), env: o.env });
    const config = { file, stateDir: cfg['state-dir'], adminUrl: adminUrl(cfg.http) };
    const theirs = readListenFile(cfg['state-dir']);
    if (theirs?.running && theirs.addresses.length > 0) return { addresses: theirs.addresses, source: path.join(cfg['state-dir'], 'listen'), config };
    return { addresses: cfg.listen.map(formatListen), source: file, config };
  }
  return { addresses: [DEFAULT_LISTEN], source: 'default' };
}

/** The configuration file the host's tools read: --config FILE, none for --no-config (false), else
 * DEFAULT_CONFIG_FILE when it exists (the packaged mediator's). */
export function configFileToRead(config: string | false | undefined): string | undefined {
  if (config === false) return undefined;
  return config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
}

export interface StateDirOptions {
  /** --state-dir. */
  flag: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  /** The configuration file: a path, false for none, undefined for the default when it exists. */
  config?: string | false | undefined;
}

/**
 * The state directory the host's tools (vgpu-admin, its doctor and support bundle) work on:
 * --state-dir, else $VGPU_STATE_DIR, else the configuration file's `state-dir` (so that on a
 * packaged host they find /var/lib/vgpu without being told), else ~/.local/state/vgpu (what
 * `make run` uses). A file that is consulted and does not load is a VGPU_ERR_CONFIG: a tool that
 * guessed past it would work on a store the mediator does not use.
 */
export function resolveStateDir(o: StateDirOptions): string {
  if (o.flag !== undefined) {
    if (o.flag.trim() === '') throw new VgpuError('VGPU_ERR_USAGE', { detail: '--state-dir needs a directory' });
    return path.resolve(o.flag);
  }
  const fromEnv = o.env['VGPU_STATE_DIR'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return path.resolve(fromEnv);
  const file = configFileToRead(o.config);
  if (file !== undefined) {
    try {
      const parsed = readConfigFile(file);
      const cfg = resolveOptions({ flags: {}, file: parsed, env: o.env });
      if (parsed.values['state-dir'] !== undefined) return path.resolve(cfg['state-dir']);
    } catch (e) {
      if (e instanceof ConfigError) throw new VgpuError('VGPU_ERR_CONFIG', { detail: e.message });
      throw e;
    }
  }
  const home = o.env['HOME'] || os.homedir();
  if (!home) throw new VgpuError('VGPU_ERR_STATE_DIR', { dir: '~/.local/state/vgpu', reason: 'HOME is not set' });
  return path.join(home, '.local', 'state', 'vgpu');
}

/** The URL a client on this host reaches an admin API listening on `http` by (a wildcard listener
 * over loopback); undefined for --http off. */
function adminUrl(http: { host: string; port: number } | undefined): string | undefined {
  if (http === undefined) return undefined;
  const host = http.host === '0.0.0.0' ? '127.0.0.1' : http.host === '::' ? '::1' : http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${http.port}`;
}

/** The address a program should use: the first Unix socket (it needs no token), else the first
 * TCP or TLS address; undefined when the mediator has neither (vsock only: a VM's). */
export function guestAddress(addresses: readonly string[]): string | undefined {
  return addresses.find((a) => /^unix:./.test(a)) ?? addresses.find((a) => /^(tcp|tls):./.test(a));
}
