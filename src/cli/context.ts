// What every command handler gets: where output goes, whether it is machine output, and the
// store (opened on first use, closed by the entry point). Handlers never exit and never touch
// process.* directly, so tests run them in-process.

import os from 'node:os';
import { VgpuError } from '../common/errors.js';
import { resolveStateDir } from '../mediator/locate.js';
import type { Store, StoreOptions } from '../store/index.js';
import type { AdminOps } from '../admin/ops.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const processIo: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  env: process.env,
};

export interface GlobalOptions {
  stateDir?: string;
  /** --config FILE; false for --no-config. */
  config?: string | false;
  json?: boolean;
  url?: string;
  token?: string;
}

export interface CommandContext {
  readonly io: CliIo;
  readonly json: boolean;
  readonly stateDir: string;
  /** The mediator's configuration file as given: a path, false for none (--no-config), undefined
   * for the default when it exists (locate.ts's configFileToRead). */
  readonly config: string | false | undefined;
  /** The store, opened on first call. */
  store(): Store;
  /** The operations: through the running mediator's admin API when there is one (so changes
   * apply live), on the store otherwise. */
  ops(): Promise<AdminOps>;
  /** The running mediator's admin API (URL undefined when none is known) and the token to send. */
  adminEndpoint(): Promise<AdminEndpoint>;
  /** One line of human output on stdout. */
  line(text?: string): void;
  /** The machine-readable result (with --json): one JSON document on stdout. */
  result(value: unknown): void;
}

export interface AdminEndpoint {
  url: string | undefined;
  token: string | undefined;
}

/** "cli:<user>" for the audit log. */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    // No passwd entry (containers running as an arbitrary uid).
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

export type StoreOpener = (stateDir: string, opts: StoreOptions) => Store;

export class Context implements CommandContext {
  readonly io: CliIo;
  readonly json: boolean;
  readonly stateDir: string;
  readonly config: string | false | undefined;
  private opened: Store | null = null;
  private readonly open: StoreOpener;
  private readonly globals: GlobalOptions;
  private adminOps: AdminOps | null = null;

  /** `open` is Store.open, passed in so that loading this file does not load SQLite. */
  constructor(io: CliIo, globals: GlobalOptions, open: StoreOpener) {
    this.io = io;
    this.json = globals.json === true;
    this.config = globals.config;
    this.stateDir = resolveStateDir({ flag: globals.stateDir, env: io.env, config: globals.config });
    this.open = open;
    this.globals = globals;
  }

  /** --url, else $VGPU_ADMIN_URL, else the admin.json a running mediator wrote in the state
   * directory; the token: --token, else $VGPU_ADMIN_TOKEN, else the state directory's admin-token. */
  async adminEndpoint(): Promise<AdminEndpoint> {
    const files = await import('../admin/files.js');
    const env = this.io.env;
    const explicit = this.globals.url ?? (env['VGPU_ADMIN_URL'] || undefined);
    const url = explicit ?? files.readAdminInfo(this.stateDir)?.url;
    if (url !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(url)) {
      throw new VgpuError('VGPU_ERR_USAGE', { detail: `--url ${url}: expected http://HOST:PORT` });
    }
    const token = this.globals.token ?? (env['VGPU_ADMIN_TOKEN'] || undefined) ?? files.readAdminToken(this.stateDir);
    return { url: url?.replace(/\/$/, ''), token };
  }

  /** Through the admin API when adminEndpoint() knows one; the store directly otherwise. */
  async ops(): Promise<AdminOps> {
    if (this.adminOps) return this.adminOps;
    const { url, token } = await this.adminEndpoint();
    if (url !== undefined) {
      const { HttpOps } = await import('../admin/http-ops.js');
      this.adminOps = new HttpOps(url, token);
    } else {
      const { StoreOps } = await import('../admin/ops.js');
      const { ImageStore, imageStoreDir } = await import('../common/image-store.js');
      this.adminOps = new StoreOps(this.store(), undefined, new ImageStore(imageStoreDir(this.stateDir)));
    }
    return this.adminOps;
  }

  store(): Store {
    this.opened ??= this.open(this.stateDir, { actor: cliActor() });
    return this.opened;
  }

  line(text = ''): void {
    this.io.stdout(text + '\n');
  }

  result(value: unknown): void {
    this.io.stdout(JSON.stringify(value, null, 2) + '\n');
  }

  close(): void {
    this.opened?.close();
    this.opened = null;
  }
}
